// Every layer's backward pass against central finite differences in fp64: for the loss
// L = Σ y·g with a random g, dL/dx and dL/dθ from backward must match (L(v+h) − L(v−h)) / 2h
// to a relative error below 1e-6, for inputs and for every kind of parameter.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/layers/avg_pool.hpp"
#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/dropout.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/global_avg_pool.hpp"
#include "strata/layers/leaky_relu.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/mean_squared_error.hpp"
#include "strata/layers/relu.hpp"
#include "strata/layers/sigmoid.hpp"
#include "strata/layers/softmax_cross_entropy.hpp"
#include "strata/layers/tanh.hpp"
#include "strata/net/residual.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

// Relative error, with a floor of 1e-4 so that gradients that are 0 (a bias feeding a batch
// norm) are judged on an absolute scale of 1e-10 instead of on their rounding noise.
double relative(double a, double b) { return std::abs(a - b) / std::max({std::abs(a), std::abs(b), 1e-4}); }

// Up to `count` indices spread over [0, n), always including the ends.
std::vector<std::int64_t> sample_indices(std::int64_t n, std::int64_t count) {
  std::vector<std::int64_t> idx;
  if (n <= count) {
    for (std::int64_t i = 0; i < n; ++i) idx.push_back(i);
  } else {
    for (std::int64_t k = 0; k < count; ++k) idx.push_back(k * (n - 1) / (count - 1));
  }
  return idx;
}

template <class L, class In>
void check_gradients(bool training = true, std::int64_t batch = 3, std::uint64_t seed = 1) {
  using Out = output_shape_of<L, In>;
  runtime_layer<L, In, double> layer;
  random_engine init(seed);
  layer.initialize(init);
  // Random parameters (not the initial values: BatchNorm's γ = 1, β = 0 would hide errors).
  std::uint64_t s = seed * 100;
  layer.visit_parameters([&](const parameter_ref<double>& p) { fill_uniform(p.value, -0.8, 0.8, ++s); });
  layer.visit_state([&](const std::string& name, TensorView<double, 1> v) {
    if (name.find("running_var") != std::string::npos) fill_uniform(v, 0.5, 1.5, ++s);
    else fill_uniform(v, -0.5, 0.5, ++s);
  });
  Tensor<double, 2> x(batch, In::elements), g(batch, Out::elements), y(batch, Out::elements);
  fill_normal(x, 0, 1, seed + 7);
  fill_normal(g, 0, 1, seed + 8);

  auto run_forward = [&] {
    random_engine masks(99);  // the same dropout masks on every evaluation
    context ctx{training, true, &masks};
    layer.forward(x, y, ctx);
  };
  auto loss = [&] {
    run_forward();
    return double(sum(y * g));
  };
  // Analytic gradients.
  run_forward();
  Tensor<double, 2> dx(batch, In::elements);
  {
    random_engine masks(99);
    context ctx{training, true, &masks};
    layer.backward(x, y, g, dx, ctx);
  }
  std::vector<std::pair<std::string, Tensor<double, 1>>> analytic;
  layer.visit_parameters([&](const parameter_ref<double>& p) {
    Tensor<double, 1> copy_of(p.gradient.shape());
    copy_of = p.gradient;
    analytic.emplace_back(p.name, std::move(copy_of));
  });

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
    const double e = relative(numeric(x.data()[i]), dx.data()[i]);
    if (e > worst) worst = e, where = "input[" + std::to_string(i) + "]";
  }
  std::size_t k = 0;
  layer.visit_parameters([&](const parameter_ref<double>& p) {
    const auto& a = analytic[k++].second;
    for (std::int64_t i : sample_indices(p.value.size(), 25)) {
      const double e = relative(numeric(p.value.data()[i]), a.data()[i]);
      if (e > worst) worst = e, where = p.name + "[" + std::to_string(i) + "]";
    }
  });
  INFO(L::template traits<In>::describe() << " on " << In::to_string() << (training ? " (training)" : " (inference)")
                                           << ": worst " << worst << " at " << where);
  CHECK(worst < 1e-6);
}

}  // namespace

TEST_CASE("convolution gradients match finite differences", "[layers][conv][gradient]") {
  check_gradients<Conv<4, Kernel<3>, Stride<1>, Pad<1>>, shape<3, 7, 6>>();
  check_gradients<Conv<3, Kernel<5>, Stride<2>, Pad<2>>, shape<2, 9, 8>>();
  check_gradients<Conv<2, Kernel<1, 3>, Stride<1>, Pad<0, 1>>, shape<3, 5, 6>>();
  check_gradients<Conv<2, Kernel<3, 1>, Stride<1>, Pad<1, 0>>, shape<3, 6, 5>>();
  check_gradients<Conv<5, Kernel<1>, Stride<2>, Pad<0>, NoBias>, shape<4, 7, 7>>();
  check_gradients<Conv<3, Kernel<1>, Stride<1>, Pad<0>>, shape<4, 5, 5>>();  // the pointwise path
  check_gradients<Conv<3, Kernel<3>, Stride<2>, Pad<1>, Algorithm<algo::reference>>, shape<2, 6, 7>>();
}

