// Image files and folders: read_image / write_png round trips (8 and 16 bit, forced channel
// counts, planar views), image_folder_dataset's classes, labels, order and pixels, and that a
// file which is not an image or is cut short (PNG, JPEG, BMP) is a data_error naming the file
// and the sample index, never a silently grey or black image. Needs stb (link -lstb).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "support/errors.hpp"
#include "support/files.hpp"
#include "support/images.hpp"
#include "strata/data/image_folder.hpp"
#include "strata/image/image_io.hpp"

namespace fs = std::filesystem;
using strata::data::data_error;
using strata::data::image_folder_dataset;
using Catch::Matchers::Contains;

using strata::testing::bytes;
using strata::testing::pattern_image;
using strata::testing::temp_dir;
using strata::testing::write_raw;

namespace {

// Pixels that deflate and JPEG cannot shrink much, so cutting the file cuts the image data.
strata::image<std::uint8_t> noise_image(std::int64_t h, std::int64_t w, std::int64_t c, std::uint32_t seed = 7) {
  strata::image<std::uint8_t> im(h, w, c);
  const auto noise = strata::testing::lcg_bytes(std::size_t(im.values()), seed);
  std::copy(noise.begin(), noise.end(), im.data());
  return im;
}

void write_jpg(const fs::path& file, const strata::image<std::uint8_t>& im) {
  REQUIRE(stbi_write_jpg(file.c_str(), int(im.width()), int(im.height()), int(im.channels()), im.data(), 95) != 0);
}
void write_bmp(const fs::path& file, const strata::image<std::uint8_t>& im) {
  REQUIRE(stbi_write_bmp(file.c_str(), int(im.width()), int(im.height()), int(im.channels()), im.data()) != 0);
}

template <class F>
data_error caught_data_error(F&& f) {
  return strata::testing::caught<data_error>(std::forward<F>(f));
}

}  // namespace

static_assert(strata::data::Dataset<image_folder_dataset>);

TEST_CASE("write_png then read_image gives the same pixels, for 1 to 4 channels", "[image][io]") {
  temp_dir tmp;
  for (std::int64_t c = 1; c <= 4; ++c) {
    const auto im = pattern_image(5, 7, c, int(c));
    const auto file = tmp / ("c" + std::to_string(c) + ".png");
    strata::write_png(file, im);
    const auto back = strata::read_image(file);
    CHECK(back.channels() == c);
    CHECK(back == im);
  }
}

TEST_CASE("read_image converts to a forced channel count and to 16 bits", "[image][io]") {
  temp_dir tmp;
  auto rgb = pattern_image(3, 4, 3);
  rgb(1, 2, 0) = 255, rgb(1, 2, 1) = 255, rgb(1, 2, 2) = 255;
  rgb(0, 0, 0) = 0, rgb(0, 0, 1) = 0, rgb(0, 0, 2) = 0;
  strata::write_png(tmp / "rgb.png", rgb);

  const auto grey = strata::read_image(tmp / "rgb.png", 1);
  REQUIRE(grey.channels() == 1);
  CHECK(grey.height() == 3);
  CHECK(grey.width() == 4);
  CHECK(int(grey(1, 2)) == 255);
  CHECK(int(grey(0, 0)) == 0);

  const auto rgba = strata::read_image(tmp / "rgb.png", 4);
  REQUIRE(rgba.channels() == 4);
  CHECK(rgba(2, 3, 1) == rgb(2, 3, 1));
  CHECK(int(rgba(2, 3, 3)) == 255);  // opaque alpha added

  const auto wide = strata::read_image<std::uint16_t>(tmp / "rgb.png");
  REQUIRE(wide.channels() == 3);
  CHECK(int(wide(1, 2, 0)) == 65535);
  CHECK(int(wide(2, 1, 2)) == int(rgb(2, 1, 2)) * 257);

  CHECK_THROWS_WITH(strata::read_image(tmp / "rgb.png", 5), Contains("channels"));
}

