// strata/kernels/cpu/int16_gemm.hpp — int16 fixed-point matrix products for 16-bit training
// (Gupta et al. 2015): int16_gemm sums exactly in integers and rounds back to int16 (to nearest, or
// stochastically from Philox bits fixed by the output index) with bias and saturation fused into
// the micro-kernel's store; int16_gemm_exact returns the int64 sums unrounded.
//
// Design. Both operands are packed with the depth in pairs: a 32-bit word holds (x[k], x[k+1]), so
// one multiply-add (simd::madd_pairs: vpdpwssd with AVX-512 VNNI or AVX-VNNI, else vpmaddwd +
// vpaddd) takes a broadcast word of A against a vector of B words and adds two products per lane
// into int32. The int32 sums are exact because the depth is cut into chunks with
// chunk·2·max|A|·max|B| ≤ 2^31 − 1 (the maxima are taken while packing; the instructions wrap
// modulo 2^32, so only the chunk's total must fit). Data with max|A|·max|B| ≤ 2^30 / (k/2) is one
// chunk, and the requantisation then runs on the int32 registers as the tile is stored; otherwise
// each chunk's sums are added into int64 and rounded from there. Where one pair can reach 2^31
// ((−32768)² twice) a chunk is one pair and its −2^31 is read back as +2^31. Results never depend
// on the thread count or the blocking: the sums are exact and the random bits are a function of
// (seed, stream, output index).
//
// Tiles: 8×32 with AVX-512BW (16 zmm accumulators), 6×16 with AVX2 (12 ymm) — one tile written on
// the SIMD layer (simd.hpp) for both widths — and 4×8 in plain integers elsewhere; depth
// slices of 256/384/512 pairs keep a B panel slice in L1 (int32 partial sums wait in a per-thread
// buffer between slices). Single-threaded per call inside a parallel region; else threaded over
// output blocks.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "strata/config.hpp"
#include "strata/core/error.hpp"
#include "strata/core/parallel.hpp"
#include "strata/core/random.hpp"
#include "strata/kernels/cpu/simd.hpp"
#include "strata/kernels/cpu/thread_scratch.hpp"

