// strata/numeric/half.hpp — IEEE 754 binary16: branch-free constexpr bit conversions (float and
// double to half with round-to-nearest-even, half to float exact), a 16-bit `half` value type that
// computes in float, its std::numeric_limits, and bulk half<->float conversion (AVX-512/F16C/scalar).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <limits>
#include <type_traits>

#include "strata/config.hpp"

#if !STRATA_DEVICE_CODE && defined(__AVX512F__)
#define STRATA_HALF_PATH_AVX512 1
#define STRATA_HALF_PATH_F16C 0
#elif !STRATA_DEVICE_CODE && defined(__F16C__)
#define STRATA_HALF_PATH_AVX512 0
#define STRATA_HALF_PATH_F16C 1
#else
#define STRATA_HALF_PATH_AVX512 0
#define STRATA_HALF_PATH_F16C 0
#endif
#if STRATA_HALF_PATH_AVX512 || STRATA_HALF_PATH_F16C
#include <immintrin.h>
#endif

namespace strata {

// ---------------------------------------------------------------------------------------------
// Scalar bit conversions.
//
// binary16: 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits. Exponent 0 holds ±0 and the
// subnormals (fraction * 2^-24); exponent 31 holds ±Inf (fraction 0) and NaN (fraction != 0).
//
// The three functions below are branch-free (integer selects and masks; no data-dependent
// branches, loops or tables), so a `STRATA_SIMD` loop over any of them vectorises with GCC at -O2
// and up (x86-64-v3: 8 or 16 lanes with vpsrlvd/vpblendvb; AVX-512: zmm). Their only float
// operation is an exact multiply of normal numbers, so the rounding mode and FTZ/DAZ do not matter.
// ---------------------------------------------------------------------------------------------

// Exact for all 65,536 patterns. NaNs keep sign and payload; a signalling NaN comes back quiet
// (quiet bit set), as IEEE 754 conversions and the F16C/AVX-512 instructions do.
STRATA_HD STRATA_INLINE constexpr float half_bits_to_float(std::uint16_t h) noexcept {
#if defined(__CUDA_ARCH__)
  // On the GPU, its conversion instruction (the same value, one cvt instead of ~15 integer
  // operations: fp16 expressions were compute-bound at 0.39 of copy bandwidth without it); NaNs
  // take the path below, since cvt makes them canonical.
  if (!std::is_constant_evaluated() && (h & 0x7fffu) <= 0x7c00u) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
  }
#endif
  const std::uint32_t x = h;
  const std::uint32_t sign = (x & 0x8000u) << 16;
  const std::uint32_t mag = x & 0x7fffu;  // exponent and fraction
  const std::uint32_t exp = mag >> 10;
  const std::uint32_t frac = mag & 0x03ffu;
  // Finite: value = sig * 2^(e - 25) with sig = 1024 + frac, e = exp for normals and
  // sig = frac, e = 1 for zero/subnormals. sig < 2^11 and the scale is a normal float, so the
  // product is exact (and never a float subnormal). Inf/NaN lanes mask that product away.
  // The flags below are arithmetic on comparison results rather than `?:` on purpose: with
  // selects, GCC threads the exp == 0 cases into separate paths, and under the default
  // -ftrapping-math it then cannot if-convert the float multiply back, so the loop would not
  // vectorise.
  const std::uint32_t is_special = static_cast<std::uint32_t>(exp == 31u);  // Inf or NaN
  const std::uint32_t is_normal = static_cast<std::uint32_t>(exp - 1u < 30u);
  const std::uint32_t sig = frac | (is_normal << 10);
  const std::uint32_t e = exp | static_cast<std::uint32_t>(exp == 0u);
  const float scale = bit_cast<float>((e + 102u) << 23);  // 2^(e - 25)
  const std::uint32_t finite =
      bit_cast<std::uint32_t>(static_cast<float>(static_cast<std::int32_t>(sig)) * scale) &
      (is_special - 1u);
  // Inf / NaN: all-ones exponent, fraction (payload) in the top fraction bits, quiet bit on NaN.
  const std::uint32_t infnan =
      (0x7f800000u | (frac << 13) | (static_cast<std::uint32_t>(frac != 0u) << 22)) &
      (0u - is_special);
  return bit_cast<float>(finite | infnan | sign);
}

