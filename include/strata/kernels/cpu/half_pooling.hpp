// strata/kernels/cpu/half_pooling.hpp — fp16 max and average pooling on the CPU: the op_kernels
// for op::max_pool and op::avg_pool at half, running the fp32 kernels on widened planes (a max is
// exact either way; averages and overlapping gradients sum in fp32 and round once).
#pragma once

#include <cstdint>

#include "strata/core/device_tags.hpp"
#include "strata/kernels/cpu/half_operands.hpp"
#include "strata/kernels/cpu/pooling.hpp"
#include "strata/kernels/op_kernel.hpp"
#include "strata/kernels/pool_geometry.hpp"
#include "strata/numeric/half.hpp"

namespace strata::kernels {

template <>
struct op_kernel<op::max_pool, strata::cpu, half> {
  static void forward(const pool_geometry& g, std::int64_t n, const half* x, half* y, std::int32_t* argmax) {
    const std::int64_t in = n * g.C * g.H * g.W, out = n * g.C * g.P() * g.Q();
    float* yf = cpu::fp32_scratch(cpu::half_slot::output, out);
    cpu::max_pool_forward(g, n, cpu::widened(cpu::half_slot::input, x, in), yf, argmax);
    cpu::narrow(yf, y, out);
  }
  static void backward(const pool_geometry& g, std::int64_t n, const half* dy, const std::int32_t* argmax, half* dx) {
    const std::int64_t in = n * g.C * g.H * g.W, out = n * g.C * g.P() * g.Q();
    float* dxf = cpu::fp32_scratch(cpu::half_slot::input, in);
    cpu::max_pool_backward(g, n, cpu::widened(cpu::half_slot::output, dy, out), argmax, dxf);
    cpu::narrow(dxf, dx, in);
  }
};

template <>
struct op_kernel<op::avg_pool, strata::cpu, half> {
  static void forward(const pool_geometry& g, std::int64_t n, const half* x, half* y) {
    const std::int64_t in = n * g.C * g.H * g.W, out = n * g.C * g.P() * g.Q();
    float* yf = cpu::fp32_scratch(cpu::half_slot::output, out);
    cpu::avg_pool_forward(g, n, cpu::widened(cpu::half_slot::input, x, in), yf);
    cpu::narrow(yf, y, out);
  }
  static void backward(const pool_geometry& g, std::int64_t n, const half* dy, half* dx) {
    const std::int64_t in = n * g.C * g.H * g.W, out = n * g.C * g.P() * g.Q();
    float* dxf = cpu::fp32_scratch(cpu::half_slot::input, in);
    cpu::avg_pool_backward(g, n, cpu::widened(cpu::half_slot::output, dy, out), dxf);
    cpu::narrow(dxf, dx, in);
  }
};

}  // namespace strata::kernels
