// IDX reading: values, shapes and scaling of plain and gzip files, and that every kind of
// malformed file (bad magic, unknown type, short or long payload, a gzip stream cut short,
// mismatched or out-of-range labels, missing files) is an error naming the file.
#include <catch2/catch.hpp>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "support/errors.hpp"
#include "support/files.hpp"
#include "support/skip.hpp"
#include "strata/data/idx.hpp"

namespace fs = std::filesystem;
using strata::data::data_error;
using Catch::Matchers::Contains;

using strata::testing::bytes;
using strata::testing::temp_dir;
using strata::testing::write_raw;
using strata::testing::lcg_bytes;
using strata::testing::read_raw;

namespace {

// An IDX file's bytes: magic 00 00 type rank, big-endian dims, then the payload as given.
bytes idx_bytes(std::uint8_t type, const std::vector<std::uint32_t>& dims, const bytes& payload) {
  bytes b{0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (const auto d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<std::uint8_t>(d >> shift));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

void write_gz(const fs::path& file, const bytes& b, int level = 6) {
  gzFile gz = gzopen(file.c_str(), ("wb" + std::to_string(level)).c_str());
  REQUIRE(gz != nullptr);
  if (!b.empty()) REQUIRE(gzwrite(gz, b.data(), static_cast<unsigned>(b.size())) == static_cast<int>(b.size()));
  REQUIRE(gzclose(gz) == Z_OK);
}

// The message of the data_error that `f` throws (fails the test if it throws nothing or another type).
template <class F>
std::string data_error_message(F&& f) {
  return strata::testing::message_of<data_error>(std::forward<F>(f));
}

}  // namespace

TEST_CASE("read_idx returns the header's type, dims and the payload of a plain file", "[data][idx]") {
  temp_dir tmp;
  const bytes payload = lcg_bytes(2 * 3 * 4);
  write_raw(tmp / "a-idx3-ubyte", idx_bytes(0x08, {2, 3, 4}, payload));
  const auto a = strata::data::read_idx(tmp / "a-idx3-ubyte");
  CHECK(a.type_code == strata::data::idx_ubyte);
  CHECK(a.dims == std::vector<std::int64_t>{2, 3, 4});
  CHECK(a.elements() == 24);
  CHECK(a.element_size() == 1);
  CHECK(a.bytes == payload);
}

TEST_CASE("a gzip file reads exactly like the plain file, whatever its name", "[data][idx]") {
  temp_dir tmp;
  const bytes file = idx_bytes(0x08, {5, 7, 3}, lcg_bytes(5 * 7 * 3, 99));
  write_raw(tmp / "plain", file);
  write_gz(tmp / "plain.gz", file);
  write_gz(tmp / "compressed-but-no-suffix", file);  // detection is by magic bytes, not by name
  const auto raw = strata::data::read_idx(tmp / "plain");
  for (const char* name : {"plain.gz", "compressed-but-no-suffix"}) {
    const auto gz = strata::data::read_idx(tmp / name);
    CHECK(gz.type_code == raw.type_code);
    CHECK(gz.dims == raw.dims);
    CHECK(gz.bytes == raw.bytes);
  }
}

TEST_CASE("multi-byte elements come back in host byte order", "[data][idx]") {
  temp_dir tmp;
  // int32 values 1, -2 and 0x01020304, big-endian in the file.
  write_raw(tmp / "i32", idx_bytes(0x0C, {3}, {0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4}));
  const auto a = strata::data::read_idx(tmp / "i32");
  REQUIRE(a.bytes.size() == 12);
  std::int32_t v[3];
  std::memcpy(v, a.bytes.data(), sizeof v);
  CHECK(v[0] == 1);
  CHECK(v[1] == -2);
  CHECK(v[2] == 0x01020304);

  // float32 1.5f = 0x3fc00000, int16 -3 = 0xfffd.
  write_gz(tmp / "f32.gz", idx_bytes(0x0D, {1, 1}, {0x3f, 0xc0, 0x00, 0x00}));
  const auto f = strata::data::read_idx(tmp / "f32.gz");
  float x;
  std::memcpy(&x, f.bytes.data(), 4);
  CHECK(x == 1.5f);
  write_raw(tmp / "i16", idx_bytes(0x0B, {1}, {0xff, 0xfd}));
  const auto s = strata::data::read_idx(tmp / "i16");
  std::int16_t h;
  std::memcpy(&h, s.bytes.data(), 2);
  CHECK(h == -3);

  // float64: the 8-byte swap. -2.5 = 0xc004000000000000, and a value with all 8 bytes distinct
  // (0x0102030405060708 as bits) so a 4-byte or half swap shows.
  write_gz(tmp / "f64.gz", idx_bytes(0x0E, {2}, {0xc0, 0x04, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}));
  const auto d = strata::data::read_idx(tmp / "f64.gz");
  CHECK(d.type_code == strata::data::idx_float64);
  CHECK(d.element_size() == 8);
  REQUIRE(d.bytes.size() == 16);
  double dv[2];
  std::memcpy(dv, d.bytes.data(), sizeof dv);
  CHECK(dv[0] == -2.5);
  CHECK(std::bit_cast<std::uint64_t>(dv[1]) == 0x0102030405060708ull);

  // signed bytes: one byte each, no swap; 0xff is -1 and 0x80 is -128.
  write_raw(tmp / "s8", idx_bytes(0x09, {2, 2}, {0x7f, 0xff, 0x80, 0x00}));
  const auto sb = strata::data::read_idx(tmp / "s8");
  CHECK(sb.type_code == strata::data::idx_sbyte);
  CHECK(sb.element_size() == 1);
  CHECK(sb.dims == std::vector<std::int64_t>{2, 2});
  REQUIRE(sb.bytes.size() == 4);
  std::int8_t sv[4];
  std::memcpy(sv, sb.bytes.data(), 4);
  CHECK(sv[0] == 127);
  CHECK(sv[1] == -1);
  CHECK(sv[2] == -128);
  CHECK(sv[3] == 0);
  // A float64 payload one byte short is an error, like the other types.
  write_raw(tmp / "f64short", idx_bytes(0x0E, {1}, {0, 0, 0, 0, 0, 0, 0}));
  CHECK_THROWS_AS(strata::data::read_idx(tmp / "f64short"), data_error);
}

TEST_CASE("load_idx_images gives N x 1 x H x W images scaled by 1/255 and int32 labels", "[data][idx]") {
  temp_dir tmp;
  // 3 images of 2 x 4 pixels, covering 0 and 255 and values in between.
  bytes pixels(3 * 2 * 4);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>(i * 11);
  pixels[5] = 255;
  write_raw(tmp / "img", idx_bytes(0x08, {3, 2, 4}, pixels));
  write_gz(tmp / "lab.gz", idx_bytes(0x08, {3}, {9, 0, 4}));

  const auto set = strata::data::load_idx_images(tmp / "img", tmp / "lab.gz");
  CHECK(set.images.shape() == strata::Shape<4>{3, 1, 2, 4});
  CHECK(set.labels.shape() == strata::Shape<1>{3});
  CHECK(set.classes == 10);
  CHECK(set.size() == 3);
  CHECK(set.labels(0) == 9);
  CHECK(set.labels(1) == 0);
  CHECK(set.labels(2) == 4);
  // Row-major N, C, H, W: pixel (n, 0, y, x) is byte n*8 + y*4 + x.
  for (std::int64_t n = 0; n < 3; ++n)
    for (std::int64_t y = 0; y < 2; ++y)
      for (std::int64_t x = 0; x < 4; ++x)
        CHECK(set.images(n, 0, y, x) == static_cast<float>(pixels[static_cast<std::size_t>(n * 8 + y * 4 + x)]) / 255.0f);
  CHECK(set.images(0, 0, 0, 0) == 0.0f);
  CHECK(set.images(0, 0, 1, 1) == 1.0f);  // byte 5 = 255
}

TEST_CASE("the scaling is torchvision's x / 255.0f for every byte value", "[data][idx]") {
  temp_dir tmp;
  bytes all(256);
  for (int i = 0; i < 256; ++i) all[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
  write_raw(tmp / "img", idx_bytes(0x08, {1, 16, 16}, all));
  write_raw(tmp / "lab", idx_bytes(0x08, {1}, {0}));
  const auto set = strata::data::load_idx_images(tmp / "img", tmp / "lab");
  for (int i = 0; i < 256; ++i) {
    const float expected = static_cast<float>(i) / 255.0f;
    CHECK(std::bit_cast<std::uint32_t>(set.images.data()[i]) == std::bit_cast<std::uint32_t>(expected));
  }
}

TEST_CASE("a corrupted magic number is reported with the file name and the bytes found", "[data][idx]") {
  temp_dir tmp;
  bytes file = idx_bytes(0x08, {2}, {1, 2});
  file[1] = 0x03;
  write_raw(tmp / "bad-magic", file);
  write_gz(tmp / "bad-magic.gz", file);
  for (const char* name : {"bad-magic", "bad-magic.gz"}) {
    const auto msg = data_error_message([&] { strata::data::read_idx(tmp / name); });
    CHECK_THAT(msg, Contains((tmp / name).string()));
    CHECK_THAT(msg, Contains("not an IDX file"));
    CHECK_THAT(msg, Contains("0x00 0x03 0x08 0x01"));
  }
}

TEST_CASE("an unknown type code is reported", "[data][idx]") {
  temp_dir tmp;
  write_raw(tmp / "bad-type", idx_bytes(0x0A, {2}, {1, 2}));
  const auto msg = data_error_message([&] { strata::data::read_idx(tmp / "bad-type"); });
  CHECK_THAT(msg, Contains((tmp / "bad-type").string()));
  CHECK_THAT(msg, Contains("unknown IDX element type 0x0a"));
}

TEST_CASE("images or labels of another type or rank than MNIST's are rejected by name", "[data][idx]") {
  temp_dir tmp;
  write_raw(tmp / "img", idx_bytes(0x08, {2, 2, 2}, lcg_bytes(8)));
  write_raw(tmp / "lab", idx_bytes(0x08, {2}, {1, 2}));
  write_raw(tmp / "img-float", idx_bytes(0x0D, {1, 1, 1}, {0x3f, 0x80, 0, 0}));
  write_raw(tmp / "img-rank2", idx_bytes(0x08, {2, 4}, lcg_bytes(8)));
  write_raw(tmp / "lab-rank2", idx_bytes(0x08, {2, 1}, {1, 2}));
  write_raw(tmp / "lab-int32", idx_bytes(0x0C, {1}, {0, 0, 0, 1}));

  auto msg = data_error_message([&] { strata::data::load_idx_images(tmp / "img-float", tmp / "lab"); });
  CHECK_THAT(msg, Contains((tmp / "img-float").string()));
  CHECK_THAT(msg, Contains("float32"));
  msg = data_error_message([&] { strata::data::load_idx_images(tmp / "img-rank2", tmp / "lab"); });
  CHECK_THAT(msg, Contains((tmp / "img-rank2").string()));
  CHECK_THAT(msg, Contains("rank 3"));
  msg = data_error_message([&] { strata::data::load_idx_images(tmp / "img", tmp / "lab-rank2"); });
  CHECK_THAT(msg, Contains((tmp / "lab-rank2").string()));
  CHECK_THAT(msg, Contains("rank 1"));
  msg = data_error_message([&] { strata::data::load_idx_images(tmp / "img", tmp / "lab-int32"); });
  CHECK_THAT(msg, Contains((tmp / "lab-int32").string()));
  CHECK_THAT(msg, Contains("int32"));
}

TEST_CASE("a zero dimension or rank 0 is reported", "[data][idx]") {
  temp_dir tmp;
  write_raw(tmp / "zero-dim", idx_bytes(0x08, {3, 0, 2}, {}));
  auto msg = data_error_message([&] { strata::data::read_idx(tmp / "zero-dim"); });
  CHECK_THAT(msg, Contains((tmp / "zero-dim").string()));
  CHECK_THAT(msg, Contains("dimension 1 of 3 is 0"));
  write_raw(tmp / "rank0", idx_bytes(0x08, {}, {}));
  msg = data_error_message([&] { strata::data::read_idx(tmp / "rank0"); });
  CHECK_THAT(msg, Contains("rank 0"));
}

TEST_CASE("a payload shorter than the header promises is reported with both sizes", "[data][idx]") {
  temp_dir tmp;
  // Header says 4 x 5 x 5 = 100 bytes; only 90 follow.
  const bytes file = idx_bytes(0x08, {4, 5, 5}, lcg_bytes(90));
  write_raw(tmp / "short", file);
  write_gz(tmp / "short.gz", file);  // a complete gzip stream of a short IDX file
  for (const char* name : {"short", "short.gz"}) {
    const auto msg = data_error_message([&] { strata::data::read_idx(tmp / name); });
    CHECK_THAT(msg, Contains((tmp / name).string()));
    CHECK_THAT(msg, Contains("truncated: header promises 100 bytes of data"));
    CHECK_THAT(msg, Contains("found 90"));
  }
  // A big-dims header over a small file must not allocate what the header promises.
  write_raw(tmp / "huge-promise", idx_bytes(0x08, {60000, 28, 28000}, lcg_bytes(10)));
  const auto msg = data_error_message([&] { strata::data::read_idx(tmp / "huge-promise"); });
  CHECK_THAT(msg, Contains("header promises 47040000000 bytes of data"));
  CHECK_THAT(msg, Contains("found 10"));
}

TEST_CASE("a file that ends inside the header is reported", "[data][idx]") {
  temp_dir tmp;
  write_raw(tmp / "empty", {});
  write_raw(tmp / "half-magic", {0, 0});
  write_raw(tmp / "half-dims", {0, 0, 8, 3, 0, 0, 0, 2, 0, 0});
  write_gz(tmp / "half-dims.gz", {0, 0, 8, 3, 0, 0, 0, 2, 0, 0});
  for (const char* name : {"empty", "half-magic", "half-dims", "half-dims.gz"}) {
    const auto msg = data_error_message([&] { strata::data::read_idx(tmp / name); });
    CHECK_THAT(msg, Contains((tmp / name).string()));
    CHECK_THAT(msg, Contains("truncated"));
    CHECK_THAT(msg, Contains("header"));
  }
}

TEST_CASE("a gzip file cut in the middle of its compressed stream is reported, not accepted", "[data][idx]") {
  temp_dir tmp;
  const std::uint32_t n = 64, h = 28, w = 28;
  write_gz(tmp / "full.gz", idx_bytes(0x08, {n, h, w}, lcg_bytes(n * h * w)));
  const bytes gz = read_raw(tmp / "full.gz");
  REQUIRE(gz.size() > 1000);

  SECTION("cut in the middle of the deflate data") {
    write_raw(tmp / "cut.gz", bytes(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(gz.size() / 2)));
    const auto msg = data_error_message([&] { strata::data::read_idx(tmp / "cut.gz"); });
    CHECK_THAT(msg, Contains((tmp / "cut.gz").string()));
    CHECK_THAT(msg, Contains("truncated"));
    CHECK_THAT(msg, Contains("gzip stream ends in the middle"));
    CHECK_THAT(msg, Contains("header promises 50176 bytes of data"));
  }
  SECTION("cut inside the 8-byte CRC and length trailer: all data there, still an error") {
    write_raw(tmp / "cut.gz", bytes(gz.begin(), gz.end() - 3));
    const auto msg = data_error_message([&] { strata::data::read_idx(tmp / "cut.gz"); });
    CHECK_THAT(msg, Contains((tmp / "cut.gz").string()));
    CHECK_THAT(msg, Contains("truncated"));
  }
  SECTION("cut right after the gzip header, before any IDX byte") {
    write_raw(tmp / "cut.gz", bytes(gz.begin(), gz.begin() + 12));
    const auto msg = data_error_message([&] { strata::data::read_idx(tmp / "cut.gz"); });
    CHECK_THAT(msg, Contains((tmp / "cut.gz").string()));
    CHECK_THAT(msg, Contains("truncated"));
    CHECK_THAT(msg, Contains("inside the IDX header"));
  }
  SECTION("a flipped byte in the compressed data is an error too") {
    bytes bad = gz;
    bad[bad.size() / 2] ^= 0x5a;
    write_raw(tmp / "flipped.gz", bad);
    const auto msg = data_error_message([&] { strata::data::read_idx(tmp / "flipped.gz"); });
    CHECK_THAT(msg, Contains((tmp / "flipped.gz").string()));
  }
}

TEST_CASE("bytes after the promised payload are reported", "[data][idx]") {
  temp_dir tmp;
  const bytes file = idx_bytes(0x08, {2, 3}, lcg_bytes(6 + 5));  // 5 bytes too many
  write_raw(tmp / "long", file);
  write_gz(tmp / "long.gz", file);
  for (const char* name : {"long", "long.gz"}) {
    const auto msg = data_error_message([&] { strata::data::read_idx(tmp / name); });
    CHECK_THAT(msg, Contains((tmp / name).string()));
    CHECK_THAT(msg, Contains("trailing bytes"));
    CHECK_THAT(msg, Contains("header promises 6 bytes of data"));
    CHECK_THAT(msg, Contains("5 extra"));
  }
}

TEST_CASE("a label count different from the image count names both files and both counts", "[data][idx]") {
  temp_dir tmp;
  write_raw(tmp / "img", idx_bytes(0x08, {4, 2, 2}, lcg_bytes(16)));
  write_raw(tmp / "lab", idx_bytes(0x08, {3}, {0, 1, 2}));
  const auto msg = data_error_message([&] { strata::data::load_idx_images(tmp / "img", tmp / "lab"); });
  CHECK_THAT(msg, Contains((tmp / "img").string()));
  CHECK_THAT(msg, Contains((tmp / "lab").string()));
  CHECK_THAT(msg, Contains("3 labels"));
  CHECK_THAT(msg, Contains("4 images"));
}

TEST_CASE("a label not below the class count names the label file and the record index", "[data][idx]") {
  temp_dir tmp;
  write_raw(tmp / "img", idx_bytes(0x08, {4, 2, 2}, lcg_bytes(16)));
  write_raw(tmp / "lab", idx_bytes(0x08, {4}, {0, 9, 10, 3}));
  try {
    strata::data::load_idx_images(tmp / "img", tmp / "lab");
    FAIL("label 10 with 10 classes was accepted");
  } catch (const data_error& e) {
    CHECK(e.file() == tmp / "lab");
    CHECK(e.record() == 2);
    CHECK_THAT(e.what(), Contains((tmp / "lab").string()));
    CHECK_THAT(e.what(), Contains("record 2"));
    CHECK_THAT(e.what(), Contains("label 10"));
  }
  // With 11 classes the same file is fine.
  CHECK(strata::data::load_idx_images(tmp / "img", tmp / "lab", 11).labels(2) == 10);
  CHECK_THROWS_AS(strata::data::load_idx_images(tmp / "img", tmp / "lab", 0), strata::error);
}

TEST_CASE("a missing file is reported with its name and the directory searched", "[data][idx]") {
  temp_dir tmp;
  const auto msg = data_error_message([&] { strata::data::read_idx(tmp / "nope-idx3-ubyte"); });
  CHECK_THAT(msg, Contains((tmp / "nope-idx3-ubyte").string()));
  CHECK_THAT(msg, Contains("no such file in directory '" + tmp.path.string() + "'"));
  const auto dir_msg = data_error_message([&] { strata::data::read_idx(tmp.path); });
  CHECK_THAT(dir_msg, Contains("is a directory"));
}

TEST_CASE("load_fashion_mnist takes the plain or the .gz names and lists both when neither is there", "[data][idx]") {
  temp_dir tmp;
  write_raw(tmp / "t10k-images-idx3-ubyte", idx_bytes(0x08, {2, 28, 28}, lcg_bytes(2 * 28 * 28)));
  write_gz(tmp / "t10k-labels-idx1-ubyte.gz", idx_bytes(0x08, {2}, {7, 3}));
  const auto test = strata::data::load_fashion_mnist(tmp.path, strata::data::split::test);
  CHECK(test.images.shape() == strata::Shape<4>{2, 1, 28, 28});
  CHECK(test.labels(0) == 7);
  CHECK(test.labels(1) == 3);
  CHECK(test.classes == 10);
  CHECK(strata::data::fashion_mnist_classes[7] == "Sneaker");

  const auto msg = data_error_message([&] { strata::data::load_fashion_mnist(tmp.path, strata::data::split::train); });
  CHECK_THAT(msg, Contains(tmp.path.string()));
  CHECK_THAT(msg, Contains("'train-images-idx3-ubyte'"));
  CHECK_THAT(msg, Contains("'train-images-idx3-ubyte.gz'"));

  const auto no_dir = data_error_message(
      [&] { strata::data::load_fashion_mnist(tmp / "no-such-dir", strata::data::split::test); });
  CHECK_THAT(no_dir, Contains("does not exist"));
}

TEST_CASE("data_error is a strata::error and can be caught as one", "[data][idx]") {
  temp_dir tmp;
  CHECK_THROWS_AS(strata::data::read_idx(tmp / "missing"), strata::error);
  try {
    strata::data::read_idx(tmp / "missing");
  } catch (const data_error& e) {
    const data_error copy = e;  // copies share the path; no allocation that could throw
    CHECK(copy.file() == tmp / "missing");
    CHECK(copy.record() == -1);
  }
}

namespace {

// A full-size 60000 × 28 × 28 set, plain and gzip, with its labels; returns the pixels.
bytes write_full_size_set(const temp_dir& tmp) {
  const std::uint32_t n = 60000;
  bytes pixels(std::size_t{n} * 28 * 28);
  // Mostly-zero images like MNIST's, so gzip compresses about as well as on the real files.
  const bytes rnd = lcg_bytes(pixels.size() / 4, 7);
  for (std::size_t i = 0; i < rnd.size(); ++i) pixels[4 * i + (rnd[i] & 3)] = rnd[i];
  bytes labels(n);
  for (std::uint32_t i = 0; i < n; ++i) labels[i] = static_cast<std::uint8_t>(i % 10);
  const bytes img_file = idx_bytes(0x08, {n, 28, 28}, pixels);
  write_raw(tmp / "img", img_file);
  write_gz(tmp / "img.gz", img_file, 1);  // level 1 writes fast; inflate speed hardly depends on the level
  write_raw(tmp / "lab", idx_bytes(0x08, {n}, labels));
  return pixels;
}

}  // namespace

TEST_CASE("a full-size 60000 x 28 x 28 set loads, plain or gzip", "[data][idx]") {
  temp_dir tmp;
  const bytes pixels = write_full_size_set(tmp);
  for (const char* name : {"img", "img.gz"}) {
    INFO(name);
    const auto start = std::chrono::steady_clock::now();
    const auto set = strata::data::load_idx_images(tmp / name, tmp / "lab");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(set.images.shape() == strata::Shape<4>{60000, 1, 28, 28});
    for (const std::size_t i : {std::size_t{0}, std::size_t{123457}, pixels.size() - 1})
      CHECK(set.images.data()[i] == static_cast<float>(pixels[i]) / 255.0f);
    CHECK(set.labels(0) == 0);
    CHECK(set.labels(59999) == 9);
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    // Only a regression guard (~20x headroom): byte-at-a-time reading takes tens of seconds.
    // The real speed check is the [benchmark] case below, run by hand.
    CHECK(seconds < 10.0);
#else
    (void)seconds;
#endif
  }
}

TEST_CASE("a full-size 60000 x 28 x 28 set loads in well under a second", "[.][benchmark][data][idx]") {
  // Hidden (wall-clock on a shared runner is not a pass/fail property): run it with
  //   data.idx "[benchmark]"
  temp_dir tmp;
  write_full_size_set(tmp);
  for (const char* name : {"img", "img.gz"}) {
    const auto start = std::chrono::steady_clock::now();
    const auto set = strata::data::load_idx_images(tmp / name, tmp / "lab");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    INFO(name << ": " << seconds << " s");
    REQUIRE(set.size() == 60000);
    // Plain is ~0.2 s and gzip ~0.5 s here (zlib's inflate alone is 0.3 s of that).
    CHECK(seconds < (std::string(name) == "img" ? 1.0 : 2.0));
  }
}

TEST_CASE("the real Fashion-MNIST files from Debian's dataset-fashion-mnist load with the published counts",
          "[.][fashion_mnist][data][idx]") {
  // Hidden from data.idx's default run: CTest runs it as data.idx.fashion_mnist, which reports a
  // skip (exit 77) where the dataset is missing instead of passing having checked nothing.
  // STRATA_FASHION_MNIST_DIR points elsewhere, e.g. at a copy unpacked without installing the package.
  const char* env = std::getenv("STRATA_FASHION_MNIST_DIR");
  const fs::path dir = env ? fs::path(env) : strata::data::default_fashion_mnist_dir;
  if (!fs::is_directory(dir)) {
    strata::testing::skip_test("no Fashion-MNIST in " + dir.string() + " (apt-get install dataset-fashion-mnist)");
    return;
  }
  const auto train = strata::data::load_fashion_mnist(dir, strata::data::split::train);
  CHECK(train.images.shape() == strata::Shape<4>{60000, 1, 28, 28});
  CHECK(train.labels.shape() == strata::Shape<1>{60000});
  std::array<std::int64_t, 10> histogram{};
  for (std::int64_t i = 0; i < train.size(); ++i) ++histogram[static_cast<std::size_t>(train.labels(i))];
  for (const auto count : histogram) CHECK(count == 6000);
  const auto [lo, hi] = std::minmax_element(train.images.data(), train.images.data() + train.images.size());
  CHECK(*lo == 0.0f);
  CHECK(*hi == 1.0f);
  // The first training image is an ankle boot (label 9), as on the dataset's own README.
  CHECK(train.labels(0) == 9);

  const auto test = strata::data::load_fashion_mnist(dir, strata::data::split::test);
  CHECK(test.images.shape() == strata::Shape<4>{10000, 1, 28, 28});
  std::array<std::int64_t, 10> test_histogram{};
  for (std::int64_t i = 0; i < test.size(); ++i) ++test_histogram[static_cast<std::size_t>(test.labels(i))];
  for (const auto count : test_histogram) CHECK(count == 1000);
}
