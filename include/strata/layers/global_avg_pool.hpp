// strata/layers/global_avg_pool.hpp — GlobalAvgPool: the mean of each channel over the whole
// image, [C, H, W] → [C] (ResNet's last pooling).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "strata/core/broadcast.hpp"
#include "strata/core/reduction.hpp"
#include "strata/layers/layer.hpp"

namespace strata {

struct GlobalAvgPool {
  using spec_tag = void;

  template <class In>
  static constexpr bool accepts = ImageShape<In>;
  template <class In>
  using expects = image_at_least<1, 1>;

  template <class In>
  struct traits {
    using output_shape = sample_shape<In::extents[0]>;
    static constexpr std::int64_t parameters = 0, flops = 0, saved = 0;
    static std::string describe() { return "global avg pool"; }
  };

  template <class In, class T, class D = cpu>
  struct layer {
    static constexpr std::int64_t C = In::extents[0], HW = In::extents[1] * In::extents[2];
    using output_shape = sample_shape<C>;

    void forward(batch_view<const T, D> x, batch_view<T, D> y, context&) {
      y = mean(x.reshape(x.extent(0), C, HW), axes<2>);
    }
    void backward(batch_view<const T, D>, batch_view<const T, D>, batch_view<const T, D> dy, batch_view<T, D> dx, context& ctx) {
      if (!ctx.want_input_gradient) return;
      const std::int64_t n = dy.extent(0);
      // The scale in the compute precision: 1/HW may be below a low-precision type's resolution.
      dx.reshape(n, C, HW) = broadcast(dy, axes<0, 1>, Shape{n, C, HW}) * compute_t<T>(1.0 / double(HW));
    }
  };
};

}  // namespace strata
