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

#include "strata/layers/layer.hpp"
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
// Whether L keeps the spec contract on In: 0 not a spec, 1 does not accept In, 2 traits
// incomplete, 3 fine.
template <class L, class In>
constexpr int spec_check() {
  if constexpr (!LayerSpec<L> || !requires { { L::template accepts<In> } -> std::convertible_to<bool>; }) return 0;
  else if constexpr (!L::template accepts<In>) return 1;
  else if constexpr (!LayerTraits<layer_traits<L, In>>) return 2;
  else return 3;
}
template <std::size_t Index, class L, class In, int Check>
using contract_failure = std::conditional_t<
    Check == 0, not_a_layer_spec_at<Index, L>,
    std::conditional_t<Check == 1, mismatch_of<Index, L, In>, layer_traits_incomplete_at<Index, L, In>>>;

template <std::size_t First, class In, class L0, class... Ls>
struct chain_plan<First, In, L0, Ls...> {
  static constexpr int check = spec_check<L0, In>();
  static constexpr bool here = check == 3;
  using rest = std::conditional_t<here, chain_plan<First + 1, typename output_if<here, L0, In>::type, Ls...>,
                                  chain_plan<First + 1, In>>;
  using inputs = typename push_front<typename rest::inputs, In>::type;
  using output = typename rest::output;
  using first_mismatch =
      std::conditional_t<here, typename rest::first_mismatch, contract_failure<First, L0, In, check>>;
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

    // Layers whose facts exist: all of them, or none when a layer cannot take its input (its one
    // named error is the chain's; nothing after it is computed, so nothing cascades).
    static constexpr std::size_t counted = plan<In>::ok ? size : 0;

