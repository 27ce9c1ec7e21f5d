// strata/kernels/cpu/winograd.hpp — Winograd convolution F(m×m, 3×3) for m = 2 and m = 4 (Lavin &
// Gray 2015): 3×3 stride-1 convolutions with (m+2)² instead of 9·m² multiplications per m×m output
// tile; forward, backward data and backward filter, fp32 and fp64, NCHW, zero padding 0–2.
//
// How a pass runs. The output is cut into m×m tiles; tile t reads an α×α input patch (α = m + 2,
// neighbouring patches overlap by 2). For a block of tiles (of any images of the batch):
//   V(ξ)[c][t] = (Bᵀ d_{c,t} B)(ξ)           input transform, α² values per channel and tile
//   M(ξ)[k][t] = Σ_c U(ξ)[k][c] · V(ξ)[c][t]  α² independent GEMMs, U(ξ) = (G g_{k,c} Gᵀ)(ξ)
//   y_{k,t}    = Aᵀ M_{k,t} A                 output transform, cropped at the borders
// so all the multiplications that scale with C·K are in the GEMMs (gemm<T>, i.e. OpenBLAS or
// Eigen), and the transforms only cost O((C + K)·tiles). The filter transform U is cached in the
// caller's filter_cache and recomputed only when the weights version changes.
//
// Where the time goes (fp32, 2 cores): the GEMMs, ~70% (α² GEMMs of K×C×~128–512 per block, at the
// 40–60 GFLOP/s per core OpenBLAS reaches on such small shapes); the transforms, the rest. To keep
// the transforms cheap the tiles are the SIMD lanes (8 tiles per AVX register, 4×4 shuffles to
// gather patch rows and scatter output rows), every patch is read from a zero-padded copy of the
// block's input rows (no border branches), and a block's V and M (α² matrices each) stay in cache
// between the three steps. Threads take blocks of whole tile rows from a shared counter, each with
// its own workspace and single-threaded GEMMs (measured: as fast as OpenBLAS's own threading on
// large blocks, and the transforms run in parallel too).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "strata/core/config.hpp"
#include "strata/core/parallel.hpp"
#include "strata/core/tensor.hpp"
#include "strata/kernels/cpu/conv_geometry.hpp"
#include "strata/kernels/cpu/filter_cache.hpp"
#include "strata/kernels/cpu/gemm.hpp"
#include "strata/kernels/cpu/packed_gemm.hpp"

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace strata::kernels::cpu {

// ---------------------------------------------------------------------------------------------
// The transform matrices, written out as the 1-D maps they apply (multiplications by constants
// only; spelled out by hand because a compiler may not drop x·0 terms under IEEE rules). Each
// map is a template on the value type V (constants of type S) so the same code runs on SIMD
// vectors of tiles, on doubles for the filters and on the counting type of the test.
template <int M>
struct winograd_transforms;

// F(2, 3): interpolation points 0, 1, −1 and ∞; every entry is 0, ±1 or ±½, so the transforms
// add almost no rounding of their own (fp32: 2.6e-7 relative, the level of the GEMM's sums).
template <>
struct winograd_transforms<2> {
  static constexpr int m = 2, alpha = 4;
  template <class V, class S = V>
  STRATA_INLINE static void input(const V* d, V* o) {  // o = Bᵀ d
    o[0] = d[0] - d[2];
    o[1] = d[1] + d[2];
    o[2] = d[2] - d[1];
    o[3] = d[1] - d[3];
  }
  template <class V, class S = V>
  STRATA_INLINE static void filter(const V* g, V* o) {  // o = G g
    o[0] = g[0];
    o[1] = (g[0] + g[1] + g[2]) * S(0.5);
    o[2] = (g[0] - g[1] + g[2]) * S(0.5);
    o[3] = g[2];
  }
  template <class V, class S = V>
  STRATA_INLINE static void output(const V* x, V* o) {  // o = Aᵀ x
    o[0] = x[0] + x[1] + x[2];
    o[1] = x[1] - x[2] - x[3];
  }
  template <class V, class S = V>
  STRATA_INLINE static void output_adjoint(const V* y, V* o) {  // o = A y (backward filter: dL/dM = A dY Aᵀ)
    o[0] = y[0];
    o[1] = y[0] + y[1];
    o[2] = y[0] - y[1];
    o[3] = -y[1];
  }
  template <class V, class S = V>
  STRATA_INLINE static void filter_adjoint(const V* u, V* o) {  // o = Gᵀ u (backward filter: dg = Gᵀ dU G)
    o[0] = u[0] + (u[1] + u[2]) * S(0.5);
    o[1] = (u[1] - u[2]) * S(0.5);
    o[2] = (u[1] + u[2]) * S(0.5) + u[3];
  }
};

// F(4, 3): Lavin & Gray's matrices, interpolation points 0, ±1, ±2 and ∞. Why these points: the
// fp error of Winograd grows with the magnitude of the transform entries (Aᵀ holds powers of the
// points up to p³, G divides by products of point differences, Bᵀ holds the polynomial's
// coefficients), and α = 6 needs five finite points. {0, ±1, ±2} keeps every entry of Aᵀ and Bᵀ
// an exact small integer (≤ 8) and G's divisors at 24; the ± pairs make the transforms share
// sums and differences (fewest operations). Measured in fp32 (C = 128, relative to fp64 direct):
// {0, ±1, ±2} 2.4e-6, {0, ±1, ±½} 2.4e-6, {0, ±1, ½, −2} 1.6e-6, {0, ±1, ±3} 6.9e-6. The mixed set
// would gain 1.5× in accuracy but loses the pair symmetry, and 2.4e-6 is far inside the 1e-4
// budget, so we keep the paper's. G's 1/6, 1/12 and 1/24 are not binary fractions: the filter
// transform runs in double and rounds once.
template <>
struct winograd_transforms<4> {
  static constexpr int m = 4, alpha = 6;
  template <class V, class S = V>
  STRATA_INLINE static void input(const V* d, V* o) {  // o = Bᵀ d
    const V t1 = d[4] - S(4) * d[2], t2 = d[3] - S(4) * d[1];
    const V t3 = d[4] - d[2], t4 = S(2) * (d[3] - d[1]);
    o[0] = S(4) * d[0] - S(5) * d[2] + d[4];
    o[1] = t1 + t2;
    o[2] = t1 - t2;
    o[3] = t3 + t4;
    o[4] = t3 - t4;
    o[5] = S(4) * d[1] - S(5) * d[3] + d[5];
  }
  template <class V, class S = V>
  STRATA_INLINE static void filter(const V* g, V* o) {  // o = G g
    o[0] = g[0] * S(0.25);
    o[1] = -(g[0] + g[1] + g[2]) / S(6);
    o[2] = -(g[0] - g[1] + g[2]) / S(6);
    o[3] = g[0] / S(24) + g[1] / S(12) + g[2] / S(6);
    o[4] = g[0] / S(24) - g[1] / S(12) + g[2] / S(6);
    o[5] = g[2];
  }
  template <class V, class S = V>
  STRATA_INLINE static void output(const V* x, V* o) {  // o = Aᵀ x
    const V s12 = x[1] + x[2], d12 = x[1] - x[2], s34 = x[3] + x[4], d34 = x[3] - x[4];
    o[0] = x[0] + s12 + s34;
    o[1] = d12 + S(2) * d34;
    o[2] = s12 + S(4) * s34;
    o[3] = d12 + S(8) * d34 + x[5];
  }
  template <class V, class S = V>
  STRATA_INLINE static void output_adjoint(const V* y, V* o) {  // o = A y
    const V e = y[0] + y[2], f = y[1] + y[3], e4 = y[0] + S(4) * y[2], f4 = S(2) * y[1] + S(8) * y[3];
    o[0] = y[0];
    o[1] = e + f;
    o[2] = e - f;
    o[3] = e4 + f4;
    o[4] = e4 - f4;
    o[5] = y[3];
  }
  template <class V, class S = V>
  STRATA_INLINE static void filter_adjoint(const V* u, V* o) {  // o = Gᵀ u
    const V s12 = u[1] + u[2], s34 = u[3] + u[4];
    o[0] = u[0] * S(0.25) - s12 / S(6) + s34 / S(24);
    o[1] = (u[2] - u[1]) / S(6) + (u[3] - u[4]) / S(12);
    o[2] = (s34 - s12) / S(6) + u[5];
  }
};

// Element-wise multiplications per m×m output tile (per input/output channel pair): α². Direct
// convolution needs 9·m² (2.25× more for m = 2, 4× for m = 4).
template <int M>
constexpr std::int64_t winograd_multiplications_per_tile() {
  return std::int64_t{M + 2} * (M + 2);
}

// One tile by the definition: y (m×m) = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A for an α×α patch d and a 3×3
// filter g, row-major. The kernels below compute exactly this, batched; tests use it to count
// the multiplications (V may be any number-like type).
template <int M, class V>
void winograd_tile(const V* d, const V* g, V* y) {
  using Tr = winograd_transforms<M>;
  constexpr int A = Tr::alpha;
  V h[A * A], u[A * A], v[A * A], col[A], out[A];
  for (int r = 0; r < 3; ++r) Tr::filter(g + 3 * r, h + A * r);  // rows: g Gᵀ
  for (int j = 0; j < A; ++j) {                                   // columns: G (g Gᵀ)
    for (int r = 0; r < 3; ++r) col[r] = h[A * r + j];
    Tr::filter(col, out);
    for (int i = 0; i < A; ++i) u[A * i + j] = out[i];
  }
  for (int i = 0; i < A; ++i) Tr::input(d + A * i, h + A * i);
  for (int j = 0; j < A; ++j) {
    for (int i = 0; i < A; ++i) col[i] = h[A * i + j];
    Tr::input(col, out);
    for (int i = 0; i < A; ++i) v[A * i + j] = out[i];
  }
  for (int i = 0; i < A * A; ++i) v[i] = u[i] * v[i];  // the only data × filter products
  for (int i = 0; i < A; ++i) Tr::output(v + A * i, h + M * i);
  for (int j = 0; j < M; ++j) {
    for (int i = 0; i < A; ++i) col[i] = h[M * i + j];
    Tr::output(col, out);
    for (int i = 0; i < M; ++i) y[M * i + j] = out[i];
  }
}

template <int M>
bool winograd_supports(const conv_geometry& g) {
  // Backward data runs as a forward pass with padding 2 − pad, hence pad ≤ 2.
  return (M == 2 || M == 4) && g.R == 3 && g.S == 3 && g.stride_y == 1 && g.stride_x == 1 && g.pad_y >= 0 &&
         g.pad_x >= 0 && g.pad_y <= 2 && g.pad_x <= 2 && g.C > 0 && g.K > 0 && g.P() >= 1 && g.Q() >= 1;
}

namespace detail {

// The α-long loops around a transform are unrolled by hand: GCC -O2 does not fully unroll them
// by itself, and only unrolled do the α vectors of a transform live in registers.
#define STRATA_WINO_UNROLL STRATA_PRAGMA(GCC unroll 8)

// The sizes of one pass as a stride-1 3×3 convolution: C → K channels, H×W → P×Q.
struct wino_shape {
  std::int64_t C, K, H, W, P, Q, pad_y, pad_x;
  std::int64_t tiles_y, tiles_x, tiles;  // per image
  std::int64_t slab_width;               // a padded input row in the slab (see wino_block_info)
};

template <int M>
wino_shape wino_make_shape(std::int64_t C, std::int64_t K, std::int64_t H, std::int64_t W, std::int64_t pad_y,
                           std::int64_t pad_x) {
  wino_shape s{C, K, H, W, H + 2 * pad_y - 2, W + 2 * pad_x - 2, pad_y, pad_x, 0, 0, 0, 0};
  s.tiles_y = (s.P + M - 1) / M;
  s.tiles_x = (s.Q + M - 1) / M;
  s.tiles = s.tiles_y * s.tiles_x;
  // The tiles' α columns plus room for 8-wide loads past the last tile's patch.
  s.slab_width = s.tiles_x * M + 8;
  return s;
}

// Tiles are transformed in groups of this many, one tile per SIMD lane: a group's scratch rows
// are a few cache lines each and stay in L1.
inline constexpr std::int64_t wino_group = 32;
inline constexpr std::int64_t wino_scratch = 64 * wino_group;  // ≥ (α + α²)·G values for α ≤ 6

// Leading dimension for a block: whole groups plus a cache line, so rows do not share cache sets.
inline std::int64_t wino_ld(std::int64_t tiles) { return (tiles + wino_group - 1) / wino_group * wino_group + 16; }

// Distance between the α² matrices V(ξ) (or M(ξ)): skewed by a cache line, because a transform
// writes (or reads) all α² of them at once, and whenever channels·ld·sizeof(T) is a multiple of
// 4 KiB (often: 128 channels × 144) unskewed streams would all fall into one L1 set and alias.
inline std::int64_t wino_plane(std::int64_t channels, std::int64_t ld) { return channels * ld + 16; }

// Bytes of V and M per block and thread (see wino_block_tiles).
inline constexpr std::int64_t wino_block_bytes = std::int64_t{3} << 20;

// SIMD vectors of tiles: GCC/Clang vector types, 32 bytes where AVX is (the transposes below are
// written for 8 floats), 16 otherwise. Every transform is plain vector arithmetic on them. (Not
// `omp simd` over tiles: GCC lowers the per-lane α-arrays of such a loop into "simd arrays" before
// inlining the transform, and the loop then does not vectorise at all.)
template <class T>
struct wino_vec {
#if defined(__AVX__)
  static constexpr int bytes = 32;
#else
  static constexpr int bytes = 16;
#endif
  static constexpr int lanes = bytes / int(sizeof(T));
  typedef T type __attribute__((vector_size(bytes)));
  STRATA_INLINE static type load(const T* p) {
    type v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  STRATA_INLINE static void store(T* p, type v) { std::memcpy(p, &v, sizeof v); }
};

// The element-wise GEMMs M(ξ) = U(ξ)·V(ξ) in fp32 with AVX2 and FMA run on packed_gemm, over
// operands the transforms write already packed: U(ξ) as [K/6][C][6] (cached, zero rows up to a
// multiple of 6), V(ξ) as [tiles/16][C][16]. Through OpenBLAS the same GEMMs spent 26% of a
// forward pass outside its kernel (measured, layer 32×128×28²: packing U 8%, packing V 12%,
// zeroing M for β = 0 5.5%), all of which this layout makes unnecessary: 35 → 21 ms.
inline constexpr std::int64_t wino_mr = packed_mr, wino_nr = packed_nr;
template <class T>
inline constexpr bool wino_packed = std::is_same_v<T, float> && packed_gemm_available;

// Rows of U(ξ) in the cache: K rounded up to whole micro-kernel row blocks when packed.
template <class T>
std::int64_t wino_filter_rows(std::int64_t K) {
  return wino_packed<T> ? packed_rows(K) : K;
}

// A block is a run of whole tile rows (image-major over the batch). Per channel its input rows are
// copied into a zero-padded "slab" (one segment per image), so every α×α patch is read from
// there without bounds checks: border tiles cost what interior ones do. Per-tile arrays are
// padded to whole groups by repeating the last tile, so full vectors can always be gathered.
struct wino_block_info {
  struct segment {
    std::int64_t n, y0, rows, base;  // image, first input row (may be < 0), slab rows, slab offset
  };
  std::int64_t tiles = 0, slab_size = 0;
  std::vector<segment> segs;
  std::vector<std::int64_t> slab_off, out_off;  // patch in the slab; output tile in y (channel 0)
  std::vector<std::int32_t> rows, cols;         // output tile size after cropping at the borders

  template <int M>
  void fill(const wino_shape& s, std::int64_t row0, std::int64_t nrows) {
    tiles = nrows * s.tiles_x;
    const std::int64_t padded = (tiles + wino_group - 1) / wino_group * wino_group, Wp = s.slab_width;
    slab_off.resize(std::size_t(padded));
    out_off.resize(std::size_t(padded));
    rows.resize(std::size_t(padded));
    cols.resize(std::size_t(padded));
    segs.clear();
    slab_size = 0;
    std::int64_t t = 0;
    for (std::int64_t g = row0; g < row0 + nrows;) {
      const std::int64_t n = g / s.tiles_y, ty0 = g % s.tiles_y;
      const std::int64_t count = std::min(s.tiles_y - ty0, row0 + nrows - g);
      const segment seg{n, ty0 * M - s.pad_y, count * M + 2, slab_size};
      segs.push_back(seg);
      for (std::int64_t ty = ty0; ty < ty0 + count; ++ty)
        for (std::int64_t tx = 0; tx < s.tiles_x; ++tx, ++t) {
          const auto i = std::size_t(t);
          slab_off[i] = seg.base + (ty - ty0) * M * Wp + tx * M;
          out_off[i] = n * s.K * s.P * s.Q + ty * M * s.Q + tx * M;
          rows[i] = std::int32_t(std::min<std::int64_t>(M, s.P - ty * M));
          cols[i] = std::int32_t(std::min<std::int64_t>(M, s.Q - tx * M));
        }
      slab_size += seg.rows * Wp;
      g += count;
    }
    for (auto i = std::size_t(tiles); i < std::size_t(padded); ++i) {
      slab_off[i] = slab_off[i - 1];
      out_off[i] = out_off[i - 1];
      rows[i] = rows[i - 1];
      cols[i] = cols[i - 1];
    }
  }

  // Upper bound of slab_size for blocks of up to nrows tile rows.
  template <int M>
  static std::int64_t slab_capacity(const wino_shape& s, std::int64_t nrows) {
    return nrows * (M + 2) * s.slab_width;
  }
};

// Channel c of the block's input rows into the slab, whose padding was zeroed for this block.
// (Rows are short: an inline vector copy, not a memcpy call per row.)
template <class T>
void wino_fill_slab(const wino_shape& s, const T* x, std::int64_t c, const wino_block_info& bi, T* slab) {
  using vec = wino_vec<T>;
  constexpr int L = vec::lanes;
  for (const auto& seg : bi.segs) {
    const std::int64_t r0 = std::max<std::int64_t>(0, -seg.y0), r1 = std::min(seg.rows, s.H - seg.y0);
    const T* src = x + ((seg.n * s.C + c) * s.H + seg.y0) * s.W;
    for (std::int64_t r = r0; r < r1; ++r) {
      const T* in = src + r * s.W;
      T* out = slab + seg.base + r * s.slab_width + s.pad_x;
      std::int64_t q = 0;
      for (; q + L <= s.W; q += L) vec::store(out + q, vec::load(in + q));
      for (; q < s.W; ++q) out[q] = in[q];
    }
  }
}

#if defined(__AVX__)
// Four 4-float rows per 128-bit half → the 4 columns, lanes (tile 0..3 | tile 4..7).
STRATA_INLINE void wino_transpose4x2(__m256 r0, __m256 r1, __m256 r2, __m256 r3, __m256* k) {
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  k[0] = _mm256_shuffle_ps(t0, t2, 0x44);
  k[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
  k[2] = _mm256_shuffle_ps(t1, t3, 0x44);
  k[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
}
STRATA_INLINE __m256 wino_load_pair(const float* lo, const float* hi) {
  return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo)), _mm_loadu_ps(hi), 1);
}
#endif

// in[k] (k < α) = element k of one row of the patches of L tiles, p[l] pointing at lane l's row:
// a transposition, by 4×4 shuffles for fp32 with AVX, element by element through scratch `d`
// otherwise.
template <int M, class T>
STRATA_INLINE void wino_gather_row(const T* const* p, std::int64_t row_off, typename wino_vec<T>::type* in, T* d) {
  constexpr int A = M + 2, L = wino_vec<T>::lanes;
#if defined(__AVX__)
  if constexpr (std::is_same_v<T, float> && L == 8) {
    __m256 k[4];
    wino_transpose4x2(wino_load_pair(p[0] + row_off, p[4] + row_off), wino_load_pair(p[1] + row_off, p[5] + row_off),
                      wino_load_pair(p[2] + row_off, p[6] + row_off), wino_load_pair(p[3] + row_off, p[7] + row_off),
                      k);
    for (int j = 0; j < 4; ++j) in[j] = k[j];
    if constexpr (A > 4) {  // elements 4 and 5
      const std::int64_t o = row_off + 4;
      const __m256 r0 = wino_load_pair(p[0] + o, p[4] + o), r1 = wino_load_pair(p[1] + o, p[5] + o);
      const __m256 r2 = wino_load_pair(p[2] + o, p[6] + o), r3 = wino_load_pair(p[3] + o, p[7] + o);
      const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3);
      in[4] = _mm256_shuffle_ps(t0, t2, 0x44);
      in[5] = _mm256_shuffle_ps(t0, t2, 0xEE);
    }
    return;
  }
#endif
  for (int l = 0; l < L; ++l) {
    STRATA_WINO_UNROLL
    for (int k = 0; k < A; ++k) d[k * L + l] = p[l][row_off + k];
  }
  STRATA_WINO_UNROLL
  for (int k = 0; k < A; ++k) in[k] = wino_vec<T>::load(d + k * L);
}

// V[ξ][c][ld] for the tiles of a block: V = Bᵀ d B. Per channel: the slab; then per vector of
// tiles, each patch row is gathered across the lanes and transformed along the row, and the
// columns are transformed and written to V contiguously. Columns of V up to the block's tiles
// rounded up to a group are written (the padding lanes repeat the last tile).
template <int M, class T, bool Packed = false>
void wino_input_block(const wino_shape& s, const T* x, const wino_block_info& bi, T* V, std::int64_t ld, T* slab,
                      T* scratch) {
  using Tr = winograd_transforms<M>;
  using vec = wino_vec<T>;
  using V_t = typename vec::type;
  constexpr int A = Tr::alpha, L = vec::lanes;
  constexpr std::int64_t G = wino_group;
  T* d = scratch;          // [A][L]: gather scratch (generic path)
  T* tmp = scratch + A * L;  // [A][A][G]: the patches after the row transform
  const std::int64_t plane = wino_plane(s.C, ld), nb = bi.tiles, Wp = s.slab_width;
  std::fill(slab, slab + bi.slab_size, T(0));
  for (std::int64_t c = 0; c < s.C; ++c) {
    wino_fill_slab(s, x, c, bi, slab);
    for (std::int64_t g0 = 0; g0 < nb; g0 += G) {
      const std::int64_t nv = (std::min(G, nb - g0) + L - 1) / L;
      for (std::int64_t v = 0; v < nv; ++v) {
        const T* p[L];
        for (int l = 0; l < L; ++l) p[l] = slab + bi.slab_off[std::size_t(g0 + v * L + l)];
        for (int i = 0; i < A; ++i) {
          V_t in[A], out[A];
          wino_gather_row<M, T>(p, i * Wp, in, d);
          Tr::template input<V_t, T>(in, out);
          STRATA_WINO_UNROLL
          for (int j = 0; j < A; ++j) vec::store(tmp + (i * A + j) * G + v * L, out[j]);
        }
      }
      for (int j = 0; j < A; ++j) {
        // ξ = i·A + j: dst + i·A·plane. Packed: V(ξ) in panels of wino_nr tiles, [panel][c][wino_nr].
        T* dst = Packed ? V + j * plane + c * wino_nr : V + j * plane + c * ld + g0;
        for (std::int64_t v = 0; v < nv; ++v) {
          V_t in[A], out[A];
          STRATA_WINO_UNROLL
          for (int i = 0; i < A; ++i) in[i] = vec::load(tmp + (i * A + j) * G + v * L);
          Tr::template input<V_t, T>(in, out);
          const std::int64_t t = g0 + v * L;
          T* col = Packed ? dst + (t / wino_nr) * s.C * wino_nr + t % wino_nr : dst + v * L;
          STRATA_WINO_UNROLL
          for (int i = 0; i < A; ++i) vec::store(col + i * A * plane, out[i]);
        }
      }
    }
  }
}

// y = Aᵀ M A (+ bias) for the tiles of a block, M[ξ][k][ld] (defined up to the tiles rounded up
// to a vector); tiles cropped at the borders.
template <int M, class T>
void wino_output_block(const wino_shape& s, const T* Mx, std::int64_t ld, const wino_block_info& bi, const T* bias,
                       T* y, T* scratch) {
  using Tr = winograd_transforms<M>;
  using vec = wino_vec<T>;
  using V_t = typename vec::type;
  constexpr int A = Tr::alpha, L = vec::lanes;
  constexpr std::int64_t G = wino_group;
  T* tmp = scratch;          // [A][M][G]
  T* o = scratch + A * M * G;  // [M][M][G]
  const std::int64_t PQ = s.P * s.Q, Q = s.Q, K = s.K, plane = wino_plane(s.K, ld), nb = bi.tiles;
  for (std::int64_t k = 0; k < K; ++k) {
    const T bk = bias ? bias[k] : T(0);
    T* yk = y + k * PQ;
    for (std::int64_t g0 = 0; g0 < nb; g0 += G) {
      const std::int64_t gl = std::min(G, nb - g0), nv = (gl + L - 1) / L;
      for (int i = 0; i < A; ++i) {
        const T* src = Mx + i * A * plane + k * ld + g0;  // ξ = i·A + j: src + j·plane
        for (std::int64_t v = 0; v < nv; ++v) {
          V_t in[A], out[M];
          STRATA_WINO_UNROLL
          for (int j = 0; j < A; ++j) in[j] = vec::load(src + j * plane + v * L);
          Tr::template output<V_t, T>(in, out);
          STRATA_WINO_UNROLL
          for (int j = 0; j < M; ++j) vec::store(tmp + (i * M + j) * G + v * L, out[j]);
        }
      }
      for (int j = 0; j < M; ++j) {
        for (std::int64_t v = 0; v < nv; ++v) {
          V_t in[A], out[M];
          STRATA_WINO_UNROLL
          for (int i = 0; i < A; ++i) in[i] = vec::load(tmp + (i * M + j) * G + v * L);
          Tr::template output<V_t, T>(in, out);
          STRATA_WINO_UNROLL
          for (int i = 0; i < M; ++i) vec::store(o + (i * M + j) * G + v * L, out[i] + bk);
        }
      }
      std::int64_t l = 0;
#if defined(__AVX__)
      if constexpr (std::is_same_v<T, float> && L == 8 && M == 4) {
        // Whole vectors of uncropped tiles: back-transpose 4×4 per half, one 16-byte row store.
        for (; l + 8 <= gl; l += 8) {
          bool full = true;
          for (int q = 0; q < 8; ++q) {
            const auto t = std::size_t(g0 + l + q);
            full = full && bi.rows[t] == M && bi.cols[t] == M;
          }
          if (!full) break;
          // (Everything in locals: the intrinsic stores may alias anything, s included.)
          T* dst[8];
          STRATA_WINO_UNROLL
          for (int q = 0; q < 8; ++q) dst[q] = yk + bi.out_off[std::size_t(g0 + l + q)];
          STRATA_WINO_UNROLL
          for (int i = 0; i < M; ++i) {
            __m256 w[4];
            const T* oi = o + i * M * G + l;
            const std::int64_t row = i * Q;
            wino_transpose4x2(_mm256_loadu_ps(oi), _mm256_loadu_ps(oi + G), _mm256_loadu_ps(oi + 2 * G),
                              _mm256_loadu_ps(oi + 3 * G), w);
            STRATA_WINO_UNROLL
            for (int q = 0; q < 4; ++q) {
              _mm_storeu_ps(dst[q] + row, _mm256_castps256_ps128(w[q]));
              _mm_storeu_ps(dst[q + 4] + row, _mm256_extractf128_ps(w[q], 1));
            }
          }
        }
      }
#endif
      for (; l < gl; ++l) {
        const auto t = std::size_t(g0 + l);
        T* dst = yk + bi.out_off[t];
        const int rows = bi.rows[t], cols = bi.cols[t];
        if (rows == M && cols == M) {
          STRATA_WINO_UNROLL
          for (int i = 0; i < M; ++i)
            STRATA_WINO_UNROLL
            for (int j = 0; j < M; ++j) dst[i * Q + j] = o[(i * M + j) * G + l];
        } else {
          for (int i = 0; i < rows; ++i)
            for (int j = 0; j < cols; ++j) dst[i * Q + j] = o[(i * M + j) * G + l];
        }
      }
    }
  }
}

// D[ξ][k][ld] = (A dY Aᵀ)(ξ) for the tiles of a block: the gradient reaching M(ξ) from the
// output gradient dy (tiles cropped at the borders, i.e. zero where no output exists).
template <int M, class T>
void wino_output_grad_block(const wino_shape& s, const T* dy, const wino_block_info& bi, T* D, std::int64_t ld,
                            T* scratch) {
  using Tr = winograd_transforms<M>;
  using vec = wino_vec<T>;
  using V_t = typename vec::type;
  constexpr int A = Tr::alpha, L = vec::lanes;
  constexpr std::int64_t G = wino_group;
  T* e = scratch;          // [M][G]
  T* tmp = scratch + M * G;  // [M][A][G]
  const std::int64_t PQ = s.P * s.Q, plane = wino_plane(s.K, ld), nb = bi.tiles;
  for (std::int64_t k = 0; k < s.K; ++k) {
    const T* dyk = dy + k * PQ;
    for (std::int64_t g0 = 0; g0 < nb; g0 += G) {
      const std::int64_t gl = std::min(G, nb - g0), nv = (gl + L - 1) / L;
      for (int i = 0; i < M; ++i) {
        for (std::int64_t l = 0; l < nv * L; ++l) {
          const auto t = std::size_t(g0 + l);
          const T* src = dyk + bi.out_off[t] + i * s.Q;
          if (l >= gl) {
            for (int j = 0; j < M; ++j) e[j * G + l] = T(0);
          } else if (bi.rows[t] == M && bi.cols[t] == M) {
            STRATA_WINO_UNROLL
            for (int j = 0; j < M; ++j) e[j * G + l] = src[j];
          } else {
            for (int j = 0; j < M; ++j) e[j * G + l] = (i < bi.rows[t] && j < bi.cols[t]) ? src[j] : T(0);
          }
        }
        for (std::int64_t v = 0; v < nv; ++v) {
          V_t in[M], out[A];
          STRATA_WINO_UNROLL
          for (int j = 0; j < M; ++j) in[j] = vec::load(e + j * G + v * L);
          Tr::template output_adjoint<V_t, T>(in, out);
          STRATA_WINO_UNROLL
          for (int j = 0; j < A; ++j) vec::store(tmp + (i * A + j) * G + v * L, out[j]);
        }
      }
      for (int j = 0; j < A; ++j) {
        T* dst = D + j * plane + k * ld + g0;  // ξ = i·A + j: dst + i·A·plane
        for (std::int64_t v = 0; v < nv; ++v) {
          V_t in[M], out[A];
          STRATA_WINO_UNROLL
          for (int i = 0; i < M; ++i) in[i] = vec::load(tmp + (i * A + j) * G + v * L);
          Tr::template output_adjoint<V_t, T>(in, out);
          STRATA_WINO_UNROLL
          for (int i = 0; i < A; ++i) vec::store(dst + i * A * plane + v * L, out[i]);
        }
      }
    }
  }
}

// U[ξ][k][c] = (G g Gᵀ)(ξ) with g = w[k][c] (forward), or, for backward data, the transform of the
// flipped filter w[c][k][2−r][2−s] laid out as U[ξ][k][c] for the pass's K = C_fwd, C = K_fwd.
// Computed in double, rounded once to T. Pairs (k, c) are the SIMD lanes, in runs of 64 through
// local buffers, so each of the α² outputs is written as one contiguous run (one pair at a time,
// scalar, writing 36 values K·C apart, this took 8 ms at K = C = 256 — a quarter of a forward).
template <int M, class T>
void wino_transform_filters(std::int64_t K, std::int64_t C, const T* w, bool flip_transpose, T* U) {
  using Tr = winograd_transforms<M>;
  using vec = wino_vec<double>;
  using V_t = typename vec::type;
  constexpr int A = Tr::alpha, L = vec::lanes;
  constexpr std::int64_t run = 64;
  const std::int64_t KC = K * C, u_plane = wino_filter_rows<T>(K) * C;
  if constexpr (wino_packed<T>)  // the zero rows that round K up to whole row blocks
    for (int xi = 0; xi < A * A; ++xi)
      for (std::int64_t k = K; k < wino_filter_rows<T>(K); ++k)
        for (std::int64_t c = 0; c < C; ++c) U[xi * u_plane + (k / wino_mr) * wino_mr * C + c * wino_mr + k % wino_mr] = T(0);
  parallel_ranges((KC + run - 1) / run, [&](std::int64_t begin, std::int64_t end) {
    alignas(64) double g[9][run];
    alignas(64) double u[A * A][run];
    for (std::int64_t b = begin; b < end; ++b) {
      const std::int64_t kc0 = b * run, count = std::min(run, KC - kc0);
      for (std::int64_t q = 0; q < run; ++q) {
        const std::int64_t kc = kc0 + std::min(q, count - 1), k = kc / C, c = kc % C;
        if (!flip_transpose) {
          const T* src = w + kc * 9;
          for (int i = 0; i < 9; ++i) g[i][q] = double(src[i]);
        } else {
          const T* src = w + (c * K + k) * 9;  // w_fwd[K_fwd = C][C_fwd = K][3][3]
          for (int i = 0; i < 9; ++i) g[i][q] = double(src[8 - i]);
        }
      }
      for (std::int64_t v = 0; v < run; v += L) {
        V_t h[3][A], in[3], out[A];
        STRATA_WINO_UNROLL
        for (int r = 0; r < 3; ++r) {  // rows: g Gᵀ
          STRATA_WINO_UNROLL
          for (int s2 = 0; s2 < 3; ++s2) in[s2] = vec::load(&g[3 * r + s2][v]);
          Tr::template filter<V_t, double>(in, h[r]);
        }
        STRATA_WINO_UNROLL
        for (int j = 0; j < A; ++j) {  // columns: G (g Gᵀ)
          STRATA_WINO_UNROLL
          for (int r = 0; r < 3; ++r) in[r] = h[r][j];
          Tr::template filter<V_t, double>(in, out);
          STRATA_WINO_UNROLL
          for (int i = 0; i < A; ++i) vec::store(&u[i * A + j][v], out[i]);
        }
      }
      if constexpr (wino_packed<T>) {  // U(ξ)[k / 6][c][k % 6]
        std::int64_t at[run];
        for (std::int64_t q = 0, k = kc0 / C, c = kc0 % C; q < count; ++q) {
          at[q] = (k / wino_mr) * wino_mr * C + c * wino_mr + k % wino_mr;
          if (++c == C) c = 0, ++k;
        }
        for (int xi = 0; xi < A * A; ++xi) {
          T* dst = U + xi * u_plane;
          for (std::int64_t q = 0; q < count; ++q) dst[at[q]] = T(u[xi][q]);
        }
      } else {
        for (int xi = 0; xi < A * A; ++xi) {
          T* dst = U + xi * KC + kc0;
          if (count == run) {  // a constant trip count, which GCC -O2 vectorises
            for (std::int64_t q = 0; q < run; ++q) dst[q] = T(u[xi][q]);
          } else {
            for (std::int64_t q = 0; q < count; ++q) dst[q] = T(u[xi][q]);
          }
        }
      }
    }
  }, 1, 4);
}

// How many tiles one block holds: V and M of a block (α²·(C + K) values per tile) should stay in
// cache (L2/L3) between the input transform, the GEMMs and the output transform, while the GEMMs
// keep n ≥ 128 (OpenBLAS loses much of its speed below that: measured, at C = K = 256 blocks of
// 56 tiles were ~15% slower overall than 128–224).
template <int M, class T>
std::int64_t wino_block_tiles(const wino_shape& s) {
  constexpr std::int64_t A2 = (M + 2) * (M + 2);
  const std::int64_t per_tile = A2 * (s.C + s.K) * std::int64_t(sizeof(T));
  return std::clamp<std::int64_t>(wino_block_bytes / per_tile, 128, 512);
}


// Runs block_fn(chunk, info, ld, workspace, slab, scratch) over blocks of whole tile rows of the
// batch, on all threads, each with its own workspace and single-threaded GEMMs inside the
// parallel region (a batch too small to split runs on one thread, with threaded GEMMs).
// `dynamic`: threads take the next block from a shared counter, so a thread slowed down by
// another process on its core does not hold up the rest (forward and backward data, whose blocks
// write disjoint outputs). Otherwise each thread owns a fixed contiguous range of rows, so the
// backward filter's per-thread sums, added in chunk order, are deterministic.
template <int M, class T, class Block>
void wino_over_blocks(const wino_shape& s, std::int64_t N, bool dynamic, Block&& block_fn) {
  constexpr std::int64_t A2 = (M + 2) * (M + 2);
  const std::int64_t total_rows = N * s.tiles_y, total = N * s.tiles;
  if (total == 0) return;
  const std::int64_t threads = num_threads();
  const std::int64_t chunks = (threads > 1 && total >= 2 * wino_group) ? std::min(threads, total_rows) : 1;
  std::int64_t rows = std::max<std::int64_t>(1, wino_block_tiles<M, T>(s) / s.tiles_x);
  if (dynamic) {  // at least one block per thread, then equal blocks
    rows = std::min(rows, (total_rows + chunks - 1) / chunks);
    rows = (total_rows + (total_rows + rows - 1) / rows - 1) / ((total_rows + rows - 1) / rows);
  } else {  // equal blocks within each thread's range
    const std::int64_t per_chunk = (total_rows + chunks - 1) / chunks, blocks = (per_chunk + rows - 1) / rows;
    rows = (per_chunk + blocks - 1) / blocks;
  }
  const std::int64_t ld = wino_ld(rows * s.tiles_x);
  const std::int64_t slab = wino_block_info::slab_capacity<M>(s, rows);
  const std::int64_t matrices = A2 * (wino_plane(s.C, ld) + wino_plane(s.K, ld));  // V and M (or D)
  std::atomic<std::int64_t> next{0};
  const blas_on_calling_threads blas_guard(chunks > 1);
  parallel_chunks(dynamic ? chunks : total_rows, chunks, [&](std::int64_t chunk, std::int64_t begin, std::int64_t end) {
    auto ws = Tensor<T, 1>::uninitialized(Shape<1>{matrices + slab + wino_scratch});
    wino_block_info bi;
    const auto run = [&](std::int64_t r0, std::int64_t r1) {
      bi.fill<M>(s, r0, r1 - r0);
      block_fn(chunk, bi, ld, ws.data() + slab + wino_scratch, ws.data(), ws.data() + slab);
    };
    if (dynamic) {
      for (std::int64_t r0 = next.fetch_add(rows); r0 < total_rows; r0 = next.fetch_add(rows))
        run(r0, std::min(r0 + rows, total_rows));
    } else {
      for (std::int64_t r0 = begin; r0 < end; r0 += rows) run(r0, std::min(r0 + rows, end));
    }
  });
}

// The forward pass of a shape with its transformed filters U[ξ][K][C].
template <int M, class T>
void wino_forward(const wino_shape& s, std::int64_t N, const T* x, const T* U, const T* bias, T* y) {
  constexpr std::int64_t A2 = (M + 2) * (M + 2);
  wino_over_blocks<M, T>(s, N, true,
                         [&](std::int64_t, const wino_block_info& bi, std::int64_t ld, T* ws, T* slab, T* scratch) {
                           T* V = ws;
                           T* Mx = V + A2 * wino_plane(s.C, ld);
                           wino_input_block<M, T, wino_packed<T>>(s, x, bi, V, ld, slab, scratch);
                           // Whole vectors of columns, so the output transform reads defined values.
                           constexpr std::int64_t L = wino_vec<T>::lanes;
                           const std::int64_t n = (bi.tiles + L - 1) / L * L;
#if defined(STRATA_PACKED_GEMM)
                           if constexpr (wino_packed<T>) {
                             const std::int64_t u_plane = packed_rows(s.K) * s.C;
                             for (std::int64_t xi = 0; xi < A2; ++xi)
                               packed_gemm(s.K, n, s.C, U + xi * u_plane, V + xi * wino_plane(s.C, ld),
                                           Mx + xi * wino_plane(s.K, ld), ld);
                           } else
#endif
                           {
                             for (std::int64_t xi = 0; xi < A2; ++xi)
                               gemm<T>(false, false, s.K, n, s.C, T(1), U + xi * s.K * s.C, s.C,
                                       V + xi * wino_plane(s.C, ld), ld, T(0), Mx + xi * wino_plane(s.K, ld), ld);
                           }
                           wino_output_block<M>(s, Mx, ld, bi, bias, y, scratch);
                         });
}

template <class T>
void wino_check_type() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "strata: Winograd runs in float or double");
}

}  // namespace detail

