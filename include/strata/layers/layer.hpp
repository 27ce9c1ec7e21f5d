// strata/layers/layer.hpp — the contract every layer meets, and what passes between layers.
//
// A layer *spec* is what a user writes in a network (`Conv<32, Kernel<5>>`, `ReLU`, …): a type
// that declares `using spec_tag = void;` and, for an input sample shape In (a sample_shape<…>),
//
//   template <class In> static constexpr bool accepts;   can it take a sample of shape In?
//   template <class In> struct traits {                  compile-time facts, when accepts<In>
//     using output_shape = sample_shape<…>;
//     static std::string describe();                     "conv 5×5 pad 2, 32 filters"
//     static constexpr std::int64_t parameters;          optional (0): trainable values
//     static constexpr std::int64_t flops;               optional (0): multiply-adds per sample
//     static constexpr std::int64_t saved;               optional (0): values per sample kept for
//                                                        backward besides its input and output
//     using parts = std::tuple<composite_part<…>…>;      optional: a composite's children, with
//     static std::string part_name(std::size_t);        their names, so summaries and saved-model
//                                                        signatures see inside it
//   };
//   template <class In, class T, class D> struct layer;  the runtime layer for precision T on
//                                                        device D (`<In, T>` alone means the CPU)
//
// A runtime layer (RuntimeLayer<R, T, D>) provides
//   void forward(batch_view<const T, D> x, batch_view<T, D> y, context&);
//   void backward(batch_view<const T, D> x, batch_view<const T, D> y, batch_view<const T, D> dy,
//                 batch_view<T, D> dx, context&);       sets (not adds) parameter gradients (may skip
//                                                        them unless ctx.want_parameter_gradients);
//                                                        writes dx only if ctx.want_input_gradient
// and, only where it has something to do (detected, not inherited):
//   void initialize(random_engine&);                     He / Xavier initialisation
//   template <class F> void visit_parameters(F&& f, std::string_view prefix);  f(parameter_ref<T, D>&)
//   template <class F> void visit_state(F&& f, std::string_view prefix);       f(name, view) for
//                                                        saved non-trainable state (BN statistics)
// Batches are [n, elements of one sample] row-major; a layer reshapes them as it needs (NCHW).
// Layers reach kernels only through strata/ops/ (one function per operation, per device).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "strata/core/random.hpp"
#include "strata/core/tensor.hpp"
#include "strata/layers/sample_shape.hpp"

namespace strata {

// A batch as layers see it: n samples of a flattened sample shape, on device D.
template <class T, class D = cpu>
using batch_view = TensorView<T, 2, D>;

// Told during a backward pass when a top-level layer's parameter gradients are final (the last
// layer first): data-parallel training starts summing them over replicas while the layers
// below still run.
struct gradient_listener {
  virtual void layer_done(std::size_t layer) = 0;

 protected:
  ~gradient_listener() = default;
};

// Sums per-channel values over data-parallel replicas, for batch statistics over the global
// batch (synchronised batch norm); absent outside data-parallel training.
struct replica_sums {
  virtual void sum(std::span<float> values) = 0;
  virtual void sum(std::span<double> values) = 0;

