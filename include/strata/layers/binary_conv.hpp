// strata/layers/binary_conv.hpp — BinaryConv<Filters, Options…>: BinaryNet's convolution
// (Courbariaux, Hubara et al. 2016). Real-valued latent weights [K, C, R, S], clipped to [−1, 1]
// while training, are binarised by sign in every forward pass; the input (±1, from a Sign layer)
// is packed into bits and convolved by XNOR-popcount, so the forward pass multiplies nothing.
// Gradients follow the straight-through estimator: they pass to the latent weights as if sign were
// the identity (clipping keeps them where the paper's window lets them through), and to the input
// (whose Sign layer applies its own window). Options, in any order, each at most once: Kernel
// (3×3), Stride (1), Pad (0: zero padding, a padded tap counting 0 as in a real convolution), NoBias,
// Init (Xavier uniform), RealInput (the first layer: a real input times ±1 weights, in fp32) and
// ChannelScale (XNOR-Net, Rastegari et al. 2016: α = mean |W| per filter scales its ±1 weights).
// Each weight tensor's learning rate is scaled by 1/√(1.5 / (fan_in + fan_out)), the paper's
// Glorot-based per-layer factor.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "strata/core/bit_tensor.hpp"
#include "strata/core/parallel.hpp"
#include "strata/layers/layer.hpp"
#include "strata/layers/options.hpp"
#include "strata/ops/binary.hpp"
#include "strata/ops/conv2d.hpp"

namespace strata {

namespace detail {
// The paper's learning-rate factor for a binarised weight tensor: the inverse of the Glorot
// initialisation scale, so layers of every size move their weights by a similar fraction.
constexpr double binary_rate_scale(std::int64_t fan_in, std::int64_t fan_out) {
  return 1.0 / std::sqrt(1.5 / double(fan_in + fan_out));
}

// The ±1 (or ±α) weights for one forward pass from latent weights [K, per_filter]: sign, times
// the filter's mean |w| when scaled. Clips the latent weights to [−1, 1] first when training.
template <class T>
void binarize_weights(T* latent, T* binarized, T* scale, std::int64_t K, std::int64_t per_filter, bool clip, bool scaled) {
  for (std::int64_t k = 0; k < K; ++k) {
    T* w = latent + k * per_filter;
    T* b = binarized + k * per_filter;
    double magnitude = 0;
    for (std::int64_t i = 0; i < per_filter; ++i) {
      if (clip) w[i] = w[i] < T(-1) ? T(-1) : (w[i] > T(1) ? T(1) : w[i]);
      magnitude += std::abs(double(w[i]));
    }
    const T alpha = scaled ? T(magnitude / double(per_filter)) : T(1);
    scale[k] = alpha;
    for (std::int64_t i = 0; i < per_filter; ++i) b[i] = w[i] < T(0) ? -alpha : alpha;
  }
}

// dL/d(latent) from dL/d(binarised weights) g, in place. Unscaled: the straight-through estimator
// passes g unchanged. Scaled (w̃ = α·sign(w), α = mean |w|): α·g_i plus, through α,
// sign(w_i)/n · Σ_j g_j·sign(w_j).
template <class T>
void latent_weight_gradient(T* g, const T* latent, const T* scale, std::int64_t K, std::int64_t per_filter) {
  for (std::int64_t k = 0; k < K; ++k) {
    T* gk = g + k * per_filter;
    const T* w = latent + k * per_filter;
    double through_alpha = 0;
    for (std::int64_t i = 0; i < per_filter; ++i) through_alpha += w[i] < T(0) ? -double(gk[i]) : double(gk[i]);
    through_alpha /= double(per_filter);
    for (std::int64_t i = 0; i < per_filter; ++i) gk[i] = T(double(scale[k]) * gk[i] + (w[i] < T(0) ? -through_alpha : through_alpha));
  }
}

// y[n][k][p] = scale[k]·count[n][p][k] + bias[k]: the XNOR kernels' channels-last counts as the
// layer's NCHW output.
template <class T>
void counts_to_nchw(const std::int32_t* counts, std::int64_t n, std::int64_t K, std::int64_t pixels, const T* scale,
                    const T* bias, T* y) {
  parallel_ranges(n * K, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t nk = first; nk < last; ++nk) {
      const std::int64_t i = nk / K, k = nk % K;
      const std::int32_t* c = counts + i * pixels * K + k;
      T* out = y + nk * pixels;
      const T a = scale[k], b = bias ? bias[k] : T(0);
      for (std::int64_t p = 0; p < pixels; ++p) out[p] = T(c[p * K]) * a + b;
    }
  }, 1, std::max<std::int64_t>(1, parallel_threshold() / std::max<std::int64_t>(1, pixels)));
}
}  // namespace detail