TEST_CASE("dense, pooling and flatten gradients match finite differences", "[layers][gradient]") {
  check_gradients<Dense<4>, shape<2, 3, 2>>();
  check_gradients<Dense<5, NoBias>, shape<7>>();
  check_gradients<MaxPool<2>, shape<3, 6, 8>>();
  check_gradients<MaxPool<3, 2, 1>, shape<2, 7, 7>>();
  check_gradients<AvgPool<2>, shape<3, 6, 8>>();
  check_gradients<AvgPool<3, 2, 1>, shape<2, 7, 7>>();
  check_gradients<GlobalAvgPool, shape<3, 5, 4>>();
  check_gradients<Flatten, shape<2, 3, 4>>();
}

TEST_CASE("batch norm gradients match finite differences in training and inference", "[layers][batchnorm][gradient]") {
  check_gradients<BatchNorm, shape<3, 5, 5>>(true, 4);
  check_gradients<BatchNorm, shape<5>>(true, 6);
  check_gradients<BatchNorm, shape<3, 4, 4>>(false, 3);
}

TEST_CASE("activation and dropout gradients match finite differences", "[layers][gradient]") {
  check_gradients<ReLU, shape<3, 4, 5>>();
  check_gradients<LeakyReLU<>, shape<3, 4, 5>>();
  check_gradients<LeakyReLU<0.2f>, shape<60>>();
  check_gradients<Tanh, shape<3, 4, 5>>();
  check_gradients<Sigmoid, shape<3, 4, 5>>();
  check_gradients<Dropout<0.3f>, shape<4, 5>>(true);
  check_gradients<Dropout<0.3f>, shape<4, 5>>(false);
}

TEST_CASE("residual blocks and chains pass gradients through both paths", "[layers][residual][gradient]") {
  check_gradients<Residual<Conv<3, Kernel<3>, Stride<1>, Pad<1>>, ReLU, Conv<3, Kernel<3>, Stride<1>, Pad<1>>>,
                  shape<3, 5, 5>>();
  check_gradients<BasicBlock<4, 2>, shape<2, 6, 6>>(true, 3);
  check_gradients<Bottleneck<2, 6>, shape<6, 4, 4>>(true, 3);
  check_gradients<Chain<Conv<3, Kernel<3>, Stride<1>, Pad<1>>, BatchNorm, ReLU, MaxPool<2>, Dense<4>, Tanh>,
                  shape<2, 6, 6>>(true, 4);
}

// Worst relative error between gradient and central differences of loss() over every value of v.
template <class Loss>
double worst_loss_gradient_error(Tensor<double, 2>& v, const Tensor<double, 2>& gradient, Loss loss) {
  double worst = 0;
  for (std::int64_t i = 0; i < v.size(); ++i) {
    double& x = v.data()[i];
    const double keep = x, h = 1e-5;
    x = keep + h;
    const double up = loss();
    x = keep - h;
    const double down = loss();
    x = keep;
    worst = std::max(worst, relative((up - down) / (2 * h), gradient.data()[i]));
  }
  return worst;
}

TEST_CASE("loss gradients match finite differences", "[layers][loss][gradient]") {
  Tensor<double, 2> logits(5, 7), grad(5, 7);
  fill_normal(logits, 0, 3, 11);
  logits(2, 4) = 40;  // large logits stay finite
  Tensor<std::int32_t, 1> labels(5);
  for (int i = 0; i < 5; ++i) labels(i) = (3 * i + 1) % 7;
  SoftmaxCrossEntropy::evaluate<double>(logits, labels, grad);
  CHECK(worst_loss_gradient_error(logits, grad, [&] { return SoftmaxCrossEntropy::evaluate<double>(logits, labels).loss; }) < 1e-6);

  Tensor<double, 2> prediction(4, 3), target(4, 3), mse_grad(4, 3);
  fill_normal(prediction, 0, 1, 12);
  fill_normal(target, 0, 1, 13);
  MeanSquaredError::evaluate<double>(prediction, target, mse_grad);
  CHECK(worst_loss_gradient_error(prediction, mse_grad, [&] { return MeanSquaredError::evaluate<double>(prediction, target).loss; }) < 1e-6);
}
