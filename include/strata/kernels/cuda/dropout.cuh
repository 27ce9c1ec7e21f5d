// strata/kernels/cuda/dropout.cuh — the dropout mask on the GPU (op_kernel<op::dropout_mask,
// cuda, T>): the CPU's Philox draws for the same seed, so a GPU model drops the same units as a
// CPU model. The per-thread work is in kernels/cuda/dropout_body.hpp.
#pragma once

#include <cstdint>
#include <type_traits>

#include "strata/core/device_tags.hpp"
#include "strata/kernels/cuda/dropout_body.hpp"
#include "strata/kernels/cuda/launch.cuh"
#include "strata/kernels/op_kernel.hpp"
#include "strata/numeric/half.hpp"

namespace strata::kernels {

template <class T>
  requires std::is_floating_point_v<T> || std::is_same_v<T, half>
struct op_kernel<op::dropout_mask, strata::cuda, T> {
  static void fill(std::int64_t count, float p, std::uint64_t seed, T* mask) {
    // The kept value as the CPU computes it: 1/(1 − p) in T, for fp16 in fp32 and then rounded.
    T keep;
    if constexpr (std::is_same_v<T, half>) keep = half(1.0f / (1.0f - p));
    else keep = T(1) / T(1 - p);
    cuda::launch_body((count + 3) / 4, cuda_body::dropout_mask_body<T>{count, p, seed, keep, mask}, "strata dropout mask");
  }
};

}  // namespace strata::kernels