TEST_CASE("write_png accepts a planar or strided view", "[image][io]") {
  temp_dir tmp;
  const auto im = pattern_image(4, 6, 3, 9);
  // The same pixels stored C×H×W.
  std::vector<std::uint8_t> planar(static_cast<std::size_t>(im.values()));
  for (std::int64_t c = 0; c < 3; ++c)
    for (std::int64_t y = 0; y < 4; ++y)
      for (std::int64_t x = 0; x < 6; ++x) planar[static_cast<std::size_t>((c * 4 + y) * 6 + x)] = im(y, x, c);
  strata::write_png(tmp / "planar.png", strata::image_view<const std::uint8_t>(planar.data(), 4, 6, 3, strata::pixel_layout::chw));
  CHECK(strata::read_image(tmp / "planar.png") == im);
  // A crop keeps the parent's row stride.
  strata::write_png(tmp / "crop.png", im.view().crop(1, 2, 2, 3));
  const auto crop = strata::read_image(tmp / "crop.png");
  REQUIRE(crop.width() == 3);
  CHECK(crop(1, 2, 1) == im(2, 4, 1));
}

TEST_CASE("the completeness checks accept whole JPEG and BMP files, with trailing bytes too", "[image][io]") {
  temp_dir tmp;
  const auto im = noise_image(9, 11, 3);
  write_jpg(tmp / "a.jpg", im);
  write_bmp(tmp / "a.bmp", im);
  CHECK(strata::read_image(tmp / "a.bmp") == im);
  const auto jpg = strata::read_image(tmp / "a.jpg");
  CHECK(jpg.width() == 11);
  // Some cameras and editors append data after the JPEG end-of-image marker.
  auto b = strata::testing::read_raw(tmp / "a.jpg");
  for (int k = 0; k < 40; ++k) b.push_back(static_cast<std::uint8_t>(k * 7));
  CHECK(strata::decode_image(b, 0, "trailing.jpg") == jpg);
  // The end-of-image marker gone: truncated, however the decoder would fare.
  auto cut = strata::testing::read_raw(tmp / "a.jpg");
  cut.resize(cut.size() - 2);
  CHECK_THROWS_WITH(strata::decode_image(cut, 0, "cut.jpg"), Contains("cut.jpg") && Contains("truncated JPEG"));
}

