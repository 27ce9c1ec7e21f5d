// strata/io/onnx/model.hpp — an ONNX file as plain C++ values: the graph's nodes with their
// attributes, its inputs and outputs, and its initializers (weights), read with strata's own
// protobuf reader (strata/io/onnx/protobuf.hpp). Only what a network importer needs is kept.
//
//   const strata::onnx::model m = strata::onnx::read_model("resnet18.onnx");
//   for (const auto& n : m.graph.nodes) std::cout << n.op_type << '\n';
//
// Every tensor's size is checked against its dims when the file is read, so a value accessor
// never reads past its data. Field numbers are those of onnx/onnx.proto3 (ONNX IR version ≤ 10).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "strata/io/onnx/protobuf.hpp"
#include "strata/numeric/half.hpp"

namespace strata::onnx {

// TensorProto.DataType values strata reads.
enum class tensor_type : std::int32_t {
  undefined = 0, float32 = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7, string = 8,
  boolean = 9, float16 = 10, float64 = 11, uint32 = 12, uint64 = 13, complex64 = 14, complex128 = 15, bfloat16 = 16,
};

inline const char* tensor_type_name(tensor_type t) noexcept {
  switch (t) {
    case tensor_type::float32: return "float32";
    case tensor_type::float16: return "float16";
    case tensor_type::float64: return "float64";
    case tensor_type::int32: return "int32";
    case tensor_type::int64: return "int64";
    case tensor_type::int8: return "int8";
    case tensor_type::uint8: return "uint8";
    case tensor_type::boolean: return "bool";
    default: return "an unsupported element type";
  }
}

// A constant tensor (an initializer or a Constant node's value). The values stay in the file's
// encoding until asked for.
struct tensor {
  std::string name;
  std::vector<std::int64_t> dims;
  tensor_type data_type = tensor_type::undefined;
  std::vector<std::uint8_t> raw;      // raw_data, little-endian
  std::vector<float> floats;          // float_data
  std::vector<double> doubles;        // double_data
  std::vector<std::int64_t> integers; // int32_data (also float16 bits, int8 …) or int64_data

  std::int64_t element_count() const {
    std::int64_t n = 1;
    for (auto d : dims) n *= d;
    return n;
  }
  bool is_floating() const {
    return data_type == tensor_type::float32 || data_type == tensor_type::float64 || data_type == tensor_type::float16;
  }
  bool is_integer() const {
    return data_type == tensor_type::int64 || data_type == tensor_type::int32 || data_type == tensor_type::int8 ||
           data_type == tensor_type::uint8 || data_type == tensor_type::int16 || data_type == tensor_type::uint16;
  }

  // The values as float (a floating-point tensor) or int64 (an integer one); onnx_error otherwise.
  std::vector<float> float_values() const {
    const auto n = static_cast<std::size_t>(element_count());
    std::vector<float> out(n);
    switch (data_type) {
      case tensor_type::float32:
        if (!raw.empty()) std::memcpy(out.data(), raw.data(), n * 4);
        else out = floats;
        break;
      case tensor_type::float64:
        for (std::size_t i = 0; i < n; ++i) {
          double d;
          if (!raw.empty()) std::memcpy(&d, raw.data() + 8 * i, 8);
          else d = doubles[i];
          out[i] = static_cast<float>(d);
        }
        break;
      case tensor_type::float16:
        for (std::size_t i = 0; i < n; ++i) {
          std::uint16_t h;
          if (!raw.empty()) std::memcpy(&h, raw.data() + 2 * i, 2);
          else h = static_cast<std::uint16_t>(integers[i]);
          out[i] = half_bits_to_float(h);
        }
        break;
      default:
        throw onnx_error("ONNX tensor '" + name + "' holds " + tensor_type_name(data_type) +
                         " values where floating-point values are needed");
    }
    return out;
  }
  std::vector<std::int64_t> int_values() const {
    const auto n = static_cast<std::size_t>(element_count());
    if (!is_integer())
      throw onnx_error("ONNX tensor '" + name + "' holds " + tensor_type_name(data_type) +
                       " values where integers are needed");
    if (raw.empty()) return integers;
    std::vector<std::int64_t> out(n);
    const std::size_t w = element_size(data_type);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t* p = raw.data() + w * i;
      switch (data_type) {
        case tensor_type::int64: { std::int64_t v; std::memcpy(&v, p, 8); out[i] = v; break; }
        case tensor_type::int32: { std::int32_t v; std::memcpy(&v, p, 4); out[i] = v; break; }
        case tensor_type::int16: { std::int16_t v; std::memcpy(&v, p, 2); out[i] = v; break; }
        case tensor_type::uint16: { std::uint16_t v; std::memcpy(&v, p, 2); out[i] = v; break; }
        case tensor_type::int8: out[i] = static_cast<std::int8_t>(*p); break;
        default: out[i] = *p; break;
      }
    }
    return out;
  }

