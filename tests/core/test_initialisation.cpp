// The weight initialisation schemes of layers/options.hpp (Init<init::…>): each draws from the
// distribution it names, with fan_in / fan_out taken from the layer (Dense: inputs / outputs;
// Conv: C·R·S / K·R·S), biases 0 except fan_in_uniform's U(±1/√fan_in), reproducible by seed.
// Every statistical check is within 5 standard errors of its expectation.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/model.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::sigmas;

namespace {

struct drawn {
  std::string name;
  std::vector<double> values;
};

template <class M>
std::vector<drawn> parameters_of(M& model) {
  std::vector<drawn> out;
  model.visit_parameters([&](const parameter_ref<float>& p) {
    drawn d{p.name, {}};
    for (std::int64_t i = 0; i < p.value.size(); ++i) d.values.push_back(p.value.data()[i]);
    out.push_back(std::move(d));
  });
  return out;
}

enum class shape_of { uniform, normal, zero };

// The values come from U(±spread) or N(0, spread) (or are all 0).
void check_distribution(const drawn& d, shape_of kind, double spread) {
  INFO(d.name << ": " << d.values.size() << " values, spread " << spread);
  const double n = double(d.values.size());
  double sum = 0, sum2 = 0, top = 0;
  for (double v : d.values) sum += v, sum2 += v * v, top = std::max(top, std::abs(v));
  REQUIRE(std::isfinite(sum2));
  if (kind == shape_of::zero) {
    CHECK(top == 0.0);
    return;
  }
  const double mean = sum / n, second = sum2 / n;
  if (kind == shape_of::uniform) {
    const double var = spread * spread / 3, fourth = spread * spread * spread * spread / 5;
    CHECK(top <= spread);
    CHECK(top > spread * (1 - 20 / n));  // the largest of n draws is within ~1/n of the bound
    CHECK(sigmas(mean, 0, std::sqrt(var / n)) <= 5);
    CHECK(sigmas(second, var, std::sqrt((fourth - var * var) / n)) <= 5);
  } else {
    const double var = spread * spread;
    CHECK(sigmas(mean, 0, std::sqrt(var / n)) <= 5);
    CHECK(sigmas(second, var, std::sqrt(2 * var * var / n)) <= 5);  // E z⁴ − (E z²)² = 2σ⁴
    CHECK(top > 3 * spread);  // a normal, not a clipped or uniform one: P(|z| < 3)^n ≈ 0
  }
}

// Input<256> → Dense<256> → Dense<1024>: fan_in = fan_out = 256 for the first weight, fan_in 256
// and fan_out 1024 for the second, so fan_in and fan_out cannot be confused.
template <class K>
using TwoDense = Sequential<Input<256>, Dense<256, Init<K>>, ReLU, Dense<1024, Init<K>>>;

template <class K>
std::vector<drawn> draw(std::uint64_t seed) {
  Model<TwoDense<K>> m(seed);
  const auto p = parameters_of(m);
  REQUIRE(p.size() == 4);
  REQUIRE(p[0].values.size() == 256 * 256);
  REQUIRE(p[1].values.size() == 256);
  REQUIRE(p[2].values.size() == 1024 * 256);
  REQUIRE(p[3].values.size() == 1024);
  return p;
}

}  // namespace

TEST_CASE("He uniform: U(±√(6/fan_in)), biases 0", "[init]") {
  const auto p = draw<init::he_uniform>(1);
  check_distribution(p[0], shape_of::uniform, std::sqrt(6.0 / 256));
  check_distribution(p[1], shape_of::zero, 0);
  check_distribution(p[2], shape_of::uniform, std::sqrt(6.0 / 256));
  check_distribution(p[3], shape_of::zero, 0);
}

