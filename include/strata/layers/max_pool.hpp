// strata/layers/max_pool.hpp — MaxPool<Window, Stride = Window, Pad = 0, Rounding = FloorMode>: the
// maximum of each square window per channel (padding never wins); CeilMode rounds the output size
// up as PyTorch's ceil_mode. It keeps where each maximum was for backward.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "strata/layers/pooling_shape.hpp"
#include "strata/layers/layer.hpp"
#include "strata/ops/pooling.hpp"

namespace strata {


template <std::int64_t Window, std::int64_t Stride = Window, std::int64_t Pad = 0, class Rounding = FloorMode>
struct MaxPool : detail::pooling_shape<Window, Stride, Pad, std::is_same_v<Rounding, CeilMode>> {
  static_assert(std::is_same_v<Rounding, FloorMode> || std::is_same_v<Rounding, CeilMode>,
                "strata::MaxPool<Window, Stride, Pad, Rounding>: Rounding is FloorMode or CeilMode");
  using spec_tag = void;
  using base = detail::pooling_shape<Window, Stride, Pad, std::is_same_v<Rounding, CeilMode>>;

  template <class In>
  struct traits {
    using output_shape = typename base::template output<In>;
    static constexpr std::int64_t parameters = 0, flops = 0;
    static constexpr std::int64_t saved = output_shape::elements / 2;  // int32 positions, in float-sized units
    static std::string describe() { return base::describe("max pool"); }
  };

  template <class In, class T, class D = cpu>
  struct layer {
    static constexpr kernels::pool_geometry g = base::template geometry<In>();
    using output_shape = typename traits<In>::output_shape;
    Tensor<std::int32_t, 1, D> argmax;

    void forward(batch_view<const T, D> x, batch_view<T, D> y, context&) {
      const std::int64_t n = x.extent(0);
      if (argmax.size() < n * output_shape::elements)
        argmax = Tensor<std::int32_t, 1, D>::uninitialized(Shape<1>{n * output_shape::elements});
      ops::max_pool_forward(D{}, g, n, x.data(), y.data(), argmax.data());
    }
    void backward(batch_view<const T, D>, batch_view<const T, D>, batch_view<const T, D> dy, batch_view<T, D> dx, context& ctx) {
      if (ctx.want_input_gradient) ops::max_pool_backward(D{}, g, dy.extent(0), dy.data(), argmax.data(), dx.data());
    }
  };
};

}  // namespace strata
