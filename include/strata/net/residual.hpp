// strata/net/residual.hpp — Residual<Block…>: y = block(x) + shortcut(x) (He et al. 2016). The
// shortcut is the identity when the block keeps the shape, else a projection: a 1×1 convolution
// (no bias) with the stride that matches the block's output size, then BatchNorm — ResNet's
// option B. No activation after the sum: put a ReLU after the Residual.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/chain.hpp"

namespace strata {

// The block's output shape, named in the message when no shortcut can reach it.
template <class BlockOutput>
struct residual_block_output {};

template <class... Block>
struct Residual {
  using spec_tag = void;
  using block = Chain<Block...>;

  template <class In>
  struct shortcut {
    using out = typename detail::output_if<block::template accepts<In>, block, In>::type;
    static constexpr bool identity = std::is_same_v<In, out>;
    // Projection: both images, stride chosen so a 1×1 convolution lands on the output size.
    static constexpr bool images = ImageShape<In> && ImageShape<out>;
    static constexpr std::int64_t stride_y = [] {
      if constexpr (images) return (In::extents[1] + out::extents[1] - 1) / out::extents[1];
      else return std::int64_t{1};
    }();
    static constexpr std::int64_t stride_x = [] {
      if constexpr (images) return (In::extents[2] + out::extents[2] - 1) / out::extents[2];
      else return std::int64_t{1};
    }();
    static constexpr bool projectable = [] {
      if constexpr (images)
        return (In::extents[1] - 1) / stride_y + 1 == out::extents[1] && (In::extents[2] - 1) / stride_x + 1 == out::extents[2];
      else
        return false;
    }();
    static constexpr std::int64_t out_channels = [] {
      if constexpr (images) return out::extents[0];
      else return std::int64_t{1};
    }();
    using projection = Conv<out_channels, Kernel<1>, Stride<stride_y, stride_x>, Pad<0>, NoBias>;
  };

  template <class In>
  static constexpr bool accepts = block::template accepts<In> && (shortcut<In>::identity || shortcut<In>::projectable);
  template <class In>
  using expects = residual_block_output<typename shortcut<In>::out>;

  template <class In>
  struct traits {
    using sc = shortcut<In>;
    using block_traits = layer_traits<block, In>;
    using output_shape = typename sc::out;
    using projection_traits = std::conditional_t<sc::identity, void, layer_traits<typename sc::projection, In>>;
    static constexpr std::int64_t projection_parameters = [] {
      if constexpr (sc::identity) return std::int64_t{0};
      else return projection_traits::parameters + 2 * output_shape::extents[0];
    }();
    static constexpr std::int64_t parameters = block_traits::parameters + projection_parameters;
    static constexpr std::int64_t projection_flops = [] {
      if constexpr (sc::identity) return std::int64_t{0};
      else return projection_traits::flops + 2 * output_shape::elements;
    }();
    static constexpr std::int64_t flops = block_traits::flops + projection_flops;
    // The block's own output (before the sum) and, with a projection, its two outputs.
    static constexpr std::int64_t saved =
        block_traits::saved + output_shape::elements * (sc::identity ? 1 : 3);
    static std::string describe() {
      return std::string("residual (") + (sc::identity ? "identity" : "1×1 projection + batch norm") + " shortcut)";
    }
  };

  template <class In, class T>
  struct layer {
    using sc = shortcut<In>;
    using output_shape = typename sc::out;
    static constexpr std::int64_t out_elements = output_shape::elements;

    runtime_layer<block, In, T> body;
    // The projection exists only when the shapes differ (std::monostate-like otherwise).
    struct no_projection {};
    std::conditional_t<sc::identity, no_projection, runtime_layer<typename sc::projection, In, T>> projection;
    std::conditional_t<sc::identity, no_projection, runtime_layer<BatchNorm, output_shape, T>> projection_bn;
    Tensor<T, 1> block_out, projected, normalised, gradient;

    static batch_view<T> ensure(Tensor<T, 1>& b, std::int64_t n, std::int64_t elements) {
      if (b.size() < n * elements) b = Tensor<T, 1>::uninitialized(Shape<1>{n * elements});
      return batch_view<T>(b.data(), Shape{n, elements});
    }

