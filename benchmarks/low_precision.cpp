// benchmarks/low_precision — What do low precisions cost and gain on this CPU: strata's int16
// fixed-point kernels against its own fp32 ones on the same shapes, what stochastic rounding costs,
// fp16 and fixed-point training steps against fp32, and the test accuracy each reaches.
//
//   1. int16_gemm (round to nearest) vs strata's fastest own fp32 GEMM kernel on packed operands
//      (the 6×32 512-bit micro-kernel where the CPU has AVX-512, else packed_gemm's 6×16; the
//      256-bit packed_gemm that im2col uses is shown too) at 256³, 512³, 1024³;
//      int16_gemm stochastic vs the same product to nearest;
//      conv_int16_forward vs conv_im2col_forward<float> on conv_algorithms' layers
//      a) 64,56,64,3,1,1  b) 128,28,128,3,1,1  c) 256,14,256,3,1,1 (C, H=W, K, kernel, stride, pad) at N=32.
//   2. One training step of the demo network (zoo::FashionNet, batch 64, SGD with Nesterov
//      momentum) in fp32, fp16 (mixed: fp32 master weights, loss scaling), fixed<16, 11> and
//      dynamic_fixed<10, 12>.
//   3. Test accuracy on Fashion-MNIST after --epochs epochs (the schedule of examples/low_precision)
//      in fp32, fp16, fixed<16, 11> with stochastic rounding and dynamic_fixed<10, 12> (skip with
//      --no-accuracy).
// 1 thread, then 2. Interleaved rounds: each round runs every contender once, in turn (the first
// one rotating), and a ratio is the median of the per-round ratios — the shared VM's speed drifts
// by more than the effects measured. Time ratios are fp32 ÷ other (above 1: the other is faster)
// and stochastic ÷ nearest.
//
// What is timed: the fp32 GEMM runs on operands packed outside the timing (as Winograd and im2col
// write them), threaded by column panels; the int16 GEMM is the whole int16_gemm call, packing of
// both operands included. Values are int16 in ±1024 (the same numbers in fp32), so a depth of
// 1024 is one exact int32 chunk; one extra row shows 1024³ with ±4096 (16 chunks spilled into
// int64). Convolutions and training steps: whole calls, both sides.
//
//   low_precision [--rounds N] [--batch N] [--epochs N] [--no-accuracy] [--data DIR]
//
// Ends with: RESULT int16_gemm_vs_fp32=… int16_conv_vs_fp32_im2col=… sr_overhead=…
// fp16_train_vs_fp32=… fixed16_acc_delta=… fp16_acc_delta=… dynfixed_acc_delta=… (1 thread for the
// kernels: geomeans over the three GEMM sizes and layers a–c; training at 2 threads; accuracy
// deltas in points, other − fp32) and per-shape keys.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "strata/core/parallel.hpp"
#include "strata/data/idx.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cpu/conv_im2col.hpp"
#include "strata/kernels/cpu/conv_int16.hpp"
#include "strata/kernels/cpu/int16_gemm.hpp"
#include "strata/kernels/cpu/packed_gemm.hpp"
#include "strata/net/model.hpp"
#include "strata/net/summary.hpp"
#include "strata/train/fit.hpp"
#include "strata/train/schedule.hpp"
#include "strata/train/sgd.hpp"
#include "strata/zoo/fashion_net.hpp"

using namespace strata;
using namespace strata::bench;
using kernels::conv_geometry;
namespace cpu_k = strata::kernels::cpu;

namespace {


// Per contender: the seconds per call of every round, each round running the contenders in turn
// (starting with a different one each round), `inner` calls per timing.
std::vector<std::vector<double>> rounds_of(const std::vector<std::function<void()>>& contenders, int rounds, int inner) {
  for (const auto& f : contenders) f();  // warm-up: buffers, caches, page faults
  std::vector<std::vector<double>> t(contenders.size());
  for (int r = 0; r < rounds; ++r)
    for (std::size_t i = 0; i < contenders.size(); ++i) {
      const std::size_t c = (i + std::size_t(r)) % contenders.size();
      const double t0 = now_s();
      for (int k = 0; k < inner; ++k) contenders[c]();
      t[c].push_back((now_s() - t0) / inner);
    }
  return t;
}

std::vector<std::int16_t> random_int16(std::int64_t n, std::uint32_t seed, int range) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(-range, range);
  std::vector<std::int16_t> v(static_cast<std::size_t>(n));
  for (auto& e : v) e = std::int16_t(u(rng));
  return v;
}

