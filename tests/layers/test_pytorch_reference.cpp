// Every layer's forward and backward against PyTorch on the same weights (fixtures written by
// tests/reference/make_reference.py, computed in fp64, stored in fp32): strata in fp32 must
// agree to 1e-5 relative to each tensor's scale (convolutions: with every algorithm forced in
// turn, each at its own documented tolerance). A NaN anywhere fails.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>

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
#include "strata/zoo/googlenet.hpp"
#include "support/autotune_guard.hpp"
#include "support/fixtures.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::fixture;
using strata::testing::fixture_tensor;

namespace pytorch_reference {
constexpr double tolerance = 1e-5;
}
using pytorch_reference::tolerance;

namespace {

// max |got − want| relative to the reference's largest magnitude. A reference that is only
// rounding noise (≤ 1e-12: a gradient that is mathematically 0, like a bias feeding a batch norm)
// has no scale of its own; it passes when strata's values are within fp32 noise of 0 (≤ 1e-6),
// which this returns as a ratio to that bound times the tolerance.
double scaled_error(const float* got, const fixture_tensor& want) {
  double scale = 0, worst = 0;
  for (float v : want.values) scale = std::max(scale, double(std::abs(v)));
  for (std::size_t i = 0; i < want.values.size(); ++i)
    worst = testing::worse_of(worst, testing::abs_error(double(got[i]), want.values[i]));
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
void check_layer(const std::string& case_name, bool training = true, double tolerance = pytorch_reference::tolerance) {
  INFO("fixture " << case_name);
  const fixture f(case_name);
  using Out = output_shape_of<L, In>;
  runtime_layer<L, In, float> layer;
  random_engine rng(1);
  initialize_layer(layer, rng);
  visit_layer_parameters(layer, [&](const parameter_ref<float>& p) { set_from(p.value, f.at(p.name)); });
  visit_layer_state(layer, [&](const std::string& name, TensorView<float, 1> v) { set_from(v, f.at(name + "_in")); });
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
  visit_layer_parameters(layer, [&](const parameter_ref<float>& p) {
    INFO("gradient of " << p.name);
    CHECK(scaled_error(p.gradient.data(), f.at("grad_" + p.name)) <= tolerance);
  });
  if (training) {
    visit_layer_state(layer, [&](const std::string& name, TensorView<float, 1> v) {
      INFO("state " << name);
      CHECK(scaled_error(v.data(), f.at(name + "_out")) <= tolerance);
    });
  } else {  // inference must leave the running statistics exactly as they were
    visit_layer_state(layer, [&](const std::string& name, TensorView<float, 1> v) {
      INFO("state " << name << " (unchanged in inference)");
      const auto& before = f.at(name + "_in").values;
      for (std::int64_t i = 0; i < v.size(); ++i) CHECK(double(v.data()[i]) == before[static_cast<std::size_t>(i)]);
    });
  }
}

// fp32 tolerance of each algorithm against PyTorch's fp64 result (relative to each tensor's
// scale): Winograd's transforms amplify rounding (F(4×4) by about an order of magnitude, as in
// kernels/test_winograd.cpp), the others sum in a different order only.
template <class A>
constexpr double tolerance_of() {
  if constexpr (std::is_same_v<A, algo::winograd<4>>) return 1e-4;
  else if constexpr (std::is_same_v<A, algo::winograd<2>>) return 3e-5;
  else return pytorch_reference::tolerance;
}

// check_layer for Conv<Filters, Options…, Algorithm<A>> with every algorithm the CPU has for
// float that supports the shape; returns how many ran.
template <std::int64_t Filters, class In, class... Options>
int check_conv(const std::string& case_name) {
  int ran = 0;
  auto one = [&]<class A>(A) {
    using L = Conv<Filters, Options..., Algorithm<A>>;
    if constexpr (kernels::conv_available<A, float, cpu>) {
      if (!A::supports(L::template geometry<In>())) return;
      INFO("algorithm " << A::name);
      check_layer<L, In>(case_name, true, tolerance_of<A>());
      ++ran;
    }
  };
  one(algo::reference{});
  std::apply([&](auto... a) { (one(a), ...); }, algo::candidates{});
  return ran;
}

}  // namespace

TEST_CASE("convolutions match PyTorch forward and backward with every algorithm", "[layers][conv][pytorch]") {
  CHECK(check_conv<4, sample_shape<3, 7, 6>, Kernel<3>, Pad<1>>("conv_3x3_pad1") >= 5);
  CHECK(check_conv<3, sample_shape<2, 9, 9>, Kernel<5>, Pad<2>>("conv_5x5_pad2") >= 3);
  CHECK(check_conv<2, sample_shape<3, 5, 6>, Kernel<1, 3>, Pad<0, 1>>("conv_1x3") >= 3);
  CHECK(check_conv<2, sample_shape<3, 6, 5>, Kernel<3, 1>, Pad<1, 0>>("conv_3x1") >= 3);
  CHECK(check_conv<6, sample_shape<4, 7, 7>, Kernel<1>, Stride<2>, NoBias>("conv_1x1_stride2_nobias") >= 4);
  CHECK(check_conv<5, sample_shape<3, 8, 9>, Kernel<3>, Stride<2>, Pad<1>>("conv_3x3_stride2_pad1") >= 3);
}

TEST_CASE("dense and pooling layers match PyTorch", "[layers][pytorch]") {
  check_layer<Dense<4>, sample_shape<2, 3, 2>>("dense");
  check_layer<MaxPool<2>, sample_shape<3, 6, 8>>("maxpool_2");
  check_layer<MaxPool<3, 2, 1>, sample_shape<2, 7, 7>>("maxpool_3_s2_p1");
  check_layer<AvgPool<2>, sample_shape<3, 6, 8>>("avgpool_2");
  check_layer<AvgPool<3, 2, 1>, sample_shape<2, 7, 7>>("avgpool_3_s2_p1");
  check_layer<GlobalAvgPool, sample_shape<3, 5, 4>>("global_avgpool");
}

TEST_CASE("an Inception module matches torchvision's forward and backward", "[net][concat][pytorch]") {
  // torchvision's own Inception(16, 4, 6, 8, 2, 4, 4) behind MaxPool2d(3, 2, ceil_mode=True), in
  // training mode: output, input gradient, all 18 parameter gradients (six BasicConv2d: conv
  // weight, batch norm γ and β) and the 12 running statistics.
  using Module = Chain<MaxPool<3, 2, 0, CeilMode>, zoo::Inception<4, 6, 8, 2, 4, 4, Algorithm<algo::reference>>>;
  using In = sample_shape<16, 16, 16>;
  static_assert(std::is_same_v<output_shape_of<Module, In>, sample_shape<20, 8, 8>>);  // ceil mode: 16 → 8, not 7
  runtime_layer<Module, In, float> layer;
  int parameters = 0, states = 0;
  visit_layer_parameters(layer, [&](const auto&) { ++parameters; });
  visit_layer_state(layer, [&](const std::string&, TensorView<float, 1>) { ++states; });
  CHECK(parameters == 18);
  CHECK(states == 12);
  check_layer<Module, In>("inception");
}

TEST_CASE("batch norm matches PyTorch in training and evaluation", "[layers][batchnorm][pytorch]") {
  check_layer<BatchNorm, sample_shape<3, 5, 5>>("batchnorm2d_train", true);
  check_layer<BatchNorm, sample_shape<3, 5, 5>>("batchnorm2d_eval", false);
  check_layer<BatchNorm, sample_shape<5>>("batchnorm1d_train", true);
}

TEST_CASE("activations match PyTorch", "[layers][pytorch]") {
  check_layer<ReLU, sample_shape<4, 5>>("relu");
  check_layer<LeakyReLU<>, sample_shape<4, 5>>("leaky_relu");
  check_layer<Tanh, sample_shape<4, 5>>("tanh");
  check_layer<Sigmoid, sample_shape<4, 5>>("sigmoid");
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
  // The rule of thumb picks Winograd F(2×2) for the 3×3 convolutions here: deterministic, and
  // judged at that algorithm's tolerance.
  const testing::conv_tuning_guard rule(conv_tuning::rule_of_thumb);
  constexpr double tolerance = tolerance_of<algo::winograd<2>>();
  runtime_layer<Net::body, Net::input_shape, float> net;
  random_engine rng(1);
  initialize_layer(net, rng);
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
  visit_layer_state(net, [&](const std::string& name, TensorView<float, 1> v) {
    INFO("state " << name);
    CHECK(scaled_error(v.data(), f.at(name + "_out")) <= tolerance);
  });
}
