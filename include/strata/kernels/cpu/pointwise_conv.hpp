// strata/kernels/cpu/pointwise_conv.hpp — the inference forward pass of a 1×1 ("pointwise")
// convolution with its epilogue fused: y = clamp(W·x + bias, lo, hi) in one pass over y, the
// weights packed once at plan time (batch norm already folded into W and the bias).
//
// Why: through OpenBLAS the same layer was four passes over y (β = 0 zeroing C, the product, a bias
// pass, a clamp pass) and a packing of both operands per call. Here, on fp32 with packed_gemm,
// each thread packs a block of input pixels straight into packed_gemm's column panels and the
// micro-kernel (6×16; 6×32 with 512-bit vectors where the target has AVX-512) adds the bias and
// clamps as it stores; double and targets without the micro-kernel run gemm<T> (β = 0) on tiles
// of each image and a bias + clamp pass over each tile while it is in cache.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "strata/config.hpp"
#include "strata/core/device_tags.hpp"
#include "strata/core/parallel.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cpu/gemm.hpp"
#include "strata/kernels/cpu/packed_gemm.hpp"
#include "strata/kernels/cpu/simd.hpp"
#include "strata/kernels/cpu/thread_scratch.hpp"
#include "strata/kernels/op_kernel.hpp"

namespace strata::kernels::cpu {

// Whether pointwise_conv_forward runs g: 1×1 filters, no padding, one group (any stride).
inline bool pointwise_conv_supports(const conv_geometry& g) {
  return g.R == 1 && g.S == 1 && g.pad_y == 0 && g.pad_x == 0 && g.groups == 1 && g.stride_y >= 1 && g.stride_x >= 1;
}

namespace pointwise {

// fp32 on a target with the packed micro-kernel: weights in pack_a's row blocks; else a plain copy.
template <class T>
inline constexpr bool uses_packed_gemm = std::is_same_v<T, float> && packed_gemm_available;

// NaN stays NaN (neither comparison holds), as in packed_kernel_6x16 and depthwise_conv.
template <class T>
STRATA_INLINE T clamp(T v, T lo, T hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

template <class T>
bool clamps(T lo, T hi) {
  return lo > -std::numeric_limits<T>::infinity() || hi < std::numeric_limits<T>::infinity();
}

// The packed or gathered input of a work item, per thread (dense_forward.hpp shares it).
template <class T>
struct scratch_owner {};
template <class T>
T* thread_scratch(std::int64_t values) {
  return cpu::thread_scratch<T, scratch_owner<T>>(values);
}

// The work items of the gemm<T> route: each image cut into row chunks × column chunks of about
// `target` multiply-adds, from the geometry alone. Every item is one single-threaded gemm, so
// the result does not depend on the thread count (OpenBLAS's threaded driver cuts the depth
// differently from its serial one: not the same bits).
struct gemm_tiles {
  std::int64_t rows, cols, row_tiles, col_tiles;
  gemm_tiles(std::int64_t K, std::int64_t C, std::int64_t PQ) {
    constexpr std::int64_t target = std::int64_t{1} << 18, min_rows = 16, min_cols = 64;
    const std::int64_t want = std::max<std::int64_t>(1, K * std::max<std::int64_t>(C, 1) * PQ / target);
    col_tiles = std::clamp<std::int64_t>(want, 1, (PQ + min_cols - 1) / min_cols);
    cols = (PQ + col_tiles - 1) / col_tiles;
    cols = std::min(PQ, (cols + 15) / 16 * 16);
    col_tiles = (PQ + cols - 1) / cols;
    row_tiles = std::clamp<std::int64_t>((want + col_tiles - 1) / col_tiles, 1, (K + min_rows - 1) / min_rows);
    rows = (K + row_tiles - 1) / row_tiles;
    row_tiles = (K + rows - 1) / rows;
  }
  std::int64_t per_image() const { return row_tiles * col_tiles; }
};

#if defined(STRATA_PACKED_GEMM)
// Blocking (Zen 5 here: 48 KiB L1 and 1 MiB L2 per core; with EfficientNet-Lite0's 1×1 layers,
// blocks of 96–768 KiB and chunks of 48–504 rows all ran within the noise of this one):
// - a work item is one image's block of column panels, its packed input ≤ block_bytes so that it
//   stays in L2 next to a chunk of the weights (5 panels, 80 pixels, at C = 1152);
// - the depth is cut in slices of 256 as packed_gemm does (a pair of panel slices, 32 KiB, in L1);
// - the weights go past the block in chunks of chunk_rows rows × one slice (≤ 252 KiB, in L2),
//   each chunk once per panel, so they are read from beyond L2 once per block and slice.
inline constexpr std::int64_t block_bytes = std::int64_t{384} << 10;
inline constexpr std::int64_t slice = 256;
inline constexpr std::int64_t chunk_rows = 252;
inline constexpr std::int64_t prefetch_panels = 4;

// Panels [p0, p1) of image x ([C][H][W]) as [p1 − p0][C][16]: column j of panel p is output pixel
// i = p·16 + j, which reads x at (i / Q · sy, i % Q · sx); pixels past P·Q are 0.
inline void pack_panels(const conv_geometry& g, const float* x, std::int64_t p0, std::int64_t p1, float* bp) {
  using V = packed::vec;
  constexpr std::int64_t nr = packed_nr, L = simd::lanes_of<V>;
  static_assert(nr == 2 * L);
  const std::int64_t C = g.C, HW = g.H * g.W, Q = g.Q(), PQ = g.P() * Q, np = p1 - p0;
  if (g.stride_y == 1 && g.stride_x == 1) {  // pixels are contiguous: 16 at a time per channel
    // Panel by panel, each written contiguously: channel by channel instead, the writes (a
    // panel's size apart) fell into a few L1 sets and packing took 4 times as long. A panel reads
    // a line from each of C rows, more streams than the hardware prefetcher follows: the line
    // `prefetch_panels` panels ahead is asked for as each is read (from DRAM, at batch 32, the
    // packing ran up to 1.5 times as fast; no change with the input in cache).
    for (std::int64_t p = p0; p < p1; ++p) {
      const float* src = x + p * nr;
      float* dst = bp + (p - p0) * C * nr;
      if (const std::int64_t n = PQ - p * nr; n >= nr) {
        if ((p + prefetch_panels + 1) * nr <= PQ) {
          for (std::int64_t c = 0; c < C; ++c, src += HW, dst += nr) {
            __builtin_prefetch(src + prefetch_panels * nr, 0, 3);
            simd::store(dst, simd::load<V>(src));
            simd::store(dst + L, simd::load<V>(src + L));
          }
        } else {
          for (std::int64_t c = 0; c < C; ++c, src += HW, dst += nr) {
            simd::store(dst, simd::load<V>(src));
            simd::store(dst + L, simd::load<V>(src + L));
          }
        }
      } else {  // the last, partial panel: zeros past the image
        for (std::int64_t c = 0; c < C; ++c, src += HW, dst += nr) {
          simd::store(dst, simd::load_first<V>(src, int(std::min(n, L))));
          simd::store(dst + L, simd::load_first<V>(src + L, int(std::max<std::int64_t>(n - L, 0))));
        }
      }
    }
    return;
  }
  // A stride samples the input: where each of the block's columns reads in a channel plane, then
  // the same gather for every channel, straight into the panels.
  std::int64_t off[nr];
  for (std::int64_t p = 0; p < np; ++p) {
    const std::int64_t first = (p0 + p) * nr, n = std::min(nr, PQ - first);
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t i = first + j;
      off[j] = i / Q * g.stride_y * g.W + i % Q * g.stride_x;
    }
    float* panel = bp + p * C * nr;
    for (std::int64_t c = 0; c < C; ++c) {
      const float* src = x + c * HW;
      float* dst = panel + c * nr;
      for (std::int64_t j = 0; j < n; ++j) dst[j] = src[off[j]];
      for (std::int64_t j = n; j < nr; ++j) dst[j] = 0.0f;
    }
  }
}

// y columns of panels [p0, p1) of one image (y: [K][P·Q]) = clamp(W · x + b, lo, hi), the input
// panels packed into bp first.
inline void forward_block(const conv_geometry& g, const float* x, std::int64_t p0, std::int64_t p1, const float* Ap,
                          const float* b, float lo, float hi, float* y, float* bp) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  const std::int64_t K = g.K, C = g.C, PQ = g.P() * g.Q(), row_blocks = (K + packed_mr - 1) / packed_mr;
  constexpr std::int64_t chunk_blocks = chunk_rows / packed_mr;
  pack_panels(g, x, p0, p1, bp);
  const std::int64_t step = packed_kernel_512_available ? 2 : 1;  // panels per micro-kernel call
  for (std::int64_t k0 = 0; k0 < C; k0 += slice) {
    const std::int64_t kl = std::min(slice, C - k0);
    const bool first = k0 == 0, last = k0 + kl == C;
    const float slo = last ? lo : -inf, shi = last ? hi : inf;
    for (std::int64_t rb0 = 0; rb0 < row_blocks; rb0 += chunk_blocks) {
      const std::int64_t rb1 = std::min(row_blocks, rb0 + chunk_blocks);
      for (std::int64_t p = p0; p < p1; p += step) {
        const float* panel = bp + (p - p0) * C * packed_nr + k0 * packed_nr;
        const std::int64_t cols = std::min(step * packed_nr, PQ - p * packed_nr);
        for (std::int64_t rb = rb0; rb < rb1; ++rb) {
          const std::int64_t r = rb * packed_mr;
          const float* a = Ap + r * C + k0 * packed_mr;
          float* out = y + r * PQ + p * packed_nr;
          const std::int64_t rows = std::min(packed_mr, K - r);
          const float* bias = (first && b) ? b + r : nullptr;
#if defined(__AVX512F__)
          if (p + 1 < p1)
            packed_kernel_6x16n_512<2>(kl, a, panel, C * packed_nr, out, PQ, rows, cols, !first, bias, slo, shi);
          else
            packed_kernel_6x16n_512<1>(kl, a, panel, C * packed_nr, out, PQ, rows, cols, !first, bias, slo, shi);
#else
          packed_kernel_6x16(kl, a, panel, out, PQ, rows, cols, !first, bias, slo, shi);
#endif
        }
      }
    }
  }
}
#endif

}  // namespace pointwise

