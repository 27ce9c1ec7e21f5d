// strata/io/state_dict.hpp — PyTorch state dicts into a Model of the same network, by name: a
// state dict written by tools/pytorch/export_state_dict.py (SFIX: names, dims, float32 values)
// is matched to the model's parameters and statistics, either through an explicit name map or in
// definition order with the kinds checked (strata "weight", "bias", "gamma", "beta",
// "running_mean", "running_var" against PyTorch's "weight", "bias", "weight", "bias",
// "running_mean", "running_var"), and shapes checked. Any mismatch throws a state_dict_error
// naming the entry and the parameter; nothing is copied unless everything matched.
//
//   strata::Model<MyNet> m;
//   strata::import_state_dict(m, "my_net_state_dict.bin");                 // by definition order
//   strata::import_state_dict(m, "x.bin", {{"0.weight", "features.0.weight"}, …});  // by name
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/tensor.hpp"

namespace strata {

class state_dict_error : public error {
 public:
  using error::error;
};

// One tensor of a state dict.
struct state_dict_entry {
  std::string name;
  std::vector<std::int64_t> dims;
  std::vector<float> values;
};

using state_dict = std::vector<state_dict_entry>;

// Reads an SFIX file (tests/reference/README.md), checking every count against the file's size.
inline state_dict read_state_dict(const std::filesystem::path& file) {
  const std::string f = file.string();
  std::ifstream in(file, std::ios::binary);
  if (!in) throw state_dict_error(f + ": cannot open the state dict");
  const std::vector<unsigned char> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t pos = 0;
  const auto fail = [&](const std::string& what) -> void {
    throw state_dict_error(f + ": at byte " + std::to_string(pos) + ": " + what);
  };
  const auto need = [&](std::size_t n, const char* what) {
    if (b.size() - pos < n) fail(std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes");
  };
  const auto u32 = [&](const char* what) {
    need(4, what);
    std::uint32_t v;
    std::memcpy(&v, b.data() + pos, 4);
    pos += 4;
    return v;
  };
  if (b.size() < 4 || std::memcmp(b.data(), "SFIX", 4) != 0)
    throw state_dict_error(f + ": not a state dict (an SFIX file starts with \"SFIX\"; "
                               "tools/pytorch/export_state_dict.py writes them)");
  pos = 4;
  if (const auto version = u32("the version"); version != 1) fail("version " + std::to_string(version) + ", not 1");
  const std::uint32_t count = u32("the tensor count");
  state_dict out;
  for (std::uint32_t t = 0; t < count; ++t) {
    state_dict_entry e;
    const std::uint32_t length = u32("a name length");
    need(length, "a name");
    e.name.assign(reinterpret_cast<const char*>(b.data() + pos), length);
    pos += length;
    const std::uint32_t rank = u32("a rank");
    if (rank > 8) fail("tensor '" + e.name + "' has rank " + std::to_string(rank));
    std::int64_t n = 1;
    for (std::uint32_t d = 0; d < rank; ++d) {
      need(8, "a dimension");
      std::int64_t v;
      std::memcpy(&v, b.data() + pos, 8);
      pos += 8;
      if (v < 0 || (v > 0 && n > (std::int64_t(1) << 40) / v)) fail("tensor '" + e.name + "' has a bad dimension");
      e.dims.push_back(v);
      n *= v;
    }
    need(static_cast<std::size_t>(n) * 4, ("the values of '" + e.name + "'").c_str());
    e.values.resize(static_cast<std::size_t>(n));
    std::memcpy(e.values.data(), b.data() + pos, static_cast<std::size_t>(n) * 4);
    pos += static_cast<std::size_t>(n) * 4;
    out.push_back(std::move(e));
  }
  if (pos != b.size()) fail(std::to_string(b.size() - pos) + " bytes after the last tensor");
  return out;
}

namespace detail {

// The role of a strata parameter or statistic ("gamma") and PyTorch's name for it ("weight").
inline std::string torch_role(const std::string& strata_name) {
  const auto dot = strata_name.rfind('.');
  const std::string role = dot == std::string::npos ? strata_name : strata_name.substr(dot + 1);
  if (role == "gamma") return "weight";
  if (role == "beta") return "bias";
  return role;
}
inline std::string last_part(const std::string& name) {
  const auto dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}
inline bool is_statistic(const std::string& torch_name) {
  const std::string r = last_part(torch_name);
  return r == "running_mean" || r == "running_var";
}
inline std::string dims_text(const std::vector<std::int64_t>& d) {
  std::string s = "[";
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

}  // namespace detail

// strata name → PyTorch key. Empty: match in definition order.
using state_dict_names = std::vector<std::pair<std::string, std::string>>;

// Copies `dict` into `model` (see the top of this header); `source` names it in messages.
template <class M>
void import_state_dict(M& model, const state_dict& dict, const state_dict_names& names = {},
                       const std::string& source = "the state dict") {
  using T = typename M::element_type;
  struct target {
    std::string name;
    TensorView<T, 1> view;
    bool statistic;
  };
  std::vector<target> targets;
  model.visit_parameters([&](const auto& p) { targets.push_back({p.name, p.value, false}); });
  model.visit_state([&](const std::string& name, TensorView<T, 1> v) { targets.push_back({name, v, true}); });

  std::map<std::string, const state_dict_entry*> by_name;
  std::vector<const state_dict_entry*> parameters, statistics;  // PyTorch's, in its order
  for (const auto& e : dict) {
    if (detail::last_part(e.name) == "num_batches_tracked") continue;  // a counter, not a value
    by_name[e.name] = &e;
    (detail::is_statistic(e.name) ? statistics : parameters).push_back(&e);
  }
  std::vector<std::pair<const target*, const state_dict_entry*>> copies;
  const auto check = [&](const target& t, const state_dict_entry& e, std::size_t index) {
    const std::string role = detail::torch_role(t.name), torch_role = detail::last_part(e.name);
    const std::string where = source + ": entry #" + std::to_string(index) + " '" + e.name + "' " + detail::dims_text(e.dims);
    if (role != torch_role)
      throw state_dict_error(where + " does not match " + t.name + ": a " + torch_role + " where the model has a " +
                             role + " (PyTorch's " + (role == "weight" && t.name.ends_with("gamma") ? "batch-norm weight" : role) + ")");
    std::int64_t n = 1;
    for (auto d : e.dims) n *= d;
    if (n != t.view.size())
      throw state_dict_error(where + " does not match " + t.name + ": " + std::to_string(n) + " values where the model has " +
                             std::to_string(t.view.size()));
    copies.emplace_back(&t, &e);
  };
  if (!names.empty()) {
    std::map<std::string, std::string> map(names.begin(), names.end());
    for (const auto& t : targets) {
      const auto m = map.find(t.name);
      if (m == map.end()) throw state_dict_error(source + ": the name map has no entry for " + t.name);
      const auto e = by_name.find(m->second);
      if (e == by_name.end()) throw state_dict_error(source + ": no entry '" + m->second + "' (for " + t.name + ")");
      check(t, *e->second, std::size_t(e->second - dict.data()));
      by_name.erase(e);
    }
    if (!by_name.empty()) throw state_dict_error(source + ": entry '" + by_name.begin()->first + "' is not used by the name map");
  } else {
    std::size_t p = 0, s = 0;
    for (const auto& t : targets) {
      auto& list = t.statistic ? statistics : parameters;
      std::size_t& i = t.statistic ? s : p;
      if (i == list.size())
        throw state_dict_error(source + ": the state dict has fewer " + (t.statistic ? "statistics" : "parameters") +
                               " than the model (" + std::to_string(list.size()) + "); nothing for " + t.name);
      check(t, *list[i], std::size_t(list[i] - dict.data()));
      ++i;
    }
    if (p != parameters.size() || s != statistics.size()) {
      const state_dict_entry* extra = p != parameters.size() ? parameters[p] : statistics[s];
      throw state_dict_error(source + ": entry #" + std::to_string(extra - dict.data()) + " '" + extra->name +
                             "' and any after it have no counterpart in the model");
    }
  }
  for (auto& [t, e] : copies)
    for (std::int64_t i = 0; i < t->view.size(); ++i) t->view.data()[i] = T(e->values[std::size_t(i)]);
}

template <class M>
void import_state_dict(M& model, const std::filesystem::path& file, const state_dict_names& names = {}) {
  import_state_dict(model, read_state_dict(file), names, file.string());
}

}  // namespace strata
