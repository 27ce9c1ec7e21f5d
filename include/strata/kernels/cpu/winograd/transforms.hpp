// strata/kernels/cpu/winograd/transforms.hpp — the Winograd F(m×m, 3×3) transforms for m = 2 and 4
// (Lavin & Gray 2015) as 1-D maps on any number-like type, and one tile computed by the definition.
#pragma once

#include <cstdint>

#include "strata/config.hpp"

namespace strata::kernels::cpu {

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

}  // namespace strata::kernels::cpu
