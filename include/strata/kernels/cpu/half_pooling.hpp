// strata/kernels/cpu/half_pooling.hpp — fp16 max and average pooling on the CPU: the op_kernels
// for op::max_pool and op::avg_pool at half. Max pooling compares and moves the fp16 bit patterns
// themselves (a max is exact, so nothing needs fp32); averages and overlapping max-pool gradients
// run the fp32 kernels on widened planes, summing in fp32 and rounding once.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "strata/core/device_tags.hpp"
#include "strata/kernels/cpu/half_operands.hpp"
#include "strata/kernels/cpu/pooling.hpp"
#include "strata/kernels/cpu/simd.hpp"
#include "strata/kernels/op_kernel.hpp"
#include "strata/kernels/pool_geometry.hpp"
#include "strata/numeric/half.hpp"

namespace strata::kernels {

namespace cpu {

// Max pooling on fp16 bit patterns: the float kernels' results bit for bit (the same maxima and
// argmax: the first maximum in scan order, −0 and +0 equal, the first NaN winning, NaNs quieted as
// the round trip through float quiets them), without widening the planes to fp32 and rounding
// back. Values are compared through simd::fp16_order_key.
namespace half_max_pool {

// Rows of windows go through int16 vectors of half a register, so that their indices (int32) fill
// one (AVX-512: 16 windows at a time), or of a quarter for rows that short.
inline constexpr std::size_t row_bytes = simd::register_bytes / 2 >= 4 ? simd::register_bytes / 2 : 4;
inline constexpr std::size_t short_row_bytes = row_bytes / 2 >= 4 ? row_bytes / 2 : 4;
using row_vec = simd::vec<std::int16_t, row_bytes>;
using short_row_vec = simd::vec<std::int16_t, short_row_bytes>;

// The 2×2 / stride 2 window without padding, as detail::max_pool_2x2's selects: windows
// (a b / c d) of output row p, V's lanes at a time — the two input rows read as pairs and split
// into their even and odd columns in registers — the first maximum in scan order, then the first
// NaN in scan order over it.
template <class V>
STRATA_INLINE void row_2x2(const std::int16_t* r0, const std::int16_t* r1, std::int64_t Q, std::int32_t W, std::int32_t first,
                           std::int16_t* out, std::int32_t* where) {
  using I = simd::vec<std::int32_t, simd::lanes_of<V> * sizeof(std::int32_t)>;
  constexpr int L = simd::lanes_of<V>;
  I column;  // 2·l: lane l's window starts two inputs after lane l − 1's
  for (int l = 0; l < L; ++l) column[l] = 2 * l;
  for (std::int64_t q = 0; q < Q; q += L) {
    const int n = static_cast<int>(std::min<std::int64_t>(L, Q - q));
    const int low = std::min(2 * n, L), high = 2 * n - low;
    V a, b, c, d;
    simd::deinterleave(simd::load_first<V>(r0 + 2 * q, low), simd::load_first<V>(r0 + 2 * q + L, high), a, b);
    simd::deinterleave(simd::load_first<V>(r1 + 2 * q, low), simd::load_first<V>(r1 + 2 * q + L, high), c, d);
    const V ka = simd::fp16_order_key(a), kb = simd::fp16_order_key(b), kc = simd::fp16_order_key(c), kd = simd::fp16_order_key(d);
    const V one = V{} + std::int16_t(1), two = V{} + std::int16_t(2), three = V{} + std::int16_t(3);
    V m = a, km = ka, w = V{};
    const V mb = kb > km;
    m = mb ? b : m, km = mb ? kb : km, w = mb ? one : w;
    const V mc = kc > km;
    m = mc ? c : m, km = mc ? kc : km, w = mc ? two : w;
    const V md = kd > km;
    m = md ? d : m, w = md ? three : w;
    const V na = simd::fp16_is_nan(a), nb = simd::fp16_is_nan(b), nc = simd::fp16_is_nan(c), nd = simd::fp16_is_nan(d);
    m = nd ? d : m, w = nd ? three : w;
    m = nc ? c : m, w = nc ? two : w;
    m = nb ? b : m, w = nb ? one : w;
    m = na ? a : m, w = na ? simd::zero<V>() : w;
    simd::store_first<V>(out + q, simd::fp16_through_float(m), n);
    const I which = simd::convert<std::int32_t>(w);
    const I at = (first + 2 * static_cast<std::int32_t>(q)) + column + (which & 1) + (which >> 1) * W;
    simd::store_first<I>(where + q, at, n);
  }
}

inline void plane_2x2(const pool_geometry& g, const std::int16_t* in, std::int16_t* out, std::int32_t* where) {
  const std::int64_t P = g.P(), Q = g.Q();
  const std::int32_t W = static_cast<std::int32_t>(g.W);
  for (std::int64_t p = 0; p < P; ++p) {
    const std::int16_t* r0 = in + 2 * p * g.W;
    const std::int32_t first = static_cast<std::int32_t>(2 * p * g.W);
    if (Q <= simd::lanes_of<short_row_vec>) row_2x2<short_row_vec>(r0, r0 + g.W, Q, W, first, out + p * Q, where + p * Q);
    else row_2x2<row_vec>(r0, r0 + g.W, Q, W, first, out + p * Q, where + p * Q);
  }
}

// Any other window, as the float kernel's general loop: the running maximum starts at −Inf, a
// larger value or a NaN takes its place, the first NaN ends the window.
inline void plane_general(const pool_geometry& g, const std::int16_t* in, std::int16_t* out, std::int32_t* where) {
  const std::int64_t P = g.P(), Q = g.Q();
  constexpr std::int16_t minus_infinity = static_cast<std::int16_t>(0xfc00);
  for (std::int64_t p = 0; p < P; ++p)
    for (std::int64_t q = 0; q < Q; ++q) {
      const auto [y0, y1, x0, x1] = g.bounds(p, q);
      std::int16_t best = minus_infinity, best_key = simd::fp16_order_key(minus_infinity);
      std::int64_t at = y0 * g.W + x0;
      for (std::int64_t iy = y0; iy < y1; ++iy)
        for (std::int64_t ix = x0; ix < x1; ++ix) {
          const std::int16_t v = in[iy * g.W + ix];
          if (simd::fp16_is_nan(v)) {
            best = v, at = iy * g.W + ix;
            iy = y1, ix = x1;
          } else if (const std::int16_t k = simd::fp16_order_key(v); k > best_key) {
            best = v, best_key = k, at = iy * g.W + ix;
          }
        }
      out[p * Q + q] = simd::fp16_through_float(best);
      where[p * Q + q] = static_cast<std::int32_t>(at);
    }
}

inline void forward(const pool_geometry& g, std::int64_t N, const half* x, half* y, std::int32_t* argmax) {
  const std::int64_t P = g.P(), Q = g.Q(), HW = g.H * g.W;
  const auto* in = reinterpret_cast<const std::int16_t*>(x);
  auto* out = reinterpret_cast<std::int16_t*>(y);
  const bool two_by_two = g.window == 2 && g.stride == 2 && g.pad == 0 && 2 * P <= g.H && 2 * Q <= g.W;
  parallel_ranges(N * g.C, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t plane = b; plane < e; ++plane) {
      if (two_by_two) plane_2x2(g, in + plane * HW, out + plane * P * Q, argmax + plane * P * Q);
      else plane_general(g, in + plane * HW, out + plane * P * Q, argmax + plane * P * Q);
    }
  }, 1, std::max<std::int64_t>(2, parallel_threshold() / std::max<std::int64_t>(1, HW)));
}

// The gradient one input gets from the output whose maximum it was, as the float kernel leaves
// it: 0 + dy, which is dy itself except that −0 becomes +0 (and a NaN comes back quiet).
template <class V>
STRATA_INLINE V sole_gradient(V dy) {
  return dy == std::int16_t(-0x8000) ? simd::zero<V>() : simd::fp16_through_float(dy);
}

// Whether no two windows share an input (stride ≥ window): then each input gets at most one
// output's gradient, and dx needs no sums.
inline bool disjoint_windows(const pool_geometry& g) { return g.stride >= g.window; }

// 2×2 / stride 2 without padding: each window's four inputs written at once — the gradient where
// its argmax is, 0 at the other three — so dx is written once, without clearing it first. Lanes
// of a row's windows are interleaved back into the two input rows in registers.
template <class V>
STRATA_INLINE void row_2x2_backward(const std::int16_t* dy, const std::int32_t* argmax, std::int64_t Q, std::int32_t W,
                                    std::int32_t first, std::int16_t* r0, std::int16_t* r1) {
  using I = simd::vec<std::int32_t, simd::lanes_of<V> * sizeof(std::int32_t)>;
  constexpr int L = simd::lanes_of<V>;
  I column;
  for (int l = 0; l < L; ++l) column[l] = 2 * l;
  for (std::int64_t q = 0; q < Q; q += L) {
    const int n = static_cast<int>(std::min<std::int64_t>(L, Q - q));
    const V g = sole_gradient(simd::load_first<V>(dy + q, n));
    // Where in the window: 0, 1 (top row), W, W + 1 (bottom row) → 0, 1, 2, 3.
    const I offset = simd::load_first<I>(argmax + q, n) - (first + 2 * static_cast<std::int32_t>(q)) - column;
    const I bottom = offset >= W;  // all ones in the lanes of the bottom row
    const V which = simd::convert<std::int16_t>(I(offset - (bottom & W)) + (bottom & 2));
    const V a = which == std::int16_t(0) ? g : simd::zero<V>(), b = which == std::int16_t(1) ? g : simd::zero<V>();
    const V c = which == std::int16_t(2) ? g : simd::zero<V>(), d = which == std::int16_t(3) ? g : simd::zero<V>();
    V lo, hi;
    const int low = std::min(2 * n, L), high = 2 * n - low;
    simd::interleave(a, b, lo, hi);
    simd::store_first<V>(r0 + 2 * q, lo, low);
    simd::store_first<V>(r0 + 2 * q + L, hi, high);
    simd::interleave(c, d, lo, hi);
    simd::store_first<V>(r1 + 2 * q, lo, low);
    simd::store_first<V>(r1 + 2 * q + L, hi, high);
  }
}

inline void plane_2x2_backward(const pool_geometry& g, const std::int16_t* dy, const std::int32_t* argmax, std::int16_t* dx) {
  const std::int64_t P = g.P(), Q = g.Q();
  const std::int32_t W = static_cast<std::int32_t>(g.W);
  for (std::int64_t p = 0; p < P; ++p) {
    std::int16_t* r0 = dx + 2 * p * g.W;
    const std::int32_t first = static_cast<std::int32_t>(2 * p * g.W);
    if (Q <= simd::lanes_of<short_row_vec>) row_2x2_backward<short_row_vec>(dy + p * Q, argmax + p * Q, Q, W, first, r0, r0 + g.W);
    else row_2x2_backward<row_vec>(dy + p * Q, argmax + p * Q, Q, W, first, r0, r0 + g.W);
    if (2 * Q < g.W) r0[2 * Q] = r0[g.W + 2 * Q] = 0;  // an odd last column: in no window
  }
  if (2 * P < g.H) std::fill(dx + 2 * P * g.W, dx + g.H * g.W, std::int16_t(0));  // an odd last row
}

inline void backward_disjoint(const pool_geometry& g, std::int64_t N, const half* dy, const std::int32_t* argmax, half* dx) {
  const std::int64_t P = g.P(), Q = g.Q(), PQ = P * Q, HW = g.H * g.W;
  const auto* from = reinterpret_cast<const std::int16_t*>(dy);
  auto* to = reinterpret_cast<std::int16_t*>(dx);
  const bool two_by_two = g.window == 2 && g.stride == 2 && g.pad == 0 && 2 * P <= g.H && 2 * Q <= g.W;
  parallel_ranges(N * g.C, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t plane = b; plane < e; ++plane) {
      std::int16_t* out = to + plane * HW;
      const std::int16_t* d = from + plane * PQ;
      const std::int32_t* at = argmax + plane * PQ;
      if (two_by_two) {
        plane_2x2_backward(g, d, at, out);
        continue;
      }
      std::fill(out, out + HW, std::int16_t(0));
      for (std::int64_t i = 0; i < PQ; ++i) out[at[i]] = sole_gradient(d[i]);
    }
  }, 1, std::max<std::int64_t>(2, parallel_threshold() / std::max<std::int64_t>(1, HW)));
}

}  // namespace half_max_pool
}  // namespace cpu