template <std::int64_t Filters, class... Options>
struct BinaryConv {
  static_assert(Filters > 0, "strata::BinaryConv<Filters, …>: the number of filters must be positive");
  static_assert(detail::options_check<BinaryConv,
                                      std::tuple<option_kinds::kernel, option_kinds::stride, option_kinds::pad,
                                                 option_kinds::bias, option_kinds::init, option_kinds::input_values,
                                                 option_kinds::weight_scale>,
                                      Options...>::ok,
                "strata::BinaryConv: its options are Kernel, Stride, Pad, NoBias, Init, RealInput and ChannelScale, in "
                "any order, each at most once (the note names not_an_option_of<BinaryConv, option> or "
                "option_given_twice<BinaryConv, option>)");
  using K = detail::option_of_t<option_kinds::kernel, Kernel<3>, Options...>;
  using St = detail::option_of_t<option_kinds::stride, Stride<1>, Options...>;
  using P = detail::option_of_t<option_kinds::pad, Pad<0>, Options...>;
  static_assert(K::rows > 0 && K::cols > 0, "strata::BinaryConv: the kernel must be at least 1×1");
  static_assert(St::y > 0 && St::x > 0, "strata::BinaryConv: strides must be positive");
  static_assert(P::y >= 0 && P::x >= 0, "strata::BinaryConv: padding cannot be negative");
  using spec_tag = void;
  static constexpr bool has_bias = !detail::has_option_v<NoBias, Options...>;
  static constexpr bool real_input = detail::has_option_v<RealInput, Options...>;
  static constexpr bool scaled = detail::has_option_v<ChannelScale, Options...>;
  using init_kind = typename detail::init_of<init::xavier_uniform, Options...>::type;

  template <class In>
  static constexpr bool accepts = [] {
    if constexpr (ImageShape<In>) return In::extents[1] + 2 * P::y >= K::rows && In::extents[2] + 2 * P::x >= K::cols;
    else return false;
  }();
  template <class In>
  using expects = image_at_least<K::rows - 2 * P::y, K::cols - 2 * P::x>;

  template <class In>
  static constexpr kernels::conv_geometry geometry() {
    return {In::extents[0], In::extents[1], In::extents[2], Filters, K::rows, K::cols, St::y, St::x, P::y, P::x, 1};
  }

  template <class In>
  struct traits {
    static constexpr kernels::conv_geometry g = geometry<In>();
    using output_shape = sample_shape<Filters, g.P(), g.Q()>;
    static constexpr std::int64_t parameters = g.weight_elements() + (has_bias ? Filters : 0) ;
    static constexpr std::int64_t binary_parameters = g.weight_elements();  // stored as one bit each
    static constexpr std::int64_t flops = g.weight_elements() * g.P() * g.Q();
    static constexpr std::int64_t saved = 0;
    static std::string describe() {
      std::string d = std::string(real_input ? "binary-weight conv " : "binary conv ") + std::to_string(K::rows) + "×" +
                      std::to_string(K::cols);
      if (St::y != 1 || St::x != 1) d += " /" + std::to_string(St::y) + (St::x != St::y ? "," + std::to_string(St::x) : "");
      if (P::y != 0 || P::x != 0) d += " pad " + std::to_string(P::y) + (P::x != P::y ? "," + std::to_string(P::x) : "");
      d += ", " + std::to_string(g.C) + " → " + std::to_string(Filters);
      if (scaled) d += ", scaled";
      return d + (has_bias ? "" : ", no bias");
    }
  };

  template <class In, class T, class D = cpu>
  struct layer {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "strata::BinaryConv: binary layers run in fp32 or fp64 models (their real parts: latent weights, "
                  "gradients, batch norm); use Model<Net, binary> to binarise a network");
    static_assert(std::is_same_v<D, cpu>, "strata::BinaryConv: the XNOR-popcount kernels run on the CPU");
    static constexpr kernels::conv_geometry g = geometry<In>();
    using output_shape = typename traits<In>::output_shape;
    static constexpr std::int64_t per_filter = g.C * g.R * g.S, PQ = g.P() * g.Q();

