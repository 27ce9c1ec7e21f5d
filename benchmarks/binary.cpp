// benchmarks/binary — How much faster are binary (XNOR–popcount) kernels than strata's fp32 ones on
// the same shapes, and how close do they come to the popcount ceilings of the CPU?
//
//   a) xnor_gemm vs the fp32 GEMM strata routes matrix products through (kernels/cpu/gemm.hpp:
//      OpenBLAS where the build found it, else Eigen) on M × N × bits products, and the vector
//      tile against the scalar POPCNT tile on short depths (where xnor_gemm switches);
//   b) xnor_conv2d vs every fp32 convolution algorithm strata has for 3×3 pad 1 layers with
//      C = K = 256 (14×14, 28×28) and 128 (28×28), batch 8: im2col, and the fastest of all of them
//      (Winograd, FFT, … and what `automatic` picks). The binary input is packed already (in binary
//      inference the previous layer emits bits), so packing is left out of the convolution's time
//      and reported on its own: pack_sign_nchw_to_nhwc of the fp32 input.
//   c) a whole network, inference: examples/binary's BinaryNet for Fashion-MNIST (four 3×3
//      convolutions of 32–128 channels, a 6272 → 256 dense layer), Inference<Net, binary> (bits end
//      to end, batch norm and sign folded into thresholds) against Inference<Net, float> (the same
//      network in fp32, batch norm folded), batch 64 and batch 1; and the model files: the bytes
//      of the binarised layers' weights in the fp32 file over those in the binary file.
// Binary multiply-adds per cycle per core = n·P·Q·K·C·R·S ÷ (seconds · clock · threads), the clock
// from /proc/cpuinfo, to compare with the popcount ceilings in shared/TOOLCHAIN.md.
// 1 thread, then 2. Interleaved rounds: every round runs each contender once (several calls, so
// that a timing lasts a few ms), starting with a different one each round; ratios are medians of
// the per-round ratios, fp32 time ÷ binary time.
//
// Built twice: `binary` for this CPU (-march=native) and `binary_avx2` for x86-64-v3 (AVX2, no
// AVX-512: the code Zen 3 runs, binary and fp32 alike). binary_avx2 re-runs itself with
// OPENBLAS_CORETYPE=Haswell so that OpenBLAS's runtime dispatch also stays on AVX2; run `binary`
// with OPENBLAS_CORETYPE unset for OpenBLAS's AVX-512 kernels (the header says which ran).
//
//   binary [--rounds N] [--quick]
//
// Ends with: RESULT xnor_gemm_vs_fp32=… xnor_conv_vs_fp32_im2col=… xnor_conv_vs_fp32_best=…
// binary_net_infer_vs_fp32=… model_size_ratio=… (2 threads; geometric means over the products and
// layers above; the network at batch 64) and per-shape, batch-1 and 1-thread keys.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "strata/core/parallel.hpp"
#include "strata/io/archive.hpp"
#include "strata/io/model_file.hpp"
#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/hard_tanh.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/net/inference.hpp"
#include "strata/net/model.hpp"
#include "strata/core/random.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cpu/bit_packing.hpp"
#include "strata/kernels/cpu/conv_algorithms.hpp"
#include "strata/kernels/cpu/gemm.hpp"
#include "strata/kernels/cpu/xnor_conv.hpp"
#include "strata/kernels/cpu/xnor_gemm.hpp"

using namespace strata;
using namespace strata::bench;
using kernels::conv_geometry;
namespace cpu_k = strata::kernels::cpu;

namespace {


// Per contender: seconds per call in every round. Each contender is called enough times per
// timing to last ~4 ms (from its warm-up call); the first contender of a round rotates.
std::vector<std::vector<double>> rounds_of(const std::vector<std::function<void()>>& contenders, int rounds) {
  std::vector<int> inner;
  for (const auto& f : contenders) {
    f();  // warm-up: buffers, caches, page faults, filter transforms
    const double t0 = now_s();
    f();
    inner.push_back(std::max(1, int(0.004 / std::max(now_s() - t0, 1e-7))));
  }
  std::vector<std::vector<double>> t(contenders.size());
  for (int r = 0; r < rounds; ++r)
    for (std::size_t i = 0; i < contenders.size(); ++i) {
      const std::size_t c = (i + std::size_t(r)) % contenders.size();
      const double t0 = now_s();
      for (int k = 0; k < inner[c]; ++k) contenders[c]();
      t[c].push_back((now_s() - t0) / inner[c]);
    }
  return t;
}


std::vector<std::uint64_t> random_words(std::int64_t rows, std::int64_t bits, std::uint64_t seed) {
  const std::int64_t words = cpu_k::words_for(bits);
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> v(std::size_t(rows * words));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t w = 0; w < words; ++w) {
      const std::int64_t valid = std::min<std::int64_t>(64, bits - 64 * w);
      v[std::size_t(r * words + w)] = valid == 64 ? rng() : rng() & ((std::uint64_t{1} << valid) - 1);
    }
  return v;
}

