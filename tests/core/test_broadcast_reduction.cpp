// Broadcasting along every choice of axes, and sum/mean/max/min over every choice of axes,
// against fp64 loops; reductions of fused expressions; full reductions.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "strata/strata.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::max_relative_error;
using strata::testing::random_tensor;
using strata::testing::to_doubles;

namespace {

enum class kind { sum, mean, max, min };

// Reference: reduce x (row-major, shape s) over the axes in `reduced`, in double.
template <std::size_t R>
std::vector<double> reference_reduce(const std::vector<double>& x, const Shape<R>& s, const std::array<bool, R>& reduced,
                                     kind k) {
  std::int64_t out_n = 1, count = 1;
  for (std::size_t a = 0; a < R; ++a) (reduced[a] ? count : out_n) *= s[a];
  const double init = k == kind::max ? -INFINITY : k == kind::min ? INFINITY : 0.0;
  std::vector<double> out(static_cast<std::size_t>(out_n), init);
  const auto strides = s.strides();
  for (std::int64_t i = 0; i < s.elements(); ++i) {
    std::int64_t o = 0;
    for (std::size_t a = 0; a < R; ++a) {
      const std::int64_t idx = (i / strides[a]) % s[a];
      if (!reduced[a]) o = o * s[a] + idx;
    }
    double& acc = out[static_cast<std::size_t>(o)];
    const double v = x[static_cast<std::size_t>(i)];
    if (k == kind::max) acc = std::max(acc, v);
    else if (k == kind::min) acc = std::min(acc, v);
    else acc += v;
  }
  if (k == kind::mean)
    for (double& v : out) v /= double(count);
  return out;
}

template <class T, std::size_t R, std::size_t... A>
void check_reductions_over(const Tensor<T, R>& x, axis_list<A...> axes_) {
  const std::array<bool, R> reduced = [] {
    std::array<bool, R> r{};
    ((r[A] = true), ...);
    return r;
  }();
  const auto in = to_doubles(x);
  auto abs_in = in;
  for (double& v : abs_in) v = std::abs(v);
  // A sum's rounding error is judged against the sum of magnitudes it adds up (its condition):
  // fp32 lanes, fp64 across blocks stay within a few fp32 ulps of that.
  const double tol = std::is_same_v<T, double> ? 1e-15 : 2.5e-7;
  Shape<R - sizeof...(A)> out_shape;
  for (std::size_t a = 0, o = 0; a < R; ++a)
    if (!reduced[a]) out_shape[o++] = x.shape()[a];
  Tensor<T, R - sizeof...(A)> d(out_shape);
  INFO("shape " << x.shape().to_string() << " reducing axes " << ((std::to_string(A) + " ") + ...));
  auto conditioned_error = [](const std::vector<double>& got, const std::vector<double>& want,
                              const std::vector<double>& magnitude) {
    double worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]) / magnitude[i]);
    return worst;
  };
  d = sum(x, axes_);
  const auto magnitude = reference_reduce(abs_in, x.shape(), reduced, kind::sum);
  CHECK(conditioned_error(to_doubles(d), reference_reduce(in, x.shape(), reduced, kind::sum), magnitude) <= tol);
  d = mean(x, axes_);
  const auto mean_magnitude = reference_reduce(abs_in, x.shape(), reduced, kind::mean);
  CHECK(conditioned_error(to_doubles(d), reference_reduce(in, x.shape(), reduced, kind::mean), mean_magnitude) <= tol);
  d = max(x, axes_);
  CHECK(max_relative_error(to_doubles(d), reference_reduce(in, x.shape(), reduced, kind::max)) == 0.0);
  d = min(x, axes_);
  CHECK(max_relative_error(to_doubles(d), reference_reduce(in, x.shape(), reduced, kind::min)) == 0.0);
}