struct gemm_row {
  double fp32_vs_int16, sr_over_nearest;
};

// One square GEMM: {fp32 ÷ int16 nearest, stochastic ÷ nearest}.
gemm_row gemm_shape(std::int64_t N, int range, int rounds, bool with_sr) {
  const auto A = random_int16(N * N, 1, range), B = random_int16(N * N, 2, range);
  std::vector<std::int16_t> C(std::size_t(N * N));
  std::vector<float> Af(A.begin(), A.end()), Bf(B.begin(), B.end()), Cf(std::size_t(N * N));
  std::vector<float> Ap(std::size_t(cpu_k::packed_rows(N) * N)), Bp(std::size_t((N + 15) / 16 * 16 * N), 0.0f);
  cpu_k::pack_a(N, N, Af.data(), N, Ap.data());
  for (std::int64_t k = 0; k < N; ++k)
    for (std::int64_t j = 0; j < N; ++j) Bp[std::size_t((j / 16 * N + k) * 16 + j % 16)] = Bf[std::size_t(k * N + j)];
  cpu_k::requantize nearest, stochastic;
  nearest.shift = stochastic.shift = 12;
  stochastic.stochastic = true, stochastic.seed = 7;
  const std::int64_t panels = (N + 15) / 16;
  const auto fp32_256 = [&] {
    parallel_ranges(panels, [&](std::int64_t p0, std::int64_t p1) {
      cpu_k::packed_gemm(N, (p1 - p0) * 16, N, Ap.data(), Bp.data() + p0 * 16 * N, Cf.data() + p0 * 16, N);
    }, 1, num_threads() > 1 ? 1 : panels + 1);
  };
#if defined(__AVX512F__)
  // The 512-bit kernel on pairs of panels, depth in slices of 256 (a panel pair's slice stays in
  // L1 while the row blocks stream past), as pointwise_conv drives it.
  const auto fp32 = [&] {
    const std::int64_t pairs = (panels + 1) / 2, row_blocks = (N + cpu_k::packed_mr - 1) / cpu_k::packed_mr;
    parallel_ranges(pairs, [&](std::int64_t q0, std::int64_t q1) {
      for (std::int64_t k0 = 0; k0 < N; k0 += 256) {
        const std::int64_t kl = std::min<std::int64_t>(256, N - k0);
        for (std::int64_t q = q0; q < q1; ++q) {
          const std::int64_t p = 2 * q, cols = std::min<std::int64_t>(32, N - p * 16);
          for (std::int64_t rb = 0; rb < row_blocks; ++rb) {
            const float* a = Ap.data() + rb * cpu_k::packed_mr * N + k0 * cpu_k::packed_mr;
            const float* b = Bp.data() + p * 16 * N + k0 * 16;
            float* c = Cf.data() + rb * cpu_k::packed_mr * N + p * 16;
            const std::int64_t rows = std::min<std::int64_t>(cpu_k::packed_mr, N - rb * cpu_k::packed_mr);
            if (cols > 16) cpu_k::packed_kernel_6x16n_512<2>(kl, a, b, 16 * N, c, N, rows, cols, k0 > 0, nullptr);
            else cpu_k::packed_kernel_6x16n_512<1>(kl, a, b, 16 * N, c, N, rows, cols, k0 > 0, nullptr);
          }
        }
      }
    }, 1, num_threads() > 1 ? 1 : pairs + 1);
  };
#else
  const auto& fp32 = fp32_256;
#endif
  const auto near = [&] { cpu_k::int16_gemm(false, false, N, N, N, A.data(), N, B.data(), N, C.data(), N, nearest); };
  const auto sr = [&] { cpu_k::int16_gemm(false, false, N, N, N, A.data(), N, B.data(), N, C.data(), N, stochastic); };
  const int inner = int(std::max<std::int64_t>(1, (std::int64_t{1} << 28) / (N * N * N)));
  std::vector<std::function<void()>> contenders{fp32, near, fp32_256};
  if (with_sr) contenders.push_back(sr);
  const auto t = rounds_of(contenders, rounds, inner);
  const double flops = 2.0 * double(N) * double(N) * double(N);
  const gemm_row row{median(ratios(t[0], t[1])), with_sr ? median(ratios(t[3], t[1])) : 0.0};
  std::printf("%5lld³ ±%-5d %10.1f %10.1f %10.1f", (long long)N, range, flops / median(t[2]) * 1e-9, flops / median(t[0]) * 1e-9,
              flops / median(t[1]) * 1e-9);
  if (with_sr) std::printf(" %10.1f", flops / median(t[3]) * 1e-9);
  else std::printf(" %10s", "");
  std::printf(" %9.2fx", row.fp32_vs_int16);
  if (with_sr) std::printf(" %8.3f", row.sr_over_nearest);
  std::printf("\n");
  return row;
}

