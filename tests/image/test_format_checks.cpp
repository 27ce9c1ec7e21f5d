// The checks strata makes before a decoder sees an image file (image/format_checks.hpp): every
// format decodes whole, and a file cut anywhere is refused or, where the cut leaves out only
// what the decoder never reads (a trailer), decodes to the same pixels; never a different image.
// PSD (support/psd_file.hpp), PGM/PPM and GIF files are written byte by byte; the rest by
// stb_image_write.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <utility>
#include <string>
#include <vector>

#include "strata/image/image_io.hpp"
#include "support/files.hpp"
#include "support/images.hpp"
#include "support/psd_file.hpp"

using Catch::Matchers::Contains;
using strata::testing::bytes;
using strata::testing::pattern_image;
using strata::testing::psd_file;
using strata::testing::put_big_endian;

namespace {

// A binary PGM (1 channel) or PPM (3), 8 bits or 16 (each value ×257, big-endian).
bytes pnm(const strata::image<std::uint8_t>& im, bool sixteen) {
  const std::string header = std::string(im.channels() == 1 ? "P5" : "P6") + "\n# a comment\n" + std::to_string(im.width()) + " " +
                             std::to_string(im.height()) + "\n" + (sixteen ? "65535" : "255") + "\n";
  bytes out(header.begin(), header.end());
  for (std::int64_t i = 0; i < im.values(); ++i) put_big_endian(out, sixteen ? im.data()[i] * 257u : im.data()[i], sixteen ? 2 : 1);
  return out;
}

// A GIF89a of a grey image: a 256-entry grey palette, so index v is (v, v, v). The LZW codes are
// 9 bits wide throughout: a clear code every 250 codes keeps the code table from growing to 512.
bytes gif(const strata::image<std::uint8_t>& grey) {
  REQUIRE(grey.channels() == 1);
  bytes out = {'G', 'I', 'F', '8', '9', 'a'};
  const auto w = std::uint16_t(grey.width()), h = std::uint16_t(grey.height());
  const auto le16 = [&](std::uint16_t v) { out.push_back(std::uint8_t(v)), out.push_back(std::uint8_t(v >> 8)); };
  le16(w), le16(h);
  out.insert(out.end(), {0xF7, 0, 0});  // global colour table of 2^8 entries
  for (int v = 0; v < 256; ++v) out.insert(out.end(), 3, std::uint8_t(v));
  out.insert(out.end(), {0x21, 0xF9, 4, 0, 0, 0, 0, 0});  // graphic control: opaque, no delay
  out.push_back(0x2C);
  le16(0), le16(0), le16(w), le16(h);
  out.push_back(0);  // no local colour table, not interlaced
  out.push_back(8);  // LZW minimum code size
  std::vector<int> codes;
  for (std::int64_t i = 0; i < grey.values(); ++i) {
    if (i % 250 == 0) codes.push_back(256);  // clear
    codes.push_back(grey.data()[i]);
  }
  codes.push_back(257);  // end of information
  bytes packed;
  std::uint32_t bits = 0;
  int held = 0;
  for (const int code : codes) {
    bits |= std::uint32_t(code) << held, held += 9;
    for (; held >= 8; held -= 8, bits >>= 8) packed.push_back(std::uint8_t(bits));
  }
  if (held > 0) packed.push_back(std::uint8_t(bits));
  for (std::size_t p = 0; p < packed.size(); p += 255) {
    const std::size_t n = std::min<std::size_t>(255, packed.size() - p);
    out.push_back(std::uint8_t(n));
    out.insert(out.end(), packed.begin() + std::ptrdiff_t(p), packed.begin() + std::ptrdiff_t(p + n));
  }
  out.push_back(0);     // the end of the image's data
  out.push_back(0x3B);  // trailer
  return out;
}

// stb_image_write's output in memory.
void append_to(void* context, void* data, int size) {
  auto* out = static_cast<bytes*>(context);
  out->insert(out->end(), static_cast<std::uint8_t*>(data), static_cast<std::uint8_t*>(data) + size);
}

// Decodes every prefix of `file`: each must be refused as an image_file_error, or decode to
// exactly `whole`. Returns the shortest prefix that decodes (the file's size when only the
// whole does).
std::size_t shortest_decoding_prefix(const bytes& file, const strata::image<std::uint8_t>& whole, std::int64_t channels) {
  std::size_t shortest = file.size();
  for (std::size_t n = file.size(); n-- > 0;) {
    std::optional<strata::image<std::uint8_t>> decoded;
    try {
      decoded = strata::decode_image(std::span(file).first(n), channels, "cut");
    } catch (const strata::image_file_error&) {
      continue;
    }
    INFO("the first " << n << " of " << file.size() << " bytes decode to another image");
    REQUIRE(*decoded == whole);
    shortest = n;
  }
  return shortest;
}

}  // namespace