template <class T>
void check_all_axis_sets(const Shape<4>& s, std::uint64_t seed) {
  auto x = random_tensor<T>(s, seed);
  check_reductions_over(x, axes<0>);
  check_reductions_over(x, axes<1>);
  check_reductions_over(x, axes<2>);
  check_reductions_over(x, axes<3>);
  check_reductions_over(x, axes<0, 1>);
  check_reductions_over(x, axes<0, 2>);
  check_reductions_over(x, axes<0, 3>);
  check_reductions_over(x, axes<1, 2>);
  check_reductions_over(x, axes<1, 3>);
  check_reductions_over(x, axes<2, 3>);
  check_reductions_over(x, axes<0, 1, 2>);
  check_reductions_over(x, axes<0, 1, 3>);
  check_reductions_over(x, axes<0, 2, 3>);
  check_reductions_over(x, axes<1, 2, 3>);
}

// d = x + broadcast(b, axes<A...>, shape) against a loop.
template <std::size_t... A>
void check_broadcast(const Shape<4>& s, std::uint64_t seed) {
  constexpr std::array<std::size_t, sizeof...(A)> kept{A...};
  Shape<sizeof...(A)> bs;
  for (std::size_t i = 0; i < kept.size(); ++i) bs[i] = s[kept[i]];
  auto x = random_tensor<float>(s, seed);
  auto b = random_tensor<float>(bs, seed + 1);
  Tensor<float, 4> d(s);
  d = x * 2 + broadcast(b, axes<A...>, s);
  const auto xs = to_doubles(x), bv = to_doubles(b);
  const auto strides = s.strides();
  const auto bstrides = bs.strides();
  std::vector<double> expected(xs.size());
  for (std::int64_t i = 0; i < s.elements(); ++i) {
    std::int64_t j = 0;
    for (std::size_t k = 0; k < kept.size(); ++k) j += ((i / strides[kept[k]]) % s[kept[k]]) * bstrides[k];
    expected[i] = xs[i] * 2 + bv[j];
  }
  INFO("broadcast along axes " << ((std::to_string(A) + " ") + ...) << "of " << s.to_string());
  CHECK(max_relative_error(to_doubles(d), expected, 1.0) <= 2e-7);
}

void check_every_broadcast(const Shape<4>& s) {
  check_broadcast<0>(s, 1);
  check_broadcast<1>(s, 2);
  check_broadcast<2>(s, 3);
  check_broadcast<3>(s, 4);
  check_broadcast<0, 1>(s, 5);
  check_broadcast<0, 2>(s, 6);
  check_broadcast<0, 3>(s, 7);
  check_broadcast<1, 2>(s, 8);
  check_broadcast<1, 3>(s, 9);
  check_broadcast<2, 3>(s, 10);
  check_broadcast<0, 1, 2>(s, 11);
  check_broadcast<0, 2, 3>(s, 12);
  check_broadcast<1, 2, 3>(s, 13);
  check_broadcast<0, 1, 2, 3>(s, 14);
}

}  // namespace

TEST_CASE("broadcast along every set of axes matches a loop", "[broadcast]") {
  check_every_broadcast(Shape{2, 3, 4, 5});
  check_every_broadcast(Shape{3, 16, 37, 41});  // threaded path, odd extents
  check_every_broadcast(Shape{1, 1, 1, 7});
}

TEST_CASE("a bias over channels of an NCHW batch", "[broadcast]") {
  auto x = random_tensor<float>(Shape{2, 3, 4, 4}, 3);
  Tensor<float, 1> bias(3);
  bias(0) = 10, bias(1) = 20, bias(2) = 30;
  Tensor<float, 4> y = x + broadcast(bias, axes<1>, x.shape());
  CHECK(y(1, 2, 3, 0) == x(1, 2, 3, 0) + 30);
  CHECK(y(0, 1, 0, 2) == x(0, 1, 0, 2) + 20);
}

TEST_CASE("sum, mean, max and min over every set of axes match fp64", "[reduction]") {
  check_all_axis_sets<float>(Shape{2, 3, 4, 5}, 1);
  check_all_axis_sets<float>(Shape{3, 7, 1, 13}, 2);
  check_all_axis_sets<float>(Shape{4, 16, 33, 65}, 3);  // threaded path
  check_all_axis_sets<double>(Shape{3, 5, 7, 9}, 4);
}

