// strata/kernels/cpu/bit_packing.hpp — sign bits of real tensors packed 64 to a word, the operand
// format of the XNOR–popcount kernels (xnor_gemm.hpp, xnor_conv.hpp): rows of a matrix, NCHW
// activations into channels-last words, PyTorch-layout filters, and ±1 values back from bits.
//
// The packing contract (other code depends on it exactly):
//   - a ±1 value is one bit, set for −1: bit = (x < 0), so +0, −0 and NaN pack as +1;
//   - 64 values to a std::uint64_t, value c → word c / 64, bit c % 64 (least significant first);
//   - bits past the last value of a row, in its last word, are zero (XOR then never counts them);
//   - activations [n][H][W][words_for(C)], filters [K][R][S][words_for(C)], rows [rows][words_for(cols)].
// Every path (AVX-512 compare-to-mask, AVX/SSE compare + movemask, plain loops) packs the same bits.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "strata/config.hpp"
#include "strata/core/bit_tensor.hpp"
#include "strata/core/parallel.hpp"
#include "strata/kernels/cpu/simd.hpp"

namespace strata::kernels::cpu {

// Words that hold `bits` packed values (Tensor<binary>'s rows, core/bit_tensor.hpp).
constexpr std::int64_t words_for(std::int64_t bits) { return packed_words(bits); }

namespace bit_packing_detail {

template <class T>
concept packable = std::is_same_v<T, float> || std::is_same_v<T, double>;

// The word of the values x[0 … count) (count ≤ 64, contiguous): bit i = (x[i] < 0).
template <class T>
STRATA_INLINE std::uint64_t sign_word(const T* x, int count) {
  using V = simd::vec<T>;
  constexpr int L = simd::lanes<T>;
  std::uint64_t w = 0;
  int i = 0;
  if constexpr (L > 1 && 64 % L == 0) {
    for (; i + L <= count; i += L) w |= simd::negative_lanes(simd::load<V>(x + i)) << i;
    if (i < count) w |= simd::negative_lanes(simd::load_first<V>(x + i, count - i)) << i;  // zeros: not negative
    return w;
  }
  for (; i < count; ++i) w |= std::uint64_t(x[i] < T(0)) << i;
  return w;
}

// Work at or above which packing is split over threads (values read).
inline bool worth_threads(std::int64_t values) { return values >= 4 * parallel_threshold(); }

}  // namespace bit_packing_detail

// out[r][w] (rows × words_for(cols)) = the signs of the row-major rows × cols matrix x.
template <class T>
void pack_sign_rows(const T* x, std::int64_t rows, std::int64_t cols, std::uint64_t* out) {
  static_assert(bit_packing_detail::packable<T>, "strata::pack_sign_rows packs float or double values");
  const std::int64_t words = words_for(cols);
  if (rows <= 0 || words == 0) return;
  const auto body = [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t r = r0; r < r1; ++r)
      for (std::int64_t w = 0; w < words; ++w)
        out[r * words + w] = bit_packing_detail::sign_word(x + r * cols + 64 * w, int(std::min<std::int64_t>(64, cols - 64 * w)));
  };
  if (bit_packing_detail::worth_threads(rows * cols)) parallel_ranges(rows, body, 1, 1);
  else body(0, rows);
}

// out [n][H][W][words_for(C)] = the signs of the NCHW tensor x: the channels of a pixel, which lie
// H·W values apart, become that pixel's words. A vector of pixels at a time: lane p of
// `low` / `high` collects bit c of pixel p for the channels c of a 64-channel block (compare,
// mask, or: three vector operations per vector of values), then the two 32-bit halves become the
// pixels' words.
template <class T>
void pack_sign_nchw_to_nhwc(const T* x, std::int64_t n, std::int64_t C, std::int64_t H, std::int64_t W, std::uint64_t* out) {
  static_assert(bit_packing_detail::packable<T>, "strata::pack_sign_nchw_to_nhwc packs float or double values");
  const std::int64_t words = words_for(C), plane = H * W;
  if (n <= 0 || plane <= 0 || words == 0) return;
  // 32-bit halves of words, one lane per pixel: as many pixels as a vector of T holds.
  constexpr int L = std::max(1, simd::lanes<T>);
  using V = simd::vec<T, L * sizeof(T)>;
  using H32 = simd::vec<std::uint32_t, L * 4>;
  using I = simd::vec<simd::detail::int_of_size<sizeof(T)>, L * sizeof(T)>;  // compare results of V
  const auto pack_row = [&](std::int64_t image, std::int64_t row) {
    const T* src = x + image * C * plane + row * W;
    std::uint64_t* dst = out + (image * plane + row * W) * words;
    for (std::int64_t q0 = 0; q0 < W; q0 += L) {
      const int valid = int(std::min<std::int64_t>(L, W - q0));
      for (std::int64_t w = 0; w < words; ++w) {
        H32 half[2] = {H32{}, H32{}};
        const std::int64_t c_end = std::min(C, 64 * w + 64);
        for (std::int64_t c = 64 * w; c < c_end; ++c) {
          const T* p = src + c * plane + q0;
          const V v = valid == L ? simd::load<V>(p) : simd::load_first<V>(p, valid);
          const I negative = v < T(0);  // all ones where negative (ordered: NaN, −0 false)
          half[(c >> 5) & 1] |= __builtin_convertvector(negative, H32) & (std::uint32_t{1} << (c & 31));
        }
        std::uint64_t packed[L];
        for (int l = 0; l < L; ++l) packed[l] = std::uint64_t(half[0][l]) | std::uint64_t(half[1][l]) << 32;
        for (int l = 0; l < valid; ++l) dst[(q0 + l) * words + w] = packed[l];
      }
    }
  };
  const auto body = [&](std::int64_t i0, std::int64_t i1) {
    for (std::int64_t i = i0; i < i1; ++i) pack_row(i / H, i % H);
  };
  if (bit_packing_detail::worth_threads(n * C * plane)) parallel_ranges(n * H, body, 1, 1);
  else body(0, n * H);
}

// out [K][R][S][words_for(C)] = the signs of PyTorch-layout filters w [K][C][R][S]. Run once per
// weight update, so plain loops.
template <class T>
void pack_filter_signs(const T* w, std::int64_t K, std::int64_t C, std::int64_t R, std::int64_t S, std::uint64_t* out) {
  static_assert(bit_packing_detail::packable<T>, "strata::pack_filter_signs packs float or double values");
  const std::int64_t words = words_for(C);
  for (std::int64_t k = 0; k < K; ++k)
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t s = 0; s < S; ++s) {
        std::uint64_t* dst = out + ((k * R + r) * S + s) * words;
        std::fill(dst, dst + words, std::uint64_t{0});
        for (std::int64_t c = 0; c < C; ++c)
          dst[c / 64] |= std::uint64_t(w[((k * C + c) * R + r) * S + s] < T(0)) << (c % 64);
      }
}

// out (rows × cols, row-major) = the ±1 values of packed rows: −1 where the bit is set.
template <class T>
void unpack_sign_rows(const std::uint64_t* bits, std::int64_t rows, std::int64_t cols, T* out) {
  static_assert(std::is_arithmetic_v<T> && std::is_signed_v<T>, "strata::unpack_sign_rows writes signed values");
  const std::int64_t words = words_for(cols);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      out[r * cols + c] = (bits[r * words + c / 64] >> (c % 64) & 1) ? T(-1) : T(1);
}

}  // namespace strata::kernels::cpu
