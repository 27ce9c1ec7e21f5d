// strata/kernels/cpu/depthwise_conv.hpp — depthwise 2-D convolution on the CPU (one R×S filter per
// channel, channel multiplier 1: geometry.groups == C == K): forward with bias and an optional
// clamp (a fused ReLU6 / ReLU), backward data, backward filter and bias; any R×S, stride and
// padding, float and double. The CPU's op_kernel for op::depthwise_conv2d.
//
// Each channel is a small 2-D correlation with few taps: too little work per value for a patch
// matrix and a GEMM, so two layouts of its own, chosen per shape (channel_blocked below):
// - Per plane: a plane is copied once, zero-padded, into a polyphase layout (split by row and
//   column phase y % sy, x % sx), where tap (r, s) of output (p, q) is at tap(r, s) + p·pitch + q
//   whatever the stride; the output plane, taken with that pitch, is one contiguous loop of R·S
//   fused multiply-adds per value along the rows (a few junk columns computed and dropped).
// - Channel-blocked, for small planes and batches beyond the caches: B channels transposed into
//   the vector lanes ([H][W][B]), so that every lane is useful whatever the row length and
//   stride, and transposed back.
// Backward data is the same correlation over dy (per phase, or dilated by the stride with the
// filters rotated); backward filter one dot product per tap.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "strata/config.hpp"
#include "strata/core/device_tags.hpp"
#include "strata/core/parallel.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cpu/simd.hpp"
#include "strata/kernels/op_kernel.hpp"

namespace strata::kernels::cpu {

// Whether the depthwise kernel runs g: one filter per channel.
inline bool depthwise_conv_supports(const conv_geometry& g) {
  return g.is_depthwise() && g.C >= 1 && g.R >= 1 && g.S >= 1 && g.stride_y >= 1 && g.stride_x >= 1 &&
         g.pad_y >= 0 && g.pad_x >= 0 && g.P() >= 1 && g.Q() >= 1;
}

namespace depthwise {

template <class T>
using vec = simd::vec<T>;
template <class T>
inline constexpr std::int64_t lanes = simd::lanes<T>;

inline std::int64_t round_up(std::int64_t n, std::int64_t m) { return (n + m - 1) / m * m; }

// n values from s to d (not overlapping), inline: rows here are often a few values long, where a
// call to memcpy costs more than the copy.
template <class T>
STRATA_INLINE void copy_values(T* STRATA_RESTRICT d, const T* STRATA_RESTRICT s, std::int64_t n) {
  using V = vec<T>;
  constexpr std::int64_t L = lanes<T>;
  if (n >= L) {
    std::int64_t j = 0;
    for (; j + L <= n; j += L) simd::store(d + j, simd::load<V>(s + j));
    if (j < n) simd::store(d + n - L, simd::load<V>(s + n - L));  // the last L values again
    return;
  }
  simd::store_first(d, simd::load_first<V>(s, int(n)), int(n));
}

// `rows` rows of n values from s (row pitch sp) to d (row pitch dp ≥ n), in increasing order. A
// row shorter than a vector is stored as a whole vector where that ends before `end`: what it
// writes past the row, later rows overwrite (masked stores cost more than the copy). With
// ZeroFill the spilled values are 0 (s is read masked: nothing past a row's n values), for
// destinations whose gaps must stay 0; without, s must be readable a vector past each row.
template <bool ZeroFill, class T>
STRATA_INLINE void copy_rows(T* STRATA_RESTRICT d, std::int64_t dp, const T* STRATA_RESTRICT s, std::int64_t sp,
                             std::int64_t rows, std::int64_t n, const T* end) {
  using V = vec<T>;
  constexpr std::int64_t L = lanes<T>;
  if (n >= L) {
    for (std::int64_t r = 0; r < rows; ++r) copy_values(d + r * dp, s + r * sp, n);
    return;
  }
  for (std::int64_t r = 0; r < rows; ++r) {
    T* to = d + r * dp;
    const T* from = s + r * sp;
    const V v = ZeroFill ? simd::load_first<V>(from, int(n)) : simd::load<V>(from);
    if (to + L <= end) simd::store(to, v);
    else simd::store_first(to, v, int(n));
  }
}

// The polyphase layout of one zero-padded plane (Hp × Wp): sy·sx phase planes of rows × pitch,
// value (y, x) of the padded plane at at(y, x).
struct layout {
  std::int64_t sy, sx, Hp, Wp, rows, pitch, plane, size;
  std::int64_t P, Q, R, S, pad_y, pad_x, H, W;
  std::int64_t phases_x;               // column phases that hold input values: min(sx, W)
  std::vector<std::int64_t> row_start;  // at(y + pad_y, x0 + pad_x) for input row y, column x0 < phases_x

  explicit layout(const conv_geometry& g)
      : sy(g.stride_y), sx(g.stride_x), Hp(g.H + 2 * g.pad_y), Wp(g.W + 2 * g.pad_x), rows((Hp + sy - 1) / sy),
        pitch((Wp + sx - 1) / sx), plane(rows * pitch), size(sy * sx * plane), P(g.P()), Q(g.Q()), R(g.R), S(g.S),
        pad_y(g.pad_y), pad_x(g.pad_x), H(g.H), W(g.W), phases_x(std::min(sx, W)),
        row_start(static_cast<std::size_t>(H * phases_x)) {
    for (std::int64_t y = 0; y < H; ++y)
      for (std::int64_t x0 = 0; x0 < phases_x; ++x0) row_start[std::size_t(y * phases_x + x0)] = at(y + pad_y, x0 + pad_x);
  }

