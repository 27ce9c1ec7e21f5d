// Broadcasting along every choice of axes, and sum/mean/max/min over every choice of axes,
// against fp64 loops; reductions of fused expressions; full reductions.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "strata/strata.hpp"
#include "support/guards.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::conditioned_error;
using strata::testing::gamma_n;
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

// Every reduction of x over axes A… against fp64 loops. A sum's rounding error is judged against
// the sum of magnitudes it adds up (its condition): fp32 lanes, fp64 across blocks stay within a
// few fp32 ulps of that. Half tensors reduce in fp32 and round once on store: |got − want| ≤
// 2^-11·|want| (the store) + the fp32 summation error + half's smallest subnormal. max and min
// are exact.
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
  Shape<R - sizeof...(A)> out_shape;
  for (std::size_t a = 0, o = 0; a < R; ++a)
    if (!reduced[a]) out_shape[o++] = x.shape()[a];
  Tensor<T, R - sizeof...(A)> d(out_shape);
  INFO(precision_traits<T>::name << ", shape " << x.shape().to_string() << " reducing axes "
                                 << ((std::to_string(A) + " ") + ...));
  auto check = [&](kind k, const char* what) {
    INFO(what);
    const auto want = reference_reduce(in, x.shape(), reduced, k);
    const auto magnitude = reference_reduce(abs_in, x.shape(), reduced, k == kind::mean ? kind::mean : kind::sum);
    std::vector<double> scale(want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      if constexpr (std::is_same_v<T, half>) scale[i] = 0x1.0p-11 * std::abs(want[i]) + 2.5e-7 * magnitude[i] + 0x1.0p-24;
      else scale[i] = (std::is_same_v<T, double> ? 1e-15 : 2.5e-7) * magnitude[i];
    }
    CHECK(conditioned_error(to_doubles(d), want, scale) <= 1.0);
  };
  d = sum(x, axes_);
  check(kind::sum, "sum");
  d = mean(x, axes_);
  check(kind::mean, "mean");
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

// The longest chain of fp32 additions any element goes through in kernels/cpu/reduce.hpp's
// reduce_run over a run of L <= 1024 contiguous elements: 16 lanes of L/16 elements (the first
// add into the zero identity is exact), a 4-level tree over the lanes, the L % 16 tail elements
// summed serially, then lane 0 + tail. Runs and blocks are then combined in double.
constexpr int fp32_run_depth(std::int64_t L) {
  const std::int64_t lane_adds = L / 16 > 0 ? L / 16 - 1 + 4 : 0;
  const std::int64_t tail_adds = L % 16 > 0 ? L % 16 - 1 : 0;
  return int(std::max(lane_adds, tail_adds) + 1);
}
static_assert(fp32_run_depth(99) == 10);
static_assert(fp32_run_depth(1024) == 68);

TEST_CASE("a reduction reads a fused expression with broadcasts once", "[reduction][broadcast]") {
  // The batch-norm backward pattern: sum over N, H, W of (x - mean_c) * dy.
  const Shape s{4, 6, 9, 11};
  auto x = random_tensor<float>(s, 8), dy = random_tensor<float>(s, 9);
  auto m = random_tensor<float>(Shape{6}, 10);
  Tensor<float, 1> d(6);
  d = sum((x - broadcast(m, axes<1>, s)) * dy, axes<0, 2, 3>);
  const auto xs = to_doubles(x), ys = to_doubles(dy), ms = to_doubles(m);
  std::vector<double> expected(6, 0.0), magnitude(6, 0.0);
  for (std::int64_t i = 0; i < s.elements(); ++i) {
    const std::int64_t c = (i / (9 * 11)) % 6;
    expected[c] += (xs[i] - ms[c]) * ys[i];
    magnitude[c] += std::abs((xs[i] - ms[c]) * ys[i]);
  }
  // Error analysis of the library's order (reduce_axes, inner axes reduced): each term is
  // rounded twice (x - m, then · dy; with FMA contraction the product is not rounded at all),
  // then goes through fp32_run_depth(99) = 10 fp32 additions; the 4 runs per channel are added
  // in double (γ_4 in double, negligible) and the total is rounded once to fp32. So
  // |got - want| <= (γ_2 + γ_10 + u) Σ|terms| <= γ_13 Σ|terms| (Higham, §4.2). The terms cancel
  // heavily (Σ|terms| ≈ 120 for sums of magnitude ≈ 0.5 here, a condition number of ≈ 200),
  // so a bound relative to |want| itself is not a property of this summation at all.
  const double bound = gamma_n<float>(2 + fp32_run_depth(9 * 11) + 1);
  CHECK(conditioned_error(to_doubles(d), expected, magnitude) <= bound);
  // Dropping or doubling one term moves the result by |term| ≈ Σ|terms| / 396, far above it.
  CHECK(bound * 396 < 0.01);
}