struct layer {
  const char* name;
  std::int64_t C, HW, K, R, stride, pad;
};

// One layer's forward pass: fp32 ÷ int16.
double conv_shape(const layer& l, std::int64_t N, int rounds) {
  const conv_geometry g{l.C, l.HW, l.HW, l.K, l.R, l.R, l.stride, l.stride, l.pad, l.pad, 1};
  const auto x = random_int16(N * g.input_elements(), 3, 1024), w = random_int16(g.weight_elements(), 4, 128);
  std::vector<std::int32_t> bias(std::size_t(g.K), 5);
  std::vector<std::int16_t> y(std::size_t(N * g.output_elements()));
  std::vector<float> xf(x.begin(), x.end()), wf(w.begin(), w.end()), bf(bias.begin(), bias.end()), yf(y.size());
  cpu_k::requantize q;
  q.shift = 10;
  const auto fp32 = [&] { cpu_k::conv_im2col_forward<float>(g, N, xf.data(), wf.data(), bf.data(), yf.data()); };
  const auto int16 = [&] { cpu_k::conv_int16_forward(g, N, x.data(), w.data(), bias.data(), y.data(), q); };
  const auto t = rounds_of({fp32, int16}, rounds, 1);
  const double r = median(ratios(t[0], t[1]));
  const double flops = 2.0 * double(N) * double(g.output_elements()) * double(g.patch());
  std::printf("%s) %3lld,%3lld,%3lld,%lld,%lld,%lld  N=%-3lld %10.1f %10.1f %9.2fx\n", l.name, (long long)l.C, (long long)l.HW,
              (long long)l.K, (long long)l.R, (long long)l.stride, (long long)l.pad, (long long)N, flops / median(t[0]) * 1e-9,
              flops / median(t[1]) * 1e-9, r);
  return r;
}

// --- training ---------------------------------------------------------------------------------

using DemoNet = zoo::FashionNet<>;
using fixed16 = fixed<16, 11>;  // the widest fraction that keeps the demo network in range (examples/low_precision: 12 saturates)
using dynfixed = dynamic_fixed<10, 12>;  // Courbariaux et al.'s 10-bit propagation, 12-bit updates

// One model of the demo network in precision T with its optimizer and loss scaling, stepping on
// one fixed batch (a step's cost does not depend on the values).
template <class T>
struct demo_trainer {
  Model<DemoNet, T> model{1};
  train::SGD<T> sgd{{.momentum = 0.9, .weight_decay = 5e-4, .nesterov = true}, 3};
  train::loss_scaler<T> scaler;
  Tensor<T, 2> x, gradient;
  Tensor<std::int32_t, 1> labels;
  demo_trainer(const Tensor<float, 2>& images, const Tensor<std::int32_t, 1>& y) : x(images.shape()), labels(y.shape()) {
    x = cast<T>(images);
    labels = y;
  }
  void step() {
    const auto out = model.forward(x, true);
    if (gradient.shape() != out.shape()) gradient = Tensor<T, 2>(out.shape());
    scaler.loss_gradient(out, labels, gradient.view(), SoftmaxCrossEntropy{});
    model.backward(gradient);
    scaler.step(sgd, model, 0.01);
  }
};

struct step_row {
  double fp16, fixed, dynamic;  // fp32 time ÷ their time
};

