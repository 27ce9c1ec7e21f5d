// strata/kernels/cpu/simd.hpp — the one SIMD layer of strata's CPU kernels: vec<T> is a vector of
// T as wide as the compile target's widest register (AVX-512, AVX/AVX2, SSE2 or NEON, else one
// lane), with loads and stores, fma, broadcast, horizontal sum, transposes and complex shuffles.
//
// Why GCC/Clang vector extensions and not a class over intrinsics: arithmetic (+ − × ÷, also
// scalar ⊕ vector) works on them for every lane type, integers included, so templates written
// for a scalar type (Winograd's transforms) run unchanged on vectors, and an int16 or bit-packed
// kernel only adds the few operations of its own (vpmaddwd, popcount) as functions here. Where a
// builtin operator cannot say what is wanted (a fused multiply-add in an ISO build, streaming
// stores, in-register transposes), the functions below use the target's intrinsics and fall back
// to portable code; nothing here needs an ABI the target lacks.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "strata/config.hpp"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

// 32-byte vectors are used on targets without AVX too (the packed GEMM and Winograd pin that
// width; the compiler splits them): GCC's note that such functions would pass them differently
// across an ABI boundary does not apply to these inline helpers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace strata::kernels::cpu::simd {

// Bytes of the widest vector register of the compile target (0: none, one lane).
#if defined(__AVX512F__)
inline constexpr std::size_t register_bytes = 64;
#elif defined(__AVX__)
inline constexpr std::size_t register_bytes = 32;
#elif defined(__SSE2__) || defined(__ARM_NEON)
inline constexpr std::size_t register_bytes = 16;
#else
inline constexpr std::size_t register_bytes = 0;
#endif

// A hardware fused multiply-add (one rounding) exists for float and double.
#if defined(__FMA__) || defined(__AVX512F__) || defined(__ARM_FEATURE_FMA)
inline constexpr bool has_fma = true;
#else
inline constexpr bool has_fma = false;
#endif

namespace detail {
template <class T, std::size_t Bytes>
struct vector_type {
  static_assert(Bytes % sizeof(T) == 0 && (Bytes / sizeof(T) & (Bytes / sizeof(T) - 1)) == 0,
                "strata::simd: a vector holds a power-of-two number of lanes");
  typedef T type __attribute__((vector_size(Bytes)));
};
}  // namespace detail

// The vector of T for the target (or Bytes wide: a kernel may pin a width, e.g. 16-byte rows).
template <class T>
inline constexpr std::size_t default_bytes = register_bytes >= sizeof(T) ? register_bytes : sizeof(T);
template <class T, std::size_t Bytes = default_bytes<T>>
using vec = typename detail::vector_type<T, Bytes>::type;

template <class V>
using scalar_of = std::remove_cvref_t<decltype(std::declval<V>()[0])>;
template <class V>
inline constexpr int lanes_of = int(sizeof(V) / sizeof(scalar_of<V>));
// Lanes of vec<T>.
template <class T>
inline constexpr int lanes = lanes_of<vec<T>>;

// ---------------------------------------------------------------------------------------------
// Loads and stores. Unaligned ones go through memcpy (one vmovups); aligned ones promise
// alignment to the vector size.

template <class V>
STRATA_INLINE V load(const scalar_of<V>* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <class V>
STRATA_INLINE V load_aligned(const scalar_of<V>* p) {
  return *static_cast<const V*>(__builtin_assume_aligned(static_cast<const void*>(p), sizeof(V)));
}
template <class V>
STRATA_INLINE void store(scalar_of<V>* p, const V& v) {
  std::memcpy(p, &v, sizeof(V));
}
template <class V>
STRATA_INLINE void store_aligned(scalar_of<V>* p, const V& v) {
  *static_cast<V*>(__builtin_assume_aligned(static_cast<void*>(p), sizeof(V))) = v;
}

// A store that bypasses the caches (p aligned to the vector), for large arrays written once and
// read much later: it saves reading each line from memory before overwriting it. Call
// stream_fence() before other threads read what was streamed.
template <class V>
STRATA_INLINE void store_stream(scalar_of<V>* p, const V& v) {
  using S = scalar_of<V>;
  [[maybe_unused]] constexpr bool f = std::is_same_v<S, float>, d = std::is_same_v<S, double>;
#if defined(__AVX512F__)
  if constexpr (f && sizeof(V) == 64) return _mm512_stream_ps(p, v);
  if constexpr (d && sizeof(V) == 64) return _mm512_stream_pd(p, v);
#endif
#if defined(__AVX__)
  if constexpr (f && sizeof(V) == 32) return _mm256_stream_ps(p, v);
  if constexpr (d && sizeof(V) == 32) return _mm256_stream_pd(p, v);
#endif
#if defined(__SSE2__)
  if constexpr (f && sizeof(V) == 16) return _mm_stream_ps(p, v);
  if constexpr (d && sizeof(V) == 16) return _mm_stream_pd(p, v);
#endif
  store_aligned(p, v);
}
STRATA_INLINE void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();  // streaming stores are weakly ordered
#endif
}