TEST_CASE("sums of small integers are exact over every set of axes", "[reduction]") {
  // Integers below 2^24 in magnitude add exactly in fp32, whatever the order: any dropped,
  // doubled or misplaced element shows as a nonzero difference, which rounding cannot hide.
  for (const auto& s : {Shape{2, 3, 4, 5}, Shape{4, 16, 33, 65}, Shape{3, 7, 1, 1031}}) {
    auto x = random_tensor<float>(s, 77, -64, 64);
    for (std::int64_t i = 0; i < x.size(); ++i) x.data()[i] = std::floor(x.data()[i]);
    const auto in = to_doubles(x);
    auto exact = [&](auto axes_, std::array<bool, 4> reduced) {
      Shape<4 - decltype(axes_)::count> out_shape;
      for (std::size_t a = 0, o = 0; a < 4; ++a)
        if (!reduced[a]) out_shape[o++] = s[a];
      Tensor<float, 4 - decltype(axes_)::count> d(out_shape);
      d = sum(x, axes_);
      INFO("shape " << s.to_string() << " reducing " << reduced[0] << reduced[1] << reduced[2] << reduced[3]);
      CHECK(to_doubles(d) == reference_reduce(in, s, reduced, kind::sum));
    };
    exact(axes<0>, {true, false, false, false});
    exact(axes<3>, {false, false, false, true});
    exact(axes<1, 3>, {false, true, false, true});
    exact(axes<0, 2>, {true, false, true, false});
    exact(axes<1, 2, 3>, {false, true, true, true});
    exact(axes<0, 1, 2>, {true, true, true, false});
    double total = 0;
    for (double v : in) total += v;
    CHECK(double(sum(x)) == total);
  }
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

TEST_CASE("full reductions do not depend on the thread count", "[reduction][parallel][threads]") {
  auto x = random_tensor<float>(Shape{5, 777777}, 14);
  float one = 0;
  {
    strata::testing::thread_count_guard single(1);
    one = sum(x);
  }
  for (int n : {2, 3, 4}) {
    strata::testing::thread_count_guard many(n);
    if (!strata::testing::threaded_or_skip()) return;
    REQUIRE(num_threads() == n);
    CHECK(sum(x) == one);
    CHECK(sum(x * x - x) == [&] {
      strata::testing::thread_count_guard single(1);
      return sum(x * x - x);
    }());
  }
}

TEST_CASE("axis reductions do not depend on the thread count, also on tiny tensors", "[reduction][parallel][threads]") {
  // A threshold of 1 sends even the small shapes down the threaded paths of reduce_axes.
  strata::testing::parallel_threshold_guard small(1);
  for (const auto& s : {Shape{2, 3, 4, 5}, Shape{4, 16, 33, 65}}) {
    auto x = random_tensor<float>(s, 15);
    Tensor<float, 2> one_a(s[1], s[3]), many_a(s[1], s[3]);
    Tensor<float, 2> one_b(s[0], s[1]), many_b(s[0], s[1]);
    {
      strata::testing::thread_count_guard single(1);
      one_a = sum(x, axes<0, 2>);
      one_b = max(x * 2, axes<2, 3>);
    }
    strata::testing::thread_count_guard many(3);
    if (!strata::testing::threaded_or_skip()) return;
    many_a = sum(x, axes<0, 2>);
    many_b = max(x * 2, axes<2, 3>);
    CHECK(to_doubles(one_a) == to_doubles(many_a));
    CHECK(to_doubles(one_b) == to_doubles(many_b));
    // and both are right, not merely equal
    check_reductions_over(x, axes<0, 2>);
    check_reductions_over(x, axes<1, 3>);
  }
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

TEST_CASE("half tensors: axis reductions, max and min round once to half", "[reduction][half]") {
  for (const auto& s : {Shape{2, 3, 4, 5}, Shape{4, 16, 33, 65}}) {
    const Tensor<half, 4> x = cast<half>(random_tensor<float>(s, 31, -4, 4));
    check_reductions_over(x, axes<0>);
    check_reductions_over(x, axes<3>);
    check_reductions_over(x, axes<0, 2>);
    check_reductions_over(x, axes<1, 3>);
    check_reductions_over(x, axes<1, 2, 3>);
    check_reductions_over(x, axes<0, 1, 2>);
    double mx = -INFINITY, mn = INFINITY;
    for (double v : to_doubles(x)) mx = std::max(mx, v), mn = std::min(mn, v);
    CHECK(double(max(x)) == mx);
    CHECK(double(min(x)) == mn);
  }
}

TEST_CASE("half tensors: broadcasts and compound assignment round once per store", "[broadcast][half]") {
  const Shape s{3, 5, 17, 19};
  const Tensor<half, 4> x = cast<half>(random_tensor<float>(s, 41));
  const Tensor<half, 1> b = cast<half>(random_tensor<float>(Shape{5}, 42, 0.5, 2));
  const auto xs = to_doubles(x), bs = to_doubles(b);
  auto channel = [&](std::size_t i) { return (i / (17 * 19)) % 5; };
  const double u_half = 0x1.0p-11 * 1.0001;
  // One rounding to half per store, relative to the exact result (floor: half's smallest normal).
  const double floor = 0x1.0p-14;

  Tensor<half, 4> d(s);
  d = x * 2 + broadcast(b, axes<1>, s);
  std::vector<double> want(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) want[i] = xs[i] * 2 + bs[channel(i)];
  CHECK(max_relative_error(to_doubles(d), want, floor) <= u_half);

  // Each compound assignment is one fp32 operation on half operands, rounded once to half:
  // compare every step against the exact result of that step on the previous (half) values.
  d = x;
  auto step = [&](const char* what, auto&& assign, auto&& exact) {
    INFO(what);
    const auto before = to_doubles(d);
    assign();
    std::vector<double> expected(before.size());
    for (std::size_t i = 0; i < before.size(); ++i) expected[i] = exact(before[i], i);
    CHECK(max_relative_error(to_doubles(d), expected, floor) <= u_half);
  };
  step("+= broadcast", [&] { d += broadcast(b, axes<1>, s); }, [&](double v, std::size_t i) { return v + bs[channel(i)]; });
  step("-= tensor", [&] { d -= x; }, [&](double v, std::size_t i) { return v - xs[i]; });
  step("*= scalar", [&] { d *= 3; }, [&](double v, std::size_t) { return v * 3; });
  step("/= broadcast", [&] { d /= broadcast(b, axes<1>, s); }, [&](double v, std::size_t i) { return v / bs[channel(i)]; });
  step("+= scalar", [&] { d += 0.5f; }, [&](double v, std::size_t) { return v + 0.5; });
}
