// What the data-parallel tests train on: small images with a class pattern, two small networks
// (with and without batch norm), and the weights as one vector to compare.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "strata/core/random.hpp"
#include "strata/core/tensor.hpp"
#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/model.hpp"
#include "strata/net/sequential.hpp"
#include "strata/train/fit.hpp"
#include "strata/train/sgd.hpp"

namespace strata::testing::parallel_data {

struct data_set {
  Tensor<float, 2> images;
  Tensor<std::int32_t, 1> labels;
};

// n 1×8×8 images in `classes` classes, each class with its own bright square.
inline data_set squares(std::int64_t n, int classes, std::uint64_t seed) {
  data_set s{Tensor<float, 2>(n, 64), Tensor<std::int32_t, 1>(n)};
  fill_normal(s.images, 0, 0.5, seed);
  for (std::int64_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(i % classes);
    s.labels(i) = c;
    for (int k = 0; k < 3; ++k) s.images(i, (c + k) * 8 + 2 * c + k) += 2.0f;  // a short diagonal per class
  }
  return s;
}

template <class M>
std::vector<double> parameters_of(M& m) {
  std::vector<double> values;
  m.visit_parameters([&](const auto& p) { values.insert(values.end(), p.value.data(), p.value.data() + p.value.size()); });
  m.visit_state([&](const std::string&, auto v) { values.insert(values.end(), v.data(), v.data() + v.size()); });
  return values;
}

// max |a − b| over max |a|: the weights' relative difference.
inline double relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(a[i]));
  }
  return diff / scale;
}

using Small = Sequential<Input<1, 8, 8>, Conv<4, Kernel<3>, Pad<1>>, ReLU, MaxPool<2>, Flatten, Dense<16>, ReLU, Dense<4>>;
using Normed = Sequential<Input<1, 8, 8>, Conv<4, Kernel<3>, Pad<1>>, BatchNorm, ReLU, MaxPool<2>, Flatten, Dense<16>, BatchNorm, ReLU,
                          Dense<4>>;

inline train::fit_options quiet(std::int64_t batch, int epochs = 1) {
  train::fit_options o;
  o.batch_size = batch;
  o.epochs = epochs;
  o.show_progress = false;
  o.shuffle_seed = 7;
  return o;
}

// The learning rate and optimizer settings every data-parallel test trains with.
inline double decaying_rate(std::int64_t step) { return 0.05 / (1.0 + 0.1 * double(step)); }
inline train::sgd_options momentum_and_decay() { return {.momentum = 0.9, .weight_decay = 1e-3}; }

// One model's weights after train::fit on the whole global batches (the reference).
template <class Net, class T>
std::vector<double> train_one(const data_set& data, std::int64_t batch, int epochs = 1, std::size_t frozen_layers = 0) {
  Model<Net, T> one(3);
  if (frozen_layers) one.freeze(layer_range{0, frozen_layers});
  train::SGD<T> sgd(momentum_and_decay());
  train::fit(one, data, sgd, decaying_rate, quiet(batch, epochs));
  return parameters_of(one);
}

}  // namespace strata::testing::parallel_data
