// strata/layers/conv.hpp — Conv<Filters, Kernel<R, S>, Stride<…>, Pad<…>, Options…>: 2-D
// convolution over an NCHW batch, any R×S (1×1, 3×3, 1×N, N×1 …). Weights are [K, C, R, S] as
// in PyTorch. Options: NoBias, Init<…> (He uniform by default), Algorithm<…> (im2col + GEMM by
// default; `conv_algorithm::direct` is the reference loop the tests compare against).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "strata/kernels/cpu/conv_direct.hpp"
#include "strata/kernels/cpu/conv_im2col.hpp"
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

// How a convolution is computed; a layer may force one with Algorithm<…>.
namespace conv_algorithm {
struct im2col {
  static constexpr const char* name = "im2col";
  template <class T>
  static void forward(const kernels::conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y) {
    kernels::cpu::conv_im2col_forward(g, n, x, w, b, y);
  }
  template <class T>
  static void backward_data(const kernels::conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx) {
    kernels::cpu::conv_im2col_backward_data(g, n, w, dy, dx);
  }
  template <class T>
  static void backward_filter(const kernels::conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db) {
    kernels::cpu::conv_im2col_backward_filter(g, n, x, dy, dw, db);
  }
};
struct direct {
  static constexpr const char* name = "direct";
  template <class T>
  static void forward(const kernels::conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y) {
    kernels::cpu::conv_direct_forward(g, n, x, w, b, y);
  }
  template <class T>
  static void backward_data(const kernels::conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx) {
    kernels::cpu::conv_direct_backward_data(g, n, w, dy, dx);
  }
  template <class T>
  static void backward_filter(const kernels::conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db) {
    kernels::cpu::conv_direct_backward_filter(g, n, x, dy, dw, db);
  }
};
}  // namespace conv_algorithm

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
  using algorithm = typename detail::algorithm_of<conv_algorithm::im2col, Options...>::type;

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

    void initialize(random_engine& rng) {
      detail::initialize_weight<init_kind>(weight.view(), g.patch(), Filters * g.R * g.S, rng);
      if constexpr (has_bias) detail::initialize_bias<init_kind>(bias.view(), g.patch(), rng);
    }

    void forward(batch_view<const T> x, batch_view<T> y, context&) {
      algorithm::forward(g, x.extent(0), x.data(), weight.data(), has_bias ? bias.data() : nullptr, y.data());
    }

    void backward(batch_view<const T> x, batch_view<const T>, batch_view<const T> dy, batch_view<T> dx, context& ctx) {
      const std::int64_t n = x.extent(0);
      algorithm::backward_filter(g, n, x.data(), dy.data(), weight_gradient.data(),
                                 has_bias ? bias_gradient.data() : nullptr);
      if (ctx.want_input_gradient) algorithm::backward_data(g, n, weight.data(), dy.data(), dx.data());
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
