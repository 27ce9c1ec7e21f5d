// strata/kernels/cuda/depthwise_conv.cuh — depthwise convolution on the GPU
// (op_kernel<op::depthwise_conv2d, cuda, T>): forward with bias and clamp fused, backward data,
// backward filter, as per-thread bodies (kernels/cuda/depthwise_body.hpp) run by the conv passes.
#pragma once

#include <cstdint>
#include <type_traits>

#include "strata/core/device_tags.hpp"
#include "strata/kernels/cuda/conv.cuh"
#include "strata/kernels/op_kernel.hpp"

namespace strata::kernels {

template <class T>
  requires cuda::gemm_element<T>
struct op_kernel<op::depthwise_conv2d, strata::cuda, T> {
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, T lo, T hi) {
    cuda::passes().depthwise_forward(g, n, x, w, b, y, lo, hi);
  }
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx) {
    cuda::passes().depthwise_backward_data(g, n, w, dy, dx);
  }
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db) {
    cuda::passes().depthwise_backward_filter(g, n, x, dy, dw, db);
  }
};

}  // namespace strata::kernels
