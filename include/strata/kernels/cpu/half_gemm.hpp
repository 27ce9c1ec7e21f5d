// strata/kernels/cpu/half_gemm.hpp — matrix products of fp16 tensors on the CPU: the operands are
// widened to fp32 scratch, multiplied by the fp32 GEMM (OpenBLAS or Eigen, fp32 accumulation) and
// the product rounded to fp16 once (round to nearest even).
#pragma once

#include <cstdint>

#include "strata/core/device_tags.hpp"
#include "strata/core/matmul.hpp"
#include "strata/core/tensor.hpp"
#include "strata/kernels/cpu/gemm.hpp"
#include "strata/kernels/cpu/half_operands.hpp"
#include "strata/numeric/half.hpp"

namespace strata {

// dst (op)= lhs · rhs for fp16; more specialised than gemm.hpp's overloads, found the same way.
// Each operand is one contiguous matrix (gemm_operand), so it widens as m·k (k·n) values in its own
// layout; with add or subtract, dst is widened too, so the sum is rounded once.
template <class A, class B>
void evaluate_complex(cpu, const TensorView<half, 2, cpu>& dst, const MatMul<A, B>& node, assign_mode mode) {
  using kernels::cpu::half_slot;
  detail::evaluate_matmul(dst, node, mode, [&](const auto& a, const auto& b, std::int64_t m, std::int64_t n, std::int64_t k,
                                               int alpha, int beta, half* c) {
    const float* af = kernels::cpu::widened(half_slot::input, a.data, m * k);
    const float* bf = kernels::cpu::widened(half_slot::weight, b.data, k * n);
    float* cf = kernels::cpu::fp32_scratch(half_slot::output, m * n);
    if (beta != 0) kernels::cpu::widen(c, cf, m * n);
    kernels::cpu::gemm<float>(a.transposed, b.transposed, m, n, k, float(alpha), af, a.ld, bf, b.ld, float(beta), cf, n);
    kernels::cpu::narrow(cf, c, m * n);
  });
}

}  // namespace strata