namespace strata::kernels::cpu {

// How an exact integer accumulator (the value acc · 2^-shift in output units) returns to int16.
struct requantize {
  int shift = 0;                        // 0 ≤ shift ≤ 40 (a right shift; rounding applies when shift > 0)
  bool stochastic = false;              // false: round to nearest, ties up: floor(acc/2^s + 1/2)
                                        // true: floor((acc + r) / 2^s), r uniform in [0, 2^s) (see below)
  std::uint64_t seed = 0, stream = 0;   // the Philox key of the random bits
  std::int32_t lo = -32768, hi = 32767;  // saturation bounds applied last (lo = 0: a fused ReLU)
};
// Random bits: output element (i, j) of the logical m×n result has index e = i·n + j; its 16 random
// bits are half (e % 2) (0 = low 16 bits) of word ((e / 2) % 4) of detail::philox_block(seed, e / 8,
// stream) — so the eight values of one Philox block, stored little-endian, are elements 8b … 8b + 7
// in order. r = shift ≤ 16 ? bits >> (16 − shift) : bits << (shift − 16).

namespace int16_detail {

// ---------------------------------------------------------------------------------------------
// The rounding rule, scalar: the definition every vector path reproduces bit for bit.

inline std::int64_t offset_of_bits(std::uint32_t bits, int shift) {
  return shift <= 16 ? std::int64_t(bits >> (16 - shift)) : std::int64_t(bits) << (shift - 16);
}
// floor((acc + r) / 2^s) without forming acc + r: (acc >> s) + ((acc mod 2^s) + r) >> s, which
// also keeps the vector version's int32 lanes from overflowing.
inline std::int64_t round_shift(std::int64_t acc, int shift, std::int64_t r) {
  if (shift == 0) return acc;
  return (acc >> shift) + (((acc & ((std::int64_t{1} << shift) - 1)) + r) >> shift);
}
inline std::int16_t saturate(std::int64_t v, std::int32_t lo, std::int32_t hi) {
  return std::int16_t(v < lo ? lo : (v > hi ? hi : v));
}

inline void check(const requantize& q) {
  if (q.shift < 0 || q.shift > 40)
    throw shape_error("int16_gemm: requantize shift " + std::to_string(q.shift) + " is outside [0, 40]");
  if (q.lo < -32768 || q.hi > 32767 || q.lo > q.hi)
    throw shape_error("int16_gemm: saturation bounds [" + std::to_string(q.lo) + ", " + std::to_string(q.hi) +
                      "] are not an int16 interval");
}

// Where the random bits of a product's elements come from: element (i, j) has index
// base + i·row_stride + j (int16_gemm: 0 and n; a convolution: the output tensor's flat index).
struct element_index {
  std::uint64_t base = 0, row_stride = 0;
};

// Per-thread scratch (thread_scratch.hpp), slots numbered per use.
struct scratch_owner {};
template <int Slot>
inline void* scratch(std::size_t bytes) {
  return thread_scratch_bytes<scratch_owner, Slot>(bytes);
}

// ---------------------------------------------------------------------------------------------
// Tile sizes per instruction set. A tile is mr rows × nr columns of C; the packed A holds row
// blocks [kp][mr] of words, the packed B column panels [kp][nr] of words.
#if defined(__AVX512BW__)
// 8 × 32: sixteen zmm accumulators (the multiply-add latency × two per cycle needs ≥ 8), fed per
// depth pair by two loads of B and eight broadcasts of A.
inline constexpr int mr = 8, nr = 32;
inline constexpr std::int64_t slice_pairs = 256;  // a B panel slice of 32 KiB stays in L1
#elif defined(__AVX2__)
// 6 × 16: twelve ymm accumulators + two B vectors + the broadcast + the product temporary (none
// with AVX-VNNI) = all sixteen registers; vpmaddwd and vpaddd then issue in parallel on different
// pipes.
inline constexpr int mr = 6, nr = 16;
inline constexpr std::int64_t slice_pairs = 384;  // 24 KiB of B panel
#else
inline constexpr int mr = 4, nr = 8;
inline constexpr std::int64_t slice_pairs = 512;
#endif

#if defined(__AVX2__)
// The tile's vectors: two per row of nr sums (512 bits with AVX-512BW, 256 with AVX2).
inline constexpr std::size_t vector_bytes = nr * sizeof(std::int32_t) / 2;
using sums = simd::vec<std::int32_t, vector_bytes>;
using words = simd::vec<std::uint32_t, vector_bytes>;    // pair words, or Philox output words
using wide = simd::vec<std::int64_t, vector_bytes>;      // half a row of sums, widened
using counters = simd::vec<std::uint64_t, vector_bytes>;  // one Philox instance per lane
#endif

// ---------------------------------------------------------------------------------------------
// Packing. A "pair word" is (x[2kp], x[2kp + 1]) as the low and high 16 bits, the second 0 past k.

STRATA_INLINE std::uint32_t pair_word(const std::int16_t* row, std::int64_t kp, std::int64_t k) {
  const std::uint32_t lo = std::uint16_t(row[2 * kp]);
  const std::uint32_t hi = 2 * kp + 1 < k ? std::uint16_t(row[2 * kp + 1]) : 0u;
  return lo | hi << 16;
}

// Rows that run along the depth (A as stored, or Bᵀ as stored): row w (w < valid) starts at
// src + w·ld; dst[kp·W + w] = its pair word kp, rows valid … W − 1 zero. Eight rows × eight pairs
// at a time are one in-register transpose; a 6-row block (AVX2's A) transposes with two zero rows
// and lets each 8-word store overrun into the next pair's slot, which the next store rewrites.
template <int W>
void pack_depth_rows(const std::int16_t* src, std::int64_t ld, int valid, std::int64_t k, std::int64_t KP,
                     std::uint32_t* dst) {
  std::int64_t kp0 = 0;
#if defined(__AVX2__)
  if constexpr (W % 8 == 0 || W == 6) if (valid == W) {
    using V = simd::vec<std::uint32_t, 32>;  // eight pair words
    const std::int64_t whole = k / 2 / 8 * 8;  // pairs that are whole, in batches of eight
    for (; kp0 < whole; kp0 += 8)
      for (int w0 = 0; w0 < W; w0 += 8) {
        V r[8];
        STRATA_PRAGMA(GCC unroll 8)
        for (int w = 0; w < 8; ++w)
          r[w] = w0 + w < W ? simd::bitcast<V>(simd::load<simd::vec<std::int16_t, 32>>(src + (w0 + w) * ld + 2 * kp0))
                            : simd::zero<V>();
        simd::transpose(r);
        if constexpr (W % 8 == 0) {
          STRATA_PRAGMA(GCC unroll 8)
          for (int t = 0; t < 8; ++t) simd::store(dst + (kp0 + t) * W + w0, r[t]);
        } else {
          STRATA_PRAGMA(GCC unroll 8)
          for (int t = 0; t < 7; ++t) simd::store(dst + (kp0 + t) * W, r[t]);
          simd::store_first(dst + (kp0 + 7) * W, r[7], 6);
        }
      }
  }
#endif
  for (std::int64_t kp = kp0; kp < KP; ++kp)
    for (int w = 0; w < W; ++w) dst[kp * W + w] = w < valid ? pair_word(src + w * ld, kp, k) : 0u;
}

// One block of W pair words from two rows along the depth: out[w] = (r0[w], r1[w]) for w < valid
// (r1 null: 0), 0 past valid.
template <int W>
STRATA_INLINE void pack_pair_rows(const std::int16_t* r0, const std::int16_t* r1, int valid, std::uint32_t* out) {
  // Word w of out = (a[w], b[w]): the two rows' int16 lanes interleaved.
  [[maybe_unused]] auto interleave = [&](auto a, auto b) {
    using P = simd::vec<std::uint32_t, sizeof(a)>;
    decltype(a) lo, hi;
    simd::interleave(a, b, lo, hi);
    simd::store(out, simd::bitcast<P>(lo));
    simd::store(out + W / 2, simd::bitcast<P>(hi));
  };
#if defined(__AVX512BW__)
  if constexpr (W == 32 || W == 8) {  // masked loads: any row end, nothing past it read
    using H = simd::vec<std::int16_t, 2 * W>;
    interleave(simd::load_first<H>(r0, valid), r1 ? simd::load_first<H>(r1, valid) : simd::zero<H>());
    return;
  }
#elif defined(__AVX2__)
  if constexpr (W == 16)
    if (valid == 16) {
      using H = simd::vec<std::int16_t, 32>;
      interleave(simd::load<H>(r0), r1 ? simd::load<H>(r1) : simd::zero<H>());
      return;
    }
#endif
  for (int w = 0; w < W; ++w)
    out[w] = w < valid ? (std::uint32_t(std::uint16_t(r0[w])) | (r1 ? std::uint32_t(std::uint16_t(r1[w])) << 16 : 0u)) : 0u;
}

// Columns that run along the depth (B as stored, or Aᵀ as stored): element (kk, w) at
// src[kk·ld + w], w < valid; block b (columns bW … bW + W − 1) goes to dst + b·KP·W, where word
// kp·W + w is (src[2kp][bW + w], src[2kp + 1][bW + w]), columns past valid 0. Several blocks per
// pass, so that each row pair is read once, contiguously: a single panel at a time walked down the
// matrix one cache line per row, and at 1024 columns that took as long as the rest of the packing.
template <int W>
void pack_depth_columns(const std::int16_t* src, std::int64_t ld, int valid, int blocks, std::int64_t k,
                        std::int64_t KP, std::uint32_t* dst) {
  for (std::int64_t kp = 0; kp < KP; ++kp) {
    const std::int16_t* r0 = src + 2 * kp * ld;
    const std::int16_t* r1 = 2 * kp + 1 < k ? r0 + ld : nullptr;
    for (int b = 0; b < blocks; ++b)
      pack_pair_rows<W>(r0 + b * W, r1 ? r1 + b * W : nullptr, std::clamp(valid - b * W, 0, W), dst + (b * KP + kp) * W);
  }
}

// max |x| over the int16 halves of n packed words (32768 for −32768).
inline std::int32_t max_abs(const std::uint32_t* w, std::int64_t n) {
  std::int32_t m = 0;
  std::int64_t i = 0;
#if defined(__AVX2__)
  // |x| as unsigned 16-bit (so 32768 for −32768), the maximum as unsigned too
  using I = simd::vec<std::int16_t, 32>;
  using U = simd::vec<std::uint16_t, 32>;
  U most = simd::zero<U>();
  for (; i + 8 <= n; i += 8) most = simd::max(most, simd::abs(simd::bitcast<I>(simd::load<simd::vec<std::uint32_t, 32>>(w + i))));
  m = simd::hmax(most);
#endif
  for (; i < n; ++i) {
    const std::int32_t a = std::int16_t(std::uint16_t(w[i])), b = std::int16_t(std::uint16_t(w[i] >> 16));
    m = std::max(m, std::max(a < 0 ? -a : a, b < 0 ? -b : b));
  }
  return m;
}

// max |x| over n int16 values.
inline std::int32_t max_abs_values(const std::int16_t* x, std::int64_t n) {
  std::int32_t m = 0;
  std::int64_t i = 0;
#if defined(__AVX2__)
  using U = simd::vec<std::uint16_t, 32>;
  U most = simd::zero<U>();
  for (; i + 16 <= n; i += 16) most = simd::max(most, simd::abs(simd::load<simd::vec<std::int16_t, 32>>(x + i)));
  m = simd::hmax(most);
#endif
  for (; i < n; ++i) m = std::max(m, x[i] < 0 ? -std::int32_t(x[i]) : std::int32_t(x[i]));
  return m;
}

// Ap = A (m×k as stored, lda) packed into row blocks, serially; returns max |A|. For operands
// packed once and used in many products (a convolution's weights).
inline std::int32_t pack_rows(std::int64_t m, std::int64_t k, const std::int16_t* A, std::int64_t lda, std::uint32_t* Ap) {
  const std::int64_t KP = (k + 1) / 2, R = (m + mr - 1) / mr;
  std::int32_t most = 0;
  for (std::int64_t rb = 0; rb < R; ++rb) {
    std::uint32_t* dst = Ap + rb * KP * mr;
    pack_depth_rows<mr>(A + rb * mr * lda, lda, int(std::min<std::int64_t>(mr, m - rb * mr)), k, KP, dst);
    most = std::max(most, max_abs(dst, KP * mr));
  }
  return most;
}

// op(A) (m×k) and op(B) (k×n) packed, with their largest magnitudes.
struct packed_operands {
  std::int64_t m = 0, n = 0, k = 0, KP = 0, R = 0, P = 0;
  const std::uint32_t* A = nullptr;  // R row blocks of KP·mr words
  const std::uint32_t* B = nullptr;  // P panels of KP·nr words
  std::int32_t max_a = 0, max_b = 0;
};

inline packed_operands pack(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                            const std::int16_t* A, std::int64_t lda, const std::int16_t* B, std::int64_t ldb,
                            bool threaded) {
  packed_operands p;
  p.m = m, p.n = n, p.k = k, p.KP = (k + 1) / 2, p.R = (m + mr - 1) / mr, p.P = (n + nr - 1) / nr;
  const std::int64_t KP = p.KP, R = p.R, P = p.P;
  // + 8 words: the 6-row transpose may write two words past a block it then rewrites
  auto* Ap = static_cast<std::uint32_t*>(scratch<0>(std::size_t(R * KP * mr + 8) * 4));
  auto* Bp = static_cast<std::uint32_t*>(scratch<1>(std::size_t(P * KP * nr + 8) * 4));
  const std::int64_t chunks = threaded ? std::max(1, num_threads()) : 1;
  std::array<std::int32_t, 256> ma{}, mb{};
  const std::int64_t used = std::min<std::int64_t>(chunks, std::int64_t(ma.size()));
  // Work items: groups of blocks (eight where row pairs are read across blocks, else one).
  const std::int64_t ga = trans_a ? 8 : 1, gb = trans_b ? 1 : 8;
  const std::int64_t items_a = (R + ga - 1) / ga, items_b = (P + gb - 1) / gb;
  parallel_chunks(items_a + items_b, used, [&](std::int64_t c, std::int64_t begin, std::int64_t end) {
    for (std::int64_t item = begin; item < end; ++item) {
      if (item < items_a) {
        const std::int64_t rb0 = item * ga, blocks = std::min(ga, R - rb0), i0 = rb0 * mr;
        const int valid = int(std::min<std::int64_t>(blocks * mr, m - i0));
        std::uint32_t* dst = Ap + rb0 * KP * mr;
        if (!trans_a) pack_depth_rows<mr>(A + i0 * lda, lda, valid, k, KP, dst);
        else pack_depth_columns<mr>(A + i0, lda, valid, int(blocks), k, KP, dst);
        ma[std::size_t(c)] = std::max(ma[std::size_t(c)], max_abs(dst, blocks * KP * mr));
      } else {
        const std::int64_t p0 = (item - items_a) * gb, blocks = std::min(gb, P - p0), j0 = p0 * nr;
        const int valid = int(std::min<std::int64_t>(blocks * nr, n - j0));
        std::uint32_t* dst = Bp + p0 * KP * nr;
        if (!trans_b) pack_depth_columns<nr>(B + j0, ldb, valid, int(blocks), k, KP, dst);
        else pack_depth_rows<nr>(B + j0 * ldb, ldb, valid, k, KP, dst);
        mb[std::size_t(c)] = std::max(mb[std::size_t(c)], max_abs(dst, blocks * KP * nr));
      }
    }
  });
  for (std::int64_t c = 0; c < used; ++c) p.max_a = std::max(p.max_a, ma[std::size_t(c)]), p.max_b = std::max(p.max_b, mb[std::size_t(c)]);
  p.A = Ap, p.B = Bp;
  return p;
}

// ---------------------------------------------------------------------------------------------
// Stochastic bits for one tile. Row r's elements e_r … e_r + nr − 1 (e_r = base + (i0 + r)·stride
// + j0) lie in the Philox blocks e_r / 8 onwards: nr / 8 of them when every row starts on a block
// boundary (base and stride multiples of 8, as j0 always is), else one more. Instance r·nb + t is
// block e_r / 8 + t; eight instances (AVX-512) or four (AVX2) run in one vector, each lane its own
// counter, and their words land in order, so that u16 value offset[r] + j is element (r, j)'s.

// The ten round keys of a seed (the key advances by the Weyl constants), as 64-bit values so that
// a vector broadcasts them straight from memory.
struct philox_keys {
  std::uint64_t k0[10], k1[10];
  std::uint64_t stream_lo, stream_hi;
  philox_keys(std::uint64_t seed, std::uint64_t stream) : stream_lo(stream & 0xFFFFFFFFu), stream_hi(stream >> 32) {
    std::uint32_t a = std::uint32_t(seed), b = std::uint32_t(seed >> 32);
    for (int r = 0; r < 10; ++r, a += 0x9E3779B9u, b += 0xBB67AE85u) k0[r] = a, k1[r] = b;
  }
};

#if defined(__AVX2__)
inline constexpr int philox_lanes = simd::lanes_of<counters>;

// One Philox round on instances in the low halves of 64-bit lanes: mul_u32_wide gives the full
// 32×32 product, so hi and lo are one shift apart; the high halves carry junk that never reaches a
// low half.
STRATA_INLINE void philox_round(counters& c0, counters& c1, counters& c2, counters& c3, std::uint64_t k0, std::uint64_t k1) {
  const counters p0 = simd::mul_u32_wide(c0, simd::broadcast<counters>(0xD2511F53)),
                 p1 = simd::mul_u32_wide(c2, simd::broadcast<counters>(0xCD9E8D57));
  c0 = simd::xor3(p1 >> 32, c1, simd::broadcast<counters>(k0));
  c2 = simd::xor3(p0 >> 32, c3, simd::broadcast<counters>(k1));
  c1 = p1, c3 = p0;
}

// The four words of the instances (low halves of c0 … c3) to out[0 … 4·lanes), instance by
// instance. Stored as by memcpy (simd::store), which may alias anything: with a store GCC knows
// cannot touch the round keys, it hoists their broadcasts out of run_with_bits' loop and spills them.
STRATA_INLINE void philox_store(counters c0, counters c1, counters c2, counters c3, std::uint32_t* out) {
  const counters low = simd::broadcast<counters>(0xFFFFFFFFu);
  counters first, second;
  simd::interleave((c0 & low) | (c1 << 32), (c2 & low) | (c3 << 32), first, second);
  simd::store(out, simd::bitcast<words>(first));
  simd::store(out + 2 * philox_lanes, simd::bitcast<words>(second));
}

STRATA_INLINE void philox_vector(counters block, const philox_keys& key, std::uint32_t* out) {
  counters c0 = block, c1 = block >> 32;
  counters c2 = simd::broadcast<counters>(key.stream_lo), c3 = simd::broadcast<counters>(key.stream_hi);
  STRATA_PRAGMA(GCC unroll 10)
  for (int round = 0; round < 10; ++round) philox_round(c0, c1, c2, c3, key.k0[round], key.k1[round]);
  philox_store(c0, c1, c2, c3, out);
}
#else
inline constexpr int philox_lanes = 1;
#endif

// Instance l of a tile's list: row row_of[l], block e_row / 8 + add_of[l] (lists rounded up to
// whole vectors repeat the last row).
template <int Blocks>
struct instance_table {
  static constexpr int count = (mr * Blocks + philox_lanes - 1) / philox_lanes * philox_lanes;
  std::uint64_t row_of[count] = {}, add_of[count] = {};
  constexpr instance_table() {
    for (int l = 0; l < count; ++l) row_of[l] = std::uint64_t(std::min(l / Blocks, mr - 1)), add_of[l] = l % Blocks;
  }
};
template <int Blocks>
inline constexpr instance_table<Blocks> instances{};

struct tile_random {
  alignas(64) std::uint32_t words[instance_table<nr / 8 + 1>::count * 4];
  int offset[mr];  // u16 index of element (r, 0)
  // The bits of row r's elements as u16 values (read through memcpy, as simd::load does).
  const std::uint16_t* row(int r) const { return reinterpret_cast<const std::uint16_t*>(words) + offset[r]; }
  std::uint32_t bits(int r, int j) const {
    std::uint16_t v;
    std::memcpy(&v, row(r) + j, 2);
    return v;
  }
};

// What the fused stores need, prepared once per product.
struct requant_plan {
  int shift = 0;
  bool stochastic = false;
  bool aligned = false;  // every tile row starts on a Philox block boundary
  int bits_shift = 0;    // the random bits' shift: right by it unless bits_left
  bool bits_left = false;
  std::int32_t mask = 0, half = 0, lo = -32768, hi = 32767;  // int32 store: shift ≤ 30
  std::int64_t mask64 = 0, half64 = 0;
  std::uint64_t seed = 0, stream = 0;
  philox_keys keys;
  const std::int32_t* row_bias = nullptr;
  const std::int32_t* col_bias = nullptr;
  element_index index;

