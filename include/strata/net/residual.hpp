// strata/net/residual.hpp — Residual<Block…>: y = block(x) + shortcut(x) (He et al. 2016). The
// shortcut is the identity when the block keeps the shape, else a projection: a 1×1 convolution
// (no bias) with the stride that matches the block's output size, then BatchNorm — ResNet's
// option B (parameters "projection.*" and "projection_bn.*"). A chosen shortcut goes last:
// Residual<Block…, Shortcut<L…>> runs the layers L… on x instead (parameters "shortcut.<i>.*";
// Shortcut<> is the identity); its output must have the block's shape, else one static_assert
// whose note names shortcut_mismatch_at<block output, shortcut output>. No activation after the
// sum: put a ReLU after the Residual.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/branches.hpp"
#include "strata/net/chain.hpp"

namespace strata {

// The shortcut of a Residual, given as its last argument: the layers it runs on the block's
// input (Shortcut<Conv<64, Kernel<1>, Stride<2>>>), or nothing for the identity (Shortcut<>).
template <class... L>
struct Shortcut {
  static constexpr bool identity = sizeof...(L) == 0;
  using chain = std::conditional_t<identity, void, Chain<L...>>;
};

template <class T>
inline constexpr bool is_shortcut_v = false;
template <class... L>
inline constexpr bool is_shortcut_v<Shortcut<L...>> = true;

// What a Residual's note names when it cannot take its input:
template <class BlockOutput>
struct residual_block_output {    // no 1×1 projection reaches the block's output shape
  static constexpr bool ok = false;
};
template <class Failure>
struct in_residual_block {        // the block's own layers fail (Failure: shape_mismatch_at<…> in the block)
  static constexpr bool ok = false;
};
template <class Failure>
struct in_shortcut {              // the chosen shortcut's own layers fail
  static constexpr bool ok = false;
};
template <class BlockOutput, class ShortcutOutput>
struct shortcut_mismatch_at {     // the chosen shortcut's output differs from the block's
  static constexpr bool ok = false;
};

namespace detail {
// layer_traits<L, In>, named only when used.
template <class L, class In>
struct traits_of {
  using type = layer_traits<L, In>;
};

// Residual's arguments: the block's layers, then possibly a Shortcut<…>.
template <class... A>
struct residual_arguments {
  using all = type_list<A...>;
  static constexpr std::size_t count = sizeof...(A);
  static constexpr bool chosen = count > 0 && is_shortcut_v<type_at_t<count == 0 ? 0 : count - 1, type_list<A..., void>>>;
  static constexpr std::size_t block_size = chosen ? count - 1 : count;
  template <class Seq>
  struct block_of;
  template <std::size_t... I>
  struct block_of<std::index_sequence<I...>> {
    using type = Chain<type_at_t<I, all>...>;
  };
  using block = typename block_of<std::make_index_sequence<block_size>>::type;
  using shortcut = std::conditional_t<chosen, type_at_t<count == 0 ? 0 : count - 1, type_list<A..., void>>, void>;
  // A chosen shortcut with layers (not Shortcut<>, not the default).
  static constexpr bool has_layers = [] {
    if constexpr (chosen) return !shortcut::identity;
    else return false;
  }();
  // A Shortcut anywhere but last.
  static constexpr bool misplaced = [] {
    return []<std::size_t... I>(std::index_sequence<I...>) {
      return (is_shortcut_v<type_at_t<I, all>> || ... || false);
    }(std::make_index_sequence<block_size>{});
  }();
};
}  // namespace detail

template <class... Args>
struct Residual {
  using arguments = detail::residual_arguments<Args...>;
  static_assert(arguments::block_size > 0, "strata::Residual: give the block at least one layer");
  static_assert(!arguments::misplaced, "strata::Residual: Shortcut<…> must be the last argument");
  using spec_tag = void;
  using block = typename arguments::block;
  // Chosen shortcut: its layers as a chain (void for Shortcut<> or the default).
  static constexpr bool chosen = arguments::has_layers;
  static constexpr bool explicit_identity = arguments::chosen && !chosen;  // Shortcut<>
  using shortcut_chain = typename std::conditional_t<chosen, typename arguments::shortcut, Shortcut<>>::chain;
  template <class In>
  static constexpr bool shortcut_accepts = [] {
    if constexpr (chosen) return shortcut_chain::template accepts<In>;
    else return false;
  }();

