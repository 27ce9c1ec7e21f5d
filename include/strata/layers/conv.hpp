// strata/layers/conv.hpp — Conv<Filters, Options…>: 2-D convolution over an NCHW batch, any R×S
// (1×1, 3×3, 1×N, N×1 …), optionally in channel groups. Weights are [K, C/G, R, S] as in PyTorch.
// Options, in any order, each at most once: Kernel<R, S> (3×3 by default), Stride<…> (1), Pad<…>
// (0), Groups<G> (1), NoBias, Init<…> (He uniform), Algorithm<…> (algo::automatic: the fastest
// available algorithm for the shape, chosen once; algo::reference is the plain loop the tests
// compare against). With G > 1 each group runs through the algorithm on its own (CPU only);
// G == C == Filters is depthwise and runs the depthwise kernel (ops/depthwise_conv2d.hpp) unless
// an algorithm is forced.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include "strata/layers/options.hpp"
#include "strata/layers/layer.hpp"
#include "strata/ops/conv2d.hpp"
#include "strata/ops/depthwise_conv2d.hpp"

namespace strata {

template <std::int64_t Filters, class... Options>
struct Conv {
  static_assert(Filters > 0, "strata::Conv<Filters, …>: the number of filters must be positive");
  static_assert(detail::options_check<Conv,
                                      std::tuple<option_kinds::kernel, option_kinds::stride, option_kinds::pad,
                                                 option_kinds::groups, option_kinds::bias, option_kinds::init,
                                                 option_kinds::algorithm>,
                                      Options...>::ok,
                "strata::Conv: its options are Kernel, Stride, Pad, Groups, NoBias, Init and Algorithm, in any order, "
                "each at most once (the note names not_an_option_of<Conv, option> or option_given_twice<Conv, option>)");
  using K = detail::option_of_t<option_kinds::kernel, Kernel<3>, Options...>;
  using St = detail::option_of_t<option_kinds::stride, Stride<1>, Options...>;
  using P = detail::option_of_t<option_kinds::pad, Pad<0>, Options...>;
  static_assert(K::rows > 0 && K::cols > 0, "strata::Conv: the kernel must be at least 1×1");
  static_assert(St::y > 0 && St::x > 0, "strata::Conv: strides must be positive");
  static_assert(P::y >= 0 && P::x >= 0, "strata::Conv: padding cannot be negative");
  static constexpr std::int64_t groups = detail::option_of_t<option_kinds::groups, Groups<1>, Options...>::value;
  static_assert(groups > 0, "strata::Conv<Filters, Groups<G>>: G must be positive");
  static_assert(groups <= 0 || Filters % groups == 0, "strata::Conv<Filters, Groups<G>>: Filters must be a multiple of G");
  using spec_tag = void;
  static constexpr bool has_bias = !detail::has_option_v<NoBias, Options...>;
  using init_kind = typename detail::init_of<init::he_uniform, Options...>::type;
  using algorithm = typename detail::option_of_t<option_kinds::algorithm, Algorithm<algo::automatic>, Options...>::type;
  static_assert(algo::ConvAlgorithm<algorithm>, "strata::Conv: Algorithm<A> needs a convolution algorithm tag (algo::…)");

  // An image whose padded size holds the kernel, with channels a multiple of the groups.
  template <class In>
  static constexpr bool accepts = [] {
    if constexpr (ImageShape<In>)
      return In::extents[1] + 2 * P::y >= K::rows && In::extents[2] + 2 * P::x >= K::cols && In::extents[0] % groups == 0;
    else
      return false;
  }();

  template <class In>
  using expects = std::conditional_t<groups == 1, image_at_least<K::rows - 2 * P::y, K::cols - 2 * P::x>,
                                     image_with_channels_multiple_of<groups, K::rows - 2 * P::y, K::cols - 2 * P::x>>;

  template <class In>
  static constexpr kernels::conv_geometry geometry() {
    return {In::extents[0], In::extents[1], In::extents[2], Filters, K::rows, K::cols, St::y, St::x, P::y, P::x, groups};
  }