  requant_plan(const requantize& q, const std::int32_t* rb, const std::int32_t* cb, element_index e)
      : shift(q.shift), stochastic(q.stochastic && q.shift > 0), aligned(e.base % 8 == 0 && e.row_stride % 8 == 0),
        lo(q.lo), hi(q.hi), seed(q.seed), stream(q.stream), keys(q.seed, q.stream), row_bias(rb), col_bias(cb), index(e) {
    bits_left = shift > 16;
    bits_shift = bits_left ? shift - 16 : 16 - shift;
    mask64 = shift > 0 ? (std::int64_t{1} << shift) - 1 : 0;
    half64 = shift > 0 ? std::int64_t{1} << (shift - 1) : 0;
    mask = shift <= 30 ? std::int32_t(mask64) : 0;
    half = shift <= 30 ? std::int32_t(half64) : 0;
  }
};

#if defined(__AVX2__)
// The Philox counters of instances l … l + lanes − 1 of a tile's list: block (e0 + row·stride) / 8
// + add, row·stride from the stride's 32-bit halves (vpmuludq; no 64-bit multiply needed).
template <int Blocks>
STRATA_INLINE counters instance_blocks(int l, counters e0, counters stride_lo, counters stride_hi) {
  constexpr auto& t = instances<Blocks>;
  const counters row = simd::load<counters>(t.row_of + l);
  const counters offset = simd::mul_u32_wide(row, stride_lo) + (simd::mul_u32_wide(row, stride_hi) << 32);
  return ((e0 + offset) >> 3) + simd::load<counters>(t.add_of + l);
}
#endif

// The Philox words of a tile whose row r starts at element e0 + r·stride. Each lane's counter is
// computed in registers from the instance table: built in memory (two 32-byte stores read back
// as one 64-byte vector) it missed store forwarding and waited for the store queue — behind the
// previous tile's stores to C — to drain, which cost more than the Philox rounds themselves.
template <int Blocks>
STRATA_INLINE void philox_tile(std::uint64_t e0, std::uint64_t stride, const requant_plan& q, std::uint32_t* words) {
  constexpr auto& t = instances<Blocks>;
#if defined(__AVX2__)
  const counters base = simd::broadcast<counters>(e0);
  const counters lo = simd::broadcast<counters>(stride & 0xFFFFFFFFu), hi = simd::broadcast<counters>(stride >> 32);
  STRATA_PRAGMA(GCC unroll 5)
  for (int v = 0; v < t.count; v += philox_lanes) philox_vector(instance_blocks<Blocks>(v, base, lo, hi), q.keys, words + 4 * v);
#else
  for (int l = 0; l < t.count; ++l) {
    const std::uint64_t block = (e0 + t.row_of[l] * stride) / 8 + t.add_of[l];
    const auto w = strata::detail::philox_block(q.seed, block, q.stream);
    for (int j = 0; j < 4; ++j) words[4 * l + j] = w[std::size_t(j)];
  }
#endif
}

// Where the random bits of the tile at (i0, j0) lie in its words; returns the index of its
// element (0, 0).
STRATA_INLINE std::uint64_t tile_offsets(const requant_plan& q, std::int64_t i0, std::int64_t j0, tile_random& out) {
  const int blocks = q.aligned ? nr / 8 : nr / 8 + 1;
  const std::uint64_t stride = q.index.row_stride, e0 = q.index.base + std::uint64_t(i0) * stride + std::uint64_t(j0);
  for (int r = 0; r < mr; ++r) out.offset[r] = r * blocks * 8 + int((e0 + std::uint64_t(r) * stride) % 8);
  return e0;
}

// The random bits of the tile at (i0, j0) (all mr rows; those past the matrix are never read).
STRATA_INLINE void tile_bits(const requant_plan& q, std::int64_t i0, std::int64_t j0, tile_random& out) {
  const std::uint64_t e0 = tile_offsets(q, i0, j0, out);
  if (q.aligned) philox_tile<nr / 8>(e0, q.index.row_stride, q, out.words);
  else philox_tile<nr / 8 + 1>(e0, q.index.row_stride, q, out.words);
}

// One exact int64 sum → int16 by the rule (scalar: the int64 stores on AVX2 and other CPUs).
STRATA_INLINE std::int16_t requantize_one(std::int64_t acc, const requant_plan& q, const tile_random& rnd, int r, int j,
                                          std::int64_t bias) {
  const std::int64_t add = q.stochastic ? offset_of_bits(rnd.bits(r, j), q.shift) : q.half64;
  return saturate(round_shift(acc, q.shift, add) + bias, q.lo, q.hi);
}

// C (rows × cols of a tile) from exact sums S (int64 or int32, rows lds apart), any shift and bias.
template <class Sum>
STRATA_INLINE void store_i16_from_sums(const Sum* S, std::int64_t lds, const requant_plan& q, const tile_random& rnd,
                                       std::int64_t i0, std::int64_t j0, int rows, int cols, std::int16_t* C,
                                       std::int64_t ldc) {
  static_assert(std::is_same_v<Sum, std::int64_t> || std::is_same_v<Sum, std::int32_t>);
#if defined(__AVX512BW__)
  // Eight columns at a time in int64 lanes. The shifts in locals: the masked stores to C may alias q.
  using I32 = simd::vec<std::int32_t, 32>;
  const int shift = q.shift, bits_shift = q.bits_shift;
  const bool stochastic = q.stochastic, bits_left = q.bits_left;
  const wide mask = simd::broadcast<wide>(q.mask64), half = simd::broadcast<wide>(q.half64);
  const wide lo = simd::broadcast<wide>(q.lo), hi = simd::broadcast<wide>(q.hi);
  for (int r = 0; r < rows; ++r) {
    const wide rb = simd::broadcast<wide>(q.row_bias ? q.row_bias[i0 + r] : 0);
    for (int h = 0; h < nr / 8; ++h) {
      const int n = std::min(8, cols - 8 * h);
      if (n <= 0) break;
      wide v;
      if constexpr (sizeof(Sum) == 8) v = simd::load_first<wide>(S + r * lds + 8 * h, n);
      else v = simd::convert<std::int64_t>(simd::load_first<I32>(S + r * lds + 8 * h, n));
      if (shift > 0) {
        wide add = half;
        if (stochastic) {
          add = simd::convert<std::int64_t>(simd::load<simd::vec<std::uint16_t, 16>>(rnd.row(r) + 8 * h));
          add = bits_left ? add << bits_shift : add >> bits_shift;
        }
        v = (v >> shift) + (((v & mask) + add) >> shift);  // the second sum is ≥ 0: >> is the logical shift
      }
      v += rb;
      if (q.col_bias) v += simd::convert<std::int64_t>(simd::load_first<I32>(q.col_bias + j0 + 8 * h, n));
      simd::store_first(C + r * ldc + 8 * h, simd::convert<std::int16_t>(simd::clamp(v, lo, hi)), n);
    }
  }
#else
  for (int r = 0; r < rows; ++r) {
    const std::int64_t rb = q.row_bias ? q.row_bias[i0 + r] : 0;
    for (int j = 0; j < cols; ++j)
      C[r * ldc + j] = requantize_one(S[r * lds + j], q, rnd, r, j, rb + (q.col_bias ? q.col_bias[j0 + j] : 0));
  }
#endif
}

// ---------------------------------------------------------------------------------------------
// The micro-kernel: a tile's int32 sums over a depth range in registers, then one of the stores —
// the int32 partial (the next depth slice continues from it), int64 (exact results, or chunks
// spilled into a wider sum) or the fused requantisation to int16. `wrap`: the chunk is one pair
// that may be (−32768)² twice = 2^31, which int32 holds as −2^31; no pair sums to −2^31 (the least
// is 2·(−32768)·32767), so that value is read back as +2^31.

#if defined(__AVX2__)
STRATA_INLINE wide widen(simd::vec<std::int32_t, vector_bytes / 2> v, bool wrap) {
  wide w = simd::convert<std::int64_t>(v);
  if (wrap) w += (w == std::numeric_limits<std::int32_t>::min()) & (std::int64_t{1} << 32);
  return w;
}

// Where the target has masked moves (AVX-512) a row end is one masked load or store, whole vectors
// included; elsewhere whole vectors are plain moves and only a partial one goes lane by lane.
template <class V>
STRATA_INLINE V load_part(const simd::scalar_of<V>* p, int n) {
  constexpr int lanes = simd::lanes_of<V>;
  if constexpr (simd::has_masked_moves<V>) return simd::load_first<V>(p, std::clamp(n, 0, lanes));
  if (n >= lanes) return simd::load<V>(p);
  return n > 0 ? simd::load_first<V>(p, n) : simd::zero<V>();
}
template <class V>
STRATA_INLINE void store_part(simd::scalar_of<V>* p, V v, int n) {
  constexpr int lanes = simd::lanes_of<V>;
  if constexpr (simd::has_masked_moves<V>) return simd::store_first(p, v, std::clamp(n, 0, lanes));
  if (n >= lanes) simd::store(p, v);
  else if (n > 0) simd::store_first(p, v, n);
}

// The Philox rounds go into the multiply-add loop where there are registers for them: 32 zmm
// with AVX-512; AVX2's sixteen ymm are all taken by the 6×16 tile (twelve accumulators, two B
// vectors, the broadcast and the product).
inline constexpr bool bits_in_loop = vector_bytes == 64;

// Every store below indexes the sums with constants only (loops fully unrolled, short rows
// skipped, short columns masked), so they stay in registers from the loop to the store; with
// loops bounded by rows and cols GCC kept them in memory, and the epilogue cost as much as the
// Philox bits of stochastic rounding.
struct tile {
  static constexpr int lanes = simd::lanes_of<sums>;  // nr / 2
  sums c[mr][2];

