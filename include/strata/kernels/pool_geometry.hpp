// strata/kernels/pool_geometry.hpp — the sizes of one square pooling window over C×H×W planes
// (window, stride, padding, output P×Q), shared by every device's pooling kernels. With `ceil` the
// output size rounds up (PyTorch's ceil_mode): a last, partial window is kept when it starts
// inside the image or its left padding.
#pragma once

#include <algorithm>
#include <cstdint>

namespace strata::kernels {

struct pool_geometry {
  std::int64_t C, H, W, window, stride, pad;
  bool ceil = false;
  constexpr std::int64_t P() const { return output_size(H); }
  constexpr std::int64_t Q() const { return output_size(W); }
  constexpr std::int64_t output_size(std::int64_t in) const {
    if (!ceil) return (in + 2 * pad - window) / stride + 1;
    std::int64_t out = (in + 2 * pad - window + stride - 1) / stride + 1;
    if ((out - 1) * stride >= in + pad) --out;
    return out;
  }

  // The input rows [y0, y1) and columns [x0, x1) of output (p, q)'s window, clipped to the image.
  struct window_bounds {
    std::int64_t y0, y1, x0, x1;
  };
  constexpr window_bounds bounds(std::int64_t p, std::int64_t q) const {
    return {std::max<std::int64_t>(p * stride - pad, 0), std::min<std::int64_t>(p * stride - pad + window, H),
            std::max<std::int64_t>(q * stride - pad, 0), std::min<std::int64_t>(q * stride - pad + window, W)};
  }
};

}  // namespace strata::kernels
