// The GPU's layer kernels run on the CPU: the convolution passes (kernels/cuda/conv_passes.hpp:
// chunking, strides and leading dimensions of every GEMM, im2col, col2im, bias and its gradient)
// over a plain GEMM and the grid emulator, against the CPU's reference convolution in fp64; the
// pooling, dropout and softmax cross-entropy bodies against the CPU kernels, bit for bit (average
// pooling's gradient to rounding). Grids
// are small (a few blocks of 64 threads), so every grid-stride loop strides. What only a GPU can
// check: cuBLAS itself, concurrency, coalescing and speed.
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "strata/core/tensor.hpp"
#include "strata/device/cuda/grid.hpp"
#include "strata/kernels/cpu/conv_algorithms.hpp"
#include "strata/kernels/cpu/depthwise_conv.hpp"
#include "strata/kernels/cpu/dropout.hpp"
#include "strata/kernels/cpu/pooling.hpp"
#include "strata/kernels/cuda/conv_passes.hpp"
#include "strata/kernels/cuda/dropout_body.hpp"
#include "strata/kernels/cuda/pool_body.hpp"
#include "strata/kernels/cuda/softmax_cross_entropy_body.hpp"
#include "strata/layers/softmax_cross_entropy.hpp"
#include "support/testing.hpp"

using namespace strata;
using kernels::conv_geometry;
using kernels::pool_geometry;
namespace body = strata::kernels::cuda_body;
using strata::testing::random_tensor;

namespace {

// The conv passes' backend on the CPU: NaN-filled workspaces (a read before a write shows),
// launches emulated on a grid of at most `max_blocks` blocks of 64 threads, and a row-major GEMM
// of the same contract as the cuBLAS one (accumulating in double).
struct emulated_backend {
  std::int64_t max_blocks = 3;
  int launches = 0;

  template <class T>
  static std::vector<T> workspace(std::int64_t n) {
    return std::vector<T>(std::size_t(n), std::numeric_limits<T>::quiet_NaN());
  }
  template <class T>
  static void fill_zero(T* p, std::int64_t n) {
    std::fill(p, p + n, T(0));
  }
  template <class Body>
  void launch(std::int64_t items, const Body& b, const char*) {
    ++launches;
    cuda_grid::emulate(cuda_grid::blocks_for(items, 64, max_blocks), {64, 1, 1}, b);
  }
  template <class T>
  static void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda,
                   std::int64_t stride_a, const T* b, std::int64_t ldb, std::int64_t stride_b, T* c, std::int64_t ldc,
                   std::int64_t stride_c, std::int64_t batch) {
    for (std::int64_t i = 0; i < batch; ++i)
      for (std::int64_t r = 0; r < m; ++r)
        for (std::int64_t col = 0; col < n; ++col) {
          double sum = 0;
          for (std::int64_t j = 0; j < k; ++j) {
            const T av = ta ? a[i * stride_a + j * lda + r] : a[i * stride_a + r * lda + j];
            const T bv = tb ? b[i * stride_b + col * ldb + j] : b[i * stride_b + j * ldb + col];
            sum += double(av) * double(bv);
          }
          c[i * stride_c + r * ldc + col] = T(sum);
        }
  }
  // The complex GEMM of the FFT passes, on interleaved (re, im) pairs.
  template <class T>
  static void complex_gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda,
                           std::int64_t stride_a, const T* b, std::int64_t ldb, std::int64_t stride_b, T* c,
                           std::int64_t ldc, std::int64_t stride_c, std::int64_t batch) {
    using z = std::complex<double>;
    const auto at = [](const T* p, std::int64_t i) { return z(double(p[2 * i]), double(p[2 * i + 1])); };
    for (std::int64_t i = 0; i < batch; ++i)
      for (std::int64_t r = 0; r < m; ++r)
        for (std::int64_t col = 0; col < n; ++col) {
          z sum = 0;
          for (std::int64_t j = 0; j < k; ++j)
            sum += at(a, i * stride_a + (ta ? j * lda + r : r * lda + j)) * at(b, i * stride_b + (tb ? col * ldb + j : j * ldb + col));
          c[2 * (i * stride_c + r * ldc + col)] = T(sum.real());
          c[2 * (i * stride_c + r * ldc + col) + 1] = T(sum.imag());
        }
  }
  // cuFFT's R2C and C2R (unnormalised) by the definition of the DFT, in double.
  template <class T>
  static void rfft2(std::int64_t planes, std::int64_t h, std::int64_t w, const T* x, T* spectra) {
    const std::int64_t half = w / 2 + 1;
    for (std::int64_t p = 0; p < planes; ++p)
      for (std::int64_t u = 0; u < h; ++u)
        for (std::int64_t v = 0; v < half; ++v) {
          std::complex<double> sum = 0;
          for (std::int64_t i = 0; i < h; ++i)
            for (std::int64_t j = 0; j < w; ++j)
              sum += double(x[(p * h + i) * w + j]) * std::polar(1.0, -2 * M_PI * (double(u * i) / h + double(v * j) / w));
          spectra[2 * ((p * h + u) * half + v)] = T(sum.real());
          spectra[2 * ((p * h + u) * half + v) + 1] = T(sum.imag());
        }
  }
  template <class T>
  static void irfft2(std::int64_t planes, std::int64_t h, std::int64_t w, T* spectra, T* x) {
    const std::int64_t half = w / 2 + 1;
    for (std::int64_t p = 0; p < planes; ++p) {
      const auto bin = [&](std::int64_t u, std::int64_t v) {  // the full spectrum by Hermitian symmetry
        if (v < half) return std::complex<double>(spectra[2 * ((p * h + u) * half + v)], spectra[2 * ((p * h + u) * half + v) + 1]);
        const std::int64_t cu = (h - u) % h, cv = w - v;
        return std::conj(std::complex<double>(spectra[2 * ((p * h + cu) * half + cv)], spectra[2 * ((p * h + cu) * half + cv) + 1]));
      };
      for (std::int64_t i = 0; i < h; ++i)
        for (std::int64_t j = 0; j < w; ++j) {
          double sum = 0;
          for (std::int64_t u = 0; u < h; ++u)
            for (std::int64_t v = 0; v < w; ++v)
              sum += (bin(u, v) * std::polar(1.0, 2 * M_PI * (double(u * i) / h + double(v * j) / w))).real();
          x[(p * h + i) * w + j] = T(sum);
        }
    }
    std::fill(spectra, spectra + 2 * planes * h * half, std::numeric_limits<T>::quiet_NaN());  // C2R may overwrite its input
  }
};

