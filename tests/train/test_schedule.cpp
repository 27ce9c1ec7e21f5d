// Learning-rate schedules: exact values against their formulas, monotonicity, the warm-up
// meeting its inner schedule without a jump, epoch indexing, and argument validation.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <numbers>
#include <type_traits>

#include "strata/train/schedule.hpp"

using namespace strata::train;
using Catch::Contains;

static_assert(Schedule<constant> && Schedule<step_decay> && Schedule<multi_step> && Schedule<cosine>);
static_assert(Schedule<warmup<cosine>> && Schedule<by_epoch<multi_step>> && Schedule<warmup<by_epoch<step_decay>>>);
static_assert(Schedule<double (*)(std::int64_t)>, "a plain function of the step is a schedule too");
static_assert(!Schedule<int> && !Schedule<double (*)(const char*)>);
static_assert(std::is_copy_assignable_v<cosine> && std::is_copy_assignable_v<warmup<multi_step>>,
              "schedules are values: an optimizer can hold and replace one");

TEST_CASE("constant returns its rate at every step", "[schedule]") {
  const constant s{0.05};
  CHECK(s(0) == 0.05);
  CHECK(s(1'000'000'000'000) == 0.05);
}

TEST_CASE("step_decay is lr times gamma to the number of whole step_size periods", "[schedule]") {
  const step_decay s{0.1, 30, 0.1};
  CHECK(s(0) == 0.1);
  CHECK(s(29) == 0.1);
  CHECK(s(30) == Approx(0.01).epsilon(1e-15));
  CHECK(s(59) == Approx(0.01).epsilon(1e-15));
  CHECK(s(60) == Approx(0.001).epsilon(1e-15));
  const step_decay half{1.0, 7, 0.5};
  for (std::int64_t t = 0; t < 100; ++t) CHECK(half(t) == std::pow(0.5, static_cast<double>(t / 7)));
  for (std::int64_t t = 1; t < 100; ++t) CHECK(half(t) <= half(t - 1));
}

TEST_CASE("multi_step decays once at each milestone, counting milestones <= step", "[schedule]") {
  const multi_step s{0.1, {30, 60, 80}, 0.2};
  CHECK(s(0) == 0.1);
  CHECK(s(29) == 0.1);
  CHECK(s(30) == 0.1 * 0.2);
  CHECK(s(59) == 0.1 * 0.2);
  CHECK(s(60) == 0.1 * std::pow(0.2, 2.0));
  CHECK(s(80) == 0.1 * std::pow(0.2, 3.0));
  CHECK(s(1'000'000) == 0.1 * std::pow(0.2, 3.0));
  for (std::int64_t t = 1; t < 120; ++t) CHECK(s(t) <= s(t - 1));
  const multi_step none{0.3, {}, 0.1};
  CHECK(none(12345) == 0.3);
  const multi_step at_zero{1.0, {0}, 0.5};
  CHECK(at_zero(0) == 0.5);
}

TEST_CASE("cosine follows min + (lr - min)(1 + cos(pi t / T)) / 2 and holds min_lr from T on", "[schedule]") {
  const double lr = 0.4, min_lr = 0.004;
  const std::int64_t T = 1000;
  const cosine s{lr, T, min_lr};
  for (std::int64_t t : {0, 1, 250, 333, 500, 750, 999}) {
    const double expected = min_lr + (lr - min_lr) * (1 + std::cos(std::numbers::pi * static_cast<double>(t) / 1000.0)) / 2;
    CHECK(s(t) == Approx(expected).epsilon(1e-14));
  }
  CHECK(s(0) == lr);
  CHECK(s(500) == Approx((lr + min_lr) / 2).epsilon(1e-14));
  CHECK(s(T) == min_lr);
  CHECK(s(T + 1) == min_lr);
  CHECK(s(10 * T) == min_lr);
  for (std::int64_t t = 1; t <= T + 5; ++t) CHECK(s(t) <= s(t - 1));
  CHECK(cosine{0.1, 10}(10) == 0.0);  // min_lr defaults to 0
}

TEST_CASE("warmup ramps linearly from start_factor * target to the inner schedule's value", "[schedule]") {
  const warmup s{100, cosine{0.1, 1000, 0.0}};
  const double target = cosine{0.1, 1000, 0.0}(100);
  CHECK(s(0) == 0.0);
  CHECK(s(25) == Approx(target * 0.25).epsilon(1e-14));
  CHECK(s(50) == Approx(target * 0.5).epsilon(1e-14));
  CHECK(s(100) == target);
  CHECK(s(500) == cosine{0.1, 1000, 0.0}(500));
  for (std::int64_t t = 1; t <= 100; ++t) CHECK(s(t) >= s(t - 1));

  const warmup f{10, constant{2.0}, 0.1};
  CHECK(f(0) == Approx(0.2).epsilon(1e-15));
  CHECK(f(5) == Approx(0.2 + 1.8 * 0.5).epsilon(1e-15));
  CHECK(f(10) == 2.0);
}

