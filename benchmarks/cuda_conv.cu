// benchmarks/cuda_conv — strata's GPU convolutions against cuDNN, and the GPU's other headline numbers.
//
// (a) The conv_algorithms layers (benchmarks/conv_layers.hpp: a–f, and k3…k11 at 64×64), forward
//     pass, fp32 and fp16 (fp32 accumulation): strata's algo::automatic (im2col + cuBLAS, 1×1
//     GEMM, Winograd F(2×2) and, in fp32, F(4×4) and FFT; timed once per shape) against cuDNN's
//     fastest forward algorithm for the same layer, as cudnnFindConvolutionForwardAlgorithm
//     measures it, with its workspace. cuDNN runs fp32 in CUDNN_FMA_MATH (true fp32, as strata's
//     cuBLAS calls; TF32 would be another precision) and fp16 in CUDNN_TENSOR_OP_MATH. Every layer's outputs are compared (relative to the largest).
//     ratio = cuDNN ms ÷ strata ms: 1.0 is cuDNN's speed, above it faster.
// (b) The demo network (zoo::FashionNet) trained on the GPU from device-resident batches of 64:
//     forward, softmax cross-entropy, backward and an SGD step, images per second.
// (c) expr_vs_copy (fused fp32 a·b + c against a device-to-device copy of the same bytes) and
//     hgemm_tflops (8192³ fp16 GEMM with fp32 accumulation), as benchmarks/cuda_core measures them.
//
// Timing: CUDA events on the current stream, warm-up first, candidates interleaved round by
// round, median of --reps (default 15) rounds.
//
// Usage: cuda_conv [--quick] [--reps N]
// Without a usable GPU it says why and exits with 77.
// Ends with: RESULT conv_vs_cudnn_min=… conv_vs_cudnn_3x3=… train_img_s=… expr_vs_copy=… hgemm_tflops=…
#include <cudnn.h>

#include <strata/cuda.hpp>
#include <strata/layers/softmax_cross_entropy.hpp>
#include <strata/net/model.hpp>
#include <strata/ops/conv2d.hpp>
#include <strata/train/sgd.hpp>
#include <strata/zoo/fashion_net.hpp>

#include "conv_layers.hpp"
#include "cuda_timing.cuh"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace {

using gpu = strata::cuda;
using strata::Shape;
using strata::Tensor;
using strata::kernels::conv_geometry;

