// strata/kernels/cpu/xnor_gemm.hpp — the matrix product of ±1 matrices packed as sign bits
// (bit_packing.hpp): C[i][j] = bits − 2·popcount(A_i ⊕ B_j), the dot product of row i of A and
// row j of B, exact in int32; and the register-blocked XNOR–popcount tiles that xnor_conv.hpp runs too.
//
// Design. B's rows are packed into column panels of nr words side by side ([depth][nr]), so that a
// vector holds one word of several columns: a word of A broadcast against it, XOR, popcount per
// 64-bit lane, add, and each lane is one output — no horizontal sums. Tiles of mr rows × nr
// columns keep their sums in registers. The count, chosen when compiling:
//   - AVX-512 VPOPCNTDQ: 6 × 32 (24 zmm sums), vpxorq with the A word broadcast from memory,
//     vpopcntq, vpaddq;
//   - AVX2: 4 × 8 (8 ymm sums of bytes), popcount by nibble lookup. Both operands are split into
//     nibbles first (word w → w & 0x0f0f…, (w >> 4) & 0x0f0f…; popcount(a ⊕ b) is the sum over
//     the two halves), so a word costs vpxor + one vpshufb + vpaddb per half: 6 operations where
//     the lookup on whole words needs 8 (two masks and a shift). Byte sums for up to 63 half-words,
//     then vpsadbw into 64-bit totals. The split costs one pass over A (a convolution does it while
//     copying the zero-bordered image) and is done once for a convolution's filters.
//   - otherwise: 2 × 4 scalar tiles (__builtin_popcountll; one POPCNT with -mpopcnt), two per
//     8-column panel. The vector tiles beat them at every depth, one word included
//     (benchmarks/binary.cpp, section a').
// A finished tile goes to int32 C, or (the _signs products) straight into sign bits: each column's
// sum against its threshold, eight columns to a byte, so a binary layer's sums never reach memory.
// The depth is a list of taps, each a run of words at its own offset from a row's start — one tap
// for a matrix row, R·S taps for a convolution's patch read straight from the (padded) image — so
// convolutions need no im2col copy. Depth slices of at most `slice_words` words keep a panel slice
// in L1. Threaded over (row block, panel) pairs with strata's threads; serial inside a parallel region.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "strata/config.hpp"
#include "strata/core/error.hpp"
#include "strata/core/parallel.hpp"
#include "strata/kernels/cpu/bit_packing.hpp"
#include "strata/kernels/cpu/simd.hpp"
#include "strata/kernels/cpu/thread_scratch.hpp"

