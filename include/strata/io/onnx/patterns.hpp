// strata/io/onnx/patterns.hpp — how each strata layer looks in an ONNX graph (what PyTorch's
// exporter writes for the equivalent module): Conv (grouped), Gemm or MatMul+Add, BatchNormalization,
// Relu / Clip(0, 6) / LeakyRelu / Sigmoid / Tanh, MaxPool / AveragePool / GlobalAveragePool, Pad,
// Flatten / Reshape, Dropout, and the composites: chains, residual blocks (Add), branches joined
// by Concat or Add. Included by strata/io/onnx/import.hpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/io/onnx/import.hpp"
#include "strata/layers/avg_pool.hpp"
#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/depthwise_conv.hpp"
#include "strata/layers/dropout.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/global_avg_pool.hpp"
#include "strata/layers/leaky_relu.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/layers/relu6.hpp"
#include "strata/layers/sigmoid.hpp"
#include "strata/layers/tanh.hpp"
#include "strata/layers/zero_pad.hpp"
#include "strata/net/add.hpp"
#include "strata/net/chain.hpp"
#include "strata/net/concat.hpp"
#include "strata/net/residual.hpp"

namespace strata::onnx {

namespace detail {

inline std::string ints_string(const std::vector<std::int64_t>& v) { return graph_walker::dims_string(v); }

// Attribute `name` of n must be `want` (an absent attribute counts as `fallback`).
inline void check_ints(graph_walker& w, const node& n, const char* name, const std::vector<std::int64_t>& want,
                       const std::vector<std::int64_t>& fallback) {
  std::vector<std::int64_t> got = n.has(name) ? n.ints(name) : fallback;
  if (got != want) w.fail(&n, std::string(name) + " is " + ints_string(got) + ", the layer has " + ints_string(want));
}
inline void check_int(graph_walker& w, const node& n, const char* name, std::int64_t want, std::int64_t fallback) {
  const std::int64_t got = n.has(name) ? n.i(name) : fallback;
  if (got != want) w.fail(&n, std::string(name) + " is " + std::to_string(got) + ", the layer has " + std::to_string(want));
}
inline void check_no_auto_pad(graph_walker& w, const node& n) {
  if (n.has("auto_pad") && n.s("auto_pad") != "NOTSET")
    w.fail(&n, "auto_pad " + n.s("auto_pad") + " is not supported: export with explicit pads");
}

// A convolution of geometry g (groups included) with or without bias.
inline void match_conv(graph_walker& w, const std::string& path, const kernels::conv_geometry& g, bool has_bias) {
  const node& n = w.expect("Conv");
  check_no_auto_pad(w, n);
  check_ints(w, n, "kernel_shape", {g.R, g.S}, {g.R, g.S});
  check_ints(w, n, "strides", {g.stride_y, g.stride_x}, {1, 1});
  check_ints(w, n, "pads", {g.pad_y, g.pad_x, g.pad_y, g.pad_x}, {0, 0, 0, 0});
  check_ints(w, n, "dilations", {1, 1}, {1, 1});
  check_int(w, n, "group", g.groups, 1);
  w.bind(n, 1, member_name(path, "weight"), {g.K, g.C / g.groups, g.R, g.S});
  const bool graph_bias = n.inputs.size() > 2 && !n.inputs[2].empty();
  if (graph_bias != has_bias)
    w.fail(&n, graph_bias ? "the graph's convolution has a bias, the layer has NoBias" : "the layer has a bias, the graph's convolution none");
  if (has_bias) w.bind(n, 2, member_name(path, "bias"), {g.K});
  w.consume(n);
}

inline void match_pool(graph_walker& w, const node& n, std::int64_t window, std::int64_t stride, std::int64_t pad, bool ceil) {
  check_no_auto_pad(w, n);
  check_ints(w, n, "kernel_shape", {window, window}, {});
  check_ints(w, n, "strides", {stride, stride}, {1, 1});
  check_ints(w, n, "pads", {pad, pad, pad, pad}, {0, 0, 0, 0});
  check_int(w, n, "ceil_mode", ceil ? 1 : 0, 0);
  if (n.has("dilations")) check_ints(w, n, "dilations", {1, 1}, {1, 1});
}

// A scalar float from a constant input or an attribute (Clip's bounds moved from attributes to
// inputs in opset 11).
inline bool scalar_of(graph_walker& w, const node& n, std::size_t input, const char* attribute, float& out) {
  if (const tensor* t = w.constant_input(n, input)) {
    const auto v = t->float_values();
    if (v.size() != 1) w.fail(&n, "input " + std::to_string(input) + " is not a scalar");
    out = v[0];
    return true;
  }
  if (n.has(attribute)) {
    out = n.f(attribute);
    return true;
  }
  return false;
}

// Runs match on each candidate start of a branch from tensor x (readers of x in file order)
// until one matches; rethrows the first candidate's error when none does.
template <class F>
void match_branch_from(graph_walker& w, const std::string& x, F&& match) {
  const auto candidates = w.readers_of(x, false);
  if (candidates.size() <= 1) {
    w.set_current(x);
    match();
    return;
  }
  std::string first_error;
  for (const node* c : candidates) {
    const auto saved = w.save();
    try {
      w.set_current(x);
      w.prefer(c);
      match();
      return;
    } catch (const import_error& e) {
      if (first_error.empty()) first_error = e.what();
      w.restore(saved);
    }
  }
  throw import_error(first_error);
}

}  // namespace detail

template <class... L>
struct onnx_pattern<Chain<L...>> {
  template <class In>
  static void match(graph_walker& w, const std::string& path) {
    using inputs = typename Chain<L...>::template plan<In>::inputs;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (detail::match_layer<type_at_t<I, type_list<L...>>, type_at_t<I, inputs>>(w, member_name(path, std::to_string(I))), ...);
    }(std::make_index_sequence<sizeof...(L)>{});
  }
};

