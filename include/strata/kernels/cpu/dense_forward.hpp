// strata/kernels/cpu/dense_forward.hpp — the inference forward pass of a dense layer with its
// epilogue fused: y = clamp(x·Wᵀ + b, lo, hi) for a batch of N rows, the weights packed once at
// plan time (batch norm already folded into W and the bias).
//
// Why: through OpenBLAS the layer was a GEMM that packs all of W again on every call, then a bias
// + clamp pass over y. Here, on fp32 with packed_gemm, W is packed once as packed_gemm's right
// operand (column panels: one panel holds 16 outputs), each thread packs x into row blocks of 6
// samples and runs the micro-kernel (6×16; 6×32 with 512-bit vectors where the target has
// AVX-512) over its own share of the panels, with the bias written into the output tile before the
// first depth slice and the clamp on the last slice's store. Double and targets without the
// micro-kernel run gemm<T> (β = 0) on tiles of y and a bias + clamp pass over each tile while it is
// in cache.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "strata/config.hpp"
#include "strata/core/device_tags.hpp"
#include "strata/core/parallel.hpp"
#include "strata/kernels/cpu/gemm.hpp"
#include "strata/kernels/cpu/packed_gemm.hpp"
#include "strata/kernels/cpu/pointwise_conv.hpp"  // pointwise::clamp, clamps, thread_scratch, gemm_tiles
#include "strata/kernels/cpu/simd.hpp"
#include "strata/kernels/op_kernel.hpp"