    Tensor<T, 4, D> weight{Shape{Filters, g.C, K::rows, K::cols}}, weight_gradient{weight.shape()};
    Tensor<T, 1, D> bias{Shape<1>{has_bias ? Filters : 0}}, bias_gradient{bias.shape()};
    // Of the last forward pass: the binarised weights as reals (for backward and RealInput), their
    // scales, and packed as the XNOR kernel reads them.
    Tensor<T, 4, D> binarized{weight.shape()};
    Tensor<T, 1, D> scale{Shape<1>{Filters}};
    Tensor<binary, 4> packed_weight{Shape{Filters, g.R, g.S, g.C}};
    Tensor<binary, 4> packed_input;
    ops::xnor_conv_state<D> xnor;
    Tensor<std::int32_t, 1> counts;
    Tensor<T, 1, D> signs;  // the binarised input in backward
    ops::conv_state<D, T> real_conv{};

    void initialize(random_engine& rng) {
      detail::initialize_weight<init_kind>(weight.view(), g.patch(), Filters * g.R * g.S, rng);
      if constexpr (has_bias) detail::initialize_bias<init_kind>(bias.view(), g.patch(), rng);
    }

    void forward(batch_view<const T, D> x, batch_view<T, D> y, context& ctx) {
      const std::int64_t n = x.extent(0);
      detail::binarize_weights(weight.data(), binarized.data(), scale.data(), Filters, per_filter, ctx.training, scaled);
      const T* b = has_bias ? bias.data() : nullptr;
      if constexpr (real_input) {
        if constexpr (requires { real_conv.training; }) real_conv.training = ctx.training;
        ops::conv2d_forward(D{}, algo::automatic{}, g, n, x.data(), binarized.data(), b, y.data(), real_conv);
      } else {
        ops::pack_filter_signs(D{}, binarized.data(), Filters, g.C, g.R, g.S, packed_weight);
        ops::xnor_conv2d_prepare(D{}, g, packed_weight, xnor);
        if (packed_input.extent(0) != n) packed_input = Tensor<binary, 4>::uninitialized(Shape{n, g.H, g.W, g.C});
        ops::pack_signs_nchw(D{}, x.data(), n, g.C, g.H, g.W, packed_input);
        std::int32_t* c = ensure_batch(counts, n, PQ * Filters).data();
        ops::xnor_conv2d_forward(D{}, g, n, packed_input, xnor, c);
        detail::counts_to_nchw(c, n, Filters, PQ, scale.data(), b, y.data());
      }
    }

    void backward(batch_view<const T, D> x, batch_view<const T, D>, batch_view<const T, D> dy, batch_view<T, D> dx,
                  context& ctx) {
      const std::int64_t n = x.extent(0);
      if (ctx.want_parameter_gradients) {
        // The weight gradient sees the input the forward pass used: ±1 unless the input is real.
        const T* input = x.data();
        if constexpr (!real_input) {
          T* s = ensure_batch(signs, n, g.C * g.H * g.W).data();
          const T* xs = x.data();
          parallel_ranges(n * g.C * g.H * g.W, [&](std::int64_t first, std::int64_t last) {
            for (std::int64_t i = first; i < last; ++i) s[i] = xs[i] < T(0) ? T(-1) : T(1);
          });
          input = s;
        }
        ops::conv2d_backward_filter(D{}, algo::automatic{}, g, n, input, dy.data(), weight_gradient.data(),
                                    has_bias ? bias_gradient.data() : nullptr, real_conv);
        if constexpr (scaled) detail::latent_weight_gradient(weight_gradient.data(), weight.data(), scale.data(), Filters, per_filter);
      }
      if (ctx.want_input_gradient)
        ops::conv2d_backward_data(D{}, algo::automatic{}, g, n, binarized.data(), dy.data(), dx.data(), real_conv);
    }

    template <class F>
    void visit_parameters(F&& f, std::string_view prefix = "") {
      // No weight decay: it would pull latent weights towards 0, where their signs flip at random.
      parameter_ref<T, D> w{member_name(prefix, "weight"), weight.flat(), weight_gradient.flat(), false};
      w.rate = detail::binary_rate_scale(per_filter, Filters * g.R * g.S);
      w.binarized = {Filters, scaled};
      f(w);
      if constexpr (has_bias) visit_parameter(f, member_name(prefix, "bias"), bias.flat(), bias_gradient.flat(), false);
    }
  };
};

}  // namespace strata
