// strata/io/onnx/codegen.hpp — the compile-time network type for an ONNX graph, as C++ source:
// `network_type(graph)` walks the graph from its input and writes a Sequential<…> that
// strata::onnx::import_model accepts for the same file (the strata-onnx2cpp example is its
// command line). Linear runs of nodes become layers; a fork whose branches meet in an Add becomes
// Residual<…> (one branch is the identity) or Add<Chain<…>, …>; one that meets in a Concat becomes
// Concat<Chain<…>, …>. Anything else (an operation strata has no layer for, a graph that is not
// series-parallel) is an onnx_error naming the node.
#pragma once

#include <cstdint>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "strata/io/onnx/model.hpp"

namespace strata::onnx {

namespace detail {

class type_writer {
 public:
  explicit type_writer(const graph& g) : g_(g), shape_only_(shape_only_nodes(g)) {
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
      if (!shape_only_[i])
        for (const auto& in : g.nodes[i].inputs)
          if (!in.empty()) readers_[in].push_back(i);
  }

  std::string write(const std::string& name) {
    const value_info* input = nullptr;
    for (const auto& v : g_.inputs)
      if (!g_.initializer(v.name)) {
        input = &v;
        break;
      }
    if (!input) throw onnx_error("strata-onnx2cpp: the graph has no data input");
    std::vector<std::int64_t> dims(input->dims.begin() + (input->dims.empty() ? 0 : 1), input->dims.end());
    for (auto d : dims)
      if (d <= 0)
        throw onnx_error("strata-onnx2cpp: the graph's input '" + input->name +
                         "' has a symbolic or unknown size after the batch; export with fixed sizes");
    if (dims.size() != 3 && dims.size() != 1)
      throw onnx_error("strata-onnx2cpp: the graph's input '" + input->name + "' is neither an image batch [n, C, H, W] "
                       "nor a vector batch [n, F]");
    shape_ = dims;
    std::string input_spec = "strata::Input<";
    for (std::size_t i = 0; i < dims.size(); ++i) input_spec += (i ? ", " : "") + std::to_string(dims[i]);
    input_spec += ">";
    std::string end;
    const node* stop = nullptr;
    std::vector<std::string> layers = sequence(input->name, nullptr, end, stop);
    if (stop) fail(*stop, "a join whose branches do not all start at one fork");
    bool is_output = false;
    for (const auto& o : g_.outputs) is_output = is_output || o.name == end;
    if (!is_output) throw onnx_error("strata-onnx2cpp: the walk ends at tensor '" + end + "', which is not a graph output");
    std::string out = "using " + name + " = strata::Sequential<\n    " + input_spec;
    for (const auto& l : layers) out += ",\n    " + l;
    return out + ">;\n";
  }

 private:
  // The layers from tensor t (through `first` when given) up to a join node or the end.
  std::vector<std::string> sequence(std::string t, const node* first, std::string& end, const node*& stop) {
    std::vector<std::string> layers;
    stop = nullptr;
    for (;;) {
      std::vector<const node*> next;
      if (first) {
        next.push_back(first);
        first = nullptr;
      } else {
        next = readers(t);
      }
      if (next.empty()) break;
      if (next.size() == 1 && is_join(*next[0])) {
        stop = next[0];
        break;
      }
      if (next.size() > 1) {  // a fork: each branch up to the join they share
        const node* join = nullptr;
        std::vector<std::pair<std::string, std::vector<std::string>>> branches;  // end tensor, layers
        const auto fork_shape = shape_;
        std::vector<std::int64_t> joined_shape;
        for (const node* start : next) {
          shape_ = fork_shape;
          std::string branch_end = t;
          const node* branch_stop = start;
          std::vector<std::string> b;
          if (!is_join(*start)) b = sequence(t, start, branch_end, branch_stop);
          if (!branch_stop) fail(*start, "a branch that reaches the end of the graph without joining the others");
          if (join && branch_stop != join)
            fail(*branch_stop, "branches from one fork that end in different joins (" + join->name + ", " +
                                   branch_stop->name + ")");
          join = branch_stop;
          joined_shape = shape_;
          branches.emplace_back(branch_end, std::move(b));
        }
        done_.insert(join);
        layers.push_back(join_layer(*join, branches, fork_shape));
        shape_ = joined_shape;
        if (join->op_type == "Concat") {
          shape_[0] = 0;
          for (const auto& [e, b] : branches) shape_[0] += branch_channels_.at(e);
        }
        t = join->outputs.at(0);
        continue;
      }
      const node& n = *next[0];
      done_.insert(&n);
      std::string layer = translate(n, t);
      if (!layer.empty()) layers.push_back(layer);
      branch_channels_[t] = shape_.empty() ? 0 : shape_[0];
    }
    end = t;
    branch_channels_[t] = shape_.empty() ? 0 : shape_[0];
    return layers;
  }