// y[N][K][P][Q] = conv(x, w) + b for a geometry winograd_supports<M> accepts. The transformed
// filters are (re)computed into `cache` when the weights differ from those it was made from.
template <int M, class T>
void winograd_forward(const conv_geometry& g, std::int64_t N, const T* x, const T* w,
                      std::type_identity_t<const T*> b, T* y, filter_cache<T>& cache) {
  detail::wino_check_type<T>();
  static_assert(M == 2 || M == 4, "strata: Winograd F(m×m, 3×3) is implemented for m = 2 and m = 4");
  if (!winograd_supports<M>(g))
    throw shape_error("winograd_forward: needs a 3×3, stride-1 convolution with pad ≤ 2");
  constexpr std::int64_t A2 = (M + 2) * (M + 2);
  if (cache.stale(10 + M, g, w, g.weight_elements(), A2 * detail::wino_filter_rows<T>(g.K) * g.C)) {
    detail::wino_transform_filters<M>(g.K, g.C, w, false, cache.data());
    cache.mark(10 + M, g, w, g.weight_elements());
  }
  const auto s = detail::wino_make_shape<M>(g.C, g.K, g.H, g.W, g.pad_y, g.pad_x);
  detail::wino_forward<M>(s, N, x, cache.data(), b, y);
}

