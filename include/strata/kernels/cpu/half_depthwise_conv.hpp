// strata/kernels/cpu/half_depthwise_conv.hpp — fp16 depthwise convolution on the CPU: the
// op_kernel for op::depthwise_conv2d at half, running the fp32 kernel on widened operands and
// rounding its results to fp16. The filters (C·R·S values) are small enough to widen per call.
#pragma once

#include <cstdint>

#include "strata/core/device_tags.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cpu/depthwise_conv.hpp"
#include "strata/kernels/cpu/half_operands.hpp"
#include "strata/kernels/op_kernel.hpp"
#include "strata/numeric/half.hpp"

namespace strata::kernels {

template <>
struct op_kernel<op::depthwise_conv2d, strata::cpu, half> {
  using fp32 = op_kernel<op::depthwise_conv2d, strata::cpu, float>;
  using slot = cpu::half_slot;

  static void forward(const conv_geometry& g, std::int64_t n, const half* x, const half* w, const half* b, half* y, half lo,
                      half hi) {
    const std::int64_t out = n * g.output_elements();
    float* yf = cpu::fp32_scratch(slot::output, out);
    fp32::forward(g, n, cpu::widened(slot::input, x, n * g.input_elements()), cpu::widened(slot::weight, w, g.weight_elements()),
                  cpu::widened(slot::bias, b, g.K), yf, float(lo), float(hi));
    cpu::narrow(yf, y, out);
  }
  static void backward_data(const conv_geometry& g, std::int64_t n, const half* w, const half* dy, half* dx) {
    const std::int64_t in = n * g.input_elements();
    float* dxf = cpu::fp32_scratch(slot::input, in);
    fp32::backward_data(g, n, cpu::widened(slot::weight, w, g.weight_elements()),
                        cpu::widened(slot::output, dy, n * g.output_elements()), dxf);
    cpu::narrow(dxf, dx, in);
  }
  static void backward_filter(const conv_geometry& g, std::int64_t n, const half* x, const half* dy, half* dw, half* db) {
    float* dwf = cpu::fp32_scratch(slot::weight, g.weight_elements());
    float* dbf = db ? cpu::fp32_scratch(slot::bias, g.K) : nullptr;
    fp32::backward_filter(g, n, cpu::widened(slot::input, x, n * g.input_elements()),
                          cpu::widened(slot::output, dy, n * g.output_elements()), dwf, dbf);
    cpu::narrow(dwf, dw, g.weight_elements());
    if (db) cpu::narrow(dbf, db, g.K);
  }
};

}  // namespace strata::kernels
