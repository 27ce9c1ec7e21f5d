// The archive format: bit-exact round trips, and every kind of damage (any one byte, any
// truncation, absurd header fields, a newer version) reported as an archive_error that names the
// file and says what is wrong; writes are atomic.
#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#if defined(__unix__)
#include <csignal>
#include <sys/resource.h>
#endif

#include "strata/io/archive.hpp"
#include "support/errors.hpp"
#include "support/files.hpp"
#include "support/skip.hpp"
#include "support/testing.hpp"

using namespace strata;
using namespace strata::io;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

// A scratch directory (support/files.hpp's temp_dir: pid in the name, removed on scope exit).
struct scratch_dir : strata::testing::temp_dir {
  scratch_dir() : temp_dir("strata_archive_test") {}
};

std::vector<std::byte> file_bytes(const fs::path& p) { return strata::testing::read_raw_bytes(p); }

void put_file(const fs::path& p, const std::byte* data, std::size_t n) { strata::testing::write_raw(p, data, n); }
void put_file(const fs::path& p, const std::vector<std::byte>& b) { strata::testing::write_raw_bytes(p, b); }

// The message of the archive_error f() throws; fails the test if it throws nothing or another type.
template <class F>
std::string error_of(F&& f) {
  return strata::testing::message_of<archive_error>(std::forward<F>(f));
}

void store_u32(std::vector<std::byte>& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<std::byte>(v >> (8 * i));
}
void store_u64(std::vector<std::byte>& b, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<std::byte>(v >> (8 * i));
}
std::uint32_t crc_of(const std::vector<std::byte>& b, std::size_t from, std::size_t to) {
  return crc32c(std::span<const std::byte>(b.data() + from, to - from));
}
// Makes a hand-edited preamble (bytes 0..23) and trailer consistent again.
void reseal_preamble_and_trailer(std::vector<std::byte>& b) {
  store_u32(b, 24, crc_of(b, 0, 24));
  store_u32(b, b.size() - 4, crc_of(b, 0, b.size() - 4));
}

template <class T>
bool same_bits(const T* a, const T* b, std::size_t n) {
  return std::memcmp(a, b, n * sizeof(T)) == 0;
}

// Tensors of five element types and four ranks, with values that only a bit-exact copy keeps:
// NaN payloads, -0, infinities, subnormals, extremes.
struct sample_tensors {
  Tensor<float, 2> w = testing::random_tensor<float, 2>(Shape<2>{7, 5}, 1);
  Tensor<double, 1> b = testing::random_tensor<double, 1>(Shape<1>{9}, 2);
  Tensor<half, 3> h = Tensor<half, 3>(2, 3, 4);
  Tensor<std::int32_t, 4> counts = Tensor<std::int32_t, 4>(2, 1, 3, 2);
  Tensor<std::uint8_t, 1> pixels = Tensor<std::uint8_t, 1>(11);
  Tensor<float, 2> empty = Tensor<float, 2>(0, 3);

  sample_tensors() {
    w(0, 0) = std::bit_cast<float>(0x7fc01234u);  // a quiet NaN with a payload
    w(0, 1) = -0.0f;
    w(0, 2) = std::numeric_limits<float>::infinity();
    w(0, 3) = std::numeric_limits<float>::denorm_min();
    b(0) = std::numeric_limits<double>::lowest();
    b(1) = std::bit_cast<double>(0xfff8000000000abcull);
    for (std::int64_t i = 0; i < h.size(); ++i) h.data()[i] = half::from_bits(static_cast<std::uint16_t>(0x3c00 + 977 * i));
    h.data()[0] = half::from_bits(0x7e55);  // NaN payload
    h.data()[1] = half::from_bits(0x0001);  // smallest subnormal
    for (std::int64_t i = 0; i < counts.size(); ++i) counts.data()[i] = static_cast<std::int32_t>(i * 1000003) - 6;
    counts.data()[0] = std::numeric_limits<std::int32_t>::min();
    for (std::int64_t i = 0; i < pixels.size(); ++i) pixels.data()[i] = static_cast<std::uint8_t>(i * 51);
  }