// Round to nearest, ties to even. |f| >= 65520 (the midpoint between 65504 and 2^16) gives ±Inf;
// results below 2^-14 are rounded into the subnormals (and may round up to 2^-14); ±0 keeps its
// sign. A NaN stays a NaN: sign kept, top 10 payload bits kept, quiet bit forced (so never Inf).
// Bit-identical to VCVTPS2PH with round-to-nearest-even, NaNs included.
STRATA_HD STRATA_INLINE constexpr std::uint16_t float_to_half_bits(float f) noexcept {
#if defined(__CUDA_ARCH__)
  // The GPU's round-to-nearest-even conversion (no .ftz: subnormals kept), NaNs as below.
  if (!std::is_constant_evaluated() && (bit_cast<std::uint32_t>(f) & 0x7fffffffu) <= 0x7f800000u) {
    unsigned short r;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r) : "f"(f));
    return r;
  }
#endif
  const std::uint32_t x = bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t a = x & 0x7fffffffu;  // |f|
  // Normal result (2^-14 <= |f| < 65520): rebias 127 -> 15 and drop 13 fraction bits with RNE:
  // add 0xfff plus the lowest kept bit, so an exact tie carries only when that bit is odd. A carry
  // out of the fraction correctly bumps the exponent.
  const std::uint32_t normal = (a - (112u << 23) + 0x0fffu + ((a >> 13) & 1u)) >> 13;
  // Subnormal result (|f| < 2^-14): |f| = m * 2^(e-150) with the implicit bit in m, so the half
  // fraction is RNE(m * 2^(e-126)) = RNE(m >> s) with s = 126 - e >= 14; s is clamped to 31, which
  // already gives 0 for every m < 2^24. (Float subnormals, e = 0, also give 0, as they must.)
  const std::uint32_t e = a >> 23;
  const std::uint32_t m = (a & 0x007fffffu) | 0x00800000u;
  const std::uint32_t s0 = 126u - e;  // wraps to a large value when e > 126 (lane not used)
  const std::uint32_t s = s0 < 31u ? s0 : 31u;
  const std::uint32_t sub = (m + ((1u << s) >> 1) - 1u + ((m >> s) & 1u)) >> s;
  const std::uint32_t nan = 0x7e00u | ((a >> 13) & 0x03ffu);
  std::uint32_t r = a >= 0x38800000u ? normal : sub;  // 0x38800000 = 2^-14
  r = a >= 0x477ff000u ? 0x7c00u : r;                 // 0x477ff000 = 65520.0f
  r = a > 0x7f800000u ? nan : r;                      // NaN
  return static_cast<std::uint16_t>(r | sign);
}

// double -> half, rounded once (no double rounding through float). The double is first narrowed
// to float *rounding to odd* (truncate, then set the last bit if anything nonzero was dropped);
// with 24 >= 11 + 2 bits, RNE of that float to half equals RNE of the double. Magnitudes the float
// step cannot hold are clamped to values that round the same way (< 2^-100 -> 0, >= 2^16 -> 2^16).
// Bit-identical to float_to_half_bits on every double that is exactly a float, NaNs included.
STRATA_HD STRATA_INLINE constexpr std::uint16_t double_to_half_bits(double d) noexcept {
  const std::uint64_t x = bit_cast<std::uint64_t>(d);
  const std::uint32_t sign = static_cast<std::uint32_t>(x >> 32) & 0x80000000u;
  const std::uint64_t a = x & 0x7fffffffffffffffull;
  // Rebias 1023 -> 127 (-896) and keep the top 23 of 52 fraction bits, sticky bit ORed in.
  const std::uint32_t odd = static_cast<std::uint32_t>((a >> 29) - (896ull << 23)) |
                            static_cast<std::uint32_t>((a & 0x1fffffffull) != 0u);
  const std::uint32_t nan = 0x7fc00000u | static_cast<std::uint32_t>((a >> 29) & 0x007fffffu);
  std::uint32_t f = a < 0x39b0000000000000ull ? 0u : odd;     // below 2^-100: rounds to 0
  f = a >= 0x40f0000000000000ull ? 0x47800000u : f;            // 2^16 and up (Inf too): Inf
  f = a > 0x7ff0000000000000ull ? nan : f;                     // NaN: payload's top bits
  return float_to_half_bits(bit_cast<float>(f | sign));
}

