// strata/io/onnx/import.hpp — an ONNX graph into a Model of a compile-time network: the importer
// walks the network's layers and the graph's nodes together, checks each node against its layer
// (operation, kernel, stride, padding, groups, epsilon, tensor shapes) and binds the initializers
// to the layer's parameters and statistics. The first mismatch throws an import_error naming the
// node and the layer; nothing is copied until the whole graph has matched, so a failed import
// leaves the model as it was.
//
//   strata::Model<zoo::ResNet18<>> model;
//   strata::onnx::import_model(model, "resnet18.onnx");
//
// Each layer kind has an onnx_pattern<Spec> (strata/io/onnx/patterns.hpp); a user's own layer
// gets one by specialising it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "strata/io/onnx/model.hpp"
#include "strata/layers/layer.hpp"

namespace strata::onnx {

// Which node and layer disagreed, and how.
class import_error : public onnx_error {
 public:
  using onnx_error::onnx_error;
};

// How each layer kind finds itself in a graph: a specialisation provides
//   template <class In> static void match(graph_walker& w, const std::string& path);
// which consumes the layer's nodes from w.current() on, binds its parameters by their strata
// names (path + ".weight" …) and leaves w.current() at the layer's output tensor.
template <class Spec>
struct onnx_pattern;

// One parameter or statistic of the model and the graph tensor it takes its values from.
struct binding {
  std::string parameter;              // "3.block.0.weight"
  const tensor* source = nullptr;
  std::vector<std::int64_t> dims;     // the layout the layer needs (after transposition)
  bool transpose = false;             // source is the transpose of a 2-D [rows, cols] parameter
  std::size_t node = 0;               // for messages
};

class graph_walker {
 public:
  graph_walker(const graph& g, std::string source)
      : g_(g), source_(std::move(source)), consumed_(g.nodes.size(), false), shape_only_(shape_only_nodes(g)) {
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
      if (!shape_only_[i])  // Shape → Gather → … → Reshape computes no values a layer must match
        for (const auto& in : g.nodes[i].inputs)
          if (!in.empty()) readers_[in].push_back(i);
  }

  const graph& graph_of() const noexcept { return g_; }
  const std::string& current() const noexcept { return current_; }
  void set_current(std::string t) { current_ = std::move(t); }
  const std::vector<binding>& bindings() const noexcept { return bindings_; }

  // The layer now being matched, for messages, and whether its input is a vector (then shape-only
  // nodes such as Flatten are nothing to match: strata keeps every batch flat).
  void enter(std::string path, std::string description, bool input_is_vector) {
    layer_path_ = std::move(path);
    layer_description_ = std::move(description);
    input_is_vector_ = input_is_vector;
  }

  // The next node that reads the current tensor, past nodes that change nothing (Identity,
  // Dropout, a 1×1 average pool with stride 1, and shape-only nodes on vectors); null at the end.
  // Join nodes (Add, Sum, Concat) are taken only when `joins` is set.
  const node* peek(bool joins = false) {
    for (;;) {
      const node* n = preferred_ && reads(*preferred_, current_) && !consumed_[index_of(*preferred_)] ? preferred_
                                                                                                       : first_reader(current_, joins);
      if (!n || !passes_through(*n)) return n;
      take(*n);
      current_ = n->outputs.at(0);
    }
  }

  // The next node, which must be `op` (or one of several, separated by '|'); throws naming both.
  const node& expect(std::string_view op) {
    const node* n = peek(false);
    if (!n) fail(nullptr, "the graph has no node reading '" + current_ + "' where the layer expects " + std::string(op));
    if (!op_is(*n, op)) fail(n, "expected " + std::string(op) + ", the graph has " + n->op_type);
    return *n;
  }

  // Marks n as matched and moves the current tensor to its first output.
  void consume(const node& n) {
    take(n);
    current_ = n.outputs.at(0);
  }

