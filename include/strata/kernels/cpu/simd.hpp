// strata/kernels/cpu/simd.hpp — the one SIMD layer of strata's CPU kernels: vec<T> is a vector of
// T as wide as the compile target's widest register (AVX-512, AVX/AVX2, SSE2 or NEON, else one
// lane), with loads and stores (whole, first lanes, masked), fma, broadcast, horizontal sums and
// maxima, transposes and lane shuffles, and the integer operations of the fixed-point kernels:
// pairwise int16 multiply-add, widening 32-bit multiply, |x|, clamps, conversions, saturating packs.
//
// Why GCC/Clang vector extensions and not a class over intrinsics: arithmetic (+ − × ÷, also
// scalar ⊕ vector) works on them for every lane type, integers included, so templates written
// for a scalar type (Winograd's transforms) run unchanged on vectors, and an int16 or bit-packed
// kernel only adds the few operations of its own (vpmaddwd, popcount) as functions here. Where a
// builtin operator cannot say what is wanted (a fused multiply-add in an ISO build, streaming
// stores, in-register transposes, instructions GCC 12 does not pick for the generic form), the
// functions below use the target's intrinsics and fall back to portable code; nothing here needs
// an ABI the target lacks.
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
// across an ABI boundary does not apply to these inline helpers. GCC 12's AVX-512 intrinsics
// start from _mm512_undefined_*, which its -W(maybe-)uninitialized reports wherever they are
// inlined (a false positive, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
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

// The same bytes as another type of the same size (a vector of other lanes, an intrinsic's
// __m512i): no instruction.
template <class To, class From>
STRATA_INLINE To bitcast(const From& v) {
  static_assert(sizeof(To) == sizeof(From), "strata::simd: bitcast keeps the size");
  return __builtin_bit_cast(To, v);
}

namespace detail {
template <std::size_t Size>
using int_of_size = std::conditional_t<Size == 1, std::int8_t,
                    std::conditional_t<Size == 2, std::int16_t, std::conditional_t<Size == 4, std::int32_t, std::int64_t>>>;

// Whether load_masked / store_masked of V are one instruction (AVX-512; VL below 64 bytes, BW for
// 8- and 16-bit lanes).
template <class V>
constexpr bool masked_moves() {
  [[maybe_unused]] constexpr std::size_t lane = sizeof(scalar_of<V>), bytes = sizeof(V);
  if constexpr (!std::is_arithmetic_v<scalar_of<V>>) return false;
#if defined(__AVX512F__)
  if (lane >= 4 && bytes == 64) return true;
#endif
#if defined(__AVX512VL__)
  if (lane >= 4 && (bytes == 32 || bytes == 16)) return true;
#endif
#if defined(__AVX512BW__)
  if (lane <= 2 && bytes == 64) return true;
#endif
#if defined(__AVX512BW__) && defined(__AVX512VL__)
  if (lane <= 2 && (bytes == 32 || bytes == 16)) return true;
#endif
  return false;
}

// Bit l set for the lanes l < n (0 ≤ n ≤ Lanes ≤ 64).
template <int Lanes>
constexpr std::uint64_t first_lanes(int n) {
  if constexpr (Lanes >= 64) return n >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << n) - 1;
  else return (std::uint64_t{1} << n) - 1;
}
}  // namespace detail

// Whether load_first, store_first, load_masked and store_masked of V are single masked moves, so
// that a kernel may use them for whole vectors too (elsewhere they cost more than load / store).
template <class V>
inline constexpr bool has_masked_moves = detail::masked_moves<V>();

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

