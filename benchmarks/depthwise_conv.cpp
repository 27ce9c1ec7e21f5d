// benchmarks/depthwise_conv — How fast is strata's depthwise convolution on EfficientNet-Lite0's
// depthwise layers, against PyTorch's on the same shapes in the same rounds?
//
// Layers (C×H×W, kernel/stride, padding (k−1)/2): the eleven distinct depthwise shapes of
// EfficientNet-Lite0 at 224×224, from 32×112×112 3×3/1 down to 1152×7×7 3×3/1, at batch 32 and 1;
// forward with bias, fp32, 2 threads. PyTorch (torch.nn.functional.conv2d with groups = C, in a
// coprocess: benchmarks/peers/depthwise_pytorch.py) runs in the same rounds: each round runs a
// burst of back-to-back calls of strata, then of PyTorch (the order alternating), each after a
// 10 ms pause so that the other's OpenMP threads have stopped spinning; the first call of a burst
// (waking the threads) is dropped, and the medians of the rest are compared, as layers run one
// after another in a network. Speedup = PyTorch's time ÷ strata's; the RESULT line gives their
// geometric means per batch.
//
// Usage: depthwise_conv [--reps N] [--no-peers]
#include <strata/core/parallel.hpp>
#include <strata/core/random.hpp>
#include <strata/core/tensor.hpp>
#include <strata/ops/depthwise_conv2d.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "peers/peer_process.hpp"

using namespace strata;
using kernels::conv_geometry;

namespace {

struct layer_spec {
  std::int64_t C, H, R, stride;
  conv_geometry geometry() const { return {C, H, H, C, R, R, stride, stride, (R - 1) / 2, (R - 1) / 2, C}; }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 9;
  bool peers = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc) reps = std::max(3, std::atoi(argv[++i]));
    else if (a == "--no-peers") peers = false;
    else {
      std::fprintf(stderr, "usage: %s [--reps N] [--no-peers]\n", argv[0]);
      return 2;
    }
  }
  set_num_threads(2);
  const std::vector<layer_spec> layers = {{32, 112, 3, 1},  {96, 112, 3, 2}, {144, 56, 3, 1}, {144, 56, 5, 2},
                                          {240, 28, 5, 1},  {240, 28, 3, 2}, {480, 14, 3, 1}, {480, 14, 5, 1},
                                          {672, 14, 5, 2},  {1152, 7, 5, 1}, {1152, 7, 3, 1}};

  std::unique_ptr<peer_process> torch;
  std::string torch_note;
  if (peers) {
    torch = std::make_unique<peer_process>(std::string(STRATA_SOURCE_DIR) + "/benchmarks/peers/depthwise_pytorch.py",
                                           std::vector<std::string>{"--threads", "2"});
    if (torch->ready()) {
      torch_note = "PyTorch " + torch->version();
    } else {
      torch_note = "PyTorch not available (" + torch->status + ")";
      torch.reset();
    }
  } else {
    torch_note = "peers skipped (--no-peers)";
  }
  std::printf("depthwise_conv: EfficientNet-Lite0's depthwise layers, forward with bias, fp32, %d threads; %s\n",
              num_threads(), torch_note.c_str());
  std::printf("%d rounds, each a burst of calls of strata and of PyTorch (2 at batch 32, 8 at batch 1, after one to wake\n"
              "the threads); medians over all rounds\n\n", reps);
  std::printf("%5s  %-20s %10s %9s %10s %9s %8s\n", "batch", "layer", "strata ms", "GFLOP/s", "torch ms", "GFLOP/s", "speedup");

  double log_sum[2] = {0, 0};
  int counted[2] = {0, 0};
  for (int b = 0; b < 2; ++b) {
    const std::int64_t N = b == 0 ? 32 : 1;
    const int burst = b == 0 ? 3 : 9;
    for (const auto& l : layers) {
      const auto g = l.geometry();
      Tensor<float, 1> x(N * g.input_elements()), w(g.weight_elements()), bias(g.C), y(N * g.output_elements());
      fill_uniform(x, -1, 1, 1);
      fill_uniform(w, -0.3, 0.3, 2);
      fill_uniform(bias, -0.1, 0.1, 3);
      auto ours = [&] {
        const auto t0 = std::chrono::steady_clock::now();
        ops::depthwise_conv2d_forward(cpu{}, g, N, x.data(), w.data(), bias.data(), y.data());
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      };
      bool torch_layer = false;
      if (torch) {
        std::ostringstream cmd;
        cmd << "layer " << N << " " << l.C << " " << l.H << " " << l.R << " " << l.stride << " " << (l.R - 1) / 2;
        torch_layer = torch->ask(cmd.str()) == "ok";
      }
      std::vector<double> t_ours, t_theirs;
      auto pause = [] { std::this_thread::sleep_for(std::chrono::milliseconds(10)); };
      auto our_burst = [&](bool keep) {
        pause();
        for (int i = 0; i < burst; ++i) {
          const double t = ours();
          if (keep && i > 0) t_ours.push_back(t);
        }
      };
      auto their_burst = [&](bool keep) {
        pause();
        std::istringstream times(torch->ask("run forward " + std::to_string(burst)));
        double t;
        for (int i = 0; times >> t; ++i)
          if (keep && i > 0) t_theirs.push_back(t);
      };
      our_burst(false);  // warm-up: page faults, PyTorch's primitives
      if (torch_layer) their_burst(false);
      for (int r = 0; r < reps; ++r) {
        if (r % 2 == 0 || !torch_layer) {
          our_burst(true);
          if (torch_layer) their_burst(true);
        } else {
          their_burst(true);
          our_burst(true);
        }
      }
      const double flops = 2.0 * double(N) * double(g.weight_elements()) * double(g.P() * g.Q());
      const double a = median(t_ours);
      char label[64];
      std::snprintf(label, sizeof label, "%lldx%lldx%lld %lldx%lld/%lld", (long long)l.C, (long long)l.H, (long long)l.H,
                    (long long)l.R, (long long)l.R, (long long)l.stride);
      if (torch_layer) {
        const double t = median(t_theirs);
        log_sum[b] += std::log(t / a);
        ++counted[b];
        std::printf("%5lld  %-20s %10.3f %9.1f %10.3f %9.1f %7.2fx\n", (long long)N, label, a, flops / a / 1e6, t,
                    flops / t / 1e6, t / a);
      } else {
        std::printf("%5lld  %-20s %10.3f %9.1f %10s %9s %8s\n", (long long)N, label, a, flops / a / 1e6, "-", "-", "-");
      }
    }
    std::printf("\n");
  }
  auto geomean = [&](int b) { return counted[b] ? std::exp(log_sum[b] / counted[b]) : 0.0; };
  std::printf("RESULT depthwise_vs_pytorch_b32=%.3f depthwise_vs_pytorch_b1=%.3f\n", geomean(0), geomean(1));
  return 0;
}