double relative_error(const std::vector<double>& got, const double* want) {
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, std::abs(got[i] - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  return scale > 0 ? worst / scale : worst;
}

// Every pass of one geometry through the emulated GPU passes, against the CPU reference.
enum class passes_of { im2col, pointwise, fft };

void check_passes(const conv_geometry& g, std::int64_t n, std::int64_t budget, passes_of which) {
  INFO("C" << g.C << " " << g.H << "×" << g.W << " K" << g.K << " " << g.R << "×" << g.S << " stride " << g.stride_y << "×"
           << g.stride_x << " pad " << g.pad_y << "×" << g.pad_x << ", batch " << n << ", workspace " << budget << ", "
           << (which == passes_of::pointwise ? "pointwise" : which == passes_of::fft ? "fft" : "im2col"));
  const auto x = random_tensor<double>(Shape<1>{n * g.input_elements()}, 1);
  const auto w = random_tensor<double>(Shape<1>{g.weight_elements()}, 2);
  const auto b = random_tensor<double>(Shape<1>{g.K}, 3);
  const auto dy = random_tensor<double>(Shape<1>{n * g.output_elements()}, 4);
  using ref = kernels::conv_kernel<algo::reference, strata::cpu, double>;
  kernels::conv_state<strata::cpu, double> st;
  Tensor<double, 1> y(n * g.output_elements()), dx(n * g.input_elements()), dw(g.weight_elements()), db(g.K);
  ref::forward(g, n, x.data(), w.data(), b.data(), y.data(), st);
  ref::backward_data(g, n, w.data(), dy.data(), dx.data(), st);
  ref::backward_filter(g, n, x.data(), dy.data(), dw.data(), db.data(), st);

  emulated_backend be;
  body::conv_passes<emulated_backend> passes{be, budget};
  std::vector<double> gy(std::size_t(y.size())), gdx(std::size_t(dx.size())), gdw(std::size_t(dw.size()), 7.0),
      gdb(std::size_t(g.K), 7.0);
  if (which == passes_of::pointwise) {
    passes.pointwise_forward(g, n, x.data(), w.data(), b.data(), gy.data());
    passes.pointwise_backward_data(g, n, w.data(), dy.data(), gdx.data());
    passes.pointwise_backward_filter(g, n, x.data(), dy.data(), gdw.data(), gdb.data());
  } else if (which == passes_of::fft) {
    passes.fft_forward(g, n, x.data(), w.data(), b.data(), gy.data());
    passes.fft_backward_data(g, n, w.data(), dy.data(), gdx.data());
    passes.fft_backward_filter(g, n, x.data(), dy.data(), gdw.data(), gdb.data());
  } else {
    passes.im2col_forward(g, n, x.data(), w.data(), b.data(), gy.data());
    passes.im2col_backward_data(g, n, w.data(), dy.data(), gdx.data());
    passes.im2col_backward_filter(g, n, x.data(), dy.data(), gdw.data(), gdb.data());
  }
  CHECK(relative_error(gy, y.data()) < 1e-13);
  CHECK(relative_error(gdx, dx.data()) < 1e-13);
  CHECK(relative_error(gdw, dw.data()) < 1e-13);
  CHECK(relative_error(gdb, db.data()) < 1e-13);
}

}  // namespace

