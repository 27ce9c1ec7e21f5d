// strata/layers/conv.hpp — Conv<Filters, Kernel<R, S>, Stride<…>, Pad<…>, Options…>: 2-D
// convolution over an NCHW batch, any R×S (1×1, 3×3, 1×N, N×1 …). Weights are [K, C, R, S] as
// in PyTorch. Options: NoBias, Init<…> (He uniform by default), Algorithm<…> (algo::automatic by
// default: the fastest of im2col, gemm_1x1, direct, winograd<2>, winograd<4> and fft for the
// shape, timed once; algo::reference is the plain loop the tests compare against).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "strata/kernels/cpu/conv_algorithms.hpp"
#include "strata/layers/options.hpp"
#include "strata/net/layer.hpp"

namespace strata {

template <std::int64_t R, std::int64_t S = R>
struct Kernel {
  static constexpr std::int64_t rows = R, cols = S;
};
template <std::int64_t Y, std::int64_t X = Y>
struct Stride {
  static constexpr std::int64_t y = Y, x = X;
};
template <std::int64_t Y, std::int64_t X = Y>
struct Pad {
  static constexpr std::int64_t y = Y, x = X;
};

template <class A>
struct Algorithm {
  using type = A;
};

namespace detail {
// The algorithm named in Options (the first Algorithm<…>), or Default.
template <class Default, class... Options>
struct algorithm_of {
  using type = Default;
};
template <class Default, class A, class... Rest>
struct algorithm_of<Default, Algorithm<A>, Rest...> {
  using type = A;
};
template <class Default, class First, class... Rest>
struct algorithm_of<Default, First, Rest...> : algorithm_of<Default, Rest...> {};
}  // namespace detail

template <std::int64_t Filters, class K = Kernel<3>, class St = Stride<1>, class P = Pad<0>, class... Options>
struct Conv {
  static_assert(Filters > 0, "strata::Conv<Filters, …>: the number of filters must be positive");
  static_assert(K::rows > 0 && K::cols > 0, "strata::Conv: the kernel must be at least 1×1");
  static_assert(St::y > 0 && St::x > 0, "strata::Conv: strides must be positive");
  static_assert(P::y >= 0 && P::x >= 0, "strata::Conv: padding cannot be negative");
  using spec_tag = void;
  static constexpr bool has_bias = !detail::has_option_v<NoBias, Options...>;
  using init_kind = typename detail::init_of<init::he_uniform, Options...>::type;
  using algorithm = typename detail::algorithm_of<algo::automatic, Options...>::type;

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
    using output_shape = shape<Filters, g.P(), g.Q()>;
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

  template <class In, class T>
  struct layer {
    static constexpr kernels::conv_geometry g = geometry<In>();
    using output_shape = typename traits<In>::output_shape;

    Tensor<T, 4> weight{Shape{Filters, g.C, K::rows, K::cols}}, weight_gradient{weight.shape()};
    Tensor<T, 1> bias{Shape<1>{has_bias ? Filters : 0}}, bias_gradient{bias.shape()};

    algo::conv_state<T> state;  // cached filter transforms (checked against the weights on use)

    void initialize(random_engine& rng) {
      detail::initialize_weight<init_kind>(weight.view(), g.patch(), Filters * g.R * g.S, rng);
      if constexpr (has_bias) detail::initialize_bias<init_kind>(bias.view(), g.patch(), rng);
    }

    // Runs one pass with the layer's algorithm (automatic: the recorded winner for the shape).
    template <class F>
    void run(algo::conv_pass pass, std::int64_t n, F&& f) {
      if constexpr (std::is_same_v<algorithm, algo::automatic>) {
        algo::automatic::dispatch(pass, g, n, state, [] { return traits<In>::describe(); }, f);
      } else {
        if (!algorithm::supports(g))
          throw error(std::string("strata::Conv: the forced algorithm ") + algorithm::name + " cannot run " +
                      traits<In>::describe());
        f(algorithm{});
      }
    }

    void forward(batch_view<const T> x, batch_view<T> y, context& ctx) {
      state.training = ctx.training;
      const std::int64_t n = x.extent(0);
      const T* b = has_bias ? bias.data() : nullptr;
      run(algo::conv_pass::forward, n,
          [&](auto a) { decltype(a)::forward(g, n, x.data(), weight.data(), b, y.data(), state); });
    }

    void backward(batch_view<const T> x, batch_view<const T>, batch_view<const T> dy, batch_view<T> dx, context& ctx) {
      const std::int64_t n = x.extent(0);
      T* db = has_bias ? bias_gradient.data() : nullptr;
      run(algo::conv_pass::backward_filter, n, [&](auto a) {
        decltype(a)::backward_filter(g, n, x.data(), dy.data(), weight_gradient.data(), db, state);
      });
      if (ctx.want_input_gradient)
        run(algo::conv_pass::backward_data, n,
            [&](auto a) { decltype(a)::backward_data(g, n, weight.data(), dy.data(), dx.data(), state); });
    }

    template <class F>
    void visit_parameters(F&& f, std::string_view prefix = "") {
      visit_parameter(f, member_name(prefix, "weight"), weight.flat(), weight_gradient.flat(), true);
      if constexpr (has_bias) visit_parameter(f, member_name(prefix, "bias"), bias.flat(), bias_gradient.flat(), false);
    }
    template <class F>
    void visit_state(F&& , std::string_view = "") {}
  };
};

}  // namespace strata