// Floats needed for K×C weights packed for pointwise_conv_forward.
template <class T>
std::int64_t pointwise_packed_size(std::int64_t K, std::int64_t C) {
  if constexpr (pointwise::uses_packed_gemm<T>) return packed_rows(K) * C;
  else return K * C;
}

// Packs W [K, C] row-major once (at plan time) into `packed` (pointwise_packed_size elements):
// packed_gemm's row blocks [⌈K/6⌉][C][6] (rows past K zero) for fp32 with the micro-kernel,
// else W as it is.
template <class T>
void pack_pointwise_weights(std::int64_t K, std::int64_t C, const T* w, T* packed) {
  if constexpr (pointwise::uses_packed_gemm<T>) pack_a(K, C, w, C, packed);
  else std::copy(w, w + K * C, packed);
}

// y_n = clamp(W · x_n + b, lo, hi) for each of the N images of a 1×1 convolution with geometry g
// (R = S = 1, pad 0, groups 1, any stride: a stride samples the input), weights as packed above,
// b may be null (no bias), lo/hi may be ±infinity (no clamp). x: [N, C, H, W], y: [N, K, P, Q].
// The clamp is v < lo ? lo : (v > hi ? hi : v): a NaN (from a NaN or ∞ − ∞ in the input, weights
// or bias) stays NaN, as with ReLU and ReLU6, and a NaN bound clamps nothing on its side. Results
// do not depend on the thread count.
template <class T>
void pointwise_conv_forward(const conv_geometry& g, std::int64_t N, const T* x, const T* packed_w, const T* b, T lo,
                            T hi, T* y) {
  const std::int64_t K = g.K, C = g.C, PQ = g.P() * g.Q();
  if (N <= 0 || K <= 0 || PQ <= 0) return;
  if (C == 0) {  // no inputs: the bias alone
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t k = 0; k < K; ++k)
        std::fill(y + (n * K + k) * PQ, y + (n * K + k + 1) * PQ, pointwise::clamp(b ? b[k] : T(0), lo, hi));
    return;
  }
