// xnor_gemm (kernels/cpu/xnor_gemm.hpp) bit for bit against int ±1 dot products computed from
// int8 ±1 matrices in plain loops: depths that are not whole words (1, 63, 64, 65, 200, 1000) and
// depths past one depth slice, row and column counts that are not multiples of the tiles, both
// tiles (vector and scalar) wherever the build has both, a leading dimension past N, 1 and 2 threads;
// and xnor_gemm_signs (the products thresholded per column inside the tiles) against thresholding them.
#include <cstdint>
#include <random>
#include <vector>

#include "strata/kernels/cpu/bit_packing.hpp"
#include "strata/kernels/cpu/xnor_gemm.hpp"
#include "support/guards.hpp"
#include "support/testing.hpp"

using namespace strata;
using kernels::cpu::words_for;
using kernels::cpu::xnor_gemm;
namespace xd = kernels::cpu::xnor_detail;

namespace {

std::vector<std::int8_t> random_signs(std::int64_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::int8_t> v(std::size_t(std::max<std::int64_t>(n, 1)));
  for (auto& e : v) e = (rng() & 1) ? std::int8_t(-1) : std::int8_t(1);
  return v;
}

// The packing contract, written out independently of bit_packing.hpp: bit set for −1.
std::vector<std::uint64_t> pack(const std::vector<std::int8_t>& v, std::int64_t rows, std::int64_t cols) {
  const std::int64_t words = words_for(cols);
  std::vector<std::uint64_t> out(std::size_t(std::max<std::int64_t>(rows * words, 1)), 0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      if (v[std::size_t(r * cols + c)] < 0) out[std::size_t(r * words + c / 64)] |= std::uint64_t{1} << (c % 64);
  return out;
}

std::vector<std::int32_t> reference(const std::vector<std::int8_t>& a, const std::vector<std::int8_t>& b, std::int64_t m,
                                    std::int64_t n, std::int64_t k) {
  std::vector<std::int32_t> c(std::size_t(m * n), 0);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      std::int32_t s = 0;
      for (std::int64_t kk = 0; kk < k; ++kk) s += a[std::size_t(i * k + kk)] * b[std::size_t(j * k + kk)];
      c[std::size_t(i * n + j)] = s;
    }
  return c;
}

constexpr std::int32_t untouched = -77777;

// xnor_gemm with ldc = n + 3; checks the gap is untouched; returns the m × n values.
std::vector<std::int32_t> run(std::int64_t m, std::int64_t n, std::int64_t k, const std::vector<std::uint64_t>& A,
                              const std::vector<std::uint64_t>& B, xd::path p) {
  const std::int64_t ldc = n + 3;
  std::vector<std::int32_t> c(std::size_t(std::max<std::int64_t>(m * ldc, 1)), untouched);
  xnor_gemm(m, n, k, A.data(), B.data(), c.data(), ldc, p);
  std::vector<std::int32_t> out(std::size_t(m * n));
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) out[std::size_t(i * n + j)] = c[std::size_t(i * ldc + j)];
    for (std::int64_t j = n; j < ldc; ++j) REQUIRE(c[std::size_t(i * ldc + j)] == untouched);
  }
  return out;
}

// The sign words of c (m × n) under per-column thresholds and directions: bit j of row i set
// where (c < threshold[j]) XOR falling bit j; unused bits zero.
std::vector<std::uint64_t> signs_of(const std::vector<std::int32_t>& c, std::int64_t m, std::int64_t n,
                                    const std::vector<std::int32_t>& threshold, const std::vector<std::uint64_t>& falling) {
  const std::int64_t words = words_for(n);
  std::vector<std::uint64_t> out(std::size_t(std::max<std::int64_t>(m * words, 1)), 0);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      if ((c[std::size_t(i * n + j)] < threshold[std::size_t(j)]) != bool((falling[std::size_t(j / 64)] >> (j % 64)) & 1))
        out[std::size_t(i * words + j / 64)] |= std::uint64_t{1} << (j % 64);
  return out;
}

