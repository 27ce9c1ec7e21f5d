// dynamic_fixed<Bits, UpdateBits>: integer mantissas with one exponent per tensor, chosen at each
// write of the whole tensor as the most fraction bits that overflow at most max_overflow_rate of
// the values (Courbariaux et al.); partial writes keep it; reads use the exponent the tensor had
// when the expression was made, so in-place updates are exact; foreign memory has no exponent.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/core/cast.hpp"
#include "strata/core/elementwise.hpp"
#include "strata/core/functions.hpp"
#include "strata/core/random.hpp"
#include "strata/core/reduction.hpp"
#include "strata/numeric/precision_traits.hpp"
#include "support/errors.hpp"
#include "support/testing.hpp"

using namespace strata;

using d10 = dynamic_fixed<10, 12>;

namespace {
double value_of(const Tensor<d10, 1>& t, std::int64_t i) { return std::ldexp(double(t(i).raw()), -scale_of(t.data()).fraction_bits); }
int fraction_bits(const Tensor<d10, 1>& t) { return scale_of(t.data()).fraction_bits; }
}  // namespace

TEST_CASE("dynamic_fixed is an int16 mantissa whose exponent belongs to the tensor", "[numeric][dynamic_fixed]") {
  STATIC_REQUIRE(sizeof(d10) == 2);
  STATIC_REQUIRE(Precision<d10>);
  STATIC_REQUIRE(has_dynamic_scale<d10>);
  STATIC_REQUIRE(!has_dynamic_scale<fixed<16, 8>>);
  STATIC_REQUIRE(!Scalar<d10>);  // an element alone has no value
  STATIC_REQUIRE(std::is_same_v<master_t<d10>, dynamic_fixed<12, 12>>);
  STATIC_REQUIRE(std::is_same_v<compute_t<d10>, float>);
  STATIC_REQUIRE(d10::raw_max == 511 && d10::raw_min == -511);
  STATIC_REQUIRE(precision_traits<d10>::storage_bits == 16);
  CHECK(std::string(precision_traits<d10>::name) == "dynamic_fixed<10,12>");
  CHECK(std::string(precision_traits<dynamic_fixed<16>>::name) == "dynamic_fixed<16,16>");
  // Conversions at a given step: nearest even, saturating, NaN to 0.
  using tr = precision_traits<d10>;
  CHECK(tr::from_compute(1.5f, 256.0f).raw() == 384);
  CHECK(tr::from_compute(2.5f / 256, 256.0f).raw() == 2);  // a tie goes to even
  CHECK(tr::from_compute(1e9f, 1.0f).raw() == 511);
  CHECK(tr::from_compute(-1e9f, 1.0f).raw() == -511);
  CHECK(tr::from_compute(std::nanf(""), 1.0f).raw() == 0);
  CHECK(tr::to_compute(d10::from_raw(-3), 0.25f) == -0.75f);
}

TEST_CASE("a write of the whole tensor chooses the most fraction bits that do not overflow", "[numeric][dynamic_fixed]") {
  Tensor<float, 1> x(4096);
  fill_uniform(x, -3, 3, 1);
  Tensor<d10, 1> t(4096);
  t = cast<d10>(x);
  // |x| < 4: 3 · 2^7 = 384 fits 511, 3 · 2^8 would not.
  CHECK(fraction_bits(t) == 7);
  double worst = 0;
  for (std::int64_t i = 0; i < x.size(); ++i) worst = testing::worse_of(worst, std::abs(value_of(t, i) - double(x(i))));
  CHECK(worst <= std::ldexp(0.5, -7));

  // Ten times smaller values gain three bits; the exponent follows the data both ways.
  t = cast<d10>(x * 0.1f);
  CHECK(fraction_bits(t) == 10);
  t = cast<d10>(x * 100.0f);
  CHECK(fraction_bits(t) == 0);  // |x| < 300 < 511
}

