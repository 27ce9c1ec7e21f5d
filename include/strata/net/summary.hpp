// strata/net/summary.hpp — what a network costs, from its type alone: one row per layer (nested
// blocks indented) with output shape, parameters, multiply-adds and activation memory; the
// memory a training step needs (parameters, gradients, optimizer state, activations kept for
// backward); and the architecture signature that saved models are checked against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/layers/layer.hpp"
#include "strata/net/binary_network.hpp"
#include "strata/numeric/precision_traits.hpp"

namespace strata {

struct summary_row {
  std::string path;         // "3.block.0"
  std::string description;  // "conv 3×3 pad 1, 8 → 8, no bias"
  std::string output;       // "[8, 8, 8]"
  std::int64_t parameters = 0;
  std::int64_t flops = 0;        // multiply-adds per sample
  std::int64_t activations = 0;  // values per sample this layer keeps for backward (output + saved)
  int depth = 0;
  std::int64_t binary_parameters = 0;  // of the parameters, those stored as one bit (binary layers)
};

// Bytes that `values` values of precision T occupy (storage bits, rounded up to whole bytes, so a
// packed binary precision counts its bits).
template <class T>
constexpr std::int64_t bytes_of(std::int64_t values) {
  return (values * precision_traits<T>::storage_bits + 7) / 8;
}

// Bytes a training step holds, for a batch.
struct memory_estimate {
  std::int64_t parameters = 0, gradients = 0, optimizer_state = 0, activations = 0, input = 0;
  std::int64_t total() const { return parameters + gradients + optimizer_state + activations + input; }
};

namespace detail {

inline std::string join(const std::string& path, const std::string& part) { return path.empty() ? part : path + "." + part; }

// What a layer keeps per sample: its output and its own saved values.
template <class Tr>
constexpr std::int64_t activations_of() {
  return Tr::output_shape::elements + saved_of<Tr>();
}

// One row per layer. A composite (traits with `parts`) shows its parts below it, indented; its
// own row carries what is not in its parts (a residual's projection, a concatenation's copy),
// and a transparent one (a chain) has no row of its own.
template <class Spec, class In>
void collect_rows(std::vector<summary_row>& rows, const std::string& path, int depth) {
  using tr = layer_traits<Spec, In>;
  if constexpr (requires { typename tr::parts; }) {
    using parts = typename tr::parts;
    constexpr bool transparent = [] {
      if constexpr (requires { tr::transparent; }) return bool(tr::transparent);
      else return false;
    }();
    const auto sum_parts = [](auto cost) {
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return (cost(std::type_identity<layer_traits<typename std::tuple_element_t<I, parts>::spec,
                                                     typename std::tuple_element_t<I, parts>::input>>{}) +
                ... + std::int64_t{0});
      }(std::make_index_sequence<std::tuple_size_v<parts>>{});
    };
    const int inner = transparent ? depth : depth + 1;
    if constexpr (!transparent) {
      const std::int64_t own_parameters = parameters_of<tr>() - sum_parts([](auto t) { return parameters_of<typename decltype(t)::type>(); });
      const std::int64_t own_flops = flops_of<tr>() - sum_parts([](auto t) { return flops_of<typename decltype(t)::type>(); });
      const std::int64_t own_activations =
          activations_of<tr>() - sum_parts([](auto t) { return activations_of<typename decltype(t)::type>(); });
      rows.push_back({path, tr::describe(), tr::output_shape::to_string(), own_parameters, own_flops, own_activations, depth});
    }
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (collect_rows<typename std::tuple_element_t<I, parts>::spec, typename std::tuple_element_t<I, parts>::input>(
           rows, join(path, tr::part_name(I)), inner),
       ...);
    }(std::make_index_sequence<std::tuple_size_v<parts>>{});
  } else {
    std::int64_t bits = 0;
    if constexpr (requires { tr::binary_parameters; }) bits = tr::binary_parameters;
    rows.push_back({path, tr::describe(), tr::output_shape::to_string(), parameters_of<tr>(), flops_of<tr>(),
                    activations_of<tr>(), depth, bits});
  }
}

inline std::string grouped(std::int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (v < 0 ? "-" : "") + out;
}

inline std::string bytes_string(double b) {
  char buf[32];
  if (b >= 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  else if (b >= 1024.0 * 1024) std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  else if (b >= 1024.0) std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  else std::snprintf(buf, sizeof buf, "%.0f B", b);
  return buf;
}

// Pads s to width w counting UTF-8 code points (× and → are one column each).
inline std::string pad(const std::string& s, std::size_t w, bool right = false) {
  std::size_t columns = 0;
  for (unsigned char c : s) columns += (c & 0xC0) != 0x80;
  const std::string fill(columns < w ? w - columns : 0, ' ');
  return right ? fill + s : s + fill;
}

}  // namespace detail

// The rows of network Net (a Sequential); with a precision, of the network a Model<Net, T> runs
// (for binary precisions, Net binarised: net/binary_network.hpp).
template <class Net, class T = float>
std::vector<summary_row> summary_rows() {
  using R = binary_network_t<Net, T>;
  std::vector<summary_row> rows;
  detail::collect_rows<typename R::body, typename R::input_shape>(rows, "", 0);
  return rows;
}