  // One depth pair: two loads of B, mr broadcasts of A, 2·mr multiply-adds. B is read as by memcpy
  // (simd::load, not load_aligned), which may alias the tile's random words: where GCC can tell
  // them apart, its loop distribution splits run_with_bits' loop into all Philox rounds, then all
  // multiply-adds.
  STRATA_INLINE static void step(sums (&acc)[mr][2], const std::uint32_t*& Ap, const std::uint32_t*& Bp) {
    const words b0 = simd::load<words>(Bp), b1 = simd::load<words>(Bp + lanes);
    STRATA_PRAGMA(GCC unroll 8)
    for (int r = 0; r < mr; ++r) {
      const words a = simd::broadcast<words>(Ap[r]);
      acc[r][0] = simd::madd_pairs(acc[r][0], a, b0);
      acc[r][1] = simd::madd_pairs(acc[r][1], a, b1);
    }
    Ap += mr;
    Bp += nr;
  }
  STRATA_INLINE static void start(sums (&acc)[mr][2], const std::int32_t* init) {
    STRATA_PRAGMA(GCC unroll 8)
    for (int r = 0; r < mr; ++r)
      STRATA_PRAGMA(GCC unroll 2)
      for (int j = 0; j < 2; ++j) acc[r][j] = init ? simd::load_aligned<sums>(init + r * nr + lanes * j) : simd::zero<sums>();
  }
  STRATA_INLINE void finish(const sums (&acc)[mr][2]) {
    STRATA_PRAGMA(GCC unroll 8)
    for (int r = 0; r < mr; ++r)
      STRATA_PRAGMA(GCC unroll 2)
      for (int j = 0; j < 2; ++j) c[r][j] = acc[r][j];
  }