  std::string join_layer(const node& join, const std::vector<std::pair<std::string, std::vector<std::string>>>& branches,
                         const std::vector<std::int64_t>&) {
    if (join.inputs.size() != branches.size())
      fail(join, "a join of " + std::to_string(join.inputs.size()) + " tensors where the fork has " +
                     std::to_string(branches.size()) + " branches");
    // In the join's input order (Concat's order matters).
    std::vector<const std::vector<std::string>*> ordered;
    for (const auto& in : join.inputs) {
      const std::vector<std::string>* found = nullptr;
      for (const auto& [e, b] : branches)
        if (e == in && !found) found = &b;
      if (!found) fail(join, "input '" + in + "' does not come from the fork's branches");
      ordered.push_back(found);
    }
    const auto chain = [](const std::vector<std::string>& b) {
      if (b.size() == 1) return b[0];
      std::string s = "strata::Chain<";
      for (std::size_t i = 0; i < b.size(); ++i) s += (i ? ", " : "") + b[i];
      return s + ">";
    };
    if (join.op_type == "Add" || join.op_type == "Sum") {
      if (ordered.size() == 2 && (ordered[0]->empty() || ordered[1]->empty())) {
        const auto& block = ordered[0]->empty() ? *ordered[1] : *ordered[0];
        if (block.empty()) fail(join, "adds a tensor to itself");
        std::string s = "strata::Residual<";
        for (std::size_t i = 0; i < block.size(); ++i) s += (i ? ", " : "") + block[i];
        return s + ">";
      }
      std::string s = "strata::Add<";
      for (std::size_t i = 0; i < ordered.size(); ++i) {
        if (ordered[i]->empty()) fail(join, "an identity branch in an Add of more than two tensors");
        s += (i ? ", " : "") + chain(*ordered[i]);
      }
      return s + ">";
    }
    if (join.has("axis") && join.i("axis") != 1) fail(join, "a Concat along axis " + std::to_string(join.i("axis")) + ", not channels");
    std::string s = "strata::Concat<";
    for (std::size_t i = 0; i < ordered.size(); ++i) {
      if (ordered[i]->empty()) fail(join, "an identity branch in a Concat (strata has no identity layer)");
      s += (i ? ", " : "") + chain(*ordered[i]);
    }
    return s + ">";
  }

