// Tensor<binary, R>: ±1 values packed 64 to a word along the last axis (bit set = −1), rows padded
// to whole words with zero bits, single values read and written in place; and the binary
// precision's traits (one bit, ±1 from a sign, not a Scalar operand).
#include <cstdint>
#include <utility>

#include "strata/core/expression.hpp"
#include "strata/core/tensor.hpp"
#include "strata/numeric/precision_traits.hpp"
#include "support/testing.hpp"

using namespace strata;

TEST_CASE("binary is one sign bit: +0, -0 and NaN are +1", "[core][binary]") {
  CHECK(binary{}.value() == 1);
  CHECK(binary::from_sign_of(-0.5f).value() == -1);
  CHECK(binary::from_sign_of(0.0f).value() == 1);
  CHECK(binary::from_sign_of(-0.0f).value() == 1);
  CHECK(binary::from_sign_of(std::numeric_limits<float>::quiet_NaN()).value() == 1);
  CHECK(binary::from_sign_of(-3).bit());
  using tr = precision_traits<binary>;
  CHECK(tr::storage_bits == 1);
  CHECK(tr::to_compute(binary::from_bit(true)) == -1.0f);
  CHECK(tr::from_compute(2.5f) == binary{});
  STATIC_REQUIRE(Precision<binary>);
  STATIC_REQUIRE(Precision<scaled_binary>);
  STATIC_REQUIRE(!Scalar<binary>);  // no element of its own address: not an expression operand
  STATIC_REQUIRE(has_packed_storage<binary> && !has_packed_storage<float>);
  STATIC_REQUIRE(is_binary_precision_v<scaled_binary> && !is_binary_precision_v<float>);
}

TEST_CASE("a bit tensor packs its last axis into words, LSB first, tails zero", "[core][binary]") {
  Tensor<binary, 3> t(Shape{2, 3, 70});
  CHECK(t.size() == 2 * 3 * 70);
  CHECK(t.words_per_row() == 2);
  CHECK(t.rows() == 6);
  CHECK(t.bytes() == 6 * 2 * 8);
  for (std::int64_t w = 0; w < t.word_count(); ++w) REQUIRE(t.words()[w] == 0);  // all +1
  t.set(binary::from_bit(true), 1, 2, 65);
  t.set(binary::from_bit(true), 0, 0, 0);
  CHECK(t(1, 2, 65).value() == -1);
  CHECK(t(1, 2, 64).value() == 1);
  CHECK(t.row(5)[1] == (std::uint64_t{1} << 1));
  CHECK(t.words()[0] == 1);
  t.set(binary{}, 1, 2, 65);
  CHECK(t.row(5)[1] == 0);
  t.fill(binary::from_bit(true));
  CHECK(t.row(0)[0] == ~std::uint64_t{0});
  CHECK(t.row(0)[1] == (std::uint64_t{1} << 6) - 1);  // 70 − 64 bits set, the rest of the word zero
  const auto c = t.clone();
  CHECK(c(1, 1, 69).value() == -1);
  Tensor<binary, 3> moved = std::move(t);
  CHECK(moved(0, 2, 3).value() == -1);
  CHECK_THROWS_WITH(moved(0, 3, 0), Catch::Contains("outside shape [2, 3, 70]"));
  CHECK_THROWS_AS(moved.set(binary{}, 0, 0, 70), index_error);
}