  // The join node (Add, Concat, …) that reads exactly `inputs` (in this order when ordered).
  const node& expect_join(std::string_view op, const std::vector<std::string>& inputs, bool ordered) {
    for (std::size_t i = 0; i < g_.nodes.size(); ++i) {
      const node& n = g_.nodes[i];
      if (consumed_[i] || !op_is(n, op) || n.inputs.size() != inputs.size()) continue;
      bool same = true;
      if (ordered) {
        for (std::size_t k = 0; k < inputs.size(); ++k) same = same && n.inputs[k] == inputs[k];
      } else {
        std::vector<std::string> a = n.inputs, b = inputs;
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        same = a == b;
      }
      if (same) return n;
    }
    std::string list;
    for (const auto& s : inputs) list += (list.empty() ? "'" : ", '") + s + "'";
    fail(peek(true), "expected " + std::string(op) + " joining " + list + ", the graph has no such node");
  }

  // A constant input of node n (an initializer or a Constant node's value), or null.
  const tensor* constant_input(const node& n, std::size_t i) const {
    if (i >= n.inputs.size() || n.inputs[i].empty()) return nullptr;
    return g_.constant(n.inputs[i]);
  }

  // Binds parameter `name` to the constant input i of n, which must have `dims` (or, with
  // transpose, the transposed 2-D dims).
  void bind(const node& n, std::size_t i, const std::string& name, std::vector<std::int64_t> dims, bool transpose = false) {
    const tensor* t = constant_input(n, i);
    if (!t) fail(&n, "input " + std::to_string(i) + " (for " + name + ") is not a constant tensor");
    std::vector<std::int64_t> want = dims;
    if (transpose) std::swap(want.at(0), want.at(1));
    if (t->dims != want) fail(&n, "tensor '" + t->name + "' is " + dims_string(t->dims) + ", " + name + " needs " + dims_string(want));
    if (t->data_type != tensor_type::float32 && t->data_type != tensor_type::float64 && t->data_type != tensor_type::float16)
      fail(&n, "tensor '" + t->name + "' does not hold floating-point values");
    bindings_.push_back({name, t, std::move(dims), transpose, index_of(n)});
  }

  // Throws the import error for node n (null: no node) and the current layer.
  [[noreturn]] void fail(const node* n, const std::string& what) const {
    std::string where = n ? "node #" + std::to_string(index_of(*n)) + " '" + n->name + "' (" + n->op_type + ")" : "the graph";
    throw import_error("ONNX import of " + source_ + ": " + where + " does not match layer " +
                       (layer_path_.empty() ? std::string("(top)") : layer_path_) + " (" + layer_description_ + "): " + what);
  }

  // Backtracking, for branches whose order the graph does not fix.
  struct snapshot {
    std::string current;
    std::vector<bool> consumed;
    std::size_t bindings = 0;
  };
  snapshot save() const { return {current_, consumed_, bindings_.size()}; }
  void restore(const snapshot& s) {
    preferred_ = nullptr;
    current_ = s.current;
    consumed_ = s.consumed;
    bindings_.resize(s.bindings);
  }

  // Unconsumed nodes reading tensor t, in file order.
  std::vector<const node*> readers_of(const std::string& t, bool joins) const {
    std::vector<const node*> out;
    const auto it = readers_.find(t);
    if (it == readers_.end()) return out;
    for (std::size_t i : it->second)
      if (!consumed_[i] && (joins || !is_join(g_.nodes[i]))) out.push_back(&g_.nodes[i]);
    return out;
  }

  std::size_t index_of(const node& n) const { return static_cast<std::size_t>(&n - g_.nodes.data()); }
  bool consumed(std::size_t i) const { return consumed_[i]; }
  bool shape_only(std::size_t i) const { return shape_only_[i]; }
  void take(const node& n) {
    consumed_[index_of(n)] = true;
    if (&n == preferred_) preferred_ = nullptr;
  }
  // Makes n the next node peek() returns while it reads the current tensor (trying the branches
  // of a fork one start at a time).
  void prefer(const node* n) { preferred_ = n; }
  static bool reads(const node& n, const std::string& t) { return std::find(n.inputs.begin(), n.inputs.end(), t) != n.inputs.end(); }