TEST_CASE("He normal: N(0, √(2/fan_in)), biases 0", "[init]") {
  const auto p = draw<init::he_normal>(2);
  check_distribution(p[0], shape_of::normal, std::sqrt(2.0 / 256));
  check_distribution(p[1], shape_of::zero, 0);
  check_distribution(p[2], shape_of::normal, std::sqrt(2.0 / 256));
  check_distribution(p[3], shape_of::zero, 0);
}

TEST_CASE("Xavier uniform: U(±√(6/(fan_in + fan_out))), biases 0", "[init]") {
  const auto p = draw<init::xavier_uniform>(3);
  check_distribution(p[0], shape_of::uniform, std::sqrt(6.0 / 512));
  check_distribution(p[1], shape_of::zero, 0);
  check_distribution(p[2], shape_of::uniform, std::sqrt(6.0 / 1280));
  check_distribution(p[3], shape_of::zero, 0);
}

TEST_CASE("Xavier normal: N(0, √(2/(fan_in + fan_out))), biases 0", "[init]") {
  const auto p = draw<init::xavier_normal>(4);
  check_distribution(p[0], shape_of::normal, std::sqrt(2.0 / 512));
  check_distribution(p[2], shape_of::normal, std::sqrt(2.0 / 1280));
  check_distribution(p[3], shape_of::zero, 0);
}

TEST_CASE("fan_in_uniform: weights and biases U(±1/√fan_in), as PyTorch's Linear", "[init]") {
  const auto p = draw<init::fan_in_uniform>(5);
  check_distribution(p[0], shape_of::uniform, 1 / std::sqrt(256.0));
  check_distribution(p[1], shape_of::uniform, 1 / std::sqrt(256.0));
  check_distribution(p[2], shape_of::uniform, 1 / std::sqrt(256.0));
  check_distribution(p[3], shape_of::uniform, 1 / std::sqrt(256.0));
}

TEST_CASE("a Dense without Init<> is He uniform", "[init]") {
  using Plain = Sequential<Input<256>, Dense<256>, ReLU, Dense<1024>>;
  Model<Plain> plain(1);
  const auto a = parameters_of(plain);
  const auto b = draw<init::he_uniform>(1);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i].values == b[i].values);
}

TEST_CASE("a Conv's fans are C·R·S in and K·R·S out", "[init]") {
  // 16 input channels, 64 filters of 3×3: fan_in 144, fan_out 576; 64·144 = 9216 weights.
  using Net = Sequential<Input<16, 8, 8>, Conv<64, Kernel<3>, Pad<1>, Init<init::xavier_uniform>>>;
  Model<Net> m(6);
  const auto p = parameters_of(m);
  REQUIRE(p.size() == 2);
  REQUIRE(p[0].values.size() == 64 * 16 * 9);
  check_distribution(p[0], shape_of::uniform, std::sqrt(6.0 / (144 + 576)));
  check_distribution(p[1], shape_of::zero, 0);
  using Pt = Sequential<Input<16, 8, 8>, Conv<64, Kernel<3>, Pad<1>, Init<init::fan_in_uniform>>>;
  Model<Pt> q(7);
  const auto r = parameters_of(q);
  check_distribution(r[0], shape_of::uniform, 1 / std::sqrt(144.0));
  check_distribution(r[1], shape_of::uniform, 1 / std::sqrt(144.0));
}

TEST_CASE("initialisation depends on the seed only", "[init]") {
  const auto a = draw<init::he_normal>(11), b = draw<init::he_normal>(11), c = draw<init::he_normal>(12);
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].values == b[i].values);
    if (i % 2 == 0) CHECK(a[i].values != c[i].values);  // weights (biases are all zero)
  }
  // The two layers draw different values, not the same stream twice.
  CHECK(std::vector<double>(a[2].values.begin(), a[2].values.begin() + 256 * 256) != a[0].values);
  const auto u = draw<init::fan_in_uniform>(11), v = draw<init::fan_in_uniform>(12);
  CHECK(u[1].values != v[1].values);
  CHECK(u[1].values != std::vector<double>(u[0].values.begin(), u[0].values.begin() + 256));
}