  archive make() const {
    archive a;
    a.kind = "strata.model";
    a.signature = "conv(3->16,3x3) relu pool(2) dense(64->10)";
    a.version = 3;
    a.entries.push_back(make_entry("conv1.weight", w));
    a.entries.push_back(make_entry("conv1.bias", b.view()));
    a.entries.push_back(make_entry("bn.half", h));
    a.entries.push_back(make_entry("stats.counts", counts));
    a.entries.push_back(make_entry("input.pixels", pixels));
    a.entries.push_back(make_entry("empty", empty));
    return a;
  }
};

// A small archive (a few hundred bytes), for the exhaustive damage tests.
archive small_archive() {
  archive a;
  a.kind = "strata.model";
  a.signature = "dense(4->3) relu dense(3->2)";
  a.version = 1;
  Tensor<float, 2> w(3, 4);
  for (std::int64_t i = 0; i < w.size(); ++i) w.data()[i] = 0.25f * static_cast<float>(i) - 1.0f;
  Tensor<half, 1> bias(3, 0.5f);
  Tensor<std::uint8_t, 1> mask(5, 1);
  a.entries.push_back(make_entry("fc1.weight", w));
  a.entries.push_back(make_entry("fc1.bias", bias));
  a.entries.push_back(make_entry("mask", mask));
  return a;
}

}  // namespace

TEST_CASE("CRC-32C gives the standard check value on both the portable and the dispatched path", "[archive][crc]") {
  const std::string check = "123456789";
  const auto* p = reinterpret_cast<const std::byte*>(check.data());
  CHECK(crc32c(std::span(p, check.size())) == 0xE3069283u);
  CHECK(io::detail::crc32c_portable(0, p, check.size()) == 0xE3069283u);
  CHECK(crc32c({}) == 0u);
  // Chaining: the CRC of a concatenation continues from the CRC of its first part.
  CHECK(crc32c(std::span(p + 4, 5), crc32c(std::span(p, 4))) == 0xE3069283u);

  std::mt19937_64 rng(7);
  std::vector<std::byte> buf(5000);
  for (auto& x : buf) x = static_cast<std::byte>(rng());
  for (std::size_t off : {0u, 1u, 3u, 7u})
    for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 63u, 4096u, 4993u}) {
      std::uint32_t a = 0x12345678u, b = 0;
      io::detail::crc32c_update2(&a, &b, buf.data() + off, n);
      CHECK(a == io::detail::crc32c_portable(0x12345678u, buf.data() + off, n));
      CHECK(b == io::detail::crc32c_portable(0, buf.data() + off, n));
    }
}

TEST_CASE("the SSE4.2 CRC-32C kernel, called directly, matches the portable code", "[archive][crc]") {
  // crc32c_update2 dispatches at run time, so on a host without SSE4.2 the test above compares
  // the portable code with itself. Here the hardware kernel is called by name.
#if STRATA_IO_X86_CRC32C
  if (!io::detail::cpu_has_sse42()) {
    strata::testing::skip_test("this CPU has no SSE4.2: the hardware CRC-32C kernel cannot run");
    return;
  }
  const std::string check = "123456789";
  const auto* p = reinterpret_cast<const std::byte*>(check.data());
  std::uint32_t a = 0, b = 0x12345678u;
  io::detail::crc32c_sse42(&a, &b, p, check.size());
  CHECK(a == 0xE3069283u);
  CHECK(b == io::detail::crc32c_portable(0x12345678u, p, check.size()));
  std::mt19937_64 rng(11);
  std::vector<std::byte> buf(9000);
  for (auto& x : buf) x = static_cast<std::byte>(rng());
  for (std::size_t off : {0u, 1u, 2u, 5u, 7u})
    for (std::size_t n : {0u, 1u, 2u, 3u, 4u, 7u, 8u, 9u, 15u, 16u, 17u, 63u, 64u, 65u, 4096u, 8191u, 8993u}) {
      INFO("offset " << off << ", " << n << " bytes");
      std::uint32_t x = 0xdeadbeefu, y = 0;
      io::detail::crc32c_sse42(&x, &y, buf.data() + off, n);
      CHECK(x == io::detail::crc32c_portable(0xdeadbeefu, buf.data() + off, n));
      CHECK(y == io::detail::crc32c_portable(0, buf.data() + off, n));
      std::uint32_t z = 0;
      io::detail::crc32c_sse42(&z, nullptr, buf.data() + off, n);  // the second CRC is optional
      CHECK(z == y);
    }
#else
  strata::testing::skip_test("not an x86 build: there is no hardware CRC-32C kernel to check");
#endif
}