  static std::size_t element_size(tensor_type t) noexcept {
    switch (t) {
      case tensor_type::float64: case tensor_type::int64: case tensor_type::uint64: return 8;
      case tensor_type::float32: case tensor_type::int32: case tensor_type::uint32: return 4;
      case tensor_type::float16: case tensor_type::bfloat16: case tensor_type::int16: case tensor_type::uint16: return 2;
      case tensor_type::int8: case tensor_type::uint8: case tensor_type::boolean: return 1;
      default: return 0;
    }
  }
};

// AttributeProto.AttributeType values.
enum class attribute_type : std::int32_t {
  undefined = 0, float32 = 1, integer = 2, string = 3, tensor = 4, graph = 5, floats = 6, ints = 7, strings = 8,
};

struct attribute {
  std::string name;
  attribute_type type = attribute_type::undefined;
  float f = 0;
  std::int64_t i = 0;
  std::string s;
  std::vector<float> floats;
  std::vector<std::int64_t> ints;
  std::vector<onnx::tensor> t;  // the value of a tensor attribute (0 or 1 element)
};

struct node {
  std::string name, op_type, domain;
  std::vector<std::string> inputs, outputs;
  std::vector<attribute> attributes;

  const attribute* find(std::string_view a) const {
    for (const auto& x : attributes)
      if (x.name == a) return &x;
    return nullptr;
  }
  bool has(std::string_view a) const { return find(a) != nullptr; }
  std::int64_t i(std::string_view a) const { return get(a, attribute_type::integer, "an integer").i; }
  float f(std::string_view a) const { return get(a, attribute_type::float32, "a float").f; }
  const std::string& s(std::string_view a) const { return get(a, attribute_type::string, "a string").s; }
  const onnx::tensor& t(std::string_view a) const { return get(a, attribute_type::tensor, "a tensor").t.at(0); }
  // A list attribute; empty when absent.
  std::vector<std::int64_t> ints(std::string_view a) const {
    const attribute* x = find(a);
    return x ? get(a, attribute_type::ints, "a list of integers").ints : std::vector<std::int64_t>{};
  }
  std::vector<float> floats(std::string_view a) const {
    const attribute* x = find(a);
    return x ? get(a, attribute_type::floats, "a list of floats").floats : std::vector<float>{};
  }
  std::string label() const { return "node '" + name + "' (" + op_type + ")"; }

 private:
  const attribute& get(std::string_view a, attribute_type type, const char* what) const {
    const attribute* x = find(a);
    if (!x) throw onnx_error("ONNX " + label() + " has no attribute '" + std::string(a) + "'");
    if (x->type != type)
      throw onnx_error("ONNX " + label() + ": attribute '" + std::string(a) + "' is not " + what);
    return *x;
  }
};

// A graph input or output: its name and, where the file gives them, its dims (-1: symbolic).
struct value_info {
  std::string name;
  tensor_type elem_type = tensor_type::undefined;
  std::vector<std::int64_t> dims;
};

struct graph {
  std::string name;
  std::vector<node> nodes;
  std::vector<tensor> initializers;
  std::vector<value_info> inputs, outputs;

