// strata/kernels/cpu/conv_algorithms.hpp — the CPU's convolution algorithms: conv_kernel<A, cpu,
// T> for each tag of kernels/conv_algorithm.hpp it implements, and `algo::automatic`, which picks
// once per (pass, shape, batch, precision, threads, training) — by timing, by a rule of thumb,
// or from a recorded plan (conv_tuning) — and records every choice in conv_choices().
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/parallel.hpp"
#include "strata/core/rounding_stream.hpp"
#include "strata/core/device_tags.hpp"
#include "strata/kernels/conv_algorithm.hpp"
#include "strata/kernels/conv_choices.hpp"
#include "strata/kernels/cpu/conv_direct.hpp"
#include "strata/kernels/cpu/conv_gemm_1x1.hpp"
#include "strata/kernels/cpu/conv_im2col.hpp"
#include "strata/kernels/cpu/filter_cache.hpp"
#include "strata/kernels/cpu/winograd.hpp"
#include "strata/numeric/precision_traits.hpp"
#include "strata/kernels/cpu/fft_conv.hpp"

namespace strata::kernels {

// The CPU's per-layer convolution state: transformed filters per pass (each checks the weights it
// was made from, see filter_cache), and automatic's last decisions.
template <class T>
struct conv_state<strata::cpu, T> {
  cpu::filter_cache<T> forward_filters, backward_filters;
  bool training = false;
  std::string layer;  // the layer's description, as conv_choices() reports it
  // automatic's last decision per pass (forward, backward data, backward filter): repeated calls
  // with the same shape run it directly, without the registry's string key and lock.
  struct remembered_choice {
    conv_geometry geometry{};
    std::int64_t batch = -1, threads = 0;
    bool training = false;
    bool transforms = true;
    std::size_t index = 0;
  };
  std::array<remembered_choice, 3> last{};
};

namespace cpu {
template <class T>
concept real_float = std::is_same_v<T, float> || std::is_same_v<T, double>;
}

// The passes of an algorithm that keeps no state between calls: its three kernel functions.
template <class T, auto Forward, auto BackwardData, auto BackwardFilter>
struct stateless_conv_passes {
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, conv_state<strata::cpu, T>&) {
    Forward(g, n, x, w, b, y);
  }
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx, conv_state<strata::cpu, T>&) {
    BackwardData(g, n, w, dy, dx);
  }
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db,
                              conv_state<strata::cpu, T>&) {
    BackwardFilter(g, n, x, dy, dw, db);
  }
};

template <class T>
  requires std::is_floating_point_v<T>
struct conv_kernel<algo::reference, strata::cpu, T>
    : stateless_conv_passes<T, &cpu::conv_direct_forward<T>, &cpu::conv_direct_backward_data<T>,
                            &cpu::conv_direct_backward_filter<T>> {};

template <class T>
  requires cpu::real_float<T>
struct conv_kernel<algo::im2col, strata::cpu, T>
    : stateless_conv_passes<T, &cpu::conv_im2col_forward<T>, &cpu::conv_im2col_backward_data<T>,
                            &cpu::conv_im2col_backward_filter<T>> {};

// Vectorised direct loops for the forward pass. Its backward passes would be the same loops
// with worse access patterns, so they are im2col's.
template <class T>
  requires cpu::real_float<T>
struct conv_kernel<algo::direct, strata::cpu, T> : conv_kernel<algo::im2col, strata::cpu, T> {
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, conv_state<strata::cpu, T>&) {
    cpu::conv_direct_vectorised_forward(g, n, x, w, b, y);
  }
};

template <class T>
  requires cpu::real_float<T>
struct conv_kernel<algo::gemm_1x1, strata::cpu, T>
    : stateless_conv_passes<T, &cpu::conv_gemm_1x1_forward<T>, &cpu::conv_gemm_1x1_backward_data<T>,
                            &cpu::conv_gemm_1x1_backward_filter<T>> {};

template <int M, class T>
  requires cpu::real_float<T>
struct conv_kernel<algo::winograd<M>, strata::cpu, T> {
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, conv_state<strata::cpu, T>& s) {
    cpu::winograd_forward<M>(g, n, x, w, b, y, s.forward_filters);
  }
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx, conv_state<strata::cpu, T>& s) {
    cpu::winograd_backward_data<M>(g, n, w, dy, dx, s.backward_filters);
  }
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db,
                              conv_state<strata::cpu, T>&) {
    cpu::winograd_backward_filter<M>(g, n, x, dy, dw, db);
  }
};

template <class T>
  requires cpu::real_float<T>
