// CIFAR binary batches: labels, pixel values and the planar-to-interleaved conversion of
// synthetic CIFAR-10 and CIFAR-100 files; every malformed file (missing, truncated, empty, a
// label out of range) is a data_error naming the file and record. Also the Dataset contract and
// idx_dataset, the adapter that makes IDX data (MNIST, Fashion-MNIST) a Dataset.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "support/errors.hpp"
#include "support/files.hpp"
#include "strata/data/cifar.hpp"
#include "strata/data/dataset.hpp"

namespace fs = std::filesystem;
using strata::data::cifar100_label;
using strata::data::cifar_dataset;
using strata::data::cifar_kind;
using strata::data::data_error;
using strata::data::split;
using Catch::Matchers::Contains;

using strata::testing::bytes;
using strata::testing::temp_dir;
using strata::testing::write_raw;

namespace {

// The synthetic pixel value of record r (counted across all files), channel c, row y, column x:
// every coordinate changes it, so a swapped plane, row or column shows up as a wrong value.
std::uint8_t pattern(int r, int c, int y, int x) { return static_cast<std::uint8_t>(r * 61 + c * 97 + y * 7 + x * 3 + (y * x) % 5); }

// One record: the label bytes, then planes R, G, B of 32 rows of 32.
bytes record(const bytes& labels, int r) {
  bytes b = labels;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) b.push_back(pattern(r, c, y, x));
  return b;
}

// A CIFAR-10 file of records first … first + labels.size() - 1 with the given labels.
bytes cifar10_file(const std::vector<int>& labels, int first = 0) {
  bytes b;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto rec = record({static_cast<std::uint8_t>(labels[i])}, first + static_cast<int>(i));
    b.insert(b.end(), rec.begin(), rec.end());
  }
  return b;
}

bytes cifar100_file(const std::vector<std::pair<int, int>>& coarse_fine) {
  bytes b;
  for (std::size_t i = 0; i < coarse_fine.size(); ++i) {
    const auto [coarse, fine] = coarse_fine[i];
    const auto rec = record({static_cast<std::uint8_t>(coarse), static_cast<std::uint8_t>(fine)}, static_cast<int>(i));
    b.insert(b.end(), rec.begin(), rec.end());
  }
  return b;
}

template <class F>
data_error caught_data_error(F&& f) {
  return strata::testing::caught<data_error>(std::forward<F>(f));
}

// Every pixel of sample i against the pattern of record r.
void check_pixels(const cifar_dataset& d, std::int64_t i, int r) {
  const auto s = d.get(i);
  REQUIRE(s.image.height() == 32);
  REQUIRE(s.image.width() == 32);
  REQUIRE(s.image.channels() == 3);
  int wrong = 0;
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x)
      for (int c = 0; c < 3; ++c) wrong += s.image(y, x, c) != pattern(r, c, y, x);
  CHECK(wrong == 0);
}

}  // namespace

static_assert(strata::data::Dataset<cifar_dataset>);
static_assert(strata::data::Dataset<strata::data::idx_dataset<float>>);
static_assert(strata::data::Dataset<strata::data::idx_dataset<std::uint8_t>>);
static_assert(!strata::data::Dataset<int>);
static_assert(std::is_same_v<cifar_dataset::pixel_type, std::uint8_t>);

TEST_CASE("CIFAR-10 records become labelled 32x32x3 interleaved images", "[data][cifar]") {
  temp_dir tmp;
  write_raw(tmp / "batch.bin", cifar10_file({3, 0, 9, 5, 1}));
  const cifar_dataset d({tmp / "batch.bin"}, cifar_kind::cifar10);

  REQUIRE(d.size() == 5);
  CHECK(d.classes() == 10);
  REQUIRE(d.class_names().size() == 10);
  CHECK(d.class_names()[0] == "airplane");
  CHECK(d.class_names()[3] == "cat");
  CHECK(d.class_names()[9] == "truck");
  const std::vector<int> expected{3, 0, 9, 5, 1};
  for (int i = 0; i < 5; ++i) {
    CHECK(d.get(i).label == expected[static_cast<std::size_t>(i)]);
    CHECK(d.label(i) == expected[static_cast<std::size_t>(i)]);
    check_pixels(d, i, i);
  }
}

