// strata/layers/depthwise_conv.hpp — DepthwiseConv<Options…>: one R×S filter per channel (channel
// multiplier 1: as many outputs as inputs), MobileNet's and EfficientNet's spatial convolution.
// Weights are [C, 1, R, S], PyTorch's layout for Conv2d(C, C, groups=C). Options, in any order,
// each at most once: Kernel<R, S> (3×3 by default), Stride<…> (1), Pad<…> (0, symmetric; a ZeroPad
// before it gives TensorFlow's asymmetric "SAME"), NoBias, Init<…> (He uniform, fan-in R·S).
// Conv<C, Groups<C>> is the same convolution; this layer needs no channel count in its type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>

#include "strata/layers/layer.hpp"
#include "strata/layers/options.hpp"
#include "strata/ops/depthwise_conv2d.hpp"

namespace strata {

template <class... Options>
struct DepthwiseConv {
  static_assert(detail::options_check<DepthwiseConv, std::tuple<option_kinds::kernel, option_kinds::stride, option_kinds::pad,
                                                                option_kinds::bias, option_kinds::init>,
                                      Options...>::ok,
                "strata::DepthwiseConv: its options are Kernel, Stride, Pad, NoBias and Init, in any order, each at "
                "most once (the note names not_an_option_of<DepthwiseConv, option> or option_given_twice<DepthwiseConv, option>)");
  using K = detail::option_of_t<option_kinds::kernel, Kernel<3>, Options...>;
  using St = detail::option_of_t<option_kinds::stride, Stride<1>, Options...>;
  using P = detail::option_of_t<option_kinds::pad, Pad<0>, Options...>;
  static_assert(K::rows > 0 && K::cols > 0, "strata::DepthwiseConv: the kernel must be at least 1×1");
  static_assert(St::y > 0 && St::x > 0, "strata::DepthwiseConv: strides must be positive");
  static_assert(P::y >= 0 && P::x >= 0, "strata::DepthwiseConv: padding cannot be negative");
  using spec_tag = void;
  static constexpr bool has_bias = !detail::has_option_v<NoBias, Options...>;
  using init_kind = typename detail::init_of<init::he_uniform, Options...>::type;

  // An image whose padded size holds the kernel.
  template <class In>
  static constexpr bool accepts = [] {
    if constexpr (ImageShape<In>)
      return In::extents[1] + 2 * P::y >= K::rows && In::extents[2] + 2 * P::x >= K::cols;
    else
      return false;
  }();

  template <class In>
  using expects = image_at_least<K::rows - 2 * P::y, K::cols - 2 * P::x>;

  // As a grouped convolution: C groups of one channel, C filters.
  template <class In>
  static constexpr kernels::conv_geometry geometry() {
    return {In::extents[0], In::extents[1], In::extents[2], In::extents[0], K::rows, K::cols,
            St::y,          St::x,          P::y,           P::x,           In::extents[0]};
  }

  template <class In>
  struct traits {
    static constexpr kernels::conv_geometry g = geometry<In>();
    using output_shape = sample_shape<g.C, g.P(), g.Q()>;
    static constexpr std::int64_t parameters = g.weight_elements() + (has_bias ? g.C : 0);
    static constexpr std::int64_t flops = g.weight_elements() * g.P() * g.Q();
    static constexpr std::int64_t saved = 0;
    static std::string describe() {
      std::string d = "depthwise conv " + std::to_string(K::rows) + "×" + std::to_string(K::cols);
      if (St::y != 1 || St::x != 1) d += " /" + std::to_string(St::y) + (St::x != St::y ? "," + std::to_string(St::x) : "");
      if (P::y != 0 || P::x != 0) d += " pad " + std::to_string(P::y) + (P::x != P::y ? "," + std::to_string(P::x) : "");
      return d + ", " + std::to_string(g.C) + " channels" + (has_bias ? "" : ", no bias");
    }
  };

  // Runs where ops::depthwise_conv2d has a kernel (the CPU; elsewhere a named static_assert).
  template <class In, class T, class D = cpu>
  struct layer {
    static constexpr kernels::conv_geometry g = geometry<In>();
    using output_shape = typename traits<In>::output_shape;

    Tensor<T, 4, D> weight{Shape{g.C, 1, K::rows, K::cols}}, weight_gradient{weight.shape()};
    Tensor<T, 1, D> bias{Shape<1>{has_bias ? g.C : 0}}, bias_gradient{bias.shape()};

    void initialize(random_engine& rng) {
      detail::initialize_weight<init_kind>(weight.view(), g.patch(), g.K * g.R * g.S, rng);
      if constexpr (has_bias) detail::initialize_bias<init_kind>(bias.view(), g.patch(), rng);
    }

    void forward(batch_view<const T, D> x, batch_view<T, D> y, context&) {
      ops::depthwise_conv2d_forward(D{}, g, x.extent(0), x.data(), weight.data(), has_bias ? bias.data() : nullptr, y.data());
    }

    void backward(batch_view<const T, D> x, batch_view<const T, D>, batch_view<const T, D> dy, batch_view<T, D> dx,
                  context& ctx) {
      const std::int64_t n = x.extent(0);
      if (ctx.want_parameter_gradients)
        ops::depthwise_conv2d_backward_filter(D{}, g, n, x.data(), dy.data(), weight_gradient.data(),
                                              has_bias ? bias_gradient.data() : nullptr);
      if (ctx.want_input_gradient) ops::depthwise_conv2d_backward_data(D{}, g, n, weight.data(), dy.data(), dx.data());
    }

    template <class F>
    void visit_parameters(F&& f, std::string_view prefix = "") {
      visit_parameter(f, member_name(prefix, "weight"), weight.flat(), weight_gradient.flat(), true);
      if constexpr (has_bias) visit_parameter(f, member_name(prefix, "bias"), bias.flat(), bias_gradient.flat(), false);
    }
  };
};

}  // namespace strata