struct conv_kernel<algo::fft, strata::cpu, T> {
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, conv_state<strata::cpu, T>& s) {
    cpu::fft_conv_forward(g, n, x, w, b, y, s.forward_filters);
  }
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx, conv_state<strata::cpu, T>& s) {
    cpu::fft_conv_backward_data(g, n, w, dy, dx, s.backward_filters);
  }
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db,
                              conv_state<strata::cpu, T>&) {
    cpu::fft_conv_backward_filter(g, n, x, dy, dw, db);
  }
};

}  // namespace strata::kernels

namespace strata::algo {

// The CPU's state for element type T (what tests and benchmarks that call kernels directly hold).
template <class T>
using conv_state = kernels::conv_state<cpu, T>;

// ---------------------------------------------------------------------------------------------
// Automatic choice.

namespace detail {

template <class A, class T>
constexpr bool candidate_for = kernels::conv_available<A, T, cpu>;

template <class A, std::size_t I = 0>
constexpr std::size_t candidate_index() {
  static_assert(I < std::tuple_size_v<candidates>, "strata: not a conv candidate");
  if constexpr (std::is_same_v<std::tuple_element_t<I, candidates>, A>) return I;
  else return candidate_index<A, I + 1>();
}

// Calls f(I, tag) for each candidate available for T on the CPU.
template <class T, class F>
void for_each_candidate(F&& f) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          using A = std::tuple_element_t<I, candidates>;
          if constexpr (candidate_for<A, T>) f(I, A{});
        }(),
        ...);
  }(std::make_index_sequence<std::tuple_size_v<candidates>>{});
}

template <class T, std::size_t I = 0, class F>
void with_candidate(std::size_t index, F&& f) {
  if constexpr (I < std::tuple_size_v<candidates>) {
    using A = std::tuple_element_t<I, candidates>;
    if constexpr (candidate_for<A, T>) {
      if (index == I) {
        f(A{});
        return;
      }
    }
    with_candidate<T, I + 1>(index, std::forward<F>(f));
  }
}

// The position of the candidate called `name`, if it is available for T.
template <class T>
std::size_t candidate_named(const std::string& name, bool& found) {
  std::size_t at = 0;
  found = false;
  for_each_candidate<T>([&](std::size_t i, auto tag) {
    if (name == decltype(tag)::name) at = i, found = true;
  });
  return at;
}

// The rule of thumb when not timing, as tags: 1×1 → gemm_1x1, 3×3 stride 1 → Winograd (F(4×4)
// for larger planes), 5×5 and larger at stride 1 → FFT (it wins from 5×5 on in
// benchmarks/conv_algorithms), else im2col. Only candidates available for T are named.
template <class A>
constexpr bool is_transform = std::is_same_v<A, fft> || std::is_same_v<A, winograd<2>> || std::is_same_v<A, winograd<4>>;

template <class T>
std::size_t rule_of_thumb(const conv_geometry& g, bool transforms = true) {
  auto usable = [&]<class A>(A) { return candidate_for<A, T> && A::supports(g) && (transforms || !is_transform<A>); };
  if (usable(gemm_1x1{})) return candidate_index<gemm_1x1>();
  if (usable(winograd<4>{}) && g.P() >= 8 && g.Q() >= 8 && g.C >= 16 && g.K >= 16) return candidate_index<winograd<4>>();
  if (usable(winograd<2>{}) && g.C >= 8 && g.K >= 8) return candidate_index<winograd<2>>();
  if (usable(fft{}) && g.R * g.S >= 25) return candidate_index<fft>();
  return candidate_index<im2col>();
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

// Whether candidate `index` (available for T) can run g.
template <class T>
bool candidate_supports(std::size_t index, const conv_geometry& g) {
  bool ok = false;
  with_candidate<T>(index, [&](auto tag) { ok = decltype(tag)::supports(g); });
  return ok;
}

template <class T>
inline constexpr bool any_candidate = [] {
  return []<std::size_t... I>(std::index_sequence<I...>) {
    return (candidate_for<std::tuple_element_t<I, candidates>, T> || ...);
  }(std::make_index_sequence<std::tuple_size_v<candidates>>{});
}();
}  // namespace detail

}  // namespace strata::algo

