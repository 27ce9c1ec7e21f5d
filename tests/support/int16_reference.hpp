// The int16 kernels' rounding rule written from int16_gemm.hpp's comment, independently of the
// kernels (random bits of output e from Philox block e / 8, floor((acc + r) / 2^s), biases,
// saturation), and seeded random int16 data: what kernels.int16_gemm and kernels.conv_int16
// compare against.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "strata/core/random.hpp"
#include "strata/kernels/cpu/int16_gemm.hpp"

namespace strata::testing {

inline std::vector<std::int16_t> random_int16(std::int64_t n, std::uint32_t seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(lo, hi);
  std::vector<std::int16_t> v(static_cast<std::size_t>(std::max<std::int64_t>(n, 1)));
  for (auto& e : v) e = std::int16_t(u(rng));
  return v;
}

// An exact sum `acc` of output element e rounded as documented, plus `bias` in output units.
inline std::int16_t round_reference(std::int64_t acc, std::uint64_t e, const kernels::cpu::requantize& q, std::int64_t bias) {
  std::int64_t r = 0;
  if (q.shift > 0) {
    if (q.stochastic) {
      const auto block = strata::detail::philox_block(q.seed, e / 8, q.stream);
      const std::uint32_t bits = (block[(e / 2) % 4] >> (16 * (e % 2))) & 0xFFFFu;
      r = q.shift <= 16 ? std::int64_t(bits >> (16 - q.shift)) : std::int64_t(bits) << (q.shift - 16);
    } else {
      r = std::int64_t{1} << (q.shift - 1);
    }
  }
  return std::int16_t(std::clamp<std::int64_t>(((acc + r) >> q.shift) + bias, q.lo, q.hi));
}

}  // namespace strata::testing