  STRATA_INLINE void run(std::int64_t kp, const std::uint32_t* Ap, const std::uint32_t* Bp, const std::int32_t* init) {
    sums acc[mr][2];
    start(acc, init);
    for (std::int64_t t = 0; t < kp; ++t) step(acc, Ap, Bp);
    finish(acc);
  }

  // run() that also fills rnd with the tile's random bits. With bits_in_loop, one Philox round per
  // depth pair while the multiply-adds go on: computed before the loop instead, the rounds' long
  // dependency chains (≈ 280 instructions per tile) held up the loop behind them (15% at depth 256);
  // interleaved, they fill issue slots the multiply-adds leave free.
  template <int Blocks>
  STRATA_INLINE void run_with_bits(std::int64_t kp, const std::uint32_t* Ap, const std::uint32_t* Bp, const std::int32_t* init,
                                   const requant_plan& q, std::int64_t i0, std::int64_t j0, tile_random& rnd) {
    constexpr int vectors = instances<Blocks>.count / philox_lanes;
    const std::uint64_t e0 = tile_offsets(q, i0, j0, rnd), stride = q.index.row_stride;
    if (!bits_in_loop || kp < 10 * vectors) {
      philox_tile<Blocks>(e0, stride, q, rnd.words);
      run(kp, Ap, Bp, init);
      return;
    }
    sums acc[mr][2];
    start(acc, init);
    const counters base = simd::broadcast<counters>(e0);
    const counters lo = simd::broadcast<counters>(stride & 0xFFFFFFFFu), hi = simd::broadcast<counters>(stride >> 32);
    for (int v = 0; v < vectors; ++v) {
      counters c0 = instance_blocks<Blocks>(philox_lanes * v, base, lo, hi), c1 = c0 >> 32;
      counters c2 = simd::broadcast<counters>(q.keys.stream_lo), c3 = simd::broadcast<counters>(q.keys.stream_hi);
      STRATA_PRAGMA(GCC unroll 10)
      for (int round = 0; round < 10; ++round) {
        philox_round(c0, c1, c2, c3, q.keys.k0[round], q.keys.k1[round]);
        step(acc, Ap, Bp);
      }
      philox_store(c0, c1, c2, c3, rnd.words + 4 * philox_lanes * v);
    }
    for (std::int64_t t = 10 * vectors; t < kp; ++t) step(acc, Ap, Bp);
    finish(acc);
  }

