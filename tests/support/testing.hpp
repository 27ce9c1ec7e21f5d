// Shared by the tests: random tensors and comparisons against fp64 reference loops.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
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

// Elements as doubles, in row-major order.
template <class X>
std::vector<double> to_doubles(const X& t) {
  std::vector<double> v(static_cast<std::size_t>(t.size()));
  using E = typename std::remove_cvref_t<X>::element_type;
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(precision_traits<E>::to_compute(t.data()[i]));
  return v;
}

// Largest |a - b| / max(|b|, floor) over all elements; NaN in the same places counts as equal.
inline double max_relative_error(const std::vector<double>& a, const std::vector<double>& b, double floor = 1e-30) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (std::isinf(a[i]) || std::isinf(b[i])) {
      if (a[i] != b[i]) return INFINITY;
      continue;
    }
    const double e = std::abs(a[i] - b[i]) / std::max(std::abs(b[i]), floor);
    if (!(e <= worst)) worst = e;  // NaN-safe
  }
  return worst;
}

}  // namespace strata::testing