std::vector<float> signs_as_float(std::int64_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& e : v) e = (rng() & 1) ? -1.0f : 1.0f;
  return v;
}

struct shape {
  std::int64_t M, N, bits;
};

// a) xnor_gemm vs fp32 GEMM; returns fp32 time ÷ xnor time per shape.
std::vector<double> gemm_section(const std::vector<shape>& shapes, int rounds, double hz) {
  std::printf("\n%d thread%s — a) products C = A·Bᵀ (M×bits times N×bits); fp32 via %s\n", num_threads(),
              num_threads() > 1 ? "s" : "", cpu_k::gemm_backend());
  std::printf("%-18s %-26s %11s %11s %10s %14s\n", "M×N×bits", "xnor tile", "fp32 ms", "xnor ms", "fp32÷xnor",
              "bin MAC/cyc/core");
  std::vector<double> out;
  for (const shape& s : shapes) {
    const auto A = random_words(s.M, s.bits, 1), B = random_words(s.N, s.bits, 2);
    std::vector<std::int32_t> C(std::size_t(s.M * s.N));
    const auto Af = signs_as_float(s.M * s.bits, 3), Bf = signs_as_float(s.N * s.bits, 4);
    std::vector<float> Cf(std::size_t(s.M * s.N));
    const auto fp32 = [&] {
      cpu_k::gemm<float>(false, true, s.M, s.N, s.bits, 1.0f, Af.data(), s.bits, Bf.data(), s.bits, 0.0f, Cf.data(), s.N);
    };
    const auto xnor = [&] { cpu_k::xnor_gemm(s.M, s.N, s.bits, A.data(), B.data(), C.data(), s.N); };
    const auto t = rounds_of({fp32, xnor}, rounds);
    const double r = median(ratios(t[0], t[1]));
    const double macs = double(s.M) * double(s.N) * double(s.bits);
    char name[40];
    std::snprintf(name, sizeof name, "%lld×%lld×%lld", (long long)s.M, (long long)s.N, (long long)s.bits);
    std::printf("%-18s %-26s %11.3f %11.4f %9.2fx %14.1f\n", name, cpu_k::xnor_kernel_name(cpu_k::words_for(s.bits)),
                1e3 * median(t[0]), 1e3 * median(t[1]), r, hz > 0 ? macs / median(t[1]) / hz / num_threads() : 0.0);
    out.push_back(r);
  }
  return out;
}

// a') The vector tile against the scalar POPCNT tile by depth: where xnor_gemm's switch belongs.
void tile_choice_section(int rounds, double hz) {
  if (!cpu_k::xnor_detail::has_vector_tile) return;
  namespace xd = cpu_k::xnor_detail;
  std::printf("\n%d thread%s — a') vector tile (%s) vs scalar POPCNT tile, 768×256 products\n", num_threads(),
              num_threads() > 1 ? "s" : "", xd::vector_name);
  std::printf("%-8s %14s %14s %12s   %s\n", "words", "vector MAC/cyc", "scalar MAC/cyc", "scalar÷vec", "automatic runs");
  for (std::int64_t words : {1, 2, 3, 4, 8, 16, 36}) {
    const std::int64_t M = 768, N = 256, bits = 64 * words;
    const auto A = random_words(M, bits, 5), B = random_words(N, bits, 6);
    std::vector<std::int32_t> C(std::size_t(M * N));
    const auto t = rounds_of({[&] { cpu_k::xnor_gemm(M, N, bits, A.data(), B.data(), C.data(), N, xd::path::vector); },
                              [&] { cpu_k::xnor_gemm(M, N, bits, A.data(), B.data(), C.data(), N, xd::path::scalar); }},
                             rounds);
    const double macs = double(M) * double(N) * double(bits), per = hz * num_threads();
    std::printf("%-8lld %14.1f %14.1f %12.2f   %s\n", (long long)words, macs / median(t[0]) / per, macs / median(t[1]) / per,
                median(ratios(t[0], t[1])), cpu_k::xnor_kernel_name(words));
  }
}