// The first n lanes (0 ≤ n ≤ lanes) from p, the others 0; and storing only the first n lanes of
// v. Nothing beyond p + n is read or written: masked moves on AVX-512 and AVX2 (which suppress
// faults in the masked lanes; AVX-512VL for 32-byte vectors), else pieces of 8, 4, 2 and 1 values through a local array. For
// row ends and rows shorter than a vector.
template <class V>
STRATA_INLINE V load_first(const scalar_of<V>* p, int n) {
  using S = scalar_of<V>;
  [[maybe_unused]] constexpr bool f = std::is_same_v<S, float>, d = std::is_same_v<S, double>;
  [[maybe_unused]] constexpr int lanes = lanes_of<V>;
#if defined(__AVX512F__)
  if constexpr (f && sizeof(V) == 64) return _mm512_maskz_loadu_ps(__mmask16((1u << n) - 1), p);
  if constexpr (d && sizeof(V) == 64) return _mm512_maskz_loadu_pd(__mmask8((1u << n) - 1), p);
#endif
#if defined(__AVX512VL__)
  if constexpr (f && sizeof(V) == 32) return _mm256_maskz_loadu_ps(__mmask8((1u << n) - 1), p);
  if constexpr (d && sizeof(V) == 32) return _mm256_maskz_loadu_pd(__mmask8((1u << n) - 1), p);
#endif
#if defined(__AVX2__)
  if constexpr (f && sizeof(V) == 32)
    return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
  if constexpr (d && sizeof(V) == 32)
    return _mm256_maskload_pd(p, _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)));
#endif
  if (n == lanes) return load<V>(p);
  S part[lanes] = {};
  S* out = part;
  if constexpr (lanes >= 16) if (n & 8) std::memcpy(out, p, 8 * sizeof(S)), out += 8, p += 8;
  if constexpr (lanes >= 8) if (n & 4) std::memcpy(out, p, 4 * sizeof(S)), out += 4, p += 4;
  if constexpr (lanes >= 4) if (n & 2) std::memcpy(out, p, 2 * sizeof(S)), out += 2, p += 2;
  if (n & 1) *out = *p;
  return load<V>(part);
}
template <class V>
STRATA_INLINE void store_first(scalar_of<V>* p, const V& v, int n) {
  using S = scalar_of<V>;
  [[maybe_unused]] constexpr bool f = std::is_same_v<S, float>, d = std::is_same_v<S, double>;
  [[maybe_unused]] constexpr int lanes = lanes_of<V>;
#if defined(__AVX512F__)
  if constexpr (f && sizeof(V) == 64) return _mm512_mask_storeu_ps(p, __mmask16((1u << n) - 1), v);
  if constexpr (d && sizeof(V) == 64) return _mm512_mask_storeu_pd(p, __mmask8((1u << n) - 1), v);
#endif
#if defined(__AVX512VL__)
  if constexpr (f && sizeof(V) == 32) return _mm256_mask_storeu_ps(p, __mmask8((1u << n) - 1), v);
  if constexpr (d && sizeof(V) == 32) return _mm256_mask_storeu_pd(p, __mmask8((1u << n) - 1), v);
#endif
#if defined(__AVX2__)
  if constexpr (f && sizeof(V) == 32)
    return _mm256_maskstore_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), v);
  if constexpr (d && sizeof(V) == 32)
    return _mm256_maskstore_pd(p, _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)), v);
#endif
  if (n == lanes) return store(p, v);
  S part[lanes];
  std::memcpy(part, &v, sizeof(V));
  const S* in = part;
  if constexpr (lanes >= 16) if (n & 8) std::memcpy(p, in, 8 * sizeof(S)), in += 8, p += 8;
  if constexpr (lanes >= 8) if (n & 4) std::memcpy(p, in, 4 * sizeof(S)), in += 4, p += 4;
  if constexpr (lanes >= 4) if (n & 2) std::memcpy(p, in, 2 * sizeof(S)), in += 2, p += 2;
  if (n & 1) *p = *in;
}