namespace strata::kernels {

// algo::automatic on the CPU: on the first call for a key, times every available candidate that
// supports the shape (or asks the rule of thumb, or the loaded plan), then always runs the winner.
template <class T>
  requires algo::detail::any_candidate<T>
struct conv_kernel<algo::automatic, strata::cpu, T> {
  using state_type = conv_state<strata::cpu, T>;

  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, state_type& s) {
    dispatch(algo::conv_pass::forward, g, n, s, [&](auto a) { conv_kernel<decltype(a), strata::cpu, T>::forward(g, n, x, w, b, y, s); });
  }
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx, state_type& s) {
    dispatch(algo::conv_pass::backward_data, g, n, s,
             [&](auto a) { conv_kernel<decltype(a), strata::cpu, T>::backward_data(g, n, w, dy, dx, s); });
  }
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db, state_type& s) {
    dispatch(algo::conv_pass::backward_filter, g, n, s,
             [&](auto a) { conv_kernel<decltype(a), strata::cpu, T>::backward_filter(g, n, x, dy, dw, db, s); });
  }

  // The setting, read without the registry's lock on every call.
  static bool transforms_allowed(algo::detail::choice_registry& reg) { return reg.transforms.load(std::memory_order_relaxed); }

  // run(tag) performs the pass with that candidate.
  template <class Run>
  static void dispatch(algo::conv_pass pass, const conv_geometry& g, std::int64_t n, state_type& state, Run&& run) {
    using namespace algo;
    auto& memo = state.last[static_cast<std::size_t>(pass)];
    const std::int64_t threads = num_threads();
    auto& reg = algo::detail::registry();
    const bool transforms = transforms_allowed(reg);
    if (memo.batch == n && memo.threads == threads && memo.training == state.training && memo.transforms == transforms &&
        memo.geometry == g) {
      algo::detail::with_candidate<T>(memo.index, [&](auto tag) { run(tag); });
      return;
    }
    const std::string key =
        algo::detail::key_of(pass, g, n, precision_traits<T>::name, threads, state.training) + (transforms ? "" : ",exact");
    std::size_t chosen = 0;
    bool known = false;
    conv_tuning tuning = conv_tuning::timed;
    std::string planned;
    {
      std::lock_guard<std::mutex> lock(reg.mutex);
      tuning = reg.tuning;
      if (auto it = reg.index.find(key); it != reg.index.end()) {
        chosen = algo::detail::candidate_named<T>(reg.choices[it->second].algorithm, known);
      } else if (auto p = reg.planned.find(key); tuning == conv_tuning::plan && p != reg.planned.end()) {
        planned = p->second;
      }
    }
    if (!known) {
      conv_choice c{state.layer.empty() ? std::string("conv") : state.layer, g, n, pass, precision_traits<T>::name, "", false, {}};
      bool from_plan = false;
      if (!planned.empty()) chosen = algo::detail::candidate_named<T>(planned, from_plan);
      if (from_plan && !algo::detail::candidate_supports<T>(chosen, g)) from_plan = false;
      if (from_plan && !transforms)
        algo::detail::with_candidate<T>(chosen, [&](auto tag) { from_plan = !algo::detail::is_transform<decltype(tag)>; });
      if (!from_plan && tuning == conv_tuning::timed) {
        c.timed = true;
        const rounding_replay replay;  // trial runs must not move the stochastic-rounding stream
        double best = std::numeric_limits<double>::infinity();
        algo::detail::for_each_candidate<T>([&](std::size_t i, auto tag) {
          if (!decltype(tag)::supports(g) || algo::detail::same_code_as_another(tag, pass, g)) return;
          if (!transforms && algo::detail::is_transform<decltype(tag)>) return;
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
            // Hopeless candidates are not timed a third time: the direct loops can be fifty times
            // slower than the winner on a large layer. Judged on the second run, since
            // the first pays one-off costs (FFT plans, filter transforms, page faults).
            if (rep == 1 && ms > 4 * best) break;
          }
          c.milliseconds.emplace_back(decltype(tag)::name, fastest);
          if (fastest < best) best = fastest, chosen = i;
        });
      } else if (!from_plan) {
        chosen = algo::detail::rule_of_thumb<T>(g, transforms);
      }
      algo::detail::with_candidate<T>(chosen, [&](auto tag) { c.algorithm = decltype(tag)::name; });
      std::lock_guard<std::mutex> lock(reg.mutex);
      if (auto it = reg.index.find(key); it == reg.index.end()) {
        reg.index.emplace(key, reg.choices.size());
        reg.choices.push_back(std::move(c));
      } else {  // another thread decided first: follow it
        bool found = false;
        chosen = algo::detail::candidate_named<T>(reg.choices[it->second].algorithm, found);
      }
    }
    memo = {g, n, threads, state.training, transforms, chosen};
    algo::detail::with_candidate<T>(chosen, [&](auto tag) { run(tag); });
  }
};

}  // namespace strata::kernels

// Fixed point (static and dynamic) runs im2col and 1×1 as integer GEMMs; fp16 runs every algorithm above through
// fp32 (after them: it wraps their fp32 kernels).
#include "strata/kernels/cpu/conv_dynamic_fixed.hpp"
#include "strata/kernels/cpu/conv_fixed.hpp"
#include "strata/kernels/cpu/conv_half.hpp"