// The lanes of p whose bit is set in m (bit l: lane l), the others 0; and storing only those lanes
// of v. Nothing else is read or written: AVX-512 masked moves (which suppress faults in the masked
// lanes; AVX-512VL below 64 bytes, AVX-512BW for 8- and 16-bit lanes), else lane by lane. For lane
// ranges that are not a prefix (a convolution row's padded borders).
template <class V>
STRATA_INLINE V load_masked(const scalar_of<V>* p, std::uint64_t m) {
  using S = scalar_of<V>;
  [[maybe_unused]] constexpr bool f = std::is_same_v<S, float>, d = std::is_same_v<S, double>;
  [[maybe_unused]] constexpr bool i = std::is_integral_v<S>;
  [[maybe_unused]] constexpr std::size_t lane = sizeof(S);
#if defined(__AVX512F__)
  if constexpr (f && sizeof(V) == 64) return _mm512_maskz_loadu_ps(__mmask16(m), p);
  if constexpr (d && sizeof(V) == 64) return _mm512_maskz_loadu_pd(__mmask8(m), p);
  if constexpr (i && lane == 4 && sizeof(V) == 64) return bitcast<V>(_mm512_maskz_loadu_epi32(__mmask16(m), p));
  if constexpr (i && lane == 8 && sizeof(V) == 64) return bitcast<V>(_mm512_maskz_loadu_epi64(__mmask8(m), p));
#endif
#if defined(__AVX512BW__)
  if constexpr (i && lane == 2 && sizeof(V) == 64) return bitcast<V>(_mm512_maskz_loadu_epi16(__mmask32(m), p));
  if constexpr (i && lane == 1 && sizeof(V) == 64) return bitcast<V>(_mm512_maskz_loadu_epi8(__mmask64(m), p));
#endif
#if defined(__AVX512VL__)
  if constexpr (f && sizeof(V) == 32) return _mm256_maskz_loadu_ps(__mmask8(m), p);
  if constexpr (d && sizeof(V) == 32) return _mm256_maskz_loadu_pd(__mmask8(m), p);
  if constexpr (i && lane == 4 && sizeof(V) == 32) return bitcast<V>(_mm256_maskz_loadu_epi32(__mmask8(m), p));
  if constexpr (i && lane == 8 && sizeof(V) == 32) return bitcast<V>(_mm256_maskz_loadu_epi64(__mmask8(m), p));
  if constexpr (f && sizeof(V) == 16) return _mm_maskz_loadu_ps(__mmask8(m), p);
  if constexpr (d && sizeof(V) == 16) return _mm_maskz_loadu_pd(__mmask8(m), p);
  if constexpr (i && lane == 4 && sizeof(V) == 16) return bitcast<V>(_mm_maskz_loadu_epi32(__mmask8(m), p));
  if constexpr (i && lane == 8 && sizeof(V) == 16) return bitcast<V>(_mm_maskz_loadu_epi64(__mmask8(m), p));
#endif
#if defined(__AVX512BW__) && defined(__AVX512VL__)
  if constexpr (i && lane == 2 && sizeof(V) == 32) return bitcast<V>(_mm256_maskz_loadu_epi16(__mmask16(m), p));
  if constexpr (i && lane == 1 && sizeof(V) == 32) return bitcast<V>(_mm256_maskz_loadu_epi8(__mmask32(m), p));
  if constexpr (i && lane == 2 && sizeof(V) == 16) return bitcast<V>(_mm_maskz_loadu_epi16(__mmask8(m), p));
  if constexpr (i && lane == 1 && sizeof(V) == 16) return bitcast<V>(_mm_maskz_loadu_epi8(__mmask16(m), p));
#endif
  V v{};
  for (int l = 0; l < lanes_of<V>; ++l)
    if (m >> l & 1) v[l] = p[l];
  return v;
}
template <class V>
STRATA_INLINE void store_masked(scalar_of<V>* p, const V& v, std::uint64_t m) {
  using S = scalar_of<V>;
  [[maybe_unused]] constexpr bool f = std::is_same_v<S, float>, d = std::is_same_v<S, double>;
  [[maybe_unused]] constexpr bool i = std::is_integral_v<S>;
  [[maybe_unused]] constexpr std::size_t lane = sizeof(S);
#if defined(__AVX512F__)
  if constexpr (f && sizeof(V) == 64) return _mm512_mask_storeu_ps(p, __mmask16(m), v);
  if constexpr (d && sizeof(V) == 64) return _mm512_mask_storeu_pd(p, __mmask8(m), v);
  if constexpr (i && lane == 4 && sizeof(V) == 64) return _mm512_mask_storeu_epi32(p, __mmask16(m), bitcast<__m512i>(v));
  if constexpr (i && lane == 8 && sizeof(V) == 64) return _mm512_mask_storeu_epi64(p, __mmask8(m), bitcast<__m512i>(v));
#endif
#if defined(__AVX512BW__)
  if constexpr (i && lane == 2 && sizeof(V) == 64) return _mm512_mask_storeu_epi16(p, __mmask32(m), bitcast<__m512i>(v));
  if constexpr (i && lane == 1 && sizeof(V) == 64) return _mm512_mask_storeu_epi8(p, __mmask64(m), bitcast<__m512i>(v));
#endif
#if defined(__AVX512VL__)
  if constexpr (f && sizeof(V) == 32) return _mm256_mask_storeu_ps(p, __mmask8(m), v);
  if constexpr (d && sizeof(V) == 32) return _mm256_mask_storeu_pd(p, __mmask8(m), v);
  if constexpr (i && lane == 4 && sizeof(V) == 32) return _mm256_mask_storeu_epi32(p, __mmask8(m), bitcast<__m256i>(v));
  if constexpr (i && lane == 8 && sizeof(V) == 32) return _mm256_mask_storeu_epi64(p, __mmask8(m), bitcast<__m256i>(v));
  if constexpr (f && sizeof(V) == 16) return _mm_mask_storeu_ps(p, __mmask8(m), v);
  if constexpr (d && sizeof(V) == 16) return _mm_mask_storeu_pd(p, __mmask8(m), v);
  if constexpr (i && lane == 4 && sizeof(V) == 16) return _mm_mask_storeu_epi32(p, __mmask8(m), bitcast<__m128i>(v));
  if constexpr (i && lane == 8 && sizeof(V) == 16) return _mm_mask_storeu_epi64(p, __mmask8(m), bitcast<__m128i>(v));
#endif
#if defined(__AVX512BW__) && defined(__AVX512VL__)
  if constexpr (i && lane == 2 && sizeof(V) == 32) return _mm256_mask_storeu_epi16(p, __mmask16(m), bitcast<__m256i>(v));
  if constexpr (i && lane == 1 && sizeof(V) == 32) return _mm256_mask_storeu_epi8(p, __mmask32(m), bitcast<__m256i>(v));
  if constexpr (i && lane == 2 && sizeof(V) == 16) return _mm_mask_storeu_epi16(p, __mmask8(m), bitcast<__m128i>(v));
  if constexpr (i && lane == 1 && sizeof(V) == 16) return _mm_mask_storeu_epi8(p, __mmask16(m), bitcast<__m128i>(v));
#endif
  for (int l = 0; l < lanes_of<V>; ++l)
    if (m >> l & 1) p[l] = v[l];
}

