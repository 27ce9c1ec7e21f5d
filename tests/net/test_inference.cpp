// The inference path (net/inference.hpp): a network with every fusion pattern (convolution, 1×1,
// strided 1×1, depthwise and dense heads, with and without batch norm and ReLU / ReLU6; identity
// and projected residuals; layers that fuse nothing) against Model::forward in inference mode,
// in fp64 (folding only reorders the arithmetic: ≤ 1e-12) and fp32 (≤ 1e-5 of the largest
// output); batch sizes alternating; the snapshot and refresh(); what the plan says it fused;
// concatenated and summed branches; EfficientNet-Lite0 and the demo network; a wrong input width.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/depthwise_conv.hpp"
#include "strata/layers/dropout.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/global_avg_pool.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/layers/relu6.hpp"
#include "strata/layers/tanh.hpp"
#include "strata/layers/zero_pad.hpp"
#include "strata/net/inference.hpp"
#include "strata/net/model.hpp"
#include "strata/net/add.hpp"
#include "strata/net/concat.hpp"
#include "strata/net/residual.hpp"
#include "strata/net/sequential.hpp"
#include "strata/zoo/efficientnet_lite.hpp"
#include "strata/zoo/fashion_net.hpp"
#include "support/testing.hpp"

using namespace strata;
using testing::error_relative_to_largest;

namespace {

using Mixed = Sequential<Input<3, 12, 11>,
                         Conv<8, Kernel<3>, Pad<1>>, BatchNorm, ReLU6,                             // 0–2 fused, 3×3
                         Conv<16, Kernel<1>, NoBias>, BatchNorm,                                    // 3–4 fused, 1×1
                         DepthwiseConv<Kernel<3>, Stride<2>, Pad<1>, NoBias>, BatchNorm, ReLU,      // 5–7 fused, depthwise
                         Residual<Conv<32, Kernel<1>, NoBias>, BatchNorm, ReLU6,                    // 8: identity shortcut
                                  Conv<32, Groups<32>, Kernel<3>, Pad<1>, NoBias>, BatchNorm, ReLU6,
                                  Conv<16, Kernel<1>, NoBias>, BatchNorm, Shortcut<>>,
                         Residual<Conv<24, Kernel<3>, Stride<2>, Pad<1>>, BatchNorm>,               // 9: projected shortcut
                         Conv<12, Kernel<1>, Stride<2>>, ReLU,                                      // 10–11 fused, strided 1×1
                         Tanh,                                                                      // 12 alone
                         Conv<10, Kernel<1>, Groups<2>>, BatchNorm,                                 // 13, 14: grouped, not fused
                         Flatten, Dense<20>, BatchNorm, ReLU, Dropout<0.5f>, Dense<7>>;             // 15, 16–18 fused, 19, 20

// Branches: a concatenation (written in place for one sample, through a buffer for more) with a
// branch that fuses nothing, and a sum.
using Branchy = Sequential<Input<4, 9, 9>,
                           Concat<Chain<Conv<6, Kernel<1>>, BatchNorm, ReLU>, Chain<Conv<4, Kernel<3>, Pad<1>>, ReLU6>, MaxPool<3, 1, 1>>,
                           Add<Chain<Conv<8, Kernel<3>, Pad<1>, NoBias>, BatchNorm>, Conv<8, Kernel<1>>>,
                           GlobalAvgPool, Dense<3>>;

// Batch-norm statistics and affine parameters far from 0 and 1, so a wrong fold shows, and random
// weights (a deep network keeps its He initialisation: uniform ±0.6 weights over fan-ins in the
// hundreds make it chaotic, fp32 rounding then moves the logits by percents).
template <class M>
void randomise(M& model, std::uint64_t seed, bool weights = true) {
  random_engine rng(seed);
  if (weights) model.visit_parameters([&](auto& p) { fill_uniform(p.value, -0.6, 0.6, rng()); });
  model.visit_state([&](const std::string& name, auto v) {
    if (name.ends_with("running_var")) fill_uniform(v, 0.3, 2.5, rng());
    else fill_uniform(v, -0.5, 0.5, rng());
  });
  model.visit_parameters([&](auto& p) {
    if (p.name.ends_with("gamma")) fill_uniform(p.value, 0.5, 1.5, rng());
  });
}

template <class M, class E>
double engine_error(M& model, E& engine, std::int64_t n, std::uint64_t seed) {
  using T = typename M::element_type;
  Tensor<T, 2> x(Shape{n, M::input_shape::elements});
  fill_uniform(x, -1.0, 1.0, seed);
  const auto want = model.forward(x.view());
  std::vector<T> expected(want.data(), want.data() + want.size());
  const auto got = engine.forward(x.view());
  REQUIRE(got.shape() == want.shape());
  return error_relative_to_largest(got.data(), expected.data(), expected.size());
}

}  // namespace

TEMPLATE_TEST_CASE("the inference path gives Model::forward's outputs on every fusion pattern", "[inference]", float, double) {
  Model<Mixed, TestType> model(3);
  randomise(model, 11);
  Inference engine(model);
  const double tol = std::is_same_v<TestType, double> ? 1e-12 : 1e-5;
  for (std::int64_t n : {1, 4, 1, 3, 4}) {  // batch sizes alternate: each keeps its own plan
    INFO("batch " << n);
    CHECK(engine_error(model, engine, n, 100 + std::uint64_t(n)) <= tol);
  }
}