// ---------------------------------------------------------------------------------------------
// Arithmetic beyond the operators.

template <class V>
STRATA_INLINE V zero() {
  return V{};
}
template <class V>
STRATA_INLINE V broadcast(scalar_of<V> s) {
  return V{} + s;
}

// a·b + c, fused where the target has an FMA (in an ISO -std=c++20 build, -ffp-contract=off would
// otherwise leave a multiply and an add, and results would differ between builds).
template <class V>
STRATA_INLINE V fma(V a, V b, V c) {
  using S = scalar_of<V>;
  [[maybe_unused]] constexpr bool f = std::is_same_v<S, float>, d = std::is_same_v<S, double>;
#if defined(__AVX512F__)
  if constexpr (f && sizeof(V) == 64) return _mm512_fmadd_ps(a, b, c);
  if constexpr (d && sizeof(V) == 64) return _mm512_fmadd_pd(a, b, c);
#endif
#if defined(__FMA__)
  if constexpr (f && sizeof(V) == 32) return _mm256_fmadd_ps(a, b, c);
  if constexpr (d && sizeof(V) == 32) return _mm256_fmadd_pd(a, b, c);
  if constexpr (f && sizeof(V) == 16) return _mm_fmadd_ps(a, b, c);
  if constexpr (d && sizeof(V) == 16) return _mm_fmadd_pd(a, b, c);
#endif
  if constexpr ((f || d) && lanes_of<V> == 1 && has_fma) return V{std::fma(S(a[0]), S(b[0]), S(c[0]))};
  return a * b + c;
}

// The sum of the lanes (pairwise: log2(lanes) additions).
template <class V>
STRATA_INLINE scalar_of<V> hsum(V v) {
  scalar_of<V> part[lanes_of<V>];
  std::memcpy(part, &v, sizeof(V));
  for (int w = lanes_of<V> / 2; w > 0; w /= 2)
    for (int i = 0; i < w; ++i) part[i] += part[i + w];
  return part[0];
}

// ---------------------------------------------------------------------------------------------
// Shuffles.

#if defined(__clang__)
#define STRATA_SIMD_SHUFFLE(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define STRATA_SIMD_SHUFFLE(a, b, ...) __builtin_shuffle(a, b, mask{__VA_ARGS__})
#endif

// n complex values stored interleaved (re, im, re, im …) in two vectors lo, hi → their real and
// imaginary parts, and back.
template <class V>
STRATA_INLINE void deinterleave(const V& lo, const V& hi, V& re, V& im) {
  using S = scalar_of<V>;
  [[maybe_unused]] typedef std::conditional_t<sizeof(S) == 4, std::int32_t, std::int64_t> mask
      __attribute__((vector_size(sizeof(V))));
  constexpr int n = lanes_of<V>;
  if constexpr (n == 16) {
    re = STRATA_SIMD_SHUFFLE(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    im = STRATA_SIMD_SHUFFLE(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  } else if constexpr (n == 8) {
    re = STRATA_SIMD_SHUFFLE(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14);
    im = STRATA_SIMD_SHUFFLE(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15);
  } else if constexpr (n == 4) {
    re = STRATA_SIMD_SHUFFLE(lo, hi, 0, 2, 4, 6);
    im = STRATA_SIMD_SHUFFLE(lo, hi, 1, 3, 5, 7);
  } else if constexpr (n == 2) {
    re = STRATA_SIMD_SHUFFLE(lo, hi, 0, 2);
    im = STRATA_SIMD_SHUFFLE(lo, hi, 1, 3);
  } else {
    re = lo, im = hi;
  }
}
template <class V>
STRATA_INLINE void interleave(const V& re, const V& im, V& lo, V& hi) {
  using S = scalar_of<V>;
  [[maybe_unused]] typedef std::conditional_t<sizeof(S) == 4, std::int32_t, std::int64_t> mask
      __attribute__((vector_size(sizeof(V))));
  constexpr int n = lanes_of<V>;
  if constexpr (n == 16) {
    lo = STRATA_SIMD_SHUFFLE(re, im, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    hi = STRATA_SIMD_SHUFFLE(re, im, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  } else if constexpr (n == 8) {
    lo = STRATA_SIMD_SHUFFLE(re, im, 0, 8, 1, 9, 2, 10, 3, 11);
    hi = STRATA_SIMD_SHUFFLE(re, im, 4, 12, 5, 13, 6, 14, 7, 15);
  } else if constexpr (n == 4) {
    lo = STRATA_SIMD_SHUFFLE(re, im, 0, 4, 1, 5);
    hi = STRATA_SIMD_SHUFFLE(re, im, 2, 6, 3, 7);
  } else if constexpr (n == 2) {
    lo = STRATA_SIMD_SHUFFLE(re, im, 0, 2);
    hi = STRATA_SIMD_SHUFFLE(re, im, 1, 3);
  } else {
    lo = re, hi = im;
  }
}
#undef STRATA_SIMD_SHUFFLE

// Transposes the lanes×lanes block r[0..lanes) in place: lane j of r[i] ↔ lane i of r[j]. In
// registers for 8 floats, 4 doubles (AVX) and 4 floats, 2 doubles (SSE); through memory otherwise.
template <class V>
STRATA_INLINE void transpose(V* r) {
  using S = scalar_of<V>;
  constexpr int n = lanes_of<V>;
  [[maybe_unused]] constexpr bool f = std::is_same_v<S, float>, d = std::is_same_v<S, double>;
#if defined(__AVX__)
  if constexpr (f && n == 8) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20), r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20), r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20), r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20), r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
    return;
  }
  if constexpr (d && n == 4) {
    const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20), r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20), r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
    return;
  }
