// strata/layers/avg_pool.hpp — AvgPool<Window, Stride = Window, Pad = 0>: the mean of each
// square window per channel, padding counted as zeros (PyTorch's count_include_pad=True).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "strata/layers/pooling_shape.hpp"
#include "strata/layers/layer.hpp"
#include "strata/ops/pooling.hpp"

namespace strata {

template <std::int64_t Window, std::int64_t Stride = Window, std::int64_t Pad = 0>
struct AvgPool : detail::pooling_shape<Window, Stride, Pad> {
  using spec_tag = void;
  using base = detail::pooling_shape<Window, Stride, Pad>;

  template <class In>
  struct traits {
    using output_shape = typename base::template output<In>;
    static constexpr std::int64_t parameters = 0, flops = 0, saved = 0;
    static std::string describe() { return base::describe("avg pool"); }
  };

  template <class In, class T, class D = cpu>
  struct layer {
    static constexpr kernels::pool_geometry g = base::template geometry<In>();
    using output_shape = typename traits<In>::output_shape;

    void forward(batch_view<const T, D> x, batch_view<T, D> y, context&) {
      ops::avg_pool_forward(D{}, g, x.extent(0), x.data(), y.data());
    }
    void backward(batch_view<const T, D>, batch_view<const T, D>, batch_view<const T, D> dy, batch_view<T, D> dx, context& ctx) {
      if (ctx.want_input_gradient) ops::avg_pool_backward(D{}, g, dy.extent(0), dy.data(), dx.data());
    }
  };
};

}  // namespace strata