TEMPLATE_TEST_CASE("the inference path runs concatenated and summed branches", "[inference]", float, double) {
  Model<Branchy, TestType> model(4);
  randomise(model, 12);
  Inference engine(model);
  CHECK(Inference<Branchy, TestType>::fused_layers == 3 + 1);
  const double tol = std::is_same_v<TestType, double> ? 1e-12 : 1e-5;
  for (std::int64_t n : {1, 3, 1}) {
    INFO("batch " << n);
    CHECK(engine_error(model, engine, n, 200 + std::uint64_t(n)) <= tol);
  }
}

TEST_CASE("the inference plan fuses what it says it fuses", "[inference]") {
  // Batch norms folded (9): 0–2, 3–4, 5–7, three in block 8, block 9 and its projection, 16–18;
  // activations fused (6): 0–2, 5–7, two in block 8, 10–11, 16–18.
  CHECK(Inference<Mixed, float>::fused_layers == 9 + 6);
  const std::string plan = Inference<Mixed, float>::describe();
  INFO(plan);
  CHECK(plan.find("0–2: conv 3×3 pad 1, 3 → 8 + batch norm (folded) + relu6") != std::string::npos);
  CHECK(plan.find("3–4: conv 1×1, 8 → 16, no bias + batch norm (folded)  [pointwise kernel, prepacked, fused]") != std::string::npos);
  CHECK(plan.find("5–7: depthwise conv 3×3 /2 pad 1, 16 channels, no bias + batch norm (folded) + relu  [depthwise kernel") !=
        std::string::npos);
  CHECK(plan.find("8.block.3–5: conv 3×3 pad 1, 32 → 32, depthwise, no bias + batch norm (folded) + relu6") != std::string::npos);
  CHECK(plan.find("9.projection: conv 1×1 /2, 16 → 24, no bias + batch norm (folded)") != std::string::npos);
  CHECK(plan.find("10–11: conv 1×1 /2, 24 → 12 + relu  [pointwise kernel") != std::string::npos);
  CHECK(plan.find("12: tanh") != std::string::npos);
  CHECK(plan.find("13: conv 1×1, 12 → 10, groups 2") != std::string::npos);
  CHECK(plan.find("14: batch norm") != std::string::npos);
  CHECK(plan.find("16–18: dense 40 → 20 + batch norm (folded) + relu  [dense kernel, prepacked, fused]") != std::string::npos);
}

TEST_CASE("an inference engine is a snapshot until refreshed", "[inference]") {
  Model<Mixed, double> model(5);
  randomise(model, 21);
  Inference engine(model);
  Tensor<double, 2> x(Shape{2, Mixed::input_shape::elements});
  fill_uniform(x, -1.0, 1.0, 9);
  const auto first = engine.forward(x.view());
  const std::vector<double> before(first.data(), first.data() + first.size());

  randomise(model, 22);  // "more training"
  const auto after_training = engine.forward(x.view());
  CHECK(std::vector<double>(after_training.data(), after_training.data() + after_training.size()) == before);
  CHECK(engine_error(model, engine, 2, 9) > 1e-3);

  engine.refresh(model);
  CHECK(engine_error(model, engine, 2, 9) <= 1e-12);
}

TEST_CASE("the inference path rejects a batch of the wrong width, by name", "[inference]") {
  Model<Mixed, float> model(1);
  Inference engine(model);
  Tensor<float, 2> x(Shape{2, Mixed::input_shape::elements + 1});
  CHECK_THROWS_WITH(engine.forward(x.view()), Catch::Contains("Inference::forward") && Catch::Contains("[3, 12, 11]"));
  Tensor<float, 2> empty(Shape{0, Mixed::input_shape::elements});
  CHECK(engine.forward(empty.view()).extent(0) == 0);
}

TEST_CASE("EfficientNet-Lite0 and the demo network run the inference path", "[inference]") {
  {
    Model<zoo::EfficientNetLite0<>, float> model(2);
    randomise(model, 31, false);
    Inference engine(model);
    // Stem, 16 blocks and the head: every batch norm folded, every ReLU6 fused.
    CHECK(Inference<zoo::EfficientNetLite0<>, float>::fused_layers == 49 + 33);
    for (std::int64_t n : {1, 2}) {
      INFO("EfficientNet-Lite0, batch " << n);
      CHECK(engine_error(model, engine, n, 40 + std::uint64_t(n)) <= 1e-5);
    }
  }
  {
    Model<zoo::FashionNet<>, float> model(4);
    Inference engine(model);
    CHECK(Inference<zoo::FashionNet<>, float>::fused_layers == 3);  // conv+ReLU twice, dense+ReLU
    for (std::int64_t n : {5, 1}) {
      INFO("FashionNet, batch " << n);
      CHECK(engine_error(model, engine, n, 50 + std::uint64_t(n)) <= 1e-5);
    }
  }
}