  static bool op_is(const node& n, std::string_view ops) {
    while (!ops.empty()) {
      const auto bar = ops.find('|');
      if (n.op_type == ops.substr(0, bar)) return true;
      if (bar == std::string_view::npos) break;
      ops.remove_prefix(bar + 1);
    }
    return false;
  }
  static bool is_join(const node& n) { return op_is(n, "Add|Sum|Concat"); }

  static std::string dims_string(const std::vector<std::int64_t>& d) {
    std::string s = "[";
    for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
    return s + "]";
  }

 private:
  const node* first_reader(const std::string& t, bool joins) const {
    const auto r = readers_of(t, joins);
    return r.empty() ? nullptr : r.front();
  }

  bool passes_through(const node& n) const {
    if (op_is(n, "Identity|Dropout")) return true;
    if (op_is(n, "AveragePool|MaxPool")) {  // a 1×1 window with stride 1 (an adaptive pool that changes nothing)
      const auto k = n.ints("kernel_shape");
      const auto s = n.ints("strides");
      const auto p = n.ints("pads");
      const auto ones = [](const std::vector<std::int64_t>& v) {
        for (auto x : v)
          if (x != 1) return false;
        return true;
      };
      const auto zeros = [](const std::vector<std::int64_t>& v) {
        for (auto x : v)
          if (x != 0) return false;
        return true;
      };
      return !k.empty() && ones(k) && ones(s) && zeros(p);
    }
    if (op_is(n, "Pad")) {  // PyTorch pads by nothing before an average pool
      const tensor* pads = constant_input(n, 1);
      const auto p = pads ? pads->int_values() : n.ints("pads");
      return !p.empty() && std::all_of(p.begin(), p.end(), [](std::int64_t v) { return v == 0; });
    }
    return input_is_vector_ && op_is(n, "Flatten|Reshape|Squeeze|Unsqueeze");
  }

