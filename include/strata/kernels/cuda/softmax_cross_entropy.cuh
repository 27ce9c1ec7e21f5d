// strata/kernels/cuda/softmax_cross_entropy.cuh — the classification loss on the GPU
// (op_kernel<op::softmax_cross_entropy, cuda, T>): one thread per row in double, as the CPU's
// loss; the per-row losses come back to the host and are summed there in row order. The
// per-thread work is in kernels/cuda/softmax_cross_entropy_body.hpp.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "strata/core/device_tags.hpp"
#include "strata/core/tensor.hpp"
#include "strata/device/cuda.hpp"
#include "strata/kernels/cuda/launch.cuh"
#include "strata/kernels/cuda/softmax_cross_entropy_body.hpp"
#include "strata/kernels/op_kernel.hpp"

namespace strata::kernels {

template <class T>
  requires std::is_floating_point_v<T> || std::is_same_v<T, half>
struct op_kernel<op::softmax_cross_entropy, strata::cuda, T> {
  // gradient may be null.
  static softmax_cross_entropy_sums evaluate(std::int64_t n, std::int64_t k, const T* logits, const std::int32_t* labels,
                                             T* gradient) {
    softmax_cross_entropy_sums out;
    if (n == 0) return out;
    auto loss = Tensor<double, 1, strata::cuda>::uninitialized(Shape<1>{n});
    auto correct = Tensor<std::int32_t, 1, strata::cuda>::uninitialized(Shape<1>{n});
    cuda::launch_body(n, cuda_body::softmax_cross_entropy_body<T>{n, k, logits, labels, gradient, loss.data(), correct.data()},
                      "strata softmax cross-entropy");
    const auto host_loss = to_host(loss);
    const auto host_correct = to_host(correct);
    for (std::int64_t i = 0; i < n; ++i) {
      if (host_correct(i) < 0) {  // the first invalid label, as the CPU reports it
        std::int32_t label = 0;
        STRATA_CUDA_CHECK(cudaMemcpy(&label, labels + i, sizeof label, cudaMemcpyDeviceToHost));
        out.invalid_sample = i;
        out.invalid_label = label;
        return out;
      }
      out.total += host_loss(i);
      out.correct += host_correct(i);
    }
    return out;
  }
};

}  // namespace strata::kernels