TEST_CASE("cuda_emulated: im2col convolution passes equal the CPU reference, chunked or not", "[cuda_emulated]") {
  const conv_geometry shapes[] = {
      {3, 7, 6, 4, 3, 2, 2, 1, 1, 0},  // non-square filter, mixed strides and padding
      {2, 9, 9, 3, 5, 5, 1, 1, 2, 2},  // 5×5, padding 2
      {4, 8, 8, 5, 3, 3, 1, 1, 1, 1},  // 3×3 same
      {3, 5, 7, 2, 1, 1, 2, 2, 0, 0},  // strided 1×1 (what gemm_1x1 gathers through im2col)
      {2, 4, 4, 3, 4, 4, 3, 3, 3, 3},  // padding wider than the image's border taps
  };
  for (const auto& g : shapes)
    for (const std::int64_t budget : {std::int64_t{1} << 25, g.patch() * g.P() * g.Q() * 2, std::int64_t{1}})
      check_passes(g, 5, budget, passes_of::im2col);  // one chunk, chunks of two (a ragged last), one image at a time
}

TEST_CASE("cuda_emulated: 1×1 convolutions as GEMMs on the input equal the CPU reference", "[cuda_emulated]") {
  for (const std::int64_t budget : {std::int64_t{1} << 25, std::int64_t{2 * 6 * 4}, std::int64_t{1}})
    check_passes(conv_geometry{4, 5, 3, 6, 1, 1, 1, 1, 0, 0}, 5, budget, passes_of::pointwise);
}

TEST_CASE("cuda_emulated: FFT convolution passes equal the CPU reference, chunked or not", "[cuda_emulated]") {
  const conv_geometry shapes[] = {
      {3, 7, 6, 4, 3, 2, 1, 1, 1, 0},  // non-square filter, padding on one axis only
      {2, 9, 9, 3, 5, 5, 1, 1, 2, 2},  // 5×5 same: grid 13×13 → 14×14
      {2, 6, 5, 3, 4, 4, 1, 1, 3, 3},  // padding wider than the image's border taps
      {4, 8, 8, 5, 1, 1, 1, 1, 0, 0},  // 1×1
  };
  for (const auto& g : shapes)
    for (const std::int64_t budget : {std::int64_t{1} << 25, std::int64_t{1}})  // one chunk, one image at a time
      check_passes(g, 3, budget, passes_of::fft);
  CHECK(body::fft_friendly_size(13) == 14);
  CHECK(body::fft_friendly_size(11) == 12);
  CHECK(body::fft_friendly_size(97) == 98);
  CHECK(body::fft_friendly_size(1) == 1);
}