  template <class In>
  struct shortcut {
    using out = typename detail::output_if<block::template accepts<In>, block, In>::type;
    static constexpr bool identity = !chosen && std::is_same_v<In, out>;
    // Projection (the default when shapes differ): both images, stride chosen so a 1×1
    // convolution lands on the output size.
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
    using projection = Conv<out_channels, Kernel<1>, Stride<stride_y, stride_x>, NoBias>;
    static constexpr bool projected = !arguments::chosen && !identity;
    // The chosen shortcut's output (In when it cannot take In).
    using chosen_out = typename detail::output_if<shortcut_accepts<In>, shortcut_chain, In>::type;
  };

  // Why the residual cannot take In, as a type whose ::ok says whether it can.
  template <class In>
  static constexpr auto failure() {
    using sc = shortcut<In>;
    if constexpr (!block::template accepts<In>) {
      return in_residual_block<typename block::template plan<In>::first_mismatch>{};
    } else if constexpr (chosen) {
      if constexpr (!shortcut_accepts<In>)
        return in_shortcut<typename shortcut_chain::template plan<In>::first_mismatch>{};
      else if constexpr (!std::is_same_v<typename sc::chosen_out, typename sc::out>)
        return shortcut_mismatch_at<typename sc::out, typename sc::chosen_out>{};
      else return no_shape_mismatch{};
    } else if constexpr (explicit_identity) {
      if constexpr (!std::is_same_v<In, typename sc::out>) return shortcut_mismatch_at<typename sc::out, In>{};
      else return no_shape_mismatch{};
    } else if constexpr (sc::identity || sc::projectable) {
      return no_shape_mismatch{};
    } else {
      return residual_block_output<typename sc::out>{};
    }
  }

  template <class In>
  static constexpr bool accepts = decltype(failure<In>())::ok;
  template <class In>
  using expects = decltype(failure<In>());

  template <class In>
  struct traits {
    using sc = shortcut<In>;
    using block_traits = layer_traits<block, In>;
    using output_shape = typename sc::out;
    using projection_traits = std::conditional_t<sc::projected, layer_traits<typename sc::projection, In>, void>;
    using shortcut_traits = typename std::conditional_t<chosen, detail::traits_of<shortcut_chain, In>, std::type_identity<void>>::type;
    static constexpr std::int64_t shortcut_parameters = [] {
      if constexpr (sc::projected) return projection_traits::parameters + 2 * output_shape::extents[0];
      else if constexpr (chosen) return parameters_of<shortcut_traits>();
      else return std::int64_t{0};
    }();
    static constexpr std::int64_t parameters = block_traits::parameters + shortcut_parameters;
    static constexpr std::int64_t shortcut_flops = [] {
      if constexpr (sc::projected) return projection_traits::flops + 2 * output_shape::elements;
      else if constexpr (chosen) return flops_of<shortcut_traits>();
      else return std::int64_t{0};
    }();
    static constexpr std::int64_t flops = block_traits::flops + shortcut_flops;
    // The block's own output (before the sum) and the shortcut's: the projection's two outputs,
    // or the chosen chain's output and what it saves.
    static constexpr std::int64_t saved = block_traits::saved + output_shape::elements + [] {
      if constexpr (sc::projected) return 2 * output_shape::elements;
      else if constexpr (chosen) return saved_of<shortcut_traits>() + output_shape::elements;
      else return std::int64_t{0};
    }();
    static std::string describe() {
      if constexpr (chosen) return "residual (chosen shortcut)";
      else return std::string("residual (") + (sc::identity ? "identity" : "1×1 projection + batch norm") + " shortcut)";
    }
    // A composite: the block (and a chosen shortcut) are its parts; the projection is its own (a
    // summary shows it on the residual's row).
    using parts = std::conditional_t<chosen, std::tuple<composite_part<block, In>, composite_part<shortcut_chain, In>>,
                                     std::tuple<composite_part<block, In>>>;
    static std::string part_name(std::size_t i) { return i == 0 ? "block" : "shortcut"; }
  };

  template <class In, class T, class D = cpu>
  struct layer {
    using sc = shortcut<In>;
    using output_shape = typename sc::out;
    static constexpr std::int64_t out_elements = output_shape::elements;
    using no_part = detail::no_part;

    runtime_layer<block, In, T, D> body;
    // The default projection exists only when the shapes differ, the chosen shortcut only when given.
    std::conditional_t<sc::projected, runtime_layer<typename sc::projection, In, T, D>, no_part> projection;
    std::conditional_t<sc::projected, runtime_layer<BatchNorm, output_shape, T, D>, no_part> projection_bn;
    typename std::conditional_t<chosen, detail::runtime_layer_of<shortcut_chain, In, T, D>, std::type_identity<no_part>>::type shortcut_path;
    Tensor<T, 1, D> block_out, projected, normalised, gradient, input_gradient;


