// strata/net/inference.hpp — Inference<Net, T>: a trained model frozen into a plan for fast
// forward passes. Batch norm is folded into the convolution or dense layer before it, that layer's
// bias and a following ReLU or ReLU6 run in its kernel's epilogue, 1×1 convolutions and dense
// layers run on prepacked weights, activations ping-pong between two buffers per chain, and each
// batch size gets its algorithm choices once.
//
//   Model<Net, float> model;  …train or load…
//   Inference engine(model);          // a snapshot: later training does not reach it
//   auto logits = engine.forward(x);  // [n, outputs], valid until the next forward
//   engine.refresh(model);            // take the model's current weights
//
// Layers that fuse nothing run as the model runs them in inference mode, on the engine's own
// copy of their parameters. CPU, float and double.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/parallel.hpp"
#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/depthwise_conv.hpp"
#include "strata/layers/relu.hpp"
#include "strata/layers/relu6.hpp"
#include "strata/net/add.hpp"
#include "strata/net/chain.hpp"
#include "strata/net/concat.hpp"
#include "strata/net/model.hpp"
#include "strata/net/residual.hpp"
#include "strata/net/type_list.hpp"
#include "strata/ops/inference.hpp"

namespace strata {

namespace detail::inference {

// ---------------------------------------------------------------------------------------------
// What fuses: a head (a convolution or a dense layer), then optionally a batch norm, then
// optionally an activation that is a clamp.

enum class head { none, conv, depthwise, dense };

template <class L, class In>
struct head_of {
  static constexpr head kind = head::none;
};
// Ungrouped convolutions, and depthwise ones that run the depthwise kernel (automatic algorithm).
template <std::int64_t F, class... O, class In>
struct head_of<Conv<F, O...>, In> {
  using spec = Conv<F, O...>;
  static constexpr bool depthwise =
      spec::groups > 1 && spec::template geometry<In>().is_depthwise() && std::is_same_v<typename spec::algorithm, algo::automatic>;
  static constexpr head kind = spec::groups == 1 ? head::conv : (depthwise ? head::depthwise : head::none);
};
template <class... O, class In>
struct head_of<DepthwiseConv<O...>, In> {
  static constexpr head kind = head::depthwise;
};
template <std::int64_t N, class... O, class In>
struct head_of<Dense<N, O...>, In> {
  static constexpr head kind = head::dense;
};

template <class L>
inline constexpr bool is_batch_norm = false;
template <double M, double E>
inline constexpr bool is_batch_norm<BatchNormalization<M, E>> = true;

// An activation that is min(max(x, lo), hi): ReLU and ReLU6 (anything else, or void: no clamp).
template <class L>
struct clamp_of {
  static constexpr bool fusable = false;
  static constexpr double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  static constexpr const char* name = "";
};
template <>
struct clamp_of<ReLU> {
  static constexpr bool fusable = true;
  static constexpr double lo = 0, hi = std::numeric_limits<double>::infinity();
  static constexpr const char* name = "relu";
};
template <>
struct clamp_of<ReLU6> {
  static constexpr bool fusable = true;
  static constexpr double lo = 0, hi = 6;
  static constexpr const char* name = "relu6";
};

// Every parameter and state tensor of `from` into the same-typed `to`, in visiting order.
template <class T, class R>
void copy_layer_values(R& from, R& to) {
  std::vector<TensorView<T, 1>> source, target;
  visit_layer_parameters(from, [&](parameter_ref<T, cpu>& p) { source.push_back(p.value); });
  visit_layer_parameters(to, [&](parameter_ref<T, cpu>& p) { target.push_back(p.value); });
  visit_layer_state(from, [&](const std::string&, TensorView<T, 1> v) { source.push_back(v); });
  visit_layer_state(to, [&](const std::string&, TensorView<T, 1> v) { target.push_back(v); });
  for (std::size_t i = 0; i < source.size(); ++i) std::copy(source[i].data(), source[i].data() + source[i].size(), target[i].data());
}

inline context inference_context() {
  context c;
  c.training = false;
  c.want_input_gradient = false;
  c.want_parameter_gradients = false;
  return c;
}

// ---------------------------------------------------------------------------------------------
// Nodes: node<Spec, In, T> runs one layer (or a composite) of the network in inference.
//   void load(runtime_layer<Spec, In, T>& source);   takes (and folds) the source's values
//   void forward(const T* x, T* y, std::int64_t n);
//   static constexpr int fused;                       layers merged away by fusion, below it
//   void describe(std::string& out, const std::string& path, int depth);

// Any layer: its own copy of the runtime layer, run as the model runs it in inference mode.
template <class Spec, class In, class T>
struct node {
  using R = runtime_layer<Spec, In, T, cpu>;
  using out_shape = output_shape_of<Spec, In>;
  static constexpr int fused = 0;
  R layer{};

