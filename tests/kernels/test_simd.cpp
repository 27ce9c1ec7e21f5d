// The SIMD layer on the target's width and on pinned widths: loads and stores (aligned,
// unaligned, streaming, first lanes, masked), broadcast, fma (fused: one rounding), horizontal sums
// and maxima, the lanes×lanes transpose, (de)interleaving of any lane type, halves, the 8-float
// half operations, integer lanes through the same operators, and the fixed-point kernels'
// integer operations against scalar definitions: pairwise int16 multiply-add, the widening 32-bit
// multiply, |x|, min/max/clamp, conversions and the saturating pack.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "strata/kernels/cpu/simd.hpp"

namespace simd = strata::kernels::cpu::simd;

// 64-byte vectors on a baseline target: the helpers below pass them by value, which GCC notes
// would differ across an ABI boundary (none here).
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

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
  using S = simd::scalar_of<V>;
  for (int i = 0; i < n; ++i) CHECK((re[i] == S(2 * i) && im[i] == S(2 * i + 1)));
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

// ---------------------------------------------------------------------------------------------
// Integer operations.

namespace {

// Lanes of V from a seeded generator, over the whole range of the lane type.
template <class V>
V random_vec(std::mt19937_64& rng) {
  V v;
  for (int i = 0; i < simd::lanes_of<V>; ++i) v[i] = simd::scalar_of<V>(rng());
  return v;
}

// load_first / store_first and load_masked / store_masked read and write exactly the lanes asked
// for: the others come back 0, and the values around the stored lanes stay as they were.
template <class V>
void check_partial_moves() {
  using S = simd::scalar_of<V>;
  constexpr int n = simd::lanes_of<V>;
  std::vector<S> src(n + 2), dst(n + 2);
  for (int i = 0; i < n + 2; ++i) src[std::size_t(i)] = S(i + 1);
  const V v = simd::load<V>(src.data() + 1);
  for (int k = 0; k <= n; ++k) {
    const V a = simd::load_first<V>(src.data() + 1, k);
    for (int i = 0; i < n; ++i) CHECK(a[i] == (i < k ? S(i + 2) : S(0)));
    std::fill(dst.begin(), dst.end(), S(99));
    simd::store_first(dst.data() + 1, v, k);
    CHECK(dst[0] == S(99));
    for (int i = 0; i < n; ++i) CHECK(dst[std::size_t(i + 1)] == (i < k ? S(i + 2) : S(99)));
    CHECK(dst[std::size_t(n + 1)] == S(99));
  }
  const std::uint64_t masks[] = {0, 1, 0x5555555555555555u, 0xF0F0F0F0F0F0F0F0u, std::uint64_t{1} << (n - 1), ~std::uint64_t{0}};
  for (const std::uint64_t m : masks) {
    const V a = simd::load_masked<V>(src.data() + 1, m);
    std::fill(dst.begin(), dst.end(), S(99));
    simd::store_masked(dst.data() + 1, v, m);
    CHECK(dst[0] == S(99));
    CHECK(dst[std::size_t(n + 1)] == S(99));
    for (int i = 0; i < n; ++i) {
      const bool on = (m >> i) & 1;
      CHECK(a[i] == (on ? S(i + 2) : S(0)));
      CHECK(dst[std::size_t(i + 1)] == (on ? S(i + 2) : S(99)));
    }
  }
}

// madd_pairs against the scalar definition, modulo 2^32, on random values and on the extremes.
template <std::size_t Bytes>
void check_madd_pairs() {
  using A = simd::vec<std::int32_t, Bytes>;
  using W = simd::vec<std::uint32_t, Bytes>;  // pair words, as the packed GEMM holds them
  using H = simd::vec<std::int16_t, Bytes>;
  constexpr int n = simd::lanes_of<A>;
  std::mt19937_64 rng(Bytes);
  auto expect = [](std::int32_t acc, std::uint32_t a, std::uint32_t b) {
    const std::int64_t lo = std::int64_t(std::int16_t(a & 0xFFFF)) * std::int16_t(b & 0xFFFF);
    const std::int64_t hi = std::int64_t(std::int16_t(a >> 16)) * std::int16_t(b >> 16);
    return std::int32_t(std::uint32_t(acc) + std::uint32_t(lo) + std::uint32_t(hi));
  };
  for (int round = 0; round < 50; ++round) {
    A acc = random_vec<A>(rng);
    W a = random_vec<W>(rng), b = random_vec<W>(rng);
    if (round == 0) a = b = simd::broadcast<W>(0x80008000u);                          // (−32768)² twice = 2^31
    if (round == 1) acc = simd::broadcast<A>(std::numeric_limits<std::int32_t>::max());  // the sum wraps
    const A r = simd::madd_pairs(acc, a, b);
    for (int i = 0; i < n; ++i) CHECK(r[i] == expect(acc[i], a[i], b[i]));
    // the same bytes as int16 lanes
    const A r16 = simd::madd_pairs(acc, simd::bitcast<H>(a), simd::bitcast<H>(b));
    for (int i = 0; i < n; ++i) CHECK(r16[i] == r[i]);
  }
  const A r = simd::madd_pairs(simd::zero<A>(), simd::broadcast<W>(0x80008000u), simd::broadcast<W>(0x80008000u));
  CHECK(r[0] == std::numeric_limits<std::int32_t>::min());
}

template <class V>
void check_mul_u32_wide() {
  constexpr int n = simd::lanes_of<V>;
  using S = simd::scalar_of<V>;
  std::mt19937_64 rng(n);
  for (int round = 0; round < 50; ++round) {
    V a = random_vec<V>(rng), b = random_vec<V>(rng);  // the high halves are junk to ignore
    if (round == 0) a = b = simd::broadcast<V>(S(~std::uint64_t{0}));
    const V r = simd::mul_u32_wide(a, b);
    for (int i = 0; i < n; ++i)
      CHECK(std::uint64_t(r[i]) == (std::uint64_t(a[i]) & 0xFFFFFFFFu) * (std::uint64_t(b[i]) & 0xFFFFFFFFu));
  }
}

template <class V>
void check_min_max_abs() {
  using S = simd::scalar_of<V>;
  using U = std::make_unsigned_t<S>;
  constexpr int n = simd::lanes_of<V>;
  std::mt19937_64 rng(sizeof(V) + sizeof(S));
  for (int round = 0; round < 20; ++round) {
    V a = random_vec<V>(rng), b = random_vec<V>(rng);
    a[0] = std::numeric_limits<S>::min(), b[n - 1] = std::numeric_limits<S>::max();
    const S l0 = S(rng() % 1000), h0 = S(l0 + 1000);
    const V lo = simd::broadcast<V>(S(-h0)), hi = simd::broadcast<V>(l0);
    const V mn = simd::min(a, b), mx = simd::max(a, b), c = simd::clamp(a, lo, hi);
    const auto ab = simd::abs(a);
    static_assert(std::is_same_v<simd::scalar_of<decltype(ab)>, U>);
    S most = a[0];
    for (int i = 0; i < n; ++i) {
      CHECK(mn[i] == std::min(a[i], b[i]));
      CHECK(mx[i] == std::max(a[i], b[i]));
      CHECK(c[i] == std::clamp(a[i], S(-h0), l0));
      CHECK(ab[i] == (a[i] < 0 ? U(U(0) - U(a[i])) : U(a[i])));
      most = std::max(most, a[i]);
    }
    CHECK(simd::hmax(a) == most);
  }
  const auto m = simd::abs(simd::broadcast<V>(std::numeric_limits<S>::min()));
  CHECK(m[0] == U(U(1) << (8 * sizeof(S) - 1)));  // |−32768| = 32768
}

// convert<T> against static_cast, lane by lane.
template <class T, class V>
void check_convert() {
  constexpr int n = simd::lanes_of<V>;
  std::mt19937_64 rng(sizeof(T) * 100 + sizeof(V));
  for (int round = 0; round < 10; ++round) {
    const V v = random_vec<V>(rng);
    const auto r = simd::convert<T>(v);
    static_assert(simd::lanes_of<decltype(r)> == n && std::is_same_v<simd::scalar_of<decltype(r)>, T>);
    for (int i = 0; i < n; ++i) CHECK(r[i] == static_cast<T>(v[i]));
  }
}

template <std::size_t Bytes>
void check_pack_saturate() {
  using V = simd::vec<std::int32_t, Bytes>;
  constexpr int n = simd::lanes_of<V>;
  std::mt19937_64 rng(Bytes);
  for (int round = 0; round < 20; ++round) {
    V a = random_vec<V>(rng), b = random_vec<V>(rng);
    for (int i = 0; i < n; ++i)
      if (round % 2) a[i] = std::int32_t(a[i] % 40000), b[i] = std::int32_t(b[i] % 40000);  // near the int16 range
    const auto r = simd::pack_saturate(a, b);
    static_assert(simd::lanes_of<decltype(r)> == 2 * n);
    for (int i = 0; i < n; ++i) {
      CHECK(r[i] == std::clamp<std::int32_t>(a[i], -32768, 32767));
      CHECK(r[n + i] == std::clamp<std::int32_t>(b[i], -32768, 32767));
    }
  }
}

template <class V>
void check_halves() {
  constexpr int n = simd::lanes_of<V>;
  const V v = iota<V>(1);
  const auto lo = simd::low_half(v), hi = simd::high_half(v);
  static_assert(simd::lanes_of<decltype(lo)> == n / 2);
  for (int i = 0; i < n / 2; ++i) CHECK((lo[i] == v[i] && hi[i] == v[n / 2 + i]));
}

template <class V>
void check_bitcast() {
  using W = simd::vec<std::uint8_t, sizeof(V)>;
  const V v = iota<V>(1);
  const W w = simd::bitcast<W>(v);
  for (int i = 0; i < int(sizeof(V)); ++i) CHECK(w[i] == reinterpret_cast<const std::uint8_t*>(&v)[i]);
  const V back = simd::bitcast<V>(w);
  for (int i = 0; i < simd::lanes_of<V>; ++i) CHECK(back[i] == v[i]);
}

}  // namespace