  STRATA_INLINE void store_i32(std::int32_t* buf) const {
    STRATA_PRAGMA(GCC unroll 8)
    for (int r = 0; r < mr; ++r)
      STRATA_PRAGMA(GCC unroll 2)
      for (int j = 0; j < 2; ++j) simd::store_aligned(buf + r * nr + lanes * j, c[r][j]);
  }
  // C = the sums (exact in int32: one chunk), rows × cols of them.
  STRATA_INLINE void store_i32_to(std::int32_t* C, std::int64_t ldc, int rows, int cols) const {
    STRATA_PRAGMA(GCC unroll 8)
    for (int r = 0; r < mr; ++r) {
      if (r >= rows) break;
      STRATA_PRAGMA(GCC unroll 2)
      for (int j = 0; j < 2; ++j) store_part(C + r * ldc + lanes * j, c[r][j], cols - lanes * j);
    }
  }

  // Quarter h (lanes / 2 columns) of row r, widened to int64.
  STRATA_INLINE wide quarter(int r, int h, bool wrap) const {
    return widen(h % 2 ? simd::high_half(c[r][h / 2]) : simd::low_half(c[r][h / 2]), wrap);
  }

  // C (+)= the sums, rows × cols of them (ldc apart).
  STRATA_INLINE void store_i64(std::int64_t* C, std::int64_t ldc, int rows, int cols, bool add, bool wrap) const {
    constexpr int q = lanes / 2;
    STRATA_PRAGMA(GCC unroll 8)
    for (int r = 0; r < mr; ++r) {
      if (r >= rows) break;
      STRATA_PRAGMA(GCC unroll 4)
      for (int h = 0; h < 4; ++h) {
        wide v = quarter(r, h, wrap);
        std::int64_t* o = C + r * ldc + q * h;
        if (add) v += load_part<wide>(o, cols - q * h);
        store_part(o, v, cols - q * h);
      }
    }
  }
  // A whole [mr][nr] int64 tile (+)= the sums.
  STRATA_INLINE void add_i64(std::int64_t* S, bool add, bool wrap) const {
    STRATA_PRAGMA(GCC unroll 8)
    for (int r = 0; r < mr; ++r)
      STRATA_PRAGMA(GCC unroll 4)
      for (int h = 0; h < 4; ++h) {
        wide v = quarter(r, h, wrap);
        std::int64_t* o = S + r * nr + lanes / 2 * h;
        if (add) v += simd::load_aligned<wide>(o);
        simd::store_aligned(o, v);
      }
  }

  // C = saturate(round(sums) + biases) (shift ≤ 30, no overflow: requant_plan's conditions). To
  // nearest the offset is 2^(shift−1); stochastically the tile's bits shifted into [0, 2^shift).
  template <bool Stochastic>
  STRATA_INLINE void store_i16(const requant_plan& q, const tile_random& rnd, std::int64_t i0, std::int64_t j0, int rows,
                               int cols, std::int16_t* C, std::int64_t ldc) const {
    using bits = simd::vec<std::uint16_t, vector_bytes / 2>;
    // In locals, as the masked stores to C may alias q; one of left and right is 0 (no branch).
    const int shift = q.shift, left = q.bits_left ? q.bits_shift : 0, right = q.bits_left ? 0 : q.bits_shift;
    const sums mask = simd::broadcast<sums>(q.mask), half = simd::broadcast<sums>(q.half);
    const sums lo = simd::broadcast<sums>(q.lo), hi = simd::broadcast<sums>(q.hi);
    sums cb[2];
    STRATA_PRAGMA(GCC unroll 2)
    for (int j = 0; j < 2; ++j)
      cb[j] = q.col_bias ? load_part<sums>(q.col_bias + j0 + lanes * j, cols - lanes * j) : simd::zero<sums>();
    STRATA_PRAGMA(GCC unroll 8)
    for (int r = 0; r < mr; ++r) {
      if (r >= rows) break;
      const sums rb = simd::broadcast<sums>(q.row_bias ? q.row_bias[i0 + r] : 0);
      sums v[2];
      STRATA_PRAGMA(GCC unroll 2)
      for (int j = 0; j < 2; ++j) {
        sums add = half;
        if constexpr (Stochastic)
          add = simd::bitcast<sums>((simd::convert<std::uint32_t>(simd::load<bits>(rnd.row(r) + lanes * j)) << left) >> right);
        v[j] = (c[r][j] >> shift) + (((c[r][j] & mask) + add) >> shift);  // the second sum is ≥ 0: >> is the logical shift
        v[j] = simd::clamp(v[j] + (rb + cb[j]), lo, hi);
      }
      store_part(C + r * ldc, simd::pack_saturate(v[0], v[1]), cols);
    }
  }
};

#else
// Any other CPU: the same tile in plain integer arithmetic, summed modulo 2^32 as the vector
// instructions do (exact by the chunk bound).
struct tile {
  std::int32_t c[mr][nr];

  STRATA_INLINE void run(std::int64_t kp, const std::uint32_t* Ap, const std::uint32_t* Bp, const std::int32_t* init) {
    for (int r = 0; r < mr; ++r)
      for (int j = 0; j < nr; ++j) c[r][j] = init ? init[r * nr + j] : 0;
    for (std::int64_t t = 0; t < kp; ++t) {
      for (int r = 0; r < mr; ++r) {
        const std::int32_t a0 = std::int16_t(std::uint16_t(Ap[r])), a1 = std::int16_t(std::uint16_t(Ap[r] >> 16));
        for (int j = 0; j < nr; ++j)
          c[r][j] = std::int32_t(std::uint32_t(c[r][j]) + std::uint32_t(a0 * std::int16_t(std::uint16_t(Bp[j]))) +
                                 std::uint32_t(a1 * std::int16_t(std::uint16_t(Bp[j] >> 16))));
      }
      Ap += mr;
      Bp += nr;
    }
  }

  template <int Blocks>
  void run_with_bits(std::int64_t kp, const std::uint32_t* Ap, const std::uint32_t* Bp, const std::int32_t* init,
                     const requant_plan& q, std::int64_t i0, std::int64_t j0, tile_random& rnd) {
    philox_tile<Blocks>(tile_offsets(q, i0, j0, rnd), q.index.row_stride, q, rnd.words);
    run(kp, Ap, Bp, init);
  }