TEST_CASE("reductions of rank 1 to 3 tensors", "[reduction]") {
  auto m = random_tensor<float>(Shape{37, 129}, 5);
  check_reductions_over(m, axes<0>);
  check_reductions_over(m, axes<1>);
  auto t = random_tensor<float>(Shape{5, 300, 7}, 6);
  check_reductions_over(t, axes<1>);
  check_reductions_over(t, axes<0, 2>);
  // A long single row: many blocks of the fp32 lanes.
  auto row = random_tensor<float>(Shape{2, 1000001}, 7);
  check_reductions_over(row, axes<1>);
  check_reductions_over(row, axes<0>);
}

TEST_CASE("a reduction reads a fused expression with broadcasts once", "[reduction][broadcast]") {
  // The batch-norm backward pattern: sum over N, H, W of (x - mean_c) * dy.
  const Shape s{4, 6, 9, 11};
  auto x = random_tensor<float>(s, 8), dy = random_tensor<float>(s, 9);
  auto m = random_tensor<float>(Shape{6}, 10);
  Tensor<float, 1> d(6);
  d = sum((x - broadcast(m, axes<1>, s)) * dy, axes<0, 2, 3>);
  const auto xs = to_doubles(x), ys = to_doubles(dy), ms = to_doubles(m);
  std::vector<double> expected(6, 0.0);
  for (std::int64_t i = 0; i < s.elements(); ++i) {
    const std::int64_t c = (i / (9 * 11)) % 6;
    expected[c] += (xs[i] - ms[c]) * ys[i];
  }
  CHECK(max_relative_error(to_doubles(d), expected, 1.0) <= 2e-6);
}

TEST_CASE("reductions assigned with += and -= accumulate", "[reduction]") {
  auto x = random_tensor<float>(Shape{8, 5}, 12);
  Tensor<float, 1> d(5, 1.0f);
  d += sum(x, axes<0>);
  d -= max(x, axes<0>);
  for (int j = 0; j < 5; ++j) {
    double s = 0, mx = -INFINITY;
    for (int i = 0; i < 8; ++i) s += x(i, j), mx = std::max<double>(mx, x(i, j));
    CHECK(d(j) == Approx(1.0 + s - mx).epsilon(1e-6));
  }
}

TEST_CASE("full reductions give a value in the accumulation type", "[reduction]") {
  auto x = random_tensor<float>(Shape{3, 1234567}, 13, 0, 1);
  const auto xs = to_doubles(x);
  double s = 0, mx = -INFINITY, mn = INFINITY;
  for (double v : xs) s += v, mx = std::max(mx, v), mn = std::min(mn, v);
  STATIC_REQUIRE(std::is_same_v<decltype(sum(x)), float>);
  CHECK(sum(x) == Approx(s).epsilon(1e-7));
  CHECK(mean(x) == Approx(s / double(xs.size())).epsilon(1e-7));
  CHECK(max(x) == float(mx));
  CHECK(min(x) == float(mn));
  CHECK(sum(x * x - x) == Approx([&] {
          double t = 0;
          for (double v : xs) t += v * v - v;
          return t;
        }())
                              .epsilon(1e-6));
  Tensor<half, 2> h = cast<half>(x);
  STATIC_REQUIRE(std::is_same_v<decltype(sum(h)), float>);
  double hs = 0;
  for (double v : to_doubles(h)) hs += v;
  CHECK(sum(h) == Approx(hs).epsilon(1e-6));
  Tensor<float, 1> empty;
  CHECK(sum(empty) == 0.0f);
  CHECK_THROWS_AS(max(empty), shape_error);
}

TEST_CASE("full reductions do not depend on the thread count", "[reduction][parallel]") {
  auto x = random_tensor<float>(Shape{5, 777777}, 14);
  set_num_threads(1);
  const float one = sum(x);
  set_num_threads(2);
  const float two = sum(x);
  set_num_threads(0);
  CHECK(one == two);
}

TEST_CASE("max and min propagate NaN", "[reduction]") {
  Tensor<float, 2> x(3, 40, 1.0f);
  x(1, 17) = NAN;
  CHECK(std::isnan(max(x)));
  CHECK(std::isnan(min(x)));
  Tensor<float, 1> m(40);
  m = max(x, axes<0>);
  CHECK(std::isnan(m(17)));
  CHECK(m(16) == 1.0f);
}
