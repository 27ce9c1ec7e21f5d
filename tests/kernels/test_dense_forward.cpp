// The fused dense layer of the inference path (kernels/cpu/dense_forward.hpp): against an fp64
// loop (x·Wᵀ + b, then clamp) for batches on and off the 6-row blocks (1, 2, 5, 6, 7, 32, 33),
// outputs on and off the 16-column panels (1, 10, 17, 47, 1000, 1024), depths past one 256-deep
// slice (the clamp on the last slice only) up to 3137, with and without bias, clamps [0, 6],
// [0, ∞) and none; NaN and ∞ inputs as documented; the same bits on 1 and 2 threads; the ops/
// wrappers.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/kernels/cpu/dense_forward.hpp"
#include "strata/ops/inference.hpp"
#include "support/guards.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

using testing::random_values;

// The definition in fp64, before bias and clamp: s[n][k] = Σ_c x[n][c] · w[k][c].
template <class T>
std::vector<double> products(std::int64_t N, std::int64_t C, std::int64_t K, const std::vector<T>& x, const std::vector<T>& w) {
  std::vector<double> s(static_cast<std::size_t>(N * K));
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t k = 0; k < K; ++k) {
      double acc = 0;
      for (std::int64_t c = 0; c < C; ++c) acc += double(x[std::size_t(n * C + c)]) * double(w[std::size_t(k * C + c)]);
      s[std::size_t(n * K + k)] = acc;
    }
  return s;
}

// y[n][k] = clamp(s[n][k] + b[k], lo, hi).
template <class T>
std::vector<double> epilogue(const std::vector<double>& s, std::int64_t K, const T* b, double lo, double hi) {
  std::vector<double> y(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) y[i] = testing::clamp_reference(s[i] + (b ? double(b[i % std::size_t(K)]) : 0.0), lo, hi);
  return y;
}

// max |got − want| / max(1, max |want|), NaN-aware (a NaN or ∞ on one side only: +∞).
template <class T>
double scaled_error(const std::vector<T>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  double scale = 1, worst = 0;
  for (double v : want)
    if (std::isfinite(v)) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < want.size(); ++i) worst = testing::worse_of(worst, testing::abs_error(double(got[i]), want[i]));
  return worst / scale;
}

template <class T>
constexpr double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-12;

template <class T>
const char* type_name() {
  return std::is_same_v<T, float> ? "float" : "double";
}

template <class T>
std::vector<T> packed_weights(std::int64_t C, std::int64_t K, const std::vector<T>& w) {
  std::vector<T> packed(static_cast<std::size_t>(kernels::cpu::dense_packed_size<T>(K, C)));
  kernels::cpu::pack_dense_weights<T>(K, C, w.data(), packed.data());
  return packed;
}

template <class T>
std::vector<T> run(std::int64_t N, std::int64_t C, std::int64_t K, const std::vector<T>& x, const std::vector<T>& packed,
                   const T* b, T lo, T hi) {
  std::vector<T> y(static_cast<std::size_t>(N * K), T(-12345));
  kernels::cpu::dense_forward<T>(N, C, K, x.data(), packed.data(), b, lo, hi, y.data());
  return y;
}

struct shape {
  std::int64_t C, K;
};

const shape shapes[] = {
    {1, 17},       // one input
    {37, 1},       // one output: a partial panel of 1 column
    {301, 10},     // two depth slices, one partial panel
    {259, 47},     // three panels, the last partial (an odd one out of the 512-bit pairs)
    {3137, 17},    // thirteen slices, a panel and one column
    {515, 1000},   // 63 panels, the last one half full
    {3136, 1024},  // FashionNet's hidden layer: whole panels, 13 slices
};

const std::int64_t batches[] = {1, 2, 5, 6, 7, 32, 33};

const std::pair<double, double> clamps[] = {{0.0, 6.0}, {0.0, inf}, {-inf, inf}};

template <class T>
void check_against_definition(std::uint32_t& seed) {
  for (const shape& s : shapes) {
    const auto w = random_values<T>(s.K * s.C, seed++);
    const auto b = random_values<T>(s.K, seed++, -2.0, 2.0);
    const auto packed = packed_weights<T>(s.C, s.K, w);
    for (std::int64_t N : batches) {
      const auto x = random_values<T>(N * s.C, seed++);
      const auto sums = products(N, s.C, s.K, x, w);
      for (bool bias : {true, false})
        for (auto [lo, hi] : clamps) {
          INFO(type_name<T>() << ": C " << s.C << " → K " << s.K << ", N " << N << (bias ? ", bias" : ", no bias")
                              << ", clamp [" << lo << ", " << hi << "]");
          const T* bp = bias ? b.data() : nullptr;
          const auto y = run<T>(N, s.C, s.K, x, packed, bp, T(lo), T(hi));
          CHECK(scaled_error(y, epilogue(sums, s.K, bp, lo, hi)) <= tolerance<T>);
          if (lo > -inf || hi < inf)
            for (T v : y) {  // the clamp itself is exact
              REQUIRE(v >= T(lo));
              REQUIRE(v <= T(hi));
            }
        }
    }
  }
}

}  // namespace

TEST_CASE("dense_forward matches x·Wᵀ + b, then clamp, in float and double", "[kernels][dense_forward]") {
  std::uint32_t seed = 1;
  check_against_definition<float>(seed);
  check_against_definition<double>(seed);
}

