// strata/net/chain.hpp — Chain<L...>: layers applied one after another, itself a layer. Shapes
// flow through it at compile time; the first layer that cannot take its input stops the flow
// with one static_assert naming its index and the shape. At run time it keeps each layer's
// output for the backward pass and ping-pongs gradients through two buffers.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "strata/net/layer.hpp"
#include "strata/net/type_list.hpp"

namespace strata {

namespace detail {

// The output of L on In, or In itself when L cannot take In (so one error does not cascade).
template <bool Ok, class L, class In>
struct output_if {
  using type = In;
};
template <class L, class In>
struct output_if<true, L, In> {
  using type = output_shape_of<L, In>;
};

// Walks the layers from In: the input shape of each, the final output, and the first layer that
// cannot take its input (checking stops there). Index counts layers from First.
template <std::size_t First, class In, class... L>
struct chain_plan {
  using inputs = type_list<>;
  using output = In;
  using first_mismatch = no_shape_mismatch;
  static constexpr bool ok = true;
};
template <std::size_t First, class In, class L0, class... Ls>
struct chain_plan<First, In, L0, Ls...> {
  static constexpr bool here = L0::template accepts<In>;
  using rest = std::conditional_t<here, chain_plan<First + 1, typename output_if<here, L0, In>::type, Ls...>,
                                  chain_plan<First + 1, In>>;
  using inputs = typename push_front<typename rest::inputs, In>::type;
  using output = typename rest::output;
  using first_mismatch = std::conditional_t<here, typename rest::first_mismatch, mismatch_of<First, L0, In>>;
  static constexpr bool ok = here && rest::ok;
};

}  // namespace detail

template <class... L>
struct Chain {
  static_assert(sizeof...(L) > 0, "strata::Chain: give at least one layer");
  using spec_tag = void;
  using layers = type_list<L...>;
  static constexpr std::size_t size = sizeof...(L);

  template <class In>
  using plan = detail::chain_plan<0, In, L...>;

  template <class In>
  static constexpr bool accepts = plan<In>::ok;

  template <class In>
  struct traits {
    using inputs = typename plan<In>::inputs;
    using output_shape = typename plan<In>::output;
    template <std::size_t I>
    using layer_traits_at = layer_traits<type_at_t<I, layers>, type_at_t<I, inputs>>;

    template <class F>
    static constexpr std::int64_t sum(F f) {
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return (f(layer_traits_at<I>{}) + ... + std::int64_t{0});
      }(std::make_index_sequence<size>{});
    }
    static constexpr std::int64_t parameters = sum([](auto t) { return decltype(t)::parameters; });
    static constexpr std::int64_t flops = sum([](auto t) { return decltype(t)::flops; });
    // What the chain keeps for backward: each layer's own saved values, and the outputs of all
    // but the last layer (the caller keeps the last output).
    static constexpr std::int64_t saved =
        sum([](auto t) { return decltype(t)::saved + decltype(t)::output_shape::elements; }) - output_shape::elements;
    static std::string describe() { return "chain of " + std::to_string(size) + " layers"; }
  };

  template <class In, class T>
  struct layer {
    using inputs = typename plan<In>::inputs;
    using output_shape = typename plan<In>::output;
    template <std::size_t I>
    using layer_at = runtime_layer<type_at_t<I, layers>, type_at_t<I, inputs>, T>;
    template <std::size_t I>
    using output_at = output_shape_of<type_at_t<I, layers>, type_at_t<I, inputs>>;

    template <class Seq>
    struct tuple_of;
    template <std::size_t... I>
    struct tuple_of<std::index_sequence<I...>> {
      using type = std::tuple<layer_at<I>...>;
    };
    using tuple_type = typename tuple_of<std::make_index_sequence<size>>::type;

    tuple_type parts;
    std::array<Tensor<T, 1>, size> outputs;  // outputs[i] for i < size - 1; the last is the caller's
    std::array<Tensor<T, 1>, 2> gradients;   // ping-pong for dL/d(intermediate), sized for the largest

    template <std::size_t I>
    auto& part() {
      return std::get<I>(parts);
    }

    void initialize(random_engine& rng) {
      std::apply([&](auto&... p) { (p.initialize(rng), ...); }, parts);
    }

    void forward(batch_view<const T> x, batch_view<T> y, context& ctx) {
      const std::int64_t n = x.extent(0);
      forward_from<0>(x, y, n, ctx);
    }

    void backward(batch_view<const T> x, batch_view<const T> y, batch_view<const T> dy, batch_view<T> dx,
                  context& ctx) {
      backward_from<size - 1>(x, y, dy, dx, x.extent(0), ctx);
    }

    template <class F>
    void visit_parameters(F&& f, std::string_view prefix = "") {
      visit_each([&](auto& p, const std::string& name) { p.visit_parameters(f, name); }, prefix);
    }
    template <class F>
    void visit_state(F&& f, std::string_view prefix = "") {
      visit_each([&](auto& p, const std::string& name) { p.visit_state(f, name); }, prefix);
    }

   private:
    template <class G>
    void visit_each(G&& g, std::string_view prefix) {
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (g(std::get<I>(parts), std::string(prefix) + (prefix.empty() ? "" : ".") + std::to_string(I)), ...);
      }(std::make_index_sequence<size>{});
    }

    // A [n, elements] view of buffer b, growing it only when it is too small.
    static batch_view<T> ensure(Tensor<T, 1>& b, std::int64_t n, std::int64_t elements) {
      if (b.size() < n * elements) b = Tensor<T, 1>::uninitialized(Shape<1>{n * elements});
      return batch_view<T>(b.data(), Shape{n, elements});
    }

    template <std::size_t I>
    batch_view<T> output_view(std::int64_t n) {
      return ensure(outputs[I], n, output_at<I>::elements);
    }

    template <std::size_t I>
    void forward_from(batch_view<const T> x, batch_view<T> y, std::int64_t n, context& ctx) {
      if constexpr (I + 1 == size) {
        std::get<I>(parts).forward(x, y, ctx);
      } else {
        batch_view<T> out = output_view<I>(n);
        std::get<I>(parts).forward(x, out, ctx);
        forward_from<I + 1>(out, y, n, ctx);
      }
    }

    template <std::size_t I>
    void backward_from(batch_view<const T> x, batch_view<const T> y, batch_view<const T> dy, batch_view<T> dx,
                       std::int64_t n, context& ctx) {
      // This layer's input and output as the forward pass left them.
      const batch_view<const T> in =
          I == 0 ? x : batch_view<const T>(outputs[I == 0 ? 0 : I - 1].data(), Shape{n, type_at_t<I, inputs>::elements});
      const batch_view<const T> out =
          I + 1 == size ? y : batch_view<const T>(outputs[I].data(), Shape{n, output_at<I>::elements});
      if constexpr (I == 0) {
        std::get<0>(parts).backward(in, out, dy, dx, ctx);
      } else {
        batch_view<T> d_in = ensure(gradients[I % 2], n, type_at_t<I, inputs>::elements);
        context inner = ctx;
        inner.want_input_gradient = true;
        std::get<I>(parts).backward(in, out, dy, d_in, inner);
        backward_from<I - 1>(x, y, d_in, dx, n, ctx);
      }
    }
  };
};

}  // namespace strata