// ---------------------------------------------------------------------------------------------
// half: 16-bit storage type, bit-compatible with CUDA's __half. Trivial default constructor
// (uninitialised, like a float). Arithmetic on two halves computes in float and rounds back; since
// float has 24 >= 2*11 + 2 significand bits, + - * / are then correctly rounded half operations.
// Mixed half/other arithmetic goes through the implicit conversion to float and yields float.
// ---------------------------------------------------------------------------------------------
struct half {
  half() = default;
  STRATA_HD constexpr explicit half(float f) noexcept : bits_(float_to_half_bits(f)) {}
  STRATA_HD constexpr explicit half(double d) noexcept : bits_(double_to_half_bits(d)) {}
  // Host only. Rounded once: x is first rounded to double *to odd* (the double next to x with an
  // odd last bit when x is not a double), which makes the following double -> half RNE exact.
  constexpr explicit half(long double x) noexcept : bits_(long_double_to_half_bits(x)) {}
  // Integers go through float: any integer below 2^24 is exact there and anything >= 65520
  // becomes Inf either way, so the result is correctly rounded.
  template <class T>
    requires std::is_integral_v<T>
  STRATA_HD constexpr explicit half(T v) noexcept : bits_(float_to_half_bits(static_cast<float>(v))) {}

  STRATA_HD static constexpr half from_bits(std::uint16_t b) noexcept {
    half h;
    h.bits_ = b;
    return h;
  }
  STRATA_HD constexpr std::uint16_t bits() const noexcept { return bits_; }
  STRATA_HD constexpr operator float() const noexcept { return half_bits_to_float(bits_); }

  // --- arithmetic between halves: float arithmetic, rounded back to half ---
  STRATA_HD friend constexpr half operator+(half a, half b) noexcept {
    return half(static_cast<float>(a) + static_cast<float>(b));
  }
  STRATA_HD friend constexpr half operator-(half a, half b) noexcept {
    return half(static_cast<float>(a) - static_cast<float>(b));
  }
  STRATA_HD friend constexpr half operator*(half a, half b) noexcept {
    return half(static_cast<float>(a) * static_cast<float>(b));
  }
  STRATA_HD friend constexpr half operator/(half a, half b) noexcept {
    return half(static_cast<float>(a) / static_cast<float>(b));
  }
  // Negation flips the sign bit (exact; also for NaN, ±0 and ±Inf).
  STRATA_HD friend constexpr half operator-(half a) noexcept {
    return from_bits(static_cast<std::uint16_t>(a.bits_ ^ 0x8000u));
  }
  STRATA_HD friend constexpr half operator+(half a) noexcept { return a; }

  STRATA_HD constexpr half& operator+=(half o) noexcept { return *this = *this + o; }
  STRATA_HD constexpr half& operator-=(half o) noexcept { return *this = *this - o; }
  STRATA_HD constexpr half& operator*=(half o) noexcept { return *this = *this * o; }
  STRATA_HD constexpr half& operator/=(half o) noexcept { return *this = *this / o; }
  // h op= float: computed in float, rounded to half once.
  STRATA_HD constexpr half& operator+=(float o) noexcept { return *this = half(float(*this) + o); }
  STRATA_HD constexpr half& operator-=(float o) noexcept { return *this = half(float(*this) - o); }
  STRATA_HD constexpr half& operator*=(float o) noexcept { return *this = half(float(*this) * o); }
  STRATA_HD constexpr half& operator/=(float o) noexcept { return *this = half(float(*this) / o); }

  // --- comparisons: as float (NaN unordered, +0 == -0) ---
  STRATA_HD friend constexpr bool operator==(half a, half b) noexcept {
    return static_cast<float>(a) == static_cast<float>(b);
  }
  STRATA_HD friend constexpr bool operator!=(half a, half b) noexcept {
    return static_cast<float>(a) != static_cast<float>(b);
  }
  STRATA_HD friend constexpr bool operator<(half a, half b) noexcept {
    return static_cast<float>(a) < static_cast<float>(b);
  }
  STRATA_HD friend constexpr bool operator<=(half a, half b) noexcept {
    return static_cast<float>(a) <= static_cast<float>(b);
  }
  STRATA_HD friend constexpr bool operator>(half a, half b) noexcept {
    return static_cast<float>(a) > static_cast<float>(b);
  }
  STRATA_HD friend constexpr bool operator>=(half a, half b) noexcept {
    return static_cast<float>(a) >= static_cast<float>(b);
  }

