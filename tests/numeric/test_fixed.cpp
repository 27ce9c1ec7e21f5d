// fixed<Bits, Frac, Rounding>: conversions round and saturate as defined, arithmetic is exact
// integer arithmetic, stochastic rounding is unbiased with the probabilities Gupta et al. define,
// and precision_traits describes it (name, storage bits, no persistent master copy).
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "strata/core/random.hpp"
#include "strata/core/rounding_stream.hpp"
#include "strata/numeric/fixed.hpp"
#include "strata/numeric/precision_traits.hpp"
#include "support/testing.hpp"

using namespace strata;

using q8 = fixed<16, 8>;
using q8n = fixed<16, 8, rounding::nearest>;

TEST_CASE("fixed stores raw · 2^-Frac in the narrowest integer and names itself", "[numeric][fixed]") {
  STATIC_REQUIRE(sizeof(q8) == 2);
  STATIC_REQUIRE(sizeof(fixed<8, 4>) == 2);
  STATIC_REQUIRE(sizeof(fixed<24, 12>) == 4);
  STATIC_REQUIRE(Precision<q8>);
  STATIC_REQUIRE(precision_traits<q8>::storage_bits == 16);
  STATIC_REQUIRE(std::is_same_v<compute_t<q8>, float>);
  STATIC_REQUIRE(std::is_same_v<compute_t<fixed<32, 16>>, double>);
  STATIC_REQUIRE(!keeps_master_copy<q8>);
  STATIC_REQUIRE(keeps_master_copy<half>);
  CHECK(std::string(precision_traits<q8>::name) == "fixed<16,8>");
  CHECK(std::string(precision_traits<q8n>::name) == "fixed<16,8,nearest>");
  CHECK(std::string(precision_traits<fixed<12, 10>>::name) == "fixed<12,10>");
  CHECK(q8(1.5).raw() == 384);
  CHECK(q8(-1.5).raw() == -384);
  CHECK(q8(3).raw() == 768);
  CHECK(q8::from_raw(384).to_double() == 1.5);
  CHECK(std::numeric_limits<q8>::max().to_double() == 32767.0 / 256);
  CHECK(std::numeric_limits<q8>::lowest().to_double() == -128.0);
  CHECK(std::numeric_limits<q8>::epsilon().to_double() == 1.0 / 256);
}

TEST_CASE("conversion to fixed rounds to nearest with ties up and saturates", "[numeric][fixed]") {
  // Every value on a grid of quarter units, against floor(v·2^F + 1/2) clamped.
  for (int i = -40000 * 4; i <= 40000 * 4; ++i) {
    const double units = i / 4.0;
    const double v = units / 256.0;
    const double want = std::clamp(std::floor(units + 0.5), -32768.0, 32767.0);
    REQUIRE(q8(v).raw() == want);
  }
  CHECK(q8(0.5 / 256).raw() == 1);      // a tie goes up
  CHECK(q8(-0.5 / 256).raw() == 0);     // also for negative values
  CHECK(q8(1e30).raw() == 32767);
  CHECK(q8(-1e30).raw() == -32768);
  CHECK(q8(std::numeric_limits<double>::quiet_NaN()).raw() == 0);
  CHECK(fixed<12, 4>(1000.0).raw() == 2047);  // 12 bits saturate at 2^11 − 1
  CHECK(fixed<12, 4>(100000).raw() == 2047);  // integers too
}

TEST_CASE("fixed arithmetic is exact integer arithmetic with saturation", "[numeric][fixed]") {
  CHECK((q8(1.25) + q8(2.5)).to_double() == 3.75);
  CHECK((q8(100.0) + q8(100.0)).raw() == 32767);  // saturates instead of wrapping
  CHECK((-q8::from_raw(-32768)).raw() == 32767);
  CHECK((q8(1.5) * q8(-2.25)).to_double() == -3.375);
  // A product with more fraction bits rounds once to nearest: (3/256)·(1/2) = 1.5 units → 2.
  CHECK((q8::from_raw(3) * q8(0.5)).raw() == 2);
  CHECK(q8(1.0) < q8(1.5));
  CHECK(q8(2.0) == q8(2));
}

TEST_CASE("round_shift rounds exact accumulators to nearest (ties up) or stochastically", "[numeric][fixed]") {
  for (std::int64_t acc = -5000; acc <= 5000; ++acc)
    for (int shift : {1, 3, 8}) {
      const double exact = double(acc) / double(1 << shift);
      REQUIRE(detail::round_shift_nearest(acc, shift) == std::int64_t(std::floor(exact + 0.5)));
      // r = 0 rounds down, r = 2^s − 1 rounds up unless exact.
      REQUIRE(detail::round_shift_stochastic(acc, shift, 0) == std::int64_t(std::floor(exact)));
      REQUIRE(detail::round_shift_stochastic(acc, shift, (1u << shift) - 1) == std::int64_t(std::ceil(exact)));
    }
  // Each r in [0, 2^s) once: exactly `fraction · 2^s` of them round up.
  for (std::int64_t acc : {std::int64_t{5}, std::int64_t{-11}, std::int64_t{1000003}}) {
    const int shift = 4;
    int up = 0;
    for (std::uint64_t r = 0; r < 16; ++r) up += detail::round_shift_stochastic(acc, shift, r) != (acc >> shift);
    CHECK(up == int(acc & 15));
  }
}

TEST_CASE("stochastic quantize is unbiased and rounds up with probability equal to the fraction", "[numeric][fixed]") {
  random_engine rng(7);
  for (const double v : {0.3 / 256, 1.0 + 0.75 / 256, -2.0 - 0.1 / 256, 5e-4 / 256}) {
    const int n = 200000;
    double sum = 0;
    int up = 0;
    const double lower = std::floor(v * 256);
    for (int i = 0; i < n; ++i) {
      const q8 r = precision_traits<q8>::quantize(float(v), rng);
      sum += r.to_double();
      up += r.raw() != lower;
    }
    const double p = float(v) * 256.0 - lower;
    INFO("value " << v);
    CHECK(std::abs(double(up) / n - p) < 5 * std::sqrt(p * (1 - p) / n) + 1e-9);
    CHECK(std::abs(sum / n - double(float(v))) < 5 * std::sqrt(p * (1 - p) / n) / 256 + 1e-12);
  }
  // Nearest never moves a value below half a unit.
  random_engine unused(1);
  CHECK(precision_traits<q8n>::quantize(0.4f / 256, unused).raw() == 0);
}

TEST_CASE("kernels' rounding keys come from the installed scope's engine, per thread", "[numeric][fixed]") {
  random_engine a(11), b(11);
  std::uint64_t first = 0, second = 0;
  {
    rounding_scope scope(a);
    first = next_rounding_key();
  }
  {
    rounding_scope scope(b);
    second = next_rounding_key();
  }
  CHECK(first == second);  // the same engine state, the same key
  rounding_scope scope(a);
  CHECK(next_rounding_key() != first);  // the stream moves on
}