  std::int64_t at(std::int64_t y, std::int64_t x) const { return ((y % sy) * sx + x % sx) * plane + (y / sy) * pitch + x / sx; }
  // Output (p, q) reads tap (r, s) at tap(r, s) + p·pitch + q.
  std::int64_t tap(std::int64_t r, std::int64_t s) const { return at(r, s); }
  std::int64_t last_tap() const {
    std::int64_t m = 0;
    for (std::int64_t r = 0; r < std::min(R, sy); ++r)  // the last row and column of each phase
      for (std::int64_t s = 0; s < std::min(S, sx); ++s) m = std::max(m, tap(r + (R - 1 - r) / sy * sy, s + (S - 1 - s) / sx * sx));
    return m;
  }
  // The output plane with this pitch (its last columns per row are junk).
  std::int64_t flat_outputs() const { return P * pitch; }
  // Values a buffer in this layout needs so that the vector loop may read past the plane.
  template <class T>
  std::int64_t buffer() const {
    return std::max(size, last_tap() + round_up(flat_outputs(), lanes<T>)) + lanes<T>;
  }

  // Copies the H×W plane x into buf (whose padding is zero and stays so).
  template <class T>
  void scatter(const T* x, T* buf) const {
    using V = vec<T>;
    constexpr std::int64_t L = lanes<T>;
    if (sx == 1 && sy == 1) {  // one phase: rows in address order, the gaps between them zero
      copy_rows<true>(buf + row_start[0], pitch, x, W, H, W, buf + size);
      return;
    }
    const std::int64_t* start = row_start.data();
    for (std::int64_t y = 0; y < H; ++y, start += phases_x) {
      const T* row = x + y * W;
      if (sx == 1) {
        copy_values(buf + start[0], row, W);
        continue;
      }
      if (sx == 2 && W >= 2) {  // even and odd columns, 2L at a time
        T* even = buf + start[0];
        T* odd = buf + start[1];
        std::int64_t j = 0;
        V e, o;
        for (; 2 * j + 2 * L <= W; j += L) {
          simd::deinterleave(simd::load<V>(row + 2 * j), simd::load<V>(row + 2 * j + L), e, o);
          simd::store(even + j, e);
          simd::store(odd + j, o);
        }
        if (const int m = int(W - 2 * j); m > 0) {
          simd::deinterleave(simd::load_first<V>(row + 2 * j, int(std::min<std::int64_t>(m, L))),
                             simd::load_first<V>(row + 2 * j + L, int(std::max<std::int64_t>(m - L, 0))), e, o);
          simd::store_first(even + j, e, (m + 1) / 2);
          simd::store_first(odd + j, o, m / 2);
        }
        continue;
      }
      for (std::int64_t x0 = 0; x0 < phases_x; ++x0) {
        T* dst = buf + start[x0];
        const std::int64_t n = (W - x0 + sx - 1) / sx;
        for (std::int64_t j = 0; j < n; ++j) dst[j] = row[x0 + j * sx];
      }
    }
  }
  // The inverse: the H×W interior of buf into dx.
  template <class T>
  void gather(const T* buf, T* dx) const {
    using V = vec<T>;
    constexpr std::int64_t L = lanes<T>;
    const std::int64_t* start = row_start.data();
    for (std::int64_t y = 0; y < H; ++y, start += phases_x) {
      T* row = dx + y * W;
      if (sx == 1) {
        copy_values(row, buf + start[0], W);
        continue;
      }
      if (sx == 2 && W >= 2) {
        const T* even = buf + start[0];
        const T* odd = buf + start[1];
        std::int64_t j = 0;
        V lo, hi;
        for (; 2 * j + 2 * L <= W; j += L) {
          simd::interleave(simd::load<V>(even + j), simd::load<V>(odd + j), lo, hi);
          simd::store(row + 2 * j, lo);
          simd::store(row + 2 * j + L, hi);
        }
        if (const int m = int(W - 2 * j); m > 0) {
          simd::interleave(simd::load_first<V>(even + j, (m + 1) / 2), simd::load_first<V>(odd + j, m / 2), lo, hi);
          simd::store_first(row + 2 * j, lo, int(std::min<std::int64_t>(m, L)));
          simd::store_first(row + 2 * j + L, hi, int(std::max<std::int64_t>(m - L, 0)));
        }
        continue;
      }
      for (std::int64_t x0 = 0; x0 < phases_x; ++x0) {
        const T* src = buf + start[x0];
        const std::int64_t n = (W - x0 + sx - 1) / sx;
        for (std::int64_t j = 0; j < n; ++j) row[x0 + j * sx] = src[j];
      }
    }
  }
};

template <class T, class V = vec<T>>
STRATA_INLINE V clamp(V v, V lo, V hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}

// out[i] = clamp(bias + Σ_k w[k] · src[off[k] + i]) for i in [0, n): four vectors at a time (four
// independent chains of fused multiply-adds), then one, then single values. Taps > 0 fixes the
// tap count at compile time (the weights stay in registers); 0 takes it from `taps`.
template <int Taps, bool Clamp, class T>
void correlate(T* STRATA_RESTRICT out, std::int64_t n, const T* STRATA_RESTRICT src, const std::int64_t* off,
               const T* w, int taps, T bias, T lo, T hi) {
  using V = vec<T>;
  constexpr std::int64_t L = lanes<T>;
  const int nt = Taps > 0 ? Taps : taps;
  const V vb = simd::broadcast<V>(bias), vlo = simd::broadcast<V>(lo), vhi = simd::broadcast<V>(hi);
  std::int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    V a0 = vb, a1 = vb, a2 = vb, a3 = vb;
    for (int k = 0; k < nt; ++k) {
      const V wk = simd::broadcast<V>(w[k]);
      const T* s = src + off[k] + i;
      a0 = simd::fma(simd::load<V>(s), wk, a0);
      a1 = simd::fma(simd::load<V>(s + L), wk, a1);
      a2 = simd::fma(simd::load<V>(s + 2 * L), wk, a2);
      a3 = simd::fma(simd::load<V>(s + 3 * L), wk, a3);
    }
    if constexpr (Clamp) a0 = clamp<T>(a0, vlo, vhi), a1 = clamp<T>(a1, vlo, vhi), a2 = clamp<T>(a2, vlo, vhi), a3 = clamp<T>(a3, vlo, vhi);
    simd::store(out + i, a0);
    simd::store(out + i + L, a1);
    simd::store(out + i + 2 * L, a2);
    simd::store(out + i + 3 * L, a3);
  }
  for (; i + L <= n; i += L) {
    V a = vb;
    for (int k = 0; k < nt; ++k) a = simd::fma(simd::load<V>(src + off[k] + i), simd::broadcast<V>(w[k]), a);
    if constexpr (Clamp) a = clamp<T>(a, vlo, vhi);
    simd::store(out + i, a);
  }
  for (; i < n; ++i) {
    T a = bias;
    for (int k = 0; k < nt; ++k) a += w[k] * src[off[k] + i];
    if constexpr (Clamp) a = std::min(std::max(a, lo), hi);
    out[i] = a;
  }
}

// correlate with the common tap counts (3×3, 5×5) fixed at compile time.
template <class T>
void correlate_any(T* out, std::int64_t n, const T* src, const std::int64_t* off, const T* w, int taps, T bias, T lo,
                   T hi) {
  const bool clamped = lo > -std::numeric_limits<T>::infinity() || hi < std::numeric_limits<T>::infinity();
  auto run = [&]<int Taps>(std::integral_constant<int, Taps>) {
    if (clamped) correlate<Taps, true>(out, n, src, off, w, taps, bias, lo, hi);
    else correlate<Taps, false>(out, n, src, off, w, taps, bias, lo, hi);
  };
  if (taps == 9) run(std::integral_constant<int, 9>{});
  else if (taps == 25) run(std::integral_constant<int, 25>{});
  else run(std::integral_constant<int, 0>{});
}

// Σ_i a[i] · b[off[k] + i] for i in [0, n) (n a multiple of the vector width), for 8 taps at
// once so that a is read once per 8.
template <class T>
void dot8(const T* STRATA_RESTRICT a, std::int64_t n, const T* STRATA_RESTRICT b, const std::int64_t* off, T* result) {
  using V = vec<T>;
  constexpr std::int64_t L = lanes<T>;
  V acc[8] = {};
  for (std::int64_t i = 0; i < n; i += L) {
    const V av = simd::load<V>(a + i);
    for (int k = 0; k < 8; ++k) acc[k] = simd::fma(av, simd::load<V>(b + off[k] + i), acc[k]);
  }
  for (int k = 0; k < 8; ++k) result[k] = simd::hsum(acc[k]);
}

// Planes below which one thread does everything (the threshold counts multiply-adds).
inline std::int64_t planes_threshold(const conv_geometry& g) {
  return std::max<std::int64_t>(2, parallel_threshold() / std::max<std::int64_t>(1, g.P() * g.Q() * g.R * g.S));
}

// Rows at least this wide are computed row by row straight into y; narrower planes as one flat
// loop over the pitched plane, copied out afterwards.
template <class T>
inline constexpr std::int64_t row_mode_width = 4 * lanes<T>;

// Small planes, where per-plane and per-row costs would dominate, run with the channels in the
// vector lanes instead: a block of B channels of one image is transposed into a zero-padded
// [Hp][Wp][B] buffer, each output pixel of the block is then one vector, Σ_r,s w[·][r][s] ⊙
// in[p·sy + r][q·sx + s][·] (full lanes whatever the stride), and B pixels at a time are
// transposed back into the B output planes. B is 8 floats or 4 doubles (an in-register
// transpose; on AVX-512 as fast per FMA as 16 lanes on Zen 4's 256-bit units).
template <class T>
using block_vec = simd::vec<T, std::max<std::size_t>(sizeof(T), std::min<std::size_t>(simd::register_bytes, 32))>;
template <class T>
inline constexpr std::int64_t block_lanes = simd::lanes_of<block_vec<T>>;

// Whether a batch of N runs channel-blocked: at least one full block of channels, and either
// output rows short enough that the per-plane way wastes much of its vectors, or a batch beyond
// the caches, which the blocked way streams faster (it reads B planes at once). Measured on Zen
// 4 with EfficientNet's shapes (benchmarks/depthwise_conv): 7×7 outputs, 14×14 from a stride 2,
// up to 28×28 with 5×5 filters at stride 1; batches of more than about 20 MB.
template <class T>
bool beyond_caches(const conv_geometry& g, std::int64_t N) {
  return double(N) * double(g.C) * double(g.H * g.W + g.P() * g.Q()) * sizeof(T) > 20e6;
}
template <class T>
bool channel_blocked(const conv_geometry& g, std::int64_t N) {
  const std::int64_t Q = g.Q();
  return block_lanes<T> > 1 && g.C >= block_lanes<T> &&
         (Q < 12 || (g.stride_x == 1 && g.R * g.S >= 25 && Q <= 28) || (g.stride_x > 1 && Q <= 14) || beyond_caches<T>(g, N));
}
// Backward data, blocked, runs over dy dilated by the stride: a stride of 2 costs it 4 times the
// multiply-adds, which only pays on the smallest planes or beyond the caches.
template <class T>
bool channel_blocked_backward_data(const conv_geometry& g, std::int64_t N) {
  return channel_blocked<T>(g, N) && g.pad_y < g.R && g.pad_x < g.S &&
         ((g.stride_y == 1 && g.stride_x == 1) || g.Q() < 12 || beyond_caches<T>(g, N));
}
// Backward filter, blocked, is the faster way whenever there is a block of channels.
template <class T>
bool channel_blocked_backward_filter(const conv_geometry& g) {
  return block_lanes<T> > 1 && g.C >= block_lanes<T>;
}

// One blocked correlation: planes of h×w values (plane c of image n at (n·C + c)·h·w) placed
// with dilation (dil_y, dil_x) from (oy, ox) on into a zero [Hb][Wb][B] buffer, then P×Q outputs
// out[p][q] = bias + Σ_r,s w[r][s] ⊙ buffer[p·sy + r][q·sx + s]. The forward pass is one with the
// padding as offset; backward data one over dy dilated by the stride, with the filters rotated.
struct blocked_problem {
  std::int64_t C, h, w, dil_y, dil_x, oy, ox, Hb, Wb, R, S, sy, sx, P, Q;

