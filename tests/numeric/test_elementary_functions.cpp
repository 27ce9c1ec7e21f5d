// Accuracy and special-value tests for strata/numeric/elementary_functions.hpp. Each float
// function is compared, in ulps, against the double-precision std:: result rounded to float,
// over a strided sweep of all 2^32 bit patterns plus every float near the critical points.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <iomanip>
#include <limits>
#include <type_traits>
#include <vector>

#include "strata/config.hpp"
#include "strata/numeric/elementary_functions.hpp"

namespace el = strata::elementary;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Maps a float's bit pattern onto a line on which adjacent floats are adjacent integers
// (-0 and +0 both map to 0), so ulp distance is a difference.
std::int64_t ordered(float f) {
  const auto u = strata::bit_cast<std::uint32_t>(f);
  const auto mag = static_cast<std::int64_t>(u & 0x7fffffffu);
  return (u & 0x80000000u) != 0 ? -mag : mag;
}

// Distance in ulps; two NaNs are 0 apart, a NaN and a number "infinitely" far.
std::int64_t ulp_distance(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : INT64_MAX;
  const std::int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

float from_bits(std::uint32_t u) { return strata::bit_cast<float>(u); }

struct Worst {
  std::int64_t ulps = 0;
  float x = 0.0f, got = 0.0f, want = 0.0f;
  std::int64_t evaluated = 0;
};

// Evaluates `f` on the bit patterns first, first + stride, ... (count of them, wrapping
// around 2^32) through a STRATA_SIMD loop, as the expression templates do, and keeps the
// largest ulp distance from float(ref(double(x))).
template <class F, class Ref>
void sweep_bits(Worst& w, F f, Ref ref, std::uint64_t first, std::uint64_t stride,
                std::uint64_t count) {
  constexpr std::size_t kBlock = 4096;
  std::vector<float> x(kBlock), y(kBlock);
  std::uint64_t pos = first;
  for (std::uint64_t done = 0; done < count;) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, count - done));
    for (std::size_t i = 0; i < n; ++i, pos += stride)
      x[i] = from_bits(static_cast<std::uint32_t>(pos));
    const float* STRATA_RESTRICT xs = x.data();
    float* STRATA_RESTRICT ys = y.data();
    STRATA_SIMD
    for (std::size_t i = 0; i < n; ++i) ys[i] = f(xs[i]);
    for (std::size_t i = 0; i < n; ++i) {
      const float want = static_cast<float>(ref(static_cast<double>(x[i])));
      const std::int64_t d = ulp_distance(y[i], want);
      if (d > w.ulps) w = Worst{d, x[i], y[i], want, w.evaluated};
    }
    done += n;
    w.evaluated += static_cast<std::int64_t>(n);
  }
}

// Every float within `radius` bit patterns of each point; near +-0 the window starts at the
// zero of the point's sign (list both zeros to cover both sides).
template <class F, class Ref>
void sweep_around(Worst& w, F f, Ref ref, std::initializer_list<float> points,
                  std::uint32_t radius) {
  for (float p : points) {
    const auto c = strata::bit_cast<std::uint32_t>(p);
    const std::uint64_t lo = (c & 0x7fffffffu) >= radius ? c - radius : (c & 0x80000000u);
    sweep_bits(w, f, ref, lo, 1, 2ull * radius + 1);
  }
}

// Prime stride: about 34M evaluations over the whole float line, with every low-bit pattern
// of the mantissa represented (an exhaustive 2^32 sweep, too slow for a unit test, gave the
// numbers quoted in the header).
constexpr std::uint64_t kStride = 127;
constexpr std::uint64_t kStrided = (std::uint64_t{1} << 32) / kStride + 1;
constexpr std::uint32_t kRadius = 1u << 17;  // 131072 floats either side of each point

#define STRATA_REPORT_WORST(w)                                                          \
  INFO("worst: x = " << std::setprecision(9) << (w).x << " (" << std::hexfloat << (w).x  \
                     << std::defaultfloat << "), got " << (w).got << ", want " << (w).want \
                     << ", " << (w).ulps << " ulp, " << (w).evaluated << " inputs")

double ref_exp(double x) { return std::exp(x); }
double ref_log(double x) { return std::log(x); }
double ref_tanh(double x) { return std::tanh(x); }
double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

const auto f_exp = [](float x) { return el::exp(x); };
const auto f_log = [](float x) { return el::log(x); };
const auto f_tanh = [](float x) { return el::tanh(x); };
const auto f_sigmoid = [](float x) { return el::sigmoid(x); };

}  // namespace