  void load(R& source) { copy_layer_values<T>(source, layer); }
  void forward(const T* x, T* y, std::int64_t n) {
    context c = inference_context();
    layer.forward(batch_view<const T>(x, Shape{n, In::elements}), batch_view<T>(y, Shape{n, out_shape::elements}), c);
  }
  static void describe(std::string& out, const std::string& path, int depth) {
    out += std::string(std::size_t(2 * depth), ' ') + path + ": " + layer_traits<Spec, In>::describe() + "\n";
  }
};

// A head with its batch norm (BN: the spec, or void) and clamp activation (Act, or void), folded:
// W' = W·γ/σ per output channel, b' = (b − μ)·γ/σ + β, and y = clamp(W' ⋆ x + b').
template <class Head, class In, class BN, class Act, class T>
struct fused_node {
  static constexpr head kind = head_of<Head, In>::kind;
  using head_layer = runtime_layer<Head, In, T, cpu>;
  using out_shape = output_shape_of<Head, In>;
  static constexpr bool has_bn = !std::is_void_v<BN>;
  static constexpr bool has_act = !std::is_void_v<Act>;
  static constexpr int fused = int(has_bn) + int(has_act);
  static constexpr std::int64_t channels = out_shape::extents[0];
  static constexpr std::int64_t spatial = out_shape::elements / channels;

  static constexpr kernels::conv_geometry geometry() {
    if constexpr (kind == head::dense) return {};
    else return Head::template geometry<In>();
  }
  static constexpr kernels::conv_geometry g = geometry();
  // 1×1, no padding, one group, automatic algorithm: the pointwise kernel on prepacked weights.
  static constexpr bool pointwise = [] {
    if constexpr (kind == head::conv)
      return g.R == 1 && g.S == 1 && g.pad_y == 0 && g.pad_x == 0 && std::is_same_v<typename Head::algorithm, algo::automatic>;
    else
      return false;
  }();
  static constexpr T lo = T(clamp_of<Act>::lo), hi = T(clamp_of<Act>::hi);

  Tensor<T, 1> weight, bias;  // folded; weight in the kernel's layout (packed for pointwise)
  bool with_bias = false;
  // The convolution algorithm's state (choice, transformed filters) per batch size: plans.
  std::vector<std::pair<std::int64_t, ops::conv_state<cpu, T>>> plans;

