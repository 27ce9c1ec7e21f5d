// Philox4x32-10 against the Random123 known answers; engines and tensor fills are
// reproducible by seed and independent of thread count; the distributions have the right moments.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "strata/strata.hpp"
#include "support/guards.hpp"
#include "support/testing.hpp"

using strata::testing::sigmas;

using namespace strata;

TEST_CASE("Philox4x32-10 reproduces the Random123 known-answer vectors", "[random]") {
  CHECK(philox4x32::generate({0, 0, 0, 0}, {0, 0}) ==
        philox4x32::counter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  CHECK(philox4x32::generate({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}) ==
        philox4x32::counter{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  CHECK(philox4x32::generate({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}) ==
        philox4x32::counter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
  STATIC_REQUIRE(philox4x32::generate({0, 0, 0, 0}, {0, 0})[0] == 0x6627e8d5);  // usable at compile time
}

TEST_CASE("an engine is a standard generator, reproducible and skippable", "[random]") {
  random_engine a(42), b(42), c(43), s(42, 1);
  std::vector<std::uint32_t> va, vb;
  for (int i = 0; i < 100; ++i) va.push_back(a()), vb.push_back(b());
  CHECK(va == vb);
  CHECK(c() != va[0]);
  CHECK(s() != va[0]);
  random_engine d(42);
  d.discard(37);
  CHECK(d() == va[37]);
  std::uniform_int_distribution<int> dist(1, 6);  // works with <random>
  random_engine e(7);
  const int roll = dist(e);
  CHECK((roll >= 1 && roll <= 6));
  random_engine f0 = random_engine(1).fork(0), f1 = random_engine(1).fork(1);
  CHECK(f0() != f1());
}

TEST_CASE("engine draws have the right distributions", "[random]") {
  random_engine g(2024);
  const int n = 200000;
  double su = 0, su2 = 0, sn = 0, sn2 = 0, sn4 = 0;
  std::vector<int> counts(10);
  for (int i = 0; i < n; ++i) {
    const double u = g.uniform();
    REQUIRE((u >= 0 && u < 1));
    su += u, su2 += u * u;
    const double z = g.normal();
    sn += z, sn2 += z * z, sn4 += z * z * z * z;
    ++counts[g.below(10)];
  }
  // Each moment within 5 standard errors of its expectation (sd of a sample mean of f(X):
  // sqrt(Var f(X) / n)), so a fixed seed passes by a wide margin and a wrong distribution fails.
  CHECK(sigmas(su / n, 0.5, std::sqrt(1.0 / 12 / n)) <= 5);
  // Var(U) estimated: sd sqrt((μ4 - σ^4)/n) with μ4 = 1/80 for U(0, 1).
  CHECK(sigmas(su2 / n - (su / n) * (su / n), 1.0 / 12, std::sqrt((1.0 / 80 - 1.0 / 144) / n)) <= 5);
  CHECK(sigmas(sn / n, 0.0, std::sqrt(1.0 / n)) <= 5);
  CHECK(sigmas(sn2 / n, 1.0, std::sqrt(2.0 / n)) <= 5);   // Var z² = 3 - 1
  CHECK(sigmas(sn4 / n, 3.0, std::sqrt(96.0 / n)) <= 5);  // kurtosis of a normal; Var z⁴ = 105 - 9
  for (int k : counts) CHECK(sigmas(k, n / 10.0, std::sqrt(n * 0.1 * 0.9)) <= 5);
}

TEST_CASE("tensor fills depend only on the seed and the element index", "[random][parallel][threads]") {
  Tensor<float, 2> one(7, 100003), two(7, 100003);
  {
    strata::testing::thread_count_guard single(1);
    fill_normal(one, 0, 1, 99);
  }
  for (int threads : {2, 3}) {
    strata::testing::thread_count_guard many(threads);
    if (!strata::testing::threaded_or_skip()) return;
    REQUIRE(num_threads() == threads);
    two = 0;
    fill_normal(two, 0, 1, 99);
    CHECK(std::equal(one.data(), one.data() + one.size(), two.data()));
  }
  // A prefix of a longer fill equals a shorter fill: element i never depends on the size.
  Tensor<float, 1> shorter(1001);
  fill_normal(shorter, 0, 1, 99);
  CHECK(std::equal(shorter.data(), shorter.data() + 1001, one.data()));
  Tensor<float, 1> other(1001);
  fill_normal(other, 0, 1, 100);
  CHECK(!std::equal(shorter.data(), shorter.data() + 1001, other.data()));
}

TEST_CASE("uniform and normal fills have the requested moments", "[random]") {
  Tensor<double, 1> u(1 << 20), z(1 << 20);
  fill_uniform(u, -2, 6, 5);
  fill_normal(z, 3, 0.5, 6);
  CHECK(min(u) >= -2.0);
  CHECK(max(u) < 6.0);
  const double n = double(u.size());
  // 5 standard errors: U(-2, 6) has variance 64/12 and E(U-2)^4 = 4^4/5.
  CHECK(sigmas(mean(u), 2.0, std::sqrt(64.0 / 12 / n)) <= 5);
  Tensor<double, 1> centred = u - 2.0;
  CHECK(sigmas(mean(square(centred)), 64.0 / 12, std::sqrt((256.0 / 5 - (64.0 / 12) * (64.0 / 12)) / n)) <= 5);
  CHECK(sigmas(mean(z), 3.0, 0.5 / std::sqrt(n)) <= 5);
  Tensor<double, 1> dz = z - 3.0;
  CHECK(sigmas(std::sqrt(mean(square(dz))), 0.5, 0.5 / std::sqrt(2 * n)) <= 5);
  Tensor<half, 1> h(1000);
  fill_uniform(h, 0, 1, 1);
  Tensor<float, 1> hf = cast<float>(h);
  CHECK(max(hf) <= 1.0f);
  CHECK(mean(hf) == Approx(0.5).margin(0.05));
}