TEST_CASE("simd: partial loads and stores touch only their lanes, for every lane type", "[kernels][simd]") {
  check_partial_moves<simd::vec<float>>();
  check_partial_moves<simd::vec<double>>();
  check_partial_moves<simd::vec<float, 32>>();
  check_partial_moves<simd::vec<float, 64>>();
  check_partial_moves<simd::vec<std::int8_t, 64>>();
  check_partial_moves<simd::vec<std::int16_t, 16>>();
  check_partial_moves<simd::vec<std::int16_t, 32>>();
  check_partial_moves<simd::vec<std::int16_t, 64>>();
  check_partial_moves<simd::vec<std::uint16_t, 64>>();
  check_partial_moves<simd::vec<std::int32_t, 16>>();
  check_partial_moves<simd::vec<std::int32_t, 32>>();
  check_partial_moves<simd::vec<std::int32_t, 64>>();
  check_partial_moves<simd::vec<std::uint32_t, 32>>();
  check_partial_moves<simd::vec<std::int64_t, 16>>();
  check_partial_moves<simd::vec<std::int64_t, 32>>();
  check_partial_moves<simd::vec<std::int64_t, 64>>();
  check_partial_moves<simd::vec<std::int32_t, 4>>();
}

TEST_CASE("simd: madd_pairs sums int16 products in pairs modulo 2^32", "[kernels][simd]") {
  check_madd_pairs<16>();
  check_madd_pairs<32>();
  check_madd_pairs<64>();
  check_madd_pairs<4>();  // one lane
}

