// int16_gemm (kernels/cpu/int16_gemm.hpp) against a plain int64 reference with the documented
// rounding rules, bit for bit: every transpose, both roundings, ragged shapes, odd depths, biases,
// narrow saturation, depths past one cache slice, the spill path with extreme values (±32767,
// −32768) and the int64 path where a single pair overflows, shifts past 30 and huge biases (the
// int64 epilogue); the same bits on 1 and 2 threads; the fixed-point result against fp64 within
// the rounding bound; stochastic rounding unbiased, rounding up with the probability of the fraction.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <tuple>
#include <vector>

#include "strata/core/random.hpp"
#include "strata/kernels/cpu/int16_gemm.hpp"
#include "support/guards.hpp"
#include "support/int16_reference.hpp"
#include "support/testing.hpp"

using namespace strata;
using testing::random_int16;
using testing::round_reference;
using kernels::cpu::int16_gemm;
using kernels::cpu::int16_gemm_exact;
using kernels::cpu::requantize;

namespace {

std::vector<std::int32_t> random_int32(std::int64_t n, std::uint32_t seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(lo, hi);
  std::vector<std::int32_t> v(static_cast<std::size_t>(std::max<std::int64_t>(n, 1)));
  for (auto& e : v) e = u(rng);
  return v;
}

// A product's operands as stored: A is m×k (k×m when transposed), B k×n (n×k), with leading
// dimensions past the width so that strides are exercised.
struct problem {
  bool ta, tb;
  std::int64_t m, n, k, lda, ldb;
  std::vector<std::int16_t> A, B;
  std::int16_t a(std::int64_t i, std::int64_t kk) const { return A[std::size_t(ta ? kk * lda + i : i * lda + kk)]; }
  std::int16_t b(std::int64_t kk, std::int64_t j) const { return B[std::size_t(tb ? j * ldb + kk : kk * ldb + j)]; }
};

problem make_problem(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, std::uint32_t seed, int lo, int hi) {
  problem p{ta, tb, m, n, k, (ta ? m : k) + 3, (tb ? k : n) + 5, {}, {}};
  p.A = random_int16((ta ? k : m) * p.lda, seed, lo, hi);
  p.B = random_int16((tb ? n : k) * p.ldb, seed + 7, lo, hi);
  return p;
}

// The definition: exact sums in int64.
std::vector<std::int64_t> exact_reference(const problem& p) {
  std::vector<std::int64_t> s(std::size_t(p.m * p.n), 0);
  for (std::int64_t i = 0; i < p.m; ++i)
    for (std::int64_t kk = 0; kk < p.k; ++kk) {
      const std::int64_t a = p.a(i, kk);
      for (std::int64_t j = 0; j < p.n; ++j) s[std::size_t(i * p.n + j)] += a * p.b(kk, j);
    }
  return s;
}

std::vector<std::int16_t> rounded_reference(const problem& p, const requantize& q, const std::int32_t* rb,
                                            const std::int32_t* cb) {
  const auto s = exact_reference(p);
  std::vector<std::int16_t> c(s.size());
  for (std::int64_t i = 0; i < p.m; ++i)
    for (std::int64_t j = 0; j < p.n; ++j) {
      const std::int64_t bias = std::int64_t(rb ? rb[i] : 0) + (cb ? cb[j] : 0);
      c[std::size_t(i * p.n + j)] = round_reference(s[std::size_t(i * p.n + j)], std::uint64_t(i * p.n + j), q, bias);
    }
  return c;
}

constexpr std::int16_t untouched = 0x5a5a;

// int16_gemm into C with ldc = n + 2; checks the gap stays untouched and returns the m×n values.
std::vector<std::int16_t> run(const problem& p, const requantize& q, const std::int32_t* rb, const std::int32_t* cb) {
  const std::int64_t ldc = p.n + 2;
  std::vector<std::int16_t> c(std::size_t(std::max<std::int64_t>(p.m * ldc, 1)), untouched);
  int16_gemm(p.ta, p.tb, p.m, p.n, p.k, p.A.data(), p.lda, p.B.data(), p.ldb, c.data(), ldc, q, rb, cb);
  std::vector<std::int16_t> out(std::size_t(p.m * p.n));
  for (std::int64_t i = 0; i < p.m; ++i) {
    for (std::int64_t j = 0; j < p.n; ++j) out[std::size_t(i * p.n + j)] = c[std::size_t(i * ldc + j)];
    for (std::int64_t j = p.n; j < ldc; ++j) REQUIRE(c[std::size_t(i * ldc + j)] == untouched);
  }
  return out;
}

std::vector<std::int64_t> run_exact(const problem& p) {
  const std::int64_t ldc = p.n + 1;
  std::vector<std::int64_t> c(std::size_t(std::max<std::int64_t>(p.m * ldc, 1)), -7);
  int16_gemm_exact(p.ta, p.tb, p.m, p.n, p.k, p.A.data(), p.lda, p.B.data(), p.ldb, c.data(), ldc);
  std::vector<std::int64_t> out(std::size_t(p.m * p.n));
  for (std::int64_t i = 0; i < p.m; ++i) {
    for (std::int64_t j = 0; j < p.n; ++j) out[std::size_t(i * p.n + j)] = c[std::size_t(i * ldc + j)];
    REQUIRE(c[std::size_t(i * ldc + p.n)] == -7);
  }
  return out;
}

std::int64_t mismatches(const std::vector<std::int16_t>& got, const std::vector<std::int16_t>& want) {
  REQUIRE(got.size() == want.size());
  std::int64_t bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) bad += got[i] != want[i];
  return bad;
}