TEST_CASE("a TGA must hold the pixels its header promises, uncompressed or run-length encoded", "[image][io][fuzz]") {
  temp_dir tmp;
  // stb writes TGA run-length encoded by default; noise needs raw packets, a flat image runs.
  const auto noise = noise_image(7, 9, 3);
  const auto flat = [] {
    strata::image<std::uint8_t> f(40, 50, 1);
    std::fill(f.data(), f.data() + f.values(), std::uint8_t{93});
    return f;
  }();
  for (const int rle : {1, 0}) {
    stbi_write_tga_with_rle = rle;
    for (const auto* im : {&noise, &flat}) {
      INFO("rle " << rle << ", " << im->width() << " wide");
      REQUIRE(stbi_write_tga((tmp / "a.tga").c_str(), int(im->width()), int(im->height()), int(im->channels()), im->data()) != 0);
      auto tga = strata::testing::read_raw(tmp / "a.tga");
      CHECK(strata::decode_image(tga) == *im);
      // Whole files pass with bytes after them (TGA 2.0 appends a footer).
      tga.insert(tga.end(), 26, std::uint8_t{0});
      CHECK(strata::decode_image(tga) == *im);
    }
  }
  stbi_write_tga_with_rle = 1;

  // 3 × 2 pixels, 24-bit BGR, uncompressed, rows from the top (descriptor bit 5), by hand.
  std::vector<std::uint8_t> tga = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 2, 0, 24, 0x20};
  for (std::uint8_t i = 0; i < 6; ++i) tga.insert(tga.end(), {std::uint8_t(3 * i + 2), std::uint8_t(3 * i + 1), std::uint8_t(3 * i)});
  const auto im = strata::decode_image(tga, 0, "whole.tga");
  REQUIRE((im.height() == 2 && im.width() == 3 && im.channels() == 3));
  for (std::int64_t y = 0; y < 2; ++y)
    for (std::int64_t x = 0; x < 3; ++x)
      for (std::int64_t c = 0; c < 3; ++c) CHECK(im(y, x, c) == 3 * (3 * y + x) + c);
  // One byte short: stb would give the last pixel's red as 0; refused, naming what is missing.
  tga.pop_back();
  CHECK_THROWS_WITH(strata::decode_image(tga, 0, "cut.tga"),
                    Contains("cut.tga") && Contains("truncated TGA") && Contains("3×2 pixels of 24 bits in 36 bytes") &&
                        Contains("the file has 35"));
  // The header alone, promising 4096 × 4096 grey pixels run-length encoded. Before this check
  // stb decoded 16 megapixels of zeros from these 18 bytes.
  const std::vector<std::uint8_t> header = {0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 16, 8, 0};
  CHECK_THROWS_WITH(strata::decode_image(header, 0, "empty.tga"),
                    Contains("truncated TGA") && Contains("4096×4096") &&
                        Contains("run-length encoded; its packets run past the end of the file (18 bytes) at pixel 0"));
  // Packets whose counts cover the image in few bytes still need their pixels: a raw packet of
  // 128 pixels is 1 + 128 bytes, not 2.
  std::vector<std::uint8_t> packets = header;
  packets[12] = 0, packets[13] = 1, packets[14] = 1, packets[15] = 0;  // 256 × 1
  packets.insert(packets.end(), {0x7F, 1, 2, 3});                      // a raw packet of 128 pixels, 3 of them here
  packets.insert(packets.end(), {0xFF, 9});                            // a run of 128
  CHECK_THROWS_WITH(strata::decode_image(packets), Contains("run-length encoded; its packets run past the end") && Contains("at pixel 0"));
  packets.insert(packets.begin() + 22, 125, std::uint8_t{4});
  const auto packed = strata::decode_image(packets);
  CHECK((packed(0, 2, 0) == 3 && packed(0, 127, 0) == 4 && packed(0, 128, 0) == 9 && packed(0, 255, 0) == 9));
  // A colour-mapped header counts its palette too: 256 entries of 24 bits, 2 × 1 one-byte indices.
  // (The header's first palette index, bytes 3 and 4, is 0; stb skips that many bytes first.)
  std::vector<std::uint8_t> indexed = {0, 1, 1, 0, 0, 0, 1, 24, 0, 0, 0, 0, 2, 0, 1, 0, 8, 0};
  indexed.resize(18 + 768 + 1);
  CHECK_THROWS_WITH(strata::decode_image(indexed), Contains("in 788 bytes") && Contains("the file has 787"));
  indexed.push_back(0);
  CHECK(strata::decode_image(indexed).width() == 2);
  // fuzz/regressions/image holds such a header (2048 × 2048 grey, uncompressed, within that
  // target's limits) after the target's options byte, so every build's replay decodes it.
  std::ifstream in(fs::path(STRATA_SOURCE_TEST_DIR) / "../fuzz/regressions/image/tga-header-promises-4-megapixels", std::ios::binary);
  std::vector<std::uint8_t> finding((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(finding.size() > 1);
  CHECK_THROWS_WITH(strata::decode_image(std::span(finding).subspan(1)), Contains("truncated TGA") && Contains("2048×2048"));
}

TEST_CASE("read_image errors name the file and the reason", "[image][io]") {
  temp_dir tmp;
  try {
    strata::read_image(tmp / "absent.png");
    FAIL("expected image_file_error");
  } catch (const strata::image_file_error& e) {
    CHECK(e.file() == tmp / "absent.png");
    CHECK_THAT(e.what(), Contains((tmp / "absent.png").string()));
    CHECK_THAT(e.what(), Contains("No such file"));
  }
  write_raw(tmp / "text.png", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'});
  CHECK_THROWS_WITH(strata::read_image(tmp / "text.png"),
                    Contains((tmp / "text.png").string()) && Contains("cannot decode") && Contains("stb_image"));
}

TEST_CASE("images past the limits are refused from their header, before decoding", "[image][io][limits]") {
  temp_dir tmp;
  strata::write_png(tmp / "small.png", pattern_image(48, 64, 3));
  CHECK(strata::read_image(tmp / "small.png").width() == 64);
  CHECK_THROWS_WITH(strata::read_image(tmp / "small.png", 0, {.max_width = 32}),
                    Contains((tmp / "small.png").string()) && Contains("64×48") && Contains("past the limits") &&
                        Contains("not decoded"));
  CHECK_THROWS_WITH(strata::read_image(tmp / "small.png", 0, {.max_pixels = 64 * 48 - 1}), Contains("past the limits"));
  CHECK(strata::read_image(tmp / "small.png", 0, {.max_width = 64, .max_height = 48, .max_pixels = 64 * 48}).height() == 48);

  // A header that promises 1,000,000 × 48 pixels (stb itself would try: its own bound is 2^24 a
  // side) is refused by the default limits without decoding a row.
  std::ifstream in(tmp / "small.png", std::ios::binary);
  std::vector<std::uint8_t> png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(png.size() > 24);
  const std::uint32_t wide = 1000000;  // IHDR's width: bytes 16–19, big-endian
  for (int i = 0; i < 4; ++i) png[std::size_t(16 + i)] = std::uint8_t(wide >> (24 - 8 * i));
  CHECK_THROWS_WITH(strata::decode_image(png, 0, "forged.png"),
                    Contains("forged.png") && Contains("1000000×48") && Contains("image_limits raises them"));

  // An image folder passes its limits on to every file it decodes.
  const fs::path root = tmp / "folder";
  fs::create_directories(root / "a");
  strata::write_png(root / "a/x.png", pattern_image(48, 64, 1));
  CHECK(image_folder_dataset(root).get(0).image.width() == 64);
  CHECK_THROWS_WITH(image_folder_dataset(root, {.limits = {.max_pixels = 100}}).get(0), Contains("past the limits"));
}

TEST_CASE("fuzzing's findings: an image without pixels, corrupt JPEG Huffman tables and data", "[image][io][fuzz]") {
  // A PNM header of 0 × 3 pixels: stb "decodes" it to no pixels (fuzz/regressions/image).
  const std::string empty_pnm = "P6\n0 3\n255\n";
  CHECK_THROWS_WITH(strata::decode_image(std::span(reinterpret_cast<const std::uint8_t*>(empty_pnm.data()), empty_pnm.size())),
                    Contains("0×3") && Contains("without pixels"));
  // A whole JPEG whose first Huffman table's counts add up to 16 × 255 codes: stb 2.27 wrote
  // past its table (fuzz/regressions/image_folder); libjpeg, which decodes JPEGs now, refuses it.
  temp_dir tmp;
  write_jpg(tmp / "good.jpg", pattern_image(8, 8, 3));
  std::ifstream in(tmp / "good.jpg", std::ios::binary);
  std::vector<std::uint8_t> jpg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(strata::decode_image(jpg).width() == 8);
  std::size_t dht = 0;
  for (std::size_t i = 2; i + 1 < jpg.size() && !dht; ++i)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC4) dht = i;
  REQUIRE(dht > 0);
  for (std::size_t k = 0; k < 16; ++k) jpg[dht + 5 + k] = 0xFF;  // after FF C4, the length and the table's class/id byte
  CHECK_THROWS_WITH(strata::decode_image(jpg, 0, "huffman.jpg"),
                    Contains("huffman.jpg") && Contains("Huffman table") && Contains("(libjpeg)"));

  // The inputs the fuzzer found, as committed (the image target's first byte is its options):
  // under the sanitizers these crashed; here each must be refused for its reason.
  const auto finding = [](const char* name) {
    std::ifstream f(fs::path(STRATA_SOURCE_TEST_DIR) / "../fuzz/regressions/image" / name, std::ios::binary);
    std::vector<std::uint8_t> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    REQUIRE(b.size() > 1);
    return std::vector<std::uint8_t>(b.begin() + 1, b.end());
  };
  CHECK_THROWS_WITH(strata::decode_image(finding("empty-pnm-memcpy-null")), Contains("without pixels"));
  // A table cut by the end of the file: stb reads the missing counts as zeros, and still more than 256.
  CHECK_THROWS_WITH(strata::decode_image(finding("jpeg-dht-cut-by-end-of-file")), Contains("Huffman table"));
  // A BMP header whose rows × row bytes pass 2^63: the completeness check must not overflow.
  CHECK_THROWS_WITH(strata::decode_image(finding("bmp-size-overflow")), Contains("BMP"));
  // A PNM header number past 2^31 - 1, which stb 2.27 overflows an int on.
  CHECK_THROWS_WITH(strata::decode_image(finding("pnm-number-overflow")), Contains("PNM header"));
  // A PNG chunk claiming 2 GB in a small file: stb 2.27 would allocate it before reading.
  CHECK_THROWS_WITH(strata::decode_image(finding("png-chunk-claims-2gb")), Contains("truncated PNG") && Contains("IDAT"));
  // A 16-bit grey PNM asked for as RGB (the input's first byte: 3 channels): stb 2.27 would read
  // past its buffer. Asked for with its own channel count it meets the next check: it holds 49 of
  // the 928 pixel bytes its header promises, and stb handed back the rest uninitialised.
  const auto pnm16 = finding("pnm16-channel-conversion-overflow");
  CHECK_THROWS_WITH(strata::decode_image(pnm16, 3), Contains("16-bit PNM") && Contains("channels 0 or 1"));
  CHECK_THROWS_WITH(strata::decode_image<std::uint16_t>(std::span<const std::uint8_t>(pnm16), 1),
                    Contains("truncated PNM: its header promises 8×58 pixels of 1 channel at 16 bits") &&
                        Contains("the file has 49 bytes after the header"));
  // stb also took a file for a JPEG when fill bytes (FF) come before its start marker; libjpeg does not.
  CHECK_THROWS_WITH(strata::decode_image(finding("jpeg-fill-bytes-before-soi-dht")), Contains("Not a JPEG file"));
  // Entropy-coded data that made stb 2.27's Huffman decoder read outside its table and past its
  // allocation, unscreenable while stb decoded JPEGs: libjpeg reports the corruption.
  for (const char* name : {"stb-jpeg-huffman-symbol-out-of-bounds", "stb-jpeg-huffman-symbol-read-past-allocation"}) {
    INFO(name);
    CHECK_THROWS_WITH(strata::decode_image(finding(name)), Contains("(libjpeg)"));
  }
}

TEST_CASE("image_folder_dataset: sorted classes, labels by folder, files sorted, decoded on get", "[data][image_folder]") {
  temp_dir tmp;
  const auto root = tmp / "set";
  for (const char* d : {"dog", "bird", "cat", "cat/more", ".cache", "bird/.thumbs"}) fs::create_directories(root / d);
  const auto b0 = pattern_image(2, 3, 3, 1), c0 = pattern_image(4, 4, 1, 2), c1 = pattern_image(3, 2, 3, 3),
             c2 = pattern_image(5, 1, 4, 4), d0 = pattern_image(6, 5, 3, 5);
  strata::write_png(root / "bird/b0.png", b0);
  strata::write_png(root / "cat/a.PNG", c0);      // extensions in any case
  write_bmp(root / "cat/b.Bmp", c1);              // BMP is lossless: exact pixels too
  strata::write_png(root / "cat/more/c.png", c2); // nested folders belong to their class
  write_jpg(root / "dog/d0.JPeG", d0);
  write_raw(root / "dog/notes.txt", {'x'});       // not an image extension: ignored
  strata::write_png(root / "bird/.thumbs/t.png", b0);  // hidden: ignored
  strata::write_png(root / ".cache/x.png", b0);        // hidden folder: not a class
  strata::write_png(root / "stray.png", b0);           // not in a class folder: ignored

  const image_folder_dataset d(root);
  REQUIRE(d.classes() == 3);
  CHECK(d.class_names() == std::vector<std::string>{"bird", "cat", "dog"});
  REQUIRE(d.size() == 5);
  CHECK(d.file(0) == root / "bird/b0.png");
  CHECK(d.file(1) == root / "cat/a.PNG");
  CHECK(d.file(2) == root / "cat/b.Bmp");
  CHECK(d.file(3) == root / "cat/more/c.png");
  CHECK(d.file(4) == root / "dog/d0.JPeG");
  const std::vector<int> labels{0, 1, 1, 1, 2};
  for (int i = 0; i < 5; ++i) CHECK(d.label(i) == labels[static_cast<std::size_t>(i)]);

  CHECK(d.get(0).image == b0);
  CHECK(d.get(1).image == c0);
  CHECK(d.get(2).image == c1);
  CHECK(d.get(3).image == c2);
  CHECK(d.get(3).label == 1);
  const auto dog = d.get(4);
  CHECK(dog.label == 2);
  CHECK(dog.image.height() == 6);
  CHECK(dog.image.width() == 5);
  CHECK(dog.image.channels() == 3);

  const image_folder_dataset rgb(root, {.channels = 3});
  CHECK(rgb.get(1).image.channels() == 3);  // grey made RGB
  CHECK(rgb.get(1).image(2, 3, 1) == c0(2, 3));
  CHECK(rgb.get(3).image.channels() == 3);  // alpha dropped
  CHECK(rgb.get(3).image(4, 0, 2) == c2(4, 0, 2));

  CHECK_THROWS_AS(d.get(5), strata::index_error);
  CHECK_THROWS_WITH(d.get(5), Contains("index 5") && Contains("5 samples"));
}

TEST_CASE("a file that is not an image, or is truncated, is a data_error naming it and its index", "[data][image_folder]") {
  temp_dir tmp;
  const auto root = tmp / "set";
  fs::create_directories(root / "a");
  fs::create_directories(root / "b");
  const auto noise = noise_image(24, 24, 3);
  strata::write_png(root / "a/0_good.png", noise);
  write_raw(root / "a/1_random.png", [] {
    bytes b(300);
    std::uint32_t s = 1;
    for (auto& x : b) x = static_cast<std::uint8_t>((s = s * 1103515245u + 12345u) >> 24);
    return b;
  }());
  strata::write_png(root / "a/2_cut.png", noise);
  write_jpg(root / "b/3_cut.jpg", noise);
  write_bmp(root / "b/4_cut.bmp", noise);
  write_raw(root / "b/5_empty.png", {});
  for (const char* name : {"a/2_cut.png", "b/3_cut.jpg", "b/4_cut.bmp"}) {
    auto b = strata::testing::read_raw(root / name);
    REQUIRE(b.size() > 600);
    b.resize(b.size() * 6 / 10);
    write_raw(root / name, b);
  }

  const image_folder_dataset d(root);
  REQUIRE(d.size() == 6);
  CHECK(d.get(0).image == noise);
  for (std::int64_t i = 1; i < 6; ++i) {
    INFO("sample " << i << ": " << d.file(i));
    const auto e = caught_data_error([&] { d.get(i); });
    CHECK(e.record() == i);
    CHECK(e.file() == d.file(i));
    CHECK_THAT(e.what(), Contains(d.file(i).string()));
    CHECK_THAT(e.what(), Contains("record " + std::to_string(i)));
  }
  CHECK_THAT(caught_data_error([&] { d.get(3); }).what(), Contains("truncated JPEG"));
  CHECK_THAT(caught_data_error([&] { d.get(4); }).what(), Contains("truncated BMP"));
  CHECK_THAT(caught_data_error([&] { d.get(5); }).what(), Contains("empty"));
}

TEST_CASE("an empty root, a root without class folders or a class without images is an error", "[data][image_folder]") {
  temp_dir tmp;
  const auto root = tmp / "set";
  fs::create_directories(root);
  const auto empty = caught_data_error([&] { image_folder_dataset{root}; });
  CHECK_THAT(empty.what(), Contains(root.string()));
  CHECK_THAT(empty.what(), Contains("no class folders"));

  strata::write_png(root / "loose.png", pattern_image(2, 2, 1));  // images, but not in class folders
  CHECK_THROWS_WITH(image_folder_dataset{root}, Contains("no class folders"));

  fs::create_directories(root / "full");
  fs::create_directories(root / "hollow");
  strata::write_png(root / "full/x.png", pattern_image(2, 2, 1));
  write_raw(root / "hollow/readme.txt", {'x'});
  const auto hollow = caught_data_error([&] { image_folder_dataset{root}; });
  CHECK(hollow.file() == root / "hollow");
  CHECK_THAT(hollow.what(), Contains("no images"));
  CHECK_THAT(hollow.what(), Contains("'hollow'"));

  const auto missing = caught_data_error([&] { image_folder_dataset{tmp / "absent"}; });
  CHECK_THAT(missing.what(), Contains((tmp / "absent").string()));
  CHECK_THAT(missing.what(), Contains("not found"));
  CHECK_THROWS_WITH(image_folder_dataset(root / "full/x.png"), Contains("not a directory"));
}
