// Optimizers against their update rules written out by hand (PyTorch's conventions), and a
// short fit() on a separable problem that must learn it; dropout's statistics.
#include <cmath>
#include <cstdint>
#include <vector>

#include "strata/layers/dense.hpp"
#include "strata/layers/dropout.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/model.hpp"
#include "strata/train/adam.hpp"
#include "strata/train/fit.hpp"
#include "strata/train/sgd.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

using Tiny = Sequential<Input<3>, Dense<2>>;

// Sets every gradient of m to g(name, i) and returns the parameters as one list.
template <class M, class G>
std::vector<double> set_gradients(M& m, G g) {
  std::vector<double> values;
  m.visit_parameters([&](const parameter_ref<double>& p) {
    for (std::int64_t i = 0; i < p.value.size(); ++i) {
      p.gradient.data()[i] = g(p.name, i);
      values.push_back(p.value.data()[i]);
    }
  });
  return values;
}

template <class M>
std::vector<double> parameters_of(M& m) {
  std::vector<double> values;
  m.visit_parameters([&](const parameter_ref<double>& p) { values.insert(values.end(), p.value.data(), p.value.data() + p.value.size()); });
  return values;
}

}  // namespace

TEST_CASE("SGD with momentum, Nesterov and weight decay follows PyTorch's rule", "[train][optimizer]") {
  for (const bool nesterov : {false, true}) {
    Model<Tiny, double> m(3);
    train::SGD<double> sgd({.momentum = 0.9, .weight_decay = 0.01, .nesterov = nesterov});
    std::vector<double> w = parameters_of(m), v(w.size(), 0.0);
    std::vector<bool> decays;
    m.visit_parameters([&](const parameter_ref<double>& p) {
      for (std::int64_t i = 0; i < p.value.size(); ++i) decays.push_back(p.weight_decay);
    });
    for (int step = 0; step < 3; ++step) {
      auto grad = [&](const std::string& name, std::int64_t i) { return 0.1 * (step + 1) + 0.01 * double(i) + (name == "0.bias" ? 1 : 0); };
      set_gradients(m, grad);
      std::size_t k = 0;
      m.visit_parameters([&](const parameter_ref<double>& p) {
        for (std::int64_t i = 0; i < p.value.size(); ++i, ++k) {
          const double g = grad(p.name, i) + (decays[k] ? 0.01 * w[k] : 0.0);
          v[k] = 0.9 * v[k] + g;
          w[k] -= 0.5 * (nesterov ? g + 0.9 * v[k] : v[k]);
        }
      });
      sgd.step(m, 0.5);
      const auto got = parameters_of(m);
      for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(got[i] == Approx(w[i]).epsilon(1e-12));
    }
    CHECK(decays == std::vector<bool>{true, true, true, true, true, true, false, false});  // biases are exempt
  }
  CHECK_THROWS_AS(train::SGD<float>({.momentum = 1.5}), error);
  CHECK_THROWS_AS(train::SGD<float>({.nesterov = true}), error);
}

TEST_CASE("Adam and AdamW follow their update rules with bias correction", "[train][optimizer]") {
  for (const bool decoupled : {false, true}) {
    Model<Tiny, double> m(4);
    train::Adam<double> adam({.beta1 = 0.9, .beta2 = 0.99, .epsilon = 1e-8, .weight_decay = 0.1, .decoupled_weight_decay = decoupled});
    std::vector<double> w = parameters_of(m), m1(w.size(), 0.0), m2(w.size(), 0.0);
    for (int step = 1; step <= 4; ++step) {
      auto grad = [&](const std::string&, std::int64_t i) { return std::sin(double(step * 7 + i)); };
      set_gradients(m, grad);
      std::size_t k = 0;
      m.visit_parameters([&](const parameter_ref<double>& p) {
        for (std::int64_t i = 0; i < p.value.size(); ++i, ++k) {
          const double decay = p.weight_decay ? 0.1 : 0.0;
          double g = grad(p.name, i);
          if (!decoupled) g += decay * w[k];
          m1[k] = 0.9 * m1[k] + 0.1 * g;
          m2[k] = 0.99 * m2[k] + 0.01 * g * g;
          const double update = (m1[k] / (1 - std::pow(0.9, step))) / (std::sqrt(m2[k] / (1 - std::pow(0.99, step))) + 1e-8);
          w[k] -= 0.01 * (update + (decoupled ? decay * w[k] : 0.0));
        }
      });
      adam.step(m, 0.01);
      const auto got = parameters_of(m);
      for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(got[i] == Approx(w[i]).epsilon(1e-9));
    }
    CHECK(adam.steps() == 4);
  }
}

TEST_CASE("fit learns a separable problem and evaluate measures it", "[train][fit]") {
  // Two Gaussian blobs in 8 dimensions, labelled by which one a point came from.
  struct data_set {
    Tensor<float, 2> images;
    Tensor<std::int32_t, 1> labels;
  } train_set{Tensor<float, 2>(512, 8), Tensor<std::int32_t, 1>(512)}, test_set{Tensor<float, 2>(256, 8), Tensor<std::int32_t, 1>(256)};
  for (auto* d : {&train_set, &test_set}) {
    fill_normal(d->images, 0, 1, d == &train_set ? 1 : 2);
    for (std::int64_t i = 0; i < d->images.extent(0); ++i) {
      d->labels(i) = static_cast<std::int32_t>(i % 2);
      d->images(i, 0) += d->labels(i) ? 2.5f : -2.5f;
    }
  }
  using Net = Sequential<Input<8>, Dense<16>, ReLU, Dense<2>>;
  Model<Net> model(5);
  const auto before = train::evaluate(model, test_set);
  train::SGD<float> sgd({.momentum = 0.9});
  train::fit_options options{.epochs = 5, .batch_size = 32, .shuffle = true, .shuffle_seed = 3, .show_progress = false};
  const auto history = train::fit(model, train_set, sgd, train::constant(0.05), options, &test_set);
  REQUIRE(history.size() == 5);
  CHECK(history.back().train_loss < history.front().train_loss);
  CHECK(history.back().test_accuracy > 0.95);
  CHECK(history.back().test_accuracy > before.accuracy);
  CHECK(train::evaluate(model, test_set).accuracy == Approx(history.back().test_accuracy));
  CHECK_THROWS_AS(train::fit(model, train_set, sgd, train::constant(0.05), train::fit_options{.batch_size = 0}), error);
}

TEST_CASE("dropout zeroes about p of the values, scales the rest, and is reproducible", "[layers][dropout]") {
  runtime_layer<Dropout<0.25f>, sample_shape<1000>, float> d;
  Tensor<float, 2> x(50, 1000, 1.0f), y(50, 1000), y2(50, 1000);
  random_engine a(11), b(11);
  context ctx{true, true, &a};
  d.forward(x, y, ctx);
  const double zeros = double(sum(elementwise([](float v) { return v == 0.0f ? 1.0f : 0.0f; }, y))) / double(y.size());
  CHECK(zeros == Approx(0.25).margin(0.01));
  CHECK(mean(y) == Approx(1.0).margin(0.02));  // inverted dropout keeps the expectation
  CHECK(max(y) == Approx(1.0f / 0.75f));
  context again{true, true, &b};
  d.forward(x, y2, again);
  CHECK(std::equal(y.data(), y.data() + y.size(), y2.data()));
  context inference{false, true, nullptr};
  d.forward(x, y, inference);
  CHECK(min(y) == 1.0f);
  CHECK(max(y) == 1.0f);
}
