// strata/io/model_file.hpp — a Model in one versioned, checksummed file (strata/io/archive.hpp):
// every parameter and every piece of state (batch-norm statistics) under its name, and the
// architecture signature. Loading checks everything before changing anything. A binary model's
// binarised weights are saved as what inference uses, one bit each (and XNOR-Net's scales): loading
// sets their latent weights to ±1 (±scale), so training resumes from the saved binary network.
// Files are device-neutral: a GPU model saves what a CPU model loads, and the other way.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <type_traits>

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
// Where a scaled binary layer's per-channel scales are saved.
inline std::string scale_entry(const std::string& name) { return name + ".scale"; }

// A binary layer's latent weights as what inference needs: their signs, packed (one bit each, in
// the tensor's own order), and for XNOR-Net layers each output channel's scale, the mean |w| of
// its latent weights clipped to [−1, 1] as the forward pass sees them.
template <class P>
void append_binarized(io::archive& a, const P& p) {
  using T = std::remove_const_t<typename decltype(p.value)::element_type>;
  const std::int64_t n = p.value.size(), rows = p.binarized.rows, per_row = n / rows;
  const T* w = p.value.data();
  auto bits = Tensor<binary, 1>::uninitialized(Shape<1>{n});
  bits.fill(binary{});
  for (std::int64_t i = 0; i < n; ++i)
    if (w[i] < T(0)) bits.words()[i / 64] |= std::uint64_t{1} << (i % 64);
  a.entries.push_back(io::make_entry(p.name, bits));
  if (p.binarized.scaled) {
    Tensor<T, 1> scale(Shape<1>{rows});
    for (std::int64_t r = 0; r < rows; ++r) {
      double sum = 0;
      for (std::int64_t i = r * per_row; i < (r + 1) * per_row; ++i) sum += std::min(1.0, std::abs(double(w[i])));
      scale(r) = T(sum / double(per_row));
    }
    a.entries.push_back(io::make_entry(scale_entry(p.name), scale));
  }
}
// The inverse: latent weights ±1 (±scale), whose signs and scales give back the same binary layer.
template <class P>
void read_binarized(const io::archive& a, const P& p) {
  using T = std::remove_const_t<typename decltype(p.value)::element_type>;
  const std::int64_t n = p.value.size(), rows = p.binarized.rows, per_row = n / rows;
  auto bits = Tensor<binary, 1>::uninitialized(Shape<1>{n});
  a.read(p.name, bits);
  Tensor<T, 1> scale(Shape<1>{rows}, T(1));
  if (p.binarized.scaled) a.read(scale_entry(p.name), scale.view());
  T* w = p.value.data();
  for (std::int64_t i = 0; i < n; ++i) w[i] = (bits.words()[i / 64] >> (i % 64)) & 1 ? -scale(i / per_row) : scale(i / per_row);
}

// A tensor as the archive sees it: on the host. A device tensor is copied there (and back into
// the device tensor after reading), so a model file moves between CPU and GPU models.
template <class V>
decltype(auto) on_host(const V& v) {
  if constexpr (std::is_same_v<typename V::device_type, cpu>) {
    return (v);
  } else {
    auto h = Tensor<typename V::element_type, V::rank, cpu>::uninitialized(v.shape());
    copy(v, h);
    return h;
  }
}
template <class V>
void read_tensor(const io::archive& a, const std::string& name, const V& into) {
  if constexpr (std::is_same_v<typename V::device_type, cpu>) {
    a.read(name, into);
  } else {
    auto h = Tensor<typename V::element_type, V::rank, cpu>::uninitialized(into.shape());
    a.read(name, h.view());
    copy(h, into);
  }
}
}  // namespace detail

namespace detail {
// The model's parameters and state as archive entries (what a model file and a checkpoint hold).
template <class M>
void append_model(io::archive& a, M& model) {
  using T = typename M::element_type;
  model.visit_parameters([&](const auto& p) {
    if constexpr (std::is_floating_point_v<T>)  // binary layers' latent weights are fp32 or fp64
      if (p.binarized.rows > 0) return detail::append_binarized(a, p);
    a.entries.push_back(io::make_entry(p.name, detail::on_host(p.value)));
  });
  model.visit_state([&](const std::string& name, const auto& v) { a.entries.push_back(io::make_entry(name, detail::on_host(v))); });
  if constexpr (has_dynamic_scale<T>) {  // each tensor's exponent beside its mantissas
    auto exponent = [&](const std::string& name, TensorView<T, 1> v) {
      Tensor<std::int32_t, 1> f(1);
      f(0) = v.size() > 0 ? scale_of(v.data()).fraction_bits : 0;
      a.entries.push_back(io::make_entry(detail::exponent_entry(name), f));
    };
    model.visit_parameters([&](const auto& p) { exponent(p.name, p.value); });
    model.visit_state(exponent);
  }
}

// Every entry append_model wrote, checked for presence, type and size before any is read.
template <class M>
void check_model(const io::archive& a, M& model) {
  using T = typename M::element_type;
  constexpr io::element_code code = io::element_code_of<T>();
  model.visit_parameters([&](const auto& p) {
    if (p.binarized.rows > 0) {
      detail::check_model_entry(a, p.name, p.value.size(), io::element_code::binary);
      if (p.binarized.scaled) detail::check_model_entry(a, detail::scale_entry(p.name), p.binarized.rows, code);
    } else {
      detail::check_model_entry(a, p.name, p.value.size(), code);
    }
  });
  model.visit_state([&](const std::string& name, const auto& v) { detail::check_model_entry(a, name, v.size(), code); });
  if constexpr (has_dynamic_scale<T>) {
    auto check = [&](const std::string& name, TensorView<T, 1>) {
      detail::check_model_entry(a, detail::exponent_entry(name), 1, io::element_code_of<std::int32_t>());
    };
    model.visit_parameters([&](const auto& p) { check(p.name, p.value); });
    model.visit_state(check);
  }
}

// Reads what append_model wrote (after check_model).
template <class M>
void read_model(const io::archive& a, M& model) {
  using T = typename M::element_type;
  model.visit_parameters([&](const auto& p) {
    if constexpr (std::is_floating_point_v<T>)
      if (p.binarized.rows > 0) return detail::read_binarized(a, p);
    detail::read_tensor(a, p.name, p.value);
  });
  model.visit_state([&](const std::string& name, const auto& v) { detail::read_tensor(a, name, v); });
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
}  // namespace detail

// Writes model to path.
template <class M, class Path>
void save_model(M& model, const Path& path) {
  io::archive a;
  a.kind = "strata-model";
  a.signature = M::signature();
  a.version = 1;
  detail::append_model(a, model);
  io::write_archive(std::filesystem::path(path), a);
}

// Loads what save_model wrote. A file from another architecture or precision, a truncated or a
// corrupted file, or an entry of the wrong type or size throws io::archive_error saying which;
// the model is then left as it was.
template <class M, class Path>
void load_model(M& model, const Path& path) {
  const io::archive a = io::read_archive(std::filesystem::path(path), "strata-model", M::signature());
  detail::check_model(a, model);
  detail::read_model(a, model);
}

}  // namespace strata
