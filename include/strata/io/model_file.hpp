// strata/io/model_file.hpp — a Model in one versioned, checksummed file (strata/io/archive.hpp):
// every parameter and every piece of state (batch-norm statistics) under its name, and the
// architecture signature. Loading checks everything before changing anything.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "strata/io/archive.hpp"
#include "strata/layers/layer.hpp"
#include "strata/net/model.hpp"

namespace strata {

namespace detail {
inline void check_model_entry(const io::archive& a, const std::string& name, std::int64_t size, io::element_code want) {
  const io::archive_entry& e = a.at(name);
  std::int64_t n = 1;
  for (std::int64_t d : e.shape) n *= d;
  if (e.type != want || n != size)
    throw io::archive_error("model file " + a.source + ": entry '" + name + "' holds " + io::to_string(e.type) + " " +
                            io::shape_string(e.shape) + ", the model needs " + io::to_string(want) + " [" +
                            std::to_string(size) + "]");
}
// Where a dynamic fixed-point tensor's exponent (its fraction bits, i32) is saved.
inline std::string exponent_entry(const std::string& name) { return name + ".fraction_bits"; }
}  // namespace detail

// Writes model to path.
template <class M, class Path>
void save_model(M& model, const Path& path) {
  using T = typename M::element_type;
  io::archive a;
  a.kind = "strata-model";
  a.signature = M::signature();
  a.version = 1;
  model.visit_parameters([&](const auto& p) { a.entries.push_back(io::make_entry(p.name, p.value)); });
  model.visit_state([&](const std::string& name, TensorView<T, 1> v) { a.entries.push_back(io::make_entry(name, v)); });
  if constexpr (has_dynamic_scale<T>) {  // each tensor's exponent beside its mantissas
    auto exponent = [&](const std::string& name, TensorView<T, 1> v) {
      Tensor<std::int32_t, 1> f(1);
      f(0) = v.size() > 0 ? scale_of(v.data()).fraction_bits : 0;
      a.entries.push_back(io::make_entry(detail::exponent_entry(name), f));
    };
    model.visit_parameters([&](const auto& p) { exponent(p.name, p.value); });
    model.visit_state(exponent);
  }
  io::write_archive(std::filesystem::path(path), a);
}

// Loads what save_model wrote. A file from another architecture or precision, a truncated or a
// corrupted file, or an entry of the wrong type or size throws io::archive_error saying which;
// the model is then left as it was.
template <class M, class Path>
void load_model(M& model, const Path& path) {
  using T = typename M::element_type;
  const io::archive a = io::read_archive(std::filesystem::path(path), "strata-model", M::signature());
  constexpr io::element_code code = io::element_code_of<T>();
  model.visit_parameters([&](const auto& p) { detail::check_model_entry(a, p.name, p.value.size(), code); });
  model.visit_state([&](const std::string& name, TensorView<T, 1> v) { detail::check_model_entry(a, name, v.size(), code); });
  if constexpr (has_dynamic_scale<T>) {
    auto check = [&](const std::string& name, TensorView<T, 1>) {
      detail::check_model_entry(a, detail::exponent_entry(name), 1, io::element_code_of<std::int32_t>());
    };
    model.visit_parameters([&](const auto& p) { check(p.name, p.value); });
    model.visit_state(check);
  }
  model.visit_parameters([&](const auto& p) { a.read(p.name, p.value); });
  model.visit_state([&](const std::string& name, TensorView<T, 1> v) { a.read(name, v); });
  if constexpr (has_dynamic_scale<T>) {
    auto exponent = [&](const std::string& name, TensorView<T, 1> v) {
      Tensor<std::int32_t, 1> f(1);
      a.read(detail::exponent_entry(name), f.view());
      if (v.size() > 0) {
        dynamic_scale& s = scale_of(v.data());
        s.fraction_bits = s.planned = f(0);
        s.written = true;
      }
    };
    model.visit_parameters([&](const auto& p) { exponent(p.name, p.value); });
    model.visit_state(exponent);
  }
}

}  // namespace strata
