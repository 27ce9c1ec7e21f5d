// Convolutions on the GPU: every algorithm the GPU has (im2col + cuBLAS, 1×1 GEMM, Winograd
// F(2×2, 3×3) and F(4×4, 3×3), FFT, automatic) in all three passes against the CPU's fp64
// reference, in fp64, fp32 and fp16 where each exists; what automatic times and records; depthwise
// convolution against the CPU kernel.
#include <strata/cuda.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "strata/ops/conv2d.hpp"
#include "strata/ops/depthwise_conv2d.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::random_tensor;
using gpu = strata::cuda;  // (unqualified `cuda` may meet libcu++'s ::cuda namespace)
using kernels::conv_geometry;

namespace {

template <class T>
std::vector<double> to_doubles(const Tensor<T, 1, gpu>& t) {
  const auto h = to_host(t);
  std::vector<double> v(std::size_t(h.size()));
  for (std::int64_t i = 0; i < h.size(); ++i) v[std::size_t(i)] = double(precision_traits<T>::to_compute(h.data()[i]));
  return v;
}
template <class T>
Tensor<T, 1, gpu> device_copy_of(const Tensor<double, 1>& x) {
  Tensor<T, 1> h(x.shape());
  for (std::int64_t i = 0; i < x.size(); ++i) h(i) = T(x(i));
  return to_device(h);
}
double error_to_largest(const std::vector<double>& got, const Tensor<double, 1>& want) {
  return testing::error_relative_to_largest(got.data(), want.data(), got.size());
}

// Forward, backward data and backward filter of algorithm A in precision T on the GPU against
// the CPU's reference in fp64 (on the inputs rounded to T), relative to the largest output.
template <class A, class T>
void check_conv(const conv_geometry& g, std::int64_t n, double tolerance) {
  INFO(A::name << " " << precision_traits<T>::name << ": C" << g.C << " " << g.H << "×" << g.W << " K" << g.K << " " << g.R
               << "×" << g.S << " stride " << g.stride_y << " pad " << g.pad_y << ", batch " << n);
  auto round_to_T = [](Tensor<double, 1> t) {
    for (std::int64_t i = 0; i < t.size(); ++i) t(i) = double(precision_traits<T>::to_compute(T(t(i))));
    return t;
  };
  const auto x = round_to_T(random_tensor<double>(Shape<1>{n * g.input_elements()}, 1));
  const auto w = round_to_T(random_tensor<double>(Shape<1>{g.weight_elements()}, 2));
  const auto b = round_to_T(random_tensor<double>(Shape<1>{g.K}, 3));
  const auto dy = round_to_T(random_tensor<double>(Shape<1>{n * g.output_elements()}, 4));
  using ref = kernels::conv_kernel<algo::reference, strata::cpu, double>;
  kernels::conv_state<strata::cpu, double> cpu_state;
  Tensor<double, 1> y(n * g.output_elements()), dx(n * g.input_elements()), dw(g.weight_elements()), db(g.K);
  ref::forward(g, n, x.data(), w.data(), b.data(), y.data(), cpu_state);
  ref::backward_data(g, n, w.data(), dy.data(), dx.data(), cpu_state);
  ref::backward_filter(g, n, x.data(), dy.data(), dw.data(), db.data(), cpu_state);

  const auto gx = device_copy_of<T>(x), gw = device_copy_of<T>(w), gb = device_copy_of<T>(b), gdy = device_copy_of<T>(dy);
  Tensor<T, 1, gpu> gy(y.shape()), gdx(dx.shape()), gdw(dw.shape()), gdb(db.shape());
  kernels::conv_state<gpu, T> state;
  ops::conv2d_forward(gpu{}, A{}, g, n, gx.data(), gw.data(), gb.data(), gy.data(), state);
  ops::conv2d_backward_data(gpu{}, A{}, g, n, gw.data(), gdy.data(), gdx.data(), state);
  ops::conv2d_backward_filter(gpu{}, A{}, g, n, gx.data(), gdy.data(), gdw.data(), gdb.data(), state);
  CHECK(error_to_largest(to_doubles(gy), y) < tolerance);
  CHECK(error_to_largest(to_doubles(gdx), dx) < tolerance);
  CHECK(error_to_largest(to_doubles(gdw), dw) < tolerance);
  CHECK(error_to_largest(to_doubles(gdb), db) < tolerance);
}

const conv_geometry conv_shapes[] = {
    {3, 28, 28, 32, 5, 5, 1, 1, 2, 2},    // the demo network's first layer
    {32, 14, 14, 64, 3, 3, 1, 1, 1, 1},   // 3×3 same
    {16, 15, 13, 24, 3, 3, 2, 2, 1, 1},   // strided, odd sizes
    {5, 9, 7, 6, 3, 2, 2, 1, 1, 0},       // non-square filter, mixed strides and padding
    {64, 8, 8, 32, 1, 1, 1, 1, 0, 0},     // 1×1
    {24, 9, 9, 16, 1, 1, 2, 2, 0, 0},     // strided 1×1
    {8, 16, 16, 12, 7, 7, 1, 1, 3, 3},    // 7×7 same (FFT's shape)
    {6, 10, 12, 5, 3, 3, 1, 1, 0, 2},     // Winograd with padding 0 and 2, partial F(4×4) tiles
};

}  // namespace