namespace strata::kernels::cpu {

namespace dense {

// fp32 on a target with the packed micro-kernel: weights in packed_gemm's column panels; else a
// plain copy.
template <class T>
inline constexpr bool uses_packed_gemm = std::is_same_v<T, float> && packed_gemm_available;

#if defined(STRATA_PACKED_GEMM)
// Blocking (Zen 5 here: 48 KiB L1 and 1 MiB L2 per core):
// - the depth is cut in slices of 128 for a pair of panels, 256 for one (16 KiB of W either way):
//   the weights' slice and the slices of six row blocks of x stay in L1 together (for the 512-bit
//   kernel's pairs, slices of 256, as packed_gemm has, ran 5–10% slower at a batch of 32, 3136 →
//   1024, and 64, 25% slower; for the 6×16 kernel 256 ran up to 15% faster than 128 at 1280 → 1000);
// - x is packed in chunks of ≤ chunk_bytes (all of a batch of 32 at C = 3136: 441 KiB), which
//   stay in L2 while the thread's panels of W stream past them once per chunk.
inline constexpr std::int64_t slice = packed_kernel_512_available ? 128 : 256;
inline constexpr std::int64_t chunk_bytes = std::int64_t{512} << 10;

// Rows [0, rows) of x ([rows][C]) as packed_gemm's row blocks [⌈rows/6⌉][C][6], rows past `rows`
// zero: pack_a's layout, eight columns of a block at a time as a 6×8 transpose in registers (at a
// batch of 16 and C = 1280 the scalar loop took a third of the layer's time).
inline void pack_rows(std::int64_t rows, std::int64_t C, const float* x, float* xp) {
  for (std::int64_t r0 = 0; r0 < rows; r0 += packed_mr) {
    const std::int64_t n = std::min(packed_mr, rows - r0);
    float* dst = xp + r0 * C;
    const float* src = x + r0 * C;
    const auto row = [&](std::int64_t r, std::int64_t c) {
      return r < n ? _mm256_loadu_ps(src + r * C + c) : _mm256_setzero_ps();
    };
    std::int64_t c = 0;
    for (; c + 8 <= C; c += 8, dst += 8 * packed_mr) {
      // Rows interleaved in pairs: in 64-bit units, t01 = (c0, c1 | c4, c5) of rows 0 and 1 and
      // u01 = (c2, c3 | c6, c7), and so for rows 2, 3 and 4, 5. A column's six values are then
      // three units, one of each pair, gathered two at a time per 128-bit half.
      const __m256 x0 = row(0, c), x1 = row(1, c), x2 = row(2, c), x3 = row(3, c), x4 = row(4, c), x5 = row(5, c);
      const __m256d t01 = _mm256_castps_pd(_mm256_unpacklo_ps(x0, x1)), u01 = _mm256_castps_pd(_mm256_unpackhi_ps(x0, x1));
      const __m256d t23 = _mm256_castps_pd(_mm256_unpacklo_ps(x2, x3)), u23 = _mm256_castps_pd(_mm256_unpackhi_ps(x2, x3));
      const __m256d t45 = _mm256_castps_pd(_mm256_unpacklo_ps(x4, x5)), u45 = _mm256_castps_pd(_mm256_unpackhi_ps(x4, x5));
      const __m256d a = _mm256_unpacklo_pd(t01, t23);     // (c0: rows 0–3 | c4: rows 0–3)
      const __m256d b = _mm256_shuffle_pd(t45, t01, 0xa);  // (c0: rows 4, 5; c1: rows 0, 1 | c4 …, c5 …)
      const __m256d d = _mm256_unpackhi_pd(t23, t45);     // (c1: rows 2–5 | c5: rows 2–5)
      const __m256d e = _mm256_unpacklo_pd(u01, u23);     // the same for c2, c3 | c6, c7
      const __m256d f = _mm256_shuffle_pd(u45, u01, 0xa);
      const __m256d g = _mm256_unpackhi_pd(u23, u45);
      _mm256_storeu_pd(reinterpret_cast<double*>(dst), _mm256_permute2f128_pd(a, b, 0x20));  // c0, c1
      _mm256_storeu_pd(reinterpret_cast<double*>(dst + 8), _mm256_permute2f128_pd(d, e, 0x20));
      _mm256_storeu_pd(reinterpret_cast<double*>(dst + 16), _mm256_permute2f128_pd(f, g, 0x20));  // c2, c3
      _mm256_storeu_pd(reinterpret_cast<double*>(dst + 24), _mm256_permute2f128_pd(a, b, 0x31));  // c4, c5
      _mm256_storeu_pd(reinterpret_cast<double*>(dst + 32), _mm256_permute2f128_pd(d, e, 0x31));
      _mm256_storeu_pd(reinterpret_cast<double*>(dst + 40), _mm256_permute2f128_pd(f, g, 0x31));  // c6, c7
    }
    for (; c < C; ++c, dst += packed_mr)
      for (std::int64_t r = 0; r < packed_mr; ++r) dst[r] = r < n ? src[r * C + c] : 0.0f;
  }
}

// y[r][p·16 …] for r < rows and the panels [p0, p1) = clamp(xp · W + b, lo, hi): xp the packed
// rows, Wp the packed weights, y with leading dimension K. With a bias, the output tile is first
// set to it and every slice accumulates (the bias in the first sum, as packed_gemm has it).
inline void forward_panels(std::int64_t rows, std::int64_t C, std::int64_t K, const float* xp, const float* Wp,
                           const float* b, float lo, float hi, float* y, std::int64_t p0, std::int64_t p1) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  const std::int64_t step = packed_kernel_512_available ? 2 : 1;  // panels per micro-kernel call
  const std::int64_t row_blocks = (rows + packed_mr - 1) / packed_mr;
  for (std::int64_t p = p0; p < p1; p += step) {
    const std::int64_t cols = std::min(step * packed_nr, K - p * packed_nr);
    float* tile = y + p * packed_nr;
    if (b)
      for (std::int64_t r = 0; r < rows; ++r) std::copy(b + p * packed_nr, b + p * packed_nr + cols, tile + r * K);
    for (std::int64_t k0 = 0; k0 < C; k0 += slice) {
      const std::int64_t kl = std::min(slice, C - k0);
      const bool accumulate = k0 > 0 || b, last = k0 + kl == C;
      const float slo = last ? lo : -inf, shi = last ? hi : inf;
      const float* panel = Wp + p * C * packed_nr + k0 * packed_nr;
      // The weights come from beyond L2 once each, and the first row block of a slice would wait
      // for them: the next slice of these panels (or the first of the next ones) is asked for in
      // parts, one before each row block, so that it arrives while this one is multiplied. With a
      // single row block there is nothing to overlap (the hardware prefetcher's streams did better).
      const std::int64_t np = last ? p + step : p, nk = last ? 0 : k0 + kl;
      const std::int64_t npanels = std::min(step, p1 - np), nkl = std::min(slice, C - nk);
      const std::int64_t lines = nkl * packed_nr * std::int64_t(sizeof(float)) / 64;  // per panel
      for (std::int64_t rb = 0; rb < row_blocks; ++rb) {
        if (npanels > 0 && row_blocks > 1) {
          const std::int64_t l0 = lines * rb / row_blocks, l1 = lines * (rb + 1) / row_blocks;
          for (std::int64_t q = 0; q < npanels; ++q) {
            const char* next = reinterpret_cast<const char*>(Wp + ((np + q) * C + nk) * packed_nr);
            for (std::int64_t l = l0; l < l1; ++l) __builtin_prefetch(next + l * 64, 0, 2);
          }
        }
        const std::int64_t r = rb * packed_mr;
        const float* a = xp + r * C + k0 * packed_mr;
        float* out = tile + r * K;
        const std::int64_t n = std::min(packed_mr, rows - r);
#if defined(__AVX512F__)
        if (p + 1 < p1)
          packed_kernel_6x16n_512<2>(kl, a, panel, C * packed_nr, out, K, n, cols, accumulate, nullptr, slo, shi);
        else
          packed_kernel_6x16n_512<1>(kl, a, panel, C * packed_nr, out, K, n, cols, accumulate, nullptr, slo, shi);
#else
        packed_kernel_6x16(kl, a, panel, out, K, n, cols, accumulate, nullptr, slo, shi);
#endif
      }
    }
  }
}
#endif

}  // namespace dense

