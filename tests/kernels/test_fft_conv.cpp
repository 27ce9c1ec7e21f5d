// FFT convolution (strata's own transforms; FFTW's in a -DSTRATA_FFTW=ON build) against the fp64
// reference loops: forward, backward data and backward filter, fp32 and fp64, over kernel shapes
// (1×1 … 11×11, 1×3, 3×1), paddings (none, same, more than the kernel), odd planes, channel counts
// off the SIMD width, grids of every radix mix (2^a·3^b) and batches of 1 and 3; and the
// filter-spectrum cache (it follows the weights, however they were written).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "strata/kernels/cpu/fft_conv.hpp"
#include "strata/kernels/cpu/conv_direct.hpp"

using strata::kernels::conv_geometry;
namespace cpu = strata::kernels::cpu;

constexpr const float* no_bias = nullptr;

namespace {

// Uniform in ±[0.1, 1]: random, never zero, values exact in float so both precisions see the same data.
std::vector<double> random_values(std::int64_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> mag(0.1f, 1.0f);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (auto& e : v) e = double(gen() & 1 ? mag(gen) : -mag(gen));
  return v;
}

template <class T>
std::vector<T> as(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

template <class T>
double relative_error(const std::vector<T>& out, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = double(out[i]) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / den);
}

struct errors {
  double forward, data, filter, bias;
};

// All three passes in precision T against the fp64 reference on the same inputs.
template <class T>
errors run_case(const conv_geometry& g, std::int64_t N, std::uint32_t seed) {
  const auto x = random_values(N * g.input_elements(), seed);
  const auto w = random_values(g.weight_elements(), seed + 1);
  const auto b = random_values(g.K, seed + 2);
  const auto dy = random_values(N * g.output_elements(), seed + 3);

  std::vector<double> y_ref(std::size_t(N * g.output_elements())), dx_ref(x.size()), dw_ref(w.size()), db_ref(b.size());
  cpu::conv_direct_forward(g, N, x.data(), w.data(), b.data(), y_ref.data());
  cpu::conv_direct_backward_data(g, N, w.data(), dy.data(), dx_ref.data());
  cpu::conv_direct_backward_filter(g, N, x.data(), dy.data(), dw_ref.data(), db_ref.data());

  const auto xt = as<T>(x), wt = as<T>(w), bt = as<T>(b), dyt = as<T>(dy);
  std::vector<T> y(y_ref.size()), dx(dx_ref.size()), dw(dw_ref.size()), db(db_ref.size());
  cpu::filter_cache<T> cache;
  cpu::fft_conv_forward(g, N, xt.data(), wt.data(), bt.data(), y.data(), cache);
  cpu::fft_conv_backward_data(g, N, wt.data(), dyt.data(), dx.data(), cache);
  cpu::fft_conv_backward_filter(g, N, xt.data(), dyt.data(), dw.data(), db.data());
  return {relative_error(y, y_ref), relative_error(dx, dx_ref), relative_error(dw, dw_ref), relative_error(db, db_ref)};
}

conv_geometry geometry(std::int64_t C, std::int64_t H, std::int64_t W, std::int64_t K, std::int64_t R, std::int64_t S,
                       std::int64_t pad_y, std::int64_t pad_x) {
  conv_geometry g{C, H, W, K, R, S};
  g.pad_y = pad_y;
  g.pad_x = pad_x;
  return g;
}

double worst_fp32 = 0, worst_fp64 = 0;

}  // namespace

