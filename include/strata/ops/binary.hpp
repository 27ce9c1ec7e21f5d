// strata/ops/binary.hpp — the binary operations as layers call them: packing the signs of real
// values into Tensor<binary> (activations channels last, filters [K, R, S, C], rows), the
// XNOR-popcount matrix product and convolution (int32 sums of ±1 products, zero padding counting
// 0), and the same products folded straight into sign bits by per-channel thresholds. The CPU
// runs them (kernels/cpu/bit_packing.hpp, xnor_gemm.hpp, xnor_conv.hpp); another device is a
// named static_assert.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "strata/core/bit_tensor.hpp"
#include "strata/core/error.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cpu/bit_packing.hpp"
#include "strata/kernels/cpu/xnor_conv.hpp"
#include "strata/kernels/cpu/xnor_gemm.hpp"

namespace strata::ops {

template <class D>
struct no_binary_kernels_on {  // the device has no XNOR-popcount kernels (the CPU has)
  static constexpr bool ok = false;
};

namespace detail {
template <class D>
constexpr bool binary_ready() {
  static_assert(std::is_same_v<D, cpu> || no_binary_kernels_on<D>::ok,
                "strata: binary (XNOR-popcount) kernels run on the CPU; the note names no_binary_kernels_on<device>");
  return std::is_same_v<D, cpu>;
}
template <std::size_t Rank>
void check_bits_shape(const Tensor<binary, Rank>& t, const Shape<Rank>& want, const char* what) {
  if (t.shape() != want)
    throw shape_error(std::string("strata::ops: ") + what + " is " + t.shape().to_string() + ", expected " + want.to_string());
}
}  // namespace detail

// bits [n, H, W, C] ← the signs of x [n, C, H, W].
template <class D, class T>
void pack_signs_nchw(D, const T* x, std::int64_t n, std::int64_t C, std::int64_t H, std::int64_t W, Tensor<binary, 4>& bits) {
  if constexpr (detail::binary_ready<D>()) {
    detail::check_bits_shape(bits, Shape{n, H, W, C}, "the packed input");
    kernels::cpu::pack_sign_nchw_to_nhwc(x, n, C, H, W, bits.words());
  }
}

// The same into raw words [n][H][W][words for C] (a slice of a batch's bits).
template <class D, class T>
void pack_signs_nchw(D, const T* x, std::int64_t n, std::int64_t C, std::int64_t H, std::int64_t W, std::uint64_t* words) {
  if constexpr (detail::binary_ready<D>()) kernels::cpu::pack_sign_nchw_to_nhwc(x, n, C, H, W, words);
}

// bits [K, R, S, C] ← the signs of filters w [K, C, R, S].
template <class D, class T>
void pack_filter_signs(D, const T* w, std::int64_t K, std::int64_t C, std::int64_t R, std::int64_t S, Tensor<binary, 4>& bits) {
  if constexpr (detail::binary_ready<D>()) {
    detail::check_bits_shape(bits, Shape{K, R, S, C}, "the packed filters");
    kernels::cpu::pack_filter_signs(w, K, C, R, S, bits.words());
  }
}

// bits [rows, cols] ← the signs of x [rows, cols].
template <class D, class T>
void pack_signs_rows(D, const T* x, std::int64_t rows, std::int64_t cols, Tensor<binary, 2>& bits) {
  if constexpr (detail::binary_ready<D>()) {
    detail::check_bits_shape(bits, Shape{rows, cols}, "the packed rows");
    kernels::cpu::pack_sign_rows(x, rows, cols, bits.words());
  }
}

// The same into raw words [rows][words for cols] (packed activations of any layout with whole
// rows: a vector of C values is one 1×1 pixel).
template <class D, class T>
void pack_signs_rows(D, const T* x, std::int64_t rows, std::int64_t cols, std::uint64_t* words) {
  if constexpr (detail::binary_ready<D>()) kernels::cpu::pack_sign_rows(x, rows, cols, words);
}

// c[i·ldc + j] = the ±1 dot product of rows a_i and b_j of `bits` values each (words_for(bits)
// words per row, unused bits zero in both).
template <class D>
void xnor_gemm(D, std::int64_t M, std::int64_t N, std::int64_t bits, const std::uint64_t* a, const std::uint64_t* b,
               std::int32_t* c, std::int64_t ldc) {
  if constexpr (detail::binary_ready<D>()) kernels::cpu::xnor_gemm(M, N, bits, a, b, c, ldc);
}

// c [M, N] (row-major) = a [M, bits] · b [N, bits]ᵀ over ±1 values.
template <class D>
void xnor_gemm(D, const Tensor<binary, 2>& a, const Tensor<binary, 2>& b, std::int32_t* c) {
  if constexpr (detail::binary_ready<D>()) {
    if (a.extent(1) != b.extent(1))
      throw shape_error("strata::ops::xnor_gemm: " + a.shape().to_string() + " · " + b.shape().to_string() + "ᵀ");
    kernels::cpu::xnor_gemm(a.extent(0), b.extent(0), a.extent(1), a.words(), b.words(), c, b.extent(0));
  }
}

// Per output channel k, the sign rule a binary layer with batch norm and sign folded applies to its
// sum c: the bit (−1) is (c < threshold[k]) XOR bit k of falling (words_for(K) words).
using sign_rule = kernels::cpu::xnor_detail::sign_rule;

// signs [M, words_for(N)] = the sign bits of the ±1 dot products of xnor_gemm under `rule`, with
// no int32 sum in memory.
template <class D>
void xnor_gemm_signs(D, std::int64_t M, std::int64_t N, std::int64_t bits, const std::uint64_t* a, const std::uint64_t* b,
                     const sign_rule& rule, std::uint64_t* signs) {
  if constexpr (detail::binary_ready<D>()) kernels::cpu::xnor_gemm_signs(M, N, bits, a, b, rule, signs);
}

// Prepared filters and the workspace of one binary convolution (per layer).
template <class D>
struct xnor_conv_state {
  kernels::cpu::xnor_filter filter;
  kernels::cpu::xnor_conv_workspace workspace;
};

// Prepares packed filters [K, R, S, C] for xnor_conv2d_forward.
template <class D>
void xnor_conv2d_prepare(D, const kernels::conv_geometry& g, const Tensor<binary, 4>& w, xnor_conv_state<D>& s) {
  if constexpr (detail::binary_ready<D>()) {
    detail::check_bits_shape(w, Shape{g.K, g.R, g.S, g.C}, "the packed filters");
    s.filter = kernels::cpu::xnor_filter(w.words(), g.K, g.C, g.R, g.S);
  }
}

// y [n, P, Q, K] (channels last) = Σ over taps inside the image of the ±1 products of x [n, H, W, C]
// with the prepared filters: a padded tap counts 0, as in a real convolution with zero padding.
template <class D>
void xnor_conv2d_forward(D, const kernels::conv_geometry& g, std::int64_t n, const Tensor<binary, 4>& x, xnor_conv_state<D>& s,
                         std::int32_t* y) {
  if constexpr (detail::binary_ready<D>()) {
    detail::check_bits_shape(x, Shape{n, g.H, g.W, g.C}, "the packed input");
    kernels::cpu::xnor_conv2d(g, n, x.words(), s.filter, y, s.workspace);
  }
}

// signs [n, P, Q, K] = the sign bits of xnor_conv2d_forward's sums under `rule` (batch norm and
// sign folded), with no int32 sum in memory.
template <class D>
void xnor_conv2d_signs(D, const kernels::conv_geometry& g, std::int64_t n, const Tensor<binary, 4>& x, xnor_conv_state<D>& s,
                       const sign_rule& rule, Tensor<binary, 4>& signs) {
  if constexpr (detail::binary_ready<D>()) {
    detail::check_bits_shape(x, Shape{n, g.H, g.W, g.C}, "the packed input");
    detail::check_bits_shape(signs, Shape{n, g.P(), g.Q(), g.K}, "the output signs");
    kernels::cpu::xnor_conv2d_signs(g, n, x.words(), s.filter, rule, signs.words(), s.workspace);
  }
}

}  // namespace strata::ops