// The float functions are usable in constant expressions.
static_assert(el::exp(0.0f) == 1.0f);
static_assert(el::log(1.0f) == 0.0f);
static_assert(el::tanh(0.0f) == 0.0f);
static_assert(el::sigmoid(0.0f) == 0.5f);

TEST_CASE("ulp_distance counts adjacent floats as 1 apart, across zero too", "[elementary]") {
  CHECK(ulp_distance(1.0f, std::nextafter(1.0f, 2.0f)) == 1);
  CHECK(ulp_distance(-0.0f, 0.0f) == 0);
  CHECK(ulp_distance(-FLT_TRUE_MIN, FLT_TRUE_MIN) == 2);
  CHECK(ulp_distance(FLT_MAX, kInf) == 1);
  CHECK(ulp_distance(kNaN, kNaN) == 0);
  CHECK(ulp_distance(kNaN, 1.0f) == INT64_MAX);
}

TEST_CASE("exp is within 2 ulp of the rounded double result over the whole float range",
          "[elementary][exp]") {
  Worst w;
  sweep_bits(w, f_exp, ref_exp, 0, kStride, kStrided);
  // Tiny x (results within an ulp or two of 1), overflow, subnormal onset, underflow to 0,
  // and the edges of the reduced range, x = +-ln2/2.
  sweep_around(w, f_exp, ref_exp,
               {0.0f, -0.0f, 0x1p-24f, -0x1p-24f, 0x1p-12f, -0x1p-12f, 88.7228394f,
                -87.3365479f, -103.972084f, 0.5f * 0.693147181f, -0.5f * 0.693147181f},
               kRadius);
  STRATA_REPORT_WORST(w);
  CHECK(w.ulps <= 2);
}

TEST_CASE("exp special values: +-Inf, NaN, overflow to Inf, gradual underflow to 0",
          "[elementary][exp]") {
  CHECK(el::exp(0.0f) == 1.0f);
  CHECK(el::exp(-0.0f) == 1.0f);
  CHECK(el::exp(kInf) == kInf);
  CHECK(el::exp(-kInf) == 0.0f);
  CHECK(std::isnan(el::exp(kNaN)));
  CHECK(std::isnan(el::exp(-kNaN)));
  CHECK(el::exp(88.72283f) == static_cast<float>(std::exp(static_cast<double>(88.72283f))));
  CHECK(el::exp(88.72283f) < kInf);
  CHECK(el::exp(88.72284f) == kInf);  // the next float overflows
  CHECK(el::exp(89.0f) == kInf);
  CHECK(el::exp(1000.0f) == kInf);
  CHECK(el::exp(FLT_MAX) == kInf);
  CHECK(el::exp(-FLT_MAX) == 0.0f);
  CHECK(el::exp(-1000.0f) == 0.0f);
  CHECK(el::exp(-104.0f) == 0.0f);
  // Subnormal results are produced, not flushed.
  CHECK(ulp_distance(el::exp(-100.0f), static_cast<float>(std::exp(-100.0))) <= 2);
  CHECK(std::fpclassify(el::exp(-100.0f)) == FP_SUBNORMAL);
  CHECK(el::exp(-103.9f) == FLT_TRUE_MIN);
  CHECK(ulp_distance(el::exp(-1.0f), static_cast<float>(std::exp(-1.0))) <= 2);
  CHECK(ulp_distance(el::exp(1.0f), 2.71828183f) <= 1);
}

TEST_CASE("log is within 2 ulp of the rounded double result over the whole float range",
          "[elementary][log]") {
  Worst w;
  sweep_bits(w, f_log, ref_log, 0, kStride, kStrided);
  // Subnormals and the normal boundary, both sides of 1, the mantissa split at sqrt(1/2) and
  // sqrt(2), and the top of the range.
  sweep_around(w, f_log, ref_log,
               {FLT_TRUE_MIN * 131072.0f, FLT_MIN, 1.0f, 0.70710677f, 1.41421354f,
                0.5f, 2.0f, FLT_MAX},
               kRadius);
  STRATA_REPORT_WORST(w);
  CHECK(w.ulps <= 2);
}