  const tensor* initializer(std::string_view n) const {
    const auto it = initializer_index.find(std::string(n));
    return it == initializer_index.end() ? nullptr : &initializers[it->second];
  }
  // An initializer, the value of a Constant node, or an integer tensor computed from constants
  // only (the pads PyTorch computes for F.pad), by the tensor's name; null if none of these.
  const tensor* constant(std::string_view n) const {
    if (const tensor* t = initializer(n)) return t;
    const auto it = constant_index.find(std::string(n));
    if (it != constant_index.end()) return &nodes[it->second].t("value");
    const auto f = folded.find(std::string(n));
    return f == folded.end() ? nullptr : &f->second;
  }
  // The node that writes tensor n, or null (a graph input or an initializer).
  const node* producer(std::string_view n) const {
    const auto it = producer_index.find(std::string(n));
    return it == producer_index.end() ? nullptr : &nodes[it->second];
  }

  void index() {
    initializer_index.clear();
    constant_index.clear();
    producer_index.clear();
    folded.clear();
    for (std::size_t i = 0; i < initializers.size(); ++i) initializer_index[initializers[i].name] = i;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      for (const auto& o : nodes[i].outputs)
        if (!o.empty()) producer_index[o] = i;
      if (nodes[i].op_type == "Constant" && nodes[i].outputs.size() == 1) {
        const attribute* v = nodes[i].find("value");
        if (v && v->type == attribute_type::tensor && !v->t.empty()) constant_index[nodes[i].outputs[0]] = i;
      }
    }
    fold_integer_constants();
  }

 private:
  // Evaluates the integer operations whose inputs are all constant (nodes are topologically
  // sorted, so one pass suffices). Anything it cannot evaluate simply stays a node.
  void fold_integer_constants();

  std::map<std::string, std::size_t> initializer_index, constant_index, producer_index;
  std::map<std::string, tensor> folded;
};

struct model {
  std::int64_t ir_version = 0;
  std::int64_t opset = 0;  // of the default ("" or "ai.onnx") domain
  std::string producer_name, producer_version;
  onnx::graph graph;
};