template <std::int64_t F, class... O>
struct onnx_pattern<Conv<F, O...>> {
  template <class In>
  static void match(graph_walker& w, const std::string& path) {
    detail::match_conv(w, path, Conv<F, O...>::template geometry<In>(), Conv<F, O...>::has_bias);
  }
};

template <class... O>
struct onnx_pattern<DepthwiseConv<O...>> {
  template <class In>
  static void match(graph_walker& w, const std::string& path) {
    detail::match_conv(w, path, DepthwiseConv<O...>::template geometry<In>(), DepthwiseConv<O...>::has_bias);
  }
};

template <std::int64_t N, class... O>
struct onnx_pattern<Dense<N, O...>> {
  template <class In>
  static void match(graph_walker& w, const std::string& path) {
    constexpr bool has_bias = Dense<N, O...>::has_bias;
    // A dense layer flattens an image itself; the graph spells that out.
    if (const node* f = w.peek(); f && graph_walker::op_is(*f, "Flatten|Reshape")) w.consume(*f);
    const node& n = w.expect("Gemm|MatMul");
    if (n.op_type == "Gemm") {
      detail::check_int(w, n, "transA", 0, 0);
      if ((n.has("alpha") && n.f("alpha") != 1.0f) || (n.has("beta") && n.f("beta") != 1.0f))
        w.fail(&n, "alpha and beta must be 1");
      const bool transposed = !(n.has("transB") && n.i("transB") == 1);  // B is [in, out] unless transB
      w.bind(n, 1, member_name(path, "weight"), {N, In::elements}, transposed);
      const bool graph_bias = n.inputs.size() > 2 && !n.inputs[2].empty();
      if (graph_bias != has_bias) w.fail(&n, graph_bias ? "the graph's Gemm has a bias, the layer has NoBias" : "the graph's Gemm has no bias");
      if (has_bias) w.bind(n, 2, member_name(path, "bias"), {N});
      w.consume(n);
    } else {
      w.bind(n, 1, member_name(path, "weight"), {N, In::elements}, true);
      w.consume(n);
      if constexpr (has_bias) {
        const node& add = w.expect("Add");
        const std::size_t other = add.inputs.at(0) == w.current() ? 1 : 0;
        w.bind(add, other, member_name(path, "bias"), {N});
        w.consume(add);
      }
    }
  }
};

