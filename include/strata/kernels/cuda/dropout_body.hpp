// strata/kernels/cuda/dropout_body.hpp — what each GPU thread of the dropout mask does: Philox
// block i of the seed gives mask values 4i … 4i+3, as on the CPU (kernels/cpu/dropout.hpp), so one
// seed gives one mask on every device. Plain C++: compiles with g++ as well as nvcc.
#pragma once

#include <cstdint>

#include "strata/config.hpp"
#include "strata/core/random.hpp"
#include "strata/device/cuda/grid.hpp"

namespace strata::kernels::cuda_body {

// mask[i] = 0 with probability p, else keep: one thread per Philox block of four values.
template <class T>
struct dropout_mask_body {
  std::int64_t count;
  float p;
  std::uint64_t seed;
  T keep;
  T* mask;
  STRATA_HD void operator()(const cuda_grid::grid_index& t) const {
    const std::int64_t blocks = (count + 3) / 4;
    for (std::int64_t block = cuda_grid::global_x(t); block < blocks; block += cuda_grid::threads_x(t)) {
      const auto bits = strata::detail::philox_block(seed, static_cast<std::uint64_t>(block), 0);
      for (std::int64_t l = 0; l < 4 && block * 4 + l < count; ++l)
        mask[block * 4 + l] = strata::detail::unit_float(bits[l]) < p ? T(0) : keep;
    }
  }
};

}  // namespace strata::kernels::cuda_body
