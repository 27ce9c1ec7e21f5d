// strata/kernels/conv_geometry.hpp — the sizes of one 2-D convolution (input C×H×W, K
// filters of R×S, stride, zero padding, output P×Q, channel groups), shared by every
// convolution algorithm. With G groups, filter k sees only the C/G input channels of its group
// (k / (K/G)); G == C == K is a depthwise convolution. Weights are [K, C/G, R, S] as in PyTorch.
#pragma once

#include <cstdint>

namespace strata::kernels {

struct conv_geometry {
  std::int64_t C, H, W;        // input channels and size
  std::int64_t K, R, S;        // filters and their size
  std::int64_t stride_y = 1, stride_x = 1;
  std::int64_t pad_y = 0, pad_x = 0;
  std::int64_t groups = 1;     // last, so that positional initialisers without it stay valid

  constexpr std::int64_t P() const { return (H + 2 * pad_y - R) / stride_y + 1; }
  constexpr std::int64_t Q() const { return (W + 2 * pad_x - S) / stride_x + 1; }
  constexpr std::int64_t patch() const { return C / groups * R * S; }  // rows of a group's patch matrix
  constexpr std::int64_t input_elements() const { return C * H * W; }
  constexpr std::int64_t output_elements() const { return K * P() * Q(); }
  constexpr std::int64_t weight_elements() const { return K * (C / groups) * R * S; }
  friend constexpr bool operator==(const conv_geometry&, const conv_geometry&) = default;
  constexpr bool is_depthwise() const { return groups == C && K == C; }  // one filter per channel
  constexpr bool is_pointwise() const {  // 1×1, stride 1, no padding, one group: the input is the patch matrix
    return R == 1 && S == 1 && stride_y == 1 && stride_x == 1 && pad_y == 0 && pad_x == 0 && groups == 1;
  }
};

}  // namespace strata::kernels
