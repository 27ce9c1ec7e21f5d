// strata/kernels/cpu/conv_half.hpp — fp16 convolution on the CPU: conv_kernel<A, cpu, half> for
// every algorithm A the CPU has in fp32, each running A's fp32 kernel on widened operands and
// rounding its results to fp16, so algo::automatic times and chooses among them as in fp32.
#pragma once

#include <cstdint>
#include <type_traits>

#include "strata/core/device_tags.hpp"
#include "strata/kernels/conv_algorithm.hpp"
#include "strata/kernels/cpu/conv_algorithms.hpp"
#include "strata/kernels/cpu/half_operands.hpp"
#include "strata/numeric/half.hpp"

namespace strata::kernels {

// An fp16 layer's state: the fp32 state its algorithms run with (their own transformed-filter
// caches, automatic's choices) and the fp32 copy of its weights, widened once per weight change.
template <>
struct conv_state<strata::cpu, half> : conv_state<strata::cpu, float> {
  cpu::widened_weights weights;
};

namespace cpu {

// One algorithm's three passes through fp32. Activations are widened into per-thread scratch for
// the call only; results are rounded to nearest even when stored.
template <class A>
struct conv_through_fp32 {
  using fp32 = conv_kernel<A, strata::cpu, float>;
  using state = conv_state<strata::cpu, half>;

  static void forward(const conv_geometry& g, std::int64_t n, const half* x, const half* w, const half* b, half* y, state& s) {
    const float* xf = widened(half_slot::input, x, n * g.input_elements());
    const float* bf = widened(half_slot::bias, b, g.K);
    float* yf = fp32_scratch(half_slot::output, n * g.output_elements());
    fp32::forward(g, n, xf, s.weights.of(w, g.weight_elements()), bf, yf, s);
    narrow(yf, y, n * g.output_elements());
  }

  static void backward_data(const conv_geometry& g, std::int64_t n, const half* w, const half* dy, half* dx, state& s) {
    const float* dyf = widened(half_slot::output, dy, n * g.output_elements());
    float* dxf = fp32_scratch(half_slot::input, n * g.input_elements());
    fp32::backward_data(g, n, s.weights.of(w, g.weight_elements()), dyf, dxf, s);
    narrow(dxf, dx, n * g.input_elements());
  }

  static void backward_filter(const conv_geometry& g, std::int64_t n, const half* x, const half* dy, half* dw, half* db,
                              state& s) {
    const float* xf = widened(half_slot::input, x, n * g.input_elements());
    const float* dyf = widened(half_slot::output, dy, n * g.output_elements());
    float* dwf = fp32_scratch(half_slot::weight, g.weight_elements());
    float* dbf = db ? fp32_scratch(half_slot::bias, g.K) : nullptr;
    fp32::backward_filter(g, n, xf, dyf, dwf, dbf, s);
    narrow(dwf, dw, g.weight_elements());
    if (db) narrow(dbf, db, g.K);
  }
};

}  // namespace cpu

// Every forced algorithm the CPU has in fp32 (automatic is the generic one of
// conv_algorithms.hpp, choosing among these).
template <class A>
  requires(!std::is_same_v<A, algo::automatic> && conv_available<A, float, strata::cpu>)
struct conv_kernel<A, strata::cpu, half> : cpu::conv_through_fp32<A> {};

}  // namespace strata::kernels