TEST_CASE("PSD: raw and run-length encoded, 8 and 16 bits, decode to their pixels; cut anywhere they are refused", "[image][io][fuzz]") {
  const auto im = pattern_image(5, 7, 3);
  for (const auto& [file, what] : {std::pair{psd_file(im, false), "raw"}, std::pair{psd_file(im, true), "run-length"},
                                   std::pair{psd_file(im, false, 16), "16-bit raw"}}) {
    INFO(what);
    CHECK(strata::decode_image(file, 3) == im);
    CHECK(shortest_decoding_prefix(file, im, 3) == file.size());
  }
  const auto cut = psd_file(pattern_image(512, 512, 3), false);
  CHECK_THROWS_WITH(strata::decode_image(std::span(cut).first(50), 0, "cut.psd"),
                    Contains("cut.psd") && Contains("truncated PSD") && Contains("512×512 pixels, 3 channels of 8 bits") &&
                        Contains("uncompressed in 786476 bytes; the file has 50"));
  // A section that claims more bytes than the file has.
  bytes sections = psd_file(im, false);
  sections[33] = 0xFF;  // the image resources' length: 255 bytes, not 4
  CHECK_THROWS_WITH(strata::decode_image(sections), Contains("truncated PSD") && Contains("sections before the pixels need"));
  bytes no_channels = psd_file(im, false);
  no_channels[13] = 0;
  CHECK_THROWS_WITH(strata::decode_image(no_channels), Contains("a PSD of 0 channels holds no pixels"));
}

TEST_CASE("PGM and PPM, 8 and 16 bits, decode to their pixels; cut inside the pixels they are refused", "[image][io][fuzz]") {
  // stb 2.27 returned its buffer unwritten for a PNM cut short: uninitialised memory.
  for (const std::int64_t c : {1, 3})
    for (const bool sixteen : {false, true}) {
      INFO(c << " channels, " << (sixteen ? 16 : 8) << " bits");
      const auto im = pattern_image(6, 5, c);
      const auto file = pnm(im, sixteen);
      CHECK(strata::decode_image(file) == im);
      CHECK(shortest_decoding_prefix(file, im, 0) == file.size());
    }
  const auto cut = pnm(pattern_image(64, 64, 3), false);
  CHECK_THROWS_WITH(strata::decode_image(std::span(cut).first(cut.size() - 1), 0, "cut.ppm"),
                    Contains("cut.ppm") && Contains("truncated PNM: its header promises 64×64 pixels of 3 channels at 8 bits") &&
                        Contains("the file has 12287 bytes after the header"));
}

TEST_CASE("GIF decodes to its pixels; cut before its image data ends it is refused", "[image][io][fuzz]") {
  const auto grey = pattern_image(23, 31, 1);
  const auto file = gif(grey);
  const auto rgb = strata::decode_image(file, 3);
  REQUIRE(rgb.height() == 23);
  REQUIRE(rgb.width() == 31);
  for (std::int64_t y = 0; y < 23; ++y)
    for (std::int64_t x = 0; x < 31; ++x)
      for (std::int64_t k = 0; k < 3; ++k) REQUIRE(rgb(y, x, k) == grey(y, x, 0));
  // stb reads the first image and stops, so only the trailer may go.
  CHECK(shortest_decoding_prefix(file, rgb, 3) == file.size() - 1);
  CHECK_THROWS_WITH(strata::decode_image(std::span(file).first(file.size() - 2), 0, "cut.gif"),
                    Contains("cut.gif") && Contains("truncated GIF: the file (") && Contains("ends inside its first image's data"));
  CHECK_THROWS_WITH(strata::decode_image(std::span(file).first(781)), Contains("before its first image"));
}

