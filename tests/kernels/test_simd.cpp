// The SIMD layer on the target's width and on pinned widths: loads and stores (aligned,
// unaligned, streaming), broadcast, fma (fused: one rounding), horizontal sums, the lanes×lanes
// transpose, complex (de)interleaving, the 8-float half operations, and integer lanes through
// the same operators.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "strata/kernels/cpu/simd.hpp"

namespace simd = strata::kernels::cpu::simd;

namespace {

template <class V>
V iota(int start) {
  V v;
  for (int i = 0; i < simd::lanes_of<V>; ++i) v[i] = simd::scalar_of<V>(start + i);
  return v;
}

template <class V>
void check_basics() {
  using S = simd::scalar_of<V>;
  constexpr int n = simd::lanes_of<V>;
  alignas(64) S buf[2 * n + 1];
  for (int i = 0; i < 2 * n + 1; ++i) buf[i] = S(i);
  const V a = simd::load<V>(buf + 1);
  for (int i = 0; i < n; ++i) CHECK(a[i] == S(i + 1));
  const V b = simd::load_aligned<V>(buf);
  simd::store(buf + 1, b);
  for (int i = 0; i < n; ++i) CHECK(buf[i + 1] == S(i));
  simd::store_stream(buf, a);
  simd::stream_fence();
  for (int i = 0; i < n; ++i) CHECK(buf[i] == S(i + 1));
  const V c = simd::broadcast<V>(S(3)) * a + simd::zero<V>();
  for (int i = 0; i < n; ++i) CHECK(c[i] == S(3 * (i + 1)));
  CHECK(simd::hsum(a) == S(n * (n + 1) / 2));
}

template <class V>
void check_transpose() {
  constexpr int n = simd::lanes_of<V>;
  V r[n];
  for (int i = 0; i < n; ++i) r[i] = iota<V>(i * n);
  simd::transpose(r);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) CHECK(r[i][j] == simd::scalar_of<V>(j * n + i));
}

template <class V>
void check_interleave() {
  constexpr int n = simd::lanes_of<V>;
  const V lo = iota<V>(0), hi = iota<V>(n);  // re0 im0 re1 im1 …
  V re, im;
  simd::deinterleave(lo, hi, re, im);
  for (int i = 0; i < n; ++i) CHECK((re[i] == 2 * i && im[i] == 2 * i + 1));
  V lo2, hi2;
  simd::interleave(re, im, lo2, hi2);
  for (int i = 0; i < n; ++i) CHECK((lo2[i] == lo[i] && hi2[i] == hi[i]));
}

template <class V>
void check_fma() {
  using S = simd::scalar_of<V>;
  // (1 + e)(1 − e) − 1 = −e² exactly with one rounding, 0 with two.
  const S e = std::is_same_v<S, float> ? S(1.0 / 4096) : S(1.0 / (1 << 30));
  const V r = simd::fma(simd::broadcast<V>(1 + e), simd::broadcast<V>(1 - e), simd::broadcast<V>(-1));
  if (simd::has_fma) CHECK(r[0] == -e * e);
  else CHECK((r[0] == -e * e || r[0] == 0));
}

}  // namespace

TEST_CASE("simd: the target width", "[kernels][simd]") {
  CHECK(simd::lanes<float> * sizeof(float) == (simd::register_bytes ? simd::register_bytes : sizeof(float)));
  CHECK(simd::lanes<double> == std::max<int>(1, simd::lanes<float> / 2));
}

TEST_CASE("simd: loads, stores, broadcast and sums", "[kernels][simd]") {
  check_basics<simd::vec<float>>();
  check_basics<simd::vec<double>>();
  check_basics<simd::vec<float, 16>>();
  check_basics<simd::vec<double, 16>>();
  check_basics<simd::vec<float, 4>>();
  check_basics<simd::vec<std::int32_t>>();
  check_basics<simd::vec<std::int16_t>>();
}

TEST_CASE("simd: transposes and complex shuffles", "[kernels][simd]") {
  check_transpose<simd::vec<float>>();
  check_transpose<simd::vec<double>>();
  check_transpose<simd::vec<float, 16>>();
  check_transpose<simd::vec<double, 16>>();
  check_transpose<simd::vec<float, 64>>();
  check_transpose<simd::vec<float, 4>>();
  check_interleave<simd::vec<float>>();
  check_interleave<simd::vec<double>>();
  check_interleave<simd::vec<float, 16>>();
  check_interleave<simd::vec<double, 8>>();
}

TEST_CASE("simd: fma rounds once", "[kernels][simd]") {
  check_fma<simd::vec<float>>();
  check_fma<simd::vec<double>>();
}

TEST_CASE("simd: eight floats as two halves", "[kernels][simd]") {
  using V8 = simd::vec<float, 32>;
  const float lo[4] = {0, 1, 2, 3}, hi[4] = {4, 5, 6, 7};
  const V8 v = simd::load_halves(lo, hi);
  for (int i = 0; i < 8; ++i) CHECK(v[i] == float(i));
  const auto l = simd::low_half(v), h = simd::high_half(v);
  for (int i = 0; i < 4; ++i) CHECK((l[i] == float(i) && h[i] == float(4 + i)));
  V8 o[4];
  simd::transpose4_halves(iota<V8>(0), iota<V8>(8), iota<V8>(16), iota<V8>(24), o);
  for (int j = 0; j < 4; ++j)
    for (int i = 0; i < 4; ++i) CHECK((o[j][i] == float(8 * i + j) && o[j][4 + i] == float(8 * i + 4 + j)));
}
