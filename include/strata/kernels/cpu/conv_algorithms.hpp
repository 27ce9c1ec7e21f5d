// strata/kernels/cpu/conv_algorithms.hpp — the convolution algorithms as tags a layer can force
// (`Algorithm<algo::winograd<4>>`), and `algo::automatic`, which times the candidates that
// support a shape once per (pass, shape, batch, precision, threads, training), keeps the winner
// for the process, and records every choice in conv_choices() — so what ran is never a secret.
// set_conv_autotune(false) picks by a rule of thumb instead of timing.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/parallel.hpp"
#include "strata/kernels/cpu/conv_direct.hpp"
#include "strata/kernels/cpu/conv_gemm_1x1.hpp"
#include "strata/kernels/cpu/conv_geometry.hpp"
#include "strata/kernels/cpu/conv_im2col.hpp"
#include "strata/kernels/cpu/filter_cache.hpp"
#include "strata/kernels/cpu/winograd.hpp"
#if defined(STRATA_USE_FFTW)
#include "strata/kernels/cpu/fft_conv.hpp"
#endif

namespace strata::algo {

using kernels::conv_geometry;

// What a convolution layer keeps between calls: transformed filters per pass (each checks the
// weights it was made from, see filter_cache), and automatic's last decisions.
template <class T>
struct conv_state {
  kernels::cpu::filter_cache<T> forward_filters, backward_filters;
  bool training = false;
  // automatic's last decision per pass (forward, backward data, backward filter): repeated calls
  // with the same shape run it directly, without the registry's string key and lock.
  struct remembered_choice {
    conv_geometry geometry{};
    std::int64_t batch = -1, threads = 0;
    bool training = false;
    std::size_t index = 0;
  };
  std::array<remembered_choice, 3> last{};
};

// The plain loops of the definition: the reference every other algorithm is tested against.
struct reference {
  static constexpr const char* name = "reference";
  static bool supports(const conv_geometry&) { return true; }
  template <class T>
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, conv_state<T>&) {
    kernels::cpu::conv_direct_forward(g, n, x, w, b, y);
  }
  template <class T>
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx, conv_state<T>&) {
    kernels::cpu::conv_direct_backward_data(g, n, w, dy, dx);
  }
  template <class T>
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db, conv_state<T>&) {
    kernels::cpu::conv_direct_backward_filter(g, n, x, dy, dw, db);
  }
};

struct im2col {
  static constexpr const char* name = "im2col";
  static bool supports(const conv_geometry&) { return true; }
  template <class T>
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, conv_state<T>&) {
    kernels::cpu::conv_im2col_forward(g, n, x, w, b, y);
  }
  template <class T>
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx, conv_state<T>&) {
    kernels::cpu::conv_im2col_backward_data(g, n, w, dy, dx);
  }
  template <class T>
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db, conv_state<T>&) {
    kernels::cpu::conv_im2col_backward_filter(g, n, x, dy, dw, db);
  }
};

// Vectorised direct loops for the forward pass. Its backward passes would be the same loops
// with worse access patterns, so they are delegated to im2col.
struct direct : im2col {
  static constexpr const char* name = "direct";
  template <class T>
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, conv_state<T>&) {
    kernels::cpu::conv_direct_vectorised_forward(g, n, x, w, b, y);
  }
};

struct gemm_1x1 {
  static constexpr const char* name = "gemm_1x1";
  static bool supports(const conv_geometry& g) { return kernels::cpu::gemm_1x1_supports(g); }
  template <class T>
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, conv_state<T>&) {
    kernels::cpu::conv_gemm_1x1_forward(g, n, x, w, b, y);
  }
  template <class T>
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx, conv_state<T>&) {
    kernels::cpu::conv_gemm_1x1_backward_data(g, n, w, dy, dx);
  }
  template <class T>
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db, conv_state<T>&) {
    kernels::cpu::conv_gemm_1x1_backward_filter(g, n, x, dy, dw, db);
  }
};