#if defined(STRATA_PACKED_GEMM)
  if constexpr (pointwise::uses_packed_gemm<T>) {
    const std::int64_t panels = (PQ + packed_nr - 1) / packed_nr;
    const std::int64_t max_panels = std::clamp<std::int64_t>(
        pointwise::block_bytes / (C * packed_nr * std::int64_t(sizeof(float))), 1, panels);
    // Blocks per image: as few as the L2 allows, but a multiple of the thread count for a small
    // batch, so that batch 1 keeps every thread busy and the threads' shares are even.
    const std::int64_t threads = num_threads();
    std::int64_t blocks = (panels + max_panels - 1) / max_panels;
    if (N % threads != 0) blocks = std::min(panels, (blocks + threads - 1) / threads * threads);
    const std::int64_t items = N * blocks;
    const std::int64_t macs_per_item = K * C * (panels / blocks) * packed_nr;
    const std::int64_t serial_below = std::max<std::int64_t>(1, 16 * parallel_threshold() / std::max<std::int64_t>(1, macs_per_item));
    // Even shares of the panels, starting at even panels where the 512-bit kernel takes them in
    // pairs (a block of odd length ends in a single panel: six accumulators, not twelve).
    const std::int64_t step = packed_kernel_512_available && panels >= 4 * blocks ? 2 : 1;
    const auto start = [&](std::int64_t blk) { return blk == blocks ? panels : blk * panels / blocks / step * step; };
    parallel_ranges(items, [&](std::int64_t begin, std::int64_t end) {
      float* bp = pointwise::thread_scratch<float>((panels / blocks + 2) * C * packed_nr);
      for (std::int64_t item = begin; item < end; ++item) {
        const std::int64_t n = item / blocks, blk = item % blocks, p0 = start(blk), p1 = start(blk + 1);
        pointwise::forward_block(g, x + n * g.input_elements(), p0, p1, packed_w, b, lo, hi, y + n * K * PQ, bp);
      }
    }, 1, serial_below);
    return;
  }