TEST_CASE("HDR: flat and run-length encoded decode; cut anywhere they are refused, where stb looped forever", "[image][io][fuzz]") {
  for (const int width : {5, 40}) {  // stb writes scanlines narrower than 8 flat, the rest run-length encoded
    INFO("width " << width);
    const int height = 3;
    std::vector<float> radiance;
    for (int i = 0; i < width * height * 3; ++i) radiance.push_back(0.01f * float(i % 97));
    bytes file;
    REQUIRE(stbi_write_hdr_to_func(append_to, &file, width, height, 3, radiance.data()) != 0);
    const auto whole = strata::decode_image(file);
    REQUIRE(whole.height() == height);
    REQUIRE(whole.width() == width);
    CHECK(whole(2, width - 1, 2) > whole(0, 0, 0));
    CHECK(shortest_decoding_prefix(file, whole, 0) == file.size());
  }
  // 49 bytes: a header and one run-length scanline's start. stb read zeros past the end, each a
  // copy of no bytes, and never finished (the committed regression input below).
  const std::string hang = "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 8\n\x02\x02";
  bytes file(hang.begin(), hang.end());
  file.insert(file.end(), {0x00, 0x08});
  CHECK_THROWS_WITH(strata::decode_image(file, 0, "hang.hdr"),
                    Contains("hang.hdr") && Contains("truncated HDR: its header promises 8×2 pixels, run-length encoded; scanline 0"));
  const auto regression = strata::testing::read_raw(std::filesystem::path(STRATA_SOURCE_TEST_DIR) / "../fuzz/regressions/image/hdr-run-length-cut-short-loops-forever");
  REQUIRE(regression.size() > 1);
  CHECK_THROWS_WITH(strata::decode_image(std::span(regression).subspan(1)), Contains("truncated HDR"));
}

TEST_CASE("PNG, BMP, TGA and JPEG cut anywhere are refused or decode to the whole image", "[image][io][fuzz]") {
  const auto im = pattern_image(9, 11, 3);
  const auto written = [&](auto write) {
    bytes out;
    REQUIRE(write(&out) != 0);
    return out;
  };
  const int w = int(im.width()), h = int(im.height()), c = int(im.channels());
  const bytes png = written([&](bytes* o) { return stbi_write_png_to_func(append_to, o, w, h, c, im.data(), 0); });
  const bytes bmp = written([&](bytes* o) { return stbi_write_bmp_to_func(append_to, o, w, h, c, im.data()); });
  stbi_write_tga_with_rle = 0;
  const bytes tga = written([&](bytes* o) { return stbi_write_tga_to_func(append_to, o, w, h, c, im.data()); });
  stbi_write_tga_with_rle = 1;
  const bytes tga_rle = written([&](bytes* o) { return stbi_write_tga_to_func(append_to, o, w, h, c, im.data()); });
  const bytes jpeg = written([&](bytes* o) { return stbi_write_jpg_to_func(append_to, o, w, h, c, im.data(), 90); });
  for (const auto& [file, what] : {std::pair{png, "PNG"}, std::pair{bmp, "BMP"}, std::pair{tga, "TGA"}, std::pair{tga_rle, "TGA RLE"}}) {
    INFO(what);
    CHECK(strata::decode_image(file) == im);
    CHECK(shortest_decoding_prefix(file, im, 0) >= file.size() - 12);  // at most PNG's IEND chunk may go
  }
  const auto jpeg_pixels = strata::decode_image(jpeg);
  CHECK(shortest_decoding_prefix(jpeg, jpeg_pixels, 0) == jpeg.size());
}
