// strata/image/image_io.hpp — image files: read_image<uint8_t or uint16_t>(path, channels) and
// decode_image (from bytes in memory): JPEG through libjpeg (image/jpeg_decoder.hpp), PSD by
// strata (image/psd_decoder.hpp), the rest through stb_image (PNG, BMP, GIF, TGA, PNM, HDR …),
// after the checks of image/format_checks.hpp; write_png through stb_image_write. Needs
// Debian's libstb-dev (headers and libstb; link -lstb) and libjpeg-dev.
//
// Without stb the header still compiles; calling any of these then fails at compile time with a
// named static_assert. Define STRATA_NO_STB to leave stb out even where its headers exist.
// Decoding first reads the header alone and refuses images past image_limits, so a hostile file
// cannot make a decoder allocate more than the limits allow.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/image/image.hpp"
#include "strata/image/format_checks.hpp"
#include "strata/image/image_file_error.hpp"
#include "strata/image/image_limits.hpp"
#include "strata/image/jpeg_decoder.hpp"
#include "strata/image/psd_decoder.hpp"

#if !defined(STRATA_NO_STB) && __has_include(<stb/stb_image.h>)
#include <stb/stb_image.h>
#define STRATA_HAS_STB_IMAGE 1
#else
#define STRATA_HAS_STB_IMAGE 0
#endif
#if !defined(STRATA_NO_STB) && __has_include(<stb/stb_image_write.h>)
#include <stb/stb_image_write.h>
#define STRATA_HAS_STB_IMAGE_WRITE 1
#else
#define STRATA_HAS_STB_IMAGE_WRITE 0
#endif

namespace strata {

namespace detail {

template <class>
inline constexpr bool stb_missing = false;

// The whole file in memory. Reading it ourselves (instead of stbi_load's fopen) gives errno's
// reason for a file that cannot be opened, and lets the checks of image/format_checks.hpp see every byte.
inline std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& file) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) throw image_file_error(file, "cannot open: it is a directory");
  std::FILE* f = std::fopen(file.string().c_str(), "rb");
  if (!f) throw image_file_error(file, std::string("cannot open: ") + std::strerror(errno));
  std::vector<std::uint8_t> bytes;
  std::uint8_t chunk[1 << 16];
  for (;;) {
    const std::size_t got = std::fread(chunk, 1, sizeof chunk, f);
    bytes.insert(bytes.end(), chunk, chunk + got);
    if (got < sizeof chunk) break;
  }
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) throw image_file_error(file, std::string("read failed: ") + std::strerror(err));
  return bytes;
}


}  // namespace detail

// Decodes an image held in memory into interleaved H×W×C pixels. `channels` 0 keeps what the
// file stores (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA); 1–4 converts, as stb does (grey is
// replicated to RGB, alpha added as opaque or dropped); a JPEG goes to decode_jpeg. uint8_t gives 8-bit values; uint16_t
// gives 16-bit PNG/PNM values as stored and 8-bit files scaled by 257 (so 255 → 65535).
// `file` names the source in errors. An image past `limits` (read from its header, before
// decoding) is an image_file_error. Safe to call from several threads at once.
template <class T = std::uint8_t>
image<T> decode_image(std::span<const std::uint8_t> bytes, std::int64_t channels = 0,
                      const std::filesystem::path& file = "<memory>", const image_limits& limits = {}) {
  static_assert(std::is_same_v<T, std::uint8_t> || std::is_same_v<T, std::uint16_t>,
                "strata::decode_image decodes to uint8_t or uint16_t pixels; convert with copy_pixels");
#if STRATA_HAS_STB_IMAGE
  if (channels < 0 || channels > 4)
    throw error("decode_image: channels must be 0 (as stored) or 1 to 4, got " + std::to_string(channels));
  if (bytes.empty()) throw image_file_error(file, "not an image: the file is empty");
  if (const auto problem = detail::truncation_problem(bytes); !problem.empty()) throw image_file_error(file, problem);
  if (detail::looks_like_jpeg(bytes)) return decode_jpeg<T>(bytes, channels, file, limits);
  if (detail::looks_like_psd(bytes)) return decode_psd<T>(bytes, channels, file, limits);
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw image_file_error(file, "too large for stb_image (more than 2 GiB)");
  if (const auto problem = detail::pnm_header_problem(bytes, channels); !problem.empty()) throw image_file_error(file, problem);
  if (const auto problem = detail::png_chunk_problem(bytes); !problem.empty()) throw image_file_error(file, problem);

  int w = 0, h = 0, stored = 0;
  const int len = static_cast<int>(bytes.size());
  const int want = static_cast<int>(channels);
  if (!stbi_info_from_memory(bytes.data(), len, &w, &h, &stored)) {
    const char* why = stbi_failure_reason();
    throw image_file_error(file, std::string("cannot decode image: ") + (why ? why : "unknown reason") + " (stb_image, its header)");
  }
  // stb accepts some headers of an empty image (a PNM of width 0, say).
  if (const auto problem = detail::image_size_problem(w, h, limits); !problem.empty()) throw image_file_error(file, problem);
  T* pixels;
  if constexpr (std::is_same_v<T, std::uint8_t>)
    pixels = stbi_load_from_memory(bytes.data(), len, &w, &h, &stored, want);
  else
    pixels = stbi_load_16_from_memory(bytes.data(), len, &w, &h, &stored, want);
  if (!pixels) {
    // The reason is thread-local in this stb (STBI_THREAD_LOCAL), so it is this call's.
    const char* why = stbi_failure_reason();
    throw image_file_error(file, std::string("cannot decode image: ") + (why ? why : "unknown reason") +
                                     " (stb_image)");
  }
  const std::unique_ptr<T, void (*)(void*)> owned(pixels, stbi_image_free);
  if (!detail::image_size_problem(w, h, limits).empty())  // the decoder read other dimensions than the header's
    throw image_file_error(file, "decoded " + std::to_string(w) + "×" + std::to_string(h) +
                                     " pixels, which the header did not say: without pixels or past the limits");
  const std::int64_t c = want ? want : stored;
  image<T> out(h, w, c);
  std::memcpy(out.data(), pixels, static_cast<std::size_t>(out.values()) * sizeof(T));
  return out;
#else
  (void)bytes, (void)channels, (void)file, (void)limits;
  static_assert(detail::stb_missing<T>,
                "strata::decode_image/read_image need stb_image: install libstb-dev (stb/stb_image.h) and link -lstb");
  return {};
#endif
}