// The first n lanes (0 ≤ n ≤ lanes) from p, the others 0; and storing only the first n lanes of
// v. Nothing beyond p + n is read or written: the masked moves above where they are one
// instruction, AVX2's masked moves for 32- and 64-bit lanes, else pieces of 32, 16, 8, 4, 2 and 1
// values through a local array. For row ends and rows shorter than a vector.
template <class V>
STRATA_INLINE V load_first(const scalar_of<V>* p, int n) {
  using S = scalar_of<V>;
  [[maybe_unused]] constexpr bool f = std::is_same_v<S, float>, d = std::is_same_v<S, double>;
  [[maybe_unused]] constexpr bool i = std::is_integral_v<S>;
  [[maybe_unused]] constexpr int lanes = lanes_of<V>;
  if constexpr (has_masked_moves<V>) return load_masked<V>(p, detail::first_lanes<lanes>(n));
#if defined(__AVX2__)
  if constexpr (sizeof(V) == 32 && sizeof(S) == 4 && (f || i)) {
    const __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    if constexpr (f) return _mm256_maskload_ps(p, keep);
    else return bitcast<V>(_mm256_maskload_epi32(reinterpret_cast<const int*>(p), keep));
  }
  if constexpr (sizeof(V) == 32 && sizeof(S) == 8 && (d || i)) {
    const __m256i keep = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
    if constexpr (d) return _mm256_maskload_pd(p, keep);
    else return bitcast<V>(_mm256_maskload_epi64(reinterpret_cast<const long long*>(p), keep));
  }
#endif
  if (n == lanes) return load<V>(p);
  S part[lanes] = {};
  S* out = part;
  if constexpr (lanes >= 64) if (n & 32) std::memcpy(out, p, 32 * sizeof(S)), out += 32, p += 32;
  if constexpr (lanes >= 32) if (n & 16) std::memcpy(out, p, 16 * sizeof(S)), out += 16, p += 16;
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
  [[maybe_unused]] constexpr bool i = std::is_integral_v<S>;
  [[maybe_unused]] constexpr int lanes = lanes_of<V>;
  if constexpr (has_masked_moves<V>) return store_masked(p, v, detail::first_lanes<lanes>(n));
#if defined(__AVX2__)
  if constexpr (sizeof(V) == 32 && sizeof(S) == 4 && (f || i)) {
    const __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    if constexpr (f) return _mm256_maskstore_ps(p, keep, v);
    else return _mm256_maskstore_epi32(reinterpret_cast<int*>(p), keep, bitcast<__m256i>(v));
  }
  if constexpr (sizeof(V) == 32 && sizeof(S) == 8 && (d || i)) {
    const __m256i keep = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
    if constexpr (d) return _mm256_maskstore_pd(p, keep, v);
    else return _mm256_maskstore_epi64(reinterpret_cast<long long*>(p), keep, bitcast<__m256i>(v));
  }
#endif
  if (n == lanes) return store(p, v);
  S part[lanes];
  std::memcpy(part, &v, sizeof(V));
  const S* in = part;
  if constexpr (lanes >= 64) if (n & 32) std::memcpy(p, in, 32 * sizeof(S)), in += 32, p += 32;
  if constexpr (lanes >= 32) if (n & 16) std::memcpy(p, in, 16 * sizeof(S)), in += 16, p += 16;
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


// Lane-wise minimum, maximum and v clamped to [lo, hi] (vpminsd, vpmaxuw, … for integer lanes).
// For floats the clamp is v < lo ? lo : (v > hi ? hi : v), so a NaN stays NaN.
template <class V>
STRATA_INLINE V min(V a, V b) {
  return a < b ? a : b;
}
template <class V>
STRATA_INLINE V max(V a, V b) {
  return a > b ? a : b;
}
template <class V>
STRATA_INLINE V clamp(V v, V lo, V hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}

// |v| of signed integer lanes, as the unsigned lanes of the same width (so |−32768| = 32768 in
// 16-bit lanes; vpabsw leaves 0x8000 as it is).
template <class V>
STRATA_INLINE vec<std::make_unsigned_t<scalar_of<V>>, sizeof(V)> abs(V v) {
  using S = scalar_of<V>;
  using U = vec<std::make_unsigned_t<S>, sizeof(V)>;
  static_assert(std::is_integral_v<S> && std::is_signed_v<S>, "strata::simd::abs takes signed integer lanes");
#if defined(__AVX512BW__)
  if constexpr (sizeof(S) == 2 && sizeof(V) == 64) return bitcast<U>(_mm512_abs_epi16(bitcast<__m512i>(v)));
#endif
#if defined(__AVX512F__)
  if constexpr (sizeof(S) == 4 && sizeof(V) == 64) return bitcast<U>(_mm512_abs_epi32(bitcast<__m512i>(v)));
#endif
#if defined(__AVX2__)
  if constexpr (sizeof(S) == 2 && sizeof(V) == 32) return bitcast<U>(_mm256_abs_epi16(bitcast<__m256i>(v)));
  if constexpr (sizeof(S) == 4 && sizeof(V) == 32) return bitcast<U>(_mm256_abs_epi32(bitcast<__m256i>(v)));
#endif
#if defined(__SSSE3__)
  if constexpr (sizeof(S) == 2 && sizeof(V) == 16) return bitcast<U>(_mm_abs_epi16(bitcast<__m128i>(v)));
  if constexpr (sizeof(S) == 4 && sizeof(V) == 16) return bitcast<U>(_mm_abs_epi32(bitcast<__m128i>(v)));
#endif
  const U u = bitcast<U>(v);
  return v < 0 ? -u : u;  // unsigned negation: no overflow at the lane's minimum
}

// acc + the products of a's and b's int16 lanes added in pairs: int32 lane l gains
// a[2l]·b[2l] + a[2l+1]·b[2l+1]. a and b are any vectors of acc's size read as int16 lanes (e.g.
// 32-bit words that each hold a pair, low half first). Everything wraps modulo 2^32, as the
// instructions do: the one pair that overflows, (−32768)² twice = 2^31, gives −2^31. vpdpwssd with
// AVX-512 VNNI (AVX-VNNI for 256 and 128 bits), else vpmaddwd + vpaddd.
template <class A, class W>
STRATA_INLINE A madd_pairs(A acc, W a, W b) {
  static_assert(std::is_same_v<scalar_of<A>, std::int32_t> && sizeof(W) == sizeof(A),
                "strata::simd::madd_pairs: int32 sums and operands of the same size");
  using U = vec<std::uint32_t, sizeof(A)>;
  [[maybe_unused]] auto wrapping_add = [](A x, auto y) { return bitcast<A>(bitcast<U>(x) + bitcast<U>(y)); };
#if defined(__AVX512BW__)
  if constexpr (sizeof(A) == 64) {
#if defined(__AVX512VNNI__)
    return bitcast<A>(_mm512_dpwssd_epi32(bitcast<__m512i>(acc), bitcast<__m512i>(a), bitcast<__m512i>(b)));
#else
    return wrapping_add(acc, _mm512_madd_epi16(bitcast<__m512i>(a), bitcast<__m512i>(b)));
#endif
  }
#endif
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  if constexpr (sizeof(A) == 32)
    return bitcast<A>(_mm256_dpwssd_epi32(bitcast<__m256i>(acc), bitcast<__m256i>(a), bitcast<__m256i>(b)));
  if constexpr (sizeof(A) == 16)
    return bitcast<A>(_mm_dpwssd_epi32(bitcast<__m128i>(acc), bitcast<__m128i>(a), bitcast<__m128i>(b)));
#elif defined(__AVXVNNI__)
  if constexpr (sizeof(A) == 32)
    return bitcast<A>(_mm256_dpwssd_avx_epi32(bitcast<__m256i>(acc), bitcast<__m256i>(a), bitcast<__m256i>(b)));
  if constexpr (sizeof(A) == 16)
    return bitcast<A>(_mm_dpwssd_avx_epi32(bitcast<__m128i>(acc), bitcast<__m128i>(a), bitcast<__m128i>(b)));
#endif
#if defined(__AVX2__)
  if constexpr (sizeof(A) == 32) return wrapping_add(acc, _mm256_madd_epi16(bitcast<__m256i>(a), bitcast<__m256i>(b)));
#endif
#if defined(__SSE2__)
  if constexpr (sizeof(A) == 16) return wrapping_add(acc, _mm_madd_epi16(bitcast<__m128i>(a), bitcast<__m128i>(b)));
#endif
  using I = vec<std::int32_t, sizeof(A)>;
  const I x = bitcast<I>(a), y = bitcast<I>(b);
  const I low = ((x << 16) >> 16) * ((y << 16) >> 16), high = (x >> 16) * (y >> 16);  // each at most 2^30
  return wrapping_add(wrapping_add(acc, low), high);
}

// a ^ b ^ c as one instruction (vpternlogq) with AVX-512, a broadcast c read straight from memory
// ({1to8}): from the operators GCC 12 fuses only some of the pairs of xors, each after a broadcast
// into a register of its own.
template <class V>
STRATA_INLINE V xor3(V a, V b, V c) {
  static_assert(std::is_integral_v<scalar_of<V>>, "strata::simd::xor3 takes integer lanes");
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64)
    return bitcast<V>(_mm512_ternarylogic_epi64(bitcast<__m512i>(a), bitcast<__m512i>(b), bitcast<__m512i>(c), 0x96));
#endif
#if defined(__AVX512VL__)
  if constexpr (sizeof(V) == 32)
    return bitcast<V>(_mm256_ternarylogic_epi64(bitcast<__m256i>(a), bitcast<__m256i>(b), bitcast<__m256i>(c), 0x96));
  if constexpr (sizeof(V) == 16)
    return bitcast<V>(_mm_ternarylogic_epi64(bitcast<__m128i>(a), bitcast<__m128i>(b), bitcast<__m128i>(c), 0x96));
#endif
  return a ^ b ^ c;
}