TEST_CASE("log special values: 0 -> -Inf, negative -> NaN, +Inf -> +Inf, NaN -> NaN",
          "[elementary][log]") {
  CHECK(el::log(1.0f) == 0.0f);
  CHECK(el::log(0.0f) == -kInf);
  CHECK(el::log(-0.0f) == -kInf);
  CHECK(el::log(kInf) == kInf);
  CHECK(std::isnan(el::log(-kInf)));
  CHECK(std::isnan(el::log(-1.0f)));
  CHECK(std::isnan(el::log(-FLT_TRUE_MIN)));
  CHECK(std::isnan(el::log(kNaN)));
  CHECK(std::isnan(el::log(-kNaN)));
  for (float x : {FLT_TRUE_MIN, 3.0f * FLT_TRUE_MIN, FLT_MIN, FLT_MAX, 2.0f, 0.5f, 10.0f}) {
    INFO("x = " << x);
    CHECK(ulp_distance(el::log(x), static_cast<float>(std::log(static_cast<double>(x)))) <= 2);
  }
  // Relative accuracy next to 1 (no cancellation): log(1 + 2^-23) ~ 2^-23.
  CHECK(ulp_distance(el::log(1.0f + 0x1p-23f), static_cast<float>(std::log1p(0x1p-23))) <= 1);
  CHECK(ulp_distance(el::log(1.0f - 0x1p-24f), static_cast<float>(std::log1p(-0x1p-24))) <= 1);
}

TEST_CASE("tanh is within 4 ulp of the rounded double result over the whole float range",
          "[elementary][tanh]") {
  Worst w;
  sweep_bits(w, f_tanh, ref_tanh, 0, kStride, kStrided);
  // Tiny and subnormal x, the polynomial / exp crossover at 0.625, and saturation (~9.01).
  sweep_around(w, f_tanh, ref_tanh,
               {0.0f, -0.0f, 0x1p-12f, -0x1p-12f, 0.625f, -0.625f, 9.01091290f, -9.01091290f},
               kRadius);
  STRATA_REPORT_WORST(w);
  CHECK(w.ulps <= 4);
}

TEST_CASE("tanh special values: odd, signed zero kept, saturates to +-1, NaN -> NaN",
          "[elementary][tanh]") {
  CHECK(el::tanh(0.0f) == 0.0f);
  CHECK_FALSE(std::signbit(el::tanh(0.0f)));
  CHECK(el::tanh(-0.0f) == 0.0f);
  CHECK(std::signbit(el::tanh(-0.0f)));
  CHECK(el::tanh(FLT_TRUE_MIN) == FLT_TRUE_MIN);
  CHECK(el::tanh(-FLT_TRUE_MIN) == -FLT_TRUE_MIN);
  CHECK(el::tanh(1e-20f) == 1e-20f);
  CHECK(el::tanh(kInf) == 1.0f);
  CHECK(el::tanh(-kInf) == -1.0f);
  CHECK(el::tanh(20.0f) == 1.0f);
  CHECK(el::tanh(-20.0f) == -1.0f);
  CHECK(el::tanh(FLT_MAX) == 1.0f);
  CHECK(el::tanh(-FLT_MAX) == -1.0f);
  CHECK(std::isnan(el::tanh(kNaN)));
  CHECK(std::isnan(el::tanh(-kNaN)));
  for (float x : {1e-6f, 0.1f, 0.6f, 0.625f, 0.7f, 1.0f, 3.0f, 8.0f}) {
    INFO("x = " << x);
    CHECK(el::tanh(-x) == -el::tanh(x));
  }
}

TEST_CASE("sigmoid is within 4 ulp and 5e-7 relative error of 1/(1+exp(-x))",
          "[elementary][sigmoid]") {
  Worst w;
  sweep_bits(w, f_sigmoid, ref_sigmoid, 0, kStride, kStrided);
  // 0, saturation to 1 (~16.6), and the large negative x whose results are subnormal / 0.
  sweep_around(w, f_sigmoid, ref_sigmoid,
               {0.0f, -0.0f, 16.6355324f, -16.6355324f, -87.3365479f, -103.972084f, 8.0f,
                -8.0f},
               kRadius);
  STRATA_REPORT_WORST(w);
  CHECK(w.ulps <= 4);

  // Relative error wherever the result is a normal float, on a coarser sweep of [-88, 88]
  // and the listed points.
  double max_rel = 0.0;
  float worst_x = 0.0f;
  auto check_rel = [&](float x) {
    const double want = ref_sigmoid(static_cast<double>(x));
    if (want < static_cast<double>(FLT_MIN)) return;
    const double rel = std::fabs(static_cast<double>(el::sigmoid(x)) - want) / want;
    if (rel > max_rel) max_rel = rel, worst_x = x;
  };
  for (float x = -87.0f; x <= 88.0f; x += 0.0009765625f) check_rel(x);
  for (float x : {100.0f, -100.0f, 1e-8f, -1e-8f, 0.0f, 1.0f, -1.0f, 20.0f, -20.0f, -80.0f,
                  -87.0f})
    check_rel(x);
  INFO("worst relative error " << max_rel << " at x = " << worst_x);
  CHECK(max_rel <= 5e-7);
}

