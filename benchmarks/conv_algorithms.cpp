// benchmarks/conv_algorithms — Which convolution algorithm wins for which layer, and how does
// strata's best compare with PyTorch and oneDNN on the same shapes, side by side?
//
// Layers (N, C, H=W, K, kernel, stride, pad): a) 32,64,56,64,3,1,1  b) 32,128,28,128,3,1,1
// c) 32,256,14,256,3,1,1  d) 32,3,224,64,7,2,3  e) 32,256,56,64,1,1,0  f) 1,64,56,64,3,1,1, and
// kernels 3…11 at N=8, C=64, H=64, K=64 ("same" padding) to show where FFT overtakes im2col.
// Every strata algorithm that supports a shape, fp32, 2 threads, median of ≥ 10 calls after a
// warm-up (filter transforms cached, as in inference); backward passes for layer b. PyTorch
// (torch.nn.functional.conv2d, in a coprocess: benchmarks/peers/conv_pytorch.py) and oneDNN
// (its direct and Winograd convolutions) run in the same rounds: each round calls every
// contender of a layer once, in turn, so a slow spell of the shared machine hits all of them.
// Ratios are peer time ÷ strata time.
//
// Usage: conv_algorithms [--reps N] [--quick] [--no-peers]
#include <strata/core/random.hpp>
#include <strata/kernels/cpu/conv_algorithms.hpp>

#include "conv_layers.hpp"

#if __has_include(<oneapi/dnnl/dnnl.hpp>)
#include <oneapi/dnnl/dnnl.hpp>
#define STRATA_BENCH_HAVE_ONEDNN 1
#endif

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "peers/peer_process.hpp"

using namespace strata;
using kernels::conv_geometry;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

double elapsed_ms(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Something timed in the rounds: one call per round; returns its time in ms.
struct contender {
  std::string name, note;
  std::function<double()> run;
  std::vector<double> times;
  double ms() const { return median(times); }
};

// Every contender once (twice for peers, whose first calls build their primitives), then `reps`
// rounds in which each runs once, in turn; each round starts one contender later, so no one
// always runs right after the PyTorch process (whose threads may still be spinning).
void interleave(std::vector<contender>& cs, int reps) {
  for (auto& c : cs) {
    c.run();
    if (!c.note.empty()) c.run();
  }
  const std::size_t n = cs.size();
  for (int r = 0; r < reps; ++r)
    for (std::size_t i = 0; i < n; ++i) {
      auto& c = cs[(i + std::size_t(r)) % n];
      c.times.push_back(c.run());
    }
}

#if defined(STRATA_BENCH_HAVE_ONEDNN)
// oneDNN's forward convolution with algorithm a on this layer, ready to run (the data arrives in
// NCHW; oneDNN may prefer blocked layouts: the input is reordered in every call, as a framework
// holding NCHW tensors must, the weights once), or an empty function when oneDNN refuses.
std::function<void()> onednn_conv(const layer_spec& l, dnnl::algorithm a) {
  using namespace dnnl;
  try {
    struct state {
      engine eng{engine::kind::cpu, 0};
      stream s{eng};
      memory user_src, user_dst, src, wei, bia, dst;
      convolution_forward conv;
    };
    auto st = std::make_shared<state>();
    const auto g = l.geometry();
    const memory::dims src{l.N, l.C, l.H, l.H}, wei{l.K, l.C, l.R, l.R}, bia{l.K}, dst{l.N, l.K, g.P(), g.Q()};
    const memory::dims strides{l.stride, l.stride}, pads{l.pad, l.pad};
    auto any = [](const memory::dims& d) { return memory::desc(d, memory::data_type::f32, memory::format_tag::any); };
    auto desc = convolution_forward::desc(prop_kind::forward_inference, a, any(src), any(wei), any(bia), any(dst), strides, pads, pads);
    auto pd = convolution_forward::primitive_desc(desc, st->eng);
    st->user_src = memory({src, memory::data_type::f32, memory::format_tag::nchw}, st->eng);
    memory user_wei({wei, memory::data_type::f32, memory::format_tag::oihw}, st->eng);
    std::fill_n(static_cast<float*>(st->user_src.get_data_handle()), l.N * l.C * l.H * l.H, 0.5f);
    std::fill_n(static_cast<float*>(user_wei.get_data_handle()), l.K * l.C * l.R * l.R, 0.01f);
    st->src = pd.src_desc() == st->user_src.get_desc() ? st->user_src : memory(pd.src_desc(), st->eng);
    st->wei = pd.weights_desc() == user_wei.get_desc() ? user_wei : memory(pd.weights_desc(), st->eng);
    st->bia = memory(pd.bias_desc(), st->eng);
    st->dst = memory(pd.dst_desc(), st->eng);
    st->user_dst = memory({dst, memory::data_type::f32, memory::format_tag::nchw}, st->eng);
    if (st->wei != user_wei) reorder(user_wei, st->wei).execute(st->s, user_wei, st->wei);
    st->conv = convolution_forward(pd);
    return [st] {
      if (st->src != st->user_src) reorder(st->user_src, st->src).execute(st->s, st->user_src, st->src);
      st->conv.execute(st->s, {{DNNL_ARG_SRC, st->src}, {DNNL_ARG_WEIGHTS, st->wei}, {DNNL_ARG_BIAS, st->bia}, {DNNL_ARG_DST, st->dst}});
      if (st->dst.get_desc() != st->user_dst.get_desc()) reorder(st->dst, st->user_dst).execute(st->s, st->dst, st->user_dst);
      st->s.wait();
    };
  } catch (const dnnl::error&) {
    return {};
  }
}
#endif

}  // namespace