step_row training_steps(int rounds) {
  Tensor<float, 2> images(Shape{64, DemoNet::input_shape::elements});
  fill_uniform(images, 0, 1, 11);
  Tensor<std::int32_t, 1> labels(Shape<1>{64});
  for (std::int64_t i = 0; i < 64; ++i) labels(i) = std::int32_t(i % 10);
  demo_trainer<float> f32(images, labels);
  demo_trainer<half> f16(images, labels);
  demo_trainer<fixed16> q16(images, labels);
  demo_trainer<dynfixed> d10(images, labels);
  for (int warm = 0; warm < 2; ++warm) f32.step(), f16.step(), q16.step(), d10.step();  // conv plans, buffers
  const auto t = rounds_of({[&] { f32.step(); }, [&] { f16.step(); }, [&] { q16.step(); }, [&] { d10.step(); }}, rounds, 1);
  const step_row row{median(ratios(t[0], t[1])), median(ratios(t[0], t[2])), median(ratios(t[0], t[3]))};
  std::printf("%-18s %10.1f %10.1f %10.1f %10.1f %12.2fx %12.2fx %12.2fx\n", "FashionNet, b 64", 1e3 * median(t[0]),
              1e3 * median(t[1]), 1e3 * median(t[2]), 1e3 * median(t[3]), row.fp16, row.fixed, row.dynamic);
  return row;
}

