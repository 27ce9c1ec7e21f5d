// strata/kernels/cpu/conv_dynamic_fixed.hpp — convolution of dynamic fixed-point batches on the
// CPU: im2col and 1×1 as the integer GEMMs of kernels/cpu/conv_int16.hpp on the mantissas, each
// result rounded once into the exponent kernels/cpu/dynamic_fixed_gemm.hpp chooses (the bias
// gradient from its exact sums). As for fixed point, Winograd and FFT are named errors.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "strata/core/device_tags.hpp"
#include "strata/kernels/conv_algorithm.hpp"
#include "strata/kernels/cpu/conv_int16.hpp"
#include "strata/kernels/cpu/dynamic_fixed_gemm.hpp"
#include "strata/numeric/dynamic_fixed.hpp"
#include "strata/numeric/fixed.hpp"

namespace strata::kernels {

template <int B, int U>
struct dynamic_fixed_conv_passes {
  using T = dynamic_fixed<B, U>;
  template <class P>
  static auto raw(P* p) noexcept { return cpu::raw(p); }
  static int bits_of(const T* p, std::int64_t count) { return count > 0 ? scale_of(p).fraction_bits : 0; }

  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, conv_state<strata::cpu, T>&) {
    const int exact = bits_of(x, n * g.input_elements()) + bits_of(w, g.weight_elements());
    const int fb = b ? bits_of(b, g.K) : 0;
    std::vector<std::int32_t> bias(b ? std::size_t(g.K) : 0);
    cpu::write_rounded(y, n * g.output_elements(), exact, [&](int shift) {
      const int fy = exact - shift;  // the bias joins in output units: b · 2^(fy − fb), rounded
      constexpr std::int64_t limit = std::int64_t{1} << 30;  // far past any int16 output: saturates the same
      for (std::int64_t k = 0; b && k < g.K; ++k) {
        const std::int64_t v = strata::detail::round_shift_nearest(b[k].raw(), std::clamp(fb - fy, -30, 40));
        bias[std::size_t(k)] = std::int32_t(std::clamp(v, -limit, limit));
      }
      cpu::conv_int16_forward(g, n, raw(x), raw(w), b ? bias.data() : nullptr, raw(y), cpu::dynamic_requantize<T>(shift));
    });
  }
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx, conv_state<strata::cpu, T>&) {
    const int exact = bits_of(w, g.weight_elements()) + bits_of(dy, n * g.output_elements());
    cpu::write_rounded(dx, n * g.input_elements(), exact, [&](int shift) {
      cpu::conv_int16_backward_data(g, n, raw(w), raw(dy), raw(dx), cpu::dynamic_requantize<T>(shift));
    });
  }
  // The bias gradient: per channel the exact sum of dy's mantissas, at dy's fraction bits.
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db,
                              conv_state<strata::cpu, T>&) {
    const int fdy = bits_of(dy, n * g.output_elements());
    const int exact = bits_of(x, n * g.input_elements()) + fdy;
    cpu::write_rounded(dw, g.weight_elements(), exact, [&](int shift) {
      cpu::conv_int16_backward_filter(g, n, raw(x), raw(dy), raw(dw), nullptr, cpu::dynamic_requantize<T>(shift), {});
    });
    if (!db) return;
    cpu::store_sums(db, cpu::conv_int16_channel_sums(g, n, raw(dy)).data(), g.K, fdy);
  }
};

template <int B, int U>
struct conv_kernel<algo::im2col, strata::cpu, dynamic_fixed<B, U>> : dynamic_fixed_conv_passes<B, U> {};

template <int B, int U>
struct conv_kernel<algo::gemm_1x1, strata::cpu, dynamic_fixed<B, U>> : dynamic_fixed_conv_passes<B, U> {};

}  // namespace strata::kernels