 private:
  std::uint16_t bits_;

  static constexpr std::uint16_t long_double_to_half_bits(long double x) noexcept {
    if constexpr (std::numeric_limits<long double>::digits <= 53) {
      return double_to_half_bits(static_cast<double>(x));
    } else {
      const double d = static_cast<double>(x);  // round to nearest
      std::uint64_t b = bit_cast<std::uint64_t>(d);
      const bool inexact = x == x && x != static_cast<long double>(d);
      if (inexact && (b & 1u) == 0u) {
        // Step to the neighbour on x's side: both neighbours of an even double are odd.
        const bool above = (x < 0 ? -x : x) > (d < 0 ? -d : d);
        b = above ? b + 1u : b - 1u;
      }
      return double_to_half_bits(bit_cast<double>(b));
    }
  }
};

static_assert(sizeof(half) == 2, "strata::half must be exactly 16 bits");
static_assert(std::is_trivially_copyable_v<half> && std::is_standard_layout_v<half> &&
                  std::is_trivially_default_constructible_v<half>,
              "strata::half must stay a trivial 16-bit type");

STRATA_HD constexpr bool isnan(half h) noexcept { return (h.bits() & 0x7fffu) > 0x7c00u; }
STRATA_HD constexpr bool isinf(half h) noexcept { return (h.bits() & 0x7fffu) == 0x7c00u; }
STRATA_HD constexpr bool isfinite(half h) noexcept { return (h.bits() & 0x7c00u) != 0x7c00u; }
STRATA_HD constexpr bool signbit(half h) noexcept { return (h.bits() & 0x8000u) != 0u; }
STRATA_HD constexpr half abs(half h) noexcept {
  return half::from_bits(static_cast<std::uint16_t>(h.bits() & 0x7fffu));
}

// Streams as its float value. A template so that only <iosfwd> is needed here; it instantiates
// where it is used, i.e. where the caller already has <ostream>.
template <class CharT, class Traits>
std::basic_ostream<CharT, Traits>& operator<<(std::basic_ostream<CharT, Traits>& os, half h) {
  return os << static_cast<float>(h);
}