  template <class BNLayer>
  void load(head_layer& h, BNLayer* bn) {
    const std::int64_t per_channel = h.weight.size() / channels;
    std::vector<double> scale(std::size_t(channels), 1.0), shift(std::size_t(channels), 0.0);
    if constexpr (has_bn) {
      for (std::int64_t k = 0; k < channels; ++k) {
        const double s = double(bn->gamma.data()[k]) / std::sqrt(double(bn->running_var.data()[k]) + BN::epsilon);
        scale[std::size_t(k)] = s;
        shift[std::size_t(k)] = double(bn->beta.data()[k]) - double(bn->running_mean.data()[k]) * s;
      }
    }
    Tensor<T, 1> folded = Tensor<T, 1>::uninitialized(Shape<1>{h.weight.size()});
    for (std::int64_t k = 0; k < channels; ++k)
      for (std::int64_t i = 0; i < per_channel; ++i)
        folded.data()[k * per_channel + i] = T(double(h.weight.data()[k * per_channel + i]) * scale[std::size_t(k)]);
    with_bias = has_bn || h.bias.size() > 0;
    bias = Tensor<T, 1>::uninitialized(Shape<1>{with_bias ? channels : 0});
    for (std::int64_t k = 0; with_bias && k < channels; ++k) {
      const double b = h.bias.size() > 0 ? double(h.bias.data()[k]) : 0.0;
      bias.data()[k] = T(b * scale[std::size_t(k)] + shift[std::size_t(k)]);
    }
    if constexpr (pointwise) {
      weight = Tensor<T, 1>::uninitialized(Shape<1>{ops::pointwise_packed_size<T>(cpu{}, g.K, g.C)});
      ops::pack_pointwise_weights(cpu{}, g.K, g.C, folded.data(), weight.data());
    } else if constexpr (kind == head::dense) {
      weight = Tensor<T, 1>::uninitialized(Shape<1>{ops::dense_packed_size<T>(cpu{}, channels, In::elements)});
      ops::pack_dense_weights(cpu{}, channels, In::elements, folded.data(), weight.data());
    } else {
      weight = std::move(folded);
    }
    plans.clear();
  }

  ops::conv_state<cpu, T>& plan_for(std::int64_t n) {
    for (auto& [batch, state] : plans)
      if (batch == n) return state;
    plans.emplace_back(n, ops::conv_state<cpu, T>{});
    auto& s = plans.back().second;
    s.training = false;
    s.layer = layer_traits<Head, In>::describe() + " (inference)";
    return s;
  }

  void forward(const T* x, T* y, std::int64_t n) {
    const T* b = with_bias ? bias.data() : nullptr;
    if constexpr (kind == head::depthwise) {
      ops::depthwise_conv2d_forward(cpu{}, g, n, x, weight.data(), b, y, lo, hi);
    } else if constexpr (pointwise) {
      ops::pointwise_conv2d_forward(cpu{}, g, n, x, weight.data(), b, y, lo, hi);
    } else if constexpr (kind == head::conv) {
      ops::conv2d_forward(cpu{}, typename Head::algorithm{}, g, n, x, weight.data(), b, y, plan_for(n));
      if constexpr (has_act) ops::bias_clamp(cpu{}, y, n, channels, spatial, static_cast<const T*>(nullptr), lo, hi);
    } else {  // dense: y = clamp(x·Wᵀ + b)
      ops::dense_forward(cpu{}, n, In::elements, channels, x, weight.data(), b, y, lo, hi);
    }
  }

  static void describe(std::string& out, const std::string& path, int depth) {
    std::string d = layer_traits<Head, In>::describe();
    if constexpr (has_bn) d += " + batch norm (folded)";
    if constexpr (has_act) d += std::string(" + ") + clamp_of<Act>::name;
    const char* how = kind == head::depthwise ? "depthwise kernel" : pointwise ? "pointwise kernel, prepacked" : kind == head::dense ? "dense kernel, prepacked" : "convolution algorithm";
    out += std::string(std::size_t(2 * depth), ' ') + path + ": " + d + "  [" + how + (fused ? ", fused" : "") + "]\n";
  }
};

// ---------------------------------------------------------------------------------------------
// Chains: steps of one layer, or a head with what fuses into it; activations alternate between
// two buffers sized for the largest intermediate.

template <std::size_t First, std::size_t Count>
struct step {
  static constexpr std::size_t first = First, count = Count;
};

template <class Layers, class Inputs, std::size_t I>
constexpr std::size_t fusion_length() {
  constexpr std::size_t size = Layers::size;
  if constexpr (head_of<type_at_t<I, Layers>, type_at_t<I, Inputs>>::kind == head::none) {
    return 1;
  } else {
    constexpr std::size_t with_bn = I + 1 < size && is_batch_norm<type_at_t<(I + 1 < size ? I + 1 : I), Layers>> ? 2 : 1;
    constexpr std::size_t next = I + with_bn;
    if constexpr (next < size) return with_bn + (clamp_of<type_at_t<(next < size ? next : I), Layers>>::fusable ? 1 : 0);
    else return with_bn;
  }
}

template <class Layers, class Inputs, std::size_t I, bool End = (I >= Layers::size)>
struct steps_from {
  using type = type_list<>;
};
template <class Layers, class Inputs, std::size_t I>
struct steps_from<Layers, Inputs, I, false> {
  static constexpr std::size_t count = fusion_length<Layers, Inputs, I>();
  using type = typename push_front<typename steps_from<Layers, Inputs, I + count>::type, step<I, count>>::type;
};

template <class Layers, class Inputs, class Step, class T>
struct step_node {
  using L = type_at_t<Step::first, Layers>;
  using In = type_at_t<Step::first, Inputs>;
  static constexpr bool is_fused = head_of<L, In>::kind != head::none;
  static constexpr std::size_t second = Step::count >= 2 ? Step::first + 1 : Step::first;
  using bn = std::conditional_t<(Step::count >= 2 && is_batch_norm<type_at_t<second, Layers>>), type_at_t<second, Layers>, void>;
  static constexpr std::size_t act_at = Step::first + Step::count - 1;
  using act = std::conditional_t<(Step::count >= 2 && clamp_of<type_at_t<act_at, Layers>>::fusable), type_at_t<act_at, Layers>, void>;
  using type = std::conditional_t<is_fused, fused_node<L, In, bn, act, T>, node<L, In, T>>;
};

template <class... L, class In, class T>
struct node<Chain<L...>, In, T> {
  using chain = Chain<L...>;
  using R = runtime_layer<chain, In, T, cpu>;
  using layers = type_list<L...>;
  using inputs = typename chain::template plan<In>::inputs;
  using out_shape = output_shape_of<chain, In>;
  using steps = typename steps_from<layers, inputs, 0>::type;
  static constexpr std::size_t step_count = steps::size;

