// strata/image/format_checks.hpp — what strata checks in an image file before a decoder sees it:
// each detail::*_problem function reads a format's structure as the decoder would and names
// what is wrong (truncated, oversized, a known decoder bug's trigger); empty when fine.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <span>
#include <string>

namespace strata::detail {

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

}  // namespace strata::detail
