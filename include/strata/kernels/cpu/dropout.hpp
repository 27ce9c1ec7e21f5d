// strata/kernels/cpu/dropout.hpp — the CPU's dropout mask: value i is 0 with probability p, else
// 1/(1 − p), from Philox block i/4 of `seed` — so the mask depends on the seed alone, not on the
// thread count (the op_kernel for op::dropout_mask).
#pragma once

#include <cstdint>
#include <type_traits>

#include "strata/core/parallel.hpp"
#include "strata/core/random.hpp"
#include "strata/core/device_tags.hpp"
#include "strata/kernels/op_kernel.hpp"

namespace strata::kernels {

namespace cpu {
// mask[i] = 0 with probability p, else `keep`, from Philox block i/4 of `seed` (any element type
// with a zero: the fixed-point mask uses the same draws).
template <class T>
void fill_dropout_mask(std::int64_t count, float p, std::uint64_t seed, T keep, T* mask) {
  const T zero(0);
  parallel_ranges((count + 3) / 4, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t block = b; block < e; ++block) {
      const auto bits = strata::detail::philox_block(seed, static_cast<std::uint64_t>(block), 0);
      for (std::int64_t l = 0; l < 4 && block * 4 + l < count; ++l)
        mask[block * 4 + l] = strata::detail::unit_float(bits[l]) < p ? zero : keep;
    }
  });
}
}  // namespace cpu

template <class T>
  requires std::is_floating_point_v<T>
struct op_kernel<op::dropout_mask, strata::cpu, T> {
  static void fill(std::int64_t count, float p, std::uint64_t seed, T* mask) {
    cpu::fill_dropout_mask(count, p, seed, T(1) / T(1 - p), mask);
  }
};

}  // namespace strata::kernels
