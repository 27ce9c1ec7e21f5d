// strata/layers/dense.hpp — Dense<N>: a fully connected layer, y = x·Wᵀ + b, on the flattened
// sample (so it follows a convolution directly). W is [N, inputs] as in PyTorch's Linear.
// Options: NoBias, Init<…> (He uniform by default).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>

#include "strata/core/broadcast.hpp"
#include "strata/ops/gemm.hpp"
#include "strata/core/reduction.hpp"
#include "strata/layers/options.hpp"
#include "strata/layers/layer.hpp"

namespace strata {

template <std::int64_t N, class... Options>
struct Dense {
  static_assert(N > 0, "strata::Dense<N>: N (the number of outputs) must be positive");
  static_assert(detail::options_check<Dense, std::tuple<option_kinds::bias, option_kinds::init>, Options...>::ok,
                "strata::Dense: its options are NoBias and Init, each at most once (the note names "
                "not_an_option_of<Dense, option> or option_given_twice<Dense, option>)");
  using spec_tag = void;
  static constexpr bool has_bias = !detail::has_option_v<NoBias, Options...>;
  using init_kind = typename detail::init_of<init::he_uniform, Options...>::type;

  template <class In>
  static constexpr bool accepts = StaticShape<In>;

  template <class In>
  struct traits {
    using output_shape = sample_shape<N>;
    static constexpr std::int64_t inputs = In::elements;
    static constexpr std::int64_t parameters = N * inputs + (has_bias ? N : 0);
    static constexpr std::int64_t flops = N * inputs;
    static constexpr std::int64_t saved = 0;
    static std::string describe() { return "dense " + std::to_string(inputs) + " → " + std::to_string(N); }
  };

  template <class In, class T, class D = cpu>
  struct layer {
    using output_shape = sample_shape<N>;
    static constexpr std::int64_t inputs = In::elements;

    Tensor<T, 2, D> weight{Shape{N, inputs}}, weight_gradient{Shape{N, inputs}};
    Tensor<T, 1, D> bias{Shape<1>{has_bias ? N : 0}}, bias_gradient{Shape<1>{has_bias ? N : 0}};

    void initialize(random_engine& rng) {
      detail::initialize_weight<init_kind>(weight.view(), inputs, N, rng);
      if constexpr (has_bias) detail::initialize_bias<init_kind>(bias.view(), inputs, rng);
    }

    void forward(batch_view<const T, D> x, batch_view<T, D> y, context&) {
      y = matmul(x, transpose(weight));
      if constexpr (has_bias) y += broadcast(bias, axes<1>, y.shape());
    }

    void backward(batch_view<const T, D> x, batch_view<const T, D>, batch_view<const T, D> dy, batch_view<T, D> dx, context& ctx) {
      if (ctx.want_parameter_gradients) {
        weight_gradient = matmul(transpose(dy), x);
        if constexpr (has_bias) bias_gradient = sum(dy, axes<0>);
      }
      if (ctx.want_input_gradient) dx = matmul(dy, weight);
    }

    template <class F>
    void visit_parameters(F&& f, std::string_view prefix = "") {
      visit_parameter(f, member_name(prefix, "weight"), weight.flat(), weight_gradient.flat(), true);
      if constexpr (has_bias) visit_parameter(f, member_name(prefix, "bias"), bias.flat(), bias_gradient.flat(), false);
    }
  };
};

}  // namespace strata
