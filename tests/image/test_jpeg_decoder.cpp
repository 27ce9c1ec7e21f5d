// decode_jpeg against Pillow: the pixels Pillow 9.4 (libjpeg-turbo 2.1.5) decodes from JPEGs it
// wrote (4:2:0, 4:2:2, 4:4:4, progressive, grey, CMYK; tests/image/make_jpeg_fixtures.py) must
// come out bit for bit, as must the channel conversions; decode_image and read_image send JPEGs
// here; the limits are checked from the header; corrupt files, fill bytes before the start
// marker and a progressive file of too many scans are errors naming the file and the reason.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "strata/image/image_io.hpp"
#include "strata/image/jpeg_decoder.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

const fs::path fixtures = fs::path(STRATA_SOURCE_TEST_DIR) / "image/jpeg";

std::vector<std::uint8_t> read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::uint8_t> pixels_of(const strata::image<std::uint8_t>& im) {
  return {im.data(), im.data() + im.values()};
}

// Where the marker FF <m> first appears after the start of the file (0 when it does not).
std::size_t find_marker(const std::vector<std::uint8_t>& b, std::uint8_t m) {
  for (std::size_t i = 2; i + 1 < b.size(); ++i)
    if (b[i] == 0xFF && b[i + 1] == m) return i;
  return 0;
}

}  // namespace

#if STRATA_HAS_LIBJPEG

TEST_CASE("decode_jpeg gives Pillow's pixels bit for bit", "[image][jpeg]") {
  struct fixture {
    const char* stem;
    const char* mode;  // the Pillow mode of the reference: "rgb" 3 channels, "l" 1
    std::int64_t channels;
  };
  const fixture cases[] = {{"rgb420", "rgb", 3}, {"rgb420", "l", 1},   {"rgb444", "rgb", 3}, {"rgb422", "rgb", 3},
                           {"progressive", "rgb", 3}, {"grey", "l", 1}, {"grey", "rgb", 3},   {"cmyk", "rgb", 3},
                           {"cmyk", "l", 1}};
  for (const auto& f : cases) {
    INFO(f.stem << " as " << f.mode);
    const auto jpg = read_bytes(fixtures / (std::string(f.stem) + ".jpg"));
    const auto expected = read_bytes(fixtures / (std::string(f.stem) + "." + f.mode + ".raw"));
    const auto im = strata::decode_jpeg(jpg, f.channels);
    CHECK(im.height() == 29);
    CHECK(im.width() == 37);
    CHECK(im.channels() == f.channels);
    CHECK(pixels_of(im) == expected);
    // decode_image and read_image hand a JPEG to decode_jpeg.
    CHECK(strata::decode_image(jpg, f.channels) == im);
    CHECK(strata::read_image(fixtures / (std::string(f.stem) + ".jpg"), f.channels) == im);
  }
}

TEST_CASE("decode_jpeg: channels as stored, added alpha, 16 bits", "[image][jpeg]") {
  const auto colour = read_bytes(fixtures / "rgb420.jpg");
  const auto grey = read_bytes(fixtures / "grey.jpg");
  const auto cmyk = read_bytes(fixtures / "cmyk.jpg");
  CHECK(strata::decode_jpeg(colour).channels() == 3);
  CHECK(strata::decode_jpeg(grey).channels() == 1);
  CHECK(strata::decode_jpeg(cmyk).channels() == 3);  // converted to RGB, as Pillow's convert("RGB")

  for (const auto* file : {&colour, &grey, &cmyk}) {
    const auto rgb = strata::decode_jpeg(*file, 3);
    const auto y = strata::decode_jpeg(*file, 1);
    const auto rgba = strata::decode_jpeg(*file, 4);
    const auto ya = strata::decode_jpeg(*file, 2);
    const auto rgb16 = strata::decode_jpeg<std::uint16_t>(*file, 3);
    REQUIRE(rgba.channels() == 4);
    REQUIRE(ya.channels() == 2);
    for (std::int64_t r = 0; r < rgb.height(); ++r)
      for (std::int64_t c = 0; c < rgb.width(); ++c) {
        for (std::int64_t k = 0; k < 3; ++k) {
          REQUIRE(rgba(r, c, k) == rgb(r, c, k));
          REQUIRE(rgb16(r, c, k) == 257 * rgb(r, c, k));
        }
        REQUIRE(rgba(r, c, 3) == 255);
        REQUIRE(ya(r, c, 0) == y(r, c, 0));
        REQUIRE(ya(r, c, 1) == 255);
      }
  }
  CHECK_THROWS_WITH(strata::decode_jpeg(colour, 5), Contains("channels must be 0") && Contains("got 5"));
}