// Elements of K×C dense weights (W [K, C] row-major) packed for dense_forward.
template <class T>
std::int64_t dense_packed_size(std::int64_t K, std::int64_t C) {
  if constexpr (dense::uses_packed_gemm<T>) return (K + packed_nr - 1) / packed_nr * packed_nr * C;
  else return K * C;
}

// Packs W [K, C] row-major once (at plan time) into `packed` (dense_packed_size elements): for fp32
// with the micro-kernel, packed_gemm's column panels [⌈K/16⌉][C][16] (column j of panel p is W's
// row p·16 + j; columns past K zero), else W as it is.
template <class T>
void pack_dense_weights(std::int64_t K, std::int64_t C, const T* w, T* packed) {
  if constexpr (dense::uses_packed_gemm<T>) {
    const std::int64_t panels = (K + packed_nr - 1) / packed_nr;
    for (std::int64_t p = 0; p < panels; ++p)
      for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t j = 0; j < packed_nr; ++j) {
          const std::int64_t k = p * packed_nr + j;
          packed[(p * C + c) * packed_nr + j] = k < K ? w[k * C + c] : T(0);
        }
  } else {
    std::copy(w, w + K * C, packed);
  }
}

// y[n][k] = clamp(Σ_c x[n][c]·W[k][c] + b[k], lo, hi) for N rows; b may be null, lo/hi ±infinity (none).
// x: [N, C], y: [N, K], W packed by pack_dense_weights. The clamp is v < lo ? lo : (v > hi ? hi :
// v): a NaN (from a NaN or ∞ − ∞ in the input, weights or bias) stays NaN, as with ReLU and ReLU6,
// and a NaN bound clamps nothing on its side. Results do not depend on the thread count.
template <class T>
void dense_forward(std::int64_t N, std::int64_t C, std::int64_t K, const T* x, const T* packed_w, const T* b, T lo, T hi,
                   T* y) {
  if (N <= 0 || K <= 0) return;
  if (C == 0) {  // no inputs: the bias alone
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t k = 0; k < K; ++k) y[n * K + k] = pointwise::clamp(b ? b[k] : T(0), lo, hi);
    return;
  }