// Winograd F(M×M, 3×3): 3×3, stride 1.
template <int M>
struct winograd {
  static_assert(M == 2 || M == 4, "strata::algo::winograd<M>: M is 2 (F(2×2,3×3)) or 4 (F(4×4,3×3))");
  static constexpr const char* name = M == 2 ? "winograd<2>" : "winograd<4>";
  static bool supports(const conv_geometry& g) { return kernels::cpu::winograd_supports<M>(g); }
  template <class T>
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, conv_state<T>& s) {
    kernels::cpu::winograd_forward<M>(g, n, x, w, b, y, s.forward_filters);
  }
  template <class T>
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx, conv_state<T>& s) {
    kernels::cpu::winograd_backward_data<M>(g, n, w, dy, dx, s.backward_filters);
  }
  template <class T>
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db, conv_state<T>&) {
    kernels::cpu::winograd_backward_filter<M>(g, n, x, dy, dw, db);
  }
};

#if defined(STRATA_USE_FFTW)
struct fft {
  static constexpr const char* name = "fft";
  static bool supports(const conv_geometry& g) { return kernels::cpu::fft_conv_supports(g); }
  template <class T>
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, conv_state<T>& s) {
    kernels::cpu::fft_conv_forward(g, n, x, w, b, y, s.forward_filters);
  }
  template <class T>
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx, conv_state<T>& s) {
    kernels::cpu::fft_conv_backward_data(g, n, w, dy, dx, s.backward_filters);
  }
  template <class T>
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db, conv_state<T>&) {
    kernels::cpu::fft_conv_backward_filter(g, n, x, dy, dw, db);
  }
};
using candidates = std::tuple<im2col, gemm_1x1, direct, winograd<2>, winograd<4>, fft>;
#else
using candidates = std::tuple<im2col, gemm_1x1, direct, winograd<2>, winograd<4>>;
#endif

// ---------------------------------------------------------------------------------------------
// Automatic choice.

enum class conv_pass { forward, backward_data, backward_filter };
inline const char* name_of(conv_pass p) {
  return p == conv_pass::forward ? "forward" : p == conv_pass::backward_data ? "backward data" : "backward filter";
}

// One decision automatic made, as conv_choices() reports it.
struct conv_choice {
  std::string layer;      // the layer's description
  conv_geometry geometry;
  std::int64_t batch = 0;
  conv_pass pass = conv_pass::forward;
  std::string algorithm;  // what runs from now on
  bool timed = true;      // false: chosen by the rule of thumb
  std::vector<std::pair<std::string, double>> milliseconds;  // each candidate's best time
};

namespace detail {
struct choice_registry {
  std::mutex mutex;
  std::map<std::string, std::size_t> index;  // key → position in choices
  std::vector<conv_choice> choices;
  bool autotune = true;
};
inline choice_registry& registry() {
  static choice_registry r;
  return r;
}

inline std::string key_of(conv_pass p, const conv_geometry& g, std::int64_t n, std::size_t value_bytes, bool training) {
  std::string k = std::to_string(int(p));
  for (std::int64_t v : {g.C, g.H, g.W, g.K, g.R, g.S, g.stride_y, g.stride_x, g.pad_y, g.pad_x, n})
    k += "," + std::to_string(v);
  return k + "," + std::to_string(value_bytes) + "," + std::to_string(num_threads()) + (training ? ",t" : ",i");
}

// The rule of thumb when not timing: 1×1 → GEMM, 3×3 stride 1 → Winograd (F(4×4) for larger
// planes), 5×5 and larger at stride 1 → FFT, else im2col.
inline std::size_t heuristic(const conv_geometry& g) {
  constexpr std::size_t im2col_i = 0, gemm_1x1_i = 1, winograd2_i = 3, winograd4_i = 4;
  if (gemm_1x1::supports(g)) return gemm_1x1_i;
  if (winograd<4>::supports(g) && g.P() >= 8 && g.Q() >= 8 && g.C >= 16 && g.K >= 16) return winograd4_i;
  if (winograd<2>::supports(g) && g.C >= 8 && g.K >= 8) return winograd2_i;
#if defined(STRATA_USE_FFTW)
  if (fft::supports(g) && g.R * g.S >= 25) return 5;  // benchmarks/conv_algorithms: FFT wins from 5×5 on
#endif
  return im2col_i;
}

// Candidates that would run exactly another candidate's code for this pass — direct's backward
// passes are im2col's, and on a pointwise shape im2col runs gemm_1x1's GEMMs: timing both only
// lets noise pick between two names for one code path.
template <class A>
bool same_code_as_another(A, conv_pass pass, const conv_geometry& g) {
  if constexpr (std::is_same_v<A, direct>) return pass != conv_pass::forward;
  if constexpr (std::is_same_v<A, im2col>) return g.is_pointwise();
  return false;
}

template <std::size_t I = 0, class F>
void with_candidate(std::size_t index, F&& f) {
  if constexpr (I < std::tuple_size_v<candidates>) {
    if (index == I) f(std::tuple_element_t<I, candidates>{});
    else with_candidate<I + 1>(index, std::forward<F>(f));
  }
}

template <class F>
void for_each_candidate(F&& f) {
  [&]<std::size_t... I>(std::index_sequence<I...>) { (f(I, std::tuple_element_t<I, candidates>{}), ...); }(
      std::make_index_sequence<std::tuple_size_v<candidates>>{});
}
}  // namespace detail