TEST_CASE("sigmoid special values and large |x|: no cancellation for large negative x",
          "[elementary][sigmoid]") {
  CHECK(el::sigmoid(0.0f) == 0.5f);
  CHECK(el::sigmoid(-0.0f) == 0.5f);
  CHECK(el::sigmoid(kInf) == 1.0f);
  CHECK(el::sigmoid(-kInf) == 0.0f);
  CHECK(std::isnan(el::sigmoid(kNaN)));
  CHECK(std::isnan(el::sigmoid(-kNaN)));
  CHECK(el::sigmoid(100.0f) == 1.0f);
  CHECK(el::sigmoid(1e-8f) == 0.5f);  // 0.5 + 2.5e-9 rounds to 0.5
  CHECK(el::sigmoid(-1e-8f) == 0.5f);
  // e^-20 / (1 + e^-20): a naive 1 - 1/(1+e^20) would lose every digit here.
  const double want20 = ref_sigmoid(-20.0);
  CHECK(std::fabs(el::sigmoid(-20.0f) - want20) / want20 <= 5e-7);
  const double want80 = ref_sigmoid(-80.0);
  CHECK(std::fabs(el::sigmoid(-80.0f) - want80) / want80 <= 5e-7);
  // -100: the result, 3.7e-44, is subnormal; it must still be the correctly rounded one
  // (to within an ulp), not 0.
  CHECK(ulp_distance(el::sigmoid(-100.0f), static_cast<float>(ref_sigmoid(-100.0))) <= 1);
  CHECK(el::sigmoid(-100.0f) > 0.0f);
  CHECK(el::sigmoid(-110.0f) == 0.0f);
  for (float x : {0.5f, 1.0f, 3.0f, 10.0f, 30.0f}) {  // sigmoid(-x) = 1 - sigmoid(x)
    INFO("x = " << x);
    CHECK(static_cast<double>(el::sigmoid(-x)) + el::sigmoid(x) == Approx(1.0).epsilon(1e-6));
  }
}

TEST_CASE("double overloads agree with the std:: functions; double sigmoid is stable",
          "[elementary][double]") {
  for (double x : {-700.0, -100.0, -1.0, -1e-10, 0.0, 1e-300, 0.5, 1.0, 2.5, 100.0, 709.0}) {
    INFO("x = " << x);
    CHECK(el::exp(x) == std::exp(x));
    CHECK(el::tanh(x) == std::tanh(x));
    if (x > 0.0) CHECK(el::log(x) == std::log(x));
    const double want = 1.0 / (1.0 + std::exp(-x));
    CHECK(el::sigmoid(x) == Approx(want).epsilon(1e-15));
  }
  CHECK(el::exp(std::numeric_limits<double>::infinity()) == std::numeric_limits<double>::infinity());
  CHECK(el::log(0.0) == -std::numeric_limits<double>::infinity());
  CHECK(std::isnan(el::log(-1.0)));
  CHECK(el::tanh(-0.0) == 0.0);
  CHECK(std::signbit(el::tanh(-0.0)));
  CHECK(el::sigmoid(std::numeric_limits<double>::infinity()) == 1.0);
  CHECK(el::sigmoid(-std::numeric_limits<double>::infinity()) == 0.0);
  CHECK(std::isnan(el::sigmoid(std::numeric_limits<double>::quiet_NaN())));
  // Far tail: e^-740 is subnormal in double, 1 - 1/(1+e^-740)-style formulas give 0 or junk.
  CHECK(el::sigmoid(-740.0) == std::exp(-740.0));
  CHECK(el::sigmoid(-30.0) == Approx(std::exp(-30.0) / (1.0 + std::exp(-30.0))).epsilon(1e-15));
  CHECK(el::sigmoid(40.0) == 1.0);
  // The overloads are picked by argument type.
  static_assert(std::is_same_v<decltype(el::exp(1.0)), double>);
  static_assert(std::is_same_v<decltype(el::exp(1.0f)), float>);
  static_assert(std::is_same_v<decltype(el::sigmoid(1.0)), double>);
}