template <double Momentum, double Epsilon>
struct onnx_pattern<BatchNormalization<Momentum, Epsilon>> {
  template <class In>
  static void match(graph_walker& w, const std::string& path) {
    constexpr std::int64_t C = In::extents[0];
    const node& n = w.expect("BatchNormalization");
    const double eps = n.has("epsilon") ? double(n.f("epsilon")) : 1e-5;
    if (std::abs(eps - Epsilon) > 1e-6 * Epsilon)
      w.fail(&n, "epsilon is " + std::to_string(eps) + ", the layer's " + std::to_string(Epsilon));
    detail::check_int(w, n, "training_mode", 0, 0);
    w.bind(n, 1, member_name(path, "gamma"), {C});
    w.bind(n, 2, member_name(path, "beta"), {C});
    w.bind(n, 3, member_name(path, "running_mean"), {C});
    w.bind(n, 4, member_name(path, "running_var"), {C});
    w.consume(n);
  }
};

// Element-wise activations: one node each.
template <>
struct onnx_pattern<ReLU> {
  template <class In>
  static void match(graph_walker& w, const std::string&) { w.consume(w.expect("Relu")); }
};
template <>
struct onnx_pattern<Sigmoid> {
  template <class In>
  static void match(graph_walker& w, const std::string&) { w.consume(w.expect("Sigmoid")); }
};
template <>
struct onnx_pattern<Tanh> {
  template <class In>
  static void match(graph_walker& w, const std::string&) { w.consume(w.expect("Tanh")); }
};
template <float Slope>
struct onnx_pattern<LeakyReLU<Slope>> {
  template <class In>
  static void match(graph_walker& w, const std::string&) {
    const node& n = w.expect("LeakyRelu");
    const float alpha = n.has("alpha") ? n.f("alpha") : 0.01f;
    if (alpha != Slope) w.fail(&n, "alpha is " + std::to_string(alpha) + ", the layer's slope " + std::to_string(Slope));
    w.consume(n);
  }
};
template <>
struct onnx_pattern<ReLU6> {
  template <class In>
  static void match(graph_walker& w, const std::string&) {
    const node& n = w.expect("Clip");
    float lo = 0, hi = 0;
    if (!detail::scalar_of(w, n, 1, "min", lo) || !detail::scalar_of(w, n, 2, "max", hi) || lo != 0.0f || hi != 6.0f)
      w.fail(&n, "ReLU6 is Clip(0, 6); this Clip has other or no bounds");
    w.consume(n);
  }
};

template <std::int64_t Window, std::int64_t Stride, std::int64_t Pad, class Rounding>
struct onnx_pattern<MaxPool<Window, Stride, Pad, Rounding>> {
  template <class In>
  static void match(graph_walker& w, const std::string&) {
    const node& n = w.expect("MaxPool");
    detail::match_pool(w, n, Window, Stride, Pad, std::is_same_v<Rounding, CeilMode>);
    if (n.outputs.size() > 1 && !n.outputs[1].empty()) w.fail(&n, "a MaxPool with indices is not a plain max pool");
    w.consume(n);
  }
};

template <std::int64_t Window, std::int64_t Stride, std::int64_t Pad>
struct onnx_pattern<AvgPool<Window, Stride, Pad>> {
  template <class In>
  static void match(graph_walker& w, const std::string&) {
    const node& n = w.expect("AveragePool");
    detail::match_pool(w, n, Window, Stride, Pad, false);
    if (Pad > 0) detail::check_int(w, n, "count_include_pad", 1, 0);  // strata counts padding as zeros
    w.consume(n);
  }
};

template <>
struct onnx_pattern<GlobalAvgPool> {
  template <class In>
  static void match(graph_walker& w, const std::string&) {
    const node& n = w.expect("GlobalAveragePool|ReduceMean|AveragePool");
    if (n.op_type == "ReduceMean") detail::check_ints(w, n, "axes", {2, 3}, {});
    if (n.op_type == "AveragePool") {
      detail::check_ints(w, n, "kernel_shape", {In::extents[1], In::extents[2]}, {});
      detail::check_ints(w, n, "pads", {0, 0, 0, 0}, {0, 0, 0, 0});
    }
    w.consume(n);
  }
};

template <>
struct onnx_pattern<Flatten> {
  template <class In>
  static void match(graph_walker& w, const std::string&) {
    // Batches are flat already: a Flatten or Reshape to [n, …] is taken where the graph has one.
    if (const node* n = w.peek(); n && graph_walker::op_is(*n, "Flatten|Reshape")) {
      if (n->op_type == "Flatten") detail::check_int(w, *n, "axis", 1, 1);
      w.consume(*n);
    }
  }
};