// Every choice automatic has made in this process, in the order they were made.
inline std::vector<conv_choice> conv_choices() {
  auto& r = detail::registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.choices;
}
// false: choose by the rule of thumb, without timing (reproducible, and free).
inline void set_conv_autotune(bool on) {
  auto& r = detail::registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.autotune = on;
}

// Times every candidate that supports the shape on the first call for a key, then always runs
// the winner. run(candidate) performs the pass with that candidate.
struct automatic {
  static constexpr const char* name = "automatic";
  static bool supports(const conv_geometry&) { return true; }

  // `layer` names the layer in conv_choices(): a string, or a function returning one (called
  // only when a new decision is recorded).
  template <class T, class Layer, class Run>
  static void dispatch(conv_pass pass, const conv_geometry& g, std::int64_t n, conv_state<T>& state,
                       const Layer& layer, Run&& run) {
    auto& memo = state.last[static_cast<std::size_t>(pass)];
    const std::int64_t threads = num_threads();
    if (memo.batch == n && memo.threads == threads && memo.training == state.training && memo.geometry == g) {
      detail::with_candidate(memo.index, [&](auto tag) { run(tag); });
      return;
    }
    auto& reg = detail::registry();
    const std::string key = detail::key_of(pass, g, n, sizeof(T), state.training);
    std::size_t chosen = 0;
    bool known = false, autotune = true;
    {
      std::lock_guard<std::mutex> lock(reg.mutex);
      autotune = reg.autotune;
      if (auto it = reg.index.find(key); it != reg.index.end()) {
        chosen = it->second;
        known = true;
      }
    }
    if (!known) {
      std::string name;
      if constexpr (std::is_invocable_v<const Layer&>) name = layer();
      else name = layer;
      conv_choice c{std::move(name), g, n, pass, "", autotune, {}};
      if (autotune) {
        double best = std::numeric_limits<double>::infinity();
        detail::for_each_candidate([&](std::size_t i, auto tag) {
          if (!decltype(tag)::supports(g) || detail::same_code_as_another(tag, pass, g)) return;
          double fastest = std::numeric_limits<double>::infinity();
          for (int rep = 0; rep < 3; ++rep) {  // the first run pays for transforms and page faults
            if (state.training) {  // in training the weights change every step: time the transforms too
              state.forward_filters.invalidate();
              state.backward_filters.invalidate();
            }
            const auto t0 = std::chrono::steady_clock::now();
            run(tag);
            const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            if (rep > 0) fastest = std::min(fastest, ms);
            // Hopeless candidates are not timed a third time: the direct loops can take a second
            // per call on a layer where the winner takes 20 ms. Judged on the second run, since
            // the first pays one-off costs (FFTW plans, filter transforms, page faults) that once
            // made FFT look 4× slower than im2col on a 5×5 layer where it is 2.5× faster.
            if (rep == 1 && ms > 4 * best) break;
          }
          c.milliseconds.emplace_back(decltype(tag)::name, fastest);
          if (fastest < best) best = fastest, chosen = i;
        });
      } else {
        chosen = detail::heuristic(g);
      }
      detail::with_candidate(chosen, [&](auto tag) { c.algorithm = decltype(tag)::name; });
      std::lock_guard<std::mutex> lock(reg.mutex);
      if (auto it = reg.index.find(key); it == reg.index.end()) {
        reg.index.emplace(key, chosen);
        reg.choices.push_back(std::move(c));
      }
    }
    memo = {g, n, threads, state.training, chosen};
    detail::with_candidate(chosen, [&](auto tag) { run(tag); });
  }
};

}  // namespace strata::algo

namespace strata {
using algo::conv_choices;
using algo::set_conv_autotune;
}  // namespace strata
