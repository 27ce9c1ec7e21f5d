// strata/net/layer.hpp — the contract every layer meets, and what passes between layers.
//
// A layer *spec* is what a user writes in a network (`Conv<32, Kernel<5>>`, `ReLU`, …). For an
// input sample shape In (a strata::shape<…>) it provides
//
//   template <class In> static constexpr bool accepts;   can it take a sample of shape In?
//   template <class In> struct traits {                  compile-time facts, when accepts<In>
//     using output_shape = shape<…>;
//     static constexpr std::int64_t parameters;          trainable values
//     static constexpr std::int64_t flops;               multiply-adds per sample, forward
//     static constexpr std::int64_t saved;               values per sample kept for backward
//                                                        besides the layer's input and output
//     static std::string describe();                     "conv 5×5 pad 2, 32 filters"
//   };
//   template <class In, class T> struct layer;           the runtime layer for element type T
//
// A runtime layer holds its parameters, their gradients and its workspaces, and provides
//   void initialize(random_engine&);                     He / Xavier initialisation
//   void forward(batch_view<const T> x, batch_view<T> y, context&);
//   void backward(batch_view<const T> x, batch_view<const T> y, batch_view<const T> dy,
//                 batch_view<T> dx, context&);          sets (not adds) parameter gradients;
//                                                        writes dx only if ctx.want_input_gradient
//   template <class F> void visit_parameters(F&& f, std::string_view prefix);  f(parameter_ref<T>)
//   template <class F> void visit_state(F&& f, std::string_view prefix);       f(name, view) for
//                                                        saved non-trainable state (BN statistics)
// Batches are [n, elements of one sample] row-major; a layer reshapes them as it needs (NCHW).
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "strata/core/random.hpp"
#include "strata/core/tensor.hpp"
#include "strata/net/static_shape.hpp"

namespace strata {

// A batch as layers see it: n samples of a flattened sample shape.
template <class T>
using batch_view = TensorView<T, 2, cpu>;

// What a forward or backward pass runs under.
struct context {
  bool training = false;              // batch statistics, dropout
  bool want_input_gradient = true;    // false for the first layer: nobody needs dL/dx
  random_engine* rng = nullptr;       // for dropout; the model owns it
};

// One trainable tensor, as optimizers, savers and freezers see it.
template <class T>
struct parameter_ref {
  std::string name;           // "3.weight": layer index path, then the tensor's role
  TensorView<T, 1> value;
  TensorView<T, 1> gradient;
  bool weight_decay = true;   // biases and normalisation parameters are usually exempt
};

// The parts of the runtime-layer contract a layer without parameters or state has nothing for.
struct stateless_layer {
  void initialize(random_engine&) {}
  template <class F>
  void visit_parameters(F&&, std::string_view = "") {}
  template <class F>
  void visit_state(F&&, std::string_view = "") {}
};

// "3.weight" from prefix "3" and member "weight" ("weight" alone at the top).
inline std::string member_name(std::string_view prefix, std::string_view member) {
  return prefix.empty() ? std::string(member) : std::string(prefix) + "." + std::string(member);
}

// Calls f with one parameter, as an lvalue (so visitors may take `auto&` or `const auto&`).
template <class F, class T>
void visit_parameter(F& f, std::string name, TensorView<T, 1> value, TensorView<T, 1> gradient, bool weight_decay) {
  parameter_ref<T> p{std::move(name), value, gradient, weight_decay};
  f(p);
}

// Compile-time facts of spec L on input In.
template <class L, class In>
using layer_traits = typename L::template traits<In>;
template <class L, class In>
using output_shape_of = typename layer_traits<L, In>::output_shape;
template <class L, class In, class T>
using runtime_layer = typename L::template layer<In, T>;

template <class L>
concept LayerSpec = requires { typename L::spec_tag; };

// What a layer needs of its input, for the message when it does not get it. A spec may name its
// requirement as `template <class In> using expects = …`; otherwise it is `any_shape`.
struct any_shape {};
struct image_or_vector {};
template <std::int64_t MinHeight, std::int64_t MinWidth>
struct image_at_least {};  // [C, H, W] with H >= MinHeight and W >= MinWidth

namespace detail {
template <class L, class In>
struct expectation {
  using type = any_shape;
};
template <class L, class In>
  requires requires { typename L::template expects<In>; }
struct expectation<L, In> {
  using type = typename L::template expects<In>;
};
}  // namespace detail

// The first layer of a network that cannot take its input: its index, the layer, the shape it
// got and what it expects. A Sequential asserts `first_mismatch::ok`, so the compiler's note
// on that one static_assert spells out all four.
template <std::size_t LayerIndex, class Layer, class InputShape, class Expected>
struct shape_mismatch_at {
  static constexpr bool ok = false;
};
struct no_shape_mismatch {
  static constexpr bool ok = true;
};

template <std::size_t Index, class L, class In>
using mismatch_of = shape_mismatch_at<Index, L, In, typename detail::expectation<L, In>::type>;

// Element type of a batch view without const.
template <class T>
using element_of = std::remove_const_t<T>;

}  // namespace strata