  const graph& g_;
  std::string source_;
  std::vector<bool> consumed_;
  std::vector<bool> shape_only_;
  std::map<std::string, std::vector<std::size_t>> readers_;
  std::vector<binding> bindings_;
  std::string current_;
  std::string layer_path_, layer_description_;
  bool input_is_vector_ = false;
  const node* preferred_ = nullptr;
};

namespace detail {

// Matches spec L on input In at `path`, with the walker told which layer it is.
template <class L, class In>
void match_layer(graph_walker& w, const std::string& path) {
  static_assert(requires { &onnx_pattern<L>::template match<In>; },
                "strata::onnx: this layer has no ONNX pattern (specialise strata::onnx::onnx_pattern<Layer> with "
                "template <class In> static void match(graph_walker&, const std::string& path))");
  w.enter(path, layer_traits<L, In>::describe(), In::rank == 1);
  onnx_pattern<L>::template match<In>(w, path);
}

// The graph's data input: the first input that is not an initializer.
inline const value_info& data_input(const graph& g, const std::string& source) {
  for (const auto& v : g.inputs)
    if (!g.initializer(v.name)) return v;
  throw import_error("ONNX import of " + source + ": the graph has no data input");
}
}  // namespace detail

// Matches the whole graph against model M's network and returns the bindings, without touching
// any model: an import_error names the first node that differs.
template <class M>
std::vector<binding> match_graph(const graph& g, const std::string& source) {
  using Net = typename M::network;
  using In = typename Net::input_shape;
  graph_walker w(g, source);
  const value_info& input = detail::data_input(g, source);
  // The input's dims after the batch, where the file gives them.
  if (input.dims.size() == In::rank + 1) {
    for (std::size_t i = 0; i < In::rank; ++i)
      if (input.dims[i + 1] > 0 && input.dims[i + 1] != In::extents[i])
        throw import_error("ONNX import of " + source + ": the graph's input '" + input.name + "' is " +
                           graph_walker::dims_string(input.dims) + ", the network takes " + In::to_string());
  } else if (!input.dims.empty()) {
    throw import_error("ONNX import of " + source + ": the graph's input '" + input.name + "' has rank " +
                       std::to_string(input.dims.size()) + ", the network takes batches of " + In::to_string());
  }
  w.set_current(input.name);
  onnx_pattern<typename Net::body>::template match<In>(w, "");
  // Past anything that changes nothing, the current tensor must be the graph's output.
  w.enter("(end)", "the network's output", Net::output_shape::rank == 1);
  const node* rest = w.peek(true);
  bool is_output = false;
  for (const auto& o : g.outputs) is_output = is_output || o.name == w.current();
  if (!is_output) {
    if (rest) w.fail(rest, "the network ends here, the graph goes on");
    throw import_error("ONNX import of " + source + ": the network's output is tensor '" + w.current() + "', not a graph output");
  }
  for (std::size_t i = 0; i < g.nodes.size(); ++i)
    if (!w.consumed(i) && !w.shape_only(i) && !graph_walker::op_is(g.nodes[i], "Identity|Dropout"))
      w.fail(&g.nodes[i], "this node is not part of the network (it computes something no layer does)");
  return w.bindings();
}

// Copies the bound tensors into the model, after checking that every parameter and statistic is
// bound exactly once with the right number of values; on any error the model is unchanged.
template <class M>
void apply_bindings(M& model, const std::vector<binding>& bindings, const std::string& source) {
  using T = typename M::element_type;
  std::map<std::string, const binding*> by_name;
  for (const auto& b : bindings)
    if (!by_name.emplace(b.parameter, &b).second)
      throw import_error("ONNX import of " + source + ": two nodes give values for " + b.parameter);
  std::vector<std::pair<const binding*, TensorView<T, 1>>> copies;
  const auto plan = [&](const std::string& name, TensorView<T, 1> v) {
    const auto it = by_name.find(name);
    if (it == by_name.end()) throw import_error("ONNX import of " + source + ": no node gives values for " + name);
    std::int64_t count = 1;
    for (auto d : it->second->dims) count *= d;
    if (count != v.size())
      throw import_error("ONNX import of " + source + ": " + name + " has " + std::to_string(v.size()) + " values, tensor '" +
                         it->second->source->name + "' " + std::to_string(count));
    copies.emplace_back(it->second, v);
    by_name.erase(it);
  };
  model.visit_parameters([&](const auto& p) { plan(p.name, p.value); });
  model.visit_state([&](const std::string& name, TensorView<T, 1> v) { plan(name, v); });
  if (!by_name.empty())
    throw import_error("ONNX import of " + source + ": the model has no parameter " + by_name.begin()->first +
                       " (a pattern binds a name its layer does not use)");
  for (auto& [b, v] : copies) {
    const std::vector<float> values = b->source->float_values();
    T* out = v.data();
    if (b->transpose) {
      const std::int64_t rows = b->dims.at(0), cols = b->dims.at(1);  // out is rows×cols, source cols×rows
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c) out[r * cols + c] = T(values[static_cast<std::size_t>(c * rows + r)]);
    } else {
      for (std::int64_t i = 0; i < v.size(); ++i) out[i] = T(values[static_cast<std::size_t>(i)]);
    }
  }
}

// Reads `file` into `model` (see the top of this header).
template <class M>
void import_model(M& model, const std::filesystem::path& file) {
  const onnx::model m = read_model(file);
  const auto bindings = match_graph<M>(m.graph, file.string());
  apply_bindings(model, bindings, file.string());
}

// The same for a graph already read.
template <class M>
void import_model(M& model, const onnx::model& m, const std::string& source = "the graph") {
  const auto bindings = match_graph<M>(m.graph, source);
  apply_bindings(model, bindings, source);
}

}  // namespace strata::onnx

#include "strata/io/onnx/patterns.hpp"