  static blocked_problem forward(const conv_geometry& g) {
    return {g.C, g.H, g.W, 1, 1, g.pad_y, g.pad_x, g.H + 2 * g.pad_y, g.W + 2 * g.pad_x, g.R, g.S, g.stride_y,
            g.stride_x, g.P(), g.Q()};
  }
  // dx = dy dilated by the stride, padded by R − 1 − pad (which must not be negative), ⋆ the
  // filters rotated by 180°; rows and columns of x that no output reads get 0.
  static blocked_problem backward_data(const conv_geometry& g) {
    return {g.C, g.P(), g.Q(), g.stride_y, g.stride_x, g.R - 1 - g.pad_y, g.S - 1 - g.pad_x, g.H + g.R - 1,
            g.W + g.S - 1, g.R, g.S, 1, 1, g.H, g.W};
  }
  // Buffer offsets (in values) of each input pixel, of each output pixel's first tap (padded to
  // whole blocks with pixel 0), and of each tap.
  void tables(std::int64_t B, std::vector<std::int64_t>& in_at, std::vector<std::int64_t>& out_at,
              std::vector<std::int64_t>& tap_at) const {
    in_at.assign(static_cast<std::size_t>(h * w), 0);
    out_at.assign(static_cast<std::size_t>(round_up(P * Q, B)), 0);
    tap_at.assign(static_cast<std::size_t>(R * S), 0);
    for (std::int64_t t = 0; t < h * w; ++t) in_at[t] = ((t / w * dil_y + oy) * Wb + t % w * dil_x + ox) * B;
    for (std::int64_t t = 0; t < P * Q; ++t) out_at[t] = (t / Q * sy * Wb + t % Q * sx) * B;
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t s = 0; s < S; ++s) tap_at[r * S + s] = (r * Wb + s) * B;
  }
  // The buffer, with what the sliding loop reads past its end.
  std::int64_t buffer(std::int64_t B) const { return (Hb * Wb + B) * B; }
};

