// bit_packing.hpp against the packing contract written out bit by bit: bit set for x < 0 (so +0,
// −0 and NaN of either sign are +1), 64 to a word, least significant bit first, zero tail bits; rows,
// NCHW activations into channels-last words (every pixel-vector remainder, channel counts around
// word boundaries, large enough to take the threaded path), PyTorch-layout filters; float and
// double; unpacking back to ±1; the simd popcount helpers against a bit loop.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "strata/kernels/cpu/bit_packing.hpp"
#include "strata/kernels/cpu/simd.hpp"
#include "support/guards.hpp"
#include "support/testing.hpp"

// 32- and 64-byte vectors in the baseline build: GCC's note on their ABI concerns calls across
// translation units, not these inline helpers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

using namespace strata;
using kernels::cpu::words_for;
namespace cpu_k = kernels::cpu;

namespace {

// Values with every special case mixed in: ±0, ±NaN, ±Inf, tiny negatives (denormals).
template <class T>
std::vector<T> tricky_values(std::int64_t n, std::uint32_t seed) {
  auto v = testing::random_values<T>(n, seed, -1, 1);
  const T special[] = {T(0), -T(0), std::numeric_limits<T>::quiet_NaN(), -std::numeric_limits<T>::quiet_NaN(),
                       std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity(),
                       -std::numeric_limits<T>::denorm_min(), std::numeric_limits<T>::denorm_min()};
  std::mt19937 rng(seed + 1);
  for (std::int64_t i = 0; i < n; i += 3) v[std::size_t(i)] = special[rng() % 8];
  return v;
}

template <class T>
bool negative(T v) {
  return v < T(0);
}

template <class T>
void check_rows(std::int64_t rows, std::int64_t cols, std::uint32_t seed) {
  const auto x = tricky_values<T>(rows * cols, seed);
  const std::int64_t words = words_for(cols);
  std::vector<std::uint64_t> got(std::size_t(rows * words), 0xdeadbeefdeadbeefull);
  cpu_k::pack_sign_rows(x.data(), rows, cols, got.data());
  std::int64_t bad = 0;
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < words * 64; ++c) {
      const bool bit = got[std::size_t(r * words + c / 64)] >> (c % 64) & 1;
      const bool want = c < cols && negative(x[std::size_t(r * cols + c)]);
      bad += bit != want;
    }
  INFO(rows << " rows × " << cols << " columns");
  CHECK(bad == 0);
}

template <class T>
void check_nchw(std::int64_t n, std::int64_t C, std::int64_t H, std::int64_t W, std::uint32_t seed) {
  const auto x = tricky_values<T>(n * C * H * W, seed);
  const std::int64_t words = words_for(C);
  std::vector<std::uint64_t> got(std::size_t(n * H * W * words), 0xdeadbeefdeadbeefull);
  cpu_k::pack_sign_nchw_to_nhwc(x.data(), n, C, H, W, got.data());
  std::int64_t bad = 0;
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t i = 0; i < H; ++i)
      for (std::int64_t j = 0; j < W; ++j)
        for (std::int64_t c = 0; c < words * 64; ++c) {
          const bool bit = got[std::size_t(((b * H + i) * W + j) * words + c / 64)] >> (c % 64) & 1;
          const bool want = c < C && negative(x[std::size_t(((b * C + c) * H + i) * W + j)]);
          bad += bit != want;
        }
  INFO("n " << n << " C " << C << " H " << H << " W " << W);
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("words_for rounds up to whole 64-bit words", "[kernels][bit_packing]") {
  CHECK(words_for(0) == 0);
  CHECK(words_for(1) == 1);
  CHECK(words_for(64) == 1);
  CHECK(words_for(65) == 2);
  CHECK(words_for(1000) == 16);
}

