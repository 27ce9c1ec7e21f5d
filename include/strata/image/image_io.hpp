// strata/image/image_io.hpp — image files: read_image<uint8_t or uint16_t>(path, channels) and
// decode_image (from bytes in memory): JPEG through libjpeg (image/jpeg_decoder.hpp), the rest
// through stb_image (PNG, BMP, GIF, TGA, PSD, PNM …); write_png through stb_image_write. Needs
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
#include "strata/image/image_file_error.hpp"
#include "strata/image/image_limits.hpp"
#include "strata/image/jpeg_decoder.hpp"

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
// reason for a file that cannot be opened, and lets the format checks below see every byte.
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

inline std::uint32_t little_endian_u32(const std::uint8_t* p) noexcept {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
}

// stb_image 2.27 reads a PNM header's width, height and maximum value into an int without a
// bound, so a long number overflows it (undefined behaviour; found by fuzz/image; 2.28 bounds
// it). The header is read here as stb reads it (whitespace, # comments, digits; zeros past the
// end of the file), and a number past 2^31 − 1 is refused before stb sees the file. It also
// converts a 16-bit PNM (maximum value past 255) to another channel count with its 8-bit
// routine and then reads twice the bytes it made (a heap overflow, found by fuzz/image), so
// such a file is decoded with its own channels only.
inline std::string pnm_header_problem(std::span<const std::uint8_t> b, std::int64_t channels) {
  const std::size_t n = b.size();
  if (n < 2 || b[0] != 'P' || (b[1] != '5' && b[1] != '6')) return "";
  std::size_t i = 2;
  const auto get8 = [&]() -> int { return i < n ? b[i++] : 0; };
  const auto at_end = [&] { return i >= n; };
  const auto space = [](int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
  int c = get8();
  std::int64_t value = 0;
  for (const char* what : {"width", "height", "maximum value"}) {
    for (;;) {  // whitespace and comments
      while (!at_end() && space(c)) c = get8();
      if (at_end() || c != '#') break;
      while (!at_end() && c != '\n' && c != '\r') c = get8();
    }
    value = 0;
    while (!at_end() && c >= '0' && c <= '9') {
      value = value * 10 + (c - '0');
      if (value > std::numeric_limits<int>::max())
        return std::string("corrupt PNM header: its ") + what + " is a number past 2^31 - 1";
      c = get8();
    }
  }
  const std::int64_t stored = b[1] == '5' ? 1 : 3;
  if (value > 255 && channels != 0 && channels != stored)
    return "a 16-bit PNM (maximum value " + std::to_string(value) + ") with " + std::to_string(stored) + " channel" +
           (stored == 1 ? "" : "s") + " cannot be converted to " + std::to_string(channels) +
           " by stb_image 2.27 without reading past its buffer; decode it with channels 0 or " + std::to_string(stored);
  return "";
}

// stb_image 2.27 grows its buffer for a PNG's IDAT data to the length a chunk header claims
// before it reads the chunk, so a 50-byte file claiming a 2 GB chunk makes it allocate 2 GB
// (found by fuzz/image). Every chunk is walked here as stb walks them, up to IEND, and one that
// claims more bytes than the file holds is refused first.
inline std::string png_chunk_problem(std::span<const std::uint8_t> b) {
  static constexpr std::uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  const std::size_t n = b.size();
  if (n < 8 || !std::equal(signature, signature + 8, b.begin())) return "";
  for (std::size_t p = 8; p + 8 <= n;) {
    const std::uint64_t length = (std::uint64_t{b[p]} << 24) | (std::uint64_t{b[p + 1]} << 16) | (std::uint64_t{b[p + 2]} << 8) | b[p + 3];
    const std::string type(reinterpret_cast<const char*>(b.data() + p + 4), 4);
    if (length + 12 > n - p) {
      std::string printable;
      for (const char c : type) printable += (c >= 32 && c < 127) ? c : '?';
      return "truncated PNG: chunk '" + printable + "' claims " + std::to_string(length) + " bytes, the file has " +
             std::to_string(n - p - std::min<std::size_t>(n - p, 12)) + " after its header";
    }
    if (type == "IEND") break;
    p += 12 + std::size_t(length);
  }
  return "";
}

// TGA has no magic number: stb takes a file for one when its 18-byte header passes stb's test
// (the rules below; every other format's second byte is past 1, so none is mistaken for one).
// stb then reads past the end as zeros, so a header of a few bytes became an image of up to
// image_limits' 67 megapixels, every one decoded (fuzz/image_folder found it: such inputs made
// it 10 times slower). The pixel data the header promises must be there: all of it when
// uncompressed; at least one packet per 128 pixels when run-length encoded. Empty when whole,
// or when this is not a TGA header.
inline std::string tga_size_problem(std::span<const std::uint8_t> b) {
  const auto at = [&](std::size_t i) -> std::int64_t { return i < b.size() ? b[i] : 0; };  // stb reads zeros past the end
  const std::int64_t id_length = at(0), colormap = at(1), type = at(2);
  const std::int64_t palette_length = at(5) | at(6) << 8, palette_bits = at(7);
  const std::int64_t width = at(12) | at(13) << 8, height = at(14) | at(15) << 8, bits = at(16);
  const auto one_of = [](std::int64_t v, std::initializer_list<std::int64_t> set) { return std::find(set.begin(), set.end(), v) != set.end(); };
  if (b.size() < 2 || colormap > 1 || width < 1 || height < 1) return "";
  if (colormap == 1 && !(one_of(type, {1, 9}) && one_of(palette_bits, {8, 15, 16, 24, 32}) && one_of(bits, {8, 16}))) return "";
  if (colormap == 0 && !(one_of(type, {2, 3, 10, 11}) && one_of(bits, {8, 15, 16, 24, 32}))) return "";
  const std::int64_t pixel_bytes = (bits + 7) / 8, pixels = width * height;
  const bool run_length = type >= 9;
  const std::int64_t data = run_length ? (pixels + 127) / 128 * (1 + pixel_bytes) : pixels * pixel_bytes;
  const std::int64_t needed = 18 + id_length + (colormap == 1 ? palette_length * ((palette_bits + 7) / 8) : 0) + data;
  if (static_cast<std::int64_t>(b.size()) >= needed) return "";
  return "truncated TGA: its header promises " + std::to_string(width) + "×" + std::to_string(height) + " pixels of " +
         std::to_string(bits) + " bits" + (run_length ? ", run-length encoded, in at least " : " in ") + std::to_string(needed) +
         " bytes; the file has " + std::to_string(b.size());
}

// stb_image reads past the end of a BMP as zeros, and libjpeg decodes a JPEG cut short with
// its missing rows grey (a warning, which Pillow ignores too). A truncated download must not
// become a plausible image, so those two formats (and TGA, above) are checked for completeness here; PNG needs no
// check (stb verifies its chunks and fails on a short one). Returns an empty string when whole.
inline std::string truncation_problem(std::span<const std::uint8_t> b) {
  const std::size_t n = b.size();
  if (n >= 2 && b[0] == 0xFF && b[1] == 0xD8) {
    // JPEG: walk the marker segments up to the first start-of-scan, then look for the
    // end-of-image marker FF D9 after it. Entropy-coded data never holds FF D9 (an FF there is
    // followed by 00 or a restart marker), and an embedded EXIF thumbnail's own FF D9 sits in
    // an APP segment before the scan, so skipping segments by length keeps it from counting.
    std::size_t p = 2;
    while (p + 4 <= n) {
      if (b[p] != 0xFF) return "";  // not a marker where one should be: let the decoder judge
      const std::uint8_t m = b[p + 1];
      if (m == 0xFF) { ++p; continue; }  // fill byte
      if (m == 0xD9) return "";          // an image with no scan: the decoder will say so
      if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { p += 2; continue; }  // markers without length
      const std::size_t len = (std::size_t{b[p + 2]} << 8) | b[p + 3];
      p += 2 + len;
      if (m == 0xDA) {
        for (std::size_t q = p; q + 1 < n; ++q)
          if (b[q] == 0xFF && b[q + 1] == 0xD9) return "";
        return "truncated JPEG: no end-of-image marker (FF D9) after the image data";
      }
    }
    return "truncated JPEG: the file ends before the image data";
  }
  if (n >= 2 && b[0] == 'B' && b[1] == 'M') {
    // BMP: for uncompressed pixels (BI_RGB, BI_BITFIELDS) the size follows from the header;
    // run-length encoded ones have no fixed size and are left to the decoder.
    if (n < 30) return "truncated BMP: the file ends inside the header";
    const std::uint32_t offset = little_endian_u32(b.data() + 10);
    const std::uint32_t header_size = little_endian_u32(b.data() + 14);
    if (header_size < 40) return "";  // OS/2 headers: rare, left to the decoder
    if (n < 14 + 40) return "truncated BMP: the file ends inside the header";
    const auto width = static_cast<std::int32_t>(little_endian_u32(b.data() + 18));
    const auto height = static_cast<std::int32_t>(little_endian_u32(b.data() + 22));
    const std::uint32_t bits = std::uint32_t{b[28]} | (std::uint32_t{b[29]} << 8);
    const std::uint32_t compression = little_endian_u32(b.data() + 30);
    if (compression != 0 && compression != 3) return "";
    if (width <= 0 || bits == 0) return "";  // nonsense: the decoder reports it
    const std::int64_t rows = height < 0 ? -std::int64_t{height} : std::int64_t{height};
    const std::int64_t row_bytes = (std::int64_t{width} * bits + 31) / 32 * 4;
    // rows × row_bytes can pass 2^63 (found by fuzz/image): compare without forming it.
    const std::int64_t available = static_cast<std::int64_t>(n) - std::int64_t{offset};
    if (available < 0 || (rows > 0 && row_bytes > available / rows)) {
      const bool fits = rows == 0 || row_bytes <= (std::numeric_limits<std::int64_t>::max() - std::int64_t{offset}) / rows;
      return "truncated BMP: header promises " +
             (fits ? std::to_string(std::int64_t{offset} + rows * row_bytes) : std::string("more than 2^63")) + " bytes, file has " +
             std::to_string(n);
    }
  }
  return tga_size_problem(b);
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