    template <class F>
    static constexpr std::int64_t sum(F f) {
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return (f(layer_traits_at<I>{}) + ... + std::int64_t{0});
      }(std::make_index_sequence<counted>{});
    }
    static constexpr std::int64_t parameters = sum([](auto t) { return parameters_of<decltype(t)>(); });
    static constexpr std::int64_t flops = sum([](auto t) { return flops_of<decltype(t)>(); });
    // What the chain keeps for backward: each layer's own saved values, and the outputs of all
    // but the last layer (the caller keeps the last output).
    static constexpr std::int64_t saved =
        counted ? sum([](auto t) { return saved_of<decltype(t)>() + decltype(t)::output_shape::elements; }) - output_shape::elements
                : 0;
    static std::string describe() { return "chain of " + std::to_string(size) + " layers"; }

    // A composite: its parts, named by index; a chain adds nothing of its own to a summary.
    template <class Seq>
    struct parts_of;
    template <std::size_t... I>
    struct parts_of<std::index_sequence<I...>> {
      using type = std::tuple<composite_part<type_at_t<I, layers>, type_at_t<I, inputs>>...>;
    };
    using parts = typename parts_of<std::make_index_sequence<counted>>::type;
    static std::string part_name(std::size_t i) { return std::to_string(i); }
    static constexpr bool transparent = true;
  };

  template <class In, class T, class D = cpu>
  struct layer {
    using inputs = typename plan<In>::inputs;
    using output_shape = typename plan<In>::output;
    template <std::size_t I>
    static constexpr bool runtime_ok = HasRuntimeLayer<type_at_t<I, layers>, type_at_t<I, inputs>, T, D>;
    // The first part without a runtime layer for (T, D), named in the one static_assert below.
    template <std::size_t I>
    static constexpr auto first_runtime_failure() {
      if constexpr (I == size) return no_shape_mismatch{};
      else if constexpr (!runtime_ok<I>) return not_a_runtime_layer_at<I, type_at_t<I, layers>, type_at_t<I, inputs>, T, D>{};
      else if constexpr (!RuntimeLayer<runtime_layer<type_at_t<I, layers>, type_at_t<I, inputs>, T, D>, T, D>)
        return not_a_runtime_layer_at<I, type_at_t<I, layers>, type_at_t<I, inputs>, T, D>{};
      else return first_runtime_failure<I + 1>();
    }
    static_assert(decltype(first_runtime_failure<0>())::ok,
                  "strata: a layer has no runtime layer for this precision and device, or its forward/backward "
                  "do not match the contract in strata/layers/layer.hpp (the note names not_a_runtime_layer_at<index, "
                  "layer, input shape, precision, device>)");
    template <std::size_t I>
    using layer_at = typename std::conditional_t<runtime_ok<I>, typename detail::runtime_layer_of<type_at_t<I, layers>, type_at_t<I, inputs>, T, D>,
                                        std::type_identity<detail::invalid_layer>>::type;
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
    std::array<Tensor<T, 1, D>, size> outputs;  // outputs[i] for i < size - 1; the last is the caller's
    std::array<Tensor<T, 1, D>, 2> gradients;   // ping-pong for dL/d(intermediate), sized for the largest
    // Parts whose parameters are all frozen (set by Model from its learning-rate rules). A frozen
    // part runs as in inference (batch norm on its running statistics, no dropout), computes no
    // parameter gradients, and when everything below it is frozen too the backward pass stops
    // above it: a frozen body costs one forward pass.
    std::array<bool, size> frozen{};

    template <std::size_t I>
    auto& part() {
      return std::get<I>(parts);
    }

    // For tools that look between the parts after a pass (train/divergence.hpp): each part's
    // values per sample in and out, its description, its output of the last forward pass (part
    // i < size − 1; the last part's output is the caller's) and, during a backward pass as part i
    // finishes (gradient_listener::layer_done), the dL/d(input) it wrote (i ≥ 1, when computed).
    static constexpr std::array<std::int64_t, size> input_elements = []<std::size_t... I>(std::index_sequence<I...>) {
      return std::array<std::int64_t, size>{type_at_t<I, inputs>::elements...};
    }(std::make_index_sequence<size>{});
    static constexpr std::array<std::int64_t, size> output_elements = []<std::size_t... I>(std::index_sequence<I...>) {
      return std::array<std::int64_t, size>{output_at<I>::elements...};
    }(std::make_index_sequence<size>{});
    static std::string describe_part(std::size_t i) {
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        std::string d;
        ((i == I ? (void)(d = layer_traits<type_at_t<I, layers>, type_at_t<I, inputs>>::describe()) : (void)0), ...);
        return d;
      }(std::make_index_sequence<size>{});
    }
    batch_view<const T, D> output_of(std::size_t i, std::int64_t n) const {
      return batch_view<const T, D>(outputs[i].data(), Shape{n, output_elements[i]});
    }
    batch_view<const T, D> input_gradient_of(std::size_t i, std::int64_t n) const {
      return batch_view<const T, D>(gradients[i % 2].data(), Shape{n, input_elements[i]});
    }

    void initialize(random_engine& rng) {
      std::apply([&](auto&... p) { (initialize_layer(p, rng), ...); }, parts);
    }

    void forward(batch_view<const T, D> x, batch_view<T, D> y, context& ctx) {
      const std::int64_t n = x.extent(0);
      forward_from<0>(x, y, n, ctx);
    }

    void backward(batch_view<const T, D> x, batch_view<const T, D> y, batch_view<const T, D> dy, batch_view<T, D> dx,
                  context& ctx) {
      backward_from<size - 1>(x, y, dy, dx, x.extent(0), ctx);
    }

    template <class F>
    void visit_parameters(F&& f, std::string_view prefix = "") {
      visit_each([&](auto& p, const std::string& name) { visit_layer_parameters(p, f, name); }, prefix);
    }
    template <class F>
    void visit_state(F&& f, std::string_view prefix = "") {
      visit_each([&](auto& p, const std::string& name) { visit_layer_state(p, f, name); }, prefix);
    }

   private:
    template <class G>
    void visit_each(G&& g, std::string_view prefix) {
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (g(std::get<I>(parts), std::string(prefix) + (prefix.empty() ? "" : ".") + std::to_string(I)), ...);
      }(std::make_index_sequence<size>{});
    }

    template <std::size_t I>
    batch_view<T, D> output_view(std::int64_t n) {
      return ensure_batch(outputs[I], n, output_at<I>::elements);
    }

    // The context part I runs under: a frozen part as in inference, without parameter gradients.
    context part_context(std::size_t i, const context& ctx) const {
      context c = ctx;
      c.listener = nullptr;  // the listener hears of top-level layers only
      if (frozen[i]) {
        c.training = false;
        c.want_parameter_gradients = false;
      }
      return c;
    }

    template <std::size_t I>
    void forward_from(batch_view<const T, D> x, batch_view<T, D> y, std::int64_t n, context& ctx) {
      context c = part_context(I, ctx);
      if constexpr (I + 1 == size) {
        std::get<I>(parts).forward(x, y, c);
      } else {
        batch_view<T, D> out = output_view<I>(n);
        std::get<I>(parts).forward(x, out, c);
        forward_from<I + 1>(out, y, n, ctx);
      }
    }

    // Whether some part below I has parameters to train.
    bool trainable_below(std::size_t i) const {
      for (std::size_t k = 0; k < i; ++k)
        if (!frozen[k]) return true;
      return false;
    }

    template <std::size_t I>
    void backward_from(batch_view<const T, D> x, batch_view<const T, D> y, batch_view<const T, D> dy, batch_view<T, D> dx,
                       std::int64_t n, context& ctx) {
      // This layer's input and output as the forward pass left them.
      const batch_view<const T, D> in =
          I == 0 ? x : batch_view<const T, D>(outputs[I == 0 ? 0 : I - 1].data(), Shape{n, type_at_t<I, inputs>::elements});
      const batch_view<const T, D> out =
          I + 1 == size ? y : batch_view<const T, D>(outputs[I].data(), Shape{n, output_at<I>::elements});
      if constexpr (I == 0) {
        context c = part_context(0, ctx);
        std::get<0>(parts).backward(in, out, dy, dx, c);
        if (ctx.listener) ctx.listener->layer_done(0);
      } else {
        context inner = part_context(I, ctx);
        // Below a frozen stretch that reaches the input, nobody needs this part's dL/dx.
        const bool go_on = ctx.want_input_gradient || trainable_below(I);
        if (!go_on) {
          inner.want_input_gradient = false;
          std::get<I>(parts).backward(in, out, dy, batch_view<T, D>{}, inner);
          if (ctx.listener) ctx.listener->layer_done(I);
          return;
        }
        batch_view<T, D> d_in = ensure_batch(gradients[I % 2], n, type_at_t<I, inputs>::elements);
        inner.want_input_gradient = true;
        std::get<I>(parts).backward(in, out, dy, d_in, inner);
        if (ctx.listener) ctx.listener->layer_done(I);
        backward_from<I - 1>(x, y, d_in, dx, n, ctx);
      }
    }
  };
};

}  // namespace strata