int main(int argc, char** argv) {
  int reps = 10;
  bool quick = false, peers = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc) reps = std::max(3, std::atoi(argv[++i]));
    else if (a == "--quick") quick = true, reps = 3;
    else if (a == "--no-peers") peers = false;
    else {
      std::fprintf(stderr, "usage: %s [--reps N] [--quick] [--no-peers]\n", argv[0]);
      return 2;
    }
  }
  set_num_threads(2);
  std::vector<layer_spec> layers = benchmark_conv_layers();
  if (quick) {
    for (auto& l : layers) l.N = std::max<std::int64_t>(1, l.N / 4);
  }

  std::unique_ptr<peer_process> torch;
  std::string torch_note;
  if (peers) {
    torch = std::make_unique<peer_process>(std::string(STRATA_SOURCE_DIR) + "/benchmarks/peers/conv_pytorch.py",
                                           std::vector<std::string>{"--threads", "2"});
    if (torch->ready()) {
      torch_note = "PyTorch " + torch->version();
    } else {
      torch_note = "PyTorch not available (" + torch->status + "; scripts/setup --benchmarks installs python3-torch)";
      torch.reset();
    }
  } else {
    torch_note = "peers skipped (--no-peers)";
  }

  std::printf("conv_algorithms: fp32, %d threads, GEMM via %s%s; %s\n", num_threads(), kernels::cpu::gemm_backend(),
#if defined(STRATA_USE_FFTW)
              ", FFT via FFTW (opted in)",
#else
              ", FFT on strata's own transforms",
#endif
              torch_note.c_str());
  std::printf("median of %d rounds after a warm-up; in each round every algorithm and peer of the layer runs once, in turn\n\n", reps);
  std::printf("%-4s %-26s %-16s %10s %9s  %s\n", "", "layer", "algorithm", "ms", "GFLOP/s", "");

  double best_vs_torch_min = INFINITY, best_vs_torch_3x3_min = INFINITY, best_vs_onednn_min = INFINITY,
         best_vs_onednn_3x3_min = INFINITY, winograd4_vs_im2col_b = 0, fft_vs_im2col_k11 = 0, automatic_worst = 1;

  for (const auto& l : layers) {
    const auto g = l.geometry();
    Tensor<float, 1> x(l.N * g.input_elements()), w(g.weight_elements()), b(l.K), y(l.N * g.output_elements());
    fill_uniform(x, -1, 1, 1);
    fill_uniform(w, -0.1, 0.1, 2);
    fill_uniform(b, -0.1, 0.1, 3);
    const std::string label = std::to_string(l.N) + "," + std::to_string(l.C) + "," + std::to_string(l.H) + "," +
                              std::to_string(l.K) + " " + std::to_string(l.R) + "x" + std::to_string(l.R) + "/" +
                              std::to_string(l.stride) + " p" + std::to_string(l.pad);
    bool torch_layer = false;
    if (torch) {
      std::ostringstream cmd;
      cmd << "layer " << l.N << " " << l.C << " " << l.H << " " << l.K << " " << l.R << " " << l.stride << " " << l.pad;
      torch_layer = torch->ask(cmd.str()) == "ok";
    }
    auto torch_contender = [&](const char* pass) {
      return contender{"pytorch", "(peer)", [&torch, pass] { return std::atof(torch->ask(std::string("run ") + pass).c_str()); }, {}};
    };
    // One conv_state per algorithm: each keeps its transformed filters, as in inference.
    std::vector<std::unique_ptr<algo::conv_state<float>>> states;
    auto new_state = [&] { return states.emplace_back(std::make_unique<algo::conv_state<float>>()).get(); };

    std::vector<contender> cs;
    algo::detail::for_each_candidate<float>([&](std::size_t, auto tag) {
      using A = decltype(tag);
      using K = kernels::conv_kernel<A, cpu, float>;
      if (!A::supports(g)) return;
      auto* st = new_state();
      cs.push_back({A::name, "", [&, st] { return elapsed_ms([&] { K::forward(g, l.N, x.data(), w.data(), b.data(), y.data(), *st); }); }, {}});
    });
    const std::size_t strata_count = cs.size();
    auto* auto_state = new_state();
    auto_state->layer = "benchmark " + l.name;
    cs.push_back({"automatic", "", [&, auto_state] {
                    return elapsed_ms([&] {
                      kernels::conv_kernel<algo::automatic, cpu, float>::forward(g, l.N, x.data(), w.data(), b.data(), y.data(),
                                                                                 *auto_state);
                    });
                  }, {}});
    std::vector<std::string> refused;
#if defined(STRATA_BENCH_HAVE_ONEDNN)
    if (peers)
      for (auto [a, n] : {std::pair{dnnl::algorithm::convolution_direct, "onednn direct"},
                          std::pair{dnnl::algorithm::convolution_winograd, "onednn winograd"}}) {
        if (auto f = onednn_conv(l, a)) cs.push_back({n, "(peer)", [f] { return elapsed_ms(f); }, {}});
        else refused.push_back(n);
      }
#endif
    if (torch_layer) cs.push_back(torch_contender("forward"));
    interleave(cs, reps);

    double best = INFINITY, onednn_best = NAN, torch_ms = NAN;
    std::string best_name, automatic;
    std::map<std::string, double> ms;
    for (const auto& c : algo::conv_choices())
      if (c.layer == auto_state->layer) automatic = c.algorithm;
    for (std::size_t i = 0; i < cs.size(); ++i) {
      const auto& c = cs[i];
      const double t = c.ms();
      ms[c.name] = t;
      if (i < strata_count && t < best) best = t, best_name = c.name;
      if (c.name.rfind("onednn", 0) == 0 && (std::isnan(onednn_best) || t < onednn_best)) onednn_best = t;
      if (c.name == "pytorch") torch_ms = t;
      std::string note = c.note;
      if (c.name == "automatic") note = "picks " + automatic;
      std::printf("%-4s %-26s %-16s %10.3f %9.1f  %s\n", l.name.c_str(), label.c_str(), c.name.c_str(), t,
                  l.flops() / t / 1e6, note.c_str());
    }
    for (const auto& n : refused) std::printf("%-4s %-26s %-16s refused this shape\n", l.name.c_str(), label.c_str(), n.c_str());
    if (ms.count(automatic)) automatic_worst = std::max(automatic_worst, ms[automatic] / best);
    const bool main_layer = l.name.size() == 1;
    const bool three_by_three = l.name == "a" || l.name == "b" || l.name == "c";
    if (main_layer && !std::isnan(torch_ms)) {
      best_vs_torch_min = std::min(best_vs_torch_min, torch_ms / best);
      if (three_by_three) best_vs_torch_3x3_min = std::min(best_vs_torch_3x3_min, torch_ms / best);
    }
    if (main_layer && !std::isnan(onednn_best)) {
      best_vs_onednn_min = std::min(best_vs_onednn_min, onednn_best / best);
      if (three_by_three || l.name == "f") best_vs_onednn_3x3_min = std::min(best_vs_onednn_3x3_min, onednn_best / best);
    }
    if (l.name == "b" && ms.count("winograd<4>")) winograd4_vs_im2col_b = ms["im2col"] / ms["winograd<4>"];
    if (l.name == "k11" && ms.count("fft")) fft_vs_im2col_k11 = ms["im2col"] / ms["fft"];
    std::printf("%-4s %-26s best: %s, %.2fx PyTorch, %.2fx oneDNN's best\n\n", l.name.c_str(), label.c_str(),
                best_name.c_str(), torch_ms / best, onednn_best / best);

    // Backward passes of layer b, interleaved the same way.
    if (l.backward) {
      Tensor<float, 1> dy(l.N * g.output_elements()), dx(l.N * g.input_elements()), dw(g.weight_elements()), db(l.K);
      fill_uniform(dy, -1, 1, 4);
      for (const char* pass : {"backward_data", "backward_filter"}) {
        const bool data = std::strcmp(pass, "backward_data") == 0;
        std::vector<contender> bs;
        algo::detail::for_each_candidate<float>([&](std::size_t, auto tag) {
          using A = decltype(tag);
          using K = kernels::conv_kernel<A, cpu, float>;
          if (!A::supports(g)) return;
          auto* st = new_state();
          bs.push_back({A::name, "", [&, st, data] {
                          return elapsed_ms([&] {
                            if (data) K::backward_data(g, l.N, w.data(), dy.data(), dx.data(), *st);
                            else K::backward_filter(g, l.N, x.data(), dy.data(), dw.data(), db.data(), *st);
                          });
                        }, {}});
        });
        const std::size_t ours = bs.size();
        if (torch_layer) bs.push_back(torch_contender(pass));
        interleave(bs, reps);
        double best_pass = INFINITY;
        for (std::size_t i = 0; i < bs.size(); ++i) {
          const double t = bs[i].ms();
          if (i < ours) best_pass = std::min(best_pass, t);
          std::printf("%-4s %-26s %-16s %10.3f %9.1f  %s %s\n", l.name.c_str(), label.c_str(), bs[i].name.c_str(), t,
                      l.flops() / t / 1e6, pass, bs[i].note.c_str());
        }
        if (torch_layer)
          std::printf("%-4s %-26s %s: strata's best is %.2fx faster than PyTorch\n", l.name.c_str(), label.c_str(), pass,
                      bs.back().ms() / best_pass);
      }
      std::printf("\n");
    }
  }
  auto finite_or_zero = [](double v) { return std::isfinite(v) ? v : 0.0; };
  std::printf("automatic's pick is at most %.1f%% slower than the best algorithm on every layer\n\n",
              100 * (automatic_worst - 1));
  std::printf("RESULT best_vs_pytorch_min=%.3f best_vs_pytorch_3x3_min=%.3f best_vs_onednn_min=%.3f "
              "best_vs_onednn_3x3_min=%.3f winograd4_vs_im2col_b=%.3f fft_vs_im2col_k11=%.3f automatic_vs_best_max=%.3f\n",
              finite_or_zero(best_vs_torch_min), finite_or_zero(best_vs_torch_3x3_min), finite_or_zero(best_vs_onednn_min),
              finite_or_zero(best_vs_onednn_3x3_min), winograd4_vs_im2col_b, fft_vs_im2col_k11, automatic_worst);
  return 0;
}
