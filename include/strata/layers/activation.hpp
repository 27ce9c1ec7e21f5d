// strata/layers/activation.hpp — what every element-wise activation layer shares: same shape
// in and out, no parameters, forward and backward as one fused expression each. A concrete
// activation (ReLU, Tanh, …) supplies the two functors.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "strata/core/functions.hpp"
#include "strata/kernels/op_kernel.hpp"
#include "strata/layers/layer.hpp"

namespace strata::detail {

// Whether F names an operation (F::kernel_op) that device D implements for T as an op_kernel with
// forward(n, x, y) and backward(n, y or x, dy, dx): then the layer calls it instead of the fused
// expression (fp16 ReLU on bit patterns), with the same results.
template <class F, class D, class T>
constexpr bool activation_has_kernel() {
  if constexpr (requires { typename F::kernel_op; }) return kernels::has_op_kernel<typename F::kernel_op, D, T>;
  else return false;
}

// F::forward(v) and F::backward(x, y, dy) for one element; F::name for summaries.
template <class F>
struct activation_spec {
  using spec_tag = void;

  template <class In>
  static constexpr bool accepts = StaticShape<In>;

  template <class In>
  struct traits {
    using output_shape = In;
    static constexpr std::int64_t parameters = 0;
    static constexpr std::int64_t flops = 0;  // counted as multiply-adds: none
    static constexpr std::int64_t saved = 0;
    static std::string describe() { return F::name; }
  };

  template <class In, class T, class D = cpu>
  struct layer {
    using output_shape = In;
    F f{};

    static constexpr bool has_kernel = activation_has_kernel<F, D, T>();

    void forward(batch_view<const T, D> x, batch_view<T, D> y, context&) {
      if constexpr (has_kernel) kernels::op_kernel<typename F::kernel_op, D, T>::forward(x.size(), x.data(), y.data());
      else y = elementwise(forward_op{f}, x);
    }
    void backward(batch_view<const T, D> x, batch_view<const T, D> y, batch_view<const T, D> dy, batch_view<T, D> dx,
                  context& ctx) {
      if (!ctx.want_input_gradient) return;
      if constexpr (has_kernel) {
        const T* from = F::backward_uses_output ? y.data() : x.data();
        kernels::op_kernel<typename F::kernel_op, D, T>::backward(dx.size(), from, dy.data(), dx.data());
      } else if constexpr (F::backward_uses_output) dx = elementwise(backward_op{f}, y, dy);
      else dx = elementwise(backward_op{f}, x, dy);
    }

    struct forward_op {
      F f;
      template <class V>
      STRATA_HD V operator()(V v) const { return f.forward(v); }
    };
    struct backward_op {
      F f;
      template <class V>
      STRATA_HD V operator()(V v, V dy) const { return f.backward(v, dy); }
    };
  };
};

}  // namespace strata::detail
