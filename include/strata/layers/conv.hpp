// strata/layers/conv.hpp — Conv<Filters, Options…>: 2-D convolution over an NCHW batch, any R×S
// (1×1, 3×3, 1×N, N×1 …). Weights are [K, C, R, S] as in PyTorch. Options, in any order, each at
// most once: Kernel<R, S> (3×3 by default), Stride<…> (1), Pad<…> (0), NoBias, Init<…> (He
// uniform), Algorithm<…> (algo::automatic: the fastest available algorithm for the shape, chosen
// once; algo::reference is the plain loop the tests compare against).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "strata/layers/options.hpp"
#include "strata/layers/layer.hpp"
#include "strata/ops/conv2d.hpp"

namespace strata {

template <std::int64_t Filters, class... Options>
struct Conv {
  static_assert(Filters > 0, "strata::Conv<Filters, …>: the number of filters must be positive");
  static_assert(detail::options_check<Conv, std::tuple<option_kinds::kernel, option_kinds::stride, option_kinds::pad,
                                                       option_kinds::bias, option_kinds::init, option_kinds::algorithm>,
                                      Options...>::ok,
                "strata::Conv: its options are Kernel, Stride, Pad, NoBias, Init and Algorithm, in any order, each "
                "at most once (the note names not_an_option_of<Conv, option> or option_given_twice<Conv, option>)");
  using K = detail::option_of_t<option_kinds::kernel, Kernel<3>, Options...>;
  using St = detail::option_of_t<option_kinds::stride, Stride<1>, Options...>;
  using P = detail::option_of_t<option_kinds::pad, Pad<0>, Options...>;
  static_assert(K::rows > 0 && K::cols > 0, "strata::Conv: the kernel must be at least 1×1");
  static_assert(St::y > 0 && St::x > 0, "strata::Conv: strides must be positive");
  static_assert(P::y >= 0 && P::x >= 0, "strata::Conv: padding cannot be negative");
  using spec_tag = void;
  static constexpr bool has_bias = !detail::has_option_v<NoBias, Options...>;
  using init_kind = typename detail::init_of<init::he_uniform, Options...>::type;
  using algorithm = typename detail::option_of_t<option_kinds::algorithm, Algorithm<algo::automatic>, Options...>::type;
  static_assert(algo::ConvAlgorithm<algorithm>, "strata::Conv: Algorithm<A> needs a convolution algorithm tag (algo::…)");

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

  template <class In>
  static constexpr kernels::conv_geometry geometry() {
    return {In::extents[0], In::extents[1], In::extents[2], Filters, K::rows, K::cols, St::y, St::x, P::y, P::x};
  }

  template <class In>
  struct traits {
    static constexpr kernels::conv_geometry g = geometry<In>();
    using output_shape = sample_shape<Filters, g.P(), g.Q()>;
    static constexpr std::int64_t parameters = g.weight_elements() + (has_bias ? Filters : 0);
    static constexpr std::int64_t flops = g.weight_elements() * g.P() * g.Q();
    static constexpr std::int64_t saved = 0;  // the patch matrix is rebuilt in backward
    static std::string describe() {
      std::string d = "conv " + std::to_string(K::rows) + "×" + std::to_string(K::cols);
      if (St::y != 1 || St::x != 1) d += " /" + std::to_string(St::y) + (St::x != St::y ? "," + std::to_string(St::x) : "");
      if (P::y != 0 || P::x != 0) d += " pad " + std::to_string(P::y) + (P::x != P::y ? "," + std::to_string(P::x) : "");
      return d + ", " + std::to_string(g.C) + " → " + std::to_string(Filters) + (has_bias ? "" : ", no bias");
    }
  };

  template <class In, class T, class D = cpu>
  struct layer {
    static constexpr kernels::conv_geometry g = geometry<In>();
    using output_shape = typename traits<In>::output_shape;

    Tensor<T, 4, D> weight{Shape{Filters, g.C, K::rows, K::cols}}, weight_gradient{weight.shape()};
    Tensor<T, 1, D> bias{Shape<1>{has_bias ? Filters : 0}}, bias_gradient{bias.shape()};

    // Cached filter transforms (checked against the weights on every use) and the algorithm choice.
    ops::conv_state<D, T> state = [] {
      ops::conv_state<D, T> s;
      if constexpr (requires { s.layer; }) s.layer = traits<In>::describe();
      return s;
    }();

    void initialize(random_engine& rng) {
      detail::initialize_weight<init_kind>(weight.view(), g.patch(), Filters * g.R * g.S, rng);
      if constexpr (has_bias) detail::initialize_bias<init_kind>(bias.view(), g.patch(), rng);
    }

    void forward(batch_view<const T, D> x, batch_view<T, D> y, context& ctx) {
      if constexpr (requires { state.training; }) state.training = ctx.training;
      ops::conv2d_forward(D{}, algorithm{}, g, x.extent(0), x.data(), weight.data(), has_bias ? bias.data() : nullptr,
                          y.data(), state);
    }

    void backward(batch_view<const T, D> x, batch_view<const T, D>, batch_view<const T, D> dy, batch_view<T, D> dx,
                  context& ctx) {
      const std::int64_t n = x.extent(0);
      if (ctx.want_parameter_gradients)
        ops::conv2d_backward_filter(D{}, algorithm{}, g, n, x.data(), dy.data(), weight_gradient.data(),
                                    has_bias ? bias_gradient.data() : nullptr, state);
      if (ctx.want_input_gradient)
        ops::conv2d_backward_data(D{}, algorithm{}, g, n, weight.data(), dy.data(), dx.data(), state);
    }

    template <class F>
    void visit_parameters(F&& f, std::string_view prefix = "") {
      visit_parameter(f, member_name(prefix, "weight"), weight.flat(), weight_gradient.flat(), true);
      if constexpr (has_bias) visit_parameter(f, member_name(prefix, "bias"), bias.flat(), bias_gradient.flat(), false);
    }
  };
};

}  // namespace strata
