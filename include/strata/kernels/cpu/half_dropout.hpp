// strata/kernels/cpu/half_dropout.hpp — the fp16 dropout mask on the CPU: the fp32 kernel's mask
// (the same draws for the same seed) with its scale 1/(1 − p) rounded to fp16.
#pragma once

#include <cstdint>

#include "strata/core/device_tags.hpp"
#include "strata/kernels/cpu/dropout.hpp"
#include "strata/kernels/cpu/half_operands.hpp"
#include "strata/kernels/op_kernel.hpp"
#include "strata/numeric/half.hpp"

namespace strata::kernels {

template <>
struct op_kernel<op::dropout_mask, strata::cpu, half> {
  static void fill(std::int64_t count, float p, std::uint64_t seed, half* mask) {
    float* m = cpu::fp32_scratch(cpu::half_slot::output, count);
    op_kernel<op::dropout_mask, strata::cpu, float>::fill(count, p, seed, m);
    cpu::narrow(m, mask, count);
  }
};

}  // namespace strata::kernels
