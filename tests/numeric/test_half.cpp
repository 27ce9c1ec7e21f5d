// tests/numeric/test_half.cpp — strata/numeric/half.hpp: exhaustive half->float, structured
// float->half rounding (every midpoint between adjacent halves), agreement with F16C hardware and
// with the bulk converters, and the `half` type's arithmetic, comparisons and numeric_limits.
#include "strata/numeric/half.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__F16C__)
#include <immintrin.h>
#endif

using strata::half;

namespace {

std::uint32_t f2u(float f) { return strata::bit_cast<std::uint32_t>(f); }
float u2f(std::uint32_t u) { return strata::bit_cast<float>(u); }

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// Collects mismatches of a sweep so that one CHECK reports the count and the first few cases.
struct Mismatches {
  std::size_t count = 0;
  std::string first;
  void add(const std::string& what) {
    if (count++ < 8) first += what + "\n";
  }
};
#define CHECK_NO_MISMATCHES(m) \
  do {                         \
    INFO((m).first);           \
    CHECK((m).count == 0u);    \
  } while (0)

// Independent decoder, straight from the binary16 definition, in double.
double reference_half_value(std::uint16_t h) {
  const bool neg = (h & 0x8000u) != 0;
  const int exp = (h >> 10) & 0x1f;
  const int frac = h & 0x3ff;
  double v;
  if (exp == 31) {
    v = frac == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else if (exp == 0) {
    v = std::ldexp(static_cast<double>(frac), -24);
  } else {
    v = std::ldexp(static_cast<double>(1024 + frac), exp - 25);
  }
  return neg ? -v : v;
}

bool half_is_nan(std::uint16_t h) { return (h & 0x7fffu) > 0x7c00u; }

// One float to convert and the half bits it must round to.
struct Case {
  float f;
  std::uint16_t expect;
};

// For each pair of adjacent non-negative finite halves (k, k+1): the exact midpoint (ties to the
// even one) and its float neighbours on either side, plus the float neighbours of each half value
// itself; all of it mirrored for negative values. Above max = 65504 the next step of the format
// would be 2^16 (even, encoded as Inf), so that last midpoint is 65520, which ties up to Inf.
const std::vector<Case>& midpoint_cases() {
  static const std::vector<Case> cases = [] {
    std::vector<Case> c;
    for (std::uint32_t k = 0; k <= 0x7bffu; ++k) {
      const double lo = reference_half_value(static_cast<std::uint16_t>(k));
      const double hi = k == 0x7bffu ? 65536.0 : reference_half_value(static_cast<std::uint16_t>(k + 1));
      const double mid = (lo + hi) / 2;  // exact: 12 significant bits
      const float fm = static_cast<float>(mid);
      const auto up = static_cast<std::uint16_t>(k + 1);  // 0x7c00 (Inf) for k = max
      const auto down = static_cast<std::uint16_t>(k);
      const std::uint16_t tie = (k & 1u) ? up : down;
      const float flo = static_cast<float>(lo);
      for (std::uint16_t s : {std::uint16_t{0}, std::uint16_t{0x8000}}) {
        const float sg = s ? -1.0f : 1.0f;
        c.push_back({sg * fm, static_cast<std::uint16_t>(tie | s)});
        c.push_back({sg * std::nextafter(fm, 0.0f), static_cast<std::uint16_t>(down | s)});
        c.push_back({sg * std::nextafter(fm, 1e30f), static_cast<std::uint16_t>(up | s)});
        c.push_back({sg * flo, static_cast<std::uint16_t>(down | s)});
        c.push_back({sg * std::nextafter(flo, 1e30f), static_cast<std::uint16_t>(down | s)});
        if (k != 0) c.push_back({sg * std::nextafter(flo, 0.0f), static_cast<std::uint16_t>(down | s)});
      }
    }
    return c;
  }();
  return cases;
}

// Random floats: half arbitrary bit patterns, half with exponents around the binary16 range.
std::vector<float> random_floats(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t bits = rng();
    if (i & 1u) {
      const std::uint32_t exp = 127u - 28u + (bits >> 24) % 48u;  // 2^-28 .. 2^19
      bits = (bits & 0x807fffffu) | (exp << 23);
    }
    v[i] = u2f(bits);
  }
  return v;
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Compile-time properties.
// ------------------------------------------------------------------------------------------------
static_assert(sizeof(half) == 2);
static_assert(alignof(half) == 2);
static_assert(std::is_trivially_copyable_v<half>);
static_assert(std::is_standard_layout_v<half>);
static_assert(std::is_trivially_default_constructible_v<half>);
static_assert(!std::is_convertible_v<float, half>, "float -> half must be explicit");
static_assert(std::is_convertible_v<half, float>, "half -> float is implicit");
static_assert(half(1.0f).bits() == 0x3c00);
static_assert(half(-2.0f).bits() == 0xc000);
static_assert(half(65504.0f).bits() == 0x7bff);
static_assert(half(65520.0f).bits() == 0x7c00);
static_assert(half(0.1).bits() == 0x2e66);
static_assert(half(1).bits() == 0x3c00);
static_assert(half(1.0L).bits() == 0x3c00);
static_assert(strata::half_bits_to_float(0x3555) == 0x1.554p-2f);
static_assert(strata::float_to_half_bits(0x1p-24f) == 0x0001);
static_assert(strata::float_to_half_bits(0x1p-25f) == 0x0000);
static_assert(static_cast<float>(half::from_bits(0x0001)) == 0x1p-24f);
static_assert((half(1.5f) + half(2.0f)).bits() == half(3.5f).bits());
static_assert(half(1.0f) < half(2.0f));
static_assert(std::numeric_limits<half>::is_specialized);
static_assert(std::numeric_limits<half>::max().bits() == 0x7bff);

// ------------------------------------------------------------------------------------------------
// half -> float
// ------------------------------------------------------------------------------------------------
TEST_CASE("half_bits_to_float is exact for all 65536 patterns against an ldexp reference decoder",
          "[half]") {
  Mismatches m;
  for (std::uint32_t h = 0; h <= 0xffffu; ++h) {
    const auto hb = static_cast<std::uint16_t>(h);
    const float got = strata::half_bits_to_float(hb);
    const double ref = reference_half_value(hb);
    if (std::isnan(ref)) {
      if (!std::isnan(got) || std::signbit(got) != ((h & 0x8000u) != 0))
        m.add(hex(h) + " -> " + hex(f2u(got)) + " (want NaN with same sign)");
    } else if (f2u(got) != f2u(static_cast<float>(ref))) {
      m.add(hex(h) + " -> " + hex(f2u(got)) + " want " + hex(f2u(static_cast<float>(ref))));
    }
  }
  CHECK_NO_MISMATCHES(m);
}

TEST_CASE("half_bits_to_float keeps a NaN's sign and payload and returns it quiet", "[half]") {
  Mismatches m;
  for (std::uint32_t h = 0; h <= 0xffffu; ++h) {
    if (!half_is_nan(static_cast<std::uint16_t>(h))) continue;
    const std::uint32_t got = f2u(strata::half_bits_to_float(static_cast<std::uint16_t>(h)));
    const std::uint32_t want = ((h & 0x8000u) << 16) | 0x7fc00000u | ((h & 0x3ffu) << 13);
    if (got != want) m.add(hex(h) + " -> " + hex(got) + " want " + hex(want));
  }
  CHECK_NO_MISMATCHES(m);
}

// ------------------------------------------------------------------------------------------------
// float -> half
// ------------------------------------------------------------------------------------------------
TEST_CASE("float_to_half_bits round-trips every finite half and both infinities", "[half]") {
  Mismatches m;
  for (std::uint32_t h = 0; h <= 0xffffu; ++h) {
    const auto hb = static_cast<std::uint16_t>(h);
    if (half_is_nan(hb)) continue;
    const std::uint16_t back = strata::float_to_half_bits(strata::half_bits_to_float(hb));
    if (back != hb) m.add(hex(h) + " -> " + hex(back));
  }
  CHECK_NO_MISMATCHES(m);
}

TEST_CASE("float_to_half_bits rounds each midpoint between adjacent halves to even and its float "
          "neighbours to the nearer half, for both signs",
          "[half]") {
  const auto& cases = midpoint_cases();
  REQUIRE(cases.size() > 6u * 0x7c00u);
  // The midpoints themselves must be exactly representable in float.
  Mismatches exact;
  for (std::uint32_t k = 0; k <= 0x7bffu; ++k) {
    const double lo = reference_half_value(static_cast<std::uint16_t>(k));
    const double hi = k == 0x7bffu ? 65536.0 : reference_half_value(static_cast<std::uint16_t>(k + 1));
    const double mid = (lo + hi) / 2;
    if (static_cast<double>(static_cast<float>(mid)) != mid) exact.add(hex(k));
  }
  CHECK_NO_MISMATCHES(exact);

  Mismatches m;
  for (const Case& c : cases) {
    const std::uint16_t got = strata::float_to_half_bits(c.f);
    if (got != c.expect) m.add(hex(f2u(c.f)) + " -> " + hex(got) + " want " + hex(c.expect));
  }
  CHECK_NO_MISMATCHES(m);
}

TEST_CASE("float_to_half_bits handles overflow, underflow, signed zeros and infinities", "[half]") {
  using strata::float_to_half_bits;
  const float inf = std::numeric_limits<float>::infinity();
  // Overflow: 65520 (midpoint of 65504 and 2^16) ties to the even neighbour, i.e. Inf.
  CHECK(float_to_half_bits(65504.0f) == 0x7bff);
  CHECK(float_to_half_bits(65520.0f) == 0x7c00);
  CHECK(float_to_half_bits(std::nextafter(65520.0f, 0.0f)) == 0x7bff);
  CHECK(float_to_half_bits(-65520.0f) == 0xfc00);
  CHECK(float_to_half_bits(-std::nextafter(65520.0f, 0.0f)) == 0xfbff);
  CHECK(float_to_half_bits(65536.0f) == 0x7c00);
  CHECK(float_to_half_bits(1e10f) == 0x7c00);
  CHECK(float_to_half_bits(std::numeric_limits<float>::max()) == 0x7c00);
  CHECK(float_to_half_bits(-std::numeric_limits<float>::max()) == 0xfc00);
  CHECK(float_to_half_bits(inf) == 0x7c00);
  CHECK(float_to_half_bits(-inf) == 0xfc00);
  // Underflow around denorm_min = 2^-24: half of it ties to 0 (even), above it rounds up.
  CHECK(float_to_half_bits(0x1p-24f) == 0x0001);
  CHECK(float_to_half_bits(0x1p-25f) == 0x0000);
  CHECK(float_to_half_bits(-0x1p-25f) == 0x8000);
  CHECK(float_to_half_bits(std::nextafter(0x1p-25f, 1.0f)) == 0x0001);
  CHECK(float_to_half_bits(-std::nextafter(0x1p-25f, 1.0f)) == 0x8001);
  CHECK(float_to_half_bits(std::nextafter(0x1p-25f, 0.0f)) == 0x0000);
  CHECK(float_to_half_bits(0x1p-26f) == 0x0000);
  CHECK(float_to_half_bits(1.5f * 0x1p-24f) == 0x0002);  // tie between 1 and 2 -> 2 (even)
  CHECK(float_to_half_bits(2.5f * 0x1p-24f) == 0x0002);  // tie between 2 and 3 -> 2 (even)
  CHECK(float_to_half_bits(std::numeric_limits<float>::denorm_min()) == 0x0000);
  CHECK(float_to_half_bits(-std::numeric_limits<float>::denorm_min()) == 0x8000);
  CHECK(float_to_half_bits(std::numeric_limits<float>::min()) == 0x0000);
  // Subnormal/normal boundary: largest subnormal 0x03ff, smallest normal 0x0400 = 2^-14.
  CHECK(float_to_half_bits(0x1p-14f) == 0x0400);
  CHECK(float_to_half_bits(0x3ff.8p-24f) == 0x0400);  // midpoint 0x3ff/0x400 -> even (0x400)
  CHECK(float_to_half_bits(std::nextafter(0x3ff.8p-24f, 0.0f)) == 0x03ff);
  CHECK(float_to_half_bits(0x3fe.8p-24f) == 0x03fe);  // midpoint 0x3fe/0x3ff -> even (0x3fe)
  // Signed zeros.
  CHECK(float_to_half_bits(0.0f) == 0x0000);
  CHECK(float_to_half_bits(-0.0f) == 0x8000);
  // Ordinary values.
  CHECK(float_to_half_bits(1.0f) == 0x3c00);
  CHECK(float_to_half_bits(-1.0f) == 0xbc00);
  CHECK(float_to_half_bits(0.1f) == 0x2e66);
  CHECK(float_to_half_bits(3.14159265f) == 0x4248);
}

TEST_CASE("float_to_half_bits turns every NaN into a quiet NaN with the same sign and top payload",
          "[half]") {
  const std::uint32_t payloads[] = {0x400000u, 0x000001u, 0x200000u, 0x7fffffu, 0x002000u,
                                    0x001fffu, 0x155555u, 0x600000u, 0x3fe000u, 0x000100u};
  for (std::uint32_t sign : {0u, 0x80000000u}) {
    for (std::uint32_t p : payloads) {
      const std::uint32_t fb = sign | 0x7f800000u | p;
      const std::uint16_t h = strata::float_to_half_bits(u2f(fb));
      INFO("float " << hex(fb) << " -> half " << hex(h));
      CHECK(half_is_nan(h));
      CHECK(((h & 0x8000u) != 0) == (sign != 0));
      CHECK((h & 0x7fffu) == (0x7e00u | (p >> 13)));
    }
  }
}

TEST_CASE("double_to_half_bits equals float_to_half_bits on floats and rounds other doubles once",
          "[half]") {
  using strata::double_to_half_bits;
  using strata::float_to_half_bits;
  Mismatches m;
  for (const Case& c : midpoint_cases()) {
    const std::uint16_t got = double_to_half_bits(static_cast<double>(c.f));
    if (got != c.expect) m.add("mid " + hex(f2u(c.f)) + " -> " + hex(got));
  }
  for (float f : random_floats(1u << 20, 7u)) {
    const std::uint16_t want = float_to_half_bits(f);
    const std::uint16_t got = double_to_half_bits(static_cast<double>(f));
    if (got != want) m.add("rnd " + hex(f2u(f)) + " -> " + hex(got) + " want " + hex(want));
  }
  // Doubles a hair off a midpoint (closer than a float ulp): rounding through float would land on
  // the midpoint and tie to even; a single rounding must go to the nearer half.
  for (std::uint32_t k = 0; k <= 0x7bffu; ++k) {
    const double lo = reference_half_value(static_cast<std::uint16_t>(k));
    const double hi = k == 0x7bffu ? 65536.0 : reference_half_value(static_cast<std::uint16_t>(k + 1));
    const double mid = (lo + hi) / 2;
    const double eps = mid * 0x1p-40;
    for (std::uint16_t s : {std::uint16_t{0}, std::uint16_t{0x8000}}) {
      const double sg = s ? -1.0 : 1.0;
      const auto up = static_cast<std::uint16_t>((k + 1) | s), down = static_cast<std::uint16_t>(k | s);
      if (double_to_half_bits(sg * (mid + eps)) != up) m.add("above mid " + hex(k));
      if (double_to_half_bits(sg * (mid - eps)) != down) m.add("below mid " + hex(k));
    }
  }
  CHECK_NO_MISMATCHES(m);

  CHECK(double_to_half_bits(1.0 + 0x1p-11 + 0x1p-40) == 0x3c01);
  CHECK(float_to_half_bits(static_cast<float>(1.0 + 0x1p-11 + 0x1p-40)) == 0x3c00);  // double rounding
  CHECK(half(1.0 + 0x1p-11 + 0x1p-40).bits() == 0x3c01);
  CHECK(double_to_half_bits(1e300) == 0x7c00);
  CHECK(double_to_half_bits(-1e300) == 0xfc00);
  CHECK(double_to_half_bits(65519.999999) == 0x7bff);
  CHECK(double_to_half_bits(65520.0) == 0x7c00);
  CHECK(double_to_half_bits(1e-300) == 0x0000);
  CHECK(double_to_half_bits(-1e-300) == 0x8000);
  CHECK(double_to_half_bits(std::numeric_limits<double>::denorm_min()) == 0x0000);
  CHECK(double_to_half_bits(0x1p-25 + 0x1p-70) == 0x0001);
  CHECK(double_to_half_bits(0x1p-25) == 0x0000);
  CHECK(double_to_half_bits(-0.0) == 0x8000);
  CHECK(double_to_half_bits(std::numeric_limits<double>::infinity()) == 0x7c00);
  CHECK(double_to_half_bits(-std::numeric_limits<double>::infinity()) == 0xfc00);
  CHECK(double_to_half_bits(strata::bit_cast<double>(0x7ff0000000000001ull)) == 0x7e00);
  CHECK(double_to_half_bits(strata::bit_cast<double>(0x7ff8000000000000ull)) == 0x7e00);
  CHECK(double_to_half_bits(strata::bit_cast<double>(0xfff4000000000000ull)) == 0xff00);
  CHECK(double_to_half_bits(strata::bit_cast<double>(0x7fffffffffffffffull)) == 0x7fff);
}

TEST_CASE("half from long double rounds once", "[half]") {
  CHECK(half(1.0L).bits() == 0x3c00);
  CHECK(half(-65520.0L).bits() == 0xfc00);
  CHECK(std::isnan(static_cast<float>(half(std::numeric_limits<long double>::quiet_NaN()))));
  if constexpr (std::numeric_limits<long double>::digits > 53) {
    // 1 + 2^-11 + 2^-60 is a long double but rounds to the tie 1 + 2^-11 as a double.
    const long double x = 1.0L + 0x1p-11L + 0x1p-60L;
    CHECK(half(x).bits() == 0x3c01);
    CHECK(half(-x).bits() == 0xbc01);
    CHECK(half(1.0L + 0x1p-11L - 0x1p-60L).bits() == 0x3c00);
    CHECK(half(1.0L + 3 * 0x1p-11L - 0x1p-60L).bits() == 0x3c01);
    CHECK(half(1.0L + 3 * 0x1p-11L).bits() == 0x3c02);
  }
}

TEST_CASE("half from integers is correctly rounded", "[half]") {
  CHECK(half(0).bits() == 0x0000);
  CHECK(half(1).bits() == 0x3c00);
  CHECK(half(-3).bits() == 0xc200);
  CHECK(half(2049).bits() == half(2048.0f).bits());  // tie -> even
  CHECK(half(2051).bits() == half(2052.0f).bits());  // tie -> even
  CHECK(half(65504).bits() == 0x7bff);
  CHECK(half(65519).bits() == 0x7bff);
  CHECK(half(65520).bits() == 0x7c00);
  CHECK(half(-70000).bits() == 0xfc00);
  CHECK(half(std::numeric_limits<std::int64_t>::max()).bits() == 0x7c00);
  CHECK(half(std::numeric_limits<std::uint64_t>::max()).bits() == 0x7c00);
  CHECK(half(static_cast<unsigned char>(200)).bits() == half(200.0f).bits());
  CHECK(half(true).bits() == 0x3c00);
}

// ------------------------------------------------------------------------------------------------
// Hardware agreement
// ------------------------------------------------------------------------------------------------
TEST_CASE("F16C _cvtsh_ss/_cvtss_sh agree bit-for-bit with the scalar functions", "[half][f16c]") {
#if defined(__F16C__)
  Mismatches m;
  for (std::uint32_t h = 0; h <= 0xffffu; ++h) {
    const float hw = _cvtsh_ss(static_cast<unsigned short>(h));
    const float sw = strata::half_bits_to_float(static_cast<std::uint16_t>(h));
    if (f2u(hw) != f2u(sw)) m.add("h2f " + hex(h) + " hw " + hex(f2u(hw)) + " sw " + hex(f2u(sw)));
  }
  std::vector<float> fs = random_floats(10'000'000u, 12345u);
  for (const Case& c : midpoint_cases()) fs.push_back(c.f);
  for (std::uint32_t p : {0x400000u, 0x000001u, 0x200000u, 0x7fffffu, 0x002000u, 0x001fffu})
    for (std::uint32_t s : {0u, 0x80000000u}) fs.push_back(u2f(s | 0x7f800000u | p));
  std::size_t nans = 0;
  for (float f : fs) {
    const std::uint16_t hw = _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const std::uint16_t sw = strata::float_to_half_bits(f);
    nans += std::isnan(f);
    // NaNs are compared bit-exactly too: the scalar code reproduces the hardware's quieting.
    if (hw != sw) m.add("f2h " + hex(f2u(f)) + " hw " + hex(hw) + " sw " + hex(sw));
  }
  INFO("floats checked: " << fs.size() << " (NaNs among them: " << nans << ")");
  CHECK(nans > 0u);
  CHECK_NO_MISMATCHES(m);
#else
  SUCCEED("not compiled with F16C (e.g. -mf16c or -march=x86-64-v3): nothing to compare against");
#endif
}

// ------------------------------------------------------------------------------------------------
// Bulk conversion
// ------------------------------------------------------------------------------------------------
TEST_CASE("half_conversion_path names the path this translation unit's flags select", "[half]") {
  const std::string path = strata::half_conversion_path();
  INFO("strata::convert uses the '" << path << "' path in this build");
#if defined(__AVX512F__)
  CHECK(path == "avx512");
#elif defined(__F16C__)
  CHECK(path == "f16c");
#else
  CHECK(path == "scalar");
#endif
}

TEST_CASE("bulk convert half->float equals half_bits_to_float for every pattern, tail length and "
          "misalignment",
          "[half][convert]") {
  // All 65,536 patterns in one go.
  std::vector<half> all(0x10000);
  for (std::uint32_t h = 0; h <= 0xffffu; ++h) all[h] = half::from_bits(static_cast<std::uint16_t>(h));
  std::vector<float> out(all.size());
  strata::convert(all.data(), out.data(), static_cast<std::int64_t>(all.size()));
  Mismatches m;
  for (std::uint32_t h = 0; h <= 0xffffu; ++h)
    if (f2u(out[h]) != f2u(strata::half_bits_to_float(static_cast<std::uint16_t>(h))))
      m.add(hex(h) + " -> " + hex(f2u(out[h])));
  CHECK_NO_MISMATCHES(m);

  // Lengths hitting every tail, from offset (unaligned) pointers, guarding against overruns.
  std::mt19937 rng(99u);
  for (std::int64_t n : {0, 1, 7, 15, 17, 31, 33, 1000003}) {
    for (std::int64_t off : {0, 1, 3}) {
      std::vector<half> src(static_cast<std::size_t>(n + off));
      for (auto& h : src) h = half::from_bits(static_cast<std::uint16_t>(rng()));
      std::vector<float> dst(static_cast<std::size_t>(n + 2 * off + 1), -7.0f);
      strata::convert(src.data() + off, dst.data() + 2 * off, n);
      Mismatches mm;
      for (std::int64_t i = 0; i < n; ++i) {
        const std::uint32_t want = f2u(strata::half_bits_to_float(src[static_cast<std::size_t>(off + i)].bits()));
        if (f2u(dst[static_cast<std::size_t>(2 * off + i)]) != want) mm.add("index " + std::to_string(i));
      }
      for (std::int64_t i = 0; i < 2 * off; ++i)
        if (dst[static_cast<std::size_t>(i)] != -7.0f) mm.add("wrote before start");
      if (dst.back() != -7.0f) mm.add("wrote past the end");
      INFO("n = " << n << ", offset = " << off);
      CHECK_NO_MISMATCHES(mm);
    }
  }
}

TEST_CASE("bulk convert float->half equals float_to_half_bits on midpoints, random floats, every "
          "tail length and misalignment",
          "[half][convert]") {
  std::vector<float> fs = random_floats(1'000'003u, 4242u);
  for (const Case& c : midpoint_cases()) fs.push_back(c.f);
  for (std::uint32_t p : {0x400000u, 0x000001u, 0x200000u, 0x7fffffu})
    for (std::uint32_t s : {0u, 0x80000000u}) fs.push_back(u2f(s | 0x7f800000u | p));
  {
    std::vector<half> out(fs.size());
    strata::convert(fs.data(), out.data(), static_cast<std::int64_t>(fs.size()));
    Mismatches m;
    for (std::size_t i = 0; i < fs.size(); ++i)
      if (out[i].bits() != strata::float_to_half_bits(fs[i]))
        m.add(hex(f2u(fs[i])) + " -> " + hex(out[i].bits()));
    CHECK_NO_MISMATCHES(m);
  }
  const half sentinel = half::from_bits(0x5a5a);
  for (std::int64_t n : {0, 1, 7, 15, 17, 31, 33, 1000003}) {
    for (std::int64_t off : {0, 1, 3}) {
      std::vector<half> dst(static_cast<std::size_t>(n + 2 * off + 1), sentinel);
      strata::convert(fs.data() + off, dst.data() + 2 * off, n);
      Mismatches mm;
      for (std::int64_t i = 0; i < n; ++i)
        if (dst[static_cast<std::size_t>(2 * off + i)].bits() !=
            strata::float_to_half_bits(fs[static_cast<std::size_t>(off + i)]))
          mm.add("index " + std::to_string(i));
      for (std::int64_t i = 0; i < 2 * off; ++i)
        if (dst[static_cast<std::size_t>(i)].bits() != 0x5a5a) mm.add("wrote before start");
      if (dst.back().bits() != 0x5a5a) mm.add("wrote past the end");
      INFO("n = " << n << ", offset = " << off);
      CHECK_NO_MISMATCHES(mm);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// The half type
// ------------------------------------------------------------------------------------------------
TEST_CASE("half arithmetic is float arithmetic rounded once, hence correctly rounded", "[half]") {
  std::mt19937 rng(2024u);
  Mismatches m;
  auto same = [](half a, std::uint16_t b) {
    return a.bits() == b || (strata::isnan(a) && half_is_nan(b));
  };
  for (int i = 0; i < 300000; ++i) {
    const half a = half::from_bits(static_cast<std::uint16_t>(rng()));
    const half b = half::from_bits(static_cast<std::uint16_t>(rng()));
    const double da = a, db = b;
    // Sums, differences and products of halves are exact in double, quotients rounded once
    // with 53 >= 2*11 + 2 bits: these are the correctly rounded half results.
    if (!same(a + b, strata::double_to_half_bits(da + db))) m.add("add " + hex(a.bits()) + " " + hex(b.bits()));
    if (!same(a - b, strata::double_to_half_bits(da - db))) m.add("sub " + hex(a.bits()) + " " + hex(b.bits()));
    if (!same(a * b, strata::double_to_half_bits(da * db))) m.add("mul " + hex(a.bits()) + " " + hex(b.bits()));
    if (!same(a / b, strata::double_to_half_bits(da / db))) m.add("div " + hex(a.bits()) + " " + hex(b.bits()));
    half c = a;
    c += b;
    if (c.bits() != (a + b).bits() && !strata::isnan(c)) m.add("+= " + hex(a.bits()) + " " + hex(b.bits()));
    c = a;
    c *= b;
    if (c.bits() != (a * b).bits() && !strata::isnan(c)) m.add("*= " + hex(a.bits()) + " " + hex(b.bits()));
  }
  CHECK_NO_MISMATCHES(m);

  const half h(1.5f);
  CHECK((h + h).bits() == half(3.0f).bits());
  CHECK((-h).bits() == 0xbe00);
  CHECK((+h).bits() == h.bits());
  CHECK((-half::from_bits(0x0000)).bits() == 0x8000);
  CHECK((half(2048.0f) + half(1.0f)).bits() == half(2048.0f).bits());  // 2049 ties to even
  CHECK((half(65504.0f) + half(16.0f)).bits() == 0x7c00);               // 65520 -> Inf
  half x(1.0f);
  x += 0.25f;
  x *= 2.0f;
  x -= half(0.5f);
  x /= 2;
  CHECK(static_cast<float>(x) == 1.0f);
}

TEST_CASE("half comparisons behave like float: NaN unordered, -0 == +0", "[half]") {
  const half one(1.0f), two(2.0f), nan = std::numeric_limits<half>::quiet_NaN();
  const half pz = half::from_bits(0x0000), nz = half::from_bits(0x8000);
  CHECK(one < two);
  CHECK(one <= two);
  CHECK(two > one);
  CHECK(two >= one);
  CHECK(one != two);
  CHECK(one == half(1.0));
  CHECK(pz == nz);
  CHECK_FALSE(pz != nz);
  CHECK_FALSE(pz < nz);
  CHECK_FALSE(nan == nan);
  CHECK(nan != nan);
  CHECK_FALSE(nan < one);
  CHECK_FALSE(nan > one);
  CHECK_FALSE(nan <= nan);
  CHECK_FALSE(nan >= one);
  CHECK(-std::numeric_limits<half>::infinity() < std::numeric_limits<half>::lowest());
  // Exhaustive: comparisons agree with float comparisons on a sample of pairs.
  std::mt19937 rng(5u);
  Mismatches m;
  for (int i = 0; i < 200000; ++i) {
    const half a = half::from_bits(static_cast<std::uint16_t>(rng()));
    const half b = half::from_bits(static_cast<std::uint16_t>(rng()));
    const float fa = a, fb = b;
    if ((a == b) != (fa == fb) || (a != b) != (fa != fb) || (a < b) != (fa < fb) ||
        (a <= b) != (fa <= fb) || (a > b) != (fa > fb) || (a >= b) != (fa >= fb))
      m.add(hex(a.bits()) + " vs " + hex(b.bits()));
  }
  CHECK_NO_MISMATCHES(m);
}

TEST_CASE("half mixed with float is unambiguous and yields float", "[half]") {
  half h(2.0f);
  STATIC_REQUIRE(std::is_same_v<decltype(h + 1.0f), float>);
  STATIC_REQUIRE(std::is_same_v<decltype(1.0f * h), float>);
  STATIC_REQUIRE(std::is_same_v<decltype(h * h), half>);
  STATIC_REQUIRE(std::is_same_v<decltype(h - h), half>);
  STATIC_REQUIRE(std::is_same_v<decltype(-h), half>);
  STATIC_REQUIRE(std::is_same_v<decltype(h == h), bool>);
  STATIC_REQUIRE(std::is_same_v<decltype(h < 2.0f), bool>);
  STATIC_REQUIRE(std::is_same_v<decltype(h + 1.0), double>);
  STATIC_REQUIRE(std::is_same_v<decltype(h + 1), float>);
  CHECK(h + 1.0f == 3.0f);
  CHECK(1.0f * h == 2.0f);
  CHECK(h * h == half(4.0f));
  CHECK(h == h);
  CHECK_FALSE(h < 2.0f);
  CHECK(h <= 2.0f);
  CHECK(3.0f > h);
  const float f = h;  // implicit
  CHECK(f == 2.0f);
}

TEST_CASE("isnan, isinf, isfinite, signbit and abs on half match float for all patterns", "[half]") {
  Mismatches m;
  for (std::uint32_t b = 0; b <= 0xffffu; ++b) {
    const half h = half::from_bits(static_cast<std::uint16_t>(b));
    const float f = h;
    if (strata::isnan(h) != std::isnan(f) || strata::isinf(h) != std::isinf(f) ||
        strata::isfinite(h) != std::isfinite(f) || strata::signbit(h) != std::signbit(f) ||
        strata::abs(h).bits() != (b & 0x7fffu))
      m.add(hex(b));
  }
  CHECK_NO_MISMATCHES(m);
}

TEST_CASE("numeric_limits<half> values match their binary16 bit patterns", "[half]") {
  using L = std::numeric_limits<half>;
  CHECK(L::max().bits() == 0x7bff);
  CHECK(L::lowest().bits() == 0xfbff);
  CHECK(L::min().bits() == 0x0400);
  CHECK(L::denorm_min().bits() == 0x0001);
  CHECK(L::epsilon().bits() == 0x1400);
  CHECK(L::round_error().bits() == 0x3800);
  CHECK(L::infinity().bits() == 0x7c00);
  CHECK(strata::isnan(L::quiet_NaN()));
  CHECK(strata::isnan(L::signaling_NaN()));
  CHECK((L::quiet_NaN().bits() & 0x0200u) != 0u);
  CHECK((L::signaling_NaN().bits() & 0x0200u) == 0u);
  CHECK(static_cast<float>(L::max()) == 65504.0f);
  CHECK(static_cast<float>(L::min()) == 0x1p-14f);
  CHECK(static_cast<float>(L::denorm_min()) == 0x1p-24f);
  CHECK(static_cast<float>(L::epsilon()) == 0x1p-10f);
  // epsilon is the gap between 1 and the next half.
  CHECK(static_cast<float>(half::from_bits(0x3c01)) - 1.0f == static_cast<float>(L::epsilon()));
  CHECK(L::digits == 11);
  CHECK(L::radix == 2);
  CHECK(L::is_iec559);
  CHECK(L::has_infinity);
  CHECK(L::has_quiet_NaN);
  CHECK(L::is_signed);
  CHECK_FALSE(L::is_integer);
  // min_exponent / max_exponent in the numeric_limits convention (value = 0.1b * 2^exp).
  CHECK(std::ldexp(0.5f, L::min_exponent) == static_cast<float>(L::min()));
  CHECK(std::ldexp(1.0f, L::max_exponent) == 65536.0f);
  CHECK(std::pow(10.0f, static_cast<float>(L::max_exponent10)) <= 65504.0f);
  CHECK(std::pow(10.0f, static_cast<float>(L::min_exponent10)) >= 0x1p-14f);
}

TEST_CASE("half streams as its float value", "[half]") {
  std::ostringstream os;
  os << half(1.5f) << ' ' << half(-0.25f);
  CHECK(os.str() == "1.5 -0.25");
}
