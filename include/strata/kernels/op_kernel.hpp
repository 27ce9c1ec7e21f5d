// strata/kernels/op_kernel.hpp — how a device provides an operation: a specialisation of
// op_kernel<Op, Device, T> (one file per op under kernels/<device>/), found by has_op_kernel. A
// missing (operation, device, precision) is one named static_assert at the call site
// (require_op_kernel), never a run-time "not supported".
#pragma once

#include <cstdint>

namespace strata::kernels {

// The operations layers call (the surface is strata/ops/). Tags only: the work is in the
// specialisations.
namespace op {
struct conv2d {};           // forward, backward data, backward filter; algorithm chosen per device
struct depthwise_conv2d {}; // one filter per channel: forward (bias, clamp), backward data, backward filter
struct max_pool {};         // forward (with argmax), backward
struct avg_pool {};         // forward, backward
struct dropout_mask {};     // a scaled keep mask from a Philox seed
struct pointwise_conv2d {}; // 1×1 convolution forward on weights packed once, bias and clamp in the epilogue (inference)
struct dense_forward {};    // dense layer forward on weights packed once, bias and clamp in the epilogue (inference)
struct epilogue {};         // per-channel bias + clamp in one pass, and a residual sum (inference)
struct relu {};             // max(x, 0) and its gradient, where a precision has a faster way than the fused expression
struct softmax_cross_entropy {};  // per-row loss, arg-max hits and gradient (softmax − one-hot)/n, on the logits' device
}  // namespace op

// What op::softmax_cross_entropy gives back to the host: the summed row losses and hits, or the
// first sample whose label is outside the classes.
struct softmax_cross_entropy_sums {
  double total = 0;
  std::int64_t correct = 0;
  std::int64_t invalid_sample = -1;
  std::int32_t invalid_label = 0;
};

// Primary template: no kernel. A device specialises it for the element types it implements.
template <class Op, class Device, class T>
struct op_kernel {
  static constexpr bool missing = true;
};

template <class Op, class Device, class T>
inline constexpr bool has_op_kernel = !requires { op_kernel<Op, Device, T>::missing; };

// Named in the compiler's note when a combination is missing:
// 'strata::kernels::no_kernel_for<strata::kernels::op::max_pool, strata::cuda, strata::half>::ok'.
template <class Op, class Device, class T>
struct no_kernel_for {
  static constexpr bool ok = false;
};

template <class Op, class Device, class T>
constexpr void require_op_kernel() {
  if constexpr (!has_op_kernel<Op, Device, T>)
    static_assert(no_kernel_for<Op, Device, T>::ok,
                  "strata: this operation has no kernel for this device and precision (the note names "
                  "no_kernel_for<operation, device, precision>)");
}

}  // namespace strata::kernels
