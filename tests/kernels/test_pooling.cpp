// The 2×2 / stride 2 max pool's fast path (windows gathered into contiguous arrays, selects on
// whole vectors) against a plain loop: the value and the index of the first maximum in scan order,
// ties and NaNs included, for planes narrower than a vector, odd sizes (a row and column left
// over), and rows longer than one gathering pass.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "strata/kernels/cpu/pooling.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

template <class T>
void check_max_pool(std::int64_t C, std::int64_t H, std::int64_t W, std::uint32_t seed) {
  const kernels::pool_geometry g{C, H, W, 2, 2, 0};
  const std::int64_t N = 2, P = g.P(), Q = g.Q();
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> level(-3, 3);  // few values: many ties
  std::uniform_int_distribution<int> rare(0, 40);
  std::vector<T> x(std::size_t(N * C * H * W));
  for (auto& v : x) v = rare(rng) == 0 ? std::numeric_limits<T>::quiet_NaN() : T(level(rng));
  std::vector<T> y(std::size_t(N * C * P * Q));
  std::vector<std::int32_t> where(y.size());
  kernels::cpu::max_pool_forward(g, N, x.data(), y.data(), where.data());
  int nans = 0;
  for (std::int64_t plane = 0; plane < N * C; ++plane)
    for (std::int64_t p = 0; p < P; ++p)
      for (std::int64_t q = 0; q < Q; ++q) {
        const T* in = x.data() + plane * H * W;
        std::int64_t at = 2 * p * W + 2 * q;
        for (std::int64_t k : {2 * p * W + 2 * q + 1, (2 * p + 1) * W + 2 * q, (2 * p + 1) * W + 2 * q + 1}) {
          if (std::isnan(in[at])) break;
          if (std::isnan(in[k]) || in[k] > in[at]) at = k;
        }
        const std::size_t o = std::size_t((plane * P + p) * Q + q);
        INFO("plane " << plane << " window " << p << "," << q << " of " << H << "×" << W);
        CHECK(where[o] == at);
        if (std::isnan(in[at])) {
          ++nans;
          CHECK(std::isnan(y[o]));
        } else {
          CHECK(y[o] == in[at]);
        }
      }
  if (N * C * P * Q >= 200) CHECK(nans > 0);  // the NaN cases were exercised
}

}  // namespace

TEST_CASE("2×2 max pool: first maximum and NaNs, on short, odd and long rows", "[kernels][pooling]") {
  for (auto [H, W] : {std::pair<std::int64_t, std::int64_t>{6, 8}, {28, 28}, {14, 14}, {7, 9}, {3, 3}, {4, 2200}, {56, 56}}) {
    check_max_pool<float>(3, H, W, std::uint32_t(H * 1000 + W));
    check_max_pool<double>(2, H, W, std::uint32_t(H * 1000 + W + 1));
  }
}