TEST_CASE("the exponent lets at most max_overflow_rate of the values saturate", "[numeric][dynamic_fixed]") {
  const std::int64_t n = 100000;  // 10 overflows allowed at 1e-4
  REQUIRE(dynamic_scaling::allowed_overflows(n) == 10);
  Tensor<float, 1> x(n);
  fill_uniform(x, -0.99, 0.99, 2);
  for (int outliers : {5, 20}) {
    for (int i = 0; i < outliers; ++i) x(i * 997) = 1000.0f;
    Tensor<d10, 1> t(n);
    t = cast<d10>(x);
    if (outliers <= 10) {
      CHECK(fraction_bits(t) == 9);  // the outliers saturate at 511 / 512
      CHECK(value_of(t, 0) == 511.0 / 512);
      CHECK(scale_of(t.data()).overflowed == outliers);
    } else {
      CHECK(fraction_bits(t) == -1);  // 1000 / 2 = 500 fits
      CHECK(value_of(t, 0) == 1000.0);
      CHECK(scale_of(t.data()).overflowed == 0);
    }
  }
}

TEST_CASE("partial writes keep the exponent; in-place updates read the old one", "[numeric][dynamic_fixed]") {
  Tensor<float, 1> x(64);
  fill_uniform(x, -1, 1, 3);
  Tensor<d10, 1> t(64);
  t = cast<d10>(x);
  const int f = fraction_bits(t);
  CHECK(f == 9);
  // A slice not at the start of the tensor writes at the tensor's exponent and saturates.
  t.slice(32, 32) = cast<d10>(x.slice(32, 32) * 4.0f);
  CHECK(fraction_bits(t) == f);
  CHECK(std::abs(value_of(t, 40)) <= 511.0 / 512);
  // t = t · 4 in place: the exponent drops by two and every value is exactly four times the old.
  t = cast<d10>(x);
  std::vector<double> before;
  for (std::int64_t i = 0; i < t.size(); ++i) before.push_back(value_of(t, i));
  t = t * 4.0f;
  CHECK(fraction_bits(t) == f - 2);
  for (std::int64_t i = 0; i < t.size(); ++i) CHECK(value_of(t, i) == 4 * before[std::size_t(i)]);
  // Compound subtraction over the whole tensor: old values at the old exponent minus the rest.
  Tensor<d10, 1> g(64);
  g.fill(0.5);
  CHECK(value_of(g, 3) == 0.5);
  t -= g;
  for (std::int64_t i = 0; i < t.size(); ++i)
    CHECK(std::abs(value_of(t, i) - (4 * before[std::size_t(i)] - 0.5)) <= std::ldexp(0.5, -fraction_bits(t)));
}

TEST_CASE("reductions, copies and fills carry the exponent; foreign memory has none", "[numeric][dynamic_fixed]") {
  Tensor<float, 2> x(Shape{8, 300});
  fill_uniform(x, -1, 1, 4);
  Tensor<d10, 2> t(x.shape());
  t = cast<d10>(x);
  Tensor<d10, 1> s(8);
  s = sum(t, axes<1>);
  const int fs = scale_of(s.data()).fraction_bits;
  for (std::int64_t r = 0; r < 8; ++r) {
    double want = 0;
    for (std::int64_t c = 0; c < 300; ++c) want += std::ldexp(double(t(r, c).raw()), -scale_of(t.data()).fraction_bits);
    CHECK(std::abs(std::ldexp(double(s(r).raw()), -fs) - want) <= std::ldexp(0.5, -fs));
  }
  // clone and copy keep values and exponent; a zero tensor is zero at any exponent.
  const Tensor<d10, 2> c = t.clone();
  CHECK(scale_of(c.data()).fraction_bits == scale_of(t.data()).fraction_bits);
  CHECK(c(3, 7) == t(3, 7));
  Tensor<d10, 2> d(x.shape());
  copy(t, d);
  CHECK(scale_of(d.data()).fraction_bits == scale_of(t.data()).fraction_bits);
  CHECK(d(5, 9) == t(5, 9));
  const Tensor<d10, 1> z(16);
  CHECK(z(7).raw() == 0);
  const Tensor<double, 1> back = cast<double>(s);
  CHECK(back(2) == std::ldexp(double(s(2).raw()), -fs));
  // Every tensor leaves the registry with its storage.
  const std::size_t registered = scale_registry::instance().size();
  { const Tensor<d10, 1> extra(8); CHECK(scale_registry::instance().size() == registered + 1); }
  CHECK(scale_registry::instance().size() == registered);
  // A view of memory no tensor owns cannot be read: its exponent is unknown.
  std::vector<d10> foreign(4, d10::zero());
  auto v = map(foreign.data(), Shape<1>{4});
  Tensor<float, 1> out(4);
  CHECK_THAT(testing::message_of<error>([&] { out = cast<float>(v); }), Catch::Contains("lie in no strata tensor"));
}
