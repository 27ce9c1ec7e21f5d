// The fused 1×1 convolution of the inference path (kernels/cpu/pointwise_conv.hpp) and the clamp
// of packed_gemm it stores through: against an fp64 loop (conv + bias, then clamp) for odd K and
// C, pixel counts off the 16-column panels, strides 1, 2 and 2×1, batches 1 and 3, with and
// without bias, clamps [0, 6], [0, ∞) and none, depths past one 256-deep slice (the clamp on the
// last slice only); NaN and ∞ inputs as documented; the same bits on 1 and 2 threads.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

#include "strata/kernels/cpu/packed_gemm.hpp"
#include "strata/kernels/cpu/pointwise_conv.hpp"
#include "support/guards.hpp"
#include "support/testing.hpp"

using namespace strata;
using kernels::conv_geometry;

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

using testing::random_values;

// The definition in fp64: y[n][k][p][q] = clamp(b[k] + Σ_c w[k][c] · x[n][c][p·sy][q·sx], lo, hi).
template <class T>
std::vector<double> reference(const conv_geometry& g, std::int64_t N, const std::vector<T>& x, const std::vector<T>& w,
                              const T* b, double lo, double hi) {
  const std::int64_t P = g.P(), Q = g.Q();
  std::vector<double> y(static_cast<std::size_t>(N * g.K * P * Q));
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t k = 0; k < g.K; ++k)
      for (std::int64_t p = 0; p < P; ++p)
        for (std::int64_t q = 0; q < Q; ++q) {
          double acc = b ? double(b[k]) : 0.0;
          for (std::int64_t c = 0; c < g.C; ++c)
            acc += double(w[std::size_t(k * g.C + c)]) *
                   double(x[std::size_t(((n * g.C + c) * g.H + p * g.stride_y) * g.W + q * g.stride_x)]);
          y[std::size_t(((n * g.K + k) * P + p) * Q + q)] = testing::clamp_reference(acc, lo, hi);
        }
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

struct shape {
  std::int64_t C, H, W, K, sy, sx;
};

conv_geometry geometry_of(const shape& s) { return conv_geometry{s.C, s.H, s.W, s.K, 1, 1, s.sy, s.sx, 0, 0, 1}; }

template <class T>
std::vector<T> run(const conv_geometry& g, std::int64_t N, const std::vector<T>& x, const std::vector<T>& w,
                   const T* b, T lo, T hi) {
  std::vector<T> packed(static_cast<std::size_t>(kernels::cpu::pointwise_packed_size<T>(g.K, g.C)));
  kernels::cpu::pack_pointwise_weights<T>(g.K, g.C, w.data(), packed.data());
  std::vector<T> y(static_cast<std::size_t>(N * g.output_elements()), T(-12345));
  kernels::cpu::pointwise_conv_forward<T>(g, N, x.data(), packed.data(), b, lo, hi, y.data());
  return y;
}

template <class T>
void check_against_definition(const shape& s, std::int64_t N, bool bias, double lo, double hi, std::uint32_t seed) {
  const conv_geometry g = geometry_of(s);
  INFO((std::is_same_v<T, float> ? "float" : "double") << ": C " << s.C << ", " << s.H << "×" << s.W << " → K " << s.K
                                                       << ", stride " << s.sy << "×" << s.sx << ", N " << N
                                                       << (bias ? ", bias" : ", no bias") << ", clamp [" << lo << ", "
                                                       << hi << "]");
  const auto x = random_values<T>(N * g.input_elements(), seed);
  const auto w = random_values<T>(g.K * g.C, seed + 1);
  const auto b = random_values<T>(g.K, seed + 2, -2.0, 2.0);
  const auto y = run<T>(g, N, x, w, bias ? b.data() : nullptr, T(lo), T(hi));
  const auto want = reference(g, N, x, w, bias ? b.data() : nullptr, lo, hi);
  CHECK(scaled_error(y, want) <= tolerance<T>);
  if (lo > -inf || hi < inf)
    for (T v : y) {  // the clamp itself is exact
      REQUIRE(v >= T(lo));
      REQUIRE(v <= T(hi));
    }
}

const shape shapes[] = {
    {7, 5, 9, 13, 1, 1},       // 45 pixels: a partial panel; K and C odd
    {16, 8, 8, 96, 1, 1},      // whole panels and row blocks
    {300, 6, 6, 11, 1, 1},     // two depth slices
    {300, 11, 11, 11, 2, 2},   // stride 2: 6×6 outputs sampled from 11×11
    {19, 9, 11, 17, 2, 1},     // stride 2×1: 5×11 outputs
    {3, 7, 7, 1, 3, 3},        // one filter, stride 3
    {1152, 7, 7, 7, 1, 1},     // five slices (EfficientNet's last blocks)
    {300, 23, 23, 5, 1, 1},    // 34 panels: several column blocks per image
    {20, 10, 10, 260, 1, 1},   // more rows than one chunk of weights
    {40, 14, 14, 33, 2, 2},    // stride 2 with several panels
};

}  // namespace