// Checks int16_gemm (both roundings, with and without biases) and int16_gemm_exact on one problem.
void check_problem(const problem& p, int shift, std::int32_t lo, std::int32_t hi, std::uint32_t seed) {
  const auto rb = random_int32(p.m, seed + 11, -300, 300), cb = random_int32(p.n, seed + 12, -300, 300);
  CHECK(run_exact(p) == exact_reference(p));
  for (bool stochastic : {false, true})
    for (int biases = 0; biases < 3; ++biases) {
      requantize q;
      q.shift = shift, q.stochastic = stochastic, q.seed = seed, q.stream = seed * 3 + 1, q.lo = lo, q.hi = hi;
      const std::int32_t* r = biases & 1 ? rb.data() : nullptr;
      const std::int32_t* c = biases >= 1 ? cb.data() : nullptr;
      INFO((p.ta ? "Aᵀ" : "A") << " · " << (p.tb ? "Bᵀ" : "B") << ": " << p.m << "×" << p.n << "×" << p.k << ", shift "
                                << shift << (stochastic ? ", stochastic" : ", nearest") << ", biases " << biases
                                << ", bounds [" << lo << ", " << hi << "]");
      CHECK(mismatches(run(p, q, r, c), rounded_reference(p, q, r, c)) == 0);
    }
}

}  // namespace

TEST_CASE("int16_gemm is bit-exact against int64 sums with both roundings, for every transpose and ragged shapes",
          "[kernels][int16_gemm]") {
  const std::int64_t sizes[] = {1, 2, 3, 5, 8, 9, 16, 17, 31, 33, 70};
  std::uint32_t seed = 1;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (std::int64_t m : sizes)
        for (std::int64_t n : {std::int64_t(1), std::int64_t(7), std::int64_t(32), std::int64_t(45)})
          for (std::int64_t k : {std::int64_t(1), std::int64_t(2), std::int64_t(15), std::int64_t(64)}) {
            const problem p = make_problem(ta, tb, m, n, k, seed, -3000, 3000);
            check_problem(p, 12, -32768, 32767, seed);
            ++seed;
          }
}