TEST_CASE("element codes follow the element type's kind and width", "[archive]") {
  STATIC_REQUIRE(element_code_of<double>() == element_code::f64);
  STATIC_REQUIRE(element_code_of<float>() == element_code::f32);
  STATIC_REQUIRE(element_code_of<half>() == element_code::f16);
  STATIC_REQUIRE(element_code_of<std::int8_t>() == element_code::i8);
  STATIC_REQUIRE(element_code_of<std::int16_t>() == element_code::i16);
  STATIC_REQUIRE(element_code_of<std::int32_t>() == element_code::i32);
  STATIC_REQUIRE(element_code_of<std::int64_t>() == element_code::i64);
  STATIC_REQUIRE(element_code_of<long long>() == element_code::i64);
  STATIC_REQUIRE(element_code_of<std::uint8_t>() == element_code::u8);
  STATIC_REQUIRE(element_code_of<std::uint64_t>() == element_code::u64);
  STATIC_REQUIRE(element_size(element_code::f16) == 2);
  STATIC_REQUIRE(!has_element_code_v<bool>);
  STATIC_REQUIRE(!has_element_code_v<long double>);
}

TEST_CASE("a round trip keeps every tensor bit for bit, whatever its element type and rank", "[archive]") {
  scratch_dir dir;
  const sample_tensors s;
  const archive original = s.make();
  const fs::path file = dir.path / "model.strata";
  write_archive(file, original);

  const archive a = read_archive(file, "strata.model", original.signature);
  CHECK(a.kind == original.kind);
  CHECK(a.signature == original.signature);
  CHECK(a.version == 3);
  CHECK(a.source == file.string());
  REQUIRE(a.entries.size() == original.entries.size());
  for (std::size_t i = 0; i < a.entries.size(); ++i) {
    CHECK(a.entries[i].name == original.entries[i].name);
    CHECK(a.entries[i].type == original.entries[i].type);
    CHECK(a.entries[i].shape == original.entries[i].shape);
    CHECK(a.entries[i].data == original.entries[i].data);
  }

  Tensor<float, 2> w(7, 5);
  Tensor<double, 1> b(9);
  Tensor<half, 3> h(2, 3, 4);
  Tensor<std::int32_t, 4> counts(2, 1, 3, 2);
  Tensor<std::uint8_t, 1> pixels(11);
  Tensor<float, 2> empty(0, 3);
  a.read("conv1.weight", w);
  read_entry(a.at("conv1.bias"), b.view());
  a.read("bn.half", h);
  a.read("stats.counts", counts);
  a.read("input.pixels", pixels);
  a.read("empty", empty);
  CHECK(same_bits(w.data(), s.w.data(), 35));
  CHECK(same_bits(b.data(), s.b.data(), 9));
  CHECK(same_bits(h.data(), s.h.data(), 24));
  CHECK(same_bits(counts.data(), s.counts.data(), 12));
  CHECK(same_bits(pixels.data(), s.pixels.data(), 11));

  const auto t = tensor_from_entry<half, 3>(a.at("bn.half"));
  CHECK(t.shape() == Shape<3>{2, 3, 4});
  CHECK(same_bits(t.data(), s.h.data(), 24));

  // The file holds exactly what encode_archive produces, and decoding that gives the same archive.
  const auto bytes = encode_archive(original);
  CHECK(file_bytes(file) == bytes);
  const archive m = decode_archive(bytes);
  CHECK(m.entries.size() == original.entries.size());
  CHECK(m.entries[2].data == original.entries[2].data);
}

TEST_CASE("entries larger than one I/O chunk round trip exactly", "[archive]") {
  scratch_dir dir;
  Tensor<std::uint8_t, 1> big(3 * (1 << 20) + 13);
  std::mt19937 rng(3);
  for (std::int64_t i = 0; i < big.size(); ++i) big.data()[i] = static_cast<std::uint8_t>(rng());
  Tensor<double, 2> d = testing::random_tensor<double, 2>(Shape<2>{300, 1001}, 5);
  archive a{"strata.test", "sig", 1, {make_entry("big", big), make_entry("d", d)}, {}};
  write_archive(dir.path / "big.strata", a);
  const archive r = read_archive(dir.path / "big.strata");
  CHECK(r.at("big").data == a.entries[0].data);
  CHECK(r.at("d").data == a.entries[1].data);
}