#if defined(STRATA_PACKED_GEMM)
  if constexpr (dense::uses_packed_gemm<T>) {
    // Work items: runs of `step` panels (pairs for the 512-bit kernel), split over the threads;
    // each thread packs x itself (a batch of 32 at C = 3136 in about 8 µs, against some 400 µs for
    // a thread's half of the 1024 outputs), so that its copy is in its own L2 and no thread waits
    // for another.
    const std::int64_t step = packed_kernel_512_available ? 2 : 1;
    const std::int64_t panels = (K + packed_nr - 1) / packed_nr, items = (panels + step - 1) / step;
    const std::int64_t chunk = std::clamp<std::int64_t>(
        dense::chunk_bytes / (C * std::int64_t(sizeof(float))) / packed_mr * packed_mr, packed_mr, packed_rows(N));
    const std::int64_t macs_per_item = N * C * step * packed_nr;
    const std::int64_t serial_below = std::max<std::int64_t>(1, 16 * parallel_threshold() / macs_per_item);
    parallel_ranges(items, [&](std::int64_t begin, std::int64_t end) {
      float* xp = pointwise::thread_scratch<float>(chunk * C);
      const std::int64_t p0 = begin * step, p1 = std::min(panels, end * step);
      for (std::int64_t n0 = 0; n0 < N; n0 += chunk) {
        const std::int64_t rows = std::min(chunk, N - n0);
        dense::pack_rows(rows, C, x + n0 * C, xp);
        dense::forward_panels(rows, C, K, xp, packed_w, b, lo, hi, y + n0 * K, p0, p1);
      }
    }, 1, serial_below);
    return;
  }
#endif
  // gemm<T> (β = 0) per tile of y, then the bias and clamp while the tile is in cache.
  const bool clamped = pointwise::clamps(lo, hi);
  const pointwise::gemm_tiles t(N, C, K);  // rows: samples, columns: outputs
  // Each tile a single-threaded GEMM, also when one tile runs on a team of one thread (the guard
  // pins gemm<T> to the calling thread): the bits do not depend on the thread count.
  const blas_on_calling_threads blas_guard(true);
  parallel_ranges(t.per_image(), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t item = begin; item < end; ++item) {
      const std::int64_t rt = item / t.col_tiles, ct = item % t.col_tiles;
      const std::int64_t n0 = rt * t.rows, rows = std::min(t.rows, N - n0), k0 = ct * t.cols, cols = std::min(t.cols, K - k0);
      T* yt = y + n0 * K + k0;
      gemm<T>(false, true, rows, cols, C, T(1), x + n0 * C, C, packed_w + k0 * C, C, T(0), yt, K);
      if (!b && !clamped) continue;
      const T l = lo, h = hi;  // values, not the captured references a store through y could alias
      for (std::int64_t n = 0; n < rows; ++n) {
        T* row = yt + n * K;
        if (b)
          for (std::int64_t k = 0; k < cols; ++k) row[k] = pointwise::clamp(row[k] + b[k0 + k], l, h);
        else
          for (std::int64_t k = 0; k < cols; ++k) row[k] = pointwise::clamp(row[k], l, h);
      }
    }
  }, 1, 1);
}

}  // namespace strata::kernels::cpu

namespace strata::kernels {

template <class T>
  requires std::is_same_v<T, float> || std::is_same_v<T, double>
struct op_kernel<op::dense_forward, strata::cpu, T> {
  static std::int64_t packed_size(std::int64_t K, std::int64_t C) { return cpu::dense_packed_size<T>(K, C); }
  static void pack(std::int64_t K, std::int64_t C, const T* w, T* packed) { cpu::pack_dense_weights<T>(K, C, w, packed); }
  static void forward(std::int64_t N, std::int64_t C, std::int64_t K, const T* x, const T* packed_w, const T* b, T* y, T lo,
                      T hi) {
    cpu::dense_forward<T>(N, C, K, x, packed_w, b, lo, hi, y);
  }
};

}  // namespace strata::kernels