TEST_CASE("simd: mul_u32_wide is the full product of the low 32-bit halves", "[kernels][simd]") {
  check_mul_u32_wide<simd::vec<std::uint64_t, 16>>();
  check_mul_u32_wide<simd::vec<std::uint64_t, 32>>();
  check_mul_u32_wide<simd::vec<std::uint64_t, 64>>();
  check_mul_u32_wide<simd::vec<std::int64_t, 64>>();
  check_mul_u32_wide<simd::vec<std::uint64_t, 8>>();
}

TEST_CASE("simd: xor3 is a ^ b ^ c, and masked moves are claimed where AVX-512 has them", "[kernels][simd]") {
  std::mt19937_64 rng(3);
  auto check_xor3 = [&](auto zero) {
    using V = decltype(zero);
    const V a = random_vec<V>(rng), b = random_vec<V>(rng), c = random_vec<V>(rng), r = simd::xor3(a, b, c);
    for (int i = 0; i < simd::lanes_of<V>; ++i) CHECK(r[i] == (a[i] ^ b[i] ^ c[i]));
  };
  check_xor3(simd::vec<std::uint64_t, 64>{});
  check_xor3(simd::vec<std::uint64_t, 32>{});
  check_xor3(simd::vec<std::uint64_t, 16>{});
  check_xor3(simd::vec<std::uint32_t, 64>{});
  check_xor3(simd::vec<std::uint64_t, 8>{});
#if defined(__AVX512BW__) && defined(__AVX512VL__)
  CHECK(simd::has_masked_moves<simd::vec<std::int16_t, 64>>);
  CHECK(simd::has_masked_moves<simd::vec<std::int16_t, 16>>);
#endif
#if defined(__AVX512F__)
  CHECK(simd::has_masked_moves<simd::vec<float, 64>>);
  CHECK(simd::has_masked_moves<simd::vec<std::int64_t, 64>>);
#else
  CHECK_FALSE(simd::has_masked_moves<simd::vec<float, 64>>);
  CHECK_FALSE(simd::has_masked_moves<simd::vec<std::int32_t, 32>>);  // AVX2's vpmaskmovd is not one of them
#endif
  CHECK_FALSE(simd::has_masked_moves<simd::vec<float, 4>>);
}