// dx = the full correlation of dy with the flipped, channel-transposed filters: a forward pass
// over dy (K channels, P×Q) with w'[c][k][r][s] = w[k][c][2−r][2−s] and padding 2 − pad, which
// yields exactly H×W. `cache` holds w' transformed (give each pass its own cache).
template <int M, class T>
void winograd_backward_data(const conv_geometry& g, std::int64_t N, const T* w, const T* dy, T* dx,
                            filter_cache<T>& cache) {
  detail::wino_check_type<T>();
  static_assert(M == 2 || M == 4, "strata: Winograd F(m×m, 3×3) is implemented for m = 2 and m = 4");
  if (!winograd_supports<M>(g))
    throw shape_error("winograd_backward_data: needs a 3×3, stride-1 convolution with pad ≤ 2");
  constexpr std::int64_t A2 = (M + 2) * (M + 2);
  if (cache.stale(20 + M, g, w, g.weight_elements(), A2 * detail::wino_filter_rows<T>(g.C) * g.K)) {
    detail::wino_transform_filters<M>(g.C, g.K, w, true, cache.data());
    cache.mark(20 + M, g, w, g.weight_elements());
  }
  const auto s = detail::wino_make_shape<M>(g.K, g.C, g.P(), g.Q(), 2 - g.pad_y, 2 - g.pad_x);
  detail::wino_forward<M>(s, N, dy, cache.data(), static_cast<const T*>(nullptr), dx);
}

