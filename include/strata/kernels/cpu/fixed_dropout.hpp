// strata/kernels/cpu/fixed_dropout.hpp — the dropout mask for fixed-point batches on the CPU: the
// float kernel's Philox draws (the same mask for the same seed), with the keep scale 1/(1 − p)
// rounded to nearest.
#pragma once

#include <cstdint>

#include "strata/core/parallel.hpp"
#include "strata/core/random.hpp"
#include "strata/core/device_tags.hpp"
#include "strata/kernels/op_kernel.hpp"
#include "strata/numeric/fixed.hpp"

namespace strata::kernels {

// The float kernel's mask (same Philox draws), with the keep scale 1/(1 − p) rounded to nearest.
template <int B, int F, rounding R>
struct op_kernel<op::dropout_mask, strata::cpu, fixed<B, F, R>> {
  using T = fixed<B, F, R>;
  static void fill(std::int64_t count, float p, std::uint64_t seed, T* mask) {
    const T keep_scale(1.0 / (1.0 - double(p)));
    parallel_ranges((count + 3) / 4, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t block = b; block < e; ++block) {
        const auto bits = strata::detail::philox_block(seed, static_cast<std::uint64_t>(block), 0);
        for (std::int64_t l = 0; l < 4 && block * 4 + l < count; ++l)
          mask[block * 4 + l] = strata::detail::unit_float(bits[l]) < p ? T(0) : keep_scale;
      }
    });
  }
};

}  // namespace strata::kernels