TEST_CASE("simd: min, max, clamp, hmax and abs of integer lanes", "[kernels][simd]") {
  check_min_max_abs<simd::vec<std::int16_t, 16>>();
  check_min_max_abs<simd::vec<std::int16_t, 32>>();
  check_min_max_abs<simd::vec<std::int16_t, 64>>();
  check_min_max_abs<simd::vec<std::int32_t, 16>>();
  check_min_max_abs<simd::vec<std::int32_t, 32>>();
  check_min_max_abs<simd::vec<std::int32_t, 64>>();
  check_min_max_abs<simd::vec<std::int64_t, 32>>();
  check_min_max_abs<simd::vec<std::int64_t, 64>>();
  CHECK(simd::hmax(iota<simd::vec<float>>(-3)) == float(simd::lanes<float> - 4));
  using U16 = simd::vec<std::uint16_t, 32>;
  const auto u = simd::max(simd::broadcast<U16>(0x8000), simd::broadcast<U16>(1));
  CHECK(u[0] == 0x8000);  // unsigned comparison
}

TEST_CASE("simd: convert widens and narrows lane by lane as static_cast does", "[kernels][simd]") {
  check_convert<std::int32_t, simd::vec<std::int16_t, 16>>();
  check_convert<std::int32_t, simd::vec<std::int16_t, 32>>();
  check_convert<std::int32_t, simd::vec<std::uint16_t, 16>>();
  check_convert<std::int32_t, simd::vec<std::uint16_t, 32>>();
  check_convert<std::int64_t, simd::vec<std::uint16_t, 16>>();
  check_convert<std::int64_t, simd::vec<std::int16_t, 16>>();
  check_convert<std::int64_t, simd::vec<std::int32_t, 16>>();
  check_convert<std::int64_t, simd::vec<std::int32_t, 32>>();
  check_convert<std::uint64_t, simd::vec<std::uint32_t, 32>>();
  check_convert<std::int16_t, simd::vec<std::int32_t, 32>>();
  check_convert<std::int16_t, simd::vec<std::int32_t, 64>>();
  check_convert<std::int16_t, simd::vec<std::int64_t, 64>>();
  check_convert<float, simd::vec<std::int32_t, 32>>();
}

TEST_CASE("simd: pack_saturate narrows two int32 vectors to int16 in order", "[kernels][simd]") {
  check_pack_saturate<16>();
  check_pack_saturate<32>();
  check_pack_saturate<64>();
  check_pack_saturate<8>();
}

TEST_CASE("simd: interleaving, transposes, halves and bitcasts of integer lanes", "[kernels][simd]") {
  check_interleave<simd::vec<std::int16_t, 16>>();
  check_interleave<simd::vec<std::int16_t, 32>>();
  check_interleave<simd::vec<std::int16_t, 64>>();
  check_interleave<simd::vec<std::uint64_t, 32>>();
  check_interleave<simd::vec<std::uint64_t, 64>>();
  check_interleave<simd::vec<std::int8_t, 64>>();
  check_interleave<simd::vec<std::int32_t, 4>>();  // one lane
  check_transpose<simd::vec<std::int32_t, 32>>();
  check_transpose<simd::vec<std::uint32_t, 32>>();
  check_transpose<simd::vec<std::int32_t>>();
  check_halves<simd::vec<float, 32>>();
  check_halves<simd::vec<float, 64>>();
  check_halves<simd::vec<std::int32_t, 32>>();
  check_halves<simd::vec<std::int32_t, 64>>();
  check_halves<simd::vec<std::int16_t, 32>>();
  check_halves<simd::vec<std::uint64_t, 64>>();
  check_halves<simd::vec<double, 16>>();
  check_bitcast<simd::vec<std::int32_t, 64>>();
  check_bitcast<simd::vec<float, 16>>();
}
