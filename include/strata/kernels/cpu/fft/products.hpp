// strata/kernels/cpu/fft/products.hpp — the FFT convolution's per-frequency complex matrix
// products: for every group of B frequency bins (one per SIMD lane), out = op(A)·Bm summed over
// channels or images, with op conjugation or identity.
#pragma once

#include <algorithm>
#include <cstdint>

#include "strata/core/parallel.hpp"
#include "strata/kernels/cpu/fft/spectra.hpp"
#include "strata/kernels/cpu/simd.hpp"

namespace strata::kernels::cpu::fft {

// The per-frequency complex products. For one group of B bins (all SIMD lanes at once):
//   out(i, j) (+)= Σ_l op(A(i, l)) · Bm(l, j),   op = conjugate or identity,
// every operand a complex B-vector of E scalars (B real parts, then B imaginary parts) at the
// given strides (in scalars).
//
// The micro-kernel computes MI×1 outputs and keeps the four real products ar·br, ai·bi, ar·bi,
// ai·br in separate accumulators (combined only at the end, where conjugation is a sign): each
// accumulator then takes one FMA per step, so 4·MI independent chains hide the FMA latency,
// whereas re/im accumulators would chain two dependent FMAs per step. MI = 3: 12 accumulators,
// one B value (2 registers) and one A value at a time fit the 16 AVX registers.

template <class T, int MI>
inline void product_block(std::int64_t L, const T* A, std::int64_t a_si, std::int64_t a_sl, const T* Bm,
                          std::int64_t b_sl, T* O, std::int64_t o_si, bool conj_a, bool accumulate,
                          const char* prefetch, std::int64_t prefetch_lines, const char* prefetch2,
                          std::int64_t prefetch2_lines) {
  using V = fft_vec<T>;
  constexpr std::int64_t B = fft_lanes<T>;
  V rr[MI], ii[MI], ri[MI], ir[MI];
#pragma GCC unroll 4
  for (int i = 0; i < MI; ++i) rr[i] = ii[i] = ri[i] = ir[i] = simd::zero<V>();
  for (std::int64_t l = 0; l < L; ++l) {
    if (l < prefetch_lines) __builtin_prefetch(prefetch + 64 * l, 0, 2);
    if (l < prefetch2_lines) __builtin_prefetch(prefetch2 + 64 * l, 0, 2);
    const T* bp = Bm + l * b_sl;
    const V br = simd::load_aligned<V>(bp), bi = simd::load_aligned<V>(bp + B);
#pragma GCC unroll 4
    for (int i = 0; i < MI; ++i) {
      const T* ap = A + i * a_si + l * a_sl;
      const V ar = simd::load_aligned<V>(ap), ai = simd::load_aligned<V>(ap + B);
      rr[i] = simd::fma(ar, br, rr[i]);
      ii[i] = simd::fma(ai, bi, ii[i]);
      ri[i] = simd::fma(ar, bi, ri[i]);
      ir[i] = simd::fma(ai, br, ir[i]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MI; ++i) {
    // (ar − i·ai)(br + i·bi) when conjugating A, (ar + i·ai)(br + i·bi) otherwise.
    V re = conj_a ? rr[i] + ii[i] : rr[i] - ii[i];
    V im = conj_a ? ri[i] - ir[i] : ri[i] + ir[i];
    T* op = O + i * o_si;
    if (accumulate) {
      re += simd::load_aligned<V>(op);
      im += simd::load_aligned<V>(op + B);
    }
    simd::store_aligned(op, re);
    simd::store_aligned(op + B, im);
  }
}

// The next bin group's data, fetched into cache while this group computes: each group's
// filter spectra are a fresh 64·K·C bytes from memory, read in rows of a page or so, which the
// hardware prefetchers (that stop at page boundaries) do not run ahead of. Two ranges: the
// next group's A and B operands (the large one and the other).
struct prefetch_plan {
  const char* begin[2] = {nullptr, nullptr};
  std::int64_t lines[2] = {0, 0};  // 64-byte lines from begin
};

// All M×Nj outputs of one bin group: strips of 3 rows of A (then 2 or 1 at the edge), each strip
// against every column j while it is hot in L1. The next group's lines are prefetched evenly
// across the blocks.
template <class T>
void product_group(std::int64_t M, std::int64_t Nj, std::int64_t L, const T* A, std::int64_t a_si, std::int64_t a_sl,
                   const T* Bm, std::int64_t b_sl, std::int64_t b_sj, T* O, std::int64_t o_si, std::int64_t o_sj,
                   bool conj_a, bool accumulate, prefetch_plan next = {}) {
  const std::int64_t blocks = (M / 3 + (M % 3 != 0)) * Nj;
  std::int64_t block = 0;
  const char* pf[2];
  std::int64_t pl[2];
  const auto plan_block = [&] {
    for (int r = 0; r < 2; ++r) {
      const std::int64_t first = next.lines[r] * block / blocks, last = next.lines[r] * (block + 1) / blocks;
      pf[r] = next.begin[r] + 64 * first;
      pl[r] = std::min(last - first, L);
    }
    ++block;
  };
  std::int64_t i = 0;
  for (; i + 3 <= M; i += 3)
    for (std::int64_t j = 0; j < Nj; ++j) {
      plan_block();
      product_block<T, 3>(L, A + i * a_si, a_si, a_sl, Bm + j * b_sj, b_sl, O + i * o_si + j * o_sj, o_si, conj_a,
                          accumulate, pf[0], pl[0], pf[1], pl[1]);
    }
  if (M - i == 2)
    for (std::int64_t j = 0; j < Nj; ++j) {
      plan_block();
      product_block<T, 2>(L, A + i * a_si, a_si, a_sl, Bm + j * b_sj, b_sl, O + i * o_si + j * o_sj, o_si, conj_a,
                          accumulate, pf[0], pl[0], pf[1], pl[1]);
    }
  else if (M - i == 1)
    for (std::int64_t j = 0; j < Nj; ++j) {
      plan_block();
      product_block<T, 1>(L, A + i * a_si, a_si, a_sl, Bm + j * b_sj, b_sl, O + i * o_si + j * o_sj, o_si, conj_a,
                          accumulate, pf[0], pl[0], pf[1], pl[1]);
    }
}

// Splits the bin groups across the threads; body(v) computes group v.
template <class Body>
void over_groups(std::int64_t vecs, Body&& body) {
  parallel_chunks(vecs, std::min<std::int64_t>(num_threads(), vecs), [&](std::int64_t, std::int64_t b, std::int64_t e) {
    for (std::int64_t v = b; v < e; ++v) body(v);
  });
}

// The slabs of bin group v + 1 of two grouped arrays (either may be null), for product_group to
// prefetch.
template <class T>
prefetch_plan next_slabs(std::int64_t v, std::int64_t vecs, const T* a, const grouped_layout<T>& la, const T* b,
                         const grouped_layout<T>& lb) {
  prefetch_plan p;
  if (v + 1 >= vecs) return p;
  constexpr std::int64_t line = 64 / std::int64_t(sizeof(T));
  if (a) p.begin[0] = reinterpret_cast<const char*>(a + (v + 1) * la.slab()), p.lines[0] = la.slab() / line;
  if (b) p.begin[1] = reinterpret_cast<const char*>(b + (v + 1) * lb.slab()), p.lines[1] = lb.slab() / line;
  return p;
}

}  // namespace strata::kernels::cpu::fft
