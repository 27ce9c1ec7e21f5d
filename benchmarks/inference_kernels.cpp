// The inference path's own kernels against what Model::forward runs for the same layer: the 1×1
// convolution on prepacked weights with bias and ReLU6 in its store (kernels/cpu/pointwise_conv.hpp)
// against the 1×1 GEMM algorithm (OpenBLAS: β = 0 pass, product, bias pass) plus a clamp pass, on
// EfficientNet-Lite0's nineteen 1×1 shapes at batch 1 and 32; the dense layer on prepacked weights
// (kernels/cpu/dense_forward.hpp) against gemm<float> plus a bias + ReLU pass, on the demo
// network's and EfficientNet-Lite0's dense shapes. 2 threads, interleaved round by round, medians.
//
//   inference_kernels [--rounds N]
//
// Ends with: RESULT pointwise_b1_speedup=… pointwise_b32_speedup=… dense_demo_speedup=… (the
// baseline's summed median time over the kernel's; dense_demo is the 32 × 3136 → 1024 layer).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "strata/core/parallel.hpp"
#include "strata/core/random.hpp"
#include "strata/core/tensor.hpp"
#include "strata/kernels/cpu/conv_gemm_1x1.hpp"
#include "strata/kernels/cpu/dense_forward.hpp"
#include "strata/kernels/cpu/epilogue.hpp"
#include "strata/kernels/cpu/pointwise_conv.hpp"

using namespace strata;
using kernels::conv_geometry;
namespace cpu_k = strata::kernels::cpu;