  template <class In>
  struct traits {
    static_assert(In::extents[0] % groups == 0, "strata::Conv<Filters, Groups<G>>: the input channels must be a multiple of G");
    static constexpr kernels::conv_geometry g = geometry<In>();
    using output_shape = sample_shape<Filters, g.P(), g.Q()>;
    static constexpr std::int64_t parameters = g.weight_elements() + (has_bias ? Filters : 0);
    static constexpr std::int64_t flops = g.weight_elements() * g.P() * g.Q();
    static constexpr std::int64_t saved = 0;  // the patch matrix is rebuilt in backward
    static std::string describe() {
      std::string d = "conv " + std::to_string(K::rows) + "×" + std::to_string(K::cols);
      if (St::y != 1 || St::x != 1) d += " /" + std::to_string(St::y) + (St::x != St::y ? "," + std::to_string(St::x) : "");
      if (P::y != 0 || P::x != 0) d += " pad " + std::to_string(P::y) + (P::x != P::y ? "," + std::to_string(P::x) : "");
      d += ", " + std::to_string(g.C) + " → " + std::to_string(Filters);
      if (groups > 1) d += g.is_depthwise() ? ", depthwise" : ", groups " + std::to_string(groups);
      return d + (has_bias ? "" : ", no bias");
    }
  };

  template <class In, class T, class D = cpu>
  struct layer {
    static constexpr kernels::conv_geometry g = geometry<In>();
    using output_shape = typename traits<In>::output_shape;
    // Depthwise (one filter per channel) with the automatic algorithm: the depthwise kernel.
    static constexpr bool depthwise = groups > 1 && g.is_depthwise() && std::is_same_v<algorithm, algo::automatic>;
    // One group's convolution, as the algorithms run it: C/G channels in, Filters/G out.
    static constexpr std::int64_t Cg = g.C / groups, Kg = Filters / groups;
    static constexpr kernels::conv_geometry group_g{Cg, g.H, g.W, Kg, g.R, g.S, g.stride_y, g.stride_x, g.pad_y, g.pad_x};
    static constexpr std::int64_t HW = g.H * g.W, PQ = g.P() * g.Q(), group_weights = Kg * Cg * g.R * g.S;

    Tensor<T, 4, D> weight{Shape{Filters, Cg, K::rows, K::cols}}, weight_gradient{weight.shape()};
    Tensor<T, 1, D> bias{Shape<1>{has_bias ? Filters : 0}}, bias_gradient{bias.shape()};

    static_assert(!has_dynamic_scale<T> || groups == 1 || depthwise,
                  "strata::Conv: grouped convolutions have no dynamic fixed-point path yet (the groups' outputs would need "
                  "one exponent); depthwise ones fail by kernel name");
    // Per group (one when ungrouped, none when depthwise): cached filter transforms (checked against
    // the weights on every use) and the algorithm choice.
    std::vector<ops::conv_state<D, T>> states = [] {
      std::vector<ops::conv_state<D, T>> v(depthwise ? 0 : groups);
      for (std::int64_t i = 0; i < std::int64_t(v.size()); ++i)
        if constexpr (requires { v[0].layer; })
          v[std::size_t(i)].layer = traits<In>::describe() + (groups > 1 ? " (group " + std::to_string(i) + ")" : "");
      return v;
    }();
    // Grouped batches: one group's input, output and their gradients, contiguous per sample.
    Tensor<T, 1, D> group_in, group_out;

    void initialize(random_engine& rng) {
      detail::initialize_weight<init_kind>(weight.view(), g.patch(), Filters * g.R * g.S, rng);
      if constexpr (has_bias) detail::initialize_bias<init_kind>(bias.view(), g.patch(), rng);
    }