TEST_CASE("CIFAR interleaving takes R, G and B of a pixel from the three planes", "[data][cifar]") {
  temp_dir tmp;
  // Record 0: plane R all 10, G all 20, B all 30, except pixel (row 2, column 5), which is
  // 200, 201, 202, and pixel (row 31, column 0), which is 7, 8, 9.
  bytes b{4};
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 1024; ++p) b.push_back(static_cast<std::uint8_t>(10 * (c + 1)));
  for (int c = 0; c < 3; ++c) {
    b[static_cast<std::size_t>(1 + c * 1024 + 2 * 32 + 5)] = static_cast<std::uint8_t>(200 + c);
    b[static_cast<std::size_t>(1 + c * 1024 + 31 * 32 + 0)] = static_cast<std::uint8_t>(7 + c);
  }
  write_raw(tmp / "one.bin", b);
  const cifar_dataset d({tmp / "one.bin"}, cifar_kind::cifar10);
  const auto s = d.get(0);
  CHECK(s.label == 4);
  CHECK(int(s.image(2, 5, 0)) == 200);
  CHECK(int(s.image(2, 5, 1)) == 201);
  CHECK(int(s.image(2, 5, 2)) == 202);
  CHECK(int(s.image(31, 0, 0)) == 7);
  CHECK(int(s.image(31, 0, 1)) == 8);
  CHECK(int(s.image(31, 0, 2)) == 9);
  CHECK(int(s.image(5, 2, 0)) == 10);  // the transposed position is untouched
  CHECK(int(s.image(0, 0, 1)) == 20);
  CHECK(int(s.image(0, 0, 2)) == 30);
  // Interleaved in memory: byte (y·32 + x)·3 + c.
  CHECK(int(s.image.data()[(2 * 32 + 5) * 3 + 1]) == 201);
  const auto v = d.view(0);
  CHECK(v.interleaved());
  CHECK(int(v(2, 5, 2)) == 202);
}

TEST_CASE("several CIFAR files load in the order given", "[data][cifar]") {
  temp_dir tmp;
  write_raw(tmp / "a.bin", cifar10_file({1, 2}, 0));
  write_raw(tmp / "b.bin", cifar10_file({7, 8, 6}, 2));
  const cifar_dataset d({tmp / "a.bin", tmp / "b.bin"}, cifar_kind::cifar10);
  REQUIRE(d.size() == 5);
  CHECK(d.label(1) == 2);
  CHECK(d.label(2) == 7);
  CHECK(d.label(4) == 6);
  check_pixels(d, 2, 2);
  check_pixels(d, 4, 4);
}

TEST_CASE("load_cifar10 finds the batch files of each split, also in cifar-10-batches-bin", "[data][cifar]") {
  temp_dir tmp;
  const auto dir = tmp / "cifar-10-batches-bin";
  fs::create_directories(dir);
  for (int b = 1; b <= 5; ++b)
    write_raw(dir / ("data_batch_" + std::to_string(b) + ".bin"), cifar10_file({b, b}, 2 * (b - 1)));
  write_raw(dir / "test_batch.bin", cifar10_file({9}));

  for (const auto& where : {dir, tmp.path}) {  // the unpacked folder itself, or its parent
    const auto train = strata::data::load_cifar10(where, split::train);
    REQUIRE(train.size() == 10);
    CHECK(train.label(0) == 1);
    CHECK(train.label(9) == 5);
    check_pixels(train, 7, 7);
    const auto test = strata::data::load_cifar10(where, split::test);
    REQUIRE(test.size() == 1);
    CHECK(test.label(0) == 9);
  }
}

TEST_CASE("a missing CIFAR file is named, with the names expected", "[data][cifar]") {
  temp_dir tmp;
  for (int b = 1; b <= 4; ++b) write_raw(tmp / ("data_batch_" + std::to_string(b) + ".bin"), cifar10_file({0}));
  const auto e = caught_data_error([&] { strata::data::load_cifar10(tmp.path, split::train); });
  CHECK(e.file() == tmp / "data_batch_5.bin");
  CHECK_THAT(e.what(), Contains((tmp / "data_batch_5.bin").string()));
  CHECK_THAT(e.what(), Contains("not found"));
  CHECK_THAT(e.what(), Contains("'data_batch_1.bin'"));

  const auto t = caught_data_error([&] { strata::data::load_cifar10(tmp.path, split::test); });
  CHECK_THAT(t.what(), Contains("test_batch.bin"));
  const auto c = caught_data_error([&] { strata::data::load_cifar100(tmp.path, split::train); });
  CHECK_THAT(c.what(), Contains("train.bin"));
  CHECK_THAT(c.what(), Contains("cifar-100-binary"));

  const auto direct = caught_data_error([&] { cifar_dataset({tmp / "nope.bin"}, cifar_kind::cifar10); });
  CHECK_THAT(direct.what(), Contains((tmp / "nope.bin").string()));
  CHECK_THAT(direct.what(), Contains("no such file"));
}