namespace strata::kernels::cpu {

namespace xnor_detail {

// Which tile counts the bits.
enum class path { automatic, vector, scalar };

#if defined(__AVX512VPOPCNTDQ__) && defined(__AVX512F__)
inline constexpr int mr = 6, nr = 32;
inline constexpr std::size_t vector_bytes = 64;
inline constexpr std::int64_t slice_words = 128;  // a 32 KiB panel slice
inline constexpr std::int64_t scalar_depth = 0;
inline constexpr const char* vector_name = "6x32 AVX-512 vpopcntq";
#elif defined(__AVX2__)
inline constexpr int mr = 4, nr = 8;
inline constexpr std::size_t vector_bytes = 32;
inline constexpr std::int64_t slice_words = 256;  // 16 KiB
inline constexpr std::int64_t scalar_depth = 0;
inline constexpr const char* vector_name = "4x8 AVX2 nibble lookup";
#else
inline constexpr int mr = 2, nr = 8;  // whole bytes of output signs per panel (see store_signs)
inline constexpr std::size_t vector_bytes = 0;
inline constexpr std::int64_t slice_words = 512;
inline constexpr std::int64_t scalar_depth = std::numeric_limits<std::int64_t>::max();
inline constexpr const char* vector_name = "none";
#endif
inline constexpr bool has_vector_tile = vector_bytes > 0;
// Words of the tiles' operands per packed word: 2 where they are split into nibbles (AVX2).
#if defined(__AVX2__) && !(defined(__AVX512VPOPCNTDQ__) && defined(__AVX512F__))
inline constexpr int split = 2;
#else
inline constexpr int split = 1;
#endif

// dst[0 … split·count) = src[0 … count) as the tiles read it: the same words, or each word as its
// low nibbles then its high nibbles.
inline void split_words(const std::uint64_t* src, std::int64_t count, std::uint64_t* dst) {
  if constexpr (split == 1) {
    std::memcpy(dst, src, std::size_t(count) * sizeof(std::uint64_t));
  } else {
    constexpr std::uint64_t low = 0x0f0f0f0f0f0f0f0full;
    STRATA_SIMD
    for (std::int64_t i = 0; i < count; ++i) dst[2 * i] = src[i] & low, dst[2 * i + 1] = src[i] >> 4 & low;
  }
}
// The scalar tile: smr rows × snr columns of a panel (snr divides nr).
inline constexpr int smr = 2, snr = 4;

inline bool scalar_for(path p, std::int64_t depth) {
  return !has_vector_tile || p == path::scalar || (p == path::automatic && depth <= scalar_depth);
}

// The depth of one product: `taps` runs of `run` words (the last one `last` words), run t
// starting at offsets[t] words from a row's start; the panels hold the words in the same order.
struct depth_runs {
  const std::int64_t* offsets;
  std::int64_t taps, run, last;
  std::int64_t words() const { return (taps - 1) * run + last; }
  std::int64_t length(std::int64_t t) const { return t + 1 == taps ? last : run; }
};

// Where a tile's results go: C[i·ldc + j] = bits − 2·sums for i < rows, j < cols (C at the tile's
// first element); `partial`: int64 sums kept between depth slices (mr × nr).
struct tile_store {
  std::int32_t* C;
  std::int64_t ldc;
  int rows, cols;
  std::int32_t bits;
};

// ---------------------------------------------------------------------------------------------
// The tiles. Each counts popcount(a ⊕ b) over taps [t0, t1) of `d` for mr row pointers and one
// panel slice (at the slice's first word), starting from `partial` (when `first` is false) and
// ending in `partial` (when `last` is false) or in C.

#if defined(__AVX512VPOPCNTDQ__) && defined(__AVX512F__)
using lanes64 = simd::vec<std::uint64_t, vector_bytes>;
inline constexpr int nv = nr / simd::lanes_of<lanes64>;

STRATA_INLINE void vector_tile(const std::uint64_t* const* rows, const depth_runs& d, std::int64_t t0, std::int64_t t1,
                               const std::uint64_t* panel, std::int64_t* partial, bool first, bool last, const tile_store& out) {
  lanes64 acc[mr][nv];
  STRATA_PRAGMA(GCC unroll 8)
  for (int i = 0; i < mr; ++i)
    STRATA_PRAGMA(GCC unroll 8)
    for (int v = 0; v < nv; ++v) acc[i][v] = first ? simd::zero<lanes64>() : simd::load<lanes64>(reinterpret_cast<std::uint64_t*>(partial) + (i * nv + v) * 8);
  for (std::int64_t t = t0; t < t1; ++t) {
    const std::int64_t off = d.offsets[t];
    const std::uint64_t* a[mr];
    STRATA_PRAGMA(GCC unroll 8)
    for (int i = 0; i < mr; ++i) a[i] = rows[i] + off;
    const std::int64_t len = d.length(t);
    for (std::int64_t w = 0; w < len; ++w, panel += nr) {
      lanes64 b[nv];
      STRATA_PRAGMA(GCC unroll 8)
      for (int v = 0; v < nv; ++v) b[v] = simd::load<lanes64>(panel + 8 * v);
      STRATA_PRAGMA(GCC unroll 8)
      for (int i = 0; i < mr; ++i) {
        const lanes64 ai = simd::broadcast<lanes64>(a[i][w]);
        STRATA_PRAGMA(GCC unroll 8)
        for (int v = 0; v < nv; ++v) acc[i][v] += simd::popcount_lanes(ai ^ b[v]);
      }
    }
  }
  if (!last) {
    for (int i = 0; i < mr; ++i)
      for (int v = 0; v < nv; ++v) simd::store(reinterpret_cast<std::uint64_t*>(partial) + (i * nv + v) * 8, acc[i][v]);
    return;
  }
  using out32 = simd::vec<std::int32_t, 32>;
  for (int i = 0; i < mr; ++i) {
    if (i >= out.rows) break;
    STRATA_PRAGMA(GCC unroll 8)
    for (int v = 0; v < nv; ++v) {
      const int cols = out.cols - 8 * v;
      if (cols <= 0) break;
      const out32 y = out.bits - 2 * __builtin_convertvector(acc[i][v], out32);
      if (cols >= 8) simd::store(out.C + i * out.ldc + 8 * v, y);
      else simd::store_first(out.C + i * out.ldc + 8 * v, y, cols);
    }
  }
}
#elif defined(__AVX2__)
using lanes64 = simd::vec<std::uint64_t, vector_bytes>;
using bytes8 = simd::vec<std::uint8_t, vector_bytes>;
inline constexpr int nv = nr / simd::lanes_of<lanes64>;

STRATA_INLINE void vector_tile(const std::uint64_t* const* rows, const depth_runs& d, std::int64_t t0, std::int64_t t1,
                               const std::uint64_t* panel, std::int64_t* partial, bool first, bool last, const tile_store& out) {
  constexpr int L = simd::lanes_of<lanes64>;
  // Byte counts grow by at most 4 a half-word: 63 keep them below 256.
  constexpr std::int64_t byte_words = 63;
  lanes64 total[mr][nv];
  bytes8 acc[mr][nv];
  for (int i = 0; i < mr; ++i)
    for (int v = 0; v < nv; ++v) {
      total[i][v] = first ? simd::zero<lanes64>() : simd::load<lanes64>(reinterpret_cast<std::uint64_t*>(partial) + (i * nv + v) * L);
      acc[i][v] = simd::zero<bytes8>();
    }
  std::int64_t pending = 0;
  const auto flush = [&] {
    STRATA_PRAGMA(GCC unroll 8)
    for (int i = 0; i < mr; ++i)
      STRATA_PRAGMA(GCC unroll 8)
      for (int v = 0; v < nv; ++v) total[i][v] += simd::sum_bytes_per_lane(acc[i][v]), acc[i][v] = simd::zero<bytes8>();
    pending = 0;
  };
  for (std::int64_t t = t0; t < t1; ++t) {
    const std::int64_t off = d.offsets[t];
    const std::uint64_t* a[mr];
    STRATA_PRAGMA(GCC unroll 8)
    for (int i = 0; i < mr; ++i) a[i] = rows[i] + off;
    const std::int64_t len = d.length(t);
    for (std::int64_t w0 = 0; w0 < len;) {
      if (pending == byte_words) flush();
      const std::int64_t w1 = std::min(len, w0 + byte_words - pending);
      pending += w1 - w0;
      for (std::int64_t w = w0; w < w1; ++w, panel += nr) {
        lanes64 b[nv];
        STRATA_PRAGMA(GCC unroll 8)
        for (int v = 0; v < nv; ++v) b[v] = simd::load<lanes64>(panel + L * v);
        STRATA_PRAGMA(GCC unroll 8)
        for (int i = 0; i < mr; ++i) {
          const lanes64 ai = simd::broadcast<lanes64>(a[i][w]);
          STRATA_PRAGMA(GCC unroll 8)
          for (int v = 0; v < nv; ++v) acc[i][v] += simd::bitcast<bytes8>(simd::popcount_low_nibbles(ai ^ b[v]));
        }
      }
      w0 = w1;
    }
  }
  flush();
  if (!last) {
    for (int i = 0; i < mr; ++i)
      for (int v = 0; v < nv; ++v) simd::store(reinterpret_cast<std::uint64_t*>(partial) + (i * nv + v) * L, total[i][v]);
    return;
  }
  // Pairs of 4-lane totals → 8 int32 results.
  using out32 = simd::vec<std::int32_t, 32>;
  static_assert(nv % 2 == 0, "xnor AVX2 tile: columns in pairs of vectors");
  for (int i = 0; i < mr; ++i) {
    if (i >= out.rows) break;
    STRATA_PRAGMA(GCC unroll 8)
    for (int v = 0; v < nv; v += 2) {
      const int cols = out.cols - L * v;
      if (cols <= 0) break;
      // The low halves of the 64-bit totals (< 2³¹), in registers: two 16-byte stores read back
      // as one 32-byte load stall store forwarding (a quarter of the tile's time on small depths).
      const out32 s = __builtin_shufflevector(simd::bitcast<out32>(total[i][v]), simd::bitcast<out32>(total[i][v + 1]), 0, 2, 4,
                                              6, 8, 10, 12, 14);
      const out32 y = out.bits - 2 * s;
      if (cols >= 8) simd::store(out.C + i * out.ldc + L * v, y);
      else simd::store_first(out.C + i * out.ldc + L * v, y, cols);
    }
  }
}
#endif

// The scalar tile: smr rows × snr columns (columns j0 … j0 + snr − 1 of the panel), partial sums
// at partial[i·nr + j0 + j].
STRATA_INLINE void scalar_tile(const std::uint64_t* const* rows, const depth_runs& d, std::int64_t t0, std::int64_t t1,
                               const std::uint64_t* panel, int j0, std::int64_t* partial, bool first, bool last,
                               const tile_store& out) {
  std::uint64_t acc[smr][snr];
  for (int i = 0; i < smr; ++i)
    for (int j = 0; j < snr; ++j) acc[i][j] = first ? 0 : std::uint64_t(partial[i * nr + j0 + j]);
  panel += j0;
  for (std::int64_t t = t0; t < t1; ++t) {
    const std::int64_t off = d.offsets[t];
    const std::uint64_t* a0 = rows[0] + off;
    const std::uint64_t* a1 = rows[1] + off;
    static_assert(smr == 2, "scalar tile: two rows");
    const std::int64_t len = d.length(t);
    for (std::int64_t w = 0; w < len; ++w, panel += nr) {
      const std::uint64_t x0 = a0[w], x1 = a1[w];
      STRATA_PRAGMA(GCC unroll 4)
      for (int j = 0; j < snr; ++j) {
        const std::uint64_t b = panel[j];
        acc[0][j] += std::uint64_t(simd::popcount(x0 ^ b));
        acc[1][j] += std::uint64_t(simd::popcount(x1 ^ b));
      }
    }
  }
  for (int i = 0; i < smr; ++i)
    for (int j = 0; j < snr; ++j) {
      if (!last) partial[i * nr + j0 + j] = std::int64_t(acc[i][j]);
      else if (i < out.rows && j0 + j < out.cols) out.C[i * out.ldc + j0 + j] = out.bits - 2 * std::int32_t(acc[i][j]);
    }
}

// ---------------------------------------------------------------------------------------------
// Panels and the blocked, threaded product.

// Per-thread scratch (thread_scratch.hpp), slots numbered per use.
struct scratch_owner {};
template <int Slot>
inline void* scratch(std::size_t bytes) {
  return thread_scratch_bytes<scratch_owner, Slot>(bytes);
}

inline std::int64_t panels_for(std::int64_t n) { return (n + nr - 1) / nr; }

// B (n rows of `depth` words, ldb apart) → panels_for(n) panels of split·depth × nr words: word k
// of column j (split as split_words does) of panel p at dst[(p·split·depth + k)·nr + j]; columns
// past n are zero.
inline void pack_panels(std::int64_t n, std::int64_t depth, const std::uint64_t* B, std::int64_t ldb, std::uint64_t* dst) {
  const std::int64_t P = panels_for(n), deep = split * depth;
  std::uint64_t* row = static_cast<std::uint64_t*>(scratch<3>(std::size_t(deep) * sizeof(std::uint64_t)));
  for (std::int64_t p = 0; p < P; ++p) {
    std::uint64_t* panel = dst + p * deep * nr;
    for (int j = 0; j < nr; ++j) {
      const std::int64_t col = p * nr + j;
      if (col < n) {
        split_words(B + col * ldb, depth, row);
        for (std::int64_t k = 0; k < deep; ++k) panel[k * nr + j] = row[k];
      } else {
        for (std::int64_t k = 0; k < deep; ++k) panel[k * nr + j] = 0;
      }
    }
  }
}

// Tiles per row block: the block's rows are read once per panel, from L1.
inline constexpr std::int64_t block_tiles = 8;

// run_product's default: finished tiles are written to C.
struct sums_to_memory {};

// Per output column k: the sign bit (set for −1) of its sum c is (c < threshold[k]) XOR bit k of
// falling, as binary inference folds batch norm and sign (net/binary_inference.hpp).
struct sign_rule {
  const std::int32_t* threshold;  // panels_for(n)·nr values (past n: any)
  const std::uint64_t* falling;   // words_for(n) words
};

// Row `row` (words_for(n) words) gets the signs of columns j0 … j0 + cols − 1 of one finished tile
// row (sums[j], j < nr) in its bits j0 …: nr / 8 whole bytes (nr divides 64, so a panel never
// straddles a word, and threads writing other panels of the row touch other bytes). The last
// panel also clears the row's bits past n (the packing contract).
STRATA_INLINE void store_signs(const std::int32_t* sums, std::int64_t j0, int cols, std::int64_t n, const sign_rule& rule,
                               std::uint64_t* row) {
  static_assert(nr % 8 == 0 && 64 % nr == 0, "xnor tiles: panels of whole bytes within a word");
  using lanes = simd::vec<std::int32_t, 32>;
  std::uint64_t less = 0;
  STRATA_PRAGMA(GCC unroll 4)
  for (int v = 0; v < nr; v += 8)
    less |= simd::less_lanes(simd::load<lanes>(sums + v), simd::load<lanes>(rule.threshold + j0 + v)) << v;
  const std::uint64_t kept = cols >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << cols) - 1;
  const std::uint64_t bits = (less ^ (rule.falling[j0 / 64] >> (j0 % 64))) & kept;
  unsigned char* bytes = reinterpret_cast<unsigned char*>(row);
  std::memcpy(bytes + j0 / 8, &bits, nr / 8);  // little-endian: byte b holds columns 8b …
  if (j0 + nr >= n) std::memset(bytes + (j0 + nr) / 8, 0, std::size_t(words_for(n) * 8 - (j0 + nr) / 8));
}

// The thresholds rule.threshold points at, padded to whole panels, in this thread's scratch.
inline const std::int32_t* padded_thresholds(const std::int32_t* threshold, std::int64_t n) {
  auto* t = static_cast<std::int32_t*>(scratch<5>(std::size_t(panels_for(n) * nr) * sizeof(std::int32_t)));
  std::copy(threshold, threshold + n, t);
  std::fill(t + n, t + panels_for(n) * nr, 0);
  return t;
}

// Whether a product of m·n dot products of `words` words is worth forking threads for.
inline bool worth_threads(std::int64_t m, std::int64_t n, std::int64_t words) {
  return double(m) * double(n) * double(words) >= double(1 << 18);
}

// C (m × n, ldc) = bits − 2·popcount over the depth `d`, rows from rows_of(i0, count, ptrs)
// (which writes the count ≤ tile-height row pointers of rows i0 …; the kernel reads tile-height
// pointers, so rows past m repeat a valid one), columns from `panels`. With a sink, C is unused:
// each finished tile goes to sink(i0, rows, j0, cols, sums) instead, sums[i·nr + j] in L1.
template <class RowsOf, class Sink = sums_to_memory>
void run_product(std::int64_t m, std::int64_t n, const depth_runs& d, const std::uint64_t* panels, std::int32_t bits,
                 RowsOf&& rows_of, std::int32_t* C, std::int64_t ldc, path choice, bool threaded, Sink&& sink = {}) {
  constexpr bool to_sink = !std::is_same_v<std::decay_t<Sink>, sums_to_memory>;
  if (m <= 0 || n <= 0) return;
  const std::int64_t depth = d.words(), P = panels_for(n);
  const bool scalar = scalar_for(choice, depth);
  const int th = scalar ? smr : mr;  // tile height
  const std::int64_t tiles = (m + th - 1) / th, blocks = (tiles + block_tiles - 1) / block_tiles;
  // Depth slices: whole taps, at most slice_words words (at least one tap).
  const std::int64_t slice_taps = std::max<std::int64_t>(1, slice_words / std::max<std::int64_t>(d.run, 1));
  const std::int64_t items = blocks * P;
  const bool fork = threaded && !in_parallel_region() && num_threads() > 1 && items > 1;
  parallel_ranges(items, [&](std::int64_t item0, std::int64_t item1) {
    alignas(64) std::int64_t partial[block_tiles][mr * nr];
    alignas(64) std::int32_t finished[mr * nr];
    const std::uint64_t* ptrs[block_tiles][mr];
    std::int64_t ptr_block = -1;
    for (std::int64_t item = item0; item < item1; ++item) {
      const std::int64_t blk = item / P, p = item % P;
      const std::int64_t tile0 = blk * block_tiles, tile1 = std::min(tiles, tile0 + block_tiles);
      if (blk != ptr_block) {
        for (std::int64_t t = tile0; t < tile1; ++t) {
          const std::int64_t i0 = t * th;
          const int count = int(std::min<std::int64_t>(th, m - i0));
          rows_of(i0, count, ptrs[t - tile0]);
          for (int i = count; i < th; ++i) ptrs[t - tile0][i] = ptrs[t - tile0][0];
        }
        ptr_block = blk;
      }
      const std::uint64_t* panel = panels + p * depth * nr;
      const std::int64_t j0 = p * nr;
      const int cols = int(std::min<std::int64_t>(nr, n - j0));
      for (std::int64_t s0 = 0; s0 < d.taps; s0 += slice_taps) {
        const std::int64_t s1 = std::min(d.taps, s0 + slice_taps);
        const bool first = s0 == 0, last = s1 == d.taps;
        const std::uint64_t* slice = panel + s0 * d.run * nr;
        for (std::int64_t t = tile0; t < tile1; ++t) {
          const std::int64_t i0 = t * th;
          const int rows = int(std::min<std::int64_t>(th, m - i0));
          const tile_store out = to_sink ? tile_store{finished, nr, rows, cols, bits} : tile_store{C + i0 * ldc + j0, ldc, rows, cols, bits};
          if (scalar) {
            for (int jj = 0; jj < cols; jj += snr) scalar_tile(ptrs[t - tile0], d, s0, s1, slice, jj, partial[t - tile0], first, last, out);
          } else {
#if defined(__AVX2__) || (defined(__AVX512VPOPCNTDQ__) && defined(__AVX512F__))
            vector_tile(ptrs[t - tile0], d, s0, s1, slice, partial[t - tile0], first, last, out);
#endif
          }
          if constexpr (to_sink)
            if (last) sink(i0, rows, j0, cols, static_cast<const std::int32_t*>(finished));
        }
      }
    }
  }, 1, fork ? 1 : std::numeric_limits<std::int64_t>::max());
}

}  // namespace xnor_detail

