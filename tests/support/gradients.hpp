// The finite-difference check every layer's backward pass gets: for L = Σ y·g with a random g,
// dL/dx and dL/dθ from backward must match (L(v+h) − L(v−h)) / 2h to a relative error below
// 1e-6 at sampled inputs and parameters, in fp64; a NaN anywhere fails. It also checks that
// backward without the input gradient gives the same parameter gradients and leaves dx alone.
// Weights are written through raw pointers between evaluations, as a user might: cached
// transforms (Winograd, FFT) must follow.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "strata/core/functions.hpp"
#include "strata/core/random.hpp"
#include "strata/core/reduction.hpp"
#include "strata/layers/layer.hpp"
#include "support/testing.hpp"

namespace strata::testing {

// Relative error with a floor of 1e-4, so gradients that are 0 (a bias feeding a batch norm)
// are judged on an absolute scale of 1e-10 instead of their rounding noise; NaN is infinite.
inline double gradient_error(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return INFINITY;
  return std::abs(a - b) / std::max({std::abs(a), std::abs(b), 1e-4});
}

// Up to `count` indices spread over [0, n), always including the ends.
inline std::vector<std::int64_t> sample_indices(std::int64_t n, std::int64_t count) {
  std::vector<std::int64_t> idx;
  if (n <= count) {
    for (std::int64_t i = 0; i < n; ++i) idx.push_back(i);
  } else {
    for (std::int64_t k = 0; k < count; ++k) idx.push_back(k * (n - 1) / (count - 1));
  }
  return idx;
}

// Random parameters and state (not the initial values: BatchNorm's γ = 1, β = 0 would hide errors).
template <class R>
void randomise_layer(R& layer, std::uint64_t seed) {
  random_engine init(seed);
  initialize_layer(layer, init);
  std::uint64_t s = seed * 100;
  visit_layer_parameters(layer, [&](const parameter_ref<double>& p) { fill_uniform(p.value, -0.8, 0.8, ++s); });
  visit_layer_state(layer, [&](const std::string& name, TensorView<double, 1> v) {
    if (name.find("running_var") != std::string::npos) fill_uniform(v, 0.5, 1.5, ++s);
    else fill_uniform(v, -0.5, 0.5, ++s);
  });
}

// Checks layer L on input shape In; returns how many parameter tensors it has.
template <class L, class In>
int check_gradients(bool training = true, std::int64_t batch = 3, std::uint64_t seed = 1) {
  using Out = output_shape_of<L, In>;
  runtime_layer<L, In, double> layer;
  randomise_layer(layer, seed);
  Tensor<double, 2> x(batch, In::elements), g(batch, Out::elements), y(batch, Out::elements);
  fill_normal(x, 0, 1, seed + 7);
  fill_normal(g, 0, 1, seed + 8);
  const std::string what = layer_traits<L, In>::describe() + " on " + In::to_string() + (training ? " (training)" : " (inference)");

  auto run_forward = [&] {
    random_engine masks(99);  // the same dropout masks on every evaluation
    context ctx{training, true, &masks};
    layer.forward(x, y, ctx);
  };
  auto loss = [&] {
    run_forward();
    return double(sum(y * g));
  };
  auto run_backward = [&](Tensor<double, 2>& dx, bool want_input_gradient) {
    random_engine masks(99);
    context ctx{training, want_input_gradient, &masks};
    layer.backward(x, y, g, dx, ctx);
  };
  run_forward();
  Tensor<double, 2> dx(batch, In::elements);
  run_backward(dx, true);
  std::vector<std::pair<std::string, Tensor<double, 1>>> analytic;
  visit_layer_parameters(layer, [&](const parameter_ref<double>& p) {
    Tensor<double, 1> copy_of(p.gradient.shape());
    copy_of = p.gradient;
    analytic.emplace_back(p.name, std::move(copy_of));
  });

  // Without the input gradient the parameter gradients are the same, and dx is left alone.
  {
    run_forward();
    Tensor<double, 2> untouched(batch, In::elements);
    untouched.fill(7.0);
    run_backward(untouched, false);
    std::size_t k = 0;
    visit_layer_parameters(layer, [&](const parameter_ref<double>& p) {
      INFO(what << ": parameter " << p.name << " without the input gradient");
      const auto& a = analytic[k++].second;
      double worst = 0;
      for (std::int64_t i = 0; i < a.size(); ++i) worst = worse_of(worst, std::abs(a.data()[i] - p.gradient.data()[i]));
      CHECK(worst <= 1e-12 * (1 + std::abs(a.data()[0])));
    });
    CHECK(std::all_of(untouched.data(), untouched.data() + untouched.size(), [](double v) { return v == 7.0; }));
  }

  const double h = 1e-5;
  auto numeric = [&](double& v) {
    const double keep = v;
    v = keep + h;
    const double up = loss();
    v = keep - h;
    const double down = loss();
    v = keep;
    return (up - down) / (2 * h);
  };
  double worst = 0;
  std::string where;
  for (std::int64_t i : sample_indices(x.size(), 40)) {
    const double e = gradient_error(numeric(x.data()[i]), dx.data()[i]);
    if (!(e <= worst)) worst = worse_of(worst, e), where = "input[" + std::to_string(i) + "]";
  }
  std::size_t k = 0;
  visit_layer_parameters(layer, [&](const parameter_ref<double>& p) {
    const auto& a = analytic[k++].second;
    for (std::int64_t i : sample_indices(p.value.size(), 25)) {
      const double e = gradient_error(numeric(p.value.data()[i]), a.data()[i]);
      if (!(e <= worst)) worst = worse_of(worst, e), where = p.name + "[" + std::to_string(i) + "]";
    }
  });
  INFO(what << ": worst " << worst << " at " << where);
  CHECK(worst < 1e-6);
  return static_cast<int>(analytic.size());
}

}  // namespace strata::testing