#endif
  // gemm<T> (β = 0) per tile, then the bias and clamp while the tile is in cache.
  const bool strided = g.stride_y != 1 || g.stride_x != 1, clamped = pointwise::clamps(lo, hi);
  const pointwise::gemm_tiles t(K, C, PQ);
  const std::int64_t Q = g.Q();
  const blas_on_calling_threads blas_guard(true);
  parallel_ranges(N * t.per_image(), [&](std::int64_t begin, std::int64_t end) {
    T* gathered = strided ? pointwise::thread_scratch<T>(C * t.cols) : nullptr;
    for (std::int64_t item = begin; item < end; ++item) {
      const std::int64_t n = item / t.per_image(), rt = item % t.per_image() / t.col_tiles, ct = item % t.col_tiles;
      const std::int64_t r0 = rt * t.rows, rows = std::min(t.rows, K - r0), j0 = ct * t.cols, cols = std::min(t.cols, PQ - j0);
      const T* xn = x + n * g.input_elements();
      T* yt = y + (n * K + r0) * PQ + j0;
      if (strided) {  // the tile's sampled pixels, [C][cols]
        for (std::int64_t c = 0; c < C; ++c)
          for (std::int64_t j = 0; j < cols; ++j) {
            const std::int64_t i = j0 + j;
            gathered[c * cols + j] = xn[(c * g.H + i / Q * g.stride_y) * g.W + i % Q * g.stride_x];
          }
        gemm<T>(false, false, rows, cols, C, T(1), packed_w + r0 * C, C, gathered, cols, T(0), yt, PQ);
      } else {
        gemm<T>(false, false, rows, cols, C, T(1), packed_w + r0 * C, C, xn + j0, PQ, T(0), yt, PQ);
      }
      if (!b && !clamped) continue;
      const T l = lo, h = hi;  // values, not the captured references a store through y could alias
      for (std::int64_t k = 0; k < rows; ++k) {
        const T add = b ? b[r0 + k] : T(0);
        T* row = yt + k * PQ;
        for (std::int64_t j = 0; j < cols; ++j) row[j] = pointwise::clamp(row[j] + add, l, h);
      }
    }
  }, 1, 1);
}

}  // namespace strata::kernels::cpu

namespace strata::kernels {

template <class T>
  requires std::is_same_v<T, float> || std::is_same_v<T, double>
struct op_kernel<op::pointwise_conv2d, strata::cpu, T> {
  static std::int64_t packed_size(std::int64_t K, std::int64_t C) { return cpu::pointwise_packed_size<T>(K, C); }
  static void pack(std::int64_t K, std::int64_t C, const T* w, T* packed) { cpu::pack_pointwise_weights<T>(K, C, w, packed); }
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, T lo, T hi) {
    cpu::pointwise_conv_forward<T>(g, n, x, w, b, lo, hi, y);
  }
};

}  // namespace strata::kernels