  template <class List>
  struct nodes_of;
  template <class... S>
  struct nodes_of<type_list<S...>> {
    using type = std::tuple<typename step_node<layers, inputs, S, T>::type...>;
  };
  using nodes_type = typename nodes_of<steps>::type;
  nodes_type nodes;
  Tensor<T, 1> buffers[2];

  template <std::size_t K>
  using step_at = type_at_t<K, steps>;
  // The output shape of step K: the input of the layer after it, or the chain's output.
  template <std::size_t K>
  static constexpr std::int64_t output_elements() {
    constexpr std::size_t after = step_at<K>::first + step_at<K>::count;
    if constexpr (after < sizeof...(L)) return type_at_t<after, inputs>::elements;
    else return out_shape::elements;
  }
  static constexpr std::int64_t largest_intermediate = [] {
    return []<std::size_t... K>(std::index_sequence<K...>) {
      std::int64_t m = 0;
      ((m = K + 1 < step_count ? std::max(m, output_elements<K>()) : m), ...);
      return m;
    }(std::make_index_sequence<step_count>{});
  }();
  // Layers merged away below this chain: each step's own count.
  static constexpr int fused = [] {
    return []<std::size_t... K>(std::index_sequence<K...>) {
      return (std::tuple_element_t<K, nodes_type>::fused + ... + 0);
    }(std::make_index_sequence<step_count>{});
  }();

  void load(R& source) {
    [&]<std::size_t... K>(std::index_sequence<K...>) { (load_step<K>(source), ...); }(std::make_index_sequence<step_count>{});
  }
  template <std::size_t K>
  void load_step(R& source) {
    using S = step_at<K>;
    auto& n = std::get<K>(nodes);
    using N = std::remove_reference_t<decltype(n)>;
    if constexpr (requires { N::kind; }) {
      if constexpr (N::has_bn) n.load(source.template part<S::first>(), &source.template part<S::first + 1>());
      else n.load(source.template part<S::first>(), static_cast<int*>(nullptr));
    } else {
      n.load(source.template part<S::first>());
    }
  }

  void forward(const T* x, T* y, std::int64_t n) {
    if constexpr (step_count > 1)
      for (auto& b : buffers)
        if (b.size() < n * largest_intermediate) b = Tensor<T, 1>::uninitialized(Shape<1>{n * largest_intermediate});
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      const T* in = x;
      ((run_step<K>(in, y, n)), ...);
    }(std::make_index_sequence<step_count>{});
  }
  template <std::size_t K>
  void run_step(const T*& in, T* y, std::int64_t n) {
    T* out = K + 1 == step_count ? y : buffers[K % 2].data();
    std::get<K>(nodes).forward(in, out, n);
    in = out;
  }