namespace detail {

// Row-major strides of dims.
inline std::vector<std::int64_t> strides_of(const std::vector<std::int64_t>& dims) {
  std::vector<std::int64_t> s(dims.size(), 1);
  for (std::size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

// One integer operation on constant operands; false if it is not one strata evaluates.
inline bool evaluate_integer(const node& n, const std::vector<const tensor*>& in, tensor& out) {
  const auto values = [&](std::size_t i) { return in.at(i)->int_values(); };
  out.data_type = tensor_type::int64;
  const std::string& op = n.op_type;
  if (op == "Identity" || op == "Cast") {
    if (op == "Cast" && n.i("to") != std::int64_t(tensor_type::int64) && n.i("to") != std::int64_t(tensor_type::int32))
      return false;
    out.dims = in.at(0)->dims;
    out.integers = values(0);
  } else if (op == "ConstantOfShape") {
    const auto shape = values(0);
    std::int64_t fill = 0;
    if (const attribute* v = n.find("value"); v && !v->t.empty()) {
      if (!v->t[0].is_integer()) return false;
      fill = v->t[0].int_values().at(0);
    }
    out.dims = shape;
    out.integers.assign(static_cast<std::size_t>(out.element_count()), fill);
  } else if (op == "Concat") {
    if (n.i("axis") != 0 && !(n.i("axis") == -1 && in.at(0)->dims.size() == 1)) return false;
    out.dims = {0};
    for (const tensor* t : in) {
      if (t->dims.size() != 1) return false;
      const auto v = t->int_values();
      out.integers.insert(out.integers.end(), v.begin(), v.end());
    }
    out.dims[0] = std::int64_t(out.integers.size());
  } else if (op == "Reshape" || op == "Unsqueeze" || op == "Squeeze") {
    out.integers = values(0);
    const std::int64_t count = in.at(0)->element_count();
    if (op == "Reshape") {
      out.dims = values(1);
      std::int64_t known = 1, unknown = -1;
      for (std::size_t i = 0; i < out.dims.size(); ++i) {
        if (out.dims[i] == 0) out.dims[i] = in.at(0)->dims.at(i);
        if (out.dims[i] == -1) unknown = std::int64_t(i);
        else known *= out.dims[i];
      }
      if (unknown >= 0 && known > 0) out.dims[std::size_t(unknown)] = count / known;
    } else {  // only the cases shape arithmetic meets: to or from rank 1
      out.dims = count == 1 && op == "Squeeze" ? std::vector<std::int64_t>{} : std::vector<std::int64_t>{count};
    }
    if (out.element_count() != count) return false;
  } else if (op == "Transpose") {
    const auto& d = in.at(0)->dims;
    std::vector<std::int64_t> perm = n.ints("perm");
    if (perm.empty())
      for (std::size_t i = d.size(); i-- > 0;) perm.push_back(std::int64_t(i));
    if (perm.size() != d.size()) return false;
    const auto v = values(0);
    const auto src = strides_of(d);
    for (auto p : perm) out.dims.push_back(d.at(std::size_t(p)));
    const auto dst = strides_of(out.dims);
    out.integers.assign(v.size(), 0);
    for (std::int64_t i = 0; i < std::int64_t(v.size()); ++i) {
      std::int64_t from = 0;
      for (std::size_t k = 0; k < perm.size(); ++k) from += (i / dst[k]) % out.dims[k] * src[std::size_t(perm[k])];
      out.integers[std::size_t(i)] = v[std::size_t(from)];
    }
  } else if (op == "Slice") {  // opset ≥ 10: starts, ends, axes, steps as inputs
    if (in.size() < 3) return false;
    const auto& d = in.at(0)->dims;
    const auto v = values(0);
    const auto starts = values(1), ends = values(2);
    std::vector<std::int64_t> axes = in.size() > 3 && in[3] ? values(3) : std::vector<std::int64_t>{};
    std::vector<std::int64_t> steps = in.size() > 4 && in[4] ? values(4) : std::vector<std::int64_t>{};
    if (axes.empty())
      for (std::size_t i = 0; i < starts.size(); ++i) axes.push_back(std::int64_t(i));
    if (steps.empty()) steps.assign(starts.size(), 1);
    std::vector<std::int64_t> first(d.size(), 0), step(d.size(), 1);
    out.dims = d;
    for (std::size_t k = 0; k < axes.size(); ++k) {
      const std::int64_t a = axes[k] < 0 ? axes[k] + std::int64_t(d.size()) : axes[k];
      if (a < 0 || a >= std::int64_t(d.size()) || steps[k] == 0) return false;
      const std::int64_t dim = d[std::size_t(a)];
      std::int64_t s = starts[k] < 0 ? starts[k] + dim : starts[k];
      std::int64_t e = ends[k] < 0 ? ends[k] + dim : ends[k];
      if (steps[k] > 0) {
        s = std::clamp<std::int64_t>(s, 0, dim);
        e = std::clamp<std::int64_t>(e, 0, dim);
        out.dims[std::size_t(a)] = e > s ? (e - s + steps[k] - 1) / steps[k] : 0;
      } else {
        s = std::clamp<std::int64_t>(s, 0, dim - 1);
        e = std::clamp<std::int64_t>(e, -1, dim - 1);
        out.dims[std::size_t(a)] = s > e ? (s - e - steps[k] - 1) / -steps[k] : 0;
      }
      first[std::size_t(a)] = s;
      step[std::size_t(a)] = steps[k];
    }
    const auto src = strides_of(d), dst = strides_of(out.dims);
    const std::int64_t count = out.element_count();
    for (std::int64_t i = 0; i < count; ++i) {
      std::int64_t from = 0;
      for (std::size_t k = 0; k < d.size(); ++k) from += (first[k] + (i / dst[k]) % out.dims[k] * step[k]) * src[k];
      out.integers.push_back(v.at(std::size_t(from)));
    }
  } else if (op == "Gather") {
    if (in.at(0)->dims.size() != 1 || (n.has("axis") && n.i("axis") != 0)) return false;
    const auto v = values(0);
    const auto idx = values(1);
    out.dims = in.at(1)->dims;
    for (auto i : idx) {
      const std::int64_t j = i < 0 ? i + std::int64_t(v.size()) : i;
      if (j < 0 || j >= std::int64_t(v.size())) return false;
      out.integers.push_back(v[std::size_t(j)]);
    }
  } else {
    return false;
  }
  return true;
}

using protobuf::reader;

inline void read_tensor(reader r, tensor& t) {
  bool has_location = false;
  while (r.next()) {
    switch (r.field()) {
      case 1: r.append_varints(t.dims); break;
      case 2: t.data_type = static_cast<tensor_type>(r.int32()); break;
      case 4: r.append_floats(t.floats); break;
      case 5: r.append_int32s(t.integers); break;
      case 7: r.append_varints(t.integers); break;
      case 8: t.name = r.string(); break;
      case 9: {
        const auto b = r.bytes();
        t.raw.assign(b.begin(), b.end());
        break;
      }
      case 10: r.append_doubles(t.doubles); break;
      case 13: has_location = true; break;  // external_data
      case 14: has_location = has_location || r.int64() != 0; break;
      default: break;
    }
  }
  if (has_location)
    r.fail_message(t.name, "its values are stored in an external file, which strata does not read "
                           "(export with the weights inside the .onnx file)");
  std::int64_t n = 1;
  for (auto d : t.dims) {
    if (d < 0) r.fail_message(t.name, "negative dimension " + std::to_string(d));
    if (d > 0 && n > std::numeric_limits<std::int64_t>::max() / d) r.fail_message(t.name, "its dims overflow");
    n *= d;
  }
  const auto un = static_cast<std::size_t>(n);
  const std::size_t width = tensor::element_size(t.data_type);
  if (t.data_type == tensor_type::string || width == 0) return;  // kept, but no values can be asked for
  std::size_t have = 0;
  const char* encoding = "";
  if (!t.raw.empty()) {
    if (t.raw.size() != un * width)
      r.fail_message(t.name, "raw_data has " + std::to_string(t.raw.size()) + " bytes, its dims need " +
                                 std::to_string(un * width) + " (" + std::to_string(n) + " × " +
                                 std::to_string(width) + ")");
    return;
  }
  switch (t.data_type) {
    case tensor_type::float32: have = t.floats.size(); encoding = "float_data"; break;
    case tensor_type::float64: have = t.doubles.size(); encoding = "double_data"; break;
    default: have = t.integers.size(); encoding = t.data_type == tensor_type::int64 ? "int64_data" : "int32_data"; break;
  }
  if (have != un)
    r.fail_message(t.name, std::string(encoding) + " has " + std::to_string(have) + " values, its dims need " +
                               std::to_string(n));
}

inline void read_attribute(reader r, attribute& a) {
  while (r.next()) {
    switch (r.field()) {
      case 1: a.name = r.string(); break;
      case 2: a.f = r.float32(); break;
      case 3: a.i = r.int64(); break;
      case 4: a.s = r.string(); break;
      case 5: a.t.emplace_back(); read_tensor(r.message("TensorProto"), a.t.back()); break;
      case 7: r.append_floats(a.floats); break;
      case 8: r.append_varints(a.ints); break;
      case 20: a.type = static_cast<attribute_type>(r.int32()); break;
      default: break;  // graphs, sparse tensors, type protos: not needed by an importer
    }
  }
}

inline void read_node(reader r, node& n) {
  while (r.next()) {
    switch (r.field()) {
      case 1: n.inputs.push_back(r.string()); break;
      case 2: n.outputs.push_back(r.string()); break;
      case 3: n.name = r.string(); break;
      case 4: n.op_type = r.string(); break;
      case 5: n.attributes.emplace_back(); read_attribute(r.message("AttributeProto"), n.attributes.back()); break;
      case 7: n.domain = r.string(); break;
      default: break;
    }
  }
  if (n.op_type.empty()) r.fail_message(n.name, "the node has no op_type");
  if (n.outputs.empty()) r.fail_message(n.name, "the node has no outputs");
}

// ValueInfoProto: name and TypeProto.tensor_type.{elem_type, shape.dim[].dim_value}.
inline void read_value_info(reader r, value_info& v) {
  while (r.next()) {
    if (r.field() == 1) {
      v.name = r.string();
    } else if (r.field() == 2) {
      reader type = r.message("TypeProto");
      while (type.next()) {
        if (type.field() != 1) continue;  // not a tensor type
        reader tt = type.message("TypeProto.Tensor");
        while (tt.next()) {
          if (tt.field() == 1) {
            v.elem_type = static_cast<tensor_type>(tt.int32());
          } else if (tt.field() == 2) {
            reader shape = tt.message("TensorShapeProto");
            while (shape.next()) {
              if (shape.field() != 1) continue;
              reader dim = shape.message("TensorShapeProto.Dimension");
              std::int64_t value = -1;  // symbolic (dim_param) or unknown
              while (dim.next())
                if (dim.field() == 1) value = dim.int64();
              v.dims.push_back(value);
            }
          }
        }
      }
    }
  }
}

inline void read_graph(reader r, graph& g) {
  while (r.next()) {
    switch (r.field()) {
      case 1: g.nodes.emplace_back(); read_node(r.message("NodeProto"), g.nodes.back()); break;
      case 2: g.name = r.string(); break;
      case 5: g.initializers.emplace_back(); read_tensor(r.message("TensorProto"), g.initializers.back()); break;
      case 11: g.inputs.emplace_back(); read_value_info(r.message("ValueInfoProto"), g.inputs.back()); break;
      case 12: g.outputs.emplace_back(); read_value_info(r.message("ValueInfoProto"), g.outputs.back()); break;
      default: break;
    }
  }
  g.index();
}

}  // namespace detail

inline void graph::fold_integer_constants() {
  for (const node& n : nodes) {
    if (n.op_type == "Constant" || n.outputs.size() != 1) continue;
    std::vector<const tensor*> in;
    bool all = !n.inputs.empty();
    for (const auto& name : n.inputs) {
      const tensor* t = name.empty() ? nullptr : constant(name);
      all = all && (name.empty() || (t && t->is_integer()));
      in.push_back(t);
    }
    if (!all || !in.at(0)) continue;
    tensor out;
    out.name = n.outputs[0];
    try {
      if (detail::evaluate_integer(n, in, out)) folded.emplace(out.name, std::move(out));
    } catch (const onnx_error&) {  // malformed attributes: left as a node for the importer to name
    }
  }
}

// The nodes of g that only compute shapes or constants (Shape, the Gather/Unsqueeze/Concat on its
// result, Constant …): every input of theirs is a constant or such a node's output.
inline std::vector<bool> shape_only_nodes(const graph& g) {
  std::set<std::string> shape_tensors;
  for (const auto& t : g.initializers) shape_tensors.insert(t.name);
  std::vector<bool> out(g.nodes.size(), false);
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {  // ONNX nodes are topologically sorted
    const node& n = g.nodes[i];
    bool only = n.op_type == "Shape" || n.op_type == "Constant" || n.op_type == "ConstantOfShape" || n.op_type == "Size";
    if (!only && !n.inputs.empty()) {
      only = true;
      for (const auto& in : n.inputs)
        only = only && (in.empty() || shape_tensors.count(in) > 0);
    }
    if (only) {
      out[i] = true;
      for (const auto& o : n.outputs) shape_tensors.insert(o);
    }
  }
  return out;
}

// Parses an ONNX ModelProto held in `bytes`; `source` names it in error messages.
inline model parse_model(std::span<const std::uint8_t> bytes, std::string_view source) {
  protobuf::reader r(bytes, source, "ModelProto");
  model m;
  bool has_graph = false;
  while (r.next()) {
    switch (r.field()) {
      case 1: m.ir_version = r.int64(); break;
      case 2: m.producer_name = r.string(); break;
      case 3: m.producer_version = r.string(); break;
      case 7: detail::read_graph(r.message("GraphProto"), m.graph); has_graph = true; break;
      case 8: {
        protobuf::reader op = r.message("OperatorSetIdProto");
        std::string domain;
        std::int64_t version = 0;
        while (op.next()) {
          if (op.field() == 1) domain = op.string();
          else if (op.field() == 2) version = op.int64();
        }
        if (domain.empty() || domain == "ai.onnx") m.opset = version;
        break;
      }
      default: break;
    }
  }
  if (!has_graph) throw onnx_error(std::string(source) + ": not an ONNX model (the ModelProto has no graph)");
  return m;
}

// Reads and parses an ONNX file.
inline model read_model(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw onnx_error(file.string() + ": cannot open the ONNX file");
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw onnx_error(file.string() + ": read error");
  if (bytes.empty()) throw onnx_error(file.string() + ": the ONNX file is empty");
  return parse_model(bytes, file.string());
}

}  // namespace strata::onnx