// Which tile xnor_gemm / xnor_conv2d run for a depth of `words` words (benchmarks report it).
inline const char* xnor_kernel_name(std::int64_t words) {
  return xnor_detail::scalar_for(xnor_detail::path::automatic, words) ? "2x4 scalar popcnt" : xnor_detail::vector_name;
}

namespace xnor_detail {

// xnor_gemm's product with a sink (run_product); C and ldc are only used without one.
template <class Sink = sums_to_memory>
void gemm(std::int64_t M, std::int64_t N, std::int64_t bits, const std::uint64_t* A, const std::uint64_t* B, std::int32_t* C,
          std::int64_t ldc, path choice, Sink&& sink = {}) {
  const std::int64_t words = words_for(bits);
  const std::int64_t deep = split * words;  // words of a row as the tiles read it
  auto* panels = static_cast<std::uint64_t*>(scratch<0>(std::size_t(panels_for(N) * deep * nr) * sizeof(std::uint64_t)));
  pack_panels(N, words, B, words, panels);
  const std::uint64_t* rows = A;
  if constexpr (split > 1) {
    auto* halves = static_cast<std::uint64_t*>(scratch<2>(std::size_t(M * deep) * sizeof(std::uint64_t)));
    const auto body = [&](std::int64_t i0, std::int64_t i1) { split_words(A + i0 * words, (i1 - i0) * words, halves + i0 * deep); };
    if (worth_threads(M, N, words) && M * words >= parallel_threshold()) parallel_ranges(M, body, 1, 1);
    else body(0, M);
    rows = halves;
  }
  // The row as taps of at most slice_words words, so that depth slices can cut it.
  const std::int64_t run = std::min(deep, slice_words), taps = (deep + run - 1) / run;
  std::int64_t offsets_small[64];
  std::int64_t* offsets = taps <= 64 ? offsets_small : static_cast<std::int64_t*>(scratch<1>(std::size_t(taps) * 8));
  for (std::int64_t t = 0; t < taps; ++t) offsets[t] = t * run;
  const depth_runs d{offsets, taps, run, deep - (taps - 1) * run};
  run_product(M, N, d, panels, std::int32_t(bits),
              [&](std::int64_t i0, int count, const std::uint64_t** p) {
                for (int i = 0; i < count; ++i) p[i] = rows + (i0 + i) * deep;
              },
              C, ldc, choice, worth_threads(M, N, words), std::forward<Sink>(sink));
}

inline void check_gemm(std::int64_t M, std::int64_t N, std::int64_t bits) {
  if (M < 0 || N < 0 || bits < 0 || bits > std::numeric_limits<std::int32_t>::max())
    throw shape_error("xnor_gemm: M " + std::to_string(M) + ", N " + std::to_string(N) + ", bits " + std::to_string(bits) +
                      " do not describe a product");
}

}  // namespace xnor_detail

