// precision_traits: the storage / compute / accumulate / master types of each precision and
// how a value is quantized into storage.
#include <cstdint>
#include <string>
#include <type_traits>

#include "strata/core/random.hpp"
#include "strata/numeric/precision_traits.hpp"
#include "support/testing.hpp"

using namespace strata;

TEST_CASE("each precision names its storage, compute, accumulate and master types", "[precision]") {
  STATIC_REQUIRE(std::is_same_v<precision_traits<double>::compute, double>);
  STATIC_REQUIRE(std::is_same_v<precision_traits<float>::accumulate, float>);
  STATIC_REQUIRE(std::is_same_v<precision_traits<half>::storage, half>);
  STATIC_REQUIRE(std::is_same_v<precision_traits<half>::compute, float>);
  STATIC_REQUIRE(std::is_same_v<precision_traits<half>::accumulate, float>);
  STATIC_REQUIRE(std::is_same_v<precision_traits<half>::master, float>);
  STATIC_REQUIRE(std::is_same_v<precision_traits<std::int32_t>::accumulate, std::int64_t>);
  STATIC_REQUIRE(Precision<double>);
  STATIC_REQUIRE(Precision<float>);
  STATIC_REQUIRE(Precision<half>);
  STATIC_REQUIRE(Precision<std::uint8_t>);
  STATIC_REQUIRE(!Precision<std::string>);
  STATIC_REQUIRE(!Precision<long double>);
  CHECK(std::string(precision_traits<half>::name) == "fp16");
  CHECK(precision_traits<half>::storage_bits == 16);
}

TEST_CASE("quantize rounds a master value into storage", "[precision]") {
  random_engine rng(1);
  CHECK(precision_traits<float>::quantize(0.1f, rng) == 0.1f);
  CHECK(precision_traits<double>::quantize(0.1, rng) == 0.1);
  // 1 + 2^-11 is halfway between 1 and the next half: ties go to even (1.0).
  CHECK(precision_traits<half>::quantize(1.0f + 0x1.0p-11f, rng).bits() == 0x3c00);
  CHECK(precision_traits<half>::quantize(1.0f + 0x1.8p-11f, rng).bits() == 0x3c01);
  CHECK(precision_traits<half>::quantize(70000.0f, rng).bits() == 0x7c00);  // overflow is infinity
  constexpr half h = precision_traits<half>::from_compute(2.5f);
  STATIC_REQUIRE(precision_traits<half>::to_compute(h) == 2.5f);
}