template <float P>
struct onnx_pattern<Dropout<P>> {
  template <class In>
  static void match(graph_walker& w, const std::string&) {
    if (const node* n = w.peek(); n && n->op_type == "Dropout") w.consume(*n);  // inference exports drop it
  }
};

template <std::int64_t... P>
struct onnx_pattern<ZeroPad<P...>> {
  template <class In>
  static void match(graph_walker& w, const std::string&) {
    using Z = ZeroPad<P...>;
    const node& n = w.expect("Pad");
    if (n.has("mode") && n.s("mode") != "constant") w.fail(&n, "mode " + n.s("mode") + " is not zero padding");
    std::vector<std::int64_t> pads;
    if (const tensor* t = w.constant_input(n, 1)) pads = t->int_values();
    else if (n.has("pads")) pads = n.ints("pads");
    else w.fail(&n, "the pads are not a constant");
    const std::vector<std::int64_t> want = {0, 0, Z::top, Z::left, 0, 0, Z::bottom, Z::right};
    if (pads != want) w.fail(&n, "pads are " + detail::ints_string(pads) + ", the layer's " + detail::ints_string(want));
    float value = 0;
    if (detail::scalar_of(w, n, 2, "value", value) && value != 0.0f) w.fail(&n, "the padding value is not 0");
    w.consume(n);
  }
};

template <class... A>
struct onnx_pattern<Residual<A...>> {
  template <class In>
  static void match(graph_walker& w, const std::string& path) {
    using R = Residual<A...>;
    using sc = typename R::template shortcut<In>;
    const std::string x = w.current();
    const std::string description = layer_traits<R, In>::describe();
    std::string block_out;
    detail::match_branch_from(w, x, [&] {
      detail::match_layer<typename R::block, In>(w, member_name(path, "block"));
      block_out = w.current();
    });
    w.set_current(x);
    if constexpr (R::chosen) {
      detail::match_layer<typename R::shortcut_chain, In>(w, member_name(path, "shortcut"));
    } else if constexpr (sc::projected) {
      detail::match_layer<typename sc::projection, In>(w, member_name(path, "projection"));
      detail::match_layer<BatchNorm, typename sc::out>(w, member_name(path, "projection_bn"));
    }
    const std::string shortcut_out = w.current();
    w.enter(path, description, false);
    const node& add = w.expect_join("Add|Sum", {block_out, shortcut_out}, false);
    w.consume(add);
  }
};

namespace detail {
// The branches of Concat or Add from the current tensor; returns their outputs in order.
template <class Base, class In>
std::vector<std::string> match_branches(graph_walker& w, const std::string& path) {
  const std::string x = w.current();
  std::vector<std::string> outs;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((match_branch_from(w, x, [&] {
        match_layer<typename Base::template branch<I>, In>(w, member_name(path, std::to_string(I)));
      }),
      outs.push_back(w.current())),
     ...);
  }(std::make_index_sequence<Base::size>{});
  return outs;
}
}  // namespace detail

template <class... B>
struct onnx_pattern<Concat<B...>> {
  template <class In>
  static void match(graph_walker& w, const std::string& path) {
    const auto outs = detail::match_branches<typename Concat<B...>::base, In>(w, path);
    w.enter(path, layer_traits<Concat<B...>, In>::describe(), false);
    const node& n = w.expect_join("Concat", outs, true);
    detail::check_int(w, n, "axis", 1, 1);
    w.consume(n);
  }
};

template <class... B>
struct onnx_pattern<Add<B...>> {
  template <class In>
  static void match(graph_walker& w, const std::string& path) {
    const auto outs = detail::match_branches<typename Add<B...>::base, In>(w, path);
    w.enter(path, layer_traits<Add<B...>, In>::describe(), false);
    if (outs.size() == 1) return;
    std::string sum = outs[0];
    for (std::size_t i = 1; i < outs.size(); ++i) {
      const node& n = w.expect_join("Add", {sum, outs[i]}, false);
      w.consume(n);
      sum = w.current();
    }
  }
};

}  // namespace strata::onnx