struct layer {
  const char* name;
  std::int64_t n, C, HW, K;
};
struct conv_row {
  double vs_im2col, vs_best;
};

// b) One 3×3 pad 1 layer: xnor_conv2d vs every fp32 algorithm (and automatic) in the same rounds.
conv_row conv_section(const layer& l, int rounds, double hz) {
  const conv_geometry g{l.C, l.HW, l.HW, l.K, 3, 3, 1, 1, 1, 1};
  const std::int64_t n = l.n, words = cpu_k::words_for(g.C);
  Tensor<float, 1> x(n * g.input_elements()), w(g.weight_elements()), b(g.K), y(n * g.output_elements());
  fill_uniform(x, -1, 1, 1);
  fill_uniform(w, -1, 1, 2);
  fill_uniform(b, -0.1, 0.1, 3);
  std::vector<std::uint64_t> xb(std::size_t(n * g.H * g.W * words)), wb(std::size_t(g.K * g.R * g.S * words));
  cpu_k::pack_sign_nchw_to_nhwc(x.data(), n, g.C, g.H, g.W, xb.data());
  cpu_k::pack_filter_signs(w.data(), g.K, g.C, g.R, g.S, wb.data());
  const cpu_k::xnor_filter f(wb.data(), g.K, g.C, g.R, g.S);
  cpu_k::xnor_conv_workspace ws;
  std::vector<std::int32_t> yb(std::size_t(n * g.output_elements()));

  std::vector<std::string> names;
  std::vector<std::function<void()>> cs;
  std::vector<std::unique_ptr<algo::conv_state<float>>> states;
  algo::detail::for_each_candidate<float>([&](std::size_t, auto tag) {
    using A = decltype(tag);
    using K = kernels::conv_kernel<A, cpu, float>;
    if (!A::supports(g)) return;
    auto* st = states.emplace_back(std::make_unique<algo::conv_state<float>>()).get();
    names.push_back(A::name);
    cs.push_back([&, st] { K::forward(g, n, x.data(), w.data(), b.data(), y.data(), *st); });
  });
  const std::size_t fp32_count = cs.size();
  auto* auto_state = states.emplace_back(std::make_unique<algo::conv_state<float>>()).get();
  auto_state->layer = std::string("benchmark binary ") + l.name;
  names.push_back("automatic");
  cs.push_back([&, auto_state] {
    kernels::conv_kernel<algo::automatic, cpu, float>::forward(g, n, x.data(), w.data(), b.data(), y.data(), *auto_state);
  });
  names.push_back("xnor_conv2d");
  cs.push_back([&] { cpu_k::xnor_conv2d(g, n, xb.data(), f, yb.data(), ws); });
  names.push_back("pack input");
  cs.push_back([&] { cpu_k::pack_sign_nchw_to_nhwc(x.data(), n, g.C, g.H, g.W, xb.data()); });
  const auto t = rounds_of(cs, rounds);
  const std::size_t ix = cs.size() - 2, ip = cs.size() - 1;
  std::string automatic;
  for (const auto& c : algo::conv_choices())
    if (c.layer == auto_state->layer) automatic = c.algorithm;

  std::size_t best = 0, im2col = 0;
  for (std::size_t i = 0; i < fp32_count; ++i) {
    if (median(t[i]) < median(t[best])) best = i;
    if (names[i] == "im2col") im2col = i;
  }
  // automatic runs one of the others: it counts as "best" only through the one it runs.
  const double macs = double(n) * double(g.output_elements()) * double(g.patch());
  const double per = hz * num_threads();
  const double xs = median(t[ix]);
  char label[48];
  std::snprintf(label, sizeof label, "%s) n%lld C%lld %lldx%lld K%lld", l.name, (long long)n, (long long)l.C, (long long)l.HW,
                (long long)l.HW, (long long)l.K);
  for (std::size_t i = 0; i < cs.size(); ++i) {
    const double ms = 1e3 * median(t[i]);
    std::string note;
    if (i == best) note = "fastest fp32";
    if (names[i] == "automatic") note = "picks " + automatic;
    if (i == ix) note = std::string("tile ") + cpu_k::xnor_kernel_name(g.R * g.S * words);
    if (i == ip) note = "not in the conv's time";
    const double mac_cycle = i == ip ? 0.0 : macs / median(t[i]) / per;
    const double vs = i == ip ? 0.0 : median(ratios(t[i], t[ix]));
    std::printf("%-28s %-13s %10.3f %11.1f %11.2fx  %s\n", label, names[i].c_str(), ms, mac_cycle, vs, note.c_str());
  }
  const conv_row row{median(ratios(t[im2col], t[ix])), median(ratios(t[best], t[ix]))};
  std::printf("%-28s xnor: %.2fx im2col, %.2fx the fastest fp32 (%s); packing the input costs %.0f%% of the binary conv\n\n",
              label, row.vs_im2col, row.vs_best, names[best].c_str(), 100 * median(t[ip]) / xs);
  return row;
}