// The full 64-bit products of the low 32 bits of each 64-bit lane of a and b, unsigned
// (vpmuludq): Philox's 32×32 → 64 multiplications, eight or four at a time.
template <class V>
STRATA_INLINE V mul_u32_wide(V a, V b) {
  static_assert(std::is_integral_v<scalar_of<V>> && sizeof(scalar_of<V>) == 8, "strata::simd::mul_u32_wide takes 64-bit lanes");
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64) return bitcast<V>(_mm512_mul_epu32(bitcast<__m512i>(a), bitcast<__m512i>(b)));
#endif
#if defined(__AVX2__)
  if constexpr (sizeof(V) == 32) return bitcast<V>(_mm256_mul_epu32(bitcast<__m256i>(a), bitcast<__m256i>(b)));
#endif
#if defined(__SSE2__)
  if constexpr (sizeof(V) == 16) return bitcast<V>(_mm_mul_epu32(bitcast<__m128i>(a), bitcast<__m128i>(b)));
#endif
  using U = vec<std::uint64_t, sizeof(V)>;
  return bitcast<V>((bitcast<U>(a) & 0xFFFFFFFFu) * (bitcast<U>(b) & 0xFFFFFFFFu));
}

// The lanes of v converted to T one by one, as static_cast does: a wider T sign- or zero-extends
// (by the signedness of v's lanes), a narrower integer T keeps the low bits. The widenings and
// narrowings of the fixed-point kernels are single instructions (vpmovzxwd, vpmovsxdq, vpmovdw, …),
// which GCC 12 does not pick for __builtin_convertvector (it splits them into halves).
template <class T, class V>
STRATA_INLINE vec<T, lanes_of<V> * sizeof(T)> convert(V v) {
  using S = scalar_of<V>;
  using R = vec<T, lanes_of<V> * sizeof(T)>;
  [[maybe_unused]] constexpr int n = lanes_of<V>;
  [[maybe_unused]] constexpr bool ints = std::is_integral_v<S> && std::is_integral_v<T>, sign = std::is_signed_v<S>;
  [[maybe_unused]] constexpr std::size_t from = sizeof(S), to = sizeof(T);
#if defined(__AVX512F__)
  if constexpr (ints && from == 2 && to == 4 && n == 16) {
    if constexpr (sign) return bitcast<R>(_mm512_cvtepi16_epi32(bitcast<__m256i>(v)));
    else return bitcast<R>(_mm512_cvtepu16_epi32(bitcast<__m256i>(v)));
  }
  if constexpr (ints && from == 2 && to == 8 && n == 8) {
    if constexpr (sign) return bitcast<R>(_mm512_cvtepi16_epi64(bitcast<__m128i>(v)));
    else return bitcast<R>(_mm512_cvtepu16_epi64(bitcast<__m128i>(v)));
  }
  if constexpr (ints && from == 4 && to == 8 && n == 8) {
    if constexpr (sign) return bitcast<R>(_mm512_cvtepi32_epi64(bitcast<__m256i>(v)));
    else return bitcast<R>(_mm512_cvtepu32_epi64(bitcast<__m256i>(v)));
  }
  if constexpr (ints && from == 4 && to == 2 && n == 16) return bitcast<R>(_mm512_cvtepi32_epi16(bitcast<__m512i>(v)));
  if constexpr (ints && from == 8 && to == 2 && n == 8) return bitcast<R>(_mm512_cvtepi64_epi16(bitcast<__m512i>(v)));
#endif
#if defined(__AVX512VL__)
  if constexpr (ints && from == 4 && to == 2 && n == 8) return bitcast<R>(_mm256_cvtepi32_epi16(bitcast<__m256i>(v)));
#endif
#if defined(__AVX2__)
  if constexpr (ints && from == 2 && to == 4 && n == 8) {
    if constexpr (sign) return bitcast<R>(_mm256_cvtepi16_epi32(bitcast<__m128i>(v)));
    else return bitcast<R>(_mm256_cvtepu16_epi32(bitcast<__m128i>(v)));
  }
  if constexpr (ints && from == 4 && to == 8 && n == 4) {
    if constexpr (sign) return bitcast<R>(_mm256_cvtepi32_epi64(bitcast<__m128i>(v)));
    else return bitcast<R>(_mm256_cvtepu32_epi64(bitcast<__m128i>(v)));
  }
#endif
  return __builtin_convertvector(v, R);
}