TEST_CASE("int16_gemm is bit-exact on larger products: depths past a cache slice, odd depths, many blocks",
          "[kernels][int16_gemm]") {
  using shape = std::tuple<std::int64_t, std::int64_t, std::int64_t>;
  std::uint32_t seed = 500;
  for (auto [m, n, k] : {shape{100, 300, 257}, shape{129, 65, 1001}, shape{37, 250, 1800}, shape{300, 40, 33}, shape{64, 64, 64}})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const problem p = make_problem(ta, tb, m, n, k, seed++, -1000, 1000);
        check_problem(p, 14, -32768, 32767, seed);
      }
}

TEST_CASE("int16_gemm saturates to narrow bounds after the biases (a fused ReLU, 8-bit and 4-bit ranges)",
          "[kernels][int16_gemm]") {
  std::uint32_t seed = 900;
  for (auto [lo, hi] : {std::pair<std::int32_t, std::int32_t>{0, 32767}, {-128, 127}, {-8, 7}, {0, 0}, {5, 9}})
    for (int shift : {0, 3, 9, 16, 17, 20, 30}) {
      const problem p = make_problem(false, true, 23, 41, 77, seed++, -2000, 2000);
      check_problem(p, shift, lo, hi, seed);
    }
}

TEST_CASE("int16_gemm with extreme values: chunks spilled into int64, and the int64 path for (−32768)² pairs",
          "[kernels][int16_gemm]") {
  std::uint32_t seed = 1300;
  // ±32767 and −32768 in one operand: one pair per int32 chunk; −32768 in both: a pair overflows.
  for (auto [alo, blo] : {std::pair<int, int>{-32767, -32767}, {-32768, -32767}, {-32767, -32768}, {-32768, -32768}})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (std::int64_t k : {std::int64_t(1), std::int64_t(2), std::int64_t(3), std::int64_t(300), std::int64_t(1201)}) {
          problem p = make_problem(ta, tb, 19, 35, k, seed++, 0, 1);
          // values at the extremes only, so the sums are as large as they can be
          std::mt19937 rng(seed);
          for (auto& v : p.A) v = std::int16_t(rng() % 2 ? 32767 : alo);
          for (auto& v : p.B) v = std::int16_t(rng() % 2 ? 32767 : blo);
          INFO("A ∈ {" << alo << ", 32767}, B ∈ {" << blo << ", 32767}, k " << k);
          CHECK(run_exact(p) == exact_reference(p));
          for (int shift : {24, 31, 40})
            for (bool stochastic : {false, true}) {
              requantize q;
              q.shift = shift, q.stochastic = stochastic, q.seed = seed, q.stream = 3;
              INFO("shift " << shift << (stochastic ? ", stochastic" : ", nearest"));
              CHECK(mismatches(run(p, q, nullptr, nullptr), rounded_reference(p, q, nullptr, nullptr)) == 0);
            }
        }
  // All equal extremes: the sums are exactly k·32767², k·32768² and so on.
  for (auto [a, b] : {std::pair<int, int>{32767, 32767}, {-32768, 32767}, {-32768, -32768}}) {
    const std::int64_t m = 9, n = 33, k = 4097;
    problem p{false, false, m, n, k, k, n, std::vector<std::int16_t>(std::size_t(m * k), std::int16_t(a)),
              std::vector<std::int16_t>(std::size_t(k * n), std::int16_t(b))};
    for (std::int64_t v : run_exact(p)) REQUIRE(v == k * std::int64_t(a) * b);
  }
}

TEST_CASE("int16_gemm rounds in int64 where the fused int32 store cannot: shifts past 30, huge biases",
          "[kernels][int16_gemm]") {
  std::uint32_t seed = 1700;
  const problem p = make_problem(true, false, 21, 50, 300, seed, -32767, 32767);
  for (int shift : {0, 1, 29, 30, 31, 33, 40})
    for (bool stochastic : {false, true}) {
      requantize q;
      q.shift = shift, q.stochastic = stochastic, q.seed = 99, q.stream = 5;
      const std::vector<std::int32_t> rb(21, 2147483000), cb(50, -2147483000);
      INFO("shift " << shift << (stochastic ? ", stochastic" : ", nearest"));
      CHECK(mismatches(run(p, q, nullptr, nullptr), rounded_reference(p, q, nullptr, nullptr)) == 0);
      CHECK(mismatches(run(p, q, rb.data(), cb.data()), rounded_reference(p, q, rb.data(), cb.data())) == 0);
    }
}