TEST_CASE("decode_jpeg checks the limits from the header, before decoding", "[image][jpeg][limits]") {
  const auto jpg = read_bytes(fixtures / "rgb420.jpg");
  CHECK_THROWS_WITH(strata::decode_jpeg(jpg, 0, "small.jpg", {.max_pixels = 37 * 29 - 1}),
                    Contains("small.jpg") && Contains("37×29") && Contains("past the limits"));
  CHECK(strata::decode_jpeg(jpg, 0, "small.jpg", {.max_pixels = 37 * 29}).width() == 37);
  CHECK_THROWS_WITH(strata::decode_jpeg(jpg, 0, "narrow.jpg", {.max_width = 36}), Contains("past the limits"));
  // A start-of-frame forged to say 65000 × 60000 pixels in a 1 KB file: refused from the header
  // (decoding would allocate 11 GB for the pixels), and by decode_image too.
  auto forged = jpg;
  const std::size_t sof = find_marker(forged, 0xC0);
  REQUIRE(sof > 0);
  forged[sof + 5] = 60000 >> 8, forged[sof + 6] = 60000 & 0xFF;  // height
  forged[sof + 7] = 65000 >> 8, forged[sof + 8] = 65000 & 0xFF;  // width
  CHECK_THROWS_WITH(strata::decode_jpeg(forged, 0, "forged.jpg"), Contains("65000×60000") && Contains("past the limits"));
  CHECK_THROWS_WITH(strata::decode_image(forged, 0, "forged.jpg"), Contains("65000×60000") && Contains("past the limits"));
}

TEST_CASE("decode_jpeg: corrupt files are errors naming the file and libjpeg's reason", "[image][jpeg][fuzz]") {
  const auto jpg = read_bytes(fixtures / "rgb420.jpg");
  // A Huffman table whose counts add up to 16 × 255 codes (stb 2.27 wrote past its table on it).
  auto huffman = jpg;
  const std::size_t dht = find_marker(huffman, 0xC4);
  REQUIRE(dht > 0);
  for (std::size_t k = 0; k < 16; ++k) huffman[dht + 5 + k] = 0xFF;  // after FF C4, the length and the class/id
  CHECK_THROWS_WITH(strata::decode_jpeg(huffman, 0, "huffman.jpg"),
                    Contains("huffman.jpg") && Contains("cannot decode JPEG") && Contains("Huffman table"));
  // Fill bytes before the start marker, which stb took for a JPEG.
  std::vector<std::uint8_t> filled{0xFF, 0xFF};
  filled.insert(filled.end(), jpg.begin() + 1, jpg.end());
  REQUIRE(strata::detail::looks_like_jpeg(filled));
  CHECK_THROWS_WITH(strata::decode_image(filled, 0, "filled.jpg"), Contains("filled.jpg") && Contains("Not a JPEG file"));
  // The start marker and then noise.
  std::vector<std::uint8_t> noise{0xFF, 0xD8, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0};
  CHECK_THROWS_WITH(strata::decode_jpeg(noise, 0, "noise.jpg"), Contains("noise.jpg") && Contains("(libjpeg)"));
  CHECK_THROWS_WITH(strata::decode_jpeg(std::span<const std::uint8_t>(), 0, "empty.jpg"), Contains("empty.jpg"));
}

TEST_CASE("decode_jpeg refuses a progressive JPEG of more than 500 scans", "[image][jpeg][limits]") {
  // The last scan of progressive.jpg, repeated: each one a pass over the whole image for libjpeg.
  const auto jpg = read_bytes(fixtures / "progressive.jpg");
  std::size_t last_sos = 0;
  for (std::size_t i = 2; i + 1 < jpg.size(); ++i)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xDA) last_sos = i;
  const std::size_t eoi = jpg.size() - 2;
  REQUIRE(last_sos > 0);
  REQUIRE(jpg[eoi] == 0xFF);
  REQUIRE(jpg[eoi + 1] == 0xD9);
  const std::vector<std::uint8_t> scan(jpg.begin() + std::ptrdiff_t(last_sos), jpg.begin() + std::ptrdiff_t(eoi));
  std::vector<std::uint8_t> many(jpg.begin(), jpg.begin() + std::ptrdiff_t(eoi));
  std::vector<std::uint8_t> some = many;
  for (int k = 0; k < 600; ++k) many.insert(many.end(), scan.begin(), scan.end());
  for (int k = 0; k < 100; ++k) some.insert(some.end(), scan.begin(), scan.end());
  for (auto* b : {&many, &some}) b->insert(b->end(), {0xFF, 0xD9});
  CHECK_THROWS_WITH(strata::decode_jpeg(many, 0, "scans.jpg"), Contains("scans.jpg") && Contains("more than 500 scans"));
  // Repeating a refinement scan is corrupt but decodable (libjpeg warns); under the limit it decodes.
  CHECK(strata::decode_jpeg(some).width() == 37);
}

#else

TEST_CASE("without libjpeg a JPEG is an error saying what to install", "[image][jpeg]") {
  CHECK_THROWS_WITH(strata::decode_jpeg(read_bytes(fixtures / "rgb420.jpg"), 0, "a.jpg"),
                    Contains("a.jpg") && Contains("libjpeg-dev"));
}

#endif
