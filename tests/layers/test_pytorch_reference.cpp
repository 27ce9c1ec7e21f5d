// Every layer's forward and backward against PyTorch on the same weights (fixtures written by
// tests/reference/make_reference.py, computed in fp64, stored in fp32): strata in fp32 must
// agree to 1e-5 relative to each tensor's scale.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "strata/layers/avg_pool.hpp"
#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/global_avg_pool.hpp"
#include "strata/layers/leaky_relu.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/mean_squared_error.hpp"
#include "strata/layers/relu.hpp"
#include "strata/layers/sigmoid.hpp"
#include "strata/layers/softmax_cross_entropy.hpp"
#include "strata/layers/tanh.hpp"
#include "strata/net/residual.hpp"
#include "strata/net/sequential.hpp"
#include "support/fixtures.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::fixture;
using strata::testing::fixture_tensor;

namespace {

constexpr double tolerance = 1e-5;

// max |got − want| relative to the reference's largest magnitude. A reference that is only
// rounding noise (≤ 1e-12: a gradient that is mathematically 0, like a bias feeding a batch norm)
// has no scale of its own; it passes when strata's values are within fp32 noise of 0 (≤ 1e-6),
// which this returns as a ratio to that bound times the tolerance.
double scaled_error(const float* got, const fixture_tensor& want) {
  double scale = 0, worst = 0;
  for (float v : want.values) scale = std::max(scale, double(std::abs(v)));
  for (std::size_t i = 0; i < want.values.size(); ++i) worst = std::max(worst, std::abs(double(got[i]) - want.values[i]));
  return scale > 1e-12 ? worst / scale : worst / 1e-6 * tolerance;
}

template <std::size_t R>
Tensor<float, R> to_tensor(const fixture_tensor& t) {
  REQUIRE(t.dims.size() == R);
  Shape<R> s;
  for (std::size_t i = 0; i < R; ++i) s[i] = t.dims[i];
  Tensor<float, R> out(s);
  std::copy(t.values.begin(), t.values.end(), out.data());
  return out;
}

Tensor<float, 2> as_batch(const fixture_tensor& t) {
  std::int64_t per = 1;
  for (std::size_t i = 1; i < t.dims.size(); ++i) per *= t.dims[i];
  Tensor<float, 2> out(t.dims[0], per);
  std::copy(t.values.begin(), t.values.end(), out.data());
  return out;
}

void set_from(TensorView<float, 1> into, const fixture_tensor& t) {
  REQUIRE(t.size() == into.size());
  std::copy(t.values.begin(), t.values.end(), into.data());
}

// Loads parameters (by their strata names) and state ("<name>_in") from the fixture, runs forward
// and backward, and compares output, input gradient, parameter gradients and updated state.
template <class L, class In>
void check_layer(const std::string& case_name, bool training = true) {
  INFO("fixture " << case_name);
  const fixture f(case_name);
  using Out = output_shape_of<L, In>;
  runtime_layer<L, In, float> layer;
  random_engine rng(1);
  layer.initialize(rng);
  layer.visit_parameters([&](const parameter_ref<float>& p) { set_from(p.value, f.at(p.name)); });
  layer.visit_state([&](const std::string& name, TensorView<float, 1> v) { set_from(v, f.at(name + "_in")); });
  const auto x = as_batch(f.at("input"));
  const std::int64_t n = x.extent(0);
  REQUIRE(x.extent(1) == In::elements);
  Tensor<float, 2> y(n, Out::elements), dx(n, In::elements);
  context ctx{training, true, &rng};
  layer.forward(x, y, ctx);
  CHECK(scaled_error(y.data(), f.at("output")) <= tolerance);
  const auto dy = as_batch(f.at("grad_output"));
  layer.backward(x, y, dy, dx, ctx);
  CHECK(scaled_error(dx.data(), f.at("grad_input")) <= tolerance);
  layer.visit_parameters([&](const parameter_ref<float>& p) {
    INFO("gradient of " << p.name);
    CHECK(scaled_error(p.gradient.data(), f.at("grad_" + p.name)) <= tolerance);
  });
  if (training)
    layer.visit_state([&](const std::string& name, TensorView<float, 1> v) {
      INFO("state " << name);
      CHECK(scaled_error(v.data(), f.at(name + "_out")) <= tolerance);
    });
}

}  // namespace

TEST_CASE("convolutions match PyTorch forward and backward", "[layers][conv][pytorch]") {
  check_layer<Conv<4, Kernel<3>, Stride<1>, Pad<1>>, shape<3, 7, 6>>("conv_3x3_pad1");
  check_layer<Conv<3, Kernel<5>, Stride<1>, Pad<2>>, shape<2, 9, 9>>("conv_5x5_pad2");
  check_layer<Conv<2, Kernel<1, 3>, Stride<1>, Pad<0, 1>>, shape<3, 5, 6>>("conv_1x3");
  check_layer<Conv<2, Kernel<3, 1>, Stride<1>, Pad<1, 0>>, shape<3, 6, 5>>("conv_3x1");
  check_layer<Conv<6, Kernel<1>, Stride<2>, Pad<0>, NoBias>, shape<4, 7, 7>>("conv_1x1_stride2_nobias");
  check_layer<Conv<5, Kernel<3>, Stride<2>, Pad<1>>, shape<3, 8, 9>>("conv_3x3_stride2_pad1");
  check_layer<Conv<4, Kernel<3>, Stride<1>, Pad<1>, Algorithm<algo::reference>>, shape<3, 7, 6>>("conv_3x3_pad1");
}