// examples/binary's network.
using BinaryNetDef = Sequential<Input<1, 28, 28>, Conv<32, Pad<1>, NoBias>, MaxPool<2>, BatchNorm, HardTanh,
                                Conv<64, Pad<1>, NoBias>, BatchNorm, HardTanh, Conv<64, Pad<1>, NoBias>, MaxPool<2>, BatchNorm,
                                HardTanh, Conv<128, Pad<1>, NoBias>, BatchNorm, HardTanh, Flatten, Dense<256, NoBias>, BatchNorm,
                                HardTanh, Dense<10, NoBias>, BatchNorm>;

struct network_row {
  double vs_fp32_batch = 0, vs_fp32_single = 0;
};

// c) Both inference engines on the same random batches; fp32 time ÷ binary time.
network_row network_section(int rounds, std::int64_t batch) {
  Model<BinaryNetDef, binary> b(1);
  Model<BinaryNetDef, float> f(1);
  Inference binary_engine(b);
  Inference float_engine(f);
  network_row row;
  std::printf("%-34s %8s %10s %10s %8s\n", "examples/binary's network", "batch", "fp32 ms", "binary ms", "÷");
  for (std::int64_t n : {batch, std::int64_t{1}}) {
    Tensor<float, 2> x(Shape{n, BinaryNetDef::input_shape::elements});
    fill_uniform(x, 0, 1, 3);
    const auto t = rounds_of({[&] { (void)float_engine.forward(x); }, [&] { (void)binary_engine.forward(x); }}, rounds);
    const double r = median(ratios(t[0], t[1]));
    std::printf("%-34s %8lld %10.3f %10.3f %7.2fx\n", "Inference<Net, float | binary>", static_cast<long long>(n),
                1e3 * median(t[0]), 1e3 * median(t[1]), r);
    (n == 1 ? row.vs_fp32_single : row.vs_fp32_batch) = r;
  }
  return row;
}