// a's lanes then b's, int32 narrowed to int16 with saturation: vpackssdw, whose order (per
// 128-bit lane) a permute puts back.
template <class V>
STRATA_INLINE vec<std::int16_t, sizeof(V)> pack_saturate(V a, V b) {
  static_assert(std::is_same_v<scalar_of<V>, std::int32_t>, "strata::simd::pack_saturate takes int32 lanes");
  using R = vec<std::int16_t, sizeof(V)>;
#if defined(__AVX512BW__)
  if constexpr (sizeof(V) == 64)
    return bitcast<R>(_mm512_permutexvar_epi64(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7),
                                               _mm512_packs_epi32(bitcast<__m512i>(a), bitcast<__m512i>(b))));
#endif
#if defined(__AVX2__)
  if constexpr (sizeof(V) == 32)
    return bitcast<R>(_mm256_permute4x64_epi64(_mm256_packs_epi32(bitcast<__m256i>(a), bitcast<__m256i>(b)), 0xD8));
#endif
#if defined(__SSE2__)
  if constexpr (sizeof(V) == 16) return bitcast<R>(_mm_packs_epi32(bitcast<__m128i>(a), bitcast<__m128i>(b)));
#endif
  const V lo = broadcast<V>(-32768), hi = broadcast<V>(32767);
  const auto na = convert<std::int16_t>(clamp(a, lo, hi)), nb = convert<std::int16_t>(clamp(b, lo, hi));
  R r;
  std::memcpy(&r, &na, sizeof(na));
  std::memcpy(reinterpret_cast<char*>(&r) + sizeof(na), &nb, sizeof(nb));
  return r;
}

// ---------------------------------------------------------------------------------------------
// Shuffles.

namespace detail {
// Lane l of a shuffle's result is lane Index{}(l) of the concatenation a·b (constant indices, so
// that the compiler picks the instructions: vpunpcklwd, vpermt2w, vpermi2q, …).
template <class Index, class V, std::size_t... L>
STRATA_INLINE V shuffle2(const V& a, const V& b, std::index_sequence<L...>) {
  constexpr Index index{};
#if defined(__clang__)
  return __builtin_shufflevector(a, b, index(int(L))...);
#else
  using mask = vec<int_of_size<sizeof(scalar_of<V>)>, sizeof(V)>;
  return __builtin_shuffle(a, b, mask{index(int(L))...});
#endif
}
template <int N, int From>  // lanes From, N + From, From + 1, N + From + 1, …
struct zip_index {
  constexpr int operator()(int l) const { return From + l / 2 + (l % 2) * N; }
};
template <int Parity>  // lanes Parity, Parity + 2, …
struct unzip_index {
  constexpr int operator()(int l) const { return 2 * l + Parity; }
};
}  // namespace detail

