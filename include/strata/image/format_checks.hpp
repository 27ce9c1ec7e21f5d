// strata/image/format_checks.hpp — what strata checks in an image file before a decoder sees it:
// each detail::*_problem function walks a format's structure as the decoder would read it and
// names what is wrong (truncated, oversized, a known decoder bug's trigger); empty when fine.
// stb_image reads past the end of its buffer as zeros, so a file cut short would otherwise decode
// as a plausible image, or (HDR) never finish decoding; these checks make it an error instead.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
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
// such a file is decoded with its own channels only. And the pixel bytes must all be there.
inline std::string pnm_header_problem(std::span<const std::uint8_t> b, std::int64_t channels) {
  const std::size_t n = b.size();
  if (n < 2 || b[0] != 'P' || (b[1] != '5' && b[1] != '6')) return "";
  std::size_t i = 2;
  const auto get8 = [&]() -> int { return i < n ? b[i++] : 0; };
  const auto at_end = [&] { return i >= n; };
  const auto space = [](int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
  int c = get8();
  std::int64_t numbers[3] = {};
  const char* what[3] = {"width", "height", "maximum value"};
  for (int k = 0; k < 3; ++k) {
    for (;;) {  // whitespace and comments
      while (!at_end() && space(c)) c = get8();
      if (at_end() || c != '#') break;
      while (!at_end() && c != '\n' && c != '\r') c = get8();
    }
    std::int64_t& value = numbers[k];
    while (!at_end() && c >= '0' && c <= '9') {
      value = value * 10 + (c - '0');
      if (value > std::numeric_limits<int>::max())
        return std::string("corrupt PNM header: its ") + what[k] + " is a number past 2^31 - 1";
      c = get8();
    }
  }
  const auto [width, height, maximum] = numbers;
  const std::int64_t stored = b[1] == '5' ? 1 : 3;
  if (maximum > 65535) return "";  // stb refuses it by name
  if (maximum > 255 && channels != 0 && channels != stored)
    return "a 16-bit PNM (maximum value " + std::to_string(maximum) + ") with " + std::to_string(stored) + " channel" +
           (stored == 1 ? "" : "s") + " cannot be converted to " + std::to_string(channels) +
           " by stb_image 2.27 without reading past its buffer; decode it with channels 0 or " + std::to_string(stored);
  // The pixels follow the one byte that ended the maximum value. stb 2.27 copies them only when
  // all are there, and otherwise hands back its buffer unwritten: uninitialised memory.
  if (width == 0 || height == 0) return "";  // the image limits refuse an empty image
  const std::int64_t row_bytes = width * stored * (maximum > 255 ? 2 : 1), available = static_cast<std::int64_t>(n - std::min(i, n));
  if (row_bytes <= available / height) return "";
  return "truncated PNM: its header promises " + std::to_string(width) + "×" + std::to_string(height) + " pixels of " +
         std::to_string(stored) + " channel" + (stored == 1 ? "" : "s") + " at " + (maximum > 255 ? "16" : "8") + " bits; the file has " +
         std::to_string(available) + " bytes after the header";
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
// it 10 times slower). The bytes stb reads are counted here as it reads them (the id, the
// palette after skipping as many bytes as the header's first palette index, then the pixels,
// or the run-length packets walked one by one), and must all be in the file. Empty when whole,
// or when this is not a TGA header.
inline std::string tga_size_problem(std::span<const std::uint8_t> b) {
  const auto at = [&](std::size_t i) -> std::int64_t { return i < b.size() ? b[i] : 0; };  // stb reads zeros past the end
  const std::int64_t id_length = at(0), colormap = at(1), type = at(2);
  const std::int64_t palette_start = at(3) | at(4) << 8, palette_length = at(5) | at(6) << 8, palette_bits = at(7);
  const std::int64_t width = at(12) | at(13) << 8, height = at(14) | at(15) << 8, bits = at(16);
  const auto one_of = [](std::int64_t v, std::initializer_list<std::int64_t> set) { return std::find(set.begin(), set.end(), v) != set.end(); };
  if (b.size() < 2 || colormap > 1 || width < 1 || height < 1) return "";
  if (colormap == 1 && !(one_of(type, {1, 9}) && one_of(palette_bits, {8, 15, 16, 24, 32}) && one_of(bits, {8, 16}))) return "";
  if (colormap == 0 && !(one_of(type, {2, 3, 10, 11}) && one_of(bits, {8, 15, 16, 24, 32}))) return "";
  if (colormap == 1 && palette_length == 0) return "";  // stb: "bad palette"
  const auto file_size = static_cast<std::int64_t>(b.size());
  const std::int64_t pixel_bytes = (bits + 7) / 8, pixels = width * height;
  const bool run_length = type >= 9;
  const std::int64_t start = 18 + id_length + (colormap == 1 ? palette_start + palette_length * ((palette_bits + 7) / 8) : 0);
  const std::string promise = "truncated TGA: its header promises " + std::to_string(width) + "×" + std::to_string(height) +
                              " pixels of " + std::to_string(bits) + " bits";
  if (!run_length) {
    const std::int64_t needed = start + pixels * pixel_bytes;
    if (needed <= file_size) return "";
    return promise + " in " + std::to_string(needed) + " bytes; the file has " + std::to_string(b.size());
  }
  // Each packet: a byte (top bit: one pixel repeated; low 7 bits: count − 1), then one pixel or
  // count pixels; stb reads no pixel past the image's last.
  std::int64_t p = start, pixel = 0;
  while (pixel < pixels && p < file_size) {
    const std::int64_t command = b[std::size_t(p++)];
    const std::int64_t count = std::min(1 + (command & 127), pixels - pixel);
    p += (command & 128 ? 1 : count) * pixel_bytes;
    if (p <= file_size) pixel += count;
  }
  if (pixel >= pixels) return "";
  return promise + ", run-length encoded; its packets run past the end of the file (" + std::to_string(b.size()) +
         " bytes) at pixel " + std::to_string(pixel);
}

// Big-endian value of `bytes` bytes at `at`, zeros past the end (as stb reads them).
inline std::int64_t big_endian_at(std::span<const std::uint8_t> b, std::size_t at, int bytes) noexcept {
  std::int64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = v << 8 | (at + i < b.size() ? b[at + i] : 0);
  return v;
}

// PSD (stb reads 8- and 16-bit RGB): a 26-byte header, three sections that each start with
// their length (colour mode data, image resources, layers), a compression word, then the pixels:
// raw planes, or a table of row lengths followed by each channel run-length encoded as one
// stream; stb decodes the first four channels. stb skips a section that runs past the end and
// reads zeros from there on, so a 40-byte header became up to 67 megapixels of black. The
// pixel data is walked here as stb decodes it (without writing pixels), and must be in the file.
inline bool looks_like_psd(std::span<const std::uint8_t> b) noexcept {
  return b.size() >= 4 && b[0] == '8' && b[1] == 'B' && b[2] == 'P' && b[3] == 'S';
}

// A PSD's header fields and where its pixel data starts (after the three sections and the
// compression word), read as stb reads them: zeros past the end. pixels_at may lie past the end.
struct psd_layout {
  std::int64_t version, channels, height, width, depth, mode, compression, pixels_at;
};

inline psd_layout read_psd_layout(std::span<const std::uint8_t> b) noexcept {
  psd_layout l{};
  l.version = big_endian_at(b, 4, 2), l.channels = big_endian_at(b, 12, 2);
  l.height = big_endian_at(b, 14, 4), l.width = big_endian_at(b, 18, 4);
  l.depth = big_endian_at(b, 22, 2), l.mode = big_endian_at(b, 24, 2);
  std::int64_t p = 26;
  for (int section = 0; section < 3; ++section) p += 4 + big_endian_at(b, std::size_t(std::min<std::int64_t>(p, std::int64_t(b.size()))), 4);
  l.compression = big_endian_at(b, std::size_t(std::min<std::int64_t>(p, std::int64_t(b.size()))), 2);
  l.pixels_at = p + 2;
  return l;
}

inline std::string psd_size_problem(std::span<const std::uint8_t> b) {
  if (!looks_like_psd(b)) return "";
  const std::size_t n = b.size();
  const auto [version, channels, height, width, depth, mode, compression, pixels_at] = read_psd_layout(b);
  // stb itself refuses other versions, depths, colour modes and more than 16 channels; the
  // image limits refuse an empty or oversized image (stb's own maximum side is 2^24).
  constexpr std::int64_t max_side = std::int64_t{1} << 24;
  if (version != 1 || channels > 16 || (depth != 8 && depth != 16) || mode != 3) return "";
  if (width < 1 || height < 1 || width > max_side || height > max_side) return "";
  if (channels == 0) return "a PSD of 0 channels holds no pixels";
  const std::string promise = "truncated PSD: its header promises " + std::to_string(width) + "×" + std::to_string(height) +
                              " pixels, " + std::to_string(channels) + " channel" + (channels == 1 ? "" : "s") + " of " +
                              std::to_string(depth) + " bits";
  const auto file_size = static_cast<std::int64_t>(n);
  std::int64_t p = pixels_at;
  if (p > file_size)
    return promise + ", but its sections before the pixels need " + std::to_string(p) + " bytes and the file has " + std::to_string(n);
  if (compression > 1) return "";  // stb refuses it by name
  const std::int64_t planes = std::min<std::int64_t>(channels, 4), pixels = width * height;
  if (compression == 0) {
    const std::int64_t needed = p + planes * pixels * (depth / 8);
    if (needed <= file_size) return "";
    return promise + ", uncompressed in " + std::to_string(needed) + " bytes; the file has " + std::to_string(n);
  }
  p += height * channels * 2;  // the row lengths, which stb skips
  for (std::int64_t plane = 0; plane < planes; ++plane) {
    std::int64_t count = 0;
    while (count < pixels && p < file_size) {
      const std::int64_t code = b[std::size_t(p++)];
      if (code == 128) continue;  // no-op
      const std::int64_t length = code < 128 ? code + 1 : 257 - code;
      if (length > pixels - count) return "";  // stb: "bad RLE data"
      p += code < 128 ? length : 1;
      count += length;
    }
    if (count < pixels || p > file_size)
      return promise + ", run-length encoded; channel " + std::to_string(plane) + "'s data runs past the end of the file (" +
             std::to_string(n) + " bytes)";
  }
  return "";
}

// Radiance HDR: text lines (the format, then an empty line, then "-Y height +X width"), then
// scanlines, flat (4 bytes a pixel) or run-length encoded per channel. stb reads past the end as
// zeros, and in a run-length scanline a zero is a copy of no bytes: a file cut short inside its
// pixels made stb loop forever (found by reading stb, not by the fuzzers, which never built an
// HDR header). A flat file cut short filled pixels from uninitialised memory. The header is read
// here exactly as stb reads it (C strings, its 1024-byte lines) and the scanlines are walked as
// stb decodes them; all of it must be in the file.
inline std::string hdr_size_problem(std::span<const std::uint8_t> b) {
  const std::size_t n = b.size();
  std::size_t p = 0;
  const auto get8 = [&]() -> int { return p < n ? b[p++] : 0; };
  const auto line = [&] {  // stb__hdr_gettoken: up to '\n'; the byte read at the end is dropped
    std::string token;
    int c = get8();
    while (p < n && c != '\n') {
      token += static_cast<char>(c);
      if (token.size() == 1023) {
        while (p < n && get8() != '\n') {}
        break;
      }
      c = get8();
    }
    return token;
  };
  const std::string id = line();
  if (std::strcmp(id.c_str(), "#?RADIANCE") != 0 && std::strcmp(id.c_str(), "#?RGBE") != 0) return "";
  bool rgbe = false;
  for (;;) {
    const std::string token = line();
    if (token.c_str()[0] == 0) break;
    if (std::strcmp(token.c_str(), "FORMAT=32-bit_rle_rgbe") == 0) rgbe = true;
  }
  if (!rgbe) return "";  // stb refuses it by name
  const std::string resolution = line();
  const char* s = resolution.c_str();
  if (std::strncmp(s, "-Y ", 3) != 0) return "";
  char* end = nullptr;
  const auto height = static_cast<int>(std::strtol(s + 3, &end, 10));
  s = end;
  while (*s == ' ') ++s;
  if (std::strncmp(s, "+X ", 3) != 0) return "";
  const auto width = static_cast<int>(std::strtol(s + 3, nullptr, 10));
  constexpr int max_side = 1 << 24;  // stb's; the image limits refuse an empty or oversized image
  if (width < 1 || height < 1 || width > max_side || height > max_side) return "";

  const std::int64_t w = width, h = height, file_size = static_cast<std::int64_t>(n);
  const std::string promise = "truncated HDR: its header promises " + std::to_string(w) + "×" + std::to_string(h) + " pixels";
  const auto flat_from = [&](std::int64_t start) -> std::string {  // stb decodes all w × h pixels flat from here
    const std::int64_t needed = start + 4 * w * h;
    if (needed <= file_size) return "";
    return promise + " of 4 bytes in " + std::to_string(needed) + " bytes; the file has " + std::to_string(n);
  };
  auto q = static_cast<std::int64_t>(p);
  if (w < 8 || w >= 32768) return flat_from(q);
  for (std::int64_t row = 0; row < h; ++row) {
    const auto cut = [&] {
      return promise + ", run-length encoded; scanline " + std::to_string(row) + " runs past the end of the file (" +
             std::to_string(n) + " bytes)";
    };
    if (file_size - q < 4) return cut();
    const auto at = [&](std::int64_t i) { return std::int64_t{b[std::size_t(i)]}; };
    if (at(q) != 2 || at(q + 1) != 2 || (at(q + 2) & 0x80)) return flat_from(q);  // not run-length encoded after all
    if ((at(q + 2) << 8 | at(q + 3)) != w) return "";                           // stb: "invalid decoded scanline length"
    q += 4;
    for (int channel = 0; channel < 4; ++channel) {
      for (std::int64_t x = 0; x < w;) {
        if (q >= file_size) return cut();
        std::int64_t count = at(q++);
        const bool run = count > 128;
        if (run) count -= 128;
        if (count > w - x) return "";  // stb: "bad RLE data in HDR"
        q += run ? 1 : count;
        if (q > file_size) return cut();
        x += count;
      }
    }
  }
  return "";
}

// GIF: stb decodes the first image. A file that ends before that image's data does (its chain
// of sub-blocks, closed by an empty one) was decoded with its missing pixels transparent black.
// The blocks up to it are walked here as stb reads them (extensions, colour tables, the image
// descriptor); every byte stb reads must be in the file. An image whose compressed data ends
// early inside a whole chain still decodes with the rest transparent, as browsers show it.
inline std::string gif_size_problem(std::span<const std::uint8_t> b) {
  const std::size_t n = b.size();
  if (n < 6 || b[0] != 'G' || b[1] != 'I' || b[2] != 'F' || b[3] != '8' || (b[4] != '7' && b[4] != '9') || b[5] != 'a') return "";
  const auto file_size = static_cast<std::int64_t>(n);
  const auto cut = [&](const char* where) {
    return std::string("truncated GIF: the file (") + std::to_string(n) + " bytes) ends " + where;
  };
  const auto at = [&](std::int64_t i) { return std::int64_t{b[std::size_t(i)]}; };
  std::int64_t p = 13;  // signature and logical screen descriptor
  if (p > file_size) return cut("inside its header");
  const std::int64_t global_flags = at(10);
  if (global_flags & 0x80) p += 3 * (std::int64_t{2} << (global_flags & 7));
  const auto sub_blocks = [&]() -> bool {  // true when the chain closes inside the file
    for (;;) {
      if (p >= file_size) return false;
      const std::int64_t length = at(p++);
      if (length == 0) return true;
      p += length;
    }
  };
  for (;;) {
    if (p >= file_size) return cut("before its first image");
    const std::int64_t tag = at(p++);
    if (tag == 0x2C) {  // image descriptor: position, size, flags; colour table; code size; data
      if (file_size - p < 9) return cut("inside its first image's descriptor");
      const std::int64_t local_flags = at(p + 8);
      p += 9;
      if (local_flags & 0x80) p += 3 * (std::int64_t{2} << (local_flags & 7));
      else if (!(global_flags & 0x80)) return "";  // stb: "missing color table"
      if (p >= file_size) return cut("before its first image's data");
      ++p;  // the LZW code size
      return sub_blocks() ? "" : cut("inside its first image's data");
    }
    if (tag != 0x21) return "";  // the trailer (no image) or a corrupt block: stb refuses both
    if (p >= file_size) return cut("inside an extension block");
    const std::int64_t label = at(p++);
    if (label == 0xF9) {  // graphic control: stb reads a 4-byte body, or skips another length and goes on
      if (p >= file_size) return cut("inside an extension block");
      const std::int64_t length = at(p++);
      p += length;
      if (length != 4) {
        if (p > file_size) return cut("inside an extension block");
        continue;
      }
    }
    if (!sub_blocks()) return cut("inside an extension block");
  }
}

// stb_image reads past the end of a BMP as zeros, and libjpeg decodes a JPEG cut short with
// its missing rows grey (a warning, which Pillow ignores too). A truncated download must not
// become a plausible image, so those two formats (and TGA, HDR and GIF, above) are checked for
// completeness here, PNM in pnm_header_problem and PSD by decode_psd; PNG and PIC need no check (stb verifies
// PNG's chunks and each of PIC's reads, and fails on a short file). Returns an empty string
// when whole.
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
  for (const auto check : {&tga_size_problem, &hdr_size_problem, &gif_size_problem})
    if (auto problem = check(b); !problem.empty()) return problem;
  return "";
}

}  // namespace strata::detail