// c) The binarised layers' weights: bytes in an fp32 model file over bytes in the binary one (the
// packed signs), and the whole files.
struct size_row {
  double binarised = 0, whole = 0;
};
size_row size_section() {
  Model<BinaryNetDef, binary> b(1);
  Model<BinaryNetDef, float> f(1);
  const auto dir = std::filesystem::temp_directory_path();
  const auto bpath = dir / ("strata_binary_bench_" + std::to_string(::getpid()) + "_b.strata");
  const auto fpath = dir / ("strata_binary_bench_" + std::to_string(::getpid()) + "_f.strata");
  b.save(bpath);
  f.save(fpath);
  const io::archive ab = io::read_archive(bpath, "strata-model", Model<BinaryNetDef, binary>::signature());
  const io::archive af = io::read_archive(fpath, "strata-model", Model<BinaryNetDef, float>::signature());
  double in_fp32 = 0, in_binary = 0;
  b.visit_parameters([&](auto& p) {
    if (p.binarized.rows == 0) return;
    in_binary += double(ab.at(p.name).data.size());
    in_fp32 += double(af.at(p.name).data.size());
  });
  size_row row{in_fp32 / in_binary, double(std::filesystem::file_size(fpath)) / double(std::filesystem::file_size(bpath))};
  std::printf("model files: binarised layers %.1f KiB in fp32, %.1f KiB packed (%.1fx); whole files %.1f KiB and %.1f KiB (%.1fx)\n",
              in_fp32 / 1024, in_binary / 1024, row.binarised, double(std::filesystem::file_size(fpath)) / 1024,
              double(std::filesystem::file_size(bpath)) / 1024, row.whole);
  std::filesystem::remove(bpath);
  std::filesystem::remove(fpath);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
#if !defined(__AVX512F__)
  // The fp32 GEMM's OpenBLAS picks its kernels at run time: keep it on AVX2 like the rest of this build.
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  if (!coretype || std::strcmp(coretype, "Haswell") != 0) {
    setenv("OPENBLAS_CORETYPE", "Haswell", 1);
    execv("/proc/self/exe", argv);
  }
#endif
  int rounds = 7;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    else if (a == "--quick") quick = true, rounds = 3;
    else {
      std::fprintf(stderr, "usage: binary [--rounds N] [--quick]\n");
      return 2;
    }
  }
  const double hz = clock_hz();
  std::printf("binary: %d rounds (medians of per-round ratios); ISA %s; xnor vector tile %s; clock %.0f MHz (/proc/cpuinfo); "
              "OPENBLAS_CORETYPE=%s\n",
              rounds,
#if defined(__AVX512F__)
              "AVX-512 (native)",
#elif defined(__AVX2__)
              "AVX2 (x86-64-v3)",
#else
              "baseline",
#endif
              cpu_k::xnor_detail::vector_name, hz * 1e-6, std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "(unset: OpenBLAS picks)");
  const std::int64_t batch = quick ? 2 : 8;
  const std::vector<shape> shapes = {{batch * 196, 256, 2304}, {1024, 1024, 1024}, {4096, 128, 128}};
  const layer layers[] = {{"c", batch, 256, 14, 256}, {"c2", batch, 256, 28, 256}, {"b", batch, 128, 28, 128}};
  std::vector<double> gemm[2], im2col[2], best[2];
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    gemm[threads - 1] = gemm_section(shapes, rounds, hz);
    tile_choice_section(rounds, hz);
    std::printf("\n%d thread%s — b) 3×3 pad 1 convolutions, forward (ms; binary multiply-adds per cycle per core; fp32 time ÷ xnor time)\n",
                threads, threads > 1 ? "s" : "");
    std::printf("%-28s %-13s %10s %11s %12s\n", "layer", "algorithm", "ms", "MAC/cyc/core", "÷ xnor");
    for (const layer& l : layers) {
      const conv_row row = conv_section(l, rounds, hz);
      im2col[threads - 1].push_back(row.vs_im2col);
      best[threads - 1].push_back(row.vs_best);
    }
  }
  network_row net[2];
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    std::printf("\n%d thread%s — c) a whole network, inference (fp32 time ÷ binary time)\n", threads, threads > 1 ? "s" : "");
    net[threads - 1] = network_section(rounds, quick ? 16 : 64);
  }
  std::printf("\n");
  const size_row sizes = size_section();
  set_num_threads(0);
  std::printf("RESULT xnor_gemm_vs_fp32=%.2f xnor_conv_vs_fp32_im2col=%.2f xnor_conv_vs_fp32_best=%.2f "
              "binary_net_infer_vs_fp32=%.2f model_size_ratio=%.1f binary_net_infer_vs_fp32_b1=%.2f "
              "binary_net_infer_vs_fp32_1t=%.2f model_file_ratio=%.1f ",
              geomean(gemm[1]), geomean(im2col[1]), geomean(best[1]), net[1].vs_fp32_batch, sizes.binarised,
              net[1].vs_fp32_single, net[0].vs_fp32_batch, sizes.whole);
  std::printf("xnor_conv_vs_fp32_im2col_min=%.2f xnor_conv_vs_fp32_best_min=%.2f "
              "conv_c_vs_im2col=%.2f conv_c_vs_best=%.2f conv_c2_vs_im2col=%.2f conv_c2_vs_best=%.2f "
              "conv_b_vs_im2col=%.2f conv_b_vs_best=%.2f xnor_gemm_vs_fp32_1t=%.2f xnor_conv_vs_fp32_im2col_1t=%.2f "
              "xnor_conv_vs_fp32_best_1t=%.2f\n",
              *std::min_element(im2col[1].begin(), im2col[1].end()),
              *std::min_element(best[1].begin(), best[1].end()), im2col[1][0], best[1][0], im2col[1][1], best[1][1],
              im2col[1][2], best[1][2], geomean(gemm[0]), geomean(im2col[0]), geomean(best[0]));
  return 0;
}