#define CUDNN_CHECK(call)                                                                                     \
  do {                                                                                                        \
    const cudnnStatus_t s_ = (call);                                                                          \
    if (s_ != CUDNN_STATUS_SUCCESS) {                                                                         \
      std::fprintf(stderr, "cuda_conv: %s failed: %s (line %d)\n", #call, cudnnGetErrorString(s_), __LINE__); \
      std::exit(1);                                                                                           \
    }                                                                                                         \
  } while (0)

template <class T>
Tensor<T, 1, gpu> random_device(std::int64_t n, std::uint64_t seed) {
  auto h = Tensor<float, 1>::uninitialized(Shape<1>{n});
  strata::fill_uniform(h, -1.0, 1.0, seed);
  Tensor<T, 1> t(Shape<1>{n});
  for (std::int64_t i = 0; i < n; ++i) t(i) = T(h(i));
  return strata::to_device(t);
}

template <class T>
std::vector<double> host_values(const Tensor<T, 1, gpu>& d) {
  const auto h = strata::to_host(d);
  std::vector<double> v(std::size_t(h.size()));
  for (std::int64_t i = 0; i < h.size(); ++i) v[std::size_t(i)] = double(strata::precision_traits<T>::to_compute(h.data()[i]));
  return v;
}

struct conv_result {
  double strata_ms, cudnn_ms, difference;
  std::string algorithm;
};

// One layer, one precision: strata's automatic against cuDNN's fastest, outputs compared.
template <class T>
conv_result compare_layer(cudnnHandle_t handle, const layer_spec& l, int reps) {
  const conv_geometry g = l.geometry();
  const auto x = random_device<T>(l.N * g.input_elements(), 1);
  const auto w = random_device<T>(g.weight_elements(), 2);
  Tensor<T, 1, gpu> y_strata(Shape<1>{l.N * g.output_elements()}), y_cudnn(Shape<1>{l.N * g.output_elements()});
  strata::kernels::conv_state<gpu, T> state;
  auto run_strata = [&] {
    strata::ops::conv2d_forward(gpu{}, strata::algo::automatic{}, g, l.N, x.data(), w.data(), static_cast<const T*>(nullptr),
                                y_strata.data(), state);
  };
  run_strata();  // automatic decides (timed) before the clock starts

  constexpr bool is_half = std::is_same_v<T, strata::half>;
  const cudnnDataType_t type = is_half ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
  cudnnTensorDescriptor_t xd, yd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&xd));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&yd));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&wd));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&cd));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, type, int(l.N), int(g.C), int(g.H), int(g.W)));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NCHW, type, int(l.N), int(g.K), int(g.P()), int(g.Q())));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(wd, type, CUDNN_TENSOR_NCHW, int(g.K), int(g.C), int(g.R), int(g.S)));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(cd, int(g.pad_y), int(g.pad_x), int(g.stride_y), int(g.stride_x), 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionMathType(cd, is_half ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int found = 0;
  CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(handle, xd, wd, cd, yd, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, perf));
  int best = -1;
  for (int i = 0; i < found && best < 0; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS) best = i;
  if (best < 0) {
    std::fprintf(stderr, "cuda_conv: cuDNN found no forward algorithm for layer %s\n", l.name.c_str());
    std::exit(1);
  }
  const cudnnConvolutionFwdAlgo_t algo = perf[best].algo;
  std::size_t workspace_bytes = 0;
  CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle, xd, wd, cd, yd, algo, &workspace_bytes));
  Tensor<std::uint8_t, 1, gpu> workspace(Shape<1>{std::int64_t(std::max<std::size_t>(workspace_bytes, 1))});
  const float one = 1, zero = 0;
  auto run_cudnn = [&] {
    CUDNN_CHECK(cudnnConvolutionForward(handle, &one, xd, x.data(), wd, w.data(), cd, algo, workspace.data(), workspace_bytes,
                                        &zero, yd, y_cudnn.data()));
  };
  const auto ms = time_interleaved({run_strata, run_cudnn}, 3, reps);
  const auto a = host_values(y_strata), b = host_values(y_cudnn);
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i])), scale = std::max(scale, std::abs(b[i]));
  std::string chosen = "?";
  for (const auto& c : strata::conv_choices())
    if (c.geometry == g && c.batch == l.N && c.pass == strata::algo::conv_pass::forward &&
        c.precision == std::string(strata::precision_traits<T>::name))
      chosen = c.algorithm;
  cudnnDestroyTensorDescriptor(xd);
  cudnnDestroyTensorDescriptor(yd);
  cudnnDestroyFilterDescriptor(wd);
  cudnnDestroyConvolutionDescriptor(cd);
  return {ms[0], ms[1], scale > 0 ? worst / scale : worst, chosen + " | cudnn algo " + std::to_string(int(algo))};
}

// (b) images per second of the demo network's training step on device-resident batches.
double train_images_per_second(int steps) {
  using Net = strata::zoo::FashionNet<>;
  const std::int64_t batch = 64;
  strata::Model<Net, float, gpu> model(1);
  strata::train::SGD<float, gpu> sgd({.momentum = 0.9, .weight_decay = 5e-4, .nesterov = true});
  const auto x = random_device<float>(batch * Net::input_shape::elements, 3);
  Tensor<std::int32_t, 1> labels(batch);
  for (std::int64_t i = 0; i < batch; ++i) labels(i) = std::int32_t(i % 10);
  const auto glabels = strata::to_device(labels);
  Tensor<float, 2, gpu> dy(Shape{batch, 10});
  const strata::batch_view<const float, gpu> xv(x.data(), Shape{batch, Net::input_shape::elements});
  auto step = [&] {
    const auto out = model.forward(xv, true);
    strata::SoftmaxCrossEntropy::evaluate<float>(out, glabels.view(), dy.view());
    model.backward(dy.view());
    sgd.step(model, 0.01);
  };
  for (int i = 0; i < 5; ++i) step();
  strata::synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  strata::synchronize();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return double(steps * batch) / s;
}