 protected:
  ~replica_sums() = default;
};

// What a forward or backward pass runs under.
struct context {
  bool training = false;              // batch statistics, dropout
  bool want_input_gradient = true;    // false for the first layer: nobody needs dL/dx
  random_engine* rng = nullptr;       // for dropout; the model owns it
  bool want_parameter_gradients = true;  // false in a frozen layer: its gradients would go unused
  gradient_listener* listener = nullptr;  // told as top-level layers finish backward (the model's chain only)
  replica_sums* batch_sums = nullptr;     // batch statistics over all replicas (sync batch norm)
};

// One trainable tensor, as optimizers, savers and freezers see it.
template <class T, class D = cpu>
struct parameter_ref {
  std::string name;           // "3.weight": layer index path, then the tensor's role
  TensorView<T, 1, D> value;
  TensorView<T, 1, D> gradient;
  bool weight_decay = true;   // biases and normalisation parameters are usually exempt
  double rate = 1;            // learning-rate multiplier: the layer's own, times the model's (0: frozen)
  // Set for the latent weights of a binary layer, which save as packed signs, `rows` output
  // channels each with its mean |w| as a scale when `scaled` (XNOR-Net).
  struct binarization {
    std::int64_t rows = 0;  // 0: a real parameter
    bool scaled = false;
  } binarized{};
};

// "3.weight" from prefix "3" and member "weight" ("weight" alone at the top).
inline std::string member_name(std::string_view prefix, std::string_view member) {
  return prefix.empty() ? std::string(member) : std::string(prefix) + "." + std::string(member);
}

// Calls f with one parameter, as an lvalue (so visitors may take `auto&` or `const auto&`).
template <class F, class T, class D>
void visit_parameter(F& f, std::string name, TensorView<T, 1, D> value, TensorView<T, 1, D> gradient, bool weight_decay) {
  parameter_ref<T, D> p{std::move(name), value, gradient, weight_decay};
  f(p);
}

// A [n, elements] view of buffer b, growing it only when it is too small (layers' workspaces).
template <class T, class D>
batch_view<T, D> ensure_batch(Tensor<T, 1, D>& b, std::int64_t n, std::int64_t elements) {
  if (b.size() < n * elements) b = Tensor<T, 1, D>::uninitialized(Shape<1>{n * elements});
  return batch_view<T, D>(b.data(), Shape{n, elements});
}

// One child of a composite layer (Chain, Residual, Concat, a user's block): its spec and the
// input shape it gets. A composite's traits list them as `using parts = std::tuple<…>` and name
// them with `static std::string part_name(std::size_t)`.
template <class Spec, class In>
struct composite_part {
  using spec = Spec;
  using input = In;
};

namespace detail {
// Stands in for a layer that breaks the contract, so that the one named static_assert about it
// is the only error.
struct invalid_layer {
  template <class... A>
  void forward(A&&...) {}
  template <class... A>
  void backward(A&&...) {}
};
}  // namespace detail

// ---------------------------------------------------------------------------------------------
// The contract as concepts.

// A layer spec declares itself (`using spec_tag = void;`).
template <class L>
concept LayerSpec = requires { typename L::spec_tag; };

// What a spec's traits must give for an input it accepts.
template <class Tr>
concept LayerTraits = requires {
  typename Tr::output_shape;
  { Tr::describe() } -> std::convertible_to<std::string>;
} && StaticShape<typename Tr::output_shape>;

// Compile-time facts of spec L on input In.
template <class L, class In>
using layer_traits = typename L::template traits<In>;
template <class L, class In>
using output_shape_of = typename layer_traits<L, In>::output_shape;

// The optional costs of a traits type: 0 when it does not say.
template <class Tr>
constexpr std::int64_t parameters_of() {
  if constexpr (requires { Tr::parameters; }) return Tr::parameters;
  else return 0;
}
template <class Tr>
constexpr std::int64_t flops_of() {
  if constexpr (requires { Tr::flops; }) return Tr::flops;
  else return 0;
}
template <class Tr>
constexpr std::int64_t saved_of() {
  if constexpr (requires { Tr::saved; }) return Tr::saved;
  else return 0;
}

namespace detail {
// L::layer<In, T, D>, or L::layer<In, T> for a CPU-only layer written with two parameters.
template <class L, class In, class T, class D>
struct runtime_layer_of;
template <class L, class In, class T, class D>
  requires requires { typename L::template layer<In, T, D>; }
struct runtime_layer_of<L, In, T, D> {
  using type = typename L::template layer<In, T, D>;
};
template <class L, class In, class T, class D>
  requires(!requires { typename L::template layer<In, T, D>; } && std::is_same_v<D, cpu> &&
           requires { typename L::template layer<In, T>; })
struct runtime_layer_of<L, In, T, D> {
  using type = typename L::template layer<In, T>;
};
}  // namespace detail

template <class L, class In, class T, class D = cpu>
using runtime_layer = typename detail::runtime_layer_of<L, In, T, D>::type;

template <class L, class In, class T, class D>
concept HasRuntimeLayer = requires { typename detail::runtime_layer_of<L, In, T, D>::type; };

// A runtime layer for precision T on device D.
template <class R, class T, class D = cpu>
concept RuntimeLayer = requires(R& r, batch_view<const T, D> x, batch_view<T, D> y, context& ctx) {
  r.forward(x, y, ctx);
  r.backward(x, x, x, y, ctx);
};

// The optional members, called where a layer has them.
template <class R>
void initialize_layer(R& r, random_engine& rng) {
  if constexpr (requires { r.initialize(rng); }) r.initialize(rng);
}
template <class R, class F>
void visit_layer_parameters(R& r, F&& f, std::string_view prefix = "") {
  if constexpr (requires { r.visit_parameters(f, prefix); }) r.visit_parameters(f, prefix);
}
template <class R, class F>
void visit_layer_state(R& r, F&& f, std::string_view prefix = "") {
  if constexpr (requires { r.visit_state(f, prefix); }) r.visit_state(f, prefix);
}

// What a layer needs of its input, for the message when it does not get it. A spec may name its
// requirement as `template <class In> using expects = …`; otherwise it is `any_shape`.
struct any_shape {};
struct image_or_vector {};
template <std::int64_t MinHeight, std::int64_t MinWidth>
struct image_at_least {};  // [C, H, W] with H >= MinHeight and W >= MinWidth
template <std::int64_t Multiple, std::int64_t MinHeight, std::int64_t MinWidth>
struct image_with_channels_multiple_of {};  // as image_at_least, and C a multiple of Multiple (groups)

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
// The other ways a layer of a network can break the contract, named the same way.
template <std::size_t LayerIndex, class Layer>
struct not_a_layer_spec_at {  // no `using spec_tag = void;`, or no `accepts<In>`
  static constexpr bool ok = false;
};
template <std::size_t LayerIndex, class Layer, class InputShape>
struct layer_traits_incomplete_at {  // traits<In> lacks output_shape (a sample_shape) or describe()
  static constexpr bool ok = false;
};
template <std::size_t LayerIndex, class Layer, class InputShape, class T, class Device>
struct not_a_runtime_layer_at {  // no layer<In, T, Device> with forward and backward as above
  static constexpr bool ok = false;
};

template <std::size_t Index, class L, class In>
using mismatch_of = shape_mismatch_at<Index, L, In, typename detail::expectation<L, In>::type>;

// Element type of a batch view without const.
template <class T>
using element_of = std::remove_const_t<T>;

}  // namespace strata
