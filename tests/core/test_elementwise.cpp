// Every element-wise node against a plain fp64 loop over the same inputs, on shapes that take
// the serial path, the threaded path, odd sizes and views.
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "strata/strata.hpp"
#include "support/guards.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::conditioned_error;
using strata::testing::max_relative_error;
using strata::testing::max_ulp_error;
using strata::testing::worse_of;
using strata::testing::random_tensor;
using strata::testing::to_doubles;

namespace {

// Serial, odd, and above the threading threshold (with a ragged tail).
const std::vector<Shape<3>> shapes = {Shape{1, 1, 1}, Shape{3, 5, 7}, Shape{2, 17, 1931}};

// d = f(a) against ref(a[i]) for every element; returns the worst relative error.
template <class T, class F, class R>
double unary_error(F f, R ref, double lo, double hi) {
  double worst = 0;
  std::uint64_t seed = 11;
  for (const auto& s : shapes) {
    auto a = random_tensor<T>(s, seed++, lo, hi);
    Tensor<T, 3> d(s);
    d = f(a);
    auto in = to_doubles(a);
    for (double& x : in) x = ref(x);
    worst = worse_of(worst, max_relative_error(to_doubles(d), in, 1e-6));
  }
  return worst;
}

// Inputs for the function tests: uniform over [lo, hi), or log-uniform over [lo, hi) (lo > 0),
// with a random sign when `signed_log` is set, so every binade in the range gets its share.
enum class spread { uniform, log_uniform, signed_log };

Tensor<float, 3> inputs(const Shape<3>& s, std::uint64_t seed, double lo, double hi, spread how) {
  if (how == spread::uniform) return random_tensor<float>(s, seed, lo, hi);
  auto u = random_tensor<double>(s, seed, 0, 1);
  auto sign = random_tensor<double>(s, seed + 1000, -1, 1);
  Tensor<float, 3> x(s);
  for (std::int64_t i = 0; i < x.size(); ++i) {
    const double v = std::exp(std::log(lo) + u.data()[i] * (std::log(hi) - std::log(lo)));
    x.data()[i] = static_cast<float>(how == spread::signed_log && sign.data()[i] < 0 ? -v : v);
  }
  return x;
}

// d = f(x) on the expression path against float(ref(double(x))), in float ulps (NaN-aware).
template <class F, class R>
double unary_ulps(F f, R ref, double lo, double hi, spread how = spread::uniform) {
  double worst = 0;
  std::uint64_t seed = 211;
  for (const auto& s : shapes) {
    auto a = inputs(s, seed++, lo, hi, how);
    Tensor<float, 3> d(s);
    d = f(a);
    auto want = to_doubles(a);
    for (double& x : want) x = ref(x);
    worst = worse_of(worst, max_ulp_error<float>(to_doubles(d), want));
  }
  return worst;
}

template <class T, class F, class R>
double binary_error(F f, R ref, double lo = -1, double hi = 1) {
  double worst = 0;
  std::uint64_t seed = 101;
  for (const auto& s : shapes) {
    auto a = random_tensor<T>(s, seed++, lo, hi);
    auto b = random_tensor<T>(s, seed++, lo, hi);
    Tensor<T, 3> d(s);
    d = f(a, b);
    auto x = to_doubles(a), y = to_doubles(b), expected = x;
    for (std::size_t i = 0; i < x.size(); ++i) expected[i] = ref(x[i], y[i]);
    worst = worse_of(worst, max_relative_error(to_doubles(d), expected, 1e-6));
  }
  return worst;
}

// One float operation is the exactly rounded double result: half an ulp.
constexpr double half_ulp_f32 = 0x1.0p-24 * 1.0001;
constexpr double half_ulp_f16 = 0x1.0p-11 * 1.0001;

}  // namespace

TEST_CASE("arithmetic between tensors is the correctly rounded fp64 result", "[elementwise]") {
  CHECK(binary_error<float>([](auto& a, auto& b) { return a + b; }, std::plus<>{}) <= half_ulp_f32);
  CHECK(binary_error<float>([](auto& a, auto& b) { return a - b; }, std::minus<>{}) <= half_ulp_f32);
  CHECK(binary_error<float>([](auto& a, auto& b) { return a * b; }, std::multiplies<>{}) <= half_ulp_f32);
  CHECK(binary_error<float>([](auto& a, auto& b) { return a / b; }, std::divides<>{}, 0.5, 2) <= half_ulp_f32);
}