// Filters of channels [0, B·blocks) as vectors: packed[(i·RS + k)·B + j] = w[(i·B + j)·RS + k'] with
// k' = k, or the tap rotated by 180° (backward data).
template <class T>
std::vector<T> pack_filters(const T* w, std::int64_t blocks, std::int64_t B, std::int64_t RS, bool rotated) {
  std::vector<T> packed(static_cast<std::size_t>(blocks * RS * B));
  for (std::int64_t c = 0; c < blocks * B; ++c)
    for (std::int64_t k = 0; k < RS; ++k) packed[std::size_t((c / B * RS + k) * B + c % B)] = w[c * RS + (rotated ? RS - 1 - k : k)];
  return packed;
}

// The B planes of block c0 of image n into buf at in_at (transposed: one vector per pixel).
template <class T>
STRATA_INLINE void transpose_in(const T* planes, std::int64_t hw, const std::int64_t* in_at, T* buf) {
  using V = block_vec<T>;
  constexpr std::int64_t B = block_lanes<T>;
  for (std::int64_t t0 = 0; t0 < hw; t0 += B) {
    const int m = int(std::min<std::int64_t>(B, hw - t0));
    V rows[B];
    for (std::int64_t j = 0; j < B; ++j)
      rows[j] = m == B ? simd::load<V>(planes + j * hw + t0) : simd::load_first<V>(planes + j * hw + t0, m);
    simd::transpose(rows);
    for (int u = 0; u < m; ++u) simd::store(buf + in_at[t0 + u], rows[u]);
  }
}