// ---------------------------------------------------------------------------------------------
// Bulk conversion (host only). src and dst must not overlap. NaNs behave as in the scalar
// functions, which these match bit for bit on every path.
//
// The path depends on this translation unit's target flags, so these live in an inline namespace
// named after the path: translation units built with different -m flags then get different
// symbols instead of silently sharing whichever inline copy the linker keeps.
// ---------------------------------------------------------------------------------------------
#if STRATA_HALF_PATH_AVX512
inline namespace half_conv_avx512 {
#elif STRATA_HALF_PATH_F16C
inline namespace half_conv_f16c {
#else
inline namespace half_conv_scalar {
#endif

// Which implementation `convert` uses in this translation unit: "avx512", "f16c" or "scalar".
constexpr const char* half_conversion_path() noexcept {
#if STRATA_HALF_PATH_AVX512
  return "avx512";
#elif STRATA_HALF_PATH_F16C
  return "f16c";
#else
  return "scalar";
#endif
}

// The vector loops run to a precomputed bound (not `i + W <= n`): with the latter, GCC 12 emits a
// bogus -Waggressive-loop-optimizations on the tail when n is a known constant.
inline void convert(const half* STRATA_RESTRICT src, float* STRATA_RESTRICT dst,
                    std::int64_t n) noexcept {
#if STRATA_HALF_PATH_AVX512 || STRATA_HALF_PATH_F16C
  std::int64_t i = 0;
#if STRATA_HALF_PATH_AVX512
  const std::int64_t nv = n > 0 ? n - n % 16 : 0;
  for (; i < nv; i += 16) {
    // The maskz forms with a full mask compile to the plain instruction; the unmasked intrinsics
    // trip GCC 12's bogus -Wmaybe-uninitialized on _mm512_undefined_* (fixed in GCC 13).
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    _mm512_storeu_ps(dst + i, _mm512_maskz_cvtph_ps(0xffff, h));
  }
#else
  const std::int64_t nv = n > 0 ? n - n % 8 : 0;
  for (; i < nv; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
#endif
  for (; i < n; ++i) dst[i] = half_bits_to_float(src[i].bits());  // tail
#else
  STRATA_SIMD
  for (std::int64_t i = 0; i < n; ++i) dst[i] = half_bits_to_float(src[i].bits());
#endif
}

inline void convert(const float* STRATA_RESTRICT src, half* STRATA_RESTRICT dst,
                    std::int64_t n) noexcept {
#if STRATA_HALF_PATH_AVX512 || STRATA_HALF_PATH_F16C
  std::int64_t i = 0;
#if STRATA_HALF_PATH_AVX512
  const std::int64_t nv = n > 0 ? n - n % 16 : 0;
  for (; i < nv; i += 16) {
    const __m256i h = _mm512_maskz_cvtps_ph(0xffff, _mm512_loadu_ps(src + i),
                                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), h);
  }
#else
  const std::int64_t nv = n > 0 ? n - n % 8 : 0;
  for (; i < nv; i += 8) {
    const __m128i h =
        _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
#endif
  for (; i < n; ++i) dst[i] = half::from_bits(float_to_half_bits(src[i]));  // tail
#else
  STRATA_SIMD
  for (std::int64_t i = 0; i < n; ++i) dst[i] = half::from_bits(float_to_half_bits(src[i]));
#endif
}

}  // inline namespace half_conv_*

}  // namespace strata

#undef STRATA_HALF_PATH_AVX512
#undef STRATA_HALF_PATH_F16C

namespace std {

template <>
class numeric_limits<strata::half> {
 public:
  static constexpr bool is_specialized = true;
  static constexpr bool is_signed = true;
  static constexpr bool is_integer = false;
  static constexpr bool is_exact = false;
  static constexpr bool has_infinity = true;
  static constexpr bool has_quiet_NaN = true;
  static constexpr bool has_signaling_NaN = true;
  static constexpr float_denorm_style has_denorm = denorm_present;
  static constexpr bool has_denorm_loss = false;
  static constexpr float_round_style round_style = round_to_nearest;
  static constexpr bool is_iec559 = true;
  static constexpr bool is_bounded = true;
  static constexpr bool is_modulo = false;
  static constexpr int digits = 11;
  static constexpr int digits10 = 3;       // floor((11 - 1) * log10(2))
  static constexpr int max_digits10 = 5;   // ceil(1 + 11 * log10(2))
  static constexpr int radix = 2;
  static constexpr int min_exponent = -13;  // 2^(min_exponent - 1) = 2^-14 is the smallest normal
  static constexpr int min_exponent10 = -4;
  static constexpr int max_exponent = 16;
  static constexpr int max_exponent10 = 4;
  static constexpr bool traps = false;
  static constexpr bool tinyness_before = false;

  STRATA_HD static constexpr strata::half min() noexcept { return strata::half::from_bits(0x0400); }
  STRATA_HD static constexpr strata::half lowest() noexcept { return strata::half::from_bits(0xfbff); }
  STRATA_HD static constexpr strata::half max() noexcept { return strata::half::from_bits(0x7bff); }
  STRATA_HD static constexpr strata::half epsilon() noexcept { return strata::half::from_bits(0x1400); }
  STRATA_HD static constexpr strata::half round_error() noexcept {
    return strata::half::from_bits(0x3800);  // 0.5
  }
  STRATA_HD static constexpr strata::half infinity() noexcept { return strata::half::from_bits(0x7c00); }
  STRATA_HD static constexpr strata::half quiet_NaN() noexcept { return strata::half::from_bits(0x7e00); }
  STRATA_HD static constexpr strata::half signaling_NaN() noexcept {
    return strata::half::from_bits(0x7d00);
  }
  STRATA_HD static constexpr strata::half denorm_min() noexcept { return strata::half::from_bits(0x0001); }
};

}  // namespace std