// Of Net's parameters, those a Model<Net, T> stores as single bits (its binarised weights).
template <class Net, class T>
std::int64_t binary_parameter_count() {
  if constexpr (!is_binary_precision_v<T>) {
    return 0;
  } else {
    std::int64_t bits = 0;
    for (const auto& r : summary_rows<Net, T>()) bits += r.binary_parameters;
    return bits;
  }
}

// Bytes of a training step of Net in precision T at this batch: parameters and gradients in T,
// optimizer state (optimizer_slots tensors per parameter, e.g. 1 for SGD momentum, 2 for Adam)
// in T's master type (fp32 master weights for fp16 count 4 bytes each, plus the copy itself).
// For a binary precision: the binarised weights count one bit each as parameters, and their fp32
// latent copies count as the optimizer's master; everything else (gradients, batch norm, the last
// layer, the activations training keeps) is fp32.
template <class Net, class T = float>
memory_estimate memory(std::int64_t batch, int optimizer_slots = 1) {
  using tr = typename Net::traits;
  if constexpr (is_binary_precision_v<T>) {
    using V = model_element_t<T>;
    const std::int64_t bits = binary_parameter_count<Net, T>(), real = Net::parameters - bits;
    memory_estimate m;
    m.parameters = bytes_of<T>(bits) + bytes_of<V>(real);
    m.gradients = bytes_of<V>(Net::parameters);
    m.optimizer_state = bytes_of<V>(Net::parameters) * optimizer_slots + bytes_of<V>(bits);
    m.activations = bytes_of<V>(batch * (saved_of<tr>() + tr::output_shape::elements));
    m.input = bytes_of<V>(batch * Net::input_shape::elements);
    return m;
  }
  constexpr bool separate_master = !std::is_same_v<master_t<T>, T>;
  memory_estimate m;
  m.parameters = bytes_of<T>(Net::parameters);
  m.gradients = bytes_of<T>(Net::parameters);
  m.optimizer_state = bytes_of<master_t<T>>(Net::parameters) * (optimizer_slots + (separate_master ? 1 : 0));
  // Every layer's output and saved values.
  m.activations = bytes_of<T>(batch * (saved_of<tr>() + tr::output_shape::elements));
  m.input = bytes_of<T>(batch * Net::input_shape::elements);
  return m;
}

// The architecture as text: input shape, then every layer's description and output shape.
template <class Net>
std::string signature() {
  std::string s = "strata " + Net::input_shape::to_string();
  for (const auto& r : summary_rows<Net>()) s += " | " + (r.path.empty() ? "" : r.path + " ") + r.description + " " + r.output;
  return s;
}

// The summary table of Net in precision T at this batch; `extra(row)` fills one more column
// headed `extra_header` where given (a model's learning-rate multipliers).
template <class Net, class T = float, class Extra = std::nullptr_t>
void print_summary(std::ostream& out, std::int64_t batch = 64, const char* extra_header = nullptr, Extra extra = nullptr) {
  const auto rows = summary_rows<Net, T>();
  using V = model_element_t<T>;  // what activations are stored in
  constexpr bool has_extra = !std::is_same_v<Extra, std::nullptr_t>;
  out << detail::pad("layer", 12) << detail::pad("", 44) << detail::pad("output", 16) << detail::pad("parameters", 14, true)
      << detail::pad("mult-adds", 16, true) << detail::pad("memory/sample", 16, true);
  if constexpr (has_extra) out << detail::pad(extra_header, 10, true);
  out << "\n";
  out << detail::pad("input", 12) << detail::pad("", 44) << detail::pad(Net::input_shape::to_string(), 16) << "\n";
  for (const auto& r : rows) {
    const std::string indent(static_cast<std::size_t>(2 * r.depth), ' ');
    out << detail::pad(indent + r.path, 12) << detail::pad(indent + r.description, 44) << detail::pad(r.output, 16)
        << detail::pad(detail::grouped(r.parameters), 14, true) << detail::pad(detail::grouped(r.flops), 16, true)
        << detail::pad(detail::bytes_string(double(bytes_of<V>(r.activations))), 16, true);
    if constexpr (has_extra) out << detail::pad(r.parameters ? extra(r) : std::string(), 10, true);
    out << "\n";
  }
  const memory_estimate m = memory<Net, T>(batch);
  out << "total: " << detail::grouped(Net::parameters) << " parameters (" << detail::bytes_string(double(m.parameters))
      << " in " << precision_traits<T>::name;
  if constexpr (is_binary_precision_v<T>) {
    const std::int64_t bits = binary_parameter_count<Net, T>();
    out << ": " << detail::grouped(bits) << " binary at 1 bit, " << detail::grouped(Net::parameters - bits) << " real at 32 bits";
  }
  out << "), " << detail::grouped(Net::flops) << " multiply-adds per sample\n"
      << "training memory at batch " << batch << ": " << detail::bytes_string(double(m.total())) << " = parameters "
      << detail::bytes_string(double(m.parameters)) << " + gradients " << detail::bytes_string(double(m.gradients))
      << " + optimizer state " << detail::bytes_string(double(m.optimizer_state)) << " + activations "
      << detail::bytes_string(double(m.activations)) << " + input " << detail::bytes_string(double(m.input)) << "\n";
}

}  // namespace strata