TEST_CASE("a double expression with two products is within an ulp of its terms", "[elementwise]") {
  // a*b - a/b: the library's loop and this reference may contract a*b into a fused multiply-add
  // differently (-ffp-contract=fast, -march=native), so the results may differ by the rounding
  // of one product: at most an ulp of max(|ab|, |a/b|).
  for (const auto& s : shapes) {
    auto a = random_tensor<double>(s, 301, 0.5, 2), b = random_tensor<double>(s, 302, 0.5, 2);
    Tensor<double, 3> d(s);
    d = a * b - a / b;
    const auto x = to_doubles(a), y = to_doubles(b);
    std::vector<double> want(x.size()), ulp(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      want[i] = x[i] * y[i] - x[i] / y[i];
      ulp[i] = 0x1.0p-52 * std::max(std::abs(x[i] * y[i]), std::abs(x[i] / y[i]));
    }
    CHECK(conditioned_error(to_doubles(d), want, ulp) <= 1.0);
  }
}

TEST_CASE("scalars combine with tensors on either side", "[elementwise]") {
  auto e = [](double x) { return x; };
  CHECK(unary_error<float>([](auto& a) { return a * 2; }, [&](double x) { return e(x) * 2; }, -1, 1) <= half_ulp_f32);
  CHECK(unary_error<float>([](auto& a) { return 3.0 - a; }, [](double x) { return 3.0 - x; }, -1, 1) <= half_ulp_f32);
  CHECK(unary_error<float>([](auto& a) { return 1.0f / a; }, [](double x) { return 1.0 / x; }, 0.5, 2) <= half_ulp_f32);
  CHECK(unary_error<float>([](auto& a) { return a + 0.25f; }, [](double x) { return x + 0.25; }, -1, 1) <= half_ulp_f32);
  CHECK(unary_error<float>([](auto& a) { return -a; }, [](double x) { return -x; }, -1, 1) == 0.0);
}

TEST_CASE("the issue's expression d = a * b + c * 2 matches fp64", "[elementwise]") {
  for (const auto& s : shapes) {
    auto a = random_tensor<float>(s, 1), b = random_tensor<float>(s, 2), c = random_tensor<float>(s, 3);
    Tensor<float, 3> d(s);
    d = a * b + c * 2;
    auto x = to_doubles(a), y = to_doubles(b), z = to_doubles(c), expected = x;
    for (std::size_t i = 0; i < x.size(); ++i) expected[i] = x[i] * y[i] + z[i] * 2;
    // Two roundings (or one with a fused multiply-add) on values of magnitude <= 3.
    CHECK(max_relative_error(to_doubles(d), expected, 1.0) <= 3e-7);
  }
}

