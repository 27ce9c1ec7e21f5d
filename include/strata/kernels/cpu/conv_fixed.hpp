// strata/kernels/cpu/conv_fixed.hpp — convolution of fixed-point batches on the CPU: im2col and
// 1×1 as integer GEMMs (kernels/cpu/conv_int16.hpp) with exact sums and one rounding per output
// in the type's rounding; `automatic` chooses between them as for float. Fixed point has no
// Winograd or FFT (their transforms are not integer-exact), so forcing one is a named error.
#pragma once

#include <cstdint>
#include <vector>

#include "strata/core/device_tags.hpp"
#include "strata/kernels/conv_algorithm.hpp"
#include "strata/kernels/cpu/conv_int16.hpp"
#include "strata/kernels/cpu/fixed_gemm.hpp"
#include "strata/numeric/fixed.hpp"

namespace strata::kernels {

// Both tags run the same integer kernels (conv_int16 takes the 1×1 shortcut itself).
template <int B, int F, rounding R>
struct fixed_conv_passes {
  using T = fixed<B, F, R>;
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, conv_state<strata::cpu, T>&) {
    std::vector<std::int32_t> bias;
    if (b) {
      bias.resize(static_cast<std::size_t>(g.K));
      for (std::int64_t k = 0; k < g.K; ++k) bias[std::size_t(k)] = b[k].raw();
    }
    cpu::conv_int16_forward(g, n, cpu::raw(x), cpu::raw(w), b ? bias.data() : nullptr, cpu::raw(y), cpu::fixed_requantize<T>(F));
  }
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx, conv_state<strata::cpu, T>&) {
    cpu::conv_int16_backward_data(g, n, cpu::raw(w), cpu::raw(dy), cpu::raw(dx), cpu::fixed_requantize<T>(F));
  }
  // The bias gradient is an exact sum of values with F fraction bits: no rounding, saturation only.
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db,
                              conv_state<strata::cpu, T>&) {
    cpu::conv_int16_backward_filter(g, n, cpu::raw(x), cpu::raw(dy), cpu::raw(dw), db ? cpu::raw(db) : nullptr,
                                    cpu::fixed_requantize<T>(F), cpu::fixed_requantize<T>(0));
  }
};

template <int B, int F, rounding R>
  requires(B <= 16)
struct conv_kernel<algo::im2col, strata::cpu, fixed<B, F, R>> : fixed_conv_passes<B, F, R> {};

template <int B, int F, rounding R>
  requires(B <= 16)
struct conv_kernel<algo::gemm_1x1, strata::cpu, fixed<B, F, R>> : fixed_conv_passes<B, F, R> {};

}  // namespace strata::kernels