TEST_CASE("int16_gemm with no depth writes the saturated biases; empty products write nothing", "[kernels][int16_gemm]") {
  const std::vector<std::int16_t> none(1);
  const std::vector<std::int32_t> rb{-40000, 3, 100}, cb{1, 50000};
  std::vector<std::int16_t> c(6, untouched);
  requantize q;
  q.shift = 5, q.stochastic = true;
  int16_gemm(false, false, 3, 2, 0, none.data(), 1, none.data(), 2, c.data(), 2, q, rb.data(), cb.data());
  CHECK(c == std::vector<std::int16_t>{-32768, 10000, 4, 32767, 101, 32767});
  std::vector<std::int64_t> e(6, 9);
  int16_gemm_exact(false, false, 3, 2, 0, none.data(), 1, none.data(), 2, e.data(), 2);
  CHECK(e == std::vector<std::int64_t>(6, 0));
  int16_gemm(false, false, 0, 5, 4, none.data(), 4, none.data(), 5, c.data(), 5, q);
  int16_gemm(false, false, 3, 0, 4, none.data(), 4, none.data(), 1, c.data(), 1, q);
  CHECK(c[0] == -32768);
  q.shift = 41;
  CHECK_THROWS_AS(int16_gemm(false, false, 1, 1, 1, none.data(), 1, none.data(), 1, c.data(), 1, q), shape_error);
  q.shift = 0, q.lo = 5, q.hi = 4;
  CHECK_THROWS_AS(int16_gemm(false, false, 1, 1, 1, none.data(), 1, none.data(), 1, c.data(), 1, q), shape_error);
}

TEST_CASE("int16_gemm gives the same bits on 1 and 2 threads", "[kernels][int16_gemm][threads]") {
  const testing::parallel_threshold_guard everything_parallel(1);
  std::uint32_t seed = 2100;
  using shape = std::tuple<std::int64_t, std::int64_t, std::int64_t>;
  for (auto [m, n, k] : {shape{256, 256, 256}, shape{70, 333, 129}, shape{517, 17, 600}, shape{9, 9, 9}})
    for (bool stochastic : {false, true}) {
      const problem p = make_problem(false, false, m, n, k, seed++, -4000, 4000);
      requantize q;
      q.shift = 13, q.stochastic = stochastic, q.seed = 77, q.stream = 1;
      const auto rb = random_int32(m, seed, -99, 99);
      std::vector<std::int16_t> one, two;
      std::vector<std::int64_t> exact_one, exact_two;
      {
        const testing::thread_count_guard threads(1);
        one = run(p, q, rb.data(), nullptr);
        exact_one = run_exact(p);
      }
      {
        const testing::thread_count_guard threads(2);
        two = run(p, q, rb.data(), nullptr);
        exact_two = run_exact(p);
      }
      INFO(m << "×" << n << "×" << k << (stochastic ? ", stochastic" : ", nearest"));
      CHECK(one == two);
      CHECK(exact_one == exact_two);
      CHECK(mismatches(two, rounded_reference(p, q, rb.data(), nullptr)) == 0);
    }
}

