// strata/net/summary.hpp — what a network costs, from its type alone: one row per layer (nested
// blocks indented) with output shape, parameters, multiply-adds and activation memory; the
// memory a training step needs (parameters, gradients, optimizer state, activations kept for
// backward); and the architecture signature that saved models are checked against.
#pragma once

#include <cstdint>
#include <cstdio>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/net/chain.hpp"
#include "strata/net/residual.hpp"

namespace strata {

struct summary_row {
  std::string path;         // "3.block.0"
  std::string description;  // "conv 3×3 pad 1, 8 → 8, no bias"
  std::string output;       // "[8, 8, 8]"
  std::int64_t parameters = 0;
  std::int64_t flops = 0;        // multiply-adds per sample
  std::int64_t activations = 0;  // values per sample this layer keeps for backward (output + saved)
  int depth = 0;
};

enum class precision { fp64, fp32, fp16 };
constexpr std::int64_t bytes_per_value(precision p) { return p == precision::fp64 ? 8 : p == precision::fp32 ? 4 : 2; }
constexpr const char* name_of(precision p) { return p == precision::fp64 ? "fp64" : p == precision::fp32 ? "fp32" : "fp16"; }

// Bytes a training step holds, for a batch.
struct memory_estimate {
  std::int64_t parameters = 0, gradients = 0, optimizer_state = 0, activations = 0, input = 0;
  std::int64_t total() const { return parameters + gradients + optimizer_state + activations + input; }
};

namespace detail {

template <class T>
inline constexpr bool is_chain_v = false;
template <class... L>
inline constexpr bool is_chain_v<Chain<L...>> = true;
template <class T>
inline constexpr bool is_residual_v = false;
template <class... B>
inline constexpr bool is_residual_v<Residual<B...>> = true;

inline std::string join(const std::string& path, const std::string& part) { return path.empty() ? part : path + "." + part; }

template <class Spec, class In>
void collect_rows(std::vector<summary_row>& rows, const std::string& path, int depth) {
  using tr = layer_traits<Spec, In>;
  if constexpr (is_chain_v<Spec>) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (collect_rows<type_at_t<I, typename Spec::layers>, type_at_t<I, typename tr::inputs>>(rows, join(path, std::to_string(I)), depth), ...);
    }(std::make_index_sequence<Spec::size>{});
  } else if constexpr (is_residual_v<Spec>) {
    const std::int64_t block_activations =
        layer_traits<typename Spec::block, In>::saved + layer_traits<typename Spec::block, In>::output_shape::elements;
    rows.push_back({path, tr::describe(), tr::output_shape::to_string(), tr::parameters, tr::flops,
                    tr::output_shape::elements + tr::saved - block_activations, depth});
    collect_rows<typename Spec::block, In>(rows, join(path, "block"), depth + 1);
  } else {
    rows.push_back({path, tr::describe(), tr::output_shape::to_string(), tr::parameters, tr::flops,
                    tr::output_shape::elements + tr::saved, depth});
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

// The rows of network Net (a Sequential).
template <class Net>
std::vector<summary_row> summary_rows() {
  std::vector<summary_row> rows;
  detail::collect_rows<typename Net::body, typename Net::input_shape>(rows, "", 0);
  return rows;
}

template <class Net>
memory_estimate memory(std::int64_t batch, precision p = precision::fp32, int optimizer_slots = 1) {
  using tr = typename Net::traits;
  const std::int64_t b = bytes_per_value(p);
  memory_estimate m;
  m.parameters = Net::parameters * b;
  m.gradients = Net::parameters * b;
  m.optimizer_state = Net::parameters * b * optimizer_slots;
  // Every layer's output and saved values, and the gradient of the widest activation.
  m.activations = batch * (tr::saved + tr::output_shape::elements) * b;
  m.input = batch * Net::input_shape::elements * b;
  return m;
}

// The architecture as text: input shape, then every layer's description and output shape.
template <class Net>
std::string signature() {
  std::string s = "strata " + Net::input_shape::to_string();
  for (const auto& r : summary_rows<Net>()) s += " | " + (r.path.empty() ? "" : r.path + " ") + r.description + " " + r.output;
  return s;
}

template <class Net>
void print_summary(std::ostream& out, std::int64_t batch = 64, precision p = precision::fp32) {
  const auto rows = summary_rows<Net>();
  const std::int64_t b = bytes_per_value(p);
  out << detail::pad("layer", 12) << detail::pad("", 44) << detail::pad("output", 16) << detail::pad("parameters", 14, true)
      << detail::pad("mult-adds", 16, true) << detail::pad("memory/sample", 16, true) << "\n";
  out << detail::pad("input", 12) << detail::pad("", 44) << detail::pad(Net::input_shape::to_string(), 16) << "\n";
  for (const auto& r : rows) {
    const std::string indent(static_cast<std::size_t>(2 * r.depth), ' ');
    out << detail::pad(indent + r.path, 12) << detail::pad(indent + r.description, 44) << detail::pad(r.output, 16)
        << detail::pad(detail::grouped(r.parameters), 14, true) << detail::pad(detail::grouped(r.flops), 16, true)
        << detail::pad(detail::bytes_string(double(r.activations * b)), 16, true) << "\n";
  }
  const memory_estimate m = memory<Net>(batch, p);
  out << "total: " << detail::grouped(Net::parameters) << " parameters (" << detail::bytes_string(double(m.parameters))
      << " in " << name_of(p) << "), " << detail::grouped(Net::flops) << " multiply-adds per sample\n"
      << "training memory at batch " << batch << ": " << detail::bytes_string(double(m.total())) << " = parameters "
      << detail::bytes_string(double(m.parameters)) << " + gradients " << detail::bytes_string(double(m.gradients))
      << " + optimizer state " << detail::bytes_string(double(m.optimizer_state)) << " + activations "
      << detail::bytes_string(double(m.activations)) << " + input " << detail::bytes_string(double(m.input)) << "\n";
}

}  // namespace strata