TEST_CASE("fft_conv: all passes match the fp64 reference", "[kernels][fft_conv]") {
  struct named {
    const char* name;
    conv_geometry g;
    std::int64_t N;
  };
  const named cases[] = {
      {"1x1 pad 0, 7x9, C=5", geometry(5, 7, 9, 4, 1, 1, 0, 0), 3},
      {"3x3 pad 1, 7x9, C=13", geometry(13, 7, 9, 6, 3, 3, 1, 1), 1},
      {"3x3 pad 1, 16x16, C=9 K=11", geometry(9, 16, 16, 11, 3, 3, 1, 1), 3},
      {"5x5 pad 2, 12x11, C=7", geometry(7, 12, 11, 5, 5, 5, 2, 2), 3},
      {"1x3 pad (0,1), 9x7", geometry(6, 9, 7, 5, 1, 3, 0, 1), 3},
      {"3x1 pad (1,0), 9x7", geometry(6, 9, 7, 5, 3, 1, 1, 0), 1},
      {"7x7 pad 0, 15x13", geometry(3, 15, 13, 5, 7, 7, 0, 0), 3},
      {"7x7 pad 3, 15x13", geometry(3, 15, 13, 5, 7, 7, 3, 3), 1},
      {"11x11 pad 5, 19x17, C=6", geometry(6, 19, 17, 4, 11, 11, 5, 5), 3},
      {"1x9 pad (0,4), 8x21", geometry(5, 8, 21, 3, 1, 9, 0, 4), 1},
      {"3x3 pad 4 (more than the kernel), 5x6", geometry(3, 5, 6, 2, 3, 3, 4, 4), 3},
      {"7x7 pad 3 on a 4x5 image (kernel larger than the image)", geometry(4, 4, 5, 3, 7, 7, 3, 3), 1},
      {"3x3 pad 1, 60x60, C=K=32 (filter spectra > 16 MB: streaming stores)", geometry(32, 60, 60, 32, 3, 3, 1, 1), 2},
      {"11x11 pad 5, 64x64 (the benchmark's 72x72 grid: radix 4, 2, 3, 3)", geometry(3, 64, 64, 2, 11, 11, 5, 5), 1},
      {"5x5 pad 2, 25x50 (grid 32x54: radix 2 only down, 2 and 3s across)", geometry(2, 25, 50, 3, 5, 5, 2, 2), 2},
      {"3x3 pad 0, 81x7 (grid 96x8)", geometry(2, 81, 7, 2, 3, 3, 0, 0), 1},
  };
  std::uint32_t seed = 100;
  for (const auto& c : cases) {
    REQUIRE(cpu::fft_conv_supports(c.g));
    const auto e32 = run_case<float>(c.g, c.N, seed);
    const auto e64 = run_case<double>(c.g, c.N, seed);
    seed += 10;
    std::printf("fft_conv %-55s N=%lld  fp32 fwd %.1e data %.1e filter %.1e | fp64 fwd %.1e data %.1e filter %.1e\n",
                c.name, static_cast<long long>(c.N), e32.forward, e32.data, e32.filter, e64.forward, e64.data,
                e64.filter);
    INFO(c.name);
    CHECK(e32.forward <= 1e-5);
    CHECK(e32.data <= 1e-5);
    CHECK(e32.filter <= 1e-5);
    CHECK(e32.bias <= 1e-6);
    CHECK(e64.forward <= 1e-12);
    CHECK(e64.data <= 1e-12);
    CHECK(e64.filter <= 1e-12);
    worst_fp32 = std::max({worst_fp32, e32.forward, e32.data, e32.filter});
    worst_fp64 = std::max({worst_fp64, e64.forward, e64.data, e64.filter});
  }
  std::printf("fft_conv worst relative error: fp32 %.2e, fp64 %.2e\n", worst_fp32, worst_fp64);
}

TEST_CASE("fft_conv: batches split into groups give the same results", "[kernels][fft_conv]") {
  // A tiny spectra budget forces one image per group: the products then run group by group, and
  // the filter gradient accumulates across groups in the frequency domain.
  auto& budget = cpu::fft::group_budget_bytes();
  const auto saved = budget.load();
  budget = 1;
  const auto g = geometry(5, 9, 8, 6, 5, 3, 2, 1);
  const auto e32 = run_case<float>(g, 3, 500);
  const auto e64 = run_case<double>(g, 3, 500);
  budget = saved;
  std::printf("fft_conv one image per group: fp32 fwd %.1e data %.1e filter %.1e | "
              "fp64 fwd %.1e data %.1e filter %.1e\n",
              e32.forward, e32.data, e32.filter, e64.forward, e64.data, e64.filter);
  CHECK(e32.forward <= 1e-5);
  CHECK(e32.data <= 1e-5);
  CHECK(e32.filter <= 1e-5);
  CHECK(e64.forward <= 1e-12);
  CHECK(e64.data <= 1e-12);
  CHECK(e64.filter <= 1e-12);
}