TEST_CASE("cuda_emulated: 32- and 64-bit index arithmetic give the same patches", "[cuda_emulated]") {
  const conv_geometry g{3, 7, 6, 4, 3, 2, 2, 1, 1, 0};
  const auto x = random_tensor<float>(Shape<1>{2 * g.input_elements()}, 5);
  const std::int64_t total = 2 * g.patch() * g.P() * g.Q();
  std::vector<float> narrow(std::size_t(total), -1.f), wide(std::size_t(total), -2.f);
  cuda_grid::emulate({4, 1, 1}, {64, 1, 1}, body::im2col_body<float, std::int32_t>{body::conv_sizes<std::int32_t>::of(g), 2, x.data(), narrow.data()});
  cuda_grid::emulate({4, 1, 1}, {64, 1, 1}, body::im2col_body<float, std::int64_t>{body::conv_sizes<std::int64_t>::of(g), 2, x.data(), wide.data()});
  CHECK(narrow == wide);
  std::vector<float> back32(std::size_t(x.size())), back64(std::size_t(x.size()));
  cuda_grid::emulate({4, 1, 1}, {64, 1, 1}, body::col2im_body<float, std::int32_t>{body::conv_sizes<std::int32_t>::of(g), 2, narrow.data(), back32.data()});
  cuda_grid::emulate({4, 1, 1}, {64, 1, 1}, body::col2im_body<float, std::int64_t>{body::conv_sizes<std::int64_t>::of(g), 2, wide.data(), back64.data()});
  CHECK(back32 == back64);
  // The choice itself: 32 bits below 2³¹ − 1, 64 at and above.
  int bits = 0;
  body::with_index_type((std::int64_t{1} << 31) - 2, [&](auto i) { bits = 8 * int(sizeof(i)); });
  CHECK(bits == 32);
  body::with_index_type((std::int64_t{1} << 31) - 1, [&](auto i) { bits = 8 * int(sizeof(i)); });
  CHECK(bits == 64);
}

TEST_CASE("cuda_emulated: pooling bodies equal the CPU kernels (max pooling bit for bit)", "[cuda_emulated]") {
  const pool_geometry shapes[] = {
      {3, 8, 8, 2, 2, 0},        // 2×2 stride 2
      {2, 9, 7, 3, 2, 1},        // overlapping windows, padding
      {2, 6, 6, 3, 1, 1},        // stride 1: every input under up to nine windows
      {2, 7, 5, 2, 2, 0, true},  // ceil mode: partial last windows
      {1, 5, 5, 3, 3, 1, true},
  };
  const std::int64_t n = 3;
  for (const auto& g : shapes) {
    INFO("C" << g.C << " " << g.H << "×" << g.W << " window " << g.window << " stride " << g.stride << " pad " << g.pad
             << (g.ceil ? " ceil" : ""));
    auto x = random_tensor<float>(Shape<1>{n * g.C * g.H * g.W}, 7);
    x(4) = std::numeric_limits<float>::quiet_NaN();  // NaN wins its windows, as on the CPU
    x(11) = x(12);                                   // a tie: the first maximum is taken
    const auto dy = random_tensor<float>(Shape<1>{n * g.C * g.P() * g.Q()}, 8);
    const std::int64_t planes = n * g.C, outputs = planes * g.P() * g.Q(), inputs = planes * g.H * g.W;
    const auto outs = std::size_t(outputs), ins = std::size_t(inputs);
    std::vector<float> y(outs), gy(outs), dx(ins), gdx(ins);
    std::vector<std::int32_t> arg(outs), garg(outs);
    kernels::cpu::max_pool_forward(g, n, x.data(), y.data(), arg.data());
    kernels::cpu::max_pool_backward(g, n, dy.data(), arg.data(), dx.data());
    cuda_grid::emulate({3, 1, 1}, {64, 1, 1}, body::max_pool_forward_body<float>{g, planes, x.data(), gy.data(), garg.data()});
    cuda_grid::emulate({3, 1, 1}, {64, 1, 1}, body::max_pool_backward_body<float>{g, planes, dy.data(), garg.data(), gdx.data()});
    CHECK(std::memcmp(y.data(), gy.data(), y.size() * sizeof(float)) == 0);
    CHECK(arg == garg);
    CHECK(std::memcmp(dx.data(), gdx.data(), dx.size() * sizeof(float)) == 0);

    kernels::cpu::avg_pool_forward(g, n, x.data(), y.data());
    kernels::cpu::avg_pool_backward(g, n, dy.data(), dx.data());
    cuda_grid::emulate({3, 1, 1}, {64, 1, 1}, body::avg_pool_forward_body<float>{g, planes, x.data(), gy.data()});
    cuda_grid::emulate({3, 1, 1}, {64, 1, 1}, body::avg_pool_backward_body<float>{g, planes, dy.data(), gdx.data()});
    CHECK(std::memcmp(y.data(), gy.data(), y.size() * sizeof(float)) == 0);
    for (std::size_t i = 0; i < ins; ++i)  // the GPU sums, then scales once; the CPU scales each term
      CHECK(std::abs(gdx[i] - dx[i]) <= 4e-7f * std::max(1.f, std::abs(dx[i])));
  }
}

