// Every layer's backward pass against central finite differences in fp64: for the loss
// L = Σ y·g with a random g, dL/dx and dL/dθ from backward must match (L(v+h) − L(v−h)) / 2h
// to a relative error below 1e-6, for inputs and for every kind of parameter. Convolutions run
// with every algorithm forced in turn (what `automatic` would pick depends on timing), and the
// perturbations write the weights through raw pointers, as a user might: the cached filter
// transforms must follow. A NaN anywhere fails.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
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
#include "support/gradients.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

using testing::check_gradients;
using testing::gradient_error;

// The convolution Conv<Filters, Options…, Algorithm<A>> on In, for every algorithm A that the CPU
// has for double and that supports the shape; returns how many ran.
template <std::int64_t Filters, class In, class... Options>
int check_conv_every_algorithm() {
  int ran = 0;
  auto one = [&]<class A>(A) {
    using L = Conv<Filters, Options..., Algorithm<A>>;
    if constexpr (kernels::conv_available<A, double, cpu>) {
      if (!A::supports(L::template geometry<In>())) return;
      INFO("algorithm " << A::name);
      check_gradients<L, In>();
      ++ran;
    }
  };
  one(algo::reference{});
  std::apply([&](auto... a) { (one(a), ...); }, algo::candidates{});
  return ran;
}

}  // namespace

TEST_CASE("convolution gradients match finite differences with every algorithm", "[layers][conv][gradient]") {
  CHECK(check_conv_every_algorithm<4, sample_shape<3, 7, 6>, Kernel<3>, Pad<1>>() >= 5);  // + Winograd, FFT
  CHECK(check_conv_every_algorithm<3, sample_shape<2, 9, 8>, Kernel<5>, Stride<2>, Pad<2>>() >= 3);
  CHECK(check_conv_every_algorithm<2, sample_shape<3, 5, 6>, Kernel<1, 3>, Pad<0, 1>>() >= 3);
  CHECK(check_conv_every_algorithm<2, sample_shape<3, 6, 5>, Kernel<3, 1>, Pad<1, 0>>() >= 3);
  CHECK(check_conv_every_algorithm<5, sample_shape<4, 7, 7>, Kernel<1>, Stride<2>, NoBias>() >= 4);  // + gemm_1x1
  CHECK(check_conv_every_algorithm<3, sample_shape<4, 5, 5>, Kernel<1>>() >= 4);                     // the pointwise path
  CHECK(check_conv_every_algorithm<3, sample_shape<2, 6, 7>, Kernel<3>, Stride<2>, Pad<1>>() >= 3);
}

TEST_CASE("dense, pooling and flatten gradients match finite differences", "[layers][gradient]") {
  check_gradients<Dense<4>, sample_shape<2, 3, 2>>();
  check_gradients<Dense<5, NoBias>, sample_shape<7>>();
  check_gradients<MaxPool<2>, sample_shape<3, 6, 8>>();
  check_gradients<MaxPool<3, 2, 1>, sample_shape<2, 7, 7>>();
  check_gradients<AvgPool<2>, sample_shape<3, 6, 8>>();
  check_gradients<AvgPool<3, 2, 1>, sample_shape<2, 7, 7>>();
  check_gradients<GlobalAvgPool, sample_shape<3, 5, 4>>();
  check_gradients<Flatten, sample_shape<2, 3, 4>>();
}

TEST_CASE("batch norm gradients match finite differences in training and inference", "[layers][batchnorm][gradient]") {
  check_gradients<BatchNorm, sample_shape<3, 5, 5>>(true, 4);
  check_gradients<BatchNorm, sample_shape<5>>(true, 6);
  check_gradients<BatchNorm, sample_shape<3, 4, 4>>(false, 3);
}

TEST_CASE("activation and dropout gradients match finite differences", "[layers][gradient]") {
  check_gradients<ReLU, sample_shape<3, 4, 5>>();
  check_gradients<LeakyReLU<>, sample_shape<3, 4, 5>>();
  check_gradients<LeakyReLU<0.2f>, sample_shape<60>>();
  check_gradients<Tanh, sample_shape<3, 4, 5>>();
  check_gradients<Sigmoid, sample_shape<3, 4, 5>>();
  check_gradients<Dropout<0.3f>, sample_shape<4, 5>>(true);
  check_gradients<Dropout<0.3f>, sample_shape<4, 5>>(false);
}

TEST_CASE("residual blocks and chains pass gradients through both paths", "[layers][residual][gradient]") {
  check_gradients<Residual<Conv<3, Kernel<3>, Stride<1>, Pad<1>>, ReLU, Conv<3, Kernel<3>, Stride<1>, Pad<1>>>,
                  sample_shape<3, 5, 5>>();
  check_gradients<BasicBlock<4, 2>, sample_shape<2, 6, 6>>(true, 3);
  check_gradients<Bottleneck<2, 6>, sample_shape<6, 4, 4>>(true, 3);
  check_gradients<Chain<Conv<3, Kernel<3>, Stride<1>, Pad<1>>, BatchNorm, ReLU, MaxPool<2>, Dense<4>, Tanh>,
                  sample_shape<2, 6, 6>>(true, 4);
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
    worst = testing::worse_of(worst, gradient_error((up - down) / (2 * h), gradient.data()[i]));
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