TEST_CASE("unary functions match the fp64 functions", "[elementwise][functions]") {
  // The scalar kernels are within 2 ulp (exp, log) and 4 ulp (tanh, sigmoid) of the rounded
  // double result (numeric.elementary_functions); the fused, vectorised expression path must be
  // too. Measured in ulps, a tiny result is held to its own precision, not to an absolute floor.
  auto fexp = [](auto& a) { return exp(a); };
  auto rexp = [](double x) { return std::exp(x); };
  CHECK(unary_ulps(fexp, rexp, -80, 80) <= 2);
  CHECK(unary_ulps(fexp, rexp, -1e-3, 1e-3) <= 2);                     // results within ulps of 1
  CHECK(unary_ulps(fexp, rexp, -103, -87) <= 2);                       // subnormal results
  CHECK(unary_ulps(fexp, rexp, 80, 88.7) <= 2);                        // near overflow
  auto flog = [](auto& a) { return log(a); };
  auto rlog = [](double x) { return std::log(x); };
  CHECK(unary_ulps(flog, rlog, FLT_TRUE_MIN, FLT_MAX, spread::log_uniform) <= 2);  // every binade, subnormals too
  CHECK(unary_ulps(flog, rlog, 0.5, 2) <= 2);                          // near 1, where log is small
  CHECK(unary_ulps(flog, rlog, 1 - 1e-4, 1 + 1e-4) <= 2);
  auto ftanh = [](auto& a) { return tanh(a); };
  auto rtanh = [](double x) { return std::tanh(x); };
  CHECK(unary_ulps(ftanh, rtanh, -12, 12) <= 4);
  CHECK(unary_ulps(ftanh, rtanh, 1e-10, 1, spread::signed_log) <= 4);  // small |x|: tanh x ≈ x
  auto fsig = [](auto& a) { return sigmoid(a); };
  auto rsig = [](double x) { return 1 / (1 + std::exp(-x)); };
  CHECK(unary_ulps(fsig, rsig, -60, 60) <= 4);
  CHECK(unary_ulps(fsig, rsig, -87, -30) <= 4);                        // the tail: sigmoid ≈ exp(x)
  CHECK(unary_ulps(fsig, rsig, 1e-8, 1, spread::signed_log) <= 4);     // near 1/2
  CHECK(unary_ulps([](auto& a) { return sqrt(a); }, [](double x) { return std::sqrt(x); }, FLT_TRUE_MIN, 1e30,
                   spread::log_uniform) <= 0.5);
  CHECK(unary_error<float>([](auto& a) { return sqrt(a); }, [](double x) { return std::sqrt(x); }, 0, 1e6) <= half_ulp_f32);
  CHECK(unary_error<float>([](auto& a) { return abs(a); }, [](double x) { return std::abs(x); }, -5, 5) == 0.0);
  CHECK(unary_error<float>([](auto& a) { return square(a); }, [](double x) { return x * x; }, -5, 5) <= half_ulp_f32);
  CHECK(unary_error<float>([](auto& a) { return sign(a); }, [](double x) { return double((x > 0) - (x < 0)); }, -1, 1) == 0.0);
  CHECK(unary_error<double>([](auto& a) { return exp(a) + log(a) + tanh(a) + sqrt(a); },
                            [](double x) { return std::exp(x) + std::log(x) + std::tanh(x) + std::sqrt(x); }, 0.1, 10) <= 1e-15);
}

TEST_CASE("max, min and clamp against scalars and tensors", "[elementwise][functions]") {
  CHECK(unary_error<float>([](auto& a) { return max(a, 0); }, [](double x) { return std::max(x, 0.0); }, -1, 1) == 0.0);
  CHECK(unary_error<float>([](auto& a) { return min(a, 0.5); }, [](double x) { return std::min(x, 0.5); }, -1, 1) == 0.0);
  CHECK(unary_error<float>([](auto& a) { return clamp(a, -0.25, 0.5); },
                           [](double x) { return std::clamp(x, -0.25, 0.5); }, -1, 1) == 0.0);
  CHECK(binary_error<float>([](auto& a, auto& b) { return max(a, b); }, [](double x, double y) { return std::max(x, y); }) == 0.0);
  CHECK(binary_error<float>([](auto& a, auto& b) { return min(a, b); }, [](double x, double y) { return std::min(x, y); }) == 0.0);
  CHECK_THROWS_AS(clamp(Tensor<float, 1>(3), 1, 0), error);
}

TEST_CASE("special values pass through functions as IEEE says", "[elementwise][functions]") {
  const float inf = INFINITY, nan = NAN;
  Tensor<float, 1> a(5);
  a(0) = inf, a(1) = -inf, a(2) = nan, a(3) = 0.0f, a(4) = -0.0f;
  Tensor<float, 1> d(5);
  d = exp(a);
  CHECK(d(0) == inf);
  CHECK(d(1) == 0.0f);
  CHECK(std::isnan(d(2)));
  CHECK(d(3) == 1.0f);
  d = max(a, 0);
  CHECK(std::isnan(d(2)));  // max does not hide a NaN
  d = sign(a);
  CHECK(std::isnan(d(2)));
  CHECK(d(0) == 1.0f);
  CHECK(d(1) == -1.0f);
}