  static void describe(std::string& out, const std::string& path, int depth) {
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      ((std::tuple_element_t<K, nodes_type>::describe(
           out, (path.empty() ? "" : path + ".") + std::to_string(step_at<K>::first) +
                    (step_at<K>::count > 1 ? "–" + std::to_string(step_at<K>::first + step_at<K>::count - 1) : ""),
           depth)),
       ...);
    }(std::make_index_sequence<step_count>{});
  }
};

// Residuals: the block as a chain, the shortcut (identity, projection with its batch norm folded,
// or a chosen chain) into a buffer, then the sum.
template <class... A, class In, class T>
struct node<Residual<A...>, In, T> {
  using spec = Residual<A...>;
  using R = runtime_layer<spec, In, T, cpu>;
  using sc = typename spec::template shortcut<In>;
  using out_shape = typename sc::out;
  node<typename spec::block, In, T> block;
  using shortcut_node =
      std::conditional_t<sc::projected, fused_node<typename sc::projection, In, BatchNorm, void, T>,
                         std::conditional_t<spec::chosen, node<typename spec::shortcut_chain, In, T>, detail::no_part>>;
  shortcut_node shortcut;
  Tensor<T, 1> shortcut_out;
  static constexpr int fused = decltype(block)::fused + (sc::projected ? 1 : 0) + [] {
    if constexpr (spec::chosen) return shortcut_node::fused;
    else return 0;
  }();

  void load(R& source) {
    block.load(source.body);
    if constexpr (sc::projected) shortcut.load(source.projection, &source.projection_bn);
    else if constexpr (spec::chosen) shortcut.load(source.shortcut_path);
  }
  void forward(const T* x, T* y, std::int64_t n) {
    block.forward(x, y, n);
    if constexpr (sc::projected || spec::chosen) {
      if (shortcut_out.size() < n * out_shape::elements) shortcut_out = Tensor<T, 1>::uninitialized(Shape<1>{n * out_shape::elements});
      shortcut.forward(x, shortcut_out.data(), n);
      ops::add_into(cpu{}, y, static_cast<const T*>(shortcut_out.data()), n * out_shape::elements);
    } else {
      ops::add_into(cpu{}, y, x, n * out_shape::elements);
    }
  }
  static void describe(std::string& out, const std::string& path, int depth) {
    out += std::string(std::size_t(2 * depth), ' ') + path + ": " + layer_traits<spec, In>::describe() + "\n";
    decltype(block)::describe(out, path + ".block", depth + 1);
    if constexpr (sc::projected) shortcut_node::describe(out, path + ".projection", depth + 1);
    else if constexpr (spec::chosen) shortcut_node::describe(out, path + ".shortcut", depth + 1);
  }
};

// Branches (Concat, Add): each branch as a chain on the same input. Concat writes a branch
// straight into its channels when the batch is one sample (its rows are contiguous there).
template <class Spec, class In, class T>
struct branches_node {
  using R = runtime_layer<Spec, In, T, cpu>;
  using out_shape = output_shape_of<Spec, In>;
  static constexpr std::size_t size = Spec::size;
  template <class Seq>
  struct nodes_of;
  template <std::size_t... I>
  struct nodes_of<std::index_sequence<I...>> {
    using type = std::tuple<node<typename Spec::template branch<I>, In, T>...>;
  };
  using nodes_type = typename nodes_of<std::make_index_sequence<size>>::type;
  nodes_type branches;
  Tensor<T, 1> scratch;
  static constexpr int fused = [] {
    return []<std::size_t... I>(std::index_sequence<I...>) {
      return (std::tuple_element_t<I, nodes_type>::fused + ... + 0);
    }(std::make_index_sequence<size>{});
  }();