// n pairs stored interleaved (x0, y0, x1, y1 …; complex values: re, im) in two vectors lo, hi →
// the x and the y, and back. Any lane type: Philox's 64-bit words, int16 pairs of the
// fixed-point GEMM's packing.
template <class V>
STRATA_INLINE void deinterleave(const V& lo, const V& hi, V& re, V& im) {
  constexpr int n = lanes_of<V>;
  if constexpr (n == 1) {
    re = lo, im = hi;
  } else {
    re = detail::shuffle2<detail::unzip_index<0>>(lo, hi, std::make_index_sequence<n>{});
    im = detail::shuffle2<detail::unzip_index<1>>(lo, hi, std::make_index_sequence<n>{});
  }
}
template <class V>
STRATA_INLINE void interleave(const V& re, const V& im, V& lo, V& hi) {
  constexpr int n = lanes_of<V>;
  if constexpr (n == 1) {
    lo = re, hi = im;
  } else {
    lo = detail::shuffle2<detail::zip_index<n, 0>>(re, im, std::make_index_sequence<n>{});
    hi = detail::shuffle2<detail::zip_index<n, n / 2>>(re, im, std::make_index_sequence<n>{});
  }
}

// Transposes the lanes×lanes block r[0..lanes) in place: lane j of r[i] ↔ lane i of r[j]. In
// registers for 8 floats, 4 doubles (AVX), 8 32-bit integers (AVX2) and 4 floats, 2 doubles (SSE);
// through memory otherwise.
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
#if defined(__AVX2__)
  if constexpr (std::is_integral_v<S> && sizeof(S) == 4 && n == 8) {
    __m256i q[8];
    for (int i = 0; i < 8; ++i) q[i] = bitcast<__m256i>(r[i]);
    const __m256i t0 = _mm256_unpacklo_epi32(q[0], q[1]), t1 = _mm256_unpackhi_epi32(q[0], q[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(q[2], q[3]), t3 = _mm256_unpackhi_epi32(q[2], q[3]);
    const __m256i t4 = _mm256_unpacklo_epi32(q[4], q[5]), t5 = _mm256_unpackhi_epi32(q[4], q[5]);
    const __m256i t6 = _mm256_unpacklo_epi32(q[6], q[7]), t7 = _mm256_unpackhi_epi32(q[6], q[7]);
    const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    r[0] = bitcast<V>(_mm256_permute2x128_si256(u0, u4, 0x20)), r[4] = bitcast<V>(_mm256_permute2x128_si256(u0, u4, 0x31));
    r[1] = bitcast<V>(_mm256_permute2x128_si256(u1, u5, 0x20)), r[5] = bitcast<V>(_mm256_permute2x128_si256(u1, u5, 0x31));
    r[2] = bitcast<V>(_mm256_permute2x128_si256(u2, u6, 0x20)), r[6] = bitcast<V>(_mm256_permute2x128_si256(u2, u6, 0x31));
    r[3] = bitcast<V>(_mm256_permute2x128_si256(u3, u7, 0x20)), r[7] = bitcast<V>(_mm256_permute2x128_si256(u3, u7, 0x31));
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

// The low and high halves of a vector (vextracti64x4, vextractf128, …).
template <class V>
STRATA_INLINE vec<scalar_of<V>, sizeof(V) / 2> low_half(V v) {
  using H = vec<scalar_of<V>, sizeof(V) / 2>;
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64) return bitcast<H>(_mm512_castsi512_si256(bitcast<__m512i>(v)));
#endif
#if defined(__AVX__)
  if constexpr (sizeof(V) == 32) return bitcast<H>(_mm256_castps256_ps128(bitcast<__m256>(v)));
#endif
  H h;
  std::memcpy(&h, &v, sizeof(H));
  return h;
}
template <class V>
STRATA_INLINE vec<scalar_of<V>, sizeof(V) / 2> high_half(V v) {
  using H = vec<scalar_of<V>, sizeof(V) / 2>;
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64) return bitcast<H>(_mm512_extracti64x4_epi64(bitcast<__m512i>(v), 1));
#endif
#if defined(__AVX2__)
  if constexpr (sizeof(V) == 32 && std::is_integral_v<scalar_of<V>>)
    return bitcast<H>(_mm256_extracti128_si256(bitcast<__m256i>(v), 1));
#endif
#if defined(__AVX__)
  if constexpr (sizeof(V) == 32) return bitcast<H>(_mm256_extractf128_ps(bitcast<__m256>(v), 1));
#endif
  H h;
  std::memcpy(&h, reinterpret_cast<const char*>(&v) + sizeof(H), sizeof(H));
  return h;
}

// The largest lane: halves compared down to 16 bytes, then lane by lane. Nothing goes through
// memory, so that a vector of running maxima stays in a register in the loop before.
template <class V>
STRATA_INLINE scalar_of<V> hmax(V v) {
  if constexpr (sizeof(V) > 16) {
    const auto lo = low_half(v), hi = high_half(v);
    return hmax(lo > hi ? lo : hi);
  } else {
    scalar_of<V> m = v[0];
    STRATA_PRAGMA(GCC unroll 16)
    for (int i = 1; i < lanes_of<V>; ++i) m = v[i] > m ? v[i] : m;
    return m;
  }
}

// ---------------------------------------------------------------------------------------------
// Bit counting and sign bits, for the binary (XNOR–popcount) kernels.

// Bits set in x: one POPCNT where the target has it (-mpopcnt, x86-64-v2 and up), else libgcc's
// table-free routine.
STRATA_INLINE int popcount(std::uint64_t x) { return __builtin_popcountll(x); }

// The lanes of v below zero, as bits (bit l: lane l; lanes ≤ 64). An ordered compare, not the
// sign bit: −0 and NaN (of either sign) give 0, as the packing of binary networks wants. One
// vcmpps to a mask register with AVX-512, vcmpps + vmovmskps with AVX/SSE.
template <class V>
STRATA_INLINE std::uint64_t negative_lanes(V v) {
  using S = scalar_of<V>;
  [[maybe_unused]] constexpr bool f = std::is_same_v<S, float>, d = std::is_same_v<S, double>;
#if defined(__AVX512F__)
  if constexpr (f && sizeof(V) == 64) return _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
  if constexpr (d && sizeof(V) == 64) return _mm512_cmp_pd_mask(v, _mm512_setzero_pd(), _CMP_LT_OQ);
#endif
#if defined(__AVX__)
  if constexpr (f && sizeof(V) == 32) return unsigned(_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ)));
  if constexpr (d && sizeof(V) == 32) return unsigned(_mm256_movemask_pd(_mm256_cmp_pd(v, _mm256_setzero_pd(), _CMP_LT_OQ)));