TEST_CASE("a CIFAR file cut short names the file and the record cut", "[data][cifar]") {
  temp_dir tmp;
  bytes b = cifar10_file({1, 2, 3, 4});
  b.resize(3 * 3073 + 100);  // records 0-2 whole, record 3 has 100 bytes
  write_raw(tmp / "short.bin", b);
  const auto e = caught_data_error([&] { cifar_dataset({tmp / "short.bin"}, cifar_kind::cifar10); });
  CHECK(e.record() == 3);
  CHECK(e.file() == tmp / "short.bin");
  CHECK_THAT(e.what(), Contains((tmp / "short.bin").string()));
  CHECK_THAT(e.what(), Contains("record 3"));
  CHECK_THAT(e.what(), Contains("truncated"));
  CHECK_THAT(e.what(), Contains("100 of its 3073 bytes"));

  // A whole CIFAR-10 file read as CIFAR-100 is not a whole number of 3074-byte records either.
  write_raw(tmp / "ten.bin", cifar10_file({1, 2, 3}));
  const auto w = caught_data_error([&] { cifar_dataset({tmp / "ten.bin"}, cifar_kind::cifar100); });
  CHECK_THAT(w.what(), Contains("3074-byte CIFAR-100 records"));

  write_raw(tmp / "empty.bin", {});
  const auto z = caught_data_error([&] { cifar_dataset({tmp / "empty.bin"}, cifar_kind::cifar10); });
  CHECK_THAT(z.what(), Contains("empty"));
}

TEST_CASE("a CIFAR label out of range names the file and record", "[data][cifar]") {
  temp_dir tmp;
  write_raw(tmp / "bad10.bin", cifar10_file({0, 9, 10, 1}));
  const auto e = caught_data_error([&] { cifar_dataset({tmp / "ok.bin", tmp / "bad10.bin"}, cifar_kind::cifar10); });
  // ok.bin does not exist: the missing file is reported before anything is read.
  CHECK(e.file() == tmp / "ok.bin");

  write_raw(tmp / "ok.bin", cifar10_file({0}));
  const auto l = caught_data_error([&] { cifar_dataset({tmp / "ok.bin", tmp / "bad10.bin"}, cifar_kind::cifar10); });
  CHECK(l.file() == tmp / "bad10.bin");
  CHECK(l.record() == 2);  // the record within its file
  CHECK_THAT(l.what(), Contains("record 2"));
  CHECK_THAT(l.what(), Contains("label 10"));

  write_raw(tmp / "bad_fine.bin", cifar100_file({{0, 0}, {19, 100}}));
  const auto f = caught_data_error([&] { strata::data::cifar_dataset({tmp / "bad_fine.bin"}, cifar_kind::cifar100); });
  CHECK(f.record() == 1);
  CHECK_THAT(f.what(), Contains("fine label 100"));
  // Both labels are checked even when the other one is used.
  write_raw(tmp / "bad_coarse.bin", cifar100_file({{20, 5}}));
  const auto c = caught_data_error([&] {
    cifar_dataset({tmp / "bad_coarse.bin"}, cifar_kind::cifar100, cifar100_label::fine);
  });
  CHECK(c.record() == 0);
  CHECK_THAT(c.what(), Contains("coarse label 20"));
}

TEST_CASE("CIFAR-100 records carry coarse and fine labels; either can be the sample's", "[data][cifar]") {
  temp_dir tmp;
  const auto dir = tmp / "cifar-100-binary";
  fs::create_directories(dir);
  write_raw(dir / "train.bin", cifar100_file({{4, 0}, {19, 99}, {0, 42}}));
  write_raw(dir / "test.bin", cifar100_file({{11, 3}}));

  const auto fine = strata::data::load_cifar100(tmp.path, split::train);
  REQUIRE(fine.size() == 3);
  CHECK(fine.classes() == 100);
  CHECK(fine.label(0) == 0);
  CHECK(fine.label(1) == 99);
  CHECK(fine.label(2) == 42);
  REQUIRE(fine.class_names().size() == 100);
  CHECK(fine.class_names()[0] == "apple");
  CHECK(fine.class_names()[99] == "worm");
  check_pixels(fine, 1, 1);  // two label bytes skipped, not one

  const auto coarse = strata::data::load_cifar100(dir, split::train, cifar100_label::coarse);
  CHECK(coarse.classes() == 20);
  CHECK(coarse.label(0) == 4);
  CHECK(coarse.label(1) == 19);
  REQUIRE(coarse.class_names().size() == 20);
  CHECK(coarse.class_names()[0] == "aquatic_mammals");
  CHECK(coarse.class_names()[19] == "vehicles_2");
  check_pixels(coarse, 2, 2);

  const auto test = strata::data::load_cifar100(dir, split::test, cifar100_label::coarse);
  REQUIRE(test.size() == 1);
  CHECK(test.label(0) == 11);
}