// The correlation pr for channels [0, B·blocks) of every image, B channels at a time.
template <class T>
void correlate_blocked(const blocked_problem& pr, std::int64_t N, std::int64_t blocks, const T* src, const T* packed,
                       const T* b, T* out, T lo, T hi) {
  using V = block_vec<T>;
  constexpr std::int64_t B = block_lanes<T>;
  const std::int64_t hw = pr.h * pr.w, P = pr.P, Q = pr.Q, PQ = P * Q, RS = pr.R * pr.S, Wb = pr.Wb;
  std::vector<std::int64_t> in_at, out_at, tap_at;
  pr.tables(B, in_at, out_at, tap_at);
  const bool clamped = lo > -std::numeric_limits<T>::infinity() || hi < std::numeric_limits<T>::infinity();
  const V vlo = simd::broadcast<V>(lo), vhi = simd::broadcast<V>(hi);
  const std::int64_t threshold = std::max<std::int64_t>(1, parallel_threshold() / std::max<std::int64_t>(1, B * PQ * RS));
  // Sliding along rows: for stride 1 with 3 or 5 columns, and rows of at least a block (shorter
  // ones would waste most of each block).
  const int slide = pr.sx == 1 && (pr.S == 3 || pr.S == 5) && Q >= B - 1 ? int(pr.S) : 0;
  parallel_ranges(N * blocks, [&](std::int64_t begin, std::int64_t end) {
    std::vector<T> buf(static_cast<std::size_t>(pr.buffer(B)));  // what is not written stays 0
    for (std::int64_t task = begin; task < end; ++task) {
      const std::int64_t n = task / blocks, c0 = task % blocks * B;
      T* yb = out + (n * pr.C + c0) * PQ;
      const T* wv = packed + c0 * RS;
      // (not `: V{}`: nvcc cannot write a vector-typed aggregate constant into its host code, an
      // internal error, and layers are compiled by nvcc for GPU models too)
      const V bias = b ? simd::load<V>(b + c0) : simd::broadcast<V>(T(0));
      transpose_in(src + (n * pr.C + c0) * hw, hw, in_at.data(), buf.data());
      // B output pixels at a time, transposed back to B rows of the B planes.
      auto store_out = [&](V* acc, std::int64_t t0, std::int64_t valid) {
        V rows[B];
#pragma GCC unroll 16
        for (std::int64_t u = 0; u < B; ++u) rows[u] = clamped ? clamp<T, V>(acc[u], vlo, vhi) : acc[u];
        simd::transpose(rows);
        for (std::int64_t j = 0; j < B; ++j) {
          if (valid == B) simd::store(yb + j * PQ + t0, rows[j]);
          else simd::store_first(yb + j * PQ + t0, rows[j], int(valid));
        }
      };
      // Stride 1, 3 or 5 columns: B pixels of a row, each filter row's B + S − 1 input vectors
      // loaded once for all S taps (loads, not multiply-adds, would bound the loop).
      auto sliding = [&]<int S>(std::integral_constant<int, S>) {
        for (std::int64_t p = 0; p < P; ++p)
          for (std::int64_t q0 = 0; q0 < Q; q0 += B) {
            V acc[B];
#pragma GCC unroll 16
            for (std::int64_t u = 0; u < B; ++u) acc[u] = bias;
            for (std::int64_t r = 0; r < pr.R; ++r) {
              const T* row = buf.data() + ((p * pr.sy + r) * Wb + q0) * B;
              V in[B + S - 1];
#pragma GCC unroll 16
              for (std::int64_t j = 0; j < B + S - 1; ++j) in[j] = simd::load<V>(row + j * B);
#pragma GCC unroll 8
              for (int s = 0; s < S; ++s) {
                const V wk = simd::load<V>(wv + (r * S + s) * B);
#pragma GCC unroll 16
                for (std::int64_t u = 0; u < B; ++u) acc[u] = simd::fma(in[u + s], wk, acc[u]);
              }
            }
            store_out(acc, p * Q + q0, std::min<std::int64_t>(B, Q - q0));
          }
      };
      if (slide == 3) {
        sliding(std::integral_constant<int, 3>{});
        continue;
      }
      if (slide == 5) {
        sliding(std::integral_constant<int, 5>{});
        continue;
      }
      // Any other: B consecutive output pixels (across rows), their taps found by table.
      for (std::int64_t t0 = 0; t0 < PQ; t0 += B) {
        const T* at[B];
        V acc[B];
#pragma GCC unroll 16
        for (std::int64_t u = 0; u < B; ++u) at[u] = buf.data() + out_at[t0 + u], acc[u] = bias;
        for (std::int64_t k = 0; k < RS; ++k) {
          const V wk = simd::load<V>(wv + k * B);
          const std::int64_t o = tap_at[k];
#pragma GCC unroll 16
          for (std::int64_t u = 0; u < B; ++u) acc[u] = simd::fma(simd::load<V>(at[u] + o), wk, acc[u]);
        }
        store_out(acc, t0, std::min<std::int64_t>(B, PQ - t0));
      }
    }
  }, 1, threshold);
}