#endif
#if defined(__SSE2__)
  if constexpr (f && sizeof(V) == 16) return unsigned(_mm_movemask_ps(_mm_cmplt_ps(v, _mm_setzero_ps())));
  if constexpr (d && sizeof(V) == 16) return unsigned(_mm_movemask_pd(_mm_cmplt_pd(v, _mm_setzero_pd())));
#endif
  std::uint64_t m = 0;
  for (int l = 0; l < lanes_of<V>; ++l) m |= std::uint64_t(v[l] < S(0)) << l;
  return m;
}

// The lanes where a < b, as bits (bit l: lane l), for int32 lanes: one vpcmpd to a mask register
// with AVX-512VL, vpcmpgtd + vmovmskps with AVX2.
template <class V>
STRATA_INLINE std::uint64_t less_lanes(V a, V b) {
  static_assert(std::is_same_v<scalar_of<V>, std::int32_t>, "strata::simd::less_lanes takes int32 lanes");
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64) return _mm512_cmplt_epi32_mask(bitcast<__m512i>(a), bitcast<__m512i>(b));
#endif
#if defined(__AVX512VL__)
  if constexpr (sizeof(V) == 32) return _mm256_cmplt_epi32_mask(bitcast<__m256i>(a), bitcast<__m256i>(b));
#endif
#if defined(__AVX2__)
  if constexpr (sizeof(V) == 32)
    return unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(bitcast<__m256i>(b), bitcast<__m256i>(a)))));
#endif
  std::uint64_t m = 0;
  for (int l = 0; l < lanes_of<V>; ++l) m |= std::uint64_t(a[l] < b[l]) << l;
  return m;
}

// Bits set in each byte of v (any integer lanes; the result has v's type). VPOPCNTB with
// AVX-512 BITALG; else two 16-entry table lookups per byte (vpshufb on the low and high nibble,
// SSSE3 and up); else the shift-and-add bit trick lane by lane.
template <class V>
STRATA_INLINE V popcount_bytes(V v) {
  static_assert(std::is_integral_v<scalar_of<V>>, "strata::simd::popcount_bytes takes integer lanes");
#if defined(__AVX512BITALG__) && defined(__AVX512BW__)
  if constexpr (sizeof(V) == 64) return bitcast<V>(_mm512_popcnt_epi8(bitcast<__m512i>(v)));
#endif
#if defined(__AVX512BITALG__) && defined(__AVX512VL__)
  if constexpr (sizeof(V) == 32) return bitcast<V>(_mm256_popcnt_epi8(bitcast<__m256i>(v)));
  if constexpr (sizeof(V) == 16) return bitcast<V>(_mm_popcnt_epi8(bitcast<__m128i>(v)));
#endif
#if defined(__AVX512BW__)
  if constexpr (sizeof(V) == 64) {
    const __m512i table = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
    const __m512i low = _mm512_set1_epi8(0x0f), x = bitcast<__m512i>(v);
    return bitcast<V>(_mm512_add_epi8(_mm512_shuffle_epi8(table, _mm512_and_si512(x, low)),
                                      _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(x, 4), low))));
  }
#endif
#if defined(__AVX2__)
  if constexpr (sizeof(V) == 32) {
    const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f), x = bitcast<__m256i>(v);
    return bitcast<V>(_mm256_add_epi8(_mm256_shuffle_epi8(table, _mm256_and_si256(x, low)),
                                      _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(x, 4), low))));
  }
#endif
#if defined(__SSSE3__)
  if constexpr (sizeof(V) == 16) {
    const __m128i table = _mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m128i low = _mm_set1_epi8(0x0f), x = bitcast<__m128i>(v);
    return bitcast<V>(_mm_add_epi8(_mm_shuffle_epi8(table, _mm_and_si128(x, low)),
                                   _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(x, 4), low))));
  }