    void initialize(random_engine& rng) {
      initialize_layer(body, rng);
      if constexpr (sc::projected) {
        initialize_layer(projection, rng);
        initialize_layer(projection_bn, rng);
      }
      if constexpr (chosen) initialize_layer(shortcut_path, rng);
    }

    void forward(batch_view<const T, D> x, batch_view<T, D> y, context& ctx) {
      const std::int64_t n = x.extent(0);
      batch_view<T, D> b = ensure_batch(block_out, n, out_elements);
      body.forward(x, b, ctx);
      if constexpr (sc::projected) {
        batch_view<T, D> p = ensure_batch(projected, n, out_elements);
        batch_view<T, D> q = ensure_batch(normalised, n, out_elements);
        projection.forward(x, p, ctx);
        projection_bn.forward(p, q, ctx);
        y = b + q;
      } else if constexpr (chosen) {
        batch_view<T, D> s = ensure_batch(projected, n, out_elements);
        shortcut_path.forward(x, s, ctx);
        y = b + s;
      } else {
        y = b + x;
      }
    }

    void backward(batch_view<const T, D> x, batch_view<const T, D>, batch_view<const T, D> dy, batch_view<T, D> dx, context& ctx) {
      const std::int64_t n = x.extent(0);
      const batch_view<const T, D> b(block_out.data(), Shape{n, out_elements});
      // The sum passes dy unchanged to both paths.
      body.backward(x, b, dy, dx, ctx);
      if constexpr (sc::projected) {
        const batch_view<const T, D> p(projected.data(), Shape{n, out_elements});
        const batch_view<const T, D> q(normalised.data(), Shape{n, out_elements});
        batch_view<T, D> dp = ensure_batch(gradient, n, out_elements);
        context inner = ctx;
        inner.want_input_gradient = true;
        projection_bn.backward(p, q, dy, dp, inner);
        shortcut_backward(projection, x, p, dp, dx, ctx);
      } else if constexpr (chosen) {
        const batch_view<const T, D> s(projected.data(), Shape{n, out_elements});
        shortcut_backward(shortcut_path, x, s, dy, dx, ctx);
      } else {
        if (ctx.want_input_gradient) dx += dy;
      }
    }

    template <class F>
    void visit_parameters(F&& f, std::string_view prefix = "") {
      visit_layer_parameters(body, f, member_name(prefix, "block"));
      if constexpr (sc::projected) {
        visit_layer_parameters(projection, f, member_name(prefix, "projection"));
        visit_layer_parameters(projection_bn, f, member_name(prefix, "projection_bn"));
      }
      if constexpr (chosen) visit_layer_parameters(shortcut_path, f, member_name(prefix, "shortcut"));
    }
    template <class F>
    void visit_state(F&& f, std::string_view prefix = "") {
      visit_layer_state(body, f, member_name(prefix, "block"));
      if constexpr (sc::projected) visit_layer_state(projection_bn, f, member_name(prefix, "projection_bn"));
      if constexpr (chosen) visit_layer_state(shortcut_path, f, member_name(prefix, "shortcut"));
    }

   private:
    // The shortcut's backward; its dx is added to the block's, which dx already holds.
    template <class R>
    void shortcut_backward(R& path, batch_view<const T, D> x, batch_view<const T, D> out, batch_view<const T, D> d_out,
                           batch_view<T, D> dx, context& ctx) {
      if (ctx.want_input_gradient) {
        batch_view<T, D> d_in = ensure_batch(input_gradient, x.extent(0), In::elements);
        path.backward(x, out, d_out, d_in, ctx);
        dx += d_in;
      } else {
        path.backward(x, out, d_out, dx, ctx);
      }
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
                            Conv<Channels, Kernel<3>, Pad<1>, NoBias>, BatchNorm>;

// The bottleneck: 1×1 reduce to Mid – 3×3 (stride S) – 1×1 restore to Out, each followed by BN
// (ReLU between), plus the shortcut. With Mid = C/2 and Out = C its convolutions hold 3.25·C²
// weights where one 3×3 conv at C holds 9·C².
template <std::int64_t Mid, std::int64_t Out, std::int64_t S = 1>
using Bottleneck = Residual<Conv<Mid, Kernel<1>, NoBias>, BatchNorm, ReLU,
                            Conv<Mid, Kernel<3>, Stride<S>, Pad<1>, NoBias>, BatchNorm, ReLU,
                            Conv<Out, Kernel<1>, NoBias>, BatchNorm>;

}  // namespace strata