template <>
struct op_kernel<op::max_pool, strata::cpu, half> {
  static void forward(const pool_geometry& g, std::int64_t n, const half* x, half* y, std::int32_t* argmax) {
    cpu::half_max_pool::forward(g, n, x, y, argmax);
  }
  // Disjoint windows move bit patterns; overlapping ones sum their gradients in fp32 and round once.
  static void backward(const pool_geometry& g, std::int64_t n, const half* dy, const std::int32_t* argmax, half* dx) {
    if (cpu::half_max_pool::disjoint_windows(g)) return cpu::half_max_pool::backward_disjoint(g, n, dy, argmax, dx);
    const std::int64_t in = n * g.C * g.H * g.W, out = n * g.C * g.P() * g.Q();
    float* dxf = cpu::fp32_scratch(cpu::half_slot::input, in);
    cpu::max_pool_backward(g, n, cpu::widened(cpu::half_slot::output, dy, out), argmax, dxf);
    cpu::narrow(dxf, dx, in);
  }
};

template <>
struct op_kernel<op::avg_pool, strata::cpu, half> {
  static void forward(const pool_geometry& g, std::int64_t n, const half* x, half* y) {
    const std::int64_t in = n * g.C * g.H * g.W, out = n * g.C * g.P() * g.Q();
    float* yf = cpu::fp32_scratch(cpu::half_slot::output, out);
    cpu::avg_pool_forward(g, n, cpu::widened(cpu::half_slot::input, x, in), yf);
    cpu::narrow(yf, y, out);
  }
  static void backward(const pool_geometry& g, std::int64_t n, const half* dy, half* dx) {
    const std::int64_t in = n * g.C * g.H * g.W, out = n * g.C * g.P() * g.Q();
    float* dxf = cpu::fp32_scratch(cpu::half_slot::input, in);
    cpu::avg_pool_backward(g, n, cpu::widened(cpu::half_slot::output, dy, out), dxf);
    cpu::narrow(dxf, dx, in);
  }
};

}  // namespace strata::kernels