// acc[k] += Σ_t dy[t] ⊙ buf[at[t] + tap[k]] over the pixels t of a block, Taps fixed at compile
// time (the accumulators in registers) or 0 (from `taps`).
// (V is deduced, not written block_vec<T>: nvcc's front end does not match a vector-typed alias
// in a parameter.)
template <int Taps, class T, class V>
void filter_gradient_blocked(const T* dyt, std::int64_t pixels, const T* buf, const std::int64_t* out_at,
                             const std::int64_t* tap_at, int taps, V* acc) {
  static_assert(std::is_same_v<V, block_vec<T>>);
  constexpr std::int64_t B = block_lanes<T>;
  const int nt = Taps > 0 ? Taps : taps;
  if constexpr (Taps > 0) {
    V a[Taps];
#pragma GCC unroll 32
    for (int k = 0; k < Taps; ++k) a[k] = acc[k];
    for (std::int64_t t = 0; t < pixels; ++t) {
      const V d = simd::load<V>(dyt + t * B);
      const T* at = buf + out_at[t];
#pragma GCC unroll 32
      for (int k = 0; k < Taps; ++k) a[k] = simd::fma(d, simd::load<V>(at + tap_at[k]), a[k]);
    }
#pragma GCC unroll 32
    for (int k = 0; k < Taps; ++k) acc[k] = a[k];
  } else {
    for (std::int64_t t = 0; t < pixels; ++t) {
      const V d = simd::load<V>(dyt + t * B);
      const T* at = buf + out_at[t];
      for (int k = 0; k < nt; ++k) acc[k] = simd::fma(d, simd::load<V>(at + tap_at[k]), acc[k]);
    }
  }
}

// Backward filter of channels [0, B·blocks), B channels at a time (each block over every image,
// so that no two threads add to one filter).
template <class T>
void backward_filter_blocked(const conv_geometry& g, std::int64_t N, std::int64_t blocks, const T* x, const T* dy, T* dw,
                             T* db) {
  using V = block_vec<T>;
  constexpr std::int64_t B = block_lanes<T>;
  const blocked_problem pr = blocked_problem::forward(g);
  const std::int64_t hw = pr.h * pr.w, PQ = pr.P * pr.Q, RS = pr.R * pr.S;
  std::vector<std::int64_t> in_at, out_at, tap_at;
  pr.tables(B, in_at, out_at, tap_at);
  const std::int64_t threshold = std::max<std::int64_t>(1, parallel_threshold() / std::max<std::int64_t>(1, N * B * PQ * RS));
  parallel_ranges(blocks, [&](std::int64_t begin, std::int64_t end) {
    std::vector<T> buf(static_cast<std::size_t>(pr.buffer(B)));
    std::vector<T> dyt(static_cast<std::size_t>(round_up(PQ, B) * B));  // dy transposed: a vector per pixel
    // not std::vector<V>: nvcc's front end rejects initializer_list<V> of a vector type, and
    // layers (hence this header) are compiled by nvcc for GPU models too
    const std::unique_ptr<V[]> acc(new V[static_cast<std::size_t>(RS)]);
    std::vector<std::int64_t> dy_at(static_cast<std::size_t>(PQ));
    for (std::int64_t t = 0; t < PQ; ++t) dy_at[t] = t * B;
    for (std::int64_t blk = begin; blk < end; ++blk) {
      const std::int64_t c0 = blk * B;
      std::fill(acc.get(), acc.get() + RS, V{});
      V bias{};
      for (std::int64_t n = 0; n < N; ++n) {
        transpose_in(x + (n * g.C + c0) * hw, hw, in_at.data(), buf.data());
        transpose_in(dy + (n * g.C + c0) * PQ, PQ, dy_at.data(), dyt.data());
        if (RS == 9) filter_gradient_blocked<9>(dyt.data(), PQ, buf.data(), out_at.data(), tap_at.data(), 9, acc.get());
        else if (RS == 25) filter_gradient_blocked<25>(dyt.data(), PQ, buf.data(), out_at.data(), tap_at.data(), 25, acc.get());
        else filter_gradient_blocked<0>(dyt.data(), PQ, buf.data(), out_at.data(), tap_at.data(), int(RS), acc.get());
        if (db)
          for (std::int64_t t = 0; t < PQ; ++t) bias += simd::load<V>(dyt.data() + t * B);
      }
      for (std::int64_t k = 0; k < RS; ++k) {
        T lanes_of_k[B];
        simd::store(lanes_of_k, acc[k]);
        for (std::int64_t j = 0; j < B; ++j) dw[(c0 + j) * RS + k] = lanes_of_k[j];
      }
      if (db) simd::store(db + c0, bias);
    }
  }, 1, threshold);
}

}  // namespace depthwise

