// strata/kernels/cuda/launch.cuh — runs a per-thread body (a functor of its grid_index, see
// device/cuda/grid.hpp) over a grid-stride grid on the current stream: the one __global__
// wrapper behind the layer kernels, so that their bodies stay plain C++ the CPU can emulate.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "strata/device/cuda/elementwise.cuh"
#include "strata/device/cuda/error.hpp"
#include "strata/device/cuda/grid.hpp"
#include "strata/device/cuda/stream.hpp"

namespace strata::kernels::cuda {

inline constexpr int body_block = 256;

template <class Body>
__global__ void __launch_bounds__(body_block) run_body(const Body body) {
  body(cuda_grid::this_thread());
}

// body over `items` work items (one a thread, up to 32 blocks per multiprocessor; a thread then
// takes several). `what` names the kernel in an error.
template <class Body>
void launch_body(std::int64_t items, const Body& body, const char* what) {
  if (items <= 0) return;
  const auto blocks = cuda_grid::blocks_for(items, body_block, std::int64_t{32} * cuda_evaluator::device_sms());
  run_body<<<static_cast<unsigned>(blocks.x), body_block, 0, current_stream()>>>(body);
  ::strata::detail::check_launch(what, __FILE__, __LINE__);
}

}  // namespace strata::kernels::cuda