  // One node as a layer ("" for nodes that change nothing); advances t to its output and updates
  // the shape.
  std::string translate(const node& n, std::string& t) {
    t = n.outputs.at(0);
    const std::string& op = n.op_type;
    const bool image = shape_.size() == 3;
    if (op == "Identity" || op == "Dropout") {
      if (op == "Dropout") {
        float p = 0.5f;
        if (n.has("ratio")) p = n.f("ratio");
        else if (n.inputs.size() > 1 && !n.inputs[1].empty() && g_.constant(n.inputs[1]))
          p = g_.constant(n.inputs[1])->float_values().at(0);
        return "strata::Dropout<" + number(p) + "f>";
      }
      return "";
    }
    if (op == "Conv") return conv(n);
    if (op == "BatchNormalization") {
      const double eps = n.has("epsilon") ? n.f("epsilon") : 1e-5;
      const double momentum = n.has("momentum") ? n.f("momentum") : 0.9;
      return "strata::BatchNormalization<" + number(1 - momentum) + ", " + number(eps) + ">";
    }
    if (op == "Relu") return "strata::ReLU";
    if (op == "Sigmoid") return "strata::Sigmoid";
    if (op == "Tanh") return "strata::Tanh";
    if (op == "LeakyRelu") return "strata::LeakyReLU<" + number(n.has("alpha") ? n.f("alpha") : 0.01f) + "f>";
    if (op == "Clip") {
      const float lo = clip_bound(n, 1, "min"), hi = clip_bound(n, 2, "max");
      if (lo == 0.0f && hi == 6.0f) return "strata::ReLU6";
      if (lo == 0.0f && hi == std::numeric_limits<float>::infinity()) return "strata::ReLU";
      fail(n, "a Clip other than ReLU (0, ∞) or ReLU6 (0, 6)");
    }
    if (op == "MaxPool" || op == "AveragePool") {
      if (!image) fail(n, "a pool on a vector");
      const auto k = n.ints("kernel_shape");
      auto s = n.ints("strides");
      auto p = n.ints("pads");
      if (s.empty()) s = {1, 1};
      if (p.empty()) p = {0, 0, 0, 0};
      if (n.has("auto_pad") && n.s("auto_pad") != "NOTSET") fail(n, "auto_pad; export with explicit pads");
      if (k.size() != 2 || k[0] != k[1] || s[0] != s[1] || p[0] != p[1] || p[0] != p[2] || p[0] != p[3])
        fail(n, "a pool whose window, stride or padding is not the same on both axes and sides");
      const bool ceil = n.has("ceil_mode") && n.i("ceil_mode") == 1;
      if (k[0] == 1 && s[0] == 1 && p[0] == 0) return "";
      if (op == "AveragePool" && k[0] == shape_[1] && k[1] == shape_[2] && p[0] == 0 && shape_[1] == shape_[2]) {
        shape_ = {shape_[0]};
        return "strata::GlobalAvgPool";
      }
      const auto out = [&](std::int64_t size) {
        const std::int64_t span = size + 2 * p[0] - k[0];
        std::int64_t o = (ceil ? (span + s[0] - 1) / s[0] : span / s[0]) + 1;
        if (ceil && (o - 1) * s[0] >= size + p[0]) --o;  // the last window must start inside the input
        return o;
      };
      shape_ = {shape_[0], out(shape_[1]), out(shape_[2])};
      if (op == "AveragePool") {
        if (ceil) fail(n, "an average pool with ceil_mode");
        if (p[0] > 0 && !(n.has("count_include_pad") && n.i("count_include_pad") == 1))
          fail(n, "a padded average pool that does not count the padding (strata counts it as zeros)");
        return "strata::AvgPool<" + std::to_string(k[0]) + ", " + std::to_string(s[0]) + ", " + std::to_string(p[0]) + ">";
      }
      return "strata::MaxPool<" + std::to_string(k[0]) + ", " + std::to_string(s[0]) + ", " + std::to_string(p[0]) +
             (ceil ? ", strata::CeilMode>" : ">");
    }
    if (op == "GlobalAveragePool" || op == "ReduceMean") {
      if (!image) fail(n, "a global pool on a vector");
      if (op == "ReduceMean" && n.ints("axes") != std::vector<std::int64_t>{2, 3}) fail(n, "a ReduceMean over other axes than the plane");
      shape_ = {shape_[0]};
      return "strata::GlobalAvgPool";
    }
    if (op == "Flatten" || op == "Reshape" || op == "Squeeze") {
      if (!image) return "";
      std::int64_t f = 1;
      for (auto d : shape_) f *= d;
      shape_ = {f};
      return "strata::Flatten";
    }
    if (op == "Gemm" || op == "MatMul") {
      const tensor* w = n.inputs.size() > 1 ? g_.constant(n.inputs[1]) : nullptr;
      if (!w || w->dims.size() != 2) fail(n, "a product whose second operand is not a constant matrix");
      const bool trans_b = op == "Gemm" && n.has("transB") && n.i("transB") == 1;
      const std::int64_t outputs = trans_b ? w->dims[0] : w->dims[1];
      bool bias = op == "Gemm" && n.inputs.size() > 2 && !n.inputs[2].empty();
      if (op == "MatMul") {  // a bias is the Add that follows
        const auto r = readers(t);
        if (r.size() == 1 && r[0]->op_type == "Add") {
          const node& add = *r[0];
          const std::string& other = add.inputs.at(0) == t ? add.inputs.at(1) : add.inputs.at(0);
          if (g_.constant(other)) {
            bias = true;
            done_.insert(&add);
            t = add.outputs.at(0);
          }
        }
      }
      shape_ = {outputs};
      return "strata::Dense<" + std::to_string(outputs) + (bias ? ">" : ", strata::NoBias>");
    }
    if (op == "Pad") {
      if (!image) fail(n, "padding a vector");
      std::vector<std::int64_t> pads;
      if (n.inputs.size() > 1 && !n.inputs[1].empty() && g_.constant(n.inputs[1])) pads = g_.constant(n.inputs[1])->int_values();
      else pads = n.ints("pads");
      if (pads.size() != 8 || pads[0] || pads[1] || pads[4] || pads[5])
        fail(n, "a Pad other than zero padding of the image plane");
      if (n.has("mode") && n.s("mode") != "constant") fail(n, "a Pad with mode " + n.s("mode"));
      if (pads == std::vector<std::int64_t>(8, 0)) return "";  // PyTorch pads by nothing before an average pool
      shape_ = {shape_[0], shape_[1] + pads[2] + pads[6], shape_[2] + pads[3] + pads[7]};
      return "strata::ZeroPad<" + std::to_string(pads[2]) + ", " + std::to_string(pads[3]) + ", " +
             std::to_string(pads[6]) + ", " + std::to_string(pads[7]) + ">";
    }
    fail(n, "an operation strata has no layer for");
  }

