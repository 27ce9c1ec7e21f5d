// Every zoo model is a network that runs: its parameter count equals the reference's
// (static_asserts here and in the headers), and one forward pass at batch 1 — forward and
// backward for the demo's network — gives finite outputs of the right shape.
#include <cmath>
#include <cstdint>

#include "strata/net/model.hpp"
#include "strata/zoo/alexnet.hpp"
#include "strata/zoo/fashion_net.hpp"
#include "strata/zoo/resnet.hpp"
#include "strata/zoo/vgg16.hpp"
#include "support/autotune_guard.hpp"
#include "support/testing.hpp"

using namespace strata;

static_assert(zoo::AlexNet<>::parameters == 62'378'344, "AlexNet (one tower, as defined) has 62,378,344 parameters");
static_assert(zoo::FashionNet<>::parameters == 3'274'634, "the demo's network has 3,274,634 parameters");

namespace {
template <class Net>
void check_forward(std::int64_t batch = 1) {
  INFO(signature<Net>().substr(0, 80));
  Model<Net> m(1);
  Tensor<float, 2> x(batch, Net::input_shape::elements);
  fill_uniform(x, -1, 1, 2);
  const auto y = m.forward(x);
  REQUIRE(y.shape() == Shape{batch, Net::output_shape::elements});
  bool finite = true;
  for (std::int64_t i = 0; i < y.size(); ++i) finite &= std::isfinite(y.data()[i]);
  CHECK(finite);
  CHECK(max(y) > min(y));  // not a constant: the layers really ran
}
}  // namespace

TEST_CASE("every zoo model runs a forward pass", "[zoo]") {
  const testing::conv_tuning_guard rule(conv_tuning::rule_of_thumb);  // no timing: the suite stays quick
  check_forward<zoo::FashionNet<>>(2);
  check_forward<zoo::AlexNet<>>();
  check_forward<zoo::ResNet18<>>();
  check_forward<zoo::ResNet50<>>();
  check_forward<zoo::VGG16<>>();
}

TEST_CASE("the demo's network trains a step: forward and backward give finite gradients", "[zoo]") {
  Model<zoo::FashionNet<>> m(3);
  Tensor<float, 2> x(2, 784), dy(2, 10);
  fill_uniform(x, 0, 1, 4);
  fill_uniform(dy, -1, 1, 5);
  m.forward(x, true);
  m.backward(dy);
  double norm = 0;
  bool finite = true;
  m.visit_parameters([&](const auto& p) {
    for (std::int64_t i = 0; i < p.gradient.size(); ++i) {
      finite &= std::isfinite(p.gradient.data()[i]);
      norm += double(p.gradient.data()[i]) * p.gradient.data()[i];
    }
  });
  CHECK(finite);
  CHECK(norm > 0);
}