  static std::int64_t widen(std::int32_t v, bool wrap) {
    return wrap && v == std::numeric_limits<std::int32_t>::min() ? -std::int64_t(v) : std::int64_t(v);
  }
  void store_i32(std::int32_t* buf) const { std::memcpy(buf, c, sizeof(c)); }
  void store_i32_to(std::int32_t* C, std::int64_t ldc, int rows, int cols) const {
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < cols; ++j) C[r * ldc + j] = c[r][j];
  }
  void store_i64(std::int64_t* C, std::int64_t ldc, int rows, int cols, bool add, bool wrap) const {
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < cols; ++j) C[r * ldc + j] = (add ? C[r * ldc + j] : 0) + widen(c[r][j], wrap);
  }
  void add_i64(std::int64_t* S, bool add, bool wrap) const {
    for (int r = 0; r < mr; ++r)
      for (int j = 0; j < nr; ++j) S[r * nr + j] = (add ? S[r * nr + j] : 0) + widen(c[r][j], wrap);
  }
  template <bool Stochastic>
  void store_i16(const requant_plan& q, const tile_random& rnd, std::int64_t i0, std::int64_t j0, int rows, int cols, std::int16_t* C,
                 std::int64_t ldc) const {
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < cols; ++j)
        C[r * ldc + j] = requantize_one(c[r][j], q, rnd, r, j,
                                        std::int64_t(q.row_bias ? q.row_bias[i0 + r] : 0) + (q.col_bias ? q.col_bias[j0 + j] : 0));
  }
};
#endif

// ---------------------------------------------------------------------------------------------
// The blocked product over packed operands. Output blocks (groups of row blocks × groups of
// panels) go to threads in contiguous ranges; in a block the depth is cut into slices so that a
// panel slice stays in L1 while the block's row blocks stream past it. Between slices a tile's
// sums wait in a per-thread buffer: int32 while the whole depth is one exact chunk, else int64,
// every slice then being one chunk (the "wide" mode).

struct i64_target {
  std::int64_t* C;
  std::int64_t ldc;
  bool accumulate;  // C += product instead of C = product
};
struct i32_target {  // exact in int32: the caller has bounded the sums (one chunk)
  std::int32_t* C;
  std::int64_t ldc;
};
struct i16_target {
  std::int16_t* C;
  std::int64_t ldc;
  const requant_plan* q;
  bool wide;  // the sums go through int64 (several chunks, a shift past 30 or large biases)
};

inline bool worth_threads(std::int64_t m, std::int64_t n, std::int64_t k) {
  return !in_parallel_region() && num_threads() > 1 &&
         double(m) * double(n) * double(std::max<std::int64_t>(k, 1)) >= 64.0 * double(parallel_threshold());
}

// Pairs per int32 chunk: the most whose sum cannot leave int32 (one pair of ±2^31 with wrap).
struct chunking {
  std::int64_t pairs;
  bool wrap;
};
inline chunking chunk_of(const packed_operands& op) {
  const std::int64_t pair = 2 * std::int64_t(op.max_a) * std::int64_t(op.max_b);
  if (pair == 0) return {std::max<std::int64_t>(op.KP, 1), false};
  constexpr std::int64_t limit = std::numeric_limits<std::int32_t>::max();
  if (pair > limit) return {1, true};  // only (−32768)·(−32768) twice gets there
  return {limit / pair, false};
}

template <class Target>
void run_blocks(const packed_operands& op, const Target& out, bool threaded) {
  constexpr bool to_i16 = std::is_same_v<Target, i16_target>, to_i32 = std::is_same_v<Target, i32_target>;
  const std::int64_t KP = op.KP, R = op.R, P = op.P;
  const chunking chunk = chunk_of(op);
  bool wide = false;
  if constexpr (to_i16) wide = out.wide;
  else if constexpr (!to_i32) wide = chunk.pairs < KP;
  const std::int64_t slice = wide ? std::min(chunk.pairs, slice_pairs) : slice_pairs;
  std::int64_t rows_per_group = std::max(1, 128 / mr), panels_per_group = std::max(1, 256 / nr);
  const std::int64_t threads = threaded ? num_threads() : 1;
  auto groups = [&] { return ((R + rows_per_group - 1) / rows_per_group) * ((P + panels_per_group - 1) / panels_per_group); };
  while (threads > 1 && groups() < 2 * threads && (rows_per_group > 1 || panels_per_group > 1)) {
    if (rows_per_group >= panels_per_group && rows_per_group > 1) rows_per_group = (rows_per_group + 1) / 2;
    else panels_per_group = (panels_per_group + 1) / 2;
  }
  const std::int64_t RG = (R + rows_per_group - 1) / rows_per_group, PG = (P + panels_per_group - 1) / panels_per_group;
  constexpr std::int64_t tile_size = std::int64_t(mr) * nr;
  // What waits between slices: int32 partial sums, or int64 ones in the wide mode towards int16
  // (towards int64 the output itself holds them).
  const bool partial32 = KP > slice && !wide, partial64 = to_i16 && wide;

  parallel_ranges(RG * PG, [&](std::int64_t b0, std::int64_t b1) {
    const std::size_t tiles = std::size_t(rows_per_group * panels_per_group * tile_size);
    auto* p32 = partial32 ? static_cast<std::int32_t*>(scratch<2>(tiles * 4)) : nullptr;
    auto* p64 = partial64 ? static_cast<std::int64_t*>(scratch<3>(tiles * 8)) : nullptr;
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t rb0 = (b % RG) * rows_per_group, rb1 = std::min(R, rb0 + rows_per_group);
      const std::int64_t p0 = (b / RG) * panels_per_group, p1 = std::min(P, p0 + panels_per_group);
      for (std::int64_t k0 = 0; k0 < KP; k0 += slice) {
        const std::int64_t kl = std::min(slice, KP - k0);
        const bool first = k0 == 0, last = k0 + kl == KP;
        for (std::int64_t p = p0; p < p1; ++p) {
          const std::uint32_t* Bp = op.B + p * KP * nr + k0 * nr;
          const std::int64_t j0 = p * nr;
          const int cols = int(std::min<std::int64_t>(nr, op.n - j0));
          for (std::int64_t rb = rb0; rb < rb1; ++rb) {
            const std::int64_t t_index = ((rb - rb0) * (p1 - p0) + (p - p0)) * tile_size;
            const std::int64_t i0 = rb * mr;
            const int rows = int(std::min<std::int64_t>(mr, op.m - i0));
            tile_random rnd;
            tile t;
            const std::uint32_t* Ap = op.A + rb * KP * mr + k0 * mr;
            const std::int32_t* init = first || wide ? nullptr : p32 + t_index;
            if constexpr (to_i16) {
              if (!last || !out.q->stochastic) t.run(kl, Ap, Bp, init);
              else if (out.q->aligned) t.template run_with_bits<nr / 8>(kl, Ap, Bp, init, *out.q, i0, j0, rnd);
              else t.template run_with_bits<nr / 8 + 1>(kl, Ap, Bp, init, *out.q, i0, j0, rnd);
            } else {
              t.run(kl, Ap, Bp, init);
            }
            if constexpr (to_i16) {
              if (wide) {
                t.add_i64(p64 + t_index, !first, chunk.wrap);
                if (last) store_i16_from_sums(p64 + t_index, nr, *out.q, rnd, i0, j0, rows, cols, out.C + i0 * out.ldc + j0, out.ldc);
              } else if (last) {
                if (out.q->stochastic) t.template store_i16<true>(*out.q, rnd, i0, j0, rows, cols, out.C + i0 * out.ldc + j0, out.ldc);
                else t.template store_i16<false>(*out.q, rnd, i0, j0, rows, cols, out.C + i0 * out.ldc + j0, out.ldc);
              } else {
                t.store_i32(p32 + t_index);
              }
            } else if constexpr (to_i32) {
              if (last) t.store_i32_to(out.C + i0 * out.ldc + j0, out.ldc, rows, cols);
              else t.store_i32(p32 + t_index);
            } else {
              if (last || wide)
                t.store_i64(out.C + i0 * out.ldc + j0, out.ldc, rows, cols, out.accumulate || (wide && !first), chunk.wrap);
              else
                t.store_i32(p32 + t_index);
            }
          }
        }
      }
    }
  }, 1, threaded ? 1 : std::numeric_limits<std::int64_t>::max());
}

