// strata/kernels/cpu/winograd/blocks.hpp — how a Winograd pass cuts the batch into blocks of
// whole tile rows (zero-padded input slabs, per-tile offsets, workspace strides) and runs them on
// the threads; the SIMD vector of tiles and the packed-GEMM layout the transforms write.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "strata/config.hpp"
#include "strata/core/parallel.hpp"
#include "strata/core/tensor.hpp"
#include "strata/kernels/cpu/simd.hpp"
#include "strata/kernels/cpu/gemm.hpp"
#include "strata/kernels/cpu/packed_gemm.hpp"

namespace strata::kernels::cpu::winograd {

// The α-long loops around a transform carry `GCC unroll 8`: GCC -O2 does not fully unroll them by
// itself, and only unrolled do the α vectors of a transform live in registers.

// The sizes of one pass as a stride-1 3×3 convolution: C → K channels, H×W → P×Q.
struct shape {
  std::int64_t C, K, H, W, P, Q, pad_y, pad_x;
  std::int64_t tiles_y, tiles_x, tiles;  // per image
  std::int64_t slab_width;               // a padded input row in the slab (see block_info)
};

template <int M>
shape make_shape(std::int64_t C, std::int64_t K, std::int64_t H, std::int64_t W, std::int64_t pad_y,
                           std::int64_t pad_x) {
  shape s{C, K, H, W, H + 2 * pad_y - 2, W + 2 * pad_x - 2, pad_y, pad_x, 0, 0, 0, 0};
  s.tiles_y = (s.P + M - 1) / M;
  s.tiles_x = (s.Q + M - 1) / M;
  s.tiles = s.tiles_y * s.tiles_x;
  // The tiles' α columns plus room for 8-wide loads past the last tile's patch.
  s.slab_width = s.tiles_x * M + 8;
  return s;
}

// Tiles are transformed in groups of this many, one tile per SIMD lane: a group's scratch rows
// are a few cache lines each and stay in L1.
inline constexpr std::int64_t group = 32;
inline constexpr std::int64_t scratch_scalars = 64 * group;  // ≥ (α + α²)·G values for α ≤ 6

// Leading dimension for a block: whole groups plus a cache line, so rows do not share cache sets.
inline std::int64_t leading_dim(std::int64_t tiles) { return (tiles + group - 1) / group * group + 16; }

// Distance between the α² matrices V(ξ) (or M(ξ)): skewed by a cache line, because a transform
// writes (or reads) all α² of them at once, and whenever channels·ld·sizeof(T) is a multiple of
// 4 KiB (often: 128 channels × 144) unskewed streams would all fall into one L1 set and alias.
inline std::int64_t plane_stride(std::int64_t channels, std::int64_t ld) { return channels * ld + 16; }

// Bytes of V and M per block and thread (see block_tiles).
inline constexpr std::int64_t block_bytes = std::int64_t{3} << 20;

// SIMD vectors of tiles, every transform plain vector arithmetic on them. At most 32 bytes, also
// where AVX-512 exists: the patch-row transposes are written for 8 floats, and a group of 32 tiles
// stays whole vectors. (Not `omp simd` over tiles: GCC lowers the per-lane α-arrays of such a loop
// into "simd arrays" before inlining the transform, and the loop then does not vectorise at all.)
template <class T>
using vec = simd::vec<T, std::min(simd::default_bytes<T>, std::size_t(32))>;

// The element-wise GEMMs M(ξ) = U(ξ)·V(ξ) in fp32 with AVX2 and FMA run on packed_gemm, over
// operands the transforms write already packed: U(ξ) as [K/6][C][6] (cached, zero rows up to a
// multiple of 6), V(ξ) as [tiles/16][C][16]. Through OpenBLAS the same GEMMs spend a quarter of
// a forward pass packing U and V and zeroing M for β = 0, all of which this layout makes
// unnecessary (benchmarks/RESULTS.md, issue 5).
template <class T>
inline constexpr bool uses_packed_gemm = std::is_same_v<T, float> && packed_gemm_available;

// Rows of U(ξ) in the cache: K rounded up to whole micro-kernel row blocks when packed.
template <class T>
std::int64_t filter_rows(std::int64_t K) {
  return uses_packed_gemm<T> ? packed_rows(K) : K;
}

// A block is a run of whole tile rows (image-major over the batch). Per channel its input rows are
// copied into a zero-padded "slab" (one segment per image), so every α×α patch is read from
// there without bounds checks: border tiles cost what interior ones do. Per-tile arrays are
// padded to whole groups by repeating the last tile, so full vectors can always be gathered.
struct block_info {
  struct segment {
    std::int64_t n, y0, rows, base;  // image, first input row (may be < 0), slab rows, slab offset
  };
  std::int64_t tiles = 0, slab_size = 0;
  std::vector<segment> segs;
  std::vector<std::int64_t> slab_off, out_off;  // patch in the slab; output tile in y (channel 0)
  std::vector<std::int32_t> rows, cols;         // output tile size after cropping at the borders