TEST_CASE("loading a different kind or architecture names both and says so", "[archive]") {
  scratch_dir dir;
  const fs::path file = dir.path / "m.strata";
  write_archive(file, small_archive());

  CHECK_THROWS_WITH(read_archive(file, "strata.optimizer", "dense(4->3) relu dense(3->2)"),
                    Contains("m.strata") && Contains("'strata.model'") && Contains("'strata.optimizer'"));
  const auto msg = error_of([&] { read_archive(file, "strata.model", "dense(4->3) tanh dense(3->2)"); });
  CHECK_THAT(msg, Contains("m.strata") && Contains("different architecture") &&
                      Contains("'dense(4->3) relu dense(3->2)'") && Contains("'dense(4->3) tanh dense(3->2)'") &&
                      Contains("first differ at character 12"));

  // Long signatures are shown around their first difference, not in full.
  std::string sig_a, sig_b;
  for (int i = 0; i < 400; ++i) sig_a += "conv(" + std::to_string(i) + ") ";
  sig_b = sig_a;
  sig_b[2000] = 'X';
  archive big = small_archive();
  big.signature = sig_a;
  write_archive(file, big);
  const auto long_msg = error_of([&] { read_archive(file, "strata.model", sig_b); });
  CHECK_THAT(long_msg, Contains("different architecture") && Contains("first differ at character 2000") &&
                           Contains(sig_b.substr(1990, 20)) && Contains(sig_a.substr(1990, 20)) &&
                           Contains("(" + std::to_string(sig_a.size()) + " characters)"));
  CHECK(long_msg.size() < 600);
}

TEST_CASE("every single-byte corruption of an archive is detected and reported as corruption", "[archive][damage]") {
  scratch_dir dir;
  const auto good = encode_archive(small_archive());
  const fs::path file = dir.path / "damaged.strata";
  const archive reference = small_archive();
  std::size_t detected = 0;
  for (std::size_t offset = 0; offset < good.size(); ++offset) {
    for (const unsigned flip : {0xFFu, 0x01u, 0x80u}) {
      auto bad = good;
      bad[offset] ^= static_cast<std::byte>(flip);
      put_file(file, bad);
      INFO("byte " << offset << " of " << good.size() << " XOR " << flip);
      const auto msg = error_of([&] { read_archive(file); });
      CHECK_THAT(msg, Contains("corrupted") && Contains("damaged.strata"));
      // Expecting the right architecture must not turn damage into "a different architecture".
      const auto msg2 = error_of([&] { read_archive(file, reference.kind, reference.signature); });
      CHECK_THAT(msg2, Contains("corrupted"));
      CHECK_THROWS_AS(decode_archive(bad), archive_error);
      detected += msg.find("corrupted") != std::string::npos;
    }
  }
  CHECK(detected == 3 * good.size());
}

TEST_CASE("every truncation of an archive is detected, with how much is missing and where", "[archive][damage]") {
  scratch_dir dir;
  const auto good = encode_archive(small_archive());
  const fs::path file = dir.path / "cut.strata";
  for (std::size_t size = 0; size < good.size(); ++size) {
    put_file(file, good.data(), size);
    INFO("cut to " << size << " of " << good.size() << " bytes");
    const auto msg = error_of([&] { read_archive(file); });
    CHECK_THAT(msg, Contains("truncated") && Contains("cut.strata"));
    if (size >= 28)
      CHECK_THAT(msg, Contains("expected " + std::to_string(good.size() - size) +
                               (good.size() - size == 1 ? " more byte" : " more bytes") + " at offset " + std::to_string(size)));
  }
  // A cut inside an entry's data names that entry.
  const std::string name = "fc1.bias";
  const auto at = std::search(good.begin(), good.end(), name.begin(), name.end(),
                              [](std::byte x, char c) { return x == static_cast<std::byte>(c); });
  REQUIRE(at != good.end());
  const auto data_start = static_cast<std::size_t>(at - good.begin()) + name.size() + 1 + 1 + 8 + 8 + 4;
  put_file(file, good.data(), data_start + 3);
  CHECK_THAT(error_of([&] { read_archive(file); }), Contains("truncated") && Contains("entry 'fc1.bias'"));
  CHECK_THAT(error_of([&] { decode_archive(std::span(good).first(100)); }), Contains("truncated"));
}