    void forward(batch_view<const T, D> x, batch_view<T, D> y, context& ctx) {
      const std::int64_t n = x.extent(0);
      const T* b = has_bias ? bias.data() : nullptr;
      if constexpr (depthwise) {
        ops::depthwise_conv2d_forward(D{}, g, n, x.data(), weight.data(), b, y.data());
      } else if constexpr (groups == 1) {
        if constexpr (requires { states[0].training; }) states[0].training = ctx.training;
        ops::conv2d_forward(D{}, algorithm{}, g, n, x.data(), weight.data(), b, y.data(), states[0]);
      } else {
        for (std::int64_t i = 0; i < groups; ++i) {
          auto& s = states[std::size_t(i)];
          if constexpr (requires { s.training; }) s.training = ctx.training;
          const T* xg = gather(x.data(), n, i, Cg * HW, group_in);
          T* yg = n == 1 ? y.data() + i * Kg * PQ : ensure_batch(group_out, n, Kg * PQ).data();
          ops::conv2d_forward(D{}, algorithm{}, group_g, n, xg, weight.data() + i * group_weights, b ? b + i * Kg : nullptr, yg, s);
          if (n > 1) scatter(yg, n, i, Kg * PQ, y.data());
        }
      }
    }

    void backward(batch_view<const T, D> x, batch_view<const T, D>, batch_view<const T, D> dy, batch_view<T, D> dx,
                  context& ctx) {
      const std::int64_t n = x.extent(0);
      T* db = has_bias ? bias_gradient.data() : nullptr;
      if constexpr (depthwise) {
        if (ctx.want_parameter_gradients)
          ops::depthwise_conv2d_backward_filter(D{}, g, n, x.data(), dy.data(), weight_gradient.data(), db);
        if (ctx.want_input_gradient) ops::depthwise_conv2d_backward_data(D{}, g, n, weight.data(), dy.data(), dx.data());
      } else if constexpr (groups == 1) {
        if (ctx.want_parameter_gradients)
          ops::conv2d_backward_filter(D{}, algorithm{}, g, n, x.data(), dy.data(), weight_gradient.data(), db, states[0]);
        if (ctx.want_input_gradient)
          ops::conv2d_backward_data(D{}, algorithm{}, g, n, weight.data(), dy.data(), dx.data(), states[0]);
      } else {
        for (std::int64_t i = 0; i < groups; ++i) {
          auto& s = states[std::size_t(i)];
          if (!ctx.want_parameter_gradients && !ctx.want_input_gradient) break;
          const T* dyg = gather(dy.data(), n, i, Kg * PQ, group_out);
          if (ctx.want_parameter_gradients) {
            const T* xg = gather(x.data(), n, i, Cg * HW, group_in);
            ops::conv2d_backward_filter(D{}, algorithm{}, group_g, n, xg, dyg, weight_gradient.data() + i * group_weights,
                                        db ? db + i * Kg : nullptr, s);
          }
          if (ctx.want_input_gradient) {
            T* dxg = n == 1 ? dx.data() + i * Cg * HW : ensure_batch(group_in, n, Cg * HW).data();
            ops::conv2d_backward_data(D{}, algorithm{}, group_g, n, weight.data() + i * group_weights, dyg, dxg, s);
            if (n > 1) scatter(dxg, n, i, Cg * HW, dx.data());
          }
        }
      }
    }

    template <class F>
    void visit_parameters(F&& f, std::string_view prefix = "") {
      visit_parameter(f, member_name(prefix, "weight"), weight.flat(), weight_gradient.flat(), true);
      if constexpr (has_bias) visit_parameter(f, member_name(prefix, "bias"), bias.flat(), bias_gradient.flat(), false);
    }

   private:
    // Group i of each sample of a batch whose samples hold `groups` blocks of `block` values, as a
    // contiguous [n, block] batch: in place for one sample, else copied into buffer (on D: a
    // copy per sample).
    static const T* gather(const T* batch, std::int64_t n, std::int64_t i, std::int64_t block, Tensor<T, 1, D>& buffer) {
      if (n == 1) return batch + i * block;
      T* out = ensure_batch(buffer, n, block).data();
      for (std::int64_t j = 0; j < n; ++j) device_traits<D>::copy(batch + (j * groups + i) * block, out + j * block, block);
      return out;
    }
    // The inverse: a contiguous [n, block] batch into group i of each sample.
    static void scatter(const T* group, std::int64_t n, std::int64_t i, std::int64_t block, T* batch) {
      for (std::int64_t j = 0; j < n; ++j) device_traits<D>::copy(group + j * block, batch + (j * groups + i) * block, block);
    }
  };
};

}  // namespace strata