TEST_CASE("fft_conv: stride > 1 is not supported", "[kernels][fft_conv]") {
  auto g = geometry(3, 8, 8, 4, 3, 3, 1, 1);
  g.stride_y = g.stride_x = 2;
  CHECK_FALSE(cpu::fft_conv_supports(g));
  g.stride_y = 1;
  CHECK_FALSE(cpu::fft_conv_supports(g));
  g.stride_x = 1;
  CHECK(cpu::fft_conv_supports(g));
}

TEST_CASE("fft_conv: cached filter spectra follow the weights, however they were written", "[kernels][fft_conv]") {
  const auto g = geometry(4, 9, 10, 3, 5, 5, 2, 2);
  const std::int64_t N = 2;
  const auto x = as<float>(random_values(N * g.input_elements(), 7));
  auto w = as<float>(random_values(g.weight_elements(), 8));
  const auto w1 = w;
  const auto w2 = as<float>(random_values(g.weight_elements(), 9));
  std::vector<float> y1(std::size_t(N * g.output_elements())), y(y1.size()), y_ref(y1.size());
  cpu::filter_cache<float> cache;

  cpu::fft_conv_forward(g, N, x.data(), w.data(), no_bias, y1.data(), cache);
  cpu::fft_conv_forward(g, N, x.data(), w.data(), no_bias, y.data(), cache);  // unchanged: reused
  CHECK(y == y1);

  // The same buffer rewritten in place: recomputed from the new values.
  w = w2;
  cpu::fft_conv_forward(g, N, x.data(), w.data(), no_bias, y.data(), cache);
  cpu::conv_direct_forward(g, N, x.data(), w2.data(), no_bias, y_ref.data());
  std::vector<double> ref(y_ref.begin(), y_ref.end());
  CHECK(relative_error(y, ref) <= 1e-5);
  CHECK(y != y1);

  // Backward data shares the forward's transform, and it too follows the weights passed in.
  const auto dy = as<float>(random_values(N * g.output_elements(), 10));
  std::vector<float> dx(x.size()), dx_ref(x.size());
  cpu::fft_conv_backward_data(g, N, w1.data(), dy.data(), dx.data(), cache);
  cpu::conv_direct_backward_data(g, N, w1.data(), dy.data(), dx_ref.data());
  CHECK(relative_error(dx, std::vector<double>(dx_ref.begin(), dx_ref.end())) <= 1e-5);

  // Another geometry with the same weights is recomputed, not misread.
  auto g2 = g;
  g2.H = 12;
  const auto x2 = as<float>(random_values(N * g2.input_elements(), 11));
  std::vector<float> y2(std::size_t(N * g2.output_elements())), y2_ref(y2.size());
  cpu::fft_conv_forward(g2, N, x2.data(), w2.data(), no_bias, y2.data(), cache);
  cpu::conv_direct_forward(g2, N, x2.data(), w2.data(), no_bias, y2_ref.data());
  CHECK(relative_error(y2, std::vector<double>(y2_ref.begin(), y2_ref.end())) <= 1e-5);
}

TEST_CASE("fft_conv: an empty batch writes zero filter gradients", "[kernels][fft_conv]") {
  const auto g = geometry(2, 6, 6, 3, 3, 3, 1, 1);
  std::vector<float> dw(std::size_t(g.weight_elements()), 1.0f), db(std::size_t(g.K), 1.0f);
  cpu::fft_conv_backward_filter<float>(g, 0, nullptr, nullptr, dw.data(), db.data());
  for (float v : dw) CHECK(v == 0.0f);
  for (float v : db) CHECK(v == 0.0f);
}