    void initialize(random_engine& rng) {
      body.initialize(rng);
      if constexpr (!sc::identity) {
        projection.initialize(rng);
        projection_bn.initialize(rng);
      }
    }

    void forward(batch_view<const T> x, batch_view<T> y, context& ctx) {
      const std::int64_t n = x.extent(0);
      batch_view<T> b = ensure(block_out, n, out_elements);
      body.forward(x, b, ctx);
      if constexpr (sc::identity) {
        y = b + x;
      } else {
        batch_view<T> p = ensure(projected, n, out_elements);
        batch_view<T> q = ensure(normalised, n, out_elements);
        projection.forward(x, p, ctx);
        projection_bn.forward(p, q, ctx);
        y = b + q;
      }
    }

    void backward(batch_view<const T> x, batch_view<const T>, batch_view<const T> dy, batch_view<T> dx, context& ctx) {
      const std::int64_t n = x.extent(0);
      const batch_view<const T> b(block_out.data(), Shape{n, out_elements});
      // The sum passes dy unchanged to both paths.
      body.backward(x, b, dy, dx, ctx);
      if constexpr (sc::identity) {
        if (ctx.want_input_gradient) dx += dy;
      } else {
        const batch_view<const T> p(projected.data(), Shape{n, out_elements});
        const batch_view<const T> q(normalised.data(), Shape{n, out_elements});
        batch_view<T> dp = ensure(gradient, n, out_elements);
        context inner = ctx;
        inner.want_input_gradient = true;
        projection_bn.backward(p, q, dy, dp, inner);
        if (ctx.want_input_gradient) {
          // dx already holds the block's part; add the projection's through a temporary.
          Tensor<T, 2> dx_projection = Tensor<T, 2>::uninitialized(x.shape());
          projection.backward(x, p, dp, dx_projection.view(), ctx);
          dx += dx_projection;
        } else {
          projection.backward(x, p, dp, dx, ctx);
        }
      }
    }

    template <class F>
    void visit_parameters(F&& f, std::string_view prefix = "") {
      body.visit_parameters(f, member_name(prefix, "block"));
      if constexpr (!sc::identity) {
        projection.visit_parameters(f, member_name(prefix, "projection"));
        projection_bn.visit_parameters(f, member_name(prefix, "projection_bn"));
      }
    }
    template <class F>
    void visit_state(F&& f, std::string_view prefix = "") {
      body.visit_state(f, member_name(prefix, "block"));
      if constexpr (!sc::identity) projection_bn.visit_state(f, member_name(prefix, "projection_bn"));
    }
  };
};

namespace detail {
template <class X, std::size_t>
using always = X;
template <class X, class Seq>
struct repeat_chain;
template <class X, std::size_t... I>
struct repeat_chain<X, std::index_sequence<I...>> {
  using type = Chain<always<X, I>...>;
};
}  // namespace detail

// N copies of a block in a row (each with its own parameters): Repeat<3, BasicBlock<64>>.
template <std::size_t N, class... Block>
using Repeat = typename detail::repeat_chain<Chain<Block...>, std::make_index_sequence<N>>::type;

// ResNet's two-layer block: 3×3 conv (stride S) – BN – ReLU – 3×3 conv – BN, plus the shortcut.
template <std::int64_t Channels, std::int64_t S = 1>
using BasicBlock = Residual<Conv<Channels, Kernel<3>, Stride<S>, Pad<1>, NoBias>, BatchNorm, ReLU,
                            Conv<Channels, Kernel<3>, Stride<1>, Pad<1>, NoBias>, BatchNorm>;

// The bottleneck: 1×1 reduce to Mid – 3×3 (stride S) – 1×1 restore to Out, each followed by BN
// (ReLU between), plus the shortcut. With Mid = C/2 and Out = C its convolutions hold 3.25·C²
// weights where one 3×3 conv at C holds 9·C².
template <std::int64_t Mid, std::int64_t Out, std::int64_t S = 1>
using Bottleneck = Residual<Conv<Mid, Kernel<1>, Stride<1>, Pad<0>, NoBias>, BatchNorm, ReLU,
                            Conv<Mid, Kernel<3>, Stride<S>, Pad<1>, NoBias>, BatchNorm, ReLU,
                            Conv<Out, Kernel<1>, Stride<1>, Pad<0>, NoBias>, BatchNorm>;

}  // namespace strata