TEST_CASE("cuda_emulated: the dropout mask equals the CPU's for the same seed", "[cuda_emulated]") {
  for (const std::int64_t count : {1, 3, 4, 5, 1003}) {
    const auto size = std::size_t(count);
    std::vector<float> want(size), got(size, -1.f);
    kernels::cpu::fill_dropout_mask(count, 0.3f, 42, 1.f / 0.7f, want.data());
    cuda_grid::emulate({2, 1, 1}, {64, 1, 1}, body::dropout_mask_body<float>{count, 0.3f, 42, 1.f / 0.7f, got.data()});
    INFO(count << " values");
    CHECK(want == got);
  }
}

TEST_CASE("cuda_emulated: softmax cross-entropy rows equal the CPU loss", "[cuda_emulated]") {
  const std::int64_t n = 70, k = 10;
  auto logits = random_tensor<float>(Shape{n, k}, 9, -20, 20);
  Tensor<std::int32_t, 1> labels(n);
  for (std::int64_t i = 0; i < n; ++i) labels(i) = std::int32_t((i * 7) % k);
  Tensor<float, 2> want(Shape{n, k}), got(Shape{n, k});
  const loss_result r = SoftmaxCrossEntropy::evaluate<float>(logits.view(), labels.view(), want.view());
  std::vector<double> loss(static_cast<std::size_t>(n));
  std::vector<std::int32_t> correct(static_cast<std::size_t>(n));
  cuda_grid::emulate({1, 1, 1}, {64, 1, 1}, body::softmax_cross_entropy_body<float>{n, k, logits.data(), labels.data(), got.data(), loss.data(), correct.data()});
  double total = 0;
  std::int64_t hits = 0;
  for (std::int64_t i = 0; i < n; ++i) total += loss[std::size_t(i)], hits += correct[std::size_t(i)];
  CHECK(total / double(n) == r.loss);
  CHECK(hits == r.correct);
  CHECK(std::memcmp(got.data(), want.data(), std::size_t(got.bytes())) == 0);
  // A label outside the classes is flagged for the host to report, not read.
  labels(5) = std::int32_t(k);
  cuda_grid::emulate({1, 1, 1}, {64, 1, 1}, body::softmax_cross_entropy_body<float>{n, k, logits.data(), labels.data(), nullptr, loss.data(), correct.data()});
  CHECK(correct[5] == -1);
  CHECK(correct[4] >= 0);
}

TEST_CASE("cuda_emulated: depthwise convolution passes equal the CPU kernels", "[cuda_emulated]") {
  // groups == C == K; non-square filters, strides, padding, and a clamp (ReLU6 fused).
  const conv_geometry shapes[] = {{6, 9, 8, 6, 3, 3, 1, 1, 1, 1, 6}, {5, 11, 7, 5, 5, 3, 2, 1, 2, 1, 5}, {3, 6, 6, 3, 3, 3, 2, 2, 0, 0, 3}};
  const std::int64_t n = 3;
  for (const auto& g : shapes)
    for (const bool clamp : {false, true}) {
      INFO("C" << g.C << " " << g.H << "×" << g.W << " " << g.R << "×" << g.S << " stride " << g.stride_y << "×" << g.stride_x
               << " pad " << g.pad_y << "×" << g.pad_x << (clamp ? ", clamped to [0, 0.5]" : ""));
      const auto x = random_tensor<double>(Shape<1>{n * g.input_elements()}, 21);
      const auto w = random_tensor<double>(Shape<1>{g.C * g.R * g.S}, 22);
      const auto b = random_tensor<double>(Shape<1>{g.C}, 23);
      const auto dy = random_tensor<double>(Shape<1>{n * g.output_elements()}, 24);
      const double lo = clamp ? 0.0 : -INFINITY, hi = clamp ? 0.5 : INFINITY;
      using cpu_kernel = kernels::op_kernel<kernels::op::depthwise_conv2d, strata::cpu, double>;
      Tensor<double, 1> y(n * g.output_elements()), dx(n * g.input_elements()), dw(g.C * g.R * g.S), db(g.C);
      cpu_kernel::forward(g, n, x.data(), w.data(), b.data(), y.data(), lo, hi);
      cpu_kernel::backward_data(g, n, w.data(), dy.data(), dx.data());
      cpu_kernel::backward_filter(g, n, x.data(), dy.data(), dw.data(), db.data());

      emulated_backend be;
      body::conv_passes<emulated_backend> passes{be};
      std::vector<double> gy(std::size_t(y.size())), gdx(std::size_t(dx.size())), gdw(std::size_t(dw.size())), gdb(std::size_t(g.C));
      passes.depthwise_forward(g, n, x.data(), w.data(), b.data(), gy.data(), lo, hi);
      passes.depthwise_backward_data(g, n, w.data(), dy.data(), gdx.data());
      passes.depthwise_backward_filter(g, n, x.data(), dy.data(), gdw.data(), gdb.data());
      CHECK(relative_error(gy, y.data()) < 1e-13);
      CHECK(relative_error(gdx, dx.data()) < 1e-13);
      CHECK(relative_error(gdw, dw.data()) < 1e-13);
      CHECK(relative_error(gdb, db.data()) < 1e-13);
    }
}