void check(std::int64_t m, std::int64_t n, std::int64_t k, std::uint32_t seed) {
  const auto a = random_signs(m * k, seed), b = random_signs(n * k, seed + 1000);
  const auto A = pack(a, m, k), B = pack(b, n, k);
  const auto want = reference(a, b, m, n, k);
  // Thresholds among the sums (a dot product of k ±1 values has k's parity) and past them.
  std::mt19937 rng(seed + 2000);
  std::vector<std::int32_t> threshold(std::size_t(std::max<std::int64_t>(n, 1)));
  std::vector<std::uint64_t> falling(std::size_t(std::max<std::int64_t>(words_for(n), 1)), 0);
  const std::int32_t spread = std::int32_t(std::min<std::int64_t>(k, 20)) + 1;
  for (std::int64_t j = 0; j < n; ++j) {
    threshold[std::size_t(j)] = std::int32_t(rng() % std::uint32_t(2 * spread + 1)) - spread;
    if (rng() & 1) falling[std::size_t(j / 64)] |= std::uint64_t{1} << (j % 64);
  }
  const auto want_signs = signs_of(want, m, n, threshold, falling);
  for (xd::path p : {xd::path::automatic, xd::path::vector, xd::path::scalar}) {
    INFO(m << "×" << n << "×" << k << " bits, path " << int(p));
    CHECK(run(m, n, k, A, B, p) == want);
    std::vector<std::uint64_t> signs(want_signs.size(), ~std::uint64_t{0});  // unused bits must be cleared
    kernels::cpu::xnor_gemm_signs(m, n, k, A.data(), B.data(), {threshold.data(), falling.data()}, signs.data(), p);
    CHECK(signs == want_signs);
  }
}

}  // namespace

TEST_CASE("xnor_gemm equals ±1 integer dot products for depths that are not whole words",
          "[kernels][xnor_gemm]") {
  std::uint32_t seed = 1;
  for (std::int64_t k : {1, 2, 63, 64, 65, 127, 200, 1000})
    for (std::int64_t m : {1, 2, 5, 6, 7, 13})
      for (std::int64_t n : {1, 3, 8, 9, 31, 32, 33, 70}) check(m, n, k, seed++);
}

TEST_CASE("xnor_gemm is exact on larger products: many row blocks, depths past one slice, ragged last slice",
          "[kernels][xnor_gemm]") {
  check(100, 65, 2304, 11);      // a 3×3×256 patch: 36 words
  check(61, 40, 64 * 300 + 17, 12);  // 301 words: slices of a run and a short last one
  check(200, 129, 1000, 13);
  check(3, 300, 64 * 1031, 14);  // past 1024 words: more than 64 runs of offsets
}

TEST_CASE("xnor_gemm gives the same values on 1 and 2 threads", "[kernels][xnor_gemm][threads]") {
  const std::int64_t m = 173, n = 97, k = 777;
  const auto a = random_signs(m * k, 21), b = random_signs(n * k, 22);
  const auto A = pack(a, m, k), B = pack(b, n, k);
  const auto want = reference(a, b, m, n, k);
  for (int threads : {1, 2}) {
    const testing::thread_count_guard guard(threads);
    INFO(threads << " threads");
    CHECK(run(m, n, k, A, B, xd::path::automatic) == want);
    CHECK(run(m, n, k, A, B, xd::path::scalar) == want);
    check(m, n, k, 23);  // and the sign bits
  }
}

TEST_CASE("xnor_gemm of depth 0 writes zeros, and rejects a leading dimension below N", "[kernels][xnor_gemm]") {
  std::vector<std::uint64_t> A(4), B(4);
  std::vector<std::int32_t> C(6, 5);
  xnor_gemm(2, 3, 0, A.data(), B.data(), C.data(), 3);
  CHECK(C == std::vector<std::int32_t>(6, 0));
  // Every sum 0: channel 0 (threshold 1) below it, channel 1 (0) not, channel 2 (1, falling) flipped.
  const std::vector<std::int32_t> threshold{1, 0, 1};
  const std::vector<std::uint64_t> falling{0b100};
  std::vector<std::uint64_t> signs(2, ~std::uint64_t{0});
  kernels::cpu::xnor_gemm_signs(2, 3, 0, A.data(), B.data(), {threshold.data(), falling.data()}, signs.data());
  CHECK(signs == std::vector<std::uint64_t>{0b001, 0b001});
  CHECK_THROWS_AS(xnor_gemm(2, 3, 10, A.data(), B.data(), C.data(), 2), shape_error);
}