  std::string conv(const node& n) {
    if (shape_.size() != 3) fail(n, "a convolution of a vector");
    const tensor* w = n.inputs.size() > 1 ? g_.constant(n.inputs[1]) : nullptr;
    if (!w || w->dims.size() != 4) fail(n, "a 2-D convolution whose weight is not a constant [K, C/groups, R, S] tensor");
    if (n.has("auto_pad") && n.s("auto_pad") != "NOTSET") fail(n, "auto_pad; export with explicit pads");
    for (auto d : n.ints("dilations"))
      if (d != 1) fail(n, "a dilated convolution");
    const std::int64_t K = w->dims[0], R = w->dims[2], S = w->dims[3];
    const std::int64_t groups = n.has("group") ? n.i("group") : 1;
    auto s = n.ints("strides");
    auto p = n.ints("pads");
    if (s.empty()) s = {1, 1};
    if (p.empty()) p = {0, 0, 0, 0};
    const bool bias = n.inputs.size() > 2 && !n.inputs[2].empty();
    std::string prefix;
    if (p[0] != p[2] || p[1] != p[3]) {  // asymmetric (TensorFlow's SAME): pad first, then convolve unpadded
      prefix = "strata::ZeroPad<" + std::to_string(p[0]) + ", " + std::to_string(p[1]) + ", " + std::to_string(p[2]) +
               ", " + std::to_string(p[3]) + ">, ";
      shape_ = {shape_[0], shape_[1] + p[0] + p[2], shape_[2] + p[1] + p[3]};
      p = {0, 0, 0, 0};
    }
    std::string options;
    const auto add = [&](const std::string& o) { options += ", " + o; };
    if (R != 3 || S != 3) add(R == S ? "strata::Kernel<" + std::to_string(R) + ">" : "strata::Kernel<" + std::to_string(R) + ", " + std::to_string(S) + ">");
    if (s[0] != 1 || s[1] != 1) add(s[0] == s[1] ? "strata::Stride<" + std::to_string(s[0]) + ">" : "strata::Stride<" + std::to_string(s[0]) + ", " + std::to_string(s[1]) + ">");
    if (p[0] != 0 || p[1] != 0) add(p[0] == p[1] ? "strata::Pad<" + std::to_string(p[0]) + ">" : "strata::Pad<" + std::to_string(p[0]) + ", " + std::to_string(p[1]) + ">");
    const std::int64_t C = shape_[0];
    if (w->dims[1] * groups != C)
      fail(n, "weight " + std::to_string(w->dims[1]) + " channels per group × group " + std::to_string(groups) +
                  " where the input has " + std::to_string(C) + " channels");
    const std::int64_t P = (shape_[1] + 2 * p[0] - R) / s[0] + 1, Q = (shape_[2] + 2 * p[1] - S) / s[1] + 1;
    shape_ = {K, P, Q};
    if (!bias) add("strata::NoBias");
    if (groups > 1 && groups == C && K == C) {
      options = options.empty() ? "" : options.substr(2);
      return prefix + "strata::DepthwiseConv<" + options + ">";
    }
    if (groups > 1) add("strata::Groups<" + std::to_string(groups) + ">");
    return prefix + "strata::Conv<" + std::to_string(K) + options + ">";
  }

  float clip_bound(const node& n, std::size_t input, const char* attribute) const {
    if (n.inputs.size() > input && !n.inputs[input].empty()) {
      const tensor* t = g_.constant(n.inputs[input]);
      if (!t) fail(n, "a Clip whose bounds are not constants");
      return t->float_values().at(0);
    }
    if (n.has(attribute)) return n.f(attribute);
    return input == 1 ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  }

  std::vector<const node*> readers(const std::string& t) const {
    std::vector<const node*> out;
    const auto it = readers_.find(t);
    if (it != readers_.end())
      for (std::size_t i : it->second)
        if (!done_.count(&g_.nodes[i])) out.push_back(&g_.nodes[i]);
    return out;
  }
  static bool is_join(const node& n) { return n.op_type == "Add" || n.op_type == "Sum" || n.op_type == "Concat"; }

  // The shortest decimal that reads back as the same float.
  static std::string number(double v) {
    std::ostringstream s;
    s << std::setprecision(7) << v;
    std::string out = s.str();
    if (out.find_first_of(".e") == std::string::npos) out += ".0";
    return out;
  }

  [[noreturn]] void fail(const node& n, const std::string& what) const {
    throw onnx_error("strata-onnx2cpp: node #" + std::to_string(&n - g_.nodes.data()) + " '" + n.name + "' (" +
                     n.op_type + "): " + what);
  }

  const graph& g_;
  std::vector<bool> shape_only_;
  std::map<std::string, std::vector<std::size_t>> readers_;
  std::set<const node*> done_;
  std::vector<std::int64_t> shape_;                    // the current tensor's shape after the batch
  std::map<std::string, std::int64_t> branch_channels_;  // channels of each tensor a walk ended at
};

}  // namespace detail

// C++ source declaring `using <name> = strata::Sequential<…>;` for graph g.
inline std::string network_type(const graph& g, const std::string& name = "Network") {
  return detail::type_writer(g).write(name);
}

}  // namespace strata::onnx