TEST_CASE("casts convert between element types inside the loop", "[elementwise][cast]") {
  auto a = random_tensor<float>(Shape{3, 5, 7}, 5, -100, 100);
  Tensor<double, 3> d = cast<double>(a) * 3.0;
  CHECK(d(1, 2, 3) == double(a(1, 2, 3)) * 3.0);
  Tensor<half, 3> h = cast<half>(a);  // a plain conversion: the bulk F16C path where compiled in
  Tensor<half, 3> h_fused = cast<half>(a * 1.0f);  // inside a fused loop: the bit-arithmetic path
  for (std::int64_t i = 0; i < a.size(); ++i) {
    REQUIRE(h.data()[i].bits() == half(a.data()[i]).bits());
    REQUIRE(h_fused.data()[i].bits() == half(a.data()[i]).bits());
  }
  Tensor<float, 3> back = cast<float>(h);
  Tensor<float, 3> back_fused = cast<float>(h) * 1.0f;
  for (std::int64_t i = 0; i < a.size(); ++i) REQUIRE(back.data()[i] == back_fused.data()[i]);
  CHECK(max_relative_error(to_doubles(back), to_doubles(a)) <= half_ulp_f16);
  Tensor<std::int32_t, 3> truncated = cast<std::int32_t>(a);
  CHECK(truncated(0, 1, 2) == static_cast<std::int32_t>(a(0, 1, 2)));
  Tensor<float, 3> from_int = cast<float>(truncated) + 0.5f;
  CHECK(from_int(0, 1, 2) == float(truncated(0, 1, 2)) + 0.5f);
}

TEST_CASE("half tensors compute in fp32 and round once on store", "[elementwise][half]") {
  for (const auto& s : shapes) {
    auto af = random_tensor<float>(s, 21), bf = random_tensor<float>(s, 22);
    Tensor<half, 3> a = cast<half>(af), b = cast<half>(bf);
    Tensor<half, 3> d(s);
    d = a * b + exp(a);
    auto x = to_doubles(a), y = to_doubles(b), expected = x;
    for (std::size_t i = 0; i < x.size(); ++i) expected[i] = x[i] * y[i] + std::exp(x[i]);
    CHECK(max_relative_error(to_doubles(d), expected, 1e-3) <= half_ulp_f16 + 1e-6);
  }
}

TEST_CASE("compound assignment updates in place", "[elementwise]") {
  for (const auto& s : shapes) {
    auto a = random_tensor<float>(s, 31), b = random_tensor<float>(s, 32, 0.5, 2);
    auto d = a.clone();
    const float* storage = d.data();
    d += b;
    d -= 0.5f;
    d *= b * 2;
    d /= b;
    CHECK(d.data() == storage);
    auto x = to_doubles(a), y = to_doubles(b), expected = x;
    for (std::size_t i = 0; i < x.size(); ++i) expected[i] = ((x[i] + y[i]) - 0.5) * (y[i] * 2) / y[i];
    CHECK(max_relative_error(to_doubles(d), expected, 1.0) <= 1e-6);
  }
}

TEST_CASE("an expression may read the tensor it writes", "[elementwise]") {
  auto a = random_tensor<float>(Shape{2, 17, 1931}, 41);
  auto original = to_doubles(a);
  a = a * a + a;
  auto result = to_doubles(a);
  for (std::size_t i = 0; i < original.size(); ++i) original[i] = original[i] * original[i] + original[i];
  CHECK(max_relative_error(result, original, 1.0) <= 3e-7);
}

TEST_CASE("views and slices are operands and destinations", "[elementwise][view]") {
  auto batch = random_tensor<float>(Shape{6, 4, 33}, 51);
  auto other = random_tensor<float>(Shape{2, 4, 33}, 52);
  auto before = to_doubles(batch);
  batch.slice(3, 2) = batch.slice(1, 2) * other + 1;
  auto after = to_doubles(batch);
  const std::int64_t sample = 4 * 33;
  auto o = to_doubles(other);
  for (std::int64_t i = 0; i < 6 * sample; ++i) {
    const std::int64_t n = i / sample;
    const double expected = (n == 3 || n == 4) ? before[i - 2 * sample] * o[i - 3 * sample] + 1 : before[i];
    REQUIRE(after[i] == Approx(expected).epsilon(1e-6));
  }
}