#endif
  using B = vec<std::uint8_t, sizeof(V)>;
  B b = bitcast<B>(v);
  b = b - ((b >> 1) & 0x55);
  b = (b & 0x33) + ((b >> 2) & 0x33);
  return bitcast<V>(B((b + (b >> 4)) & 0x0f));
}

// Bits set in each byte of v where every byte is at most 15 (a nibble): one vpshufb lookup with
// SSSE3 and up, else popcount_bytes. For operands split into nibbles ahead of time, which saves
// the two masks and the shift of popcount_bytes.
template <class V>
STRATA_INLINE V popcount_low_nibbles(V v) {
  static_assert(std::is_integral_v<scalar_of<V>>, "strata::simd::popcount_low_nibbles takes integer lanes");
#if defined(__AVX512BW__)
  if constexpr (sizeof(V) == 64)
    return bitcast<V>(_mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4)),
                                          bitcast<__m512i>(v)));
#endif
#if defined(__AVX2__)
  if constexpr (sizeof(V) == 32)
    return bitcast<V>(_mm256_shuffle_epi8(
        _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4),
        bitcast<__m256i>(v)));
#endif
#if defined(__SSSE3__)
  if constexpr (sizeof(V) == 16)
    return bitcast<V>(_mm_shuffle_epi8(_mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4), bitcast<__m128i>(v)));
#endif
  return popcount_bytes(v);
}

// The sum of each 8 consecutive bytes of v (unsigned) in the 64-bit lane that holds them: vpsadbw
// against zero. What turns byte counts from popcount_bytes into 64-bit counts.
template <class V>
STRATA_INLINE vec<std::uint64_t, sizeof(V)> sum_bytes_per_lane(V v) {
  using R = vec<std::uint64_t, sizeof(V)>;
#if defined(__AVX512BW__)
  if constexpr (sizeof(V) == 64) return bitcast<R>(_mm512_sad_epu8(bitcast<__m512i>(v), _mm512_setzero_si512()));
#endif
#if defined(__AVX2__)
  if constexpr (sizeof(V) == 32) return bitcast<R>(_mm256_sad_epu8(bitcast<__m256i>(v), _mm256_setzero_si256()));
#endif
#if defined(__SSE2__)
  if constexpr (sizeof(V) == 16) return bitcast<R>(_mm_sad_epu8(bitcast<__m128i>(v), _mm_setzero_si128()));
#endif
  R r{};
  std::uint8_t bytes[sizeof(V)];
  std::memcpy(bytes, &v, sizeof(V));
  for (std::size_t i = 0; i < sizeof(V); ++i) r[i / 8] += bytes[i];
  return r;
}

// Bits set in each 64-bit lane of v: VPOPCNTQ with AVX-512 VPOPCNTDQ (VL below 64 bytes), else
// the byte counts summed per lane, else POPCNT lane by lane.
template <class V>
STRATA_INLINE V popcount_lanes(V v) {
  static_assert(std::is_integral_v<scalar_of<V>> && sizeof(scalar_of<V>) == 8,
                "strata::simd::popcount_lanes takes 64-bit integer lanes");
#if defined(__AVX512VPOPCNTDQ__)
  if constexpr (sizeof(V) == 64) return bitcast<V>(_mm512_popcnt_epi64(bitcast<__m512i>(v)));
#endif
#if defined(__AVX512VPOPCNTDQ__) && defined(__AVX512VL__)
  if constexpr (sizeof(V) == 32) return bitcast<V>(_mm256_popcnt_epi64(bitcast<__m256i>(v)));
  if constexpr (sizeof(V) == 16) return bitcast<V>(_mm_popcnt_epi64(bitcast<__m128i>(v)));
#endif
#if defined(__AVX2__)
  if constexpr (sizeof(V) >= 32) return bitcast<V>(sum_bytes_per_lane(popcount_bytes(v)));
#endif
  V r;
  for (int l = 0; l < lanes_of<V>; ++l) r[l] = scalar_of<V>(popcount(std::uint64_t(v[l])));
  return r;
}

// ---------------------------------------------------------------------------------------------
// IEEE binary16 values as their bit patterns in int16 lanes (vec<std::int16_t>, or one
// std::int16_t): what an fp16 kernel that only compares, selects or moves values needs, with no
// conversion to float and results bit for bit those of the float path (widen, compare or select
// in float, round back). Portable: vector-extension operators only (AVX-512BW: 32 lanes a
// vector, AVX2: 16).

// A key that orders fp16 values as float comparisons do: monotone in the value, −0 and +0 equal
// (both 0), −Inf = −0x7c00 < every finite value < +Inf = 0x7c00. NaNs get keys outside that range
// (their order means nothing: test fp16_is_nan first, as float code tests v != v).
template <class V>
STRATA_INLINE V fp16_order_key(V bits) {
  const V magnitude = bits & std::int16_t(0x7fff);
  return bits < std::int16_t(0) ? V(-magnitude) : magnitude;
}

// Lanes (all ones) holding a NaN: exponent all ones, fraction not 0.
template <class V>
STRATA_INLINE auto fp16_is_nan(V bits) {
  return (bits & std::int16_t(0x7fff)) > std::int16_t(0x7c00);
}

// The bits a value has after a round trip through float: NaNs come back quiet (quiet bit 0x0200
// set, sign and payload kept, as VCVTPH2PS / VCVTPS2PH do); everything else is unchanged.
template <class V>
STRATA_INLINE V fp16_through_float(V bits) {
  return fp16_is_nan(bits) ? V(bits | std::int16_t(0x0200)) : bits;
}

}  // namespace strata::kernels::cpu::simd

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
