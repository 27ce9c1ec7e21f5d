// strata/device/cuda/grid.hpp — kernels written as per-thread bodies: a thread's work is a
// host-and-device function of its grid_index, so the GPU runs it from a one-line __global__
// wrapper (this_thread() fills the index) and the CPU runs the very same body over every thread
// of the grid (emulate), which lets CI check the index arithmetic — where most kernel bugs live —
// without a GPU. Plain C++: compiles with g++ as well as nvcc.
#pragma once

#include <cstdint>

#include "strata/config.hpp"

// Loops to unroll in a body, for nvcc and for g++ alike.
#if defined(__CUDACC__)
#define STRATA_UNROLL _Pragma("unroll")
#else
#define STRATA_UNROLL _Pragma("GCC unroll 8")
#endif

namespace strata::cuda_grid {

// A grid or block extent (dim3 with 64-bit fields).
struct grid_dim {
  std::int64_t x = 1, y = 1, z = 1;
};

// Where a thread is: blockIdx, threadIdx, gridDim and blockDim.
struct grid_index {
  grid_dim block, thread, blocks, threads;
};

#if defined(__CUDACC__)
__device__ __forceinline__ grid_index this_thread() {
  return {{blockIdx.x, blockIdx.y, blockIdx.z},
          {threadIdx.x, threadIdx.y, threadIdx.z},
          {gridDim.x, gridDim.y, gridDim.z},
          {blockDim.x, blockDim.y, blockDim.z}};
}
#endif

// Grid-stride loops over n items: a thread starts at its global x index and steps by the
// number of threads in the grid's x dimension.
STRATA_HD inline std::int64_t global_x(const grid_index& t) { return t.block.x * t.threads.x + t.thread.x; }
STRATA_HD inline std::int64_t threads_x(const grid_index& t) { return t.blocks.x * t.threads.x; }

// The blocks of a grid-stride loop over n items with `threads` a block: one item a thread up
// to `max_blocks` blocks (then each thread takes several).
inline grid_dim blocks_for(std::int64_t n, std::int64_t threads, std::int64_t max_blocks) {
  const std::int64_t b = (n + threads - 1) / threads;
  return {b < 1 ? 1 : (b > max_blocks ? max_blocks : b), 1, 1};
}

// Runs body(index) for every thread of a blocks × threads launch, block by block, on the CPU.
// Valid for bodies that use neither shared memory nor barriers (threads run one after another).
template <class Body>
void emulate(grid_dim blocks, grid_dim threads, Body&& body) {
  grid_index t{{}, {}, blocks, threads};
  for (t.block.z = 0; t.block.z < blocks.z; ++t.block.z)
    for (t.block.y = 0; t.block.y < blocks.y; ++t.block.y)
      for (t.block.x = 0; t.block.x < blocks.x; ++t.block.x)
        for (t.thread.z = 0; t.thread.z < threads.z; ++t.thread.z)
          for (t.thread.y = 0; t.thread.y < threads.y; ++t.thread.y)
            for (t.thread.x = 0; t.thread.x < threads.x; ++t.thread.x) body(static_cast<const grid_index&>(t));
}

}  // namespace strata::cuda_grid
