// strata/train/divergence.hpp — the non-finite detector fit and loss scaling share: whether values,
// a loss or a model's gradients are finite; what fit does when a step is not (divergence_options);
// and the diagnosis that names the first layer, forward or backward, that produced Inf or NaN.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "strata/config.hpp"
#include "strata/core/cast.hpp"
#include "strata/core/error.hpp"
#include "strata/core/reduction.hpp"
#include "strata/core/tensor.hpp"
#include "strata/layers/layer.hpp"
#include "strata/numeric/half.hpp"
#include "strata/numeric/precision_traits.hpp"

namespace strata::train {

// What fit does with a step whose loss or gradients hold Inf or NaN. `stop` throws
// divergence_error naming the first layer that produced one (the weights stay as before that
// step); `skip_step` leaves the weights alone for that step, counts it in the epoch's
// skipped_steps and goes on, and stops only after max_skipped_in_a_row such steps in a row. Steps
// that dynamic loss scaling skips (fp16 gradients overflowing) count towards that limit too: a
// scale already at 1 that still overflows is divergence, not a scale to find.
enum class divergence_action { stop, skip_step };

struct divergence_options {
  divergence_action action = divergence_action::stop;
  std::int64_t max_skipped_in_a_row = 50;
  bool check_gradients = true;  // one pass over the gradients per step; false checks the loss only
};

// Training diverged: what() names the step and the first layer that produced a non-finite value.
class divergence_error : public error {
 public:
  divergence_error(const std::string& what, int epoch, std::int64_t step) : error(what), epoch_(epoch), step_(step) {}
  int epoch() const noexcept { return epoch_; }
  std::int64_t step() const noexcept { return step_; }  // optimizer steps before it, counted from 0

 private:
  int epoch_;
  std::int64_t step_;
};

namespace detail {

// Whether n values are all finite: for fp16, fp32 and fp64 the largest magnitude's bits stay below
// Inf's, a max over integer lanes that vectorises where a test per value with an early exit would
// not; fixed point is always finite (it saturates).
template <class U, U inf_bits, class T>
bool magnitudes_below_inf(const T* v, std::int64_t n) {
  U largest = 0;
#if defined(_OPENMP) || defined(STRATA_HAVE_OPENMP_SIMD)
#pragma omp simd reduction(max : largest)
#endif
  for (std::int64_t i = 0; i < n; ++i) {
    U bits;
    std::memcpy(&bits, v + i, sizeof bits);
    largest = std::max<U>(largest, U(bits & U(~(U(1) << (8 * sizeof(U) - 1)))));
  }
  return largest < inf_bits;
}

template <class T>
bool all_finite(const T* v, std::int64_t n) {
  if constexpr (std::is_same_v<T, half>) {
    return magnitudes_below_inf<std::uint16_t, 0x7c00u>(v, n);
  } else if constexpr (std::is_same_v<T, float>) {
    return magnitudes_below_inf<std::uint32_t, 0x7f800000u>(v, n);
  } else if constexpr (std::is_same_v<T, double>) {
    return magnitudes_below_inf<std::uint64_t, 0x7ff0000000000000u>(v, n);
  } else if constexpr (has_dynamic_scale<T>) {
    return true;  // integer mantissas: always finite (they saturate)
  } else {
    for (std::int64_t i = 0; i < n; ++i)
      if (!std::isfinite(double(precision_traits<T>::to_compute(v[i])))) return false;
    return true;
  }
}

}  // namespace detail

// Whether every value of a view is finite. On a device it is one reduction: Σ 0·x is 0 unless
// some x is Inf or NaN.
template <class T, std::size_t R, class D>
bool values_finite(TensorView<T, R, D> v) {
  if (v.size() == 0) return true;
  if constexpr (std::is_same_v<D, cpu>) {
    return detail::all_finite(v.data(), v.size());
  } else {
    return std::isfinite(double(sum(cast<float>(v) * 0.0f)));
  }
}

// Whether the gradients of every trainable parameter are finite (a frozen one, rate 0, may hold
// stale values: its layer skipped them).
template <class Model>
bool gradients_finite(Model& model) {
  bool finite = true;
  model.visit_parameters([&](const auto& p) {
    if (finite && p.rate != 0) finite = values_finite(p.gradient);
  });
  return finite;
}

namespace detail {

inline std::string layer_named(std::size_t i, const std::string& description) {
  return "layer " + std::to_string(i) + " (" + description + ")";
}

// Told as each top-level layer finishes backward (the last first): the first whose parameter
// gradients or input gradient hold a non-finite value.
template <class Model>
class nonfinite_backward_probe final : public gradient_listener {
 public:
  nonfinite_backward_probe(Model& model, std::int64_t rows) : model_(model), rows_(rows) {}
  void layer_done(std::size_t i) override {
    if (!found_.empty()) return;
    std::string bad;
    model_.visit_parameters([&](const auto& p) {
      if (bad.empty() && p.rate != 0 && p.name.substr(0, p.name.find('.')) == std::to_string(i) && !values_finite(p.gradient))
        bad = "the gradient of its parameter '" + p.name + "'";
    });
    // Its dL/d(input) exists when some layer below it trains (fit never asks for the input's).
    bool input_gradient = false;
    for (std::size_t k = 0; k < i; ++k) input_gradient = input_gradient || !model_.frozen(k);
    if (bad.empty() && input_gradient && !values_finite(model_.layers().input_gradient_of(i, rows_)))
      bad = "its input gradient dL/dx";
    if (!bad.empty())
      found_ = layer_named(i, std::remove_cvref_t<decltype(model_.layers())>::describe_part(i)) + " produced a non-finite value in the backward pass: " + bad;
  }
  const std::string& found() const noexcept { return found_; }

 private:
  Model& model_;
  std::int64_t rows_;
  std::string found_;
};

}  // namespace detail

// Where a step's first non-finite value came from, after model.forward(x, true) gave `output`,
// the loss was `loss` and dL/d(output) is `output_gradient`: the input batch, a layer's output
// (forward), the loss, the loss's gradient, or a layer in the backward pass, found by running
// backward again over the same forward pass (parameter gradients are overwritten, not added to,
// so this changes nothing). Empty when everything is finite.
template <class Model, class T, class D>
std::string diagnose_nonfinite(Model& model, TensorView<const T, 2, D> x, TensorView<const T, 2, D> output, double loss,
                               TensorView<const T, 2, D> output_gradient) {
  using body = std::remove_cvref_t<decltype(model.layers())>;
  const std::int64_t n = x.extent(0);
  if (!values_finite(x)) return "the input batch holds a non-finite value (the data, before any layer)";
  for (std::size_t i = 0; i < Model::layer_count; ++i) {
    const bool last = i + 1 == Model::layer_count;
    if (!values_finite(last ? output : model.layers().output_of(i, n)))
      return detail::layer_named(i, body::describe_part(i)) + " produced a non-finite value in the forward pass";
  }
  if (!std::isfinite(loss)) return "the loss is " + std::to_string(loss) + " although the network's outputs are finite";
  if (!values_finite(output_gradient)) return "the loss's gradient dL/d(output) holds a non-finite value";
  detail::nonfinite_backward_probe<Model> probe(model, n);
  model.backward(output_gradient, probe);
  return probe.found();
}

}  // namespace strata::train