// C64 (+)= op(A)·op(B) exactly.
inline void gemm_exact(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const std::int16_t* A,
                       std::int64_t lda, const std::int16_t* B, std::int64_t ldb, std::int64_t* C, std::int64_t ldc,
                       bool accumulate, bool threaded) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate)
      for (std::int64_t i = 0; i < m; ++i) std::fill(C + i * ldc, C + i * ldc + n, std::int64_t{0});
    return;
  }
  const packed_operands op = pack(trans_a, trans_b, m, n, k, A, lda, B, ldb, threaded);
  run_blocks(op, i64_target{C, ldc, accumulate}, threaded);
}

// C (m×n, ldc) = saturate(round(S) + biases) for exact sums S (m×n, lds): what int16_gemm's store
// does, for sums made elsewhere (a col2im, a batch). Threaded over row blocks.
// C32 = op(A)·op(B) where the caller knows |every partial sum| ≤ k·max|A|·max|B| ≤ 2^31 − 1.
inline void gemm_exact32(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const std::int16_t* A,
                         std::int64_t lda, const std::int16_t* B, std::int64_t ldb, std::int32_t* C, std::int64_t ldc,
                         bool threaded) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (std::int64_t i = 0; i < m; ++i) std::fill(C + i * ldc, C + i * ldc + n, 0);
    return;
  }
  run_blocks(pack(trans_a, trans_b, m, n, k, A, lda, B, ldb, threaded), i32_target{C, ldc}, threaded);
}

template <class Sum>
void requantize_matrix(const Sum* S, std::int64_t lds, std::int64_t m, std::int64_t n, std::int16_t* C,
                              std::int64_t ldc, const requant_plan& q, bool threaded) {
  const std::int64_t R = (m + mr - 1) / mr, P = (n + nr - 1) / nr;
  parallel_ranges(R, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t rb = r0; rb < r1; ++rb)
      for (std::int64_t p = 0; p < P; ++p) {
        const std::int64_t i0 = rb * mr, j0 = p * nr;
        tile_random rnd;
        if (q.stochastic) tile_bits(q, i0, j0, rnd);
        store_i16_from_sums(S + i0 * lds + j0, lds, q, rnd, i0, j0, int(std::min<std::int64_t>(mr, m - i0)),
                           int(std::min<std::int64_t>(nr, n - j0)), C + i0 * ldc + j0, ldc);
      }
  }, 1, threaded && double(m) * double(n) >= double(parallel_threshold()) ? 1 : std::numeric_limits<std::int64_t>::max());
}

inline std::int64_t max_abs_bias(const std::int32_t* b, std::int64_t n) {
  std::int64_t m = 0;
  if (b)
    for (std::int64_t i = 0; i < n; ++i) m = std::max(m, b[i] < 0 ? -std::int64_t(b[i]) : std::int64_t(b[i]));
  return m;
}

// The same over operands packed already (k > 0): the fused int32 store where it is exact, else
// through int64.
inline void gemm_requantized_packed(const packed_operands& op, std::int16_t* C, std::int64_t ldc, const requant_plan& plan,
                                    bool threaded) {
  // The int32 store needs one exact chunk, the shift's offsets within int32, and room for the
  // biases next to the rounded value (|sum| ≤ KP·pair ≤ 2^31 − 1 when there is one chunk).
  const chunking chunk = chunk_of(op);
  bool wide = chunk.pairs < op.KP || chunk.wrap || plan.shift > 30;
  if (!wide) {
    const std::int64_t bound = op.KP * 2 * std::int64_t(op.max_a) * op.max_b;
    wide = (bound >> plan.shift) + 1 + max_abs_bias(plan.row_bias, op.m) + max_abs_bias(plan.col_bias, op.n) >
           std::numeric_limits<std::int32_t>::max();
  }
  run_blocks(op, i16_target{C, ldc, &plan, wide}, threaded);
}

// C = saturate(round(op(A)·op(B)) + biases), the random bits of element (i, j) at index e.base +
// i·e.row_stride + j.
inline void gemm_requantized(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                             const std::int16_t* A, std::int64_t lda, const std::int16_t* B, std::int64_t ldb,
                             std::int16_t* C, std::int64_t ldc, const requantize& q, const std::int32_t* row_bias,
                             const std::int32_t* col_bias, element_index e, bool threaded) {
  check(q);
  if (m <= 0 || n <= 0) return;
  const requant_plan plan(q, row_bias, col_bias, e);
  if (k <= 0) {  // round(0) is 0 for any r < 2^shift
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j)
        C[i * ldc + j] = saturate(std::int64_t(row_bias ? row_bias[i] : 0) + (col_bias ? col_bias[j] : 0), q.lo, q.hi);
    return;
  }
  gemm_requantized_packed(pack(trans_a, trans_b, m, n, k, A, lda, B, ldb, threaded), C, ldc, plan, threaded);
}

}  // namespace int16_detail

// C (m×n, ldc) = saturate(round(op(A)·op(B)) [+ bias]), op(A) m×k, op(B) k×n, all int16 row-major
// with leading dimensions; trans_a means A is stored k×m, trans_b means B is stored n×k. row_bias
// (length m) / col_bias (length n), optional, are int32 in output units (added after rounding,
// before saturation). Exact for any values and depth; threaded over output blocks.
inline void int16_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const std::int16_t* A,
                       std::int64_t lda, const std::int16_t* B, std::int64_t ldb, std::int16_t* C, std::int64_t ldc,
                       const requantize& q, const std::int32_t* row_bias = nullptr,
                       const std::int32_t* col_bias = nullptr) {
  int16_detail::gemm_requantized(trans_a, trans_b, m, n, k, A, lda, B, ldb, C, ldc, q, row_bias, col_bias,
                                 {0, std::uint64_t(std::max<std::int64_t>(n, 0))}, int16_detail::worth_threads(m, n, k));
}

// C (m×n, ldc) = op(A)·op(B) as exact int64 sums, no rounding.
inline void int16_gemm_exact(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                             const std::int16_t* A, std::int64_t lda, const std::int16_t* B, std::int64_t ldb,
                             std::int64_t* C, std::int64_t ldc) {
  int16_detail::gemm_exact(trans_a, trans_b, m, n, k, A, lda, B, ldb, C, ldc, false, int16_detail::worth_threads(m, n, k));
}

}  // namespace strata::kernels::cpu