TEST_CASE("dense and pooling layers match PyTorch", "[layers][pytorch]") {
  check_layer<Dense<4>, shape<2, 3, 2>>("dense");
  check_layer<MaxPool<2>, shape<3, 6, 8>>("maxpool_2");
  check_layer<MaxPool<3, 2, 1>, shape<2, 7, 7>>("maxpool_3_s2_p1");
  check_layer<AvgPool<2>, shape<3, 6, 8>>("avgpool_2");
  check_layer<AvgPool<3, 2, 1>, shape<2, 7, 7>>("avgpool_3_s2_p1");
  check_layer<GlobalAvgPool, shape<3, 5, 4>>("global_avgpool");
}

TEST_CASE("batch norm matches PyTorch in training and evaluation", "[layers][batchnorm][pytorch]") {
  check_layer<BatchNorm, shape<3, 5, 5>>("batchnorm2d_train", true);
  check_layer<BatchNorm, shape<3, 5, 5>>("batchnorm2d_eval", false);
  check_layer<BatchNorm, shape<5>>("batchnorm1d_train", true);
}

TEST_CASE("activations match PyTorch", "[layers][pytorch]") {
  check_layer<ReLU, shape<4, 5>>("relu");
  check_layer<LeakyReLU<>, shape<4, 5>>("leaky_relu");
  check_layer<Tanh, shape<4, 5>>("tanh");
  check_layer<Sigmoid, shape<4, 5>>("sigmoid");
}

TEST_CASE("losses match PyTorch, large logits included", "[layers][loss][pytorch]") {
  {
    const fixture f("softmax_cross_entropy");
    const auto logits = to_tensor<2>(f.at("logits"));
    const auto& label_values = f.at("labels").values;
    Tensor<std::int32_t, 1> labels(static_cast<std::int64_t>(label_values.size()));
    for (std::size_t i = 0; i < label_values.size(); ++i) labels(static_cast<std::int64_t>(i)) = static_cast<std::int32_t>(label_values[i]);
    Tensor<float, 2> grad(logits.shape());
    const auto r = SoftmaxCrossEntropy::evaluate<float>(logits, labels, grad);
    CHECK(r.loss == Approx(f.at("loss").values[0]).epsilon(tolerance));
    CHECK(scaled_error(grad.data(), f.at("grad_logits")) <= tolerance);
  }
  {
    const fixture f("mse");
    const auto p = to_tensor<2>(f.at("predictions")), t = to_tensor<2>(f.at("targets"));
    Tensor<float, 2> grad(p.shape());
    const auto r = MeanSquaredError::evaluate<float>(p, t, grad);
    CHECK(r.loss == Approx(f.at("loss").values[0]).epsilon(tolerance));
    CHECK(scaled_error(grad.data(), f.at("grad_predictions")) <= tolerance);
  }
}

TEST_CASE("a small residual network matches PyTorch end to end", "[net][residual][pytorch]") {
  using Net = Sequential<Input<4, 8, 8>, Conv<8, Kernel<3>, Stride<1>, Pad<1>>, BatchNorm, ReLU, BasicBlock<8>, ReLU,
                         BasicBlock<16, 2>, ReLU, GlobalAvgPool, Dense<5>>;
  const fixture f("residual_net");
  runtime_layer<Net::body, Net::input_shape, float> net;
  random_engine rng(1);
  net.initialize(rng);
  net.visit_parameters([&](const parameter_ref<float>& p) { set_from(p.value, f.at(p.name)); });
  const auto x = as_batch(f.at("input"));
  const std::int64_t n = x.extent(0);
  Tensor<float, 2> logits(n, 5), dx(n, Net::input_shape::elements), grad(n, 5);
  context ctx{true, true, &rng};
  net.forward(x, logits, ctx);
  CHECK(scaled_error(logits.data(), f.at("logits")) <= tolerance);
  Tensor<std::int32_t, 1> labels(n);
  for (std::int64_t i = 0; i < n; ++i) labels(i) = static_cast<std::int32_t>(f.at("labels").values[static_cast<std::size_t>(i)]);
  const auto r = SoftmaxCrossEntropy::evaluate<float>(logits, labels, grad);
  CHECK(r.loss == Approx(f.at("loss").values[0]).epsilon(tolerance));
  net.backward(x, logits, grad, dx, ctx);
  CHECK(scaled_error(dx.data(), f.at("grad_input")) <= tolerance);
  int checked = 0;
  net.visit_parameters([&](const parameter_ref<float>& p) {
    INFO("gradient of " << p.name);
    CHECK(scaled_error(p.gradient.data(), f.at("grad_" + p.name)) <= tolerance);
    ++checked;
  });
  CHECK(checked == 21);  // 0: 2, 1: 2, 3: 6, 5: 6 + projection 3, 8: 2
  net.visit_state([&](const std::string& name, TensorView<float, 1> v) {
    INFO("state " << name);
    CHECK(scaled_error(v.data(), f.at(name + "_out")) <= tolerance);
  });
}
