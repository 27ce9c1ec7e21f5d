// strata/layers/max_pool.hpp — MaxPool<Window, Stride = Window, Pad = 0>: the maximum of each
// square window per channel (padding never wins). It keeps where each maximum was for backward.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "strata/kernels/cpu/pooling.hpp"
#include "strata/net/layer.hpp"

namespace strata {

namespace detail {
// What max and average pooling share: the shape rule and the geometry.
template <std::int64_t Window, std::int64_t Stride, std::int64_t Pad>
struct pooling_shape {
  static_assert(Window > 0 && Stride > 0 && Pad >= 0, "strata: pooling needs a positive window and stride");
  static_assert(2 * Pad <= Window, "strata: pooling padding may be at most half the window");

  template <class In>
  static constexpr bool accepts = [] {
    if constexpr (ImageShape<In>) return In::extents[1] + 2 * Pad >= Window && In::extents[2] + 2 * Pad >= Window;
    else return false;
  }();

  template <class In>
  using expects = image_at_least<Window - 2 * Pad, Window - 2 * Pad>;

  template <class In>
  static constexpr kernels::cpu::pool_geometry geometry() {
    return {In::extents[0], In::extents[1], In::extents[2], Window, Stride, Pad};
  }
  template <class In>
  using output = shape<In::extents[0], geometry<In>().P(), geometry<In>().Q()>;

  static std::string describe(const char* kind) {
    std::string d = std::string(kind) + " " + std::to_string(Window) + "×" + std::to_string(Window);
    if (Stride != Window) d += " /" + std::to_string(Stride);
    if (Pad) d += " pad " + std::to_string(Pad);
    return d;
  }
};
}  // namespace detail

template <std::int64_t Window, std::int64_t Stride = Window, std::int64_t Pad = 0>
struct MaxPool : detail::pooling_shape<Window, Stride, Pad> {
  using spec_tag = void;
  using base = detail::pooling_shape<Window, Stride, Pad>;

  template <class In>
  struct traits {
    using output_shape = typename base::template output<In>;
    static constexpr std::int64_t parameters = 0, flops = 0;
    static constexpr std::int64_t saved = output_shape::elements / 2;  // int32 positions, in float-sized units
    static std::string describe() { return base::describe("max pool"); }
  };

  template <class In, class T>
  struct layer : stateless_layer {
    static constexpr kernels::cpu::pool_geometry g = base::template geometry<In>();
    using output_shape = typename traits<In>::output_shape;
    Tensor<std::int32_t, 1> argmax;

    void forward(batch_view<const T> x, batch_view<T> y, context&) {
      const std::int64_t n = x.extent(0);
      if (argmax.size() < n * output_shape::elements)
        argmax = Tensor<std::int32_t, 1>::uninitialized(Shape<1>{n * output_shape::elements});
      kernels::cpu::max_pool_forward(g, n, x.data(), y.data(), argmax.data());
    }
    void backward(batch_view<const T>, batch_view<const T>, batch_view<const T> dy, batch_view<T> dx, context& ctx) {
      if (ctx.want_input_gradient) kernels::cpu::max_pool_backward(g, dy.extent(0), dy.data(), argmax.data(), dx.data());
    }
  };
};

}  // namespace strata