#endif
#if defined(__SSE2__)
  if constexpr (f && n == 4) {
    const __m128 t0 = _mm_unpacklo_ps(r[0], r[1]), t1 = _mm_unpackhi_ps(r[0], r[1]);
    const __m128 t2 = _mm_unpacklo_ps(r[2], r[3]), t3 = _mm_unpackhi_ps(r[2], r[3]);
    r[0] = _mm_movelh_ps(t0, t2), r[1] = _mm_movehl_ps(t2, t0);
    r[2] = _mm_movelh_ps(t1, t3), r[3] = _mm_movehl_ps(t3, t1);
    return;
  }
  if constexpr (d && n == 2) {
    const __m128d t0 = _mm_unpacklo_pd(r[0], r[1]), t1 = _mm_unpackhi_pd(r[0], r[1]);
    r[0] = t0, r[1] = t1;
    return;
  }
#endif
  if constexpr (n > 1) {
    S m[n][n];
    for (int i = 0; i < n; ++i) std::memcpy(m[i], &r[i], sizeof(V));
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < i; ++j) std::swap(m[i][j], m[j][i]);
    for (int i = 0; i < n; ++i) std::memcpy(&r[i], m[i], sizeof(V));
  }
}

// Eight floats from two 4-float halves (lo → lanes 0–3, hi → lanes 4–7).
STRATA_INLINE vec<float, 32> load_halves(const float* lo, const float* hi) {
#if defined(__AVX__)
  return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo)), _mm_loadu_ps(hi), 1);
#else
  vec<float, 32> v;
  std::memcpy(&v, lo, 16);
  std::memcpy(reinterpret_cast<char*>(&v) + 16, hi, 16);
  return v;
#endif
}

// Four 8-float rows, each two 4-float rows (lanes 0–3 and 4–7) → the transposes of both 4×4
// blocks: o[j] lane i = r[i] lane j, and lane 4 + i = r[i] lane 4 + j.
STRATA_INLINE void transpose4_halves(vec<float, 32> r0, vec<float, 32> r1, vec<float, 32> r2, vec<float, 32> r3,
                                     vec<float, 32>* o) {
#if defined(__AVX__)
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  o[0] = _mm256_shuffle_ps(t0, t2, 0x44);
  o[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
  o[2] = _mm256_shuffle_ps(t1, t3, 0x44);
  o[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
#else
  const vec<float, 32> r[4] = {r0, r1, r2, r3};
  for (int j = 0; j < 4; ++j)
    for (int i = 0; i < 4; ++i) o[j][i] = r[i][j], o[j][4 + i] = r[i][4 + j];
#endif
}

// The low and high 4-float halves of an 8-float vector.
STRATA_INLINE vec<float, 16> low_half(vec<float, 32> v) {
#if defined(__AVX__)
  return _mm256_castps256_ps128(v);
#else
  vec<float, 16> h;
  std::memcpy(&h, &v, 16);
  return h;
#endif
}
STRATA_INLINE vec<float, 16> high_half(vec<float, 32> v) {
#if defined(__AVX__)
  return _mm256_extractf128_ps(v, 1);
#else
  vec<float, 16> h;
  std::memcpy(&h, reinterpret_cast<const char*>(&v) + 16, 16);
  return h;
#endif
}

}  // namespace strata::kernels::cpu::simd

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
