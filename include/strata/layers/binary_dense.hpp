// strata/layers/binary_dense.hpp — BinaryDense<N, Options…>: BinaryNet's fully connected layer,
// y = sign(x)·sign(W)ᵀ (+ b) by XNOR-popcount over packed bits, with real latent weights [N,
// inputs] and straight-through gradients as BinaryConv (layers/binary_conv.hpp). Options: NoBias,
// Init (Xavier uniform), RealInput (a real input times ±1 weights, in fp32) and ChannelScale
// (XNOR-Net's α = mean |W| per output).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "strata/core/bit_tensor.hpp"
#include "strata/core/broadcast.hpp"
#include "strata/core/matmul.hpp"
#include "strata/core/reduction.hpp"
#include "strata/core/transpose.hpp"
#include "strata/layers/binary_conv.hpp"
#include "strata/layers/layer.hpp"
#include "strata/layers/options.hpp"
#include "strata/ops/binary.hpp"

namespace strata {

template <std::int64_t N, class... Options>
struct BinaryDense {
  static_assert(N > 0, "strata::BinaryDense<N>: N (the number of outputs) must be positive");
  static_assert(detail::options_check<BinaryDense,
                                      std::tuple<option_kinds::bias, option_kinds::init, option_kinds::input_values,
                                                 option_kinds::weight_scale>,
                                      Options...>::ok,
                "strata::BinaryDense: its options are NoBias, Init, RealInput and ChannelScale, each at most once (the "
                "note names not_an_option_of<BinaryDense, option> or option_given_twice<BinaryDense, option>)");
  using spec_tag = void;
  static constexpr bool has_bias = !detail::has_option_v<NoBias, Options...>;
  static constexpr bool real_input = detail::has_option_v<RealInput, Options...>;
  static constexpr bool scaled = detail::has_option_v<ChannelScale, Options...>;
  using init_kind = typename detail::init_of<init::xavier_uniform, Options...>::type;

  template <class In>
  static constexpr bool accepts = StaticShape<In>;

  template <class In>
  struct traits {
    using output_shape = sample_shape<N>;
    static constexpr std::int64_t inputs = In::elements;
    static constexpr std::int64_t parameters = N * inputs + (has_bias ? N : 0);
    static constexpr std::int64_t binary_parameters = N * inputs;
    static constexpr std::int64_t flops = N * inputs;
    static constexpr std::int64_t saved = 0;
    static std::string describe() {
      return std::string(real_input ? "binary-weight dense " : "binary dense ") + std::to_string(inputs) + " → " +
             std::to_string(N) + (scaled ? ", scaled" : "") + (has_bias ? "" : ", no bias");
    }
  };

  template <class In, class T, class D = cpu>
  struct layer {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "strata::BinaryDense: binary layers run in fp32 or fp64 models (their real parts: latent weights, "
                  "gradients, batch norm); use Model<Net, binary> to binarise a network");
    static_assert(std::is_same_v<D, cpu>, "strata::BinaryDense: the XNOR-popcount kernels run on the CPU");
    using output_shape = sample_shape<N>;
    static constexpr std::int64_t inputs = In::elements;

    Tensor<T, 2, D> weight{Shape{N, inputs}}, weight_gradient{Shape{N, inputs}};
    Tensor<T, 1, D> bias{Shape<1>{has_bias ? N : 0}}, bias_gradient{Shape<1>{has_bias ? N : 0}};
    Tensor<T, 2, D> binarized{Shape{N, inputs}};
    Tensor<T, 1, D> scale{Shape<1>{N}};
    Tensor<binary, 2> packed_weight{Shape{N, inputs}};
    Tensor<binary, 2> packed_input;
    Tensor<std::int32_t, 1> counts;
    Tensor<T, 1, D> signs;

    void initialize(random_engine& rng) {
      detail::initialize_weight<init_kind>(weight.view(), inputs, N, rng);
      if constexpr (has_bias) detail::initialize_bias<init_kind>(bias.view(), inputs, rng);
    }

    void forward(batch_view<const T, D> x, batch_view<T, D> y, context& ctx) {
      const std::int64_t n = x.extent(0);
      detail::binarize_weights(weight.data(), binarized.data(), scale.data(), N, inputs, ctx.training, scaled);
      const T* b = has_bias ? bias.data() : nullptr;
      if constexpr (real_input) {
        y = matmul(x, transpose(binarized));
        if constexpr (has_bias) y += broadcast(bias, axes<1>, y.shape());
      } else {
        ops::pack_signs_rows(D{}, binarized.data(), N, inputs, packed_weight);
        if (packed_input.extent(0) != n) packed_input = Tensor<binary, 2>::uninitialized(Shape{n, inputs});
        ops::pack_signs_rows(D{}, x.data(), n, inputs, packed_input);
        std::int32_t* c = ensure_batch(counts, n, N).data();
        ops::xnor_gemm(D{}, packed_input, packed_weight, c);
        // Counts are [n][N], channels last with one pixel: the conv epilogue applies as is.
        detail::counts_to_nchw(c, n, N, 1, scale.data(), b, y.data());
      }
    }

    void backward(batch_view<const T, D> x, batch_view<const T, D>, batch_view<const T, D> dy, batch_view<T, D> dx, context& ctx) {
      const std::int64_t n = x.extent(0);
      if (ctx.want_parameter_gradients) {
        if constexpr (real_input) {
          weight_gradient = matmul(transpose(dy), x);
        } else {
          batch_view<T, D> s = ensure_batch(signs, n, inputs);
          const T* xs = x.data();
          T* sd = s.data();
          parallel_ranges(n * inputs, [&](std::int64_t first, std::int64_t last) {
            for (std::int64_t i = first; i < last; ++i) sd[i] = xs[i] < T(0) ? T(-1) : T(1);
          });
          weight_gradient = matmul(transpose(dy), batch_view<const T, D>(s));
        }
        if constexpr (has_bias) bias_gradient = sum(dy, axes<0>);
        if constexpr (scaled) detail::latent_weight_gradient(weight_gradient.data(), weight.data(), scale.data(), N, inputs);
      }
      if (ctx.want_input_gradient) dx = matmul(dy, binarized);
    }

    template <class F>
    void visit_parameters(F&& f, std::string_view prefix = "") {
      parameter_ref<T, D> w{member_name(prefix, "weight"), weight.flat(), weight_gradient.flat(), false};
      w.rate = detail::binary_rate_scale(inputs, N);
      w.binarized = {N, scaled};
      f(w);
      if constexpr (has_bias) visit_parameter(f, member_name(prefix, "bias"), bias.flat(), bias_gradient.flat(), false);
    }
  };
};

}  // namespace strata