TEST_CASE("pack_sign_rows sets the bit of values below zero only: +0, −0 and NaN are +1, tail bits zero",
          "[kernels][bit_packing]") {
  const float specials[8] = {0.0f, -0.0f, std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                             -1e-40f, -2.0f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
  std::uint64_t w = ~std::uint64_t{0};
  cpu_k::pack_sign_rows(specials, 1, 8, &w);
  CHECK(w == 0b10110000u);  // −1e-40 (a denormal), −2, −Inf
  for (std::int64_t cols : {1, 7, 8, 15, 16, 17, 63, 64, 65, 200, 1000}) {
    check_rows<float>(3, cols, std::uint32_t(cols));
    check_rows<double>(3, cols, std::uint32_t(cols) + 7);
  }
}

TEST_CASE("pack_sign_nchw_to_nhwc puts channel c of each pixel at word c / 64, bit c % 64", "[kernels][bit_packing]") {
  std::uint32_t seed = 1;
  for (std::int64_t C : {1, 3, 63, 64, 65, 129})
    for (std::int64_t W : {1, 5, 8, 17, 33}) {
      check_nchw<float>(2, C, 3, W, seed++);
      check_nchw<double>(1, C, 2, W, seed++);
    }
}

TEST_CASE("pack_sign_nchw_to_nhwc and pack_sign_rows give the same bits on 1 and 2 threads, threaded path taken",
          "[kernels][bit_packing][threads]") {
  const testing::parallel_threshold_guard small(1);
  for (int threads : {1, 2}) {
    const testing::thread_count_guard guard(threads);
    check_nchw<float>(3, 130, 9, 11, 77);
    check_rows<float>(37, 300, 78);
  }
}

TEST_CASE("pack_filter_signs turns [K][C][R][S] into [K][R][S][words]", "[kernels][bit_packing]") {
  const std::int64_t K = 3, C = 70, R = 3, S = 2, words = words_for(C);
  const auto w = tricky_values<float>(K * C * R * S, 5);
  std::vector<std::uint64_t> got(std::size_t(K * R * S * words), 0xdeadbeefdeadbeefull);
  cpu_k::pack_filter_signs(w.data(), K, C, R, S, got.data());
  std::int64_t bad = 0;
  for (std::int64_t k = 0; k < K; ++k)
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t s = 0; s < S; ++s)
        for (std::int64_t c = 0; c < words * 64; ++c) {
          const bool bit = got[std::size_t(((k * R + r) * S + s) * words + c / 64)] >> (c % 64) & 1;
          bad += bit != (c < C && w[std::size_t(((k * C + c) * R + r) * S + s)] < 0);
        }
  CHECK(bad == 0);
}

TEST_CASE("unpack_sign_rows returns the ±1 values, and packing them again gives the same words",
          "[kernels][bit_packing]") {
  const std::int64_t rows = 4, cols = 131;
  const auto x = tricky_values<double>(rows * cols, 3);
  std::vector<std::uint64_t> bits(std::size_t(rows * words_for(cols))), again(bits.size());
  cpu_k::pack_sign_rows(x.data(), rows, cols, bits.data());
  std::vector<float> pm(std::size_t(rows * cols));
  cpu_k::unpack_sign_rows(bits.data(), rows, cols, pm.data());
  for (std::size_t i = 0; i < pm.size(); ++i) REQUIRE(pm[i] == (x[i] < 0 ? -1.0f : 1.0f));
  cpu_k::pack_sign_rows(pm.data(), rows, cols, again.data());
  CHECK(again == bits);
}

TEST_CASE("simd popcount helpers count the bits of words, bytes and lanes", "[kernels][bit_packing][simd]") {
  std::mt19937_64 rng(11);
  auto slow = [](std::uint64_t v) {
    int n = 0;
    for (; v; v >>= 1) n += int(v & 1);
    return n;
  };
  using V = kernels::cpu::simd::vec<std::uint64_t, 32>;
  using W = kernels::cpu::simd::vec<std::uint64_t, 64>;
  for (int trial = 0; trial < 200; ++trial) {
    V v;
    W w;
    for (int l = 0; l < 4; ++l) v[l] = rng() & rng();
    for (int l = 0; l < 8; ++l) w[l] = trial % 2 ? rng() : ~std::uint64_t{0} >> (trial % 64);
    const V pv = kernels::cpu::simd::popcount_lanes(v);
    const W pw = kernels::cpu::simd::popcount_lanes(w);
    const auto bytes = kernels::cpu::simd::bitcast<kernels::cpu::simd::vec<std::uint8_t, 32>>(kernels::cpu::simd::popcount_bytes(v));
    for (int l = 0; l < 4; ++l) {
      REQUIRE(int(pv[l]) == slow(v[l]));
      REQUIRE(kernels::cpu::simd::popcount(v[l]) == slow(v[l]));
      for (int b = 0; b < 8; ++b) REQUIRE(int(bytes[l * 8 + b]) == slow(v[l] >> (8 * b) & 0xff));
    }
    for (int l = 0; l < 8; ++l) REQUIRE(int(pw[l]) == slow(w[l]));
  }
}