TEST_CASE("packed_gemm clamps only the final value, bias on the first slice", "[kernels][packed_gemm]") {
#if defined(STRATA_PACKED_GEMM)
  using namespace kernels::cpu;
  for (auto [M, N, depth] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{13, 37, 300}, {6, 16, 100},
                             {5, 50, 256}, {19, 3, 600}, {7, 21, 0}})
    for (bool bias : {false, true})
      for (auto [lo, hi] : {std::pair<double, double>{-inf, inf}, {0.0, 6.0}, {0.0, inf}, {-1.5, 0.5}}) {
        INFO(M << "×" << N << ", depth " << depth << (bias ? ", bias" : "") << ", clamp [" << lo << ", " << hi << "]");
        const std::uint32_t seed = std::uint32_t(M * 1000 + N + depth);
        const auto a = random_values<float>(M * depth, seed), bm = random_values<float>(depth * N, seed + 1);
        const auto bv = random_values<float>(M, seed + 2, -2.0, 2.0);
        std::vector<float> ap(static_cast<std::size_t>(packed_rows(M) * depth));
        pack_a(M, depth, a.data(), depth, ap.data());
        const std::int64_t panels = (N + packed_nr - 1) / packed_nr;
        std::vector<float> bp(static_cast<std::size_t>(panels * depth * packed_nr), 0.0f);
        for (std::int64_t k = 0; k < depth; ++k)
          for (std::int64_t j = 0; j < N; ++j)
            bp[std::size_t((j / packed_nr * depth + k) * packed_nr + j % packed_nr)] = bm[std::size_t(k * N + j)];
        const std::int64_t ldc = N + 3;  // a leading dimension past the columns: the gap stays untouched
        std::vector<float> c(static_cast<std::size_t>(M * ldc), 7.0f);
        packed_gemm(M, N, depth, ap.data(), bp.data(), c.data(), ldc, bias ? bv.data() : nullptr, float(lo), float(hi));
        double worst = 0;
        for (std::int64_t m = 0; m < M; ++m) {
          for (std::int64_t j = 0; j < N; ++j) {
            double acc = bias ? bv[std::size_t(m)] : 0.0;
            for (std::int64_t k = 0; k < depth; ++k) acc += double(a[std::size_t(m * depth + k)]) * bm[std::size_t(k * N + j)];
            worst = std::max(worst, std::abs(c[std::size_t(m * ldc + j)] - testing::clamp_reference(acc, lo, hi)));
          }
          for (std::int64_t j = N; j < ldc; ++j) REQUIRE(c[std::size_t(m * ldc + j)] == 7.0f);
        }
        CHECK(worst <= 1e-5 * std::max(1.0, std::sqrt(double(depth))));
      }
  // A NaN in A or B stays NaN through any clamp; ±∞ is clamped like any other value.
  const std::int64_t M = 6, N = 16, depth = 300;
  std::vector<float> ap(static_cast<std::size_t>(M * depth), 0.5f), bp(static_cast<std::size_t>(N * depth), 1.0f);
  bp[std::size_t(280 * packed_nr + 3)] = std::numeric_limits<float>::quiet_NaN();  // column 3, in the last slice
  bp[std::size_t(10 * packed_nr + 5)] = std::numeric_limits<float>::infinity();    // column 5, in the first slice
  bp[std::size_t(290 * packed_nr + 6)] = -std::numeric_limits<float>::infinity();  // column 6
  std::vector<float> c(static_cast<std::size_t>(M * N));
  packed_gemm(M, N, depth, ap.data(), bp.data(), c.data(), N, nullptr, 0.0f, 6.0f);
  for (std::int64_t m = 0; m < M; ++m) {
    CHECK(std::isnan(c[std::size_t(m * N + 3)]));
    CHECK(c[std::size_t(m * N + 5)] == 6.0f);
    CHECK(c[std::size_t(m * N + 6)] == 0.0f);
    CHECK(c[std::size_t(m * N + 0)] == 6.0f);  // 150, clamped
  }
#else
  SUCCEED("no packed_gemm on this target");
#endif
}