// Test accuracy after `epochs` epochs with examples/low_precision's settings.
template <class T>
double trained_accuracy(const data::labelled_images& train_set, const data::labelled_images& test_set, int epochs) {
  Model<DemoNet, T> model(1);
  train::SGD<T> sgd({.momentum = 0.9, .weight_decay = 5e-4, .nesterov = true}, 3);
  const std::int64_t steps = train::steps_per_epoch(train_set.images.extent(0), 64);
  const auto schedule = train::warmup(steps / 2, train::cosine(0.05, epochs * steps));
  const auto history = train::fit(model, train_set, sgd, schedule,
                                  {.epochs = epochs, .batch_size = 64, .shuffle = true, .shuffle_seed = 7, .show_progress = false},
                                  &test_set);
  std::printf("  %-16s", precision_traits<T>::name);
  for (const auto& r : history) std::printf(" %6.2f", 100 * r.test_accuracy);
  std::printf("  (%.0f s)\n", [&] {
    double sec = 0;
    for (const auto& r : history) sec += r.seconds;
    return sec;
  }());
  std::fflush(stdout);
  return history.back().test_accuracy;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 11, epochs = 5;
  std::int64_t batch = 32;
  bool accuracy = true;
  std::string data_dir = data::default_fashion_mnist_dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    else if (a == "--batch" && i + 1 < argc) batch = std::max(1, std::atoi(argv[++i]));
    else if (a == "--epochs" && i + 1 < argc) epochs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--data" && i + 1 < argc) data_dir = argv[++i];
    else if (a == "--no-accuracy") accuracy = false;
    else {
      std::fprintf(stderr, "usage: low_precision [--rounds N] [--batch N] [--epochs N] [--no-accuracy] [--data DIR]\n");
      return 2;
    }
  }
  std::printf("low_precision: %d rounds (medians of per-round ratios), int16 micro-kernel %s, fp32 %s\n",
              rounds,
#if defined(__AVX512BW__) && defined(__AVX512VNNI__)
              "8×32 AVX-512 VNNI (vpdpwssd)"
#elif defined(__AVX512BW__)
              "8×32 AVX-512BW (vpmaddwd + vpaddd)"
#elif defined(__AVX2__)
              "6×16 AVX2 (vpmaddwd + vpaddd)"
#else
              "4×8 scalar"
#endif
              ,
#if defined(__AVX512F__)
              "6×32 512-bit (packed_kernel_6x16n_512) and packed_gemm 6×16 256-bit"
#else
              "packed_gemm 6×16"
#endif
  );
  const layer layers[] = {{"a", 64, 56, 64, 3, 1, 1}, {"b", 128, 28, 128, 3, 1, 1}, {"c", 256, 14, 256, 3, 1, 1}};
  std::vector<double> gemm1, sr1, conv1, gemm2, sr2, conv2;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    std::printf("\n%d thread%s — GEMM (GOP/s; int16 includes packing, fp32 operands pre-packed)\n", threads, threads > 1 ? "s" : "");
    std::printf("%-12s %10s %10s %10s %10s %10s %8s\n", "shape", "fp32 256b", "fp32 best", "int16", "int16 SR", "fp32÷int16", "SR÷near");
    auto& g = threads == 1 ? gemm1 : gemm2;
    auto& s = threads == 1 ? sr1 : sr2;
    for (std::int64_t N : {256, 512, 1024}) {
      const gemm_row row = gemm_shape(N, 1024, rounds, true);
      g.push_back(row.fp32_vs_int16);
      s.push_back(row.sr_over_nearest);
    }
    gemm_shape(1024, 4096, std::max(3, rounds / 2), false);
    std::printf("\n%d thread%s — convolution forward (GOP/s, whole calls)\n", threads, threads > 1 ? "s" : "");
    std::printf("%-24s %10s %10s %10s\n", "layer C,HW,K,R,s,p", "fp32 im2col", "int16", "fp32÷int16");
    for (const layer& l : layers) (threads == 1 ? conv1 : conv2).push_back(conv_shape(l, batch, std::max(3, rounds / 2)));
  }
  std::vector<double> fp16_steps, fixed_steps, dynamic_steps;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    std::printf("\n%d thread%s — one training step (ms; ratios: fp32 time ÷ theirs)\n", threads, threads > 1 ? "s" : "");
    std::printf("%-18s %10s %10s %10s %10s %13s %13s %13s\n", "network", "fp32", "fp16", "fixed16", "dyn10/12", "fp16 vs fp32",
                "fixed vs fp32", "dyn vs fp32");
    const step_row row = training_steps(std::max(5, rounds));
    fp16_steps.push_back(row.fp16);
    fixed_steps.push_back(row.fixed);
    dynamic_steps.push_back(row.dynamic);
  }
  const double fp16_memory = double(memory<DemoNet, half>(64).total()) / double(memory<DemoNet, float>(64).total());
  const double fixed_memory = double(memory<DemoNet, fixed16>(64).total()) / double(memory<DemoNet, float>(64).total());
  std::printf("training memory at batch 64 (memory<Net, T>): fp16 %.2f×, fixed<16,11> %.2f× of fp32's\n", fp16_memory, fixed_memory);

  std::string fixed_delta = "n/a", fp16_delta = "n/a", dynamic_delta = "n/a";
  if (accuracy) {
    try {
      const auto train_set = data::load_fashion_mnist(data_dir, data::split::train);
      const auto test_set = data::load_fashion_mnist(data_dir, data::split::test);
      set_num_threads(2);
      std::printf("\nFashion-MNIST test accuracy (%%) per epoch, %d epochs, 2 threads:\n", epochs);
      const double f32 = trained_accuracy<float>(train_set, test_set, epochs);
      const double f16 = trained_accuracy<half>(train_set, test_set, epochs);
      const double q16 = trained_accuracy<fixed16>(train_set, test_set, epochs);
      const double d10 = trained_accuracy<dynfixed>(train_set, test_set, epochs);
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.2f", 100 * (d10 - f32));
      dynamic_delta = buf;
      std::snprintf(buf, sizeof buf, "%.2f", 100 * (q16 - f32));
      fixed_delta = buf;
      std::snprintf(buf, sizeof buf, "%.2f", 100 * (f16 - f32));
      fp16_delta = buf;
    } catch (const data::data_error& e) {
      std::printf("\nno accuracy runs: %s\n", e.what());
    }
  }
  set_num_threads(0);
  std::printf("\nRESULT int16_gemm_vs_fp32=%.3f int16_conv_vs_fp32_im2col=%.3f sr_overhead=%.3f fp16_train_vs_fp32=%.3f "
              "fixed16_acc_delta=%s fp16_acc_delta=%s dynfixed_acc_delta=%s fp16_memory_vs_fp32=%.3f "
              "fixed16_train_vs_fp32=%.3f dynfixed_train_vs_fp32=%.3f gemm256=%.3f gemm512=%.3f gemm1024=%.3f sr256=%.3f sr512=%.3f sr1024=%.3f "
              "conv_a=%.3f conv_b=%.3f conv_c=%.3f int16_gemm_vs_fp32_2t=%.3f sr_overhead_2t=%.3f "
              "int16_conv_vs_fp32_im2col_2t=%.3f fp16_train_vs_fp32_1t=%.3f\n",
              geomean(gemm1), geomean(conv1), geomean(sr1), fp16_steps[1], fixed_delta.c_str(), fp16_delta.c_str(),
              dynamic_delta.c_str(), fp16_memory, fixed_steps[1], dynamic_steps[1], gemm1[0], gemm1[1], gemm1[2], sr1[0], sr1[1], sr1[2], conv1[0], conv1[1], conv1[2], geomean(gemm2),
              geomean(sr2), geomean(conv2), fp16_steps[0]);
  return 0;
}
