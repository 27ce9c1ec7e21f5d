// strata/kernels/cpu/epilogue.hpp — what the inference path does to a layer's output where the
// layer's own kernel cannot: add a per-channel bias and clamp (ReLU, ReLU6) in one pass, and add
// a residual. The CPU's op_kernel for op::epilogue.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "strata/core/device_tags.hpp"
#include "strata/core/parallel.hpp"
#include "strata/kernels/op_kernel.hpp"

namespace strata::kernels::cpu {

// y = clamp(y + bias[channel], lo, hi) over n samples of `channels` planes of `spatial` values
// (bias may be null; ±∞ bounds clamp nothing). NaN stays NaN, as ReLU and ReLU6 keep it.
template <class T>
void bias_clamp(T* y, std::int64_t n, std::int64_t channels, std::int64_t spatial, const T* bias, T lo, T hi) {
  const bool clamp = lo > -std::numeric_limits<T>::infinity() || hi < std::numeric_limits<T>::infinity();
  if (!bias && !clamp) return;
  // Values, not references, in the loops: a store through y could alias a captured reference,
  // which keeps the compiler from vectorising.
  if (spatial == 1) {  // vectors (dense layers): one row of channels per sample
    parallel_ranges(n, [=](std::int64_t first, std::int64_t last) {
      for (std::int64_t r = first; r < last; ++r) {
        T* yr = y + r * channels;
        for (std::int64_t c = 0; c < channels; ++c) {
          const T v = yr[c] + (bias ? bias[c] : T(0));
          yr[c] = v < lo ? lo : (v > hi ? hi : v);
        }
      }
    }, 1, std::max<std::int64_t>(1, parallel_threshold() / std::max<std::int64_t>(channels, 1)));
    return;
  }
  parallel_ranges(n * channels, [=](std::int64_t first, std::int64_t last) {
    for (std::int64_t p = first; p < last; ++p) {
      const T add = bias ? bias[p % channels] : T(0);
      T* yp = y + p * spatial;
      for (std::int64_t i = 0; i < spatial; ++i) {
        const T v = yp[i] + add;
        yp[i] = v < lo ? lo : (v > hi ? hi : v);
      }
    }
  }, 1, std::max<std::int64_t>(1, parallel_threshold() / spatial));
}

// y += x over count values.
template <class T>
void add_into(T* y, const T* x, std::int64_t count) {
  parallel_ranges(count, [=](std::int64_t first, std::int64_t last) {
    for (std::int64_t i = first; i < last; ++i) y[i] += x[i];
  });
}

}  // namespace strata::kernels::cpu

namespace strata::kernels {

template <class T>
  requires std::is_floating_point_v<T>
struct op_kernel<op::epilogue, strata::cpu, T> {
  static void bias_clamp(T* y, std::int64_t n, std::int64_t channels, std::int64_t spatial, const T* bias, T lo, T hi) {
    cpu::bias_clamp(y, n, channels, spatial, bias, lo, hi);
  }
  static void add(T* y, const T* x, std::int64_t count) { cpu::add_into(y, x, count); }
};

}  // namespace strata::kernels