TEST_CASE("int16_gemm as fixed point is within the rounding bound of the fp64 product", "[kernels][int16_gemm]") {
  // A in units of 2^-12, B of 2^-10, C of 2^-8: shift 14. Error ≤ 1/2 unit to nearest, < 1 unit stochastic.
  const int fa = 12, fb = 10, fc = 8;
  const problem p = make_problem(false, true, 45, 67, 201, 2500, -4096, 4096);  // |x| ≤ 1 and 4
  std::vector<double> want(std::size_t(p.m * p.n), 0.0);
  for (std::int64_t i = 0; i < p.m; ++i)
    for (std::int64_t j = 0; j < p.n; ++j) {
      double acc = 0;
      for (std::int64_t kk = 0; kk < p.k; ++kk) acc += std::ldexp(p.a(i, kk), -fa) * std::ldexp(p.b(kk, j), -fb);
      want[std::size_t(i * p.n + j)] = acc;
    }
  for (bool stochastic : {false, true}) {
    requantize q;
    q.shift = fa + fb - fc, q.stochastic = stochastic, q.seed = 4;
    const auto c = run(p, q, nullptr, nullptr);
    double worst = 0;
    for (std::size_t i = 0; i < c.size(); ++i) {
      REQUIRE(std::abs(want[i]) < 127.0);  // no saturation in this test
      worst = std::max(worst, std::abs(std::ldexp(c[i], -fc) - want[i]));
    }
    INFO((stochastic ? "stochastic" : "nearest") << ": worst error " << worst << " of a unit " << std::ldexp(1.0, -fc));
    if (stochastic) CHECK(worst < std::ldexp(1.0, -fc));
    else CHECK(worst <= std::ldexp(0.5, -fc));
  }
}

TEST_CASE("stochastic rounding is unbiased and rounds up with the probability of the fraction", "[kernels][int16_gemm]") {
  // Every element of a 128×128 product holds the same exact sum acc = a·b (k = 1); its 16384 elements
  // draw independent bits, and so do different streams.
  struct fraction {
    std::int16_t a, b;
    int shift;
    double value;  // acc / 2^shift
  };
  for (const fraction f : {fraction{1, 1, 2, 0.25}, fraction{5, 1, 3, 0.625}, fraction{-5, 1, 2, -1.25},
                           fraction{3, 7, 5, 21.0 / 32}, fraction{1, 1, 1, 0.5}, fraction{-1000, 13, 12, -13000.0 / 4096},
                           fraction{1, 3, 16, 3.0 / 65536}})
    for (std::uint64_t stream : {0, 1, 12345}) {
      const std::int64_t m = 128, n = 128;
      const std::vector<std::int16_t> A(std::size_t(m), f.a), B(std::size_t(n), f.b);
      std::vector<std::int16_t> c(std::size_t(m * n));
      requantize q;
      q.shift = f.shift, q.stochastic = true, q.seed = 2024, q.stream = stream;
      int16_gemm(false, false, m, n, 1, A.data(), 1, B.data(), n, c.data(), n, q);
      const double down = std::floor(f.value), p_up = f.value - down;
      double sum = 0;
      std::int64_t ups = 0;
      for (std::int16_t v : c) {
        REQUIRE((v == down || v == down + 1));
        sum += v;
        ups += v == down + 1;
      }
      const double N = double(c.size()), sigma = std::sqrt(p_up * (1 - p_up) / N);
      INFO("value " << f.value << ", stream " << stream << ": mean " << sum / N << ", rounded up " << double(ups) / N);
      CHECK(std::abs(sum / N - f.value) <= 5 * sigma + 1e-12);
      CHECK(std::abs(double(ups) / N - p_up) <= 5 * sigma + 1e-12);
    }
}

TEST_CASE("stochastic rounding draws different bits for different streams and seeds, the same for the same ones",
          "[kernels][int16_gemm]") {
  const problem p = make_problem(false, false, 33, 47, 20, 3100, -500, 500);
  requantize q;
  q.shift = 9, q.stochastic = true, q.seed = 1, q.stream = 2;
  const auto a = run(p, q, nullptr, nullptr), again = run(p, q, nullptr, nullptr);
  q.stream = 3;
  const auto b = run(p, q, nullptr, nullptr);
  q.stream = 2, q.seed = 8;
  const auto c = run(p, q, nullptr, nullptr);
  CHECK(a == again);
  CHECK(mismatches(a, b) > 0);
  CHECK(mismatches(a, c) > 0);
}