TEST_CASE("pointwise_conv_forward matches conv + bias, then clamp, in float and double", "[kernels][pointwise_conv]") {
  std::uint32_t seed = 1;
  for (const shape& s : shapes)
    for (std::int64_t N : {1, 3})
      for (bool bias : {true, false})
        for (auto [lo, hi] : {std::pair<double, double>{0.0, 6.0}, {0.0, inf}, {-inf, inf}}) {
          check_against_definition<float>(s, N, bias, lo, hi, seed);
          check_against_definition<double>(s, N, bias, lo, hi, seed);
          seed += 3;
        }
}

TEST_CASE("pointwise_conv_forward with no input channels writes the clamped bias", "[kernels][pointwise_conv]") {
  const conv_geometry g{0, 4, 5, 3, 1, 1, 1, 1, 0, 0, 1};
  const std::vector<float> w, x;
  const std::vector<float> b{-1.0f, 2.5f, 9.0f};
  const auto y = run<float>(g, 2, x, w, b.data(), 0.0f, 6.0f);
  for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == std::vector<float>{0.0f, 2.5f, 6.0f}[i / 20 % 3]);
}

TEST_CASE("pointwise_conv_forward: a NaN input gives NaN at its pixel only, whatever the clamp; ∞ is clamped",
          "[kernels][pointwise_conv]") {
  auto check = [](auto zero) {
    using T = decltype(zero);
    for (const shape& s : {shape{300, 9, 9, 13, 1, 1}, shape{21, 11, 11, 7, 2, 2}})
      for (auto [lo, hi] : {std::pair<double, double>{0.0, 6.0}, {0.0, inf}, {-inf, inf}}) {
        const conv_geometry g = geometry_of(s);
        INFO((std::is_same_v<T, float> ? "float" : "double") << ": C " << s.C << ", stride " << s.sy << ", clamp [" << lo
                                                             << ", " << hi << "]");
        const std::int64_t N = 2;
        auto x = random_values<T>(N * g.input_elements(), 77);
        const auto w = random_values<T>(g.K * g.C, 78, 0.1, 1.0);  // positive: an ∞ input makes +∞
        const auto b = random_values<T>(g.K, 79);
        const std::int64_t HW = g.H * g.W;
        x[std::size_t((0 * g.C + 290 % g.C) * HW + 2 * g.stride_y * g.W)] = std::numeric_limits<T>::quiet_NaN();  // image 0, pixel (2, 0)
        x[std::size_t((1 * g.C + 5) * HW + 3 * g.stride_x)] = std::numeric_limits<T>::infinity();  // image 1, pixel (0, 3)
        const auto y = run<T>(g, N, x, w, b.data(), T(lo), T(hi));
        const auto want = reference(g, N, x, w, b.data(), lo, hi);
        CHECK(scaled_error(y, want) <= tolerance<T>);
        const std::int64_t PQ = g.P() * g.Q();
        for (std::int64_t k = 0; k < g.K; ++k) {
          CHECK(std::isnan(y[std::size_t(k * PQ + 2 * g.Q())]));
          CHECK(y[std::size_t((g.K + k) * PQ + 3)] == T(hi));
        }
        std::int64_t nans = 0;
        for (T v : y) nans += std::isnan(v);
        CHECK(nans == g.K);
      }
  };
  check(0.0f);
  check(0.0);
}

TEST_CASE("pointwise_conv_forward gives the same bits on 1 and 2 threads", "[kernels][pointwise_conv]") {
  const testing::parallel_threshold_guard everything_parallel(1);
  auto check = [](auto zero) {
    using T = decltype(zero);
    for (const shape& s : {shape{300, 23, 23, 5, 1, 1}, shape{1152, 7, 7, 19, 1, 1}, shape{24, 28, 28, 40, 1, 1},
                           shape{40, 14, 14, 33, 2, 2}})
      for (std::int64_t N : {1, 3}) {
        const conv_geometry g = geometry_of(s);
        INFO((std::is_same_v<T, float> ? "float" : "double") << ": C " << s.C << ", K " << s.K << ", N " << N);
        const auto x = random_values<T>(N * g.input_elements(), 5);
        const auto w = random_values<T>(g.K * g.C, 6);
        const auto b = random_values<T>(g.K, 7);
        std::vector<T> one, two;
        {
          const testing::thread_count_guard threads(1);
          one = run<T>(g, N, x, w, b.data(), T(0), T(6));
        }
        {
          const testing::thread_count_guard threads(2);
          two = run<T>(g, N, x, w, b.data(), T(0), T(6));
        }
        REQUIRE(one.size() == two.size());
        CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(T)) == 0);
        CHECK(scaled_error(two, reference(g, N, x, w, b.data(), 0.0, 6.0)) <= tolerance<T>);
      }
  };
  check(0.0f);
  check(0.0);
}