// Reads and decodes an image file; see decode_image for `channels`, the pixel types and the
// limits. Errors (missing file, unknown format, corrupt or truncated data, past the limits) are
// image_file_error naming the file and the reason.
template <class T = std::uint8_t>
image<T> read_image(const std::filesystem::path& file, std::int64_t channels = 0, const image_limits& limits = {}) {
#if STRATA_HAS_STB_IMAGE
  const auto bytes = detail::read_file_bytes(file);
  return decode_image<T>(bytes, channels, file, limits);
#else
  (void)file, (void)channels, (void)limits;
  static_assert(detail::stb_missing<T>,
                "strata::read_image needs stb_image: install libstb-dev (stb/stb_image.h) and link -lstb");
  return {};
#endif
}

// Writes 8-bit pixels (1 to 4 channels, any layout or strides) as a PNG. stb_image_write gives
// no reason for a failure, so the message says what was tried.
//
// A template only so that, without stb, the static_assert fires where it is called and not
// wherever this header is included; `Unused` is never deduced and never needs naming.
template <class Unused = void>
void write_png(const std::filesystem::path& file, image_view<const std::uint8_t> pixels) {
#if STRATA_HAS_STB_IMAGE_WRITE
  if (pixels.channels() < 1 || pixels.channels() > 4)
    throw image_file_error(file, "cannot write PNG: " + std::to_string(pixels.channels()) +
                                     " channels (PNG through stb_image_write takes 1 to 4)");
  if (pixels.height() < 1 || pixels.width() < 1)
    throw image_file_error(file, "cannot write PNG: the image is empty (" + std::to_string(pixels.height()) + "×" +
                                     std::to_string(pixels.width()) + ")");
  constexpr std::int64_t int_max = std::numeric_limits<int>::max();
  if (pixels.width() * pixels.channels() > int_max || pixels.height() > int_max)
    throw image_file_error(file, "cannot write PNG: too large for stb_image_write");
  // stb wants rows of interleaved pixels; anything else (planar, a channel subset) is copied.
  image<std::uint8_t> packed;
  const std::uint8_t* data = pixels.data();
  std::int64_t stride = pixels.row_stride();
  if (pixels.channel_stride() != 1 || pixels.col_stride() != pixels.channels() || pixels.row_stride() < 0) {
    packed = image<std::uint8_t>(pixels);
    data = packed.data();
    stride = pixels.width() * pixels.channels();
  }
  errno = 0;
  const int ok = stbi_write_png(file.string().c_str(), static_cast<int>(pixels.width()),
                                static_cast<int>(pixels.height()), static_cast<int>(pixels.channels()), data,
                                static_cast<int>(stride));
  if (!ok) {
    const int err = errno;
    throw image_file_error(file, "cannot write PNG (stb_image_write failed" +
                                     (err ? std::string(": ") + std::strerror(err) : std::string()) + ")");
  }
#else
  (void)file, (void)pixels;
  static_assert(detail::stb_missing<Unused>,
                "strata::write_png needs stb_image_write: install libstb-dev (stb/stb_image_write.h) and link -lstb");
#endif
}

}  // namespace strata