template <int M>
void check_winograd() {
  const conv_geometry shapes[] = {{3, 8, 8, 4, 3, 3, 1, 1, 1, 1},  // even output
                                  {5, 7, 9, 6, 3, 3, 1, 1, 1, 1},  // odd outputs: partial last tiles
                                  {4, 9, 6, 3, 3, 3, 1, 1, 0, 2},  // pad 0 and 2
                                  {2, 5, 5, 7, 3, 3, 1, 1, 2, 0}};
  const std::int64_t n = 5;
  for (const auto& g : shapes)
    for (const std::int64_t budget : {std::int64_t{1} << 25, std::int64_t{1}}) {  // one chunk, an image at a time
      INFO("F(" << M << "×" << M << ", 3×3), C" << g.C << " " << g.H << "×" << g.W << " K" << g.K << " pad " << g.pad_y << "×"
                 << g.pad_x << ", workspace " << budget);
      const auto x = random_tensor<double>(Shape<1>{n * g.input_elements()}, 41);
      const auto w = random_tensor<double>(Shape<1>{g.weight_elements()}, 42);
      const auto b = random_tensor<double>(Shape<1>{g.K}, 43);
      const auto dy = random_tensor<double>(Shape<1>{n * g.output_elements()}, 44);
      using ref = kernels::conv_kernel<algo::reference, strata::cpu, double>;
      kernels::conv_state<strata::cpu, double> st;
      Tensor<double, 1> y(n * g.output_elements()), dx(n * g.input_elements()), dw(g.weight_elements()), db(g.K);
      ref::forward(g, n, x.data(), w.data(), b.data(), y.data(), st);
      ref::backward_data(g, n, w.data(), dy.data(), dx.data(), st);
      ref::backward_filter(g, n, x.data(), dy.data(), dw.data(), db.data(), st);
      emulated_backend be;
      body::conv_passes<emulated_backend> passes{be, budget};
      std::vector<double> gy(std::size_t(y.size()), 7.0), gdx(std::size_t(dx.size()), 7.0), gdw(std::size_t(dw.size()), 7.0),
          gdb(std::size_t(g.K), 7.0);
      passes.winograd_forward<M>(g, n, x.data(), w.data(), b.data(), gy.data());
      passes.winograd_backward_data<M>(g, n, w.data(), dy.data(), gdx.data());
      passes.winograd_backward_filter<M>(g, n, x.data(), dy.data(), gdw.data(), gdb.data());
      CHECK(relative_error(gy, y.data()) < 1e-13);
      CHECK(relative_error(gdx, dx.data()) < 1e-13);
      CHECK(relative_error(gdw, dw.data()) < 1e-13);
      CHECK(relative_error(gdb, db.data()) < 1e-13);
    }
}

TEST_CASE("cuda_emulated: Winograd F(2×2, 3×3) and F(4×4, 3×3) passes equal the CPU reference",
          "[cuda_emulated]") {
  check_winograd<2>();
  check_winograd<4>();
}
