// strata/image/psd_decoder.hpp — decode_psd: Photoshop PSD files (RGB, 8 or 16 bits, raw or
// run-length encoded; the merged image, as stb_image reads it), decoded here. decode_image sends
// every PSD here: stb_image 2.27 removes the white matte of a 4-channel PSD by converting
// out-of-range floats to bytes (undefined behaviour, found by fuzz/image) whenever a colour is
// darker than a white-premultiplied colour can be.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/image/format_checks.hpp"
#include "strata/image/image.hpp"
#include "strata/image/image_file_error.hpp"
#include "strata/image/image_limits.hpp"

namespace strata {

// Decodes a PSD held in memory into H×W×C pixels; `channels` 0 gives 4 (RGBA; alpha opaque when
// the file has none), 1–4 convert as stb_image converts (grey is (77 r + 150 g + 29 b) / 256).
// uint8_t pixels from a 16-bit file keep the high byte; uint16_t pixels from an 8-bit file, or
// from a run-length encoded one (read as 8 bits, as stb reads it), are scaled by 257. A colour
// with partial alpha is un-matted from white, c' = max − (max − c)·max/alpha, rounded and
// clamped to the pixel range. Errors name `file`.
template <class T = std::uint8_t>
image<T> decode_psd(std::span<const std::uint8_t> b, std::int64_t channels = 0, const std::filesystem::path& file = "<memory>",
                    const image_limits& limits = {}) {
  static_assert(std::is_same_v<T, std::uint8_t> || std::is_same_v<T, std::uint16_t>,
                "strata::decode_psd decodes to uint8_t or uint16_t pixels");
  if (channels < 0 || channels > 4) throw image_file_error(file, "channels must be 0 (as stored) or 1 to 4, got " + std::to_string(channels));
  if (!detail::looks_like_psd(b)) throw image_file_error(file, "not a PSD: no 8BPS signature");
  if (const auto problem = detail::psd_size_problem(b); !problem.empty()) throw image_file_error(file, problem);
  const auto [version, channel_count, height, width, depth, mode, compression, pixels_at] = detail::read_psd_layout(b);
  const auto refuse = [&](const std::string& why) { return image_file_error(file, why); };
  if (version != 1) throw refuse("PSD version " + std::to_string(version) + " is not read (only 1; 2 is the large-document PSB)");
  if (channel_count > 16) throw refuse("corrupt PSD: " + std::to_string(channel_count) + " channels (at most 16)");
  if (depth != 8 && depth != 16) throw refuse("PSD of " + std::to_string(depth) + " bits a channel is not read (only 8 and 16)");
  if (mode != 3) throw refuse("PSD colour mode " + std::to_string(mode) + " is not read (only RGB, mode 3)");
  if (const auto problem = detail::image_size_problem(width, height, limits); !problem.empty()) throw refuse(problem);

  std::int64_t p = pixels_at;
  if (compression > 1) throw refuse("PSD compression " + std::to_string(compression) + " is not read (only raw and run-length)");

  // The planes in the range stb reads them in: 0–65535 for raw 16-bit pixels asked for as
  // uint16_t, 0–255 otherwise (a 16-bit raw sample keeps its high byte; run-length data is read
  // as bytes whatever the depth).
  const bool sixteen = std::is_same_v<T, std::uint16_t> && compression == 0 && depth == 16;
  const std::int64_t max = sixteen ? 65535 : 255, pixels = width * height, n = static_cast<std::int64_t>(b.size());
  const auto next = [&]() -> std::int64_t {
    if (p >= n) throw refuse("truncated PSD: its pixel data runs past the end of the file");  // psd_size_problem rules this out
    return b[std::size_t(p++)];
  };
  std::vector<std::uint16_t> rgba(std::size_t(pixels) * 4);
  if (compression == 1) p += height * channel_count * 2;  // the row lengths: the planes are read as one stream each
  for (std::int64_t k = 0; k < 4; ++k) {
    std::uint16_t* out = rgba.data() + k;
    if (k >= channel_count) {
      for (std::int64_t i = 0; i < pixels; ++i) out[4 * i] = std::uint16_t(k == 3 ? max : 0);
    } else if (compression == 0) {
      for (std::int64_t i = 0; i < pixels; ++i) {
        std::int64_t v = next();
        if (depth == 16) v = v << 8 | next();
        out[4 * i] = std::uint16_t(depth == 16 && !sixteen ? v >> 8 : v);
      }
    } else {
      for (std::int64_t i = 0; i < pixels;) {  // PackBits: 0–127 copy n+1 bytes, 129–255 repeat one 257−n times, 128 no-op
        const std::int64_t code = next();
        if (code == 128) continue;
        const std::int64_t length = code < 128 ? code + 1 : 257 - code;
        if (length > pixels - i)
          throw refuse("corrupt PSD: a run-length packet of channel " + std::to_string(k) + " runs past the image's " +
                       std::to_string(pixels) + " pixels");
        const std::int64_t repeated = code > 128 ? next() : 0;
        for (std::int64_t j = 0; j < length; ++j, ++i) out[4 * i] = std::uint16_t(code > 128 ? repeated : next());
      }
    }
  }
  // Photoshop stores colours with partial alpha blended against white: c = a·c' + (1 − a)·max.
  if (channel_count >= 4) {
    for (std::int64_t i = 0; i < pixels; ++i) {
      std::uint16_t* px = rgba.data() + 4 * i;
      const double alpha = px[3];
      if (alpha == 0 || alpha == double(max)) continue;
      for (int c = 0; c < 3; ++c) {
        const double unmatted = double(max) - (double(max) - px[c]) * double(max) / alpha;
        px[c] = std::uint16_t(std::clamp(std::lround(unmatted), 0L, static_cast<long>(max)));
      }
    }
  }
  const std::int64_t out_channels = channels == 0 ? 4 : channels;
  const std::int64_t scale = std::is_same_v<T, std::uint16_t> && !sixteen ? 257 : 1;
  image<T> result(height, width, out_channels);
  T* dst = result.data();
  for (std::int64_t i = 0; i < pixels; ++i) {
    const std::uint16_t* px = rgba.data() + 4 * i;
    const std::int64_t grey = (px[0] * 77 + px[1] * 150 + px[2] * 29) >> 8;
    const std::int64_t values[4][4] = {{grey}, {grey, px[3]}, {px[0], px[1], px[2]}, {px[0], px[1], px[2], px[3]}};
    for (std::int64_t c = 0; c < out_channels; ++c) *dst++ = static_cast<T>(values[out_channels - 1][c] * scale);
  }
  return result;
}

}  // namespace strata