TEST_CASE("integer tensors use exact integer arithmetic", "[elementwise]") {
  Tensor<std::int32_t, 1> a(5), b(5);
  for (int i = 0; i < 5; ++i) a(i) = 10 * i + 7, b(i) = i + 1;
  Tensor<std::int32_t, 1> d = a / b + a * 2 - 1;
  for (int i = 0; i < 5; ++i) CHECK(d(i) == (10 * i + 7) / (i + 1) + (10 * i + 7) * 2 - 1);
  CHECK(sum(a) == 7 + 17 + 27 + 37 + 47);
}

TEST_CASE("the threaded loop gives the same result as one thread", "[elementwise][parallel][threads]") {
  auto a = random_tensor<float>(Shape{3, 100003}, 61), b = random_tensor<float>(Shape{3, 100003}, 62);
  Tensor<float, 2> one(a.shape()), many(a.shape());
  {
    strata::testing::thread_count_guard single(1);
    one = tanh(a) * b + sqrt(abs(b));
  }
  for (int n : {2, 3, 4}) {
    strata::testing::thread_count_guard threads(n);
    if (!strata::testing::threaded_or_skip()) return;
    REQUIRE(num_threads() == n);
    many = 0;
    many = tanh(a) * b + sqrt(abs(b));
    CHECK(to_doubles(one) == to_doubles(many));
  }
}

TEST_CASE("small tensors on the threaded path match fp64 too", "[elementwise][parallel][threads]") {
  // A threshold of 1 element sends the 3×5×7 shape (and the 1×1×1 one) through parallel_ranges.
  strata::testing::parallel_threshold_guard small(1);
  strata::testing::thread_count_guard threads(3);
  if (!strata::testing::threaded_or_skip()) return;
  CHECK(binary_error<float>([](auto& a, auto& b) { return a + b; }, std::plus<>{}) <= half_ulp_f32);
  CHECK(binary_error<float>([](auto& a, auto& b) { return a * b; }, std::multiplies<>{}) <= half_ulp_f32);
  CHECK(unary_ulps([](auto& a) { return exp(a); }, [](double x) { return std::exp(x); }, -80, 80) <= 2);
  CHECK(unary_ulps([](auto& a) { return log(a); }, [](double x) { return std::log(x); }, FLT_TRUE_MIN, FLT_MAX,
                   spread::log_uniform) <= 2);
  for (const auto& s : shapes) {
    auto a = random_tensor<float>(s, 71), b = random_tensor<float>(s, 72, 0.5, 2);
    auto d = a.clone();
    d += b;
    d *= b;
    auto x = to_doubles(a), y = to_doubles(b), want = x;
    for (std::size_t i = 0; i < x.size(); ++i) want[i] = double(float(x[i] + y[i])) * y[i];
    CHECK(max_relative_error(to_doubles(d), want, 1e-30) <= half_ulp_f32);
  }
}

TEST_CASE("a transpose is an element-wise operand", "[elementwise][transpose]") {
  for (const auto& [rows, cols] : {std::pair<std::int64_t, std::int64_t>{3, 5}, {257, 129}}) {
    for (const bool threaded : {false, true}) {
      INFO(rows << "×" << cols << (threaded ? ", threaded" : ", one thread"));
      strata::testing::parallel_threshold_guard small(threaded ? 1 : std::int64_t{1} << 40);
      strata::testing::thread_count_guard threads(threaded ? 3 : 1);
      auto a = random_tensor<float>(Shape{cols, rows}, 81), b = random_tensor<float>(Shape{rows, cols}, 82);
      Tensor<float, 2> d(rows, cols);
      d = transpose(a) + b * 2;
      Tensor<float, 2> e(rows, cols, 1.0f);
      e += transpose(a);
      Tensor<float, 2> back(cols, rows);
      back = transpose(transpose(a));
      for (std::int64_t i = 0; i < rows; ++i)
        for (std::int64_t j = 0; j < cols; ++j) {
          REQUIRE(d(i, j) == a(j, i) + b(i, j) * 2);
          REQUIRE(e(i, j) == 1.0f + a(j, i));
        }
      CHECK(to_doubles(back) == to_doubles(a));
    }
  }
}
