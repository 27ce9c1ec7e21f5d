// strata/ops/activation.hpp — the activation kernels a device provides (op_kernel<op::relu, …>),
// which activation layers call in place of their fused expression where one exists for the
// precision (fp16 ReLU on the CPU works on bit patterns).
#pragma once

#include "strata/kernels/cpu/half_activation.hpp"
#include "strata/kernels/op_kernel.hpp"