// C[i·ldc + j] = bits − 2·popcount(A_i ⊕ B_j) for i < M, j < N: the dot products of the ±1 rows
// A_i (A: M × words_for(bits) words, row-major) and B_j (B: N × words_for(bits)), packed by
// bit_packing.hpp's contract (bits past `bits` zero in both). Threaded over output blocks.
inline void xnor_gemm(std::int64_t M, std::int64_t N, std::int64_t bits, const std::uint64_t* A, const std::uint64_t* B,
                      std::int32_t* C, std::int64_t ldc, xnor_detail::path choice = xnor_detail::path::automatic) {
  xnor_detail::check_gemm(M, N, bits);
  if (M > 0 && N > 0 && ldc < N)
    throw shape_error("xnor_gemm: ldc " + std::to_string(ldc) + " is below N " + std::to_string(N));
  if (M == 0 || N == 0) return;
  if (words_for(bits) == 0) {
    for (std::int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0);
    return;
  }
  xnor_detail::gemm(M, N, bits, A, B, C, ldc, choice);
}

// signs [M][words_for(N)] = the sign bits of those dot products under `rule`: bit j of row i set
// where (C[i][j] < rule.threshold[j]) XOR bit j of rule.falling — what a binary dense layer with
// its batch norm and sign folded emits — without the int32 sums ever reaching memory.
inline void xnor_gemm_signs(std::int64_t M, std::int64_t N, std::int64_t bits, const std::uint64_t* A, const std::uint64_t* B,
                            const xnor_detail::sign_rule& rule, std::uint64_t* signs,
                            xnor_detail::path choice = xnor_detail::path::automatic) {
  using namespace xnor_detail;
  check_gemm(M, N, bits);
  if (M == 0 || N == 0) return;
  const sign_rule padded{padded_thresholds(rule.threshold, N), rule.falling};
  const std::int64_t out_words = words_for(N);
  if (words_for(bits) == 0) {  // every sum is 0
    alignas(64) std::int32_t zeros[nr] = {};
    for (std::int64_t i = 0; i < M; ++i)
      for (std::int64_t j0 = 0; j0 < N; j0 += nr) store_signs(zeros, j0, int(std::min<std::int64_t>(nr, N - j0)), N, padded, signs + i * out_words);
    return;
  }
  gemm(M, N, bits, A, B, nullptr, 0, choice, [&](std::int64_t i0, int rows, std::int64_t j0, int cols, const std::int32_t* sums) {
    for (int i = 0; i < rows; ++i) store_signs(sums + i * nr, j0, cols, N, padded, signs + (i0 + i) * out_words);
  });
}

}  // namespace strata::kernels::cpu