  void load(R& source) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (std::get<I>(branches).load(source.template part<I>()), ...);
    }(std::make_index_sequence<size>{});
  }
  T* scratch_for(std::int64_t count) {
    if (scratch.size() < count) scratch = Tensor<T, 1>::uninitialized(Shape<1>{count});
    return scratch.data();
  }
  static void describe(std::string& out, const std::string& path, int depth) {
    out += std::string(std::size_t(2 * depth), ' ') + path + ": " + layer_traits<Spec, In>::describe() + "\n";
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (std::tuple_element_t<I, nodes_type>::describe(out, path + "." + std::to_string(I), depth + 1), ...);
    }(std::make_index_sequence<size>{});
  }
};

template <class... B, class In, class T>
struct node<Concat<B...>, In, T> : branches_node<Concat<B...>, In, T> {
  using base = branches_node<Concat<B...>, In, T>;
  using typename base::R;
  void forward(const T* x, T* y, std::int64_t n) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((n == 1 ? std::get<I>(this->branches).forward(x, y + R::template offset<I>, 1)
               : (std::get<I>(this->branches).forward(x, this->scratch_for(n * R::template elements<I>), n),
                  detail::copy_rows<cpu>(this->scratch.data(), R::template elements<I>, y + R::template offset<I>,
                                         base::out_shape::elements, n, R::template elements<I>))),
       ...);
    }(std::make_index_sequence<base::size>{});
  }
};

template <class... B, class In, class T>
struct node<Add<B...>, In, T> : branches_node<Add<B...>, In, T> {
  using base = branches_node<Add<B...>, In, T>;
  void forward(const T* x, T* y, std::int64_t n) {
    const std::int64_t count = n * base::out_shape::elements;
    std::get<0>(this->branches).forward(x, y, n);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((std::get<I + 1>(this->branches).forward(x, this->scratch_for(count), n), ops::add_into(cpu{}, y, static_cast<const T*>(this->scratch.data()), count)), ...);
    }(std::make_index_sequence<base::size - 1>{});
  }
};

}  // namespace detail::inference

template <class Net, class T = float, class D = cpu>
class Inference {
  static_assert(Network<Net>, "strata::Inference<Net, …>: Net must be a Sequential<Input<…>, layers…>");
  static_assert(std::is_same_v<D, cpu> && (std::is_same_v<T, float> || std::is_same_v<T, double>),
                "strata::Inference: the inference path runs float and double models on the CPU; use Model::forward "
                "for other precisions and devices");

  using root_type = detail::inference::node<typename Net::body, typename Net::input_shape, T>;

 public:
  using network = Net;
  using element_type = T;
  using input_shape = typename Net::input_shape;
  using output_shape = typename Net::output_shape;

  // Folds and copies the model's current parameters and batch-norm statistics.
  explicit Inference(Model<Net, T, D>& model) { refresh(model); }
  Inference(const Inference&) = delete;
  Inference& operator=(const Inference&) = delete;

  // Takes the model's current values again (after more training, or a load).
  void refresh(Model<Net, T, D>& model) { root_.load(model.layers()); }

  // The outputs for a batch x ([n, input elements]); valid until the next forward.
  batch_view<const T> forward(batch_view<const T> x) {
    if (x.extent(1) != input_shape::elements)
      throw shape_error("Inference::forward: a batch of " + input_shape::to_string() + " samples has " +
                        std::to_string(input_shape::elements) + " values per row, got " + x.shape().to_string());
    const std::int64_t n = x.extent(0);
    batch_view<T> y = ensure_batch(output_, n, output_shape::elements);
    if (n > 0) root_.forward(x.data(), y.data(), n);
    return y;
  }

  // Layers merged into the one before them (batch norms and activations), over the whole network.
  static constexpr int fused_layers = root_type::fused;

  // The plan, one line per step, with what was fused and which kernel runs it.
  static std::string describe() {
    std::string out;
    root_type::describe(out, "", 0);
    return out;
  }

 private:
  root_type root_;
  Tensor<T, 1> output_;
};

template <class Net, class T, class D>
Inference(Model<Net, T, D>&) -> Inference<Net, T, D>;

}  // namespace strata

#include "strata/net/binary_inference.hpp"  // Inference<Net, binary>: packed bits between the first and last layer