TEST_CASE("dense_forward with no inputs writes the clamped bias", "[kernels][dense_forward]") {
  const std::vector<float> w, x;
  const std::vector<float> b{-1.0f, 2.5f, 9.0f};
  const auto y = run<float>(2, 0, 3, x, packed_weights<float>(0, 3, w), b.data(), 0.0f, 6.0f);
  CHECK(y == std::vector<float>{0.0f, 2.5f, 6.0f, 0.0f, 2.5f, 6.0f});
  const auto z = run<float>(1, 0, 3, x, packed_weights<float>(0, 3, w), nullptr, -inf, inf);
  CHECK(z == std::vector<float>{0.0f, 0.0f, 0.0f});
}

TEST_CASE("dense_forward: a NaN input gives NaN in its row only, whatever the clamp; ∞ is clamped",
          "[kernels][dense_forward]") {
  auto check = [](auto zero) {
    using T = decltype(zero);
    for (const shape& s : {shape{3137, 17}, shape{301, 1000}, shape{21, 7}})
      for (std::int64_t N : {1, 7, 32})
        for (auto [lo, hi] : clamps) {
          INFO(type_name<T>() << ": C " << s.C << " → K " << s.K << ", N " << N << ", clamp [" << lo << ", " << hi << "]");
          auto x = random_values<T>(N * s.C, 77);
          const auto w = random_values<T>(s.K * s.C, 78, 0.1, 1.0);  // positive: an ∞ input makes +∞
          const auto b = random_values<T>(s.K, 79);
          const std::int64_t nan_row = N / 2, inf_row = N - 1;
          x[std::size_t(nan_row * s.C + (s.C - 3))] = std::numeric_limits<T>::quiet_NaN();  // in the last slice
          if (inf_row != nan_row) x[std::size_t(inf_row * s.C + 5)] = std::numeric_limits<T>::infinity();
          const auto y = run<T>(N, s.C, s.K, x, packed_weights<T>(s.C, s.K, w), b.data(), T(lo), T(hi));
          CHECK(scaled_error(y, epilogue(products(N, s.C, s.K, x, w), s.K, b.data(), lo, hi)) <= tolerance<T>);
          for (std::int64_t k = 0; k < s.K; ++k) {
            CHECK(std::isnan(y[std::size_t(nan_row * s.K + k)]));
            if (inf_row != nan_row) CHECK(y[std::size_t(inf_row * s.K + k)] == T(hi));
          }
          std::int64_t nans = 0;
          for (T v : y) nans += std::isnan(v);
          CHECK(nans == s.K);
        }
  };
  check(0.0f);
  check(0.0);
}

TEST_CASE("dense_forward gives the same bits on 1 and 2 threads", "[kernels][dense_forward]") {
  const testing::parallel_threshold_guard everything_parallel(1);
  auto check = [](auto zero) {
    using T = decltype(zero);
    for (const shape& s : {shape{3136, 1024}, shape{1280, 1000}, shape{301, 17}, shape{259, 47}, shape{1024, 10}})
      for (std::int64_t N : {1, 7, 32}) {
        INFO(type_name<T>() << ": C " << s.C << " → K " << s.K << ", N " << N);
        const auto x = random_values<T>(N * s.C, 5);
        const auto w = random_values<T>(s.K * s.C, 6);
        const auto b = random_values<T>(s.K, 7);
        const auto packed = packed_weights<T>(s.C, s.K, w);
        std::vector<T> one, two;
        {
          const testing::thread_count_guard threads(1);
          one = run<T>(N, s.C, s.K, x, packed, b.data(), T(0), T(6));
        }
        {
          const testing::thread_count_guard threads(2);
          two = run<T>(N, s.C, s.K, x, packed, b.data(), T(0), T(6));
        }
        REQUIRE(one.size() == two.size());
        CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(T)) == 0);
        CHECK(scaled_error(two, epilogue(products(N, s.C, s.K, x, w), s.K, b.data(), 0.0, 6.0)) <= tolerance<T>);
      }
  };
  check(0.0f);
  check(0.0);
}

TEST_CASE("ops::dense_forward runs the CPU kernel on weights packed through ops::", "[kernels][dense_forward][ops]") {
  auto check = [](auto zero) {
    using T = decltype(zero);
    const std::int64_t N = 5, C = 301, K = 19;
    INFO(type_name<T>());
    const auto x = random_values<T>(N * C, 11);
    const auto w = random_values<T>(K * C, 12);
    const auto b = random_values<T>(K, 13);
    std::vector<T> packed(static_cast<std::size_t>(ops::dense_packed_size<T>(cpu{}, K, C)));
    CHECK(packed.size() == static_cast<std::size_t>(kernels::cpu::dense_packed_size<T>(K, C)));
    ops::pack_dense_weights(cpu{}, K, C, w.data(), packed.data());
    std::vector<T> y(static_cast<std::size_t>(N * K));
    ops::dense_forward(cpu{}, N, C, K, x.data(), packed.data(), b.data(), y.data(), T(0), T(inf));
    CHECK(scaled_error(y, epilogue(products(N, C, K, x, w), K, b.data(), 0.0, inf)) <= tolerance<T>);
  };
  check(0.0f);
  check(0.0);
}