  template <int M>
  void fill(const shape& s, std::int64_t row0, std::int64_t nrows) {
    tiles = nrows * s.tiles_x;
    const std::int64_t padded = (tiles + group - 1) / group * group, Wp = s.slab_width;
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
  static std::int64_t slab_capacity(const shape& s, std::int64_t nrows) {
    return nrows * (M + 2) * s.slab_width;
  }
};

// Channel c of the block's input rows into the slab, whose padding was zeroed for this block.
// (Rows are short: an inline vector copy, not a memcpy call per row.)
template <class T>
void fill_slab(const shape& s, const T* x, std::int64_t c, const block_info& bi, T* slab) {
  using V_t = vec<T>;
  constexpr int L = simd::lanes_of<V_t>;
  for (const auto& seg : bi.segs) {
    const std::int64_t r0 = std::max<std::int64_t>(0, -seg.y0), r1 = std::min(seg.rows, s.H - seg.y0);
    const T* src = x + ((seg.n * s.C + c) * s.H + seg.y0) * s.W;
    for (std::int64_t r = r0; r < r1; ++r) {
      const T* in = src + r * s.W;
      T* out = slab + seg.base + r * s.slab_width + s.pad_x;
      std::int64_t q = 0;
      for (; q + L <= s.W; q += L) simd::store(out + q, simd::load<V_t>(in + q));
      for (; q < s.W; ++q) out[q] = in[q];
    }
  }
}

// How many tiles one block holds: V and M of a block (α²·(C + K) values per tile) should stay in
// cache (L2/L3) between the input transform, the GEMMs and the output transform, while the GEMMs
// keep n ≥ 128 (OpenBLAS loses much of its speed below that: measured, at C = K = 256 blocks of
// 56 tiles were ~15% slower overall than 128–224).
template <int M, class T>
std::int64_t block_tiles(const shape& s) {
  constexpr std::int64_t A2 = (M + 2) * (M + 2);
  const std::int64_t per_tile = A2 * (s.C + s.K) * std::int64_t(sizeof(T));
  return std::clamp<std::int64_t>(block_bytes / per_tile, 128, 512);
}


// Runs block_fn(chunk, info, ld, workspace, slab, scratch) over blocks of whole tile rows of the
// batch, on all threads, each with its own workspace and single-threaded GEMMs inside the
// parallel region (a batch too small to split runs on one thread, with threaded GEMMs).
// `dynamic`: threads take the next block from a shared counter, so a thread slowed down by
// another process on its core does not hold up the rest (forward and backward data, whose blocks
// write disjoint outputs). Otherwise each thread owns a fixed contiguous range of rows, so the
// backward filter's per-thread sums, added in chunk order, are deterministic.
template <int M, class T, class Block>
void over_blocks(const shape& s, std::int64_t N, bool dynamic, Block&& block_fn) {
  constexpr std::int64_t A2 = (M + 2) * (M + 2);
  const std::int64_t total_rows = N * s.tiles_y, total = N * s.tiles;
  if (total == 0) return;
  const std::int64_t threads = num_threads();
  const std::int64_t chunks = (threads > 1 && total >= 2 * group) ? std::min(threads, total_rows) : 1;
  std::int64_t rows = std::max<std::int64_t>(1, block_tiles<M, T>(s) / s.tiles_x);
  if (dynamic) {  // at least one block per thread, then equal blocks
    rows = std::min(rows, (total_rows + chunks - 1) / chunks);
    rows = (total_rows + (total_rows + rows - 1) / rows - 1) / ((total_rows + rows - 1) / rows);
  } else {  // equal blocks within each thread's range
    const std::int64_t per_chunk = (total_rows + chunks - 1) / chunks, blocks = (per_chunk + rows - 1) / rows;
    rows = (per_chunk + blocks - 1) / blocks;
  }
  const std::int64_t ld = leading_dim(rows * s.tiles_x);
  const std::int64_t slab = block_info::slab_capacity<M>(s, rows);
  const std::int64_t matrices = A2 * (plane_stride(s.C, ld) + plane_stride(s.K, ld));  // V and M (or D)
  std::atomic<std::int64_t> next{0};
  const blas_on_calling_threads blas_guard(chunks > 1);
  parallel_chunks(dynamic ? chunks : total_rows, chunks, [&](std::int64_t chunk, std::int64_t begin, std::int64_t end) {
    auto ws = Tensor<T, 1>::uninitialized(Shape<1>{matrices + slab + scratch_scalars});
    block_info bi;
    const auto run = [&](std::int64_t r0, std::int64_t r1) {
      bi.fill<M>(s, r0, r1 - r0);
      block_fn(chunk, bi, ld, ws.data() + slab + scratch_scalars, ws.data(), ws.data() + slab);
    };
    if (dynamic) {
      for (std::int64_t r0 = next.fetch_add(rows); r0 < total_rows; r0 = next.fetch_add(rows))
        run(r0, std::min(r0 + rows, total_rows));
    } else {
      for (std::int64_t r0 = begin; r0 < end; r0 += rows) run(r0, std::min(r0 + rows, end));
    }
  });
}

template <class T>
void check_type() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "strata: Winograd runs in float or double");
}

}  // namespace strata::kernels::cpu::winograd