TEST_CASE("GPU convolutions equal the CPU reference in every pass (fp64, fp32, fp16)", "[cuda][conv]") {
  for (const auto& g : conv_shapes) {
    // fp64: sums of a few hundred products, u = 1.1e-16; fp32: u = 6e-8 (cuBLAS may use TF32 only
    // if asked: strata's handle keeps the default math mode); fp16: inputs and outputs in half.
    check_conv<algo::im2col, double>(g, 3, 1e-12);
    check_conv<algo::im2col, float>(g, 3, 1e-5);
    check_conv<algo::automatic, float>(g, 5, 5e-5);  // whichever it picks: the loosest candidate's bound
    check_conv<algo::im2col, strata::half>(g, 3, 4e-3);
    if (algo::winograd<2>::supports(g)) {  // F(2×2, 3×3): the transforms add a few roundings
      check_conv<algo::winograd<2>, double>(g, 3, 1e-12);
      check_conv<algo::winograd<2>, float>(g, 3, 2e-5);
      check_conv<algo::winograd<2>, strata::half>(g, 3, 1e-2);
      // F(4×4, 3×3): entries up to 8 in Aᵀ and Bᵀ and sixths in G (CPU fp32 measured 2.4e-6 at C = 128)
      check_conv<algo::winograd<4>, double>(g, 3, 1e-11);
      check_conv<algo::winograd<4>, float>(g, 3, 5e-5);
    }
    if (algo::fft::supports(g)) {  // cuFFT's rounding grows with log(grid size)
      check_conv<algo::fft, double>(g, 3, 1e-11);
      check_conv<algo::fft, float>(g, 3, 2e-5);
    }
    if (algo::gemm_1x1::supports(g)) {
      check_conv<algo::gemm_1x1, double>(g, 3, 1e-12);
      check_conv<algo::gemm_1x1, float>(g, 3, 1e-5);
      check_conv<algo::gemm_1x1, strata::half>(g, 3, 4e-3);
    }
  }
}

TEST_CASE("the GPU's automatic choice is recorded with its timings", "[cuda][conv]") {
  const conv_geometry g{64, 8, 8, 48, 1, 1, 1, 1, 0, 0};
  check_conv<algo::automatic, float>(g, 7, 1e-5);
  bool found = false;
  for (const auto& c : conv_choices())
    if (c.geometry == g && c.batch == 7 && c.precision == std::string("fp32") && c.pass == algo::conv_pass::forward) {
      found = true;
      CHECK((c.algorithm == "im2col" || c.algorithm == "gemm_1x1"));
      CHECK(c.milliseconds.size() == 2);
    }
  CHECK(found);
}

TEST_CASE("the GPU's automatic times Winograd F(2×2), F(4×4) and FFT for 3×3 in fp32, not F(4×4) or FFT in fp16",
          "[cuda][conv]") {
  const conv_geometry g{16, 12, 12, 16, 3, 3, 1, 1, 1, 1};
  check_conv<algo::automatic, float>(g, 6, 5e-5);
  check_conv<algo::automatic, strata::half>(g, 6, 1e-2);
  int seen = 0;
  for (const auto& c : conv_choices()) {
    if (!(c.geometry == g && c.batch == 6 && c.pass == algo::conv_pass::forward)) continue;
    std::vector<std::string> timed;
    for (const auto& [name, ms] : c.milliseconds) timed.push_back(name);
    INFO(c.precision << " chose " << c.algorithm);
    if (c.precision == std::string("fp32")) {
      ++seen;
      CHECK(timed == std::vector<std::string>{"im2col", "winograd<2>", "winograd<4>", "fft"});
    } else if (c.precision == std::string("fp16")) {
      ++seen;
      CHECK(timed == std::vector<std::string>{"im2col", "winograd<2>"});
    }
  }
  CHECK(seen == 2);
}

TEST_CASE("GPU depthwise convolution equals the CPU kernel", "[cuda][conv]") {
  const conv_geometry shapes[] = {{32, 14, 14, 32, 3, 3, 1, 1, 1, 1, 32}, {16, 15, 11, 16, 5, 3, 2, 1, 2, 1, 16}};
  const std::int64_t n = 4;
  for (const auto& g : shapes) {
    const auto x = random_tensor<float>(Shape<1>{n * g.input_elements()}, 31);
    const auto w = random_tensor<float>(Shape<1>{g.C * g.R * g.S}, 32);
    const auto b = random_tensor<float>(Shape<1>{g.C}, 33);
    const auto dy = random_tensor<float>(Shape<1>{n * g.output_elements()}, 34);
    Tensor<float, 1> y(dy.shape()), dx(x.shape()), dw(w.shape()), db(b.shape());
    ops::depthwise_conv2d_forward(strata::cpu{}, g, n, x.data(), w.data(), b.data(), y.data(), 0.f, 6.f);
    ops::depthwise_conv2d_backward_data(strata::cpu{}, g, n, w.data(), dy.data(), dx.data());
    ops::depthwise_conv2d_backward_filter(strata::cpu{}, g, n, x.data(), dy.data(), dw.data(), db.data());
    const auto gx = to_device(x), gw = to_device(w), gb = to_device(b), gdy = to_device(dy);
    Tensor<float, 1, gpu> gy(y.shape()), gdx(dx.shape()), gdw(dw.shape()), gdb(db.shape());
    ops::depthwise_conv2d_forward(gpu{}, g, n, gx.data(), gw.data(), gb.data(), gy.data(), 0.f, 6.f);
    ops::depthwise_conv2d_backward_data(gpu{}, g, n, gw.data(), gdy.data(), gdx.data());
    ops::depthwise_conv2d_backward_filter(gpu{}, g, n, gx.data(), gdy.data(), gdw.data(), gdb.data());
    const auto close = [](const Tensor<float, 1, gpu>& got, const Tensor<float, 1>& want) {
      const auto h = to_host(got);
      return testing::error_relative_to_largest(h.data(), want.data(), std::size_t(want.size()));
    };
    CHECK(close(gy, y) < 1e-5);
    CHECK(close(gdx, dx) < 1e-5);
    CHECK(close(gdw, dw) < 1e-5);
    CHECK(close(gdb, db) < 1e-5);
  }
}