// y[n][c][p][q] = clamp(b[c] + Σ_r,s w[c][r][s] · x[n][c][p·sy − py + r][q·sx − px + s]) with
// clamp to [lo, hi] (±∞: none; 0, 6: ReLU6). b may be null.
template <class T>
void depthwise_conv_forward(const conv_geometry& g, std::int64_t N, const T* x, const T* w, const T* b, T* y,
                            T lo = -std::numeric_limits<T>::infinity(), T hi = std::numeric_limits<T>::infinity()) {
  std::int64_t first = 0;  // channels from here on run plane by plane
  if (depthwise::channel_blocked<T>(g, N)) {
    const std::int64_t blocks = g.C / depthwise::block_lanes<T>;
    const auto packed = depthwise::pack_filters(w, blocks, depthwise::block_lanes<T>, g.R * g.S, false);
    depthwise::correlate_blocked(depthwise::blocked_problem::forward(g), N, blocks, x, packed.data(), b, y, lo, hi);
    first = blocks * depthwise::block_lanes<T>;
    if (first == g.C) return;
  }
  const depthwise::layout l(g);
  const std::int64_t C = g.C, H = g.H, W = g.W, P = l.P, Q = l.Q, RS = g.R * g.S;
  const bool row_mode = Q >= depthwise::row_mode_width<T>;
  std::vector<std::int64_t> off(static_cast<std::size_t>(RS));
  for (std::int64_t r = 0; r < g.R; ++r)
    for (std::int64_t s = 0; s < g.S; ++s) off[r * g.S + s] = l.tap(r, s);
  const std::int64_t n_flat = depthwise::round_up(l.flat_outputs(), depthwise::lanes<T>);
  const std::int64_t Cr = C - first;  // the planes of channels [first, C) of each image, numbered 0, 1, …
  auto plane_of = [&](std::int64_t i) { return first == 0 ? i : i / Cr * C + first + i % Cr; };
  parallel_ranges(N * Cr, [&](std::int64_t begin, std::int64_t end) {
    // Two of each buffer, the planes in a pipeline: plane i is copied in while plane i − 1 is
    // computed and plane i − 2 copied out, so that no load waits for the stores just before it
    // (a load that straddles recent stores is not forwarded from them: a stall per row).
    std::vector<T> in[2], out[2];
    for (int k = 0; k < 2; ++k) {
      in[k].resize(static_cast<std::size_t>(l.buffer<T>()));
      if (!row_mode) out[k].resize(static_cast<std::size_t>(n_flat + depthwise::lanes<T>));  // + what copy_rows reads past
    }
    for (std::int64_t i = begin; i < end + 2; ++i) {
      if (i < end) l.scatter(x + plane_of(i) * H * W, in[i & 1].data());
      if (const std::int64_t k = i - 1; k >= begin && k < end) {
        const std::int64_t nc = plane_of(k), c = nc % C;
        const T bias = b ? b[c] : T(0);
        const T* src = in[k & 1].data();
        if (row_mode) {
          T* plane = y + nc * P * Q;
          for (std::int64_t p = 0; p < P; ++p)
            depthwise::correlate_any(plane + p * Q, Q, src + p * l.pitch, off.data(), w + c * RS, int(RS), bias, lo, hi);
        } else {
          depthwise::correlate_any(out[k & 1].data(), n_flat, src, off.data(), w + c * RS, int(RS), bias, lo, hi);
        }
      }
      if (const std::int64_t k = i - 2; !row_mode && k >= begin) {
        T* plane = y + plane_of(k) * P * Q;
        depthwise::copy_rows<false>(plane, Q, out[k & 1].data(), l.pitch, P, Q, plane + P * Q);
      }
    }
  }, 1, depthwise::planes_threshold(g));
}

// dx[n][c][iy][ix] = Σ over the outputs (p, q) and taps (r, s) that read it: w[c][r][s] · dy[n][c][p][q].
template <class T>
void depthwise_conv_backward_data(const conv_geometry& g, std::int64_t N, const T* w, const T* dy, T* dx) {
  std::int64_t first = 0;  // channels from here on run plane by plane
  if (depthwise::channel_blocked_backward_data<T>(g, N)) {
    const std::int64_t blocks = g.C / depthwise::block_lanes<T>;
    const auto packed = depthwise::pack_filters(w, blocks, depthwise::block_lanes<T>, g.R * g.S, true);
    depthwise::correlate_blocked(depthwise::blocked_problem::backward_data(g), N, blocks, dy, packed.data(),
                                 static_cast<const T*>(nullptr), dx, -std::numeric_limits<T>::infinity(),
                                 std::numeric_limits<T>::infinity());
    first = blocks * depthwise::block_lanes<T>;
    if (first == g.C) return;
  }
  const depthwise::layout l(g);
  const std::int64_t C = g.C, H = g.H, W = g.W, P = l.P, Q = l.Q, RS = g.R * g.S;
  const std::int64_t Cr = C - first;  // the planes of channels [first, C) of each image, numbered 0, 1, …
  auto plane_of = [&](std::int64_t i) { return first == 0 ? i : i / Cr * C + first + i % Cr; };
  constexpr std::int64_t V = depthwise::lanes<T>;
  // Per phase plane: its taps, as offsets into dy (pitched, with a zero margin in front) and the
  // positions of their weights.
  struct phase {
    std::vector<std::int64_t> off, tap;
  };
  std::vector<phase> phases(static_cast<std::size_t>(l.sy * l.sx));
  const std::int64_t margin = (g.R - 1) / l.sy * l.pitch + (g.S - 1) / l.sx;
  for (std::int64_t r = 0; r < g.R; ++r)
    for (std::int64_t s = 0; s < g.S; ++s) {
      phase& ph = phases[static_cast<std::size_t>((r % l.sy) * l.sx + s % l.sx)];
      ph.off.push_back(margin - (r / l.sy * l.pitch + s / l.sx));
      ph.tap.push_back(r * g.S + s);
    }
  const std::int64_t per_phase = depthwise::round_up(l.plane, V);
  parallel_ranges(N * Cr, [&](std::int64_t begin, std::int64_t end) {
    std::vector<T> grad(static_cast<std::size_t>(l.size + per_phase + V));
    std::vector<T> dyz(static_cast<std::size_t>(margin + std::max(l.flat_outputs(), per_phase) + V));  // junk columns stay 0
    std::vector<T> wk(static_cast<std::size_t>(RS));
    for (std::int64_t i = begin; i < end; ++i) {
      const std::int64_t nc = plane_of(i), c = nc % C;
      depthwise::copy_rows<true>(dyz.data() + margin, l.pitch, dy + nc * P * Q, Q, P, Q, dyz.data() + dyz.size());
      for (std::size_t f = 0; f < phases.size(); ++f) {
        const phase& ph = phases[f];
        for (std::size_t k = 0; k < ph.tap.size(); ++k) wk[k] = w[c * RS + ph.tap[k]];
        depthwise::correlate_any(grad.data() + std::int64_t(f) * l.plane, per_phase, dyz.data(), ph.off.data(), wk.data(),
                                 int(ph.tap.size()), T(0), -std::numeric_limits<T>::infinity(),
                                 std::numeric_limits<T>::infinity());
      }
      l.gather(grad.data(), dx + nc * H * W);
    }
  }, 1, depthwise::planes_threshold(g));
}