// dw = Σ over tiles Gᵀ[(A dY Aᵀ) ⊙ (Bᵀ d B)]G — the adjoint of the forward algorithm, so Winograd
// too: per block, the input transform V (as forward) and the output-gradient transform D, then α²
// GEMMs dU(ξ)[K×C] += D(ξ)[K×tiles] · V(ξ)[C×tiles]ᵀ accumulated per thread, summed in a fixed
// order, and mapped back to 3×3 by Gᵀ · G. db = Σ dy.
template <int M, class T>
void winograd_backward_filter(const conv_geometry& g, std::int64_t N, const T* x, const T* dy, T* dw,
                              std::type_identity_t<T*> db) {
  detail::wino_check_type<T>();
  static_assert(M == 2 || M == 4, "strata: Winograd F(m×m, 3×3) is implemented for m = 2 and m = 4");
  if (!winograd_supports<M>(g))
    throw shape_error("winograd_backward_filter: needs a 3×3, stride-1 convolution with pad ≤ 2");
  using Tr = winograd_transforms<M>;
  constexpr int A = Tr::alpha;
  constexpr std::int64_t A2 = A * A;
  const auto s = detail::wino_make_shape<M>(g.C, g.K, g.H, g.W, g.pad_y, g.pad_x);
  const std::int64_t KC = g.K * g.C;
  const std::int64_t threads = std::max(num_threads(), 1);
  // One dU accumulator per chunk (at most one chunk per thread).
  std::vector<Tensor<T, 1>> dU(static_cast<std::size_t>(threads));
  std::vector<unsigned char> used(static_cast<std::size_t>(threads), 0);
  detail::wino_over_blocks<M, T>(
      s, N, false,
      [&](std::int64_t chunk, const detail::wino_block_info& bi, std::int64_t ld, T* ws, T* slab, T* scratch) {
        auto& acc = dU[std::size_t(chunk)];
        const bool first = !used[std::size_t(chunk)];
        if (first) acc = Tensor<T, 1>::uninitialized(Shape<1>{A2 * KC});
        used[std::size_t(chunk)] = 1;
        T* V = ws;
        T* D = V + A2 * detail::wino_plane(s.C, ld);
        detail::wino_input_block<M>(s, x, bi, V, ld, slab, scratch);
        detail::wino_output_grad_block<M>(s, dy, bi, D, ld, scratch);
        // k = the block's tiles exactly: V's padding lanes (copies of the last tile) stay out.
        for (std::int64_t xi = 0; xi < A2; ++xi)
          gemm<T>(false, true, s.K, s.C, bi.tiles, T(1), D + xi * detail::wino_plane(s.K, ld), ld,
                  V + xi * detail::wino_plane(s.C, ld), ld,
                  first ? T(0) : T(1), acc.data() + xi * KC, s.C);
      });
  // Sum the chunks' accumulators in chunk order (deterministic for a given thread count).
  Tensor<T, 1>* total = nullptr;
  for (std::size_t i = 0; i < used.size(); ++i) {
    if (!used[i]) continue;
    if (!total) {
      total = &dU[i];
      continue;
    }
    T* STRATA_RESTRICT dst = total->data();
    const T* STRATA_RESTRICT src = dU[i].data();
    parallel_ranges(A2 * KC, [&](std::int64_t begin, std::int64_t end) {
      STRATA_SIMD
      for (std::int64_t j = begin; j < end; ++j) dst[j] += src[j];
    });
  }
  if (!total) {
    std::fill(dw, dw + KC * 9, T(0));
  } else {
    const T* u = total->data();
    parallel_ranges(KC, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t kc = begin; kc < end; ++kc) {
        double h[A * 3], col[A], out[3];
        for (int i = 0; i < A; ++i) {  // rows: dU G
          double row[A];
          STRATA_WINO_UNROLL
          for (int j = 0; j < A; ++j) row[j] = double(u[(i * A + j) * KC + kc]);
          Tr::filter_adjoint(row, h + 3 * i);
        }
        for (int c = 0; c < 3; ++c) {  // columns: Gᵀ (dU G)
          for (int i = 0; i < A; ++i) col[i] = h[3 * i + c];
          Tr::filter_adjoint(col, out);
          for (int r = 0; r < 3; ++r) dw[kc * 9 + r * 3 + c] = T(out[r]);
        }
      }
    }, 1, 1024);
  }
  if (db) {  // summed in double: N·P·Q terms in a running fp32 sum lose ~1e-6 relative
    const std::int64_t PQ = g.P() * g.Q();
    for (std::int64_t k = 0; k < g.K; ++k) {
      double acc = 0;
      for (std::int64_t n = 0; n < N; ++n) {
        const T* row = dy + (n * g.K + k) * PQ;
        for (std::int64_t i = 0; i < PQ; ++i) acc += double(row[i]);
      }
      db[k] = T(acc);
    }
  }
}

}  // namespace strata::kernels::cpu

#undef STRATA_WINO_UNROLL
