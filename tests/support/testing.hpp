// Shared by the tests: random tensors and comparisons against fp64 reference loops.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/core/random.hpp"
#include "strata/core/tensor.hpp"

namespace strata::testing {

// A tensor of uniform values in [lo, hi), seeded.
template <class T, std::size_t Rank>
Tensor<T, Rank> random_tensor(const Shape<Rank>& shape, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor<T, Rank> t(shape);
  fill_uniform(t, lo, hi, seed);
  return t;
}

// n values uniform in [lo, hi) from std::mt19937(seed), as T (the kernel tests' inputs).
template <class T>
std::vector<T> random_values(std::int64_t n, std::uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& e : v) e = T(u(rng));
  return v;
}

// min(max(v, lo), hi) as ReLU, ReLU6 and the kernels' epilogues clamp: a NaN stays NaN.
inline double clamp_reference(double v, double lo, double hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Elements as doubles, in row-major order.
template <class X>
std::vector<double> to_doubles(const X& t) {
  std::vector<double> v(static_cast<std::size_t>(t.size()));
  using E = typename std::remove_cvref_t<X>::element_type;
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(precision_traits<E>::to_compute(t.data()[i]));
  return v;
}

// ---------------------------------------------------------------------------------------------
// NaN-aware comparisons. Every error below is +INFINITY as soon as exactly one side is NaN (a NaN
// result where the reference is finite, or a finite result where the reference is NaN), or the
// two sides are different infinities, so `error <= tol` fails for it whatever its position. NaN
// on both sides, or the same infinity on both sides, counts as equal (error 0). Use worse_of()
// to fold element errors: std::max and `if (e > worst)` drop a NaN.

// true when a and b disagree about NaN-ness or infinity (the element counts as +INFINITY error).
inline bool special_mismatch(double got, double want) {
  if (std::isnan(got) || std::isnan(want)) return std::isnan(got) != std::isnan(want);
  if (std::isinf(got) || std::isinf(want)) return got != want;
  return false;
}
// true when both are NaN or both are the same infinity (the element counts as 0 error).
inline bool special_match(double got, double want) {
  return (std::isnan(got) && std::isnan(want)) || ((std::isinf(got) || std::isinf(want)) && got == want);
}

// max(worst, e) that keeps a NaN (as +INFINITY): fold element errors with this.
inline double worse_of(double worst, double e) {
  if (std::isnan(e) || std::isnan(worst)) return INFINITY;
  return e > worst ? e : worst;
}

// |got - want| / max(|want|, floor) for one element, with the special cases above.
inline double relative_error(double got, double want, double floor = 1e-30) {
  if (special_mismatch(got, want)) return INFINITY;
  if (special_match(got, want)) return 0.0;
  return std::abs(got - want) / std::max(std::abs(want), floor);
}

// |got - want| for one element, with the special cases above.
inline double abs_error(double got, double want) {
  if (special_mismatch(got, want)) return INFINITY;
  if (special_match(got, want)) return 0.0;
  return std::abs(got - want);
}

// Largest |got - want| / max(|want|, floor) over all elements (NaN-aware, see above).
inline double max_relative_error(const std::vector<double>& got, const std::vector<double>& want, double floor = 1e-30) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) worst = worse_of(worst, relative_error(got[i], want[i], floor));
  return worst;
}

// Largest |got - want| over all elements (NaN-aware).
inline double max_abs_error(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) worst = worse_of(worst, abs_error(got[i], want[i]));
  return worst;
}

// A network's outputs against a reference, as a whole: the largest |got − want| relative to the
// largest |want|, and ‖got − want‖₂ / ‖want‖₂, over n values.
template <class T, class U>
double error_relative_to_largest(const T* got, const U* want, std::size_t n) {
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < n; ++i) {
    worst = std::max(worst, std::abs(double(got[i]) - double(want[i])));
    scale = std::max(scale, std::abs(double(want[i])));
  }
  return worst / scale;
}
template <class T, class U>
double normwise_error(const T* got, const U* want, std::size_t n) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < n; ++i) {
    diff += (double(got[i]) - double(want[i])) * (double(got[i]) - double(want[i]));
    norm += double(want[i]) * double(want[i]);
  }
  return std::sqrt(diff / norm);
}

// Largest |got - want| / scale[i]: the error measured against each element's own condition,
// e.g. scale = Σ|terms| for a sum or Σ|w||x| for a dot product (NaN-aware). A zero scale with a
// nonzero error gives +INFINITY; zero with zero gives 0.
inline double conditioned_error(const std::vector<double>& got, const std::vector<double>& want,
                                const std::vector<double>& scale) {
  REQUIRE(got.size() == want.size());
  REQUIRE(scale.size() == want.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double e = abs_error(got[i], want[i]);
    worst = worse_of(worst, e == 0 ? 0.0 : e / scale[i]);
  }
  return worst;
}

// Distance in units in the last place of T between got and want (want rounded to T first), for
// T = float or double; NaN-aware like the rest (one-sided NaN or different infinities: +INFINITY).
template <class T>
double ulp_distance(double got, double want) {
  static_assert(std::is_floating_point_v<T>);
  if (special_mismatch(got, want)) return INFINITY;
  if (special_match(got, want)) return 0.0;
  const T g = static_cast<T>(got), w = static_cast<T>(want);
  if (g == w) return 0.0;
  // ulp of the larger magnitude (spacing just above it), never below the smallest subnormal.
  const T big = std::max(std::abs(g), std::abs(w));
  const T ulp = std::nextafter(big, std::numeric_limits<T>::infinity()) - big;
  return std::abs(double(g) - double(w)) / double(ulp);
}

// Largest ulp_distance<T> over all elements.
template <class T>
double max_ulp_error(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) worst = worse_of(worst, ulp_distance<T>(got[i], want[i]));
  return worst;
}

// γ_n = n·u / (1 − n·u): the bound on the relative error of n floating-point operations in a
// chain (Higham, Accuracy and Stability, §3.1), for the unit roundoff u of T.
template <class T>
double gamma_n(double n) {
  const double u = std::numeric_limits<T>::epsilon() / 2;
  return n * u / (1 - n * u);
}

// ---------------------------------------------------------------------------------------------
// Statistics: how many standard errors an observation lies from its expectation. Check with
// CHECK(sigmas(observed, expected, sd) <= 5) so a failure prints the number; NaN gives +INFINITY.
inline double sigmas(double observed, double expected, double standard_error) {
  const double s = std::abs(observed - expected) / standard_error;
  return std::isnan(s) ? INFINITY : s;
}
inline bool within_sigmas(double observed, double expected, double standard_error, double k = 5) {
  return sigmas(observed, expected, standard_error) <= k;
}

}  // namespace strata::testing