TEST_CASE("warmup is continuous at its boundary: the last ramp step is one ramp increment below", "[schedule]") {
  const warmup s{200, step_decay{0.5, 1000, 0.1}, 0.0};
  const double increment = 0.5 / 200;
  CHECK(s(200) - s(199) == Approx(increment).epsilon(1e-12));
  CHECK(s(201) - s(200) == 0.0);
  const warmup c{50, cosine{1.0, 500, 0.1}, 0.25};
  const double target = cosine{1.0, 500, 0.1}(50);
  CHECK(c(50) == target);
  CHECK(target - c(49) == Approx(target * 0.75 / 50).epsilon(1e-12));
  CHECK(c(51) <= c(50));
  const warmup none{0, constant{0.3}};  // zero warm-up steps is the inner schedule
  CHECK(none(0) == 0.3);
}

TEST_CASE("by_epoch changes the rate only on epoch boundaries", "[schedule]") {
  const by_epoch s{391, multi_step{0.1, {30, 60}, 0.1}};
  CHECK(s(0) == 0.1);
  CHECK(s(30 * 391 - 1) == 0.1);
  CHECK(s(30 * 391) == Approx(0.01).epsilon(1e-15));
  CHECK(s(60 * 391) == Approx(0.001).epsilon(1e-15));
}

TEST_CASE("steps_per_epoch counts the short last batch unless dropped; epochs_to_steps multiplies", "[schedule]") {
  CHECK(steps_per_epoch(60000, 64) == 938);
  CHECK(steps_per_epoch(60000, 64, true) == 937);
  CHECK(steps_per_epoch(50000, 100) == 500);
  CHECK(steps_per_epoch(50000, 100, true) == 500);
  CHECK(steps_per_epoch(0, 32) == 0);
  CHECK(epochs_to_steps(90, 938) == 84420);
  CHECK(cosine{0.1, epochs_to_steps(90, steps_per_epoch(60000, 64))}.total_steps() == 84420);
}

TEST_CASE("invalid arguments are rejected with the schedule and the bad value named", "[schedule][errors]") {
  CHECK_THROWS_AS(constant{-0.1}, strata::error);
  CHECK_THROWS_WITH(constant{-0.1}, Contains("constant") && Contains("lr") && Contains("-0.1"));
  CHECK_THROWS_WITH(constant{std::nan("")}, Contains("constant") && Contains("nan"));
  CHECK_THROWS_WITH((step_decay{0.1, 0, 0.1}), Contains("step_decay") && Contains("step_size") && Contains("got 0"));
  CHECK_THROWS_WITH((step_decay{0.1, 10, -2.0}), Contains("step_decay") && Contains("gamma") && Contains("-2"));
  CHECK_THROWS_WITH((step_decay{-1.0, 10, 0.1}), Contains("step_decay") && Contains("-1"));
  CHECK_THROWS_WITH((multi_step{0.1, {30, 30}, 0.1}), Contains("multi_step") && Contains("strictly increase") && Contains("30"));
  CHECK_THROWS_WITH((multi_step{0.1, {60, 30}, 0.1}), Contains("multi_step") && Contains("60") && Contains("30"));
  CHECK_THROWS_WITH((multi_step{0.1, {-5}, 0.1}), Contains("multi_step") && Contains("-5"));
  CHECK_THROWS_WITH((multi_step{0.1, {10}, 0.0}), Contains("multi_step") && Contains("gamma"));
  CHECK_THROWS_WITH((cosine{0.1, 0}), Contains("cosine") && Contains("total_steps") && Contains("got 0"));
  CHECK_THROWS_WITH((cosine{0.1, -3}), Contains("cosine") && Contains("-3"));
  CHECK_THROWS_WITH((cosine{0.1, 100, 0.2}), Contains("cosine") && Contains("min_lr 0.2") && Contains("lr 0.1"));
  CHECK_THROWS_WITH((cosine{0.1, 100, -0.01}), Contains("cosine") && Contains("min_lr") && Contains("-0.01"));
  CHECK_THROWS_WITH((warmup{-1, constant{0.1}}), Contains("warmup") && Contains("warmup_steps") && Contains("-1"));
  CHECK_THROWS_WITH((warmup{10, constant{0.1}, 1.5}), Contains("warmup") && Contains("start_factor") && Contains("1.5"));
  CHECK_THROWS_WITH((by_epoch{0, constant{0.1}}), Contains("by_epoch") && Contains("steps_per_epoch"));
  CHECK_THROWS_WITH(steps_per_epoch(100, 0), Contains("steps_per_epoch") && Contains("batch_size") && Contains("got 0"));
  CHECK_THROWS_WITH(steps_per_epoch(-1, 10), Contains("steps_per_epoch") && Contains("-1"));
  CHECK_THROWS_WITH(epochs_to_steps(std::int64_t{1} << 40, std::int64_t{1} << 40), Contains("overflow"));
}

TEST_CASE("a negative step is reported, not extrapolated", "[schedule][errors]") {
  CHECK_THROWS_WITH(cosine(0.1, 10)(-1), Contains("cosine") && Contains("step -1"));
  CHECK_THROWS_WITH((warmup{5, step_decay{0.1, 3}})(-2), Contains("warmup") && Contains("-2"));
}