// dw[c][r][s] = Σ_n,p,q dy[n][c][p][q] · x[n][c][p·sy − py + r][q·sx − px + s]; db[c] = Σ dy[n][c]
// (db may be null). Both are set, not added to.
template <class T>
void depthwise_conv_backward_filter(const conv_geometry& g, std::int64_t N, const T* x, const T* dy, T* dw, T* db) {
  std::int64_t first = 0;  // channels from here on run plane by plane
  if (depthwise::channel_blocked_backward_filter<T>(g)) {
    const std::int64_t blocks = g.C / depthwise::block_lanes<T>;
    depthwise::backward_filter_blocked(g, N, blocks, x, dy, dw, db);
    first = blocks * depthwise::block_lanes<T>;
    if (first == g.C) return;
  }
  const depthwise::layout l(g);
  const std::int64_t C = g.C, H = g.H, W = g.W, P = l.P, Q = l.Q, RS = g.R * g.S;
  constexpr std::int64_t V = depthwise::lanes<T>;
  const std::int64_t n_flat = depthwise::round_up(l.flat_outputs(), V);
  const std::int64_t blocks = (RS + 7) / 8;
  std::vector<std::int64_t> off(static_cast<std::size_t>(blocks * 8), 0);  // the last block padded with tap 0
  for (std::int64_t r = 0; r < g.R; ++r)
    for (std::int64_t s = 0; s < g.S; ++s) off[r * g.S + s] = l.tap(r, s);
  const std::int64_t threshold = std::max<std::int64_t>(1, depthwise::planes_threshold(g) / std::max<std::int64_t>(1, N));
  parallel_ranges(C - first, [&](std::int64_t begin, std::int64_t end) {
    std::vector<T> in(static_cast<std::size_t>(l.buffer<T>()));
    std::vector<T> dyp(static_cast<std::size_t>(n_flat));  // junk columns stay 0
    std::vector<T> sums(static_cast<std::size_t>(blocks * 8));
    for (std::int64_t c = first + begin; c < first + end; ++c) {
      std::vector<T> acc(static_cast<std::size_t>(RS), T(0));
      T bias_sum = 0;
      for (std::int64_t n = 0; n < N; ++n) {
        const std::int64_t nc = n * C + c;
        l.scatter(x + nc * H * W, in.data());
        const T* d = dy + nc * P * Q;
        depthwise::copy_rows<true>(dyp.data(), l.pitch, d, Q, P, Q, dyp.data() + dyp.size());
        for (std::int64_t k = 0; k < blocks; ++k) depthwise::dot8(dyp.data(), n_flat, in.data(), off.data() + 8 * k, sums.data() + 8 * k);
        for (std::int64_t k = 0; k < RS; ++k) acc[k] += sums[k];
        if (db) {
          T s = 0;
          for (std::int64_t i = 0; i < P * Q; ++i) s += d[i];
          bias_sum += s;
        }
      }
      std::copy(acc.begin(), acc.end(), dw + c * RS);
      if (db) db[c] = bias_sum;
    }
  }, 1, threshold);
}

}  // namespace strata::kernels::cpu

namespace strata::kernels {

template <class T>
  requires std::is_same_v<T, float> || std::is_same_v<T, double>
struct op_kernel<op::depthwise_conv2d, strata::cpu, T> {
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, T lo, T hi) {
    cpu::depthwise_conv_forward(g, n, x, w, b, y, lo, hi);
  }
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx) {
    cpu::depthwise_conv_backward_data(g, n, w, dy, dx);
  }
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db) {
    cpu::depthwise_conv_backward_filter(g, n, x, dy, dw, db);
  }
};

}  // namespace strata::kernels
