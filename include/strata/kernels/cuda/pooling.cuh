// strata/kernels/cuda/pooling.cuh — max and average pooling on the GPU (op_kernel<op::max_pool,
// cuda, T> and op::avg_pool): one thread per output forward, one per input backward, gathering
// from the windows that cover it, so no atomics and the CPU's summation order. The per-thread
// work is in kernels/cuda/pool_body.hpp.
#pragma once

#include <cstdint>
#include <type_traits>

#include "strata/core/device_tags.hpp"
#include "strata/kernels/cuda/launch.cuh"
#include "strata/kernels/cuda/pool_body.hpp"
#include "strata/kernels/op_kernel.hpp"
#include "strata/kernels/pool_geometry.hpp"
#include "strata/numeric/half.hpp"

namespace strata::kernels {

template <class T>
  requires std::is_floating_point_v<T> || std::is_same_v<T, half>
struct op_kernel<op::max_pool, strata::cuda, T> {
  static void forward(const pool_geometry& g, std::int64_t n, const T* x, T* y, std::int32_t* argmax) {
    cuda::launch_body(n * g.C * g.P() * g.Q(), cuda_body::max_pool_forward_body<T>{g, n * g.C, x, y, argmax}, "strata max_pool forward");
  }
  static void backward(const pool_geometry& g, std::int64_t n, const T* dy, const std::int32_t* argmax, T* dx) {
    cuda::launch_body(n * g.C * g.H * g.W, cuda_body::max_pool_backward_body<T>{g, n * g.C, dy, argmax, dx}, "strata max_pool backward");
  }
};

template <class T>
  requires std::is_floating_point_v<T> || std::is_same_v<T, half>
struct op_kernel<op::avg_pool, strata::cuda, T> {
  static void forward(const pool_geometry& g, std::int64_t n, const T* x, T* y) {
    cuda::launch_body(n * g.C * g.P() * g.Q(), cuda_body::avg_pool_forward_body<T>{g, n * g.C, x, y}, "strata avg_pool forward");
  }
  static void backward(const pool_geometry& g, std::int64_t n, const T* dy, T* dx) {
    cuda::launch_body(n * g.C * g.H * g.W, cuda_body::avg_pool_backward_body<T>{g, n * g.C, dy, dx}, "strata avg_pool backward");
  }
};

}  // namespace strata::kernels