TEST_CASE("get with an index out of range names the index and the size", "[data][cifar]") {
  temp_dir tmp;
  write_raw(tmp / "b.bin", cifar10_file({1, 2}));
  const cifar_dataset d({tmp / "b.bin"}, cifar_kind::cifar10);
  CHECK_THROWS_AS(d.get(2), strata::index_error);
  CHECK_THROWS_WITH(d.get(2), Contains("index 2") && Contains("2 samples"));
  CHECK_THROWS_WITH(d.get(-1), Contains("index -1"));
}

// ---------------------------------------------------------------------------------------------
// idx_dataset

namespace {

// 3 images of 2 rows × 3 columns, pixel value (n·6 + y·3 + x)·13 / 255, labels 7, 0, 2.
strata::data::labelled_images small_idx_set() {
  strata::data::labelled_images li;
  li.classes = 10;
  li.images = strata::Tensor<float, 4>::uninitialized(strata::Shape<4>{3, 1, 2, 3});
  for (std::int64_t k = 0; k < 18; ++k) li.images.data()[k] = static_cast<float>(k * 13) / 255.0f;
  li.labels = strata::Tensor<std::int32_t, 1>::uninitialized(strata::Shape<1>{3});
  li.labels.data()[0] = 7, li.labels.data()[1] = 0, li.labels.data()[2] = 2;
  return li;
}

}  // namespace

TEST_CASE("idx_dataset gives each IDX image as an H x W x 1 sample with its label", "[data][idx][dataset]") {
  strata::data::idx_dataset d(small_idx_set());
  static_assert(std::is_same_v<decltype(d)::pixel_type, float>);
  REQUIRE(d.size() == 3);
  CHECK(d.classes() == 10);
  REQUIRE(d.class_names().size() == 10);
  CHECK(d.class_names()[4] == "4");  // no names known: numbers
  const auto s = d.get(1);
  CHECK(s.label == 0);
  REQUIRE(s.image.height() == 2);
  REQUIRE(s.image.width() == 3);
  REQUIRE(s.image.channels() == 1);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x) CHECK(s.image(y, x) == static_cast<float>((6 + y * 3 + x) * 13) / 255.0f);
  CHECK(d.get(2).label == 2);
  CHECK_THROWS_AS(d.get(3), strata::index_error);
  CHECK_THROWS_WITH(d.get(3), Contains("index 3") && Contains("3 samples"));
}

TEST_CASE("idx_dataset<uint8_t> recovers the file's bytes exactly", "[data][idx][dataset]") {
  const std::vector<std::string> names{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  const strata::data::idx_dataset<std::uint8_t> d(small_idx_set(), names);
  CHECK(d.class_names()[7] == "h");
  const auto s = d.get(2);
  CHECK(s.label == 2);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x) CHECK(int(s.image(y, x)) == (12 + y * 3 + x) * 13);

  // Every byte value survives the float round trip.
  strata::data::labelled_images all;
  all.classes = 1;
  all.images = strata::Tensor<float, 4>::uninitialized(strata::Shape<4>{1, 1, 16, 16});
  for (int k = 0; k < 256; ++k) all.images.data()[k] = static_cast<float>(k) / 255.0f;
  all.labels = strata::Tensor<std::int32_t, 1>::uninitialized(strata::Shape<1>{1});
  all.labels.data()[0] = 0;
  const strata::data::idx_dataset<std::uint8_t> bytes_back(std::move(all));
  const auto b = bytes_back.get(0);
  int wrong = 0;
  for (int k = 0; k < 256; ++k) wrong += b.image(k / 16, k % 16) != k;
  CHECK(wrong == 0);

  CHECK_THROWS_WITH(strata::data::idx_dataset<float>(small_idx_set(), {"only", "three", "names"}),
                    Contains("3 class names for 10 classes"));
}