namespace {

double now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median microseconds per call of a and b, timed in alternating bursts of `inner` calls.
std::pair<double, double> interleaved(const std::function<void()>& a, const std::function<void()>& b, int rounds, int inner) {
  for (int i = 0; i < 2; ++i) a(), b();
  std::vector<double> ta, tb;
  for (int r = 0; r < rounds; ++r) {
    const bool a_first = r % 2 == 0;
    for (int k = 0; k < 2; ++k) {
      const bool run_a = (k == 0) == a_first;
      const double t0 = now_us();
      for (int i = 0; i < inner; ++i) run_a ? a() : b();
      (run_a ? ta : tb).push_back((now_us() - t0) / inner);
    }
  }
  return {median(ta), median(tb)};
}

Tensor<float, 1> random_values(std::int64_t n, std::uint64_t seed, double scale = 1.0) {
  Tensor<float, 1> t(Shape<1>{n});
  fill_uniform(t, -scale, scale, seed);
  return t;
}

struct pointwise_shape {
  std::int64_t C, K, HW;
};

// Summed medians over EfficientNet-Lite0's 1×1 layers at batch n: {kernel, baseline}.
std::pair<double, double> pointwise_table(std::int64_t n, int rounds) {
  static constexpr pointwise_shape shapes[] = {{32, 16, 112},   {16, 96, 112},  {96, 24, 56},    {24, 144, 56},  {144, 24, 56},
                                               {144, 40, 28},   {40, 240, 28},  {240, 40, 28},   {240, 80, 14},  {80, 480, 14},
                                               {480, 80, 14},   {480, 112, 14}, {112, 672, 14},  {672, 112, 14}, {672, 192, 7},
                                               {192, 1152, 7},  {1152, 192, 7}, {1152, 320, 7},  {320, 1280, 7}};
  std::printf("1×1 convolution + bias + ReLU6, batch %lld\n%-16s %12s %12s %9s\n", (long long)n, "C → K @ H×W", "kernel µs",
              "GEMM+pass µs", "speedup");
  double ours = 0, theirs = 0;
  for (const auto& s : shapes) {
    const conv_geometry g{s.C, s.HW, s.HW, s.K, 1, 1, 1, 1, 0, 0, 1};
    const auto x = random_values(n * g.input_elements(), 1);
    const auto w = random_values(s.K * s.C, 2, 0.2);
    const auto b = random_values(s.K, 3);
    Tensor<float, 1> packed(Shape<1>{cpu_k::pointwise_packed_size<float>(s.K, s.C)});
    cpu_k::pack_pointwise_weights<float>(s.K, s.C, w.data(), packed.data());
    Tensor<float, 1> y1(Shape<1>{n * g.output_elements()}), y2(y1.shape());
    const auto kernel = [&] { cpu_k::pointwise_conv_forward<float>(g, n, x.data(), packed.data(), b.data(), 0.0f, 6.0f, y1.data()); };
    const auto baseline = [&] {
      cpu_k::conv_gemm_1x1_forward<float>(g, n, x.data(), w.data(), b.data(), y2.data());
      cpu_k::bias_clamp<float>(y2.data(), n, s.K, s.HW * s.HW, nullptr, 0.0f, 6.0f);
    };
    const auto [a, c] = interleaved(kernel, baseline, rounds, n == 1 ? 20 : 2);
    ours += a;
    theirs += c;
    const std::string name = std::to_string(s.C) + " → " + std::to_string(s.K) + " @ " + std::to_string(s.HW) + "²";
    std::printf("%-18s %12.1f %12.1f %8.2fx\n", name.c_str(), a, c, c / a);
  }
  std::printf("%-16s %12.1f %12.1f %8.2fx\n\n", "sum", ours, theirs, theirs / ours);
  return {ours, theirs};
}

struct dense_shape {
  std::int64_t N, C, K;
  const char* what;
};

// Per shape {kernel, baseline}; the first is the demo network's big layer.
std::vector<std::pair<double, double>> dense_table(int rounds) {
  static constexpr dense_shape shapes[] = {{32, 3136, 1024, "demo dense 1"}, {32, 1024, 10, "demo dense 2"},
                                           {1, 3136, 1024, "demo dense 1, batch 1"}, {32, 1280, 1000, "EfficientNet head"},
                                           {1, 1280, 1000, "EfficientNet head, batch 1"}, {16, 1280, 5, "5-way head"}};
  std::printf("dense + bias + ReLU\n%-28s %16s %12s %12s %9s\n", "layer", "N, C → K", "kernel µs", "GEMM+pass µs", "speedup");
  std::vector<std::pair<double, double>> out;
  for (const auto& s : shapes) {
    const auto x = random_values(s.N * s.C, 4);
    const auto w = random_values(s.K * s.C, 5, 0.05);
    const auto b = random_values(s.K, 6);
    Tensor<float, 1> packed(Shape<1>{cpu_k::dense_packed_size<float>(s.K, s.C)});
    cpu_k::pack_dense_weights<float>(s.K, s.C, w.data(), packed.data());
    Tensor<float, 1> y1(Shape<1>{s.N * s.K}), y2(y1.shape());
    const float inf = std::numeric_limits<float>::infinity();
    const auto kernel = [&] { cpu_k::dense_forward<float>(s.N, s.C, s.K, x.data(), packed.data(), b.data(), 0.0f, inf, y1.data()); };
    const auto baseline = [&] {
      cpu_k::gemm<float>(false, true, s.N, s.K, s.C, 1.0f, x.data(), s.C, w.data(), s.C, 0.0f, y2.data(), s.K);
      cpu_k::bias_clamp<float>(y2.data(), s.N, s.K, 1, b.data(), 0.0f, inf);
    };
    const auto [a, c] = interleaved(kernel, baseline, rounds, s.N == 1 ? 20 : 5);
    out.emplace_back(a, c);
    const std::string shape = std::to_string(s.N) + ", " + std::to_string(s.C) + " → " + std::to_string(s.K);
    std::printf("%-28s %16s %12.1f %12.1f %8.2fx\n", s.what, shape.c_str(), a, c, c / a);
  }
  std::printf("\n");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 21;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: inference_kernels [--rounds N]\n");
      return 2;
    }
  }
  set_num_threads(2);
  std::printf("inference_kernels: %d threads, %d rounds (medians), GEMM backend %s, %s micro-kernel\n\n", num_threads(), rounds,
              cpu_k::gemm_backend(),
#if defined(__AVX512F__)
              "512-bit"
#else
              "256-bit"
#endif
  );
  const auto b1 = pointwise_table(1, rounds);
  const auto b32 = pointwise_table(32, std::max(3, rounds / 3));
  const auto dense = dense_table(rounds);
  std::printf("RESULT pointwise_b1_speedup=%.3f pointwise_b32_speedup=%.3f dense_demo_speedup=%.3f\n", b1.second / b1.first,
              b32.second / b32.first, dense[0].second / dense[0].first);
  return 0;
}