TEST_CASE("a file from a newer format version says so", "[archive]") {
  scratch_dir dir;
  auto bytes = encode_archive(small_archive());
  store_u32(bytes, 8, 2);
  reseal_preamble_and_trailer(bytes);
  put_file(dir.path / "new.strata", bytes);
  CHECK_THROWS_WITH(read_archive(dir.path / "new.strata"),
                    Contains("new.strata") && Contains("written by a newer strata (format v2; this library reads v1)"));
}

TEST_CASE("absurd sizes in a damaged header give an error, never a huge allocation", "[archive][damage]") {
  scratch_dir dir;
  const fs::path file = dir.path / "absurd.strata";
  const auto good = encode_archive(small_archive());
  const std::size_t kind_at = 28, sig_at = kind_at + 4 + 12, count_at = sig_at + 4 + 28 + 4;
  const std::size_t header_crc_at = count_at + 4, entry_at = header_crc_at + 4;
  auto check = [&](std::vector<std::byte> bytes, const char* expected) {
    put_file(file, bytes);
    INFO(expected);
    CHECK_THROWS_WITH(read_archive(file), Contains(expected) && Contains("absurd.strata"));
  };
  {  // a 4 GB kind, even with the trailer made consistent
    auto b = good;
    store_u32(b, kind_at, 0xFFFFFFFFu);
    reseal_preamble_and_trailer(b);
    check(b, "malformed");
  }
  {  // a 4 GB kind, damaged in place
    auto b = good;
    store_u32(b, kind_at, 0xFFFFFFF0u);
    check(b, "corrupted (checksum mismatch)");
  }
  {  // a billion entries, with a header checksum that matches
    auto b = good;
    store_u32(b, count_at, 1000000000u);
    store_u32(b, header_crc_at, crc_of(b, 0, header_crc_at));
    reseal_preamble_and_trailer(b);
    check(b, "1000000000 entries");
  }
  {  // an entry name of 4 GB
    auto b = good;
    store_u32(b, entry_at, 0xFFFFFFFFu);
    check(b, "corrupted");
  }
  const std::size_t rank_at = entry_at + 4 + 10 + 1, dims_at = rank_at + 1, length_at = dims_at + 16,
                    entry_crc_at = length_at + 8;
  auto reseal_entry = [&](std::vector<std::byte>& b) {
    store_u32(b, entry_crc_at, crc_of(b, entry_at, entry_crc_at));
    reseal_preamble_and_trailer(b);
  };
  {  // rank 200
    auto b = good;
    b[rank_at] = std::byte{200};
    reseal_entry(b);
    check(b, "rank 200");
  }
  {  // extents whose product overflows, with the entry's checksum made to match
    auto b = good;
    store_u64(b, dims_at, std::uint64_t{1} << 62);
    store_u64(b, dims_at + 8, std::uint64_t{1} << 62);
    reseal_entry(b);
    check(b, "invalid extents");
  }
  {  // a data length of 2^60 bytes that matches its extents
    auto b = good;
    store_u64(b, dims_at, std::uint64_t{1} << 58);
    store_u64(b, dims_at + 8, 1);
    store_u64(b, length_at, std::uint64_t{1} << 60);
    reseal_entry(b);
    check(b, "runs past the end");
  }
  {  // a preamble claiming an exabyte file: reported as truncated, nothing allocated
    auto b = good;
    store_u64(b, 16, std::uint64_t{1} << 60);
    store_u32(b, 24, crc_of(b, 0, 24));
    check(b, "truncated");
  }
  {  // bytes appended after the end
    auto b = good;
    b.resize(b.size() + 5);
    check(b, "5 unexpected bytes");
  }
  {  // not an archive at all
    std::vector<std::byte> png(64, std::byte{0});
    const unsigned char sig[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    for (int i = 0; i < 8; ++i) png[i] = static_cast<std::byte>(sig[i]);
    check(png, "not a strata archive: it starts with 89 50 4e 47");
  }
}

TEST_CASE("read_entry names the entry and both types and shapes on a mismatch", "[archive]") {
  Tensor<float, 2> w(3, 4, 1.0f);
  const archive_entry e = make_entry("fc1.weight", w);
  Tensor<half, 2> h(3, 4);
  CHECK_THROWS_WITH(read_entry(e, h), Contains("'fc1.weight'") && Contains("f32 [3, 4]") && Contains("f16 [3, 4]") &&
                                          Contains("element type differs"));
  Tensor<float, 2> wrong(4, 3);
  CHECK_THROWS_WITH(read_entry(e, wrong), Contains("'fc1.weight'") && Contains("f32 [3, 4]") &&
                                              Contains("f32 [4, 3]") && Contains("shape differs"));
  Tensor<float, 1> flat(12);
  CHECK_THROWS_WITH(read_entry(e, flat), Contains("f32 [12]") && Contains("rank differs"));
  CHECK(wrong(0, 0) == 0.0f);  // untouched
  CHECK_THROWS_WITH((tensor_from_entry<double, 2>(e)), Contains("'fc1.weight'") && Contains("f64"));

  // Through an archive read from a file, the message names the file too.
  scratch_dir dir;
  write_archive(dir.path / "a.strata", archive{"k", "s", 1, {e}, {}});
  CHECK_THROWS_WITH(read_archive(dir.path / "a.strata").read("fc1.weight", wrong),
                    Contains("a.strata") && Contains("'fc1.weight'") && Contains("[4, 3]"));
}

TEST_CASE("at() names the missing entry and lists the first few that exist", "[archive]") {
  archive a{"strata.model", "sig", 1, {}, "model.strata"};
  CHECK_THROWS_WITH(a.at("x"), Contains("model.strata") && Contains("no entry 'x'") && Contains("no entries"));
  Tensor<float, 1> t(2);
  for (int i = 0; i < 12; ++i) a.entries.push_back(make_entry("layer" + std::to_string(i) + ".weight", t));
  const auto msg = error_of([&] { a.at("head.weight"); });
  CHECK_THAT(msg, Contains("no entry 'head.weight'") && Contains("12 entries") && Contains("'layer0.weight'") &&
                      Contains("'layer7.weight'") && Contains("(4 more)"));
  CHECK_THAT(msg, !Contains("'layer8.weight'"));
  CHECK(a.find("layer3.weight") == &a.entries[3]);
}

TEST_CASE("writing is atomic: no temporary file is left, and a failed write keeps the old file", "[archive]") {
  scratch_dir dir;
  const fs::path file = dir.path / "model.strata";
  archive first = small_archive();
  write_archive(file, first);
  CHECK(dir.files() == std::vector<std::string>{"model.strata"});
  const auto old_bytes = file_bytes(file);

  // Overwriting replaces the whole file.
  archive second = small_archive();
  second.signature = "another";
  write_archive(file, second);
  CHECK(read_archive(file).signature == "another");
  CHECK(dir.files() == std::vector<std::string>{"model.strata"});
  write_archive(file, first);

  // An archive that breaks the format is refused before anything is written.
  archive dup = small_archive();
  dup.entries.push_back(dup.entries[0]);
  CHECK_THROWS_WITH(write_archive(file, dup), Contains("model.strata") && Contains("two entries are named 'fc1.weight'"));
  archive short_data = small_archive();
  short_data.entries[1].data.pop_back();
  CHECK_THROWS_WITH(write_archive(file, short_data),
                    Contains("model.strata") && Contains("'fc1.bias'") && Contains("f16 [3] needs 6"));
  archive unnamed = small_archive();
  unnamed.entries[2].name.clear();
  CHECK_THROWS_WITH(write_archive(file, unnamed), Contains("entry #3 has an empty name"));
  CHECK(file_bytes(file) == old_bytes);

  // A directory that does not exist: the error names the file.
  CHECK_THROWS_WITH(write_archive(dir.path / "no" / "such" / "m.strata", first),
                    Contains("m.strata") && Contains("No such file or directory"));

#if defined(__unix__)
  // A write that fails halfway (the file-size limit is hit): the old file is untouched and the
  // temporary file is gone.
  archive big = small_archive();
  Tensor<float, 1> bulk(100000, 1.0f);
  big.entries.push_back(make_entry("bulk", bulk));
  rlimit old_limit{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old_limit;
  small.rlim_cur = 64 * 1024;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  const auto msg = error_of([&] { write_archive(file, big); });
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  CHECK_THAT(msg, Contains("cannot write") && Contains("model.strata") && Contains("File too large"));
  CHECK(file_bytes(file) == old_bytes);
  CHECK(dir.files() == std::vector<std::string>{"model.strata"});
#endif
}

TEST_CASE("reading a file that is not there names the path", "[archive]") {
  scratch_dir dir;
  const fs::path missing = dir.path / "nowhere.strata";
  CHECK_THROWS_AS(read_archive(missing), archive_error);
  CHECK_THROWS_WITH(read_archive(missing), Contains(missing.string()) && Contains("No such file or directory"));
  CHECK_THROWS_WITH(read_archive(dir.path), Contains(dir.path.string()));
  CHECK_THROWS_AS(read_archive(missing, "k", "s"), strata::error);  // catchable as the library's base
}

TEST_CASE("how long do writing and reading 100 MB take?", "[.][benchmark][archive]") {
  scratch_dir dir;
  Tensor<float, 2> big = testing::random_tensor<float, 2>(Shape<2>{25 * 1024, 1024}, 9);
  archive a{"strata.model", "bench", 1, {make_entry("big", big)}, {}};
  const auto t0 = std::chrono::steady_clock::now();
  write_archive(dir.path / "big.strata", a);
  const auto t1 = std::chrono::steady_clock::now();
  const archive r = read_archive(dir.path / "big.strata");
  const auto t2 = std::chrono::steady_clock::now();
  const auto t3 = std::chrono::steady_clock::now();
  const auto enc = encode_archive(a);
  const auto t4 = std::chrono::steady_clock::now();
  const archive m = decode_archive(enc);
  const auto t5 = std::chrono::steady_clock::now();
  CHECK(r.entries[0].data == a.entries[0].data);
  CHECK(m.entries[0].data == a.entries[0].data);
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  WARN("100 MiB: write_archive " << ms(t1 - t0) << " ms (with fsync), read_archive " << ms(t2 - t1)
                                 << " ms, encode " << ms(t4 - t3) << " ms, decode " << ms(t5 - t4) << " ms");
}

TEST_CASE("packed binary entries hold whole words per row and round trip bit for bit", "[archive][binary]") {
  Tensor<binary, 2> bits(Shape{3, 70});
  for (std::int64_t r = 0; r < 3; ++r)
    for (std::int64_t c = 0; c < 70; ++c)
      if ((r * 70 + c) % 3 == 0) bits.set(binary::from_bit(true), r, c);
  const archive_entry e = make_entry("w", bits);
  CHECK(e.type == element_code::binary);
  CHECK(e.data.size() == 3 * 2 * 8);  // 70 values: two words per row
  CHECK(to_string(e.type) == "binary");
  const archive back = decode_archive(encode_archive(archive{"k", "s", 1, {e}, {}}));
  Tensor<binary, 2> read(Shape{3, 70});
  back.read("w", read);
  for (std::int64_t r = 0; r < 3; ++r)
    for (std::int64_t c = 0; c < 70; ++c) REQUIRE(read(r, c) == bits(r, c));
  // A set bit past a row's values would count in every XNOR-popcount: refused, naming the row.
  archive_entry tail = e;
  tail.data[8 * 3 + 7] = std::byte{0x80};  // row 1, last word, top bit
  CHECK_THROWS_WITH(read_entry(tail, read), Contains("'w'") && Contains("row 1") && Contains("past its 70 values"));
  // A packed entry whose data is not whole words per row is damage.
  archive_entry short_data = e;
  short_data.data.resize(40);
  CHECK_THROWS_AS(encode_archive(archive{"k", "s", 1, {short_data}, {}}), archive_error);
  Tensor<binary, 2> wrong(Shape{3, 64});
  CHECK_THROWS_WITH(read_entry(e, wrong), Contains("binary [3, 70]") && Contains("binary [3, 64]"));
}