// (c) fused a·b + c against a device-to-device copy of the same bytes (fp32).
double expression_vs_copy(std::int64_t n, int reps) {
  const Shape<1> shape{n};
  Tensor<float, 1, gpu> a(shape, 1.5f), b(shape, 2.0f), c(shape, 0.25f), d(shape), src(Shape<1>{2 * n}), dst(Shape<1>{2 * n});
  const auto ms = time_interleaved(
      {[&] { d = a * b + c; },
       [&] {
         STRATA_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), std::size_t(2 * n) * sizeof(float), cudaMemcpyDeviceToDevice,
                                           strata::current_stream()));
       }},
      3, reps);
  const double expr_gbs = 16.0 * double(n) / ms[0] / 1e6, copy_gbs = 16.0 * double(n) / ms[1] / 1e6;
  return expr_gbs / copy_gbs;
}

double hgemm_tflops(std::int64_t m, int reps) {
  const auto a = random_device<strata::half>(m * m, 4), b = random_device<strata::half>(m * m, 5);
  Tensor<strata::half, 1, gpu> c(Shape<1>{m * m});
  const auto ms = time_interleaved({[&] {
                                     strata::kernels::cuda::gemm<strata::half>(false, false, m, m, m, 1.0f, a.data(), m, b.data(), m,
                                                                              0.0f, c.data(), m);
                                   }},
                                   3, reps);
  return 2.0 * double(m) * double(m) * double(m) / ms[0] / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  int reps = 15;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true, reps = 5;
    else if (a == "--reps" && i + 1 < argc) reps = std::max(3, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: %s [--quick] [--reps N]\n", argv[0]);
      return 2;
    }
  }
  if (strata::cuda_runtime::device_count() == 0) {
    std::printf("no CUDA device: %s\n", strata::cuda_runtime::unavailable_reason().c_str());
    return 77;
  }
  cudnnHandle_t handle;
  CUDNN_CHECK(cudnnCreate(&handle));
  CUDNN_CHECK(cudnnSetStream(handle, strata::current_stream()));
  std::printf("cuda_conv: strata's GPU convolutions against cuDNN %zu\n", cudnnGetVersion());
  std::printf("device  %s; median of %d interleaved rounds\n\n",
              strata::cuda_runtime::describe(strata::cuda_runtime::current_device()).c_str(), reps);

  std::vector<layer_spec> layers = benchmark_conv_layers();
  if (quick) layers.resize(3);

  std::printf("%-5s %-5s %-26s %10s %10s %9s %9s %8s  %s\n", "layer", "type", "N C H K R/s/p", "strata ms", "cuDNN ms", "TFLOP/s",
              "ratio", "diff", "strata's choice | cuDNN's");
  std::printf("%s\n", std::string(118, '-').c_str());
  double min_ratio = INFINITY, min_3x3 = INFINITY;
  for (const auto& l : layers)
    for (const bool half : {false, true}) {
      const conv_result r = half ? compare_layer<strata::half>(handle, l, reps) : compare_layer<float>(handle, l, reps);
      const double ratio = r.cudnn_ms / r.strata_ms;
      char shape[64];
      std::snprintf(shape, sizeof shape, "%lld %lld %lld %lld %lld/%lld/%lld", (long long)l.N, (long long)l.C, (long long)l.H,
                    (long long)l.K, (long long)l.R, (long long)l.stride, (long long)l.pad);
      std::printf("%-5s %-5s %-26s %10.3f %10.3f %9.1f %9.3f %8.1e  %s\n", l.name.c_str(), half ? "fp16" : "fp32", shape,
                  r.strata_ms, r.cudnn_ms, l.flops() / r.strata_ms / 1e9, ratio, r.difference, r.algorithm.c_str());
      min_ratio = std::min(min_ratio, ratio);
      if (l.R == 3) min_3x3 = std::min(min_3x3, ratio);
    }
  std::printf("%s\n", std::string(118, '-').c_str());
  const double img_s = train_images_per_second(quick ? 50 : 300);
  std::printf("demo network (FashionNet, batch 64) training on the GPU: %.0f images/s\n", img_s);
  const double expr = expression_vs_copy(quick ? std::int64_t{1} << 24 : std::int64_t{1} << 27, reps);
  const double hgemm = hgemm_tflops(quick ? 4096 : 8192, reps);
  std::printf("fused fp32 a*b+c / D2D copy bandwidth: %.3f; fp16 GEMM: %.1f TFLOP/s\n", expr, hgemm);
  cudnnDestroy(handle);
  std::printf("\nRESULT conv_vs_cudnn_min=%.3f conv_vs_cudnn_3x3=%.3f train_img_s=%.0f expr_vs_copy=%.3f hgemm_tflops=%.1f\n",
              min_ratio, min_3x3, img_s, expr, hgemm);
  return 0;
}
