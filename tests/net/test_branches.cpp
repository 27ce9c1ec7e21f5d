// Branches: Concat (Inception), Add, and Residual with a chosen shortcut. Shapes, parameter and
// multiply-add counts are compile-time facts (the seed's Inception arithmetic: 1×1 reductions in
// front of the 3×3 and 5×5 convolutions); summaries and parameter names see inside every branch;
// forward passes agree with the branches run by hand; backward passes match central finite
// differences in fp64, also when the input gradient is not wanted; MaxPool's ceil mode;
// GoogLeNet's size and one forward pass.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "strata/kernels/conv_choices.hpp"
#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/layers/tanh.hpp"
#include "strata/net/add.hpp"
#include "strata/net/concat.hpp"
#include "strata/net/model.hpp"
#include "strata/net/residual.hpp"
#include "strata/net/summary.hpp"
#include "strata/zoo/googlenet.hpp"
#include "support/autotune_guard.hpp"
#include "support/gradients.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

using Ref = Algorithm<algo::reference>;

// ---------------------------------------------------------------------------------------------
// The seed's Inception arithmetic, on inception 3a's input (192×28×28): a 5×5 convolution straight
// from 192 channels to 32 against a 1×1 reduction to 16 first, and the whole module's cost as the
// sum of its four branches (convolutions without bias, as the seed counts weights only).
namespace inception_arithmetic {
constexpr std::int64_t C = 192, H = 28, W = 28;
using In = sample_shape<C, H, W>;
using direct_5x5 = Conv<32, Kernel<5>, Pad<2>, NoBias>;
using reduced_5x5 = Chain<Conv<16, Kernel<1>, NoBias>, ReLU, Conv<32, Kernel<5>, Pad<2>, NoBias>>;
static_assert(layer_traits<direct_5x5, In>::parameters == 25 * C * 32);
static_assert(layer_traits<reduced_5x5, In>::parameters == C * 16 + 25 * 16 * 32);
static_assert(layer_traits<direct_5x5, In>::parameters > 9 * layer_traits<reduced_5x5, In>::parameters);  // ~9.7×
static_assert(layer_traits<reduced_5x5, In>::flops == (C * 16 + 25 * 16 * 32) * H * W);

// The paper's module 3a: 64 | 96 → 128 (3×3) | 16 → 32 (5×5) | pool → 32.
using Module = Concat<Conv<64, Kernel<1>, NoBias>,                                                  //
                      Chain<Conv<96, Kernel<1>, NoBias>, ReLU, Conv<128, Kernel<3>, Pad<1>, NoBias>>,  //
                      reduced_5x5,                                                                   //
                      Chain<MaxPool<3, 1, 1>, Conv<32, Kernel<1>, NoBias>>>;
using tr = layer_traits<Module, In>;
static_assert(std::is_same_v<tr::output_shape, sample_shape<64 + 128 + 32 + 32, H, W>>);
constexpr std::int64_t weights = C * 64 + (C * 96 + 9 * 96 * 128) + (C * 16 + 25 * 16 * 32) + C * 32;
static_assert(tr::parameters == weights);  // 163,328
static_assert(tr::parameters == 163'328);
static_assert(tr::flops == weights * H * W);
// Kept for backward: every branch's layers' outputs (what the chains keep and their last
// outputs) and the max pool's positions (counted as half its output); the joined output is the
// caller's.
static_assert(tr::saved == (64 + (96 + 96 + 128) + (16 + 16 + 32) + (C + C / 2 + 32)) * H * W);
// The same four convolutions with the 1×1 reductions left out cost more than twice as much.
constexpr std::int64_t without_reductions = C * 64 + 9 * C * 128 + 25 * C * 32 + C * 32;
static_assert(without_reductions > 2 * weights);
}  // namespace inception_arithmetic

// Add: the shapes of its branches, its cost the sum of theirs.
using AddIn = sample_shape<4, 6, 6>;
using TwoPaths = Add<Chain<Conv<4, Kernel<3>, Pad<1>, Ref>, ReLU>, Conv<4, Kernel<1>, NoBias, Ref>>;
static_assert(std::is_same_v<output_shape_of<TwoPaths, AddIn>, AddIn>);
static_assert(layer_traits<TwoPaths, AddIn>::parameters == (9 * 4 * 4 + 4) + 4 * 4);
static_assert(layer_traits<TwoPaths, AddIn>::flops == (9 * 4 * 4 + 4 * 4) * 36);

// Residual with a chosen shortcut: a 1×1 strided convolution with bias, no batch norm.
using ResIn = sample_shape<4, 8, 8>;
using Downsample = Residual<Conv<6, Kernel<3>, Stride<2>, Pad<1>, NoBias, Ref>, BatchNorm, ReLU, Conv<6, Kernel<3>, Pad<1>, Ref>,
                            Shortcut<Conv<6, Kernel<1>, Stride<2>, Ref>>>;
static_assert(std::is_same_v<output_shape_of<Downsample, ResIn>, sample_shape<6, 4, 4>>);
static_assert(layer_traits<Downsample, ResIn>::parameters == (9 * 4 * 6) + 12 + (9 * 6 * 6 + 6) + (4 * 6 + 6));
static_assert(layer_traits<Downsample, ResIn>::flops == ((9 * 4 * 6) * 16 + 2 * 96 + (9 * 6 * 6) * 16 + (4 * 6) * 16));
// The default shortcut keeps its projection and costs; Shortcut<> is the identity, explicitly.
using DefaultDownsample = Residual<Conv<6, Kernel<3>, Stride<2>, Pad<1>, NoBias>, BatchNorm>;
static_assert(layer_traits<DefaultDownsample, ResIn>::parameters == 9 * 4 * 6 + 12 + (4 * 6 + 12));
static_assert(layer_traits<Residual<ReLU, Shortcut<>>, ResIn>::parameters == 0);
static_assert(Residual<ReLU, Shortcut<>>::accepts<ResIn>);
static_assert(!Residual<Conv<6, Kernel<1>>, Shortcut<>>::accepts<ResIn>);  // Shortcut<> never projects
// A shortcut that lands on another shape is refused, naming both shapes.
using Wrong = Residual<Conv<6, Kernel<3>, Stride<2>, Pad<1>>, Shortcut<Conv<6, Kernel<1>>>>;
static_assert(!Wrong::accepts<ResIn>);
static_assert(std::is_same_v<Wrong::expects<ResIn>, shortcut_mismatch_at<sample_shape<6, 4, 4>, sample_shape<6, 8, 8>>>);
// A concat whose branches disagree in H×W names the branch; one that fails inside names it too.
using Uneven = Concat<Conv<2, Kernel<1>>, Conv<2, Kernel<3>>>;
static_assert(!Uneven::accepts<ResIn>);
static_assert(std::is_same_v<Uneven::expects<ResIn>, concat_mismatch_at<1, sample_shape<2, 6, 6>, sample_shape<2, 8, 8>>>);
static_assert(std::is_same_v<Concat<ReLU, Chain<ReLU, Dense<3>, Conv<2>>>::expects<ResIn>,
                             in_branch_at<1, shape_mismatch_at<2, Conv<2>, sample_shape<3>, image_at_least<3, 3>>>>);
static_assert(std::is_same_v<Add<ReLU, Conv<4, Kernel<1>, Stride<2>>>::expects<ResIn>,
                             add_mismatch_at<1, sample_shape<4, 4, 4>, sample_shape<4, 8, 8>>>);
// Vectors concatenate along their one axis.
static_assert(std::is_same_v<output_shape_of<Concat<Dense<3>, Dense<5>>, sample_shape<7>>, sample_shape<8>>);

// MaxPool's ceil mode rounds the output up, as PyTorch's ceil_mode (GoogLeNet's pools).
static_assert(std::is_same_v<output_shape_of<MaxPool<3, 2, 0, CeilMode>, sample_shape<1, 112, 112>>, sample_shape<1, 56, 56>>);
static_assert(std::is_same_v<output_shape_of<MaxPool<3, 2>, sample_shape<1, 112, 112>>, sample_shape<1, 55, 55>>);
static_assert(std::is_same_v<output_shape_of<MaxPool<2, 2, 0, CeilMode>, sample_shape<1, 7, 7>>, sample_shape<1, 4, 4>>);
static_assert(std::is_same_v<output_shape_of<MaxPool<3, 2, 1, CeilMode>, sample_shape<1, 6, 6>>, sample_shape<1, 4, 4>>);
// A last window that would start in the right padding is dropped (PyTorch: 2 → 1, 4 → 2).
static_assert(std::is_same_v<output_shape_of<MaxPool<2, 3, 1, CeilMode>, sample_shape<1, 2, 2>>, sample_shape<1, 1, 1>>);
static_assert(std::is_same_v<output_shape_of<MaxPool<2, 3, 1, CeilMode>, sample_shape<1, 4, 4>>, sample_shape<1, 2, 2>>);
static_assert(std::is_same_v<output_shape_of<MaxPool<3, 1, 1, CeilMode>, sample_shape<1, 7, 7>>, sample_shape<1, 7, 7>>);

// GoogLeNet: torchvision's parameter count (also asserted in the header) and its shapes.
using GoogLeNet = zoo::GoogLeNet<>;
static_assert(GoogLeNet::parameters == 6'624'904);
static_assert(std::is_same_v<GoogLeNet::output_shape, sample_shape<1000>>);

// Finite differences: tests/support/gradients.hpp (also checks backward without the input
// gradient).
using testing::check_gradients;

std::vector<std::string> parameter_names_of(auto& layer) {
  std::vector<std::string> names;
  visit_layer_parameters(layer, [&](const auto& p) { names.push_back(p.name); });
  return names;
}

}  // namespace

TEST_CASE("concat joins the branches' channels per sample", "[net][concat]") {
  using In = sample_shape<3, 5, 4>;
  using A = Conv<2, Kernel<1>, Ref>;
  using B = Chain<Conv<3, Kernel<3>, Pad<1>, Ref>, Tanh>;
  using J = Concat<A, B, MaxPool<3, 1, 1>>;
  static_assert(std::is_same_v<output_shape_of<J, In>, sample_shape<8, 5, 4>>);
  runtime_layer<J, In, double> joined;
  testing::randomise_layer(joined, 3);
  // The same branches on their own, with the same parameters.
  runtime_layer<A, In, double> a;
  runtime_layer<B, In, double> b;
  std::map<std::string, TensorView<double, 1>> values;
  visit_layer_parameters(joined, [&](const parameter_ref<double>& p) { values.emplace(p.name, p.value); });
  visit_layer_parameters(a, [&](const parameter_ref<double>& p) { copy(values.at("0.0." + p.name), p.value); });
  visit_layer_parameters(b, [&](const parameter_ref<double>& p) { copy(values.at("1." + p.name), p.value); });
  CHECK(parameter_names_of(joined) == std::vector<std::string>{"0.0.weight", "0.0.bias", "1.0.weight", "1.0.bias"});

  const std::int64_t n = 3;
  Tensor<double, 2> x(n, In::elements), y(n, 8 * 20), ya(n, 2 * 20), yb(n, 3 * 20);
  fill_normal(x, 0, 1, 5);
  context ctx;
  joined.forward(x, y, ctx);
  a.forward(x, ya, ctx);
  b.forward(x, yb, ctx);
  double worst = 0;
  for (std::int64_t s = 0; s < n; ++s)
    for (std::int64_t i = 0; i < 20; ++i) {
      for (std::int64_t c = 0; c < 2; ++c) worst = std::max(worst, std::abs(y(s, c * 20 + i) - ya(s, c * 20 + i)));
      for (std::int64_t c = 0; c < 3; ++c) worst = std::max(worst, std::abs(y(s, (2 + c) * 20 + i) - yb(s, c * 20 + i)));
      for (std::int64_t c = 0; c < 3; ++c) {  // the max pool branch
        const std::int64_t yy = i / 4, xx = i % 4;
        double m = -INFINITY;
        for (std::int64_t dy = -1; dy <= 1; ++dy)
          for (std::int64_t dx = -1; dx <= 1; ++dx)
            if (yy + dy >= 0 && yy + dy < 5 && xx + dx >= 0 && xx + dx < 4) m = std::max(m, x(s, c * 20 + (yy + dy) * 4 + xx + dx));
        worst = std::max(worst, std::abs(y(s, (5 + c) * 20 + i) - m));
      }
    }
  CHECK(worst == 0);
}

TEST_CASE("add sums its branches and a chosen shortcut adds to the block", "[net][add][residual]") {
  runtime_layer<TwoPaths, AddIn, double> add;
  testing::randomise_layer(add, 4);
  CHECK(parameter_names_of(add) == std::vector<std::string>{"0.0.weight", "0.0.bias", "1.0.weight"});
  const std::int64_t n = 2;
  Tensor<double, 2> x(n, AddIn::elements), y(n, AddIn::elements), y0(n, AddIn::elements), y1(n, AddIn::elements);
  fill_normal(x, 0, 1, 6);
  context ctx;
  add.forward(x, y, ctx);
  add.part<0>().forward(x, y0, ctx);
  add.part<1>().forward(x, y1, ctx);
  Tensor<double, 2> expected(n, AddIn::elements);
  expected = y0 + y1;
  CHECK(testing::max_abs_error(testing::to_doubles(y), testing::to_doubles(expected)) == 0);

  runtime_layer<Downsample, ResIn, double> res;
  testing::randomise_layer(res, 5);
  CHECK(parameter_names_of(res) == std::vector<std::string>{"block.0.weight", "block.1.gamma", "block.1.beta", "block.3.weight",
                                                             "block.3.bias", "shortcut.0.weight", "shortcut.0.bias"});
  // The default projection keeps the names committed fixtures use.
  runtime_layer<DefaultDownsample, ResIn, double> projected;
  CHECK(parameter_names_of(projected) ==
        std::vector<std::string>{"block.0.weight", "block.1.gamma", "block.1.beta", "projection.weight", "projection_bn.gamma",
                                 "projection_bn.beta"});
}

TEST_CASE("summaries and signatures see inside every branch", "[net][summary][concat]") {
  using Net = Sequential<Input<4, 8, 8>,
                         Concat<Conv<2, Kernel<1>>, Chain<Conv<3, Kernel<1>>, ReLU, Conv<5, Kernel<3>, Pad<1>>>, MaxPool<3, 1, 1>>,
                         Residual<Conv<6, Kernel<3>, Stride<2>, Pad<1>>, Shortcut<Conv<6, Kernel<1>, Stride<2>>>>,
                         Add<ReLU, Conv<6, Kernel<1>>>>;
  static_assert(std::is_same_v<Net::output_shape, sample_shape<6, 4, 4>>);
  const auto rows = summary_rows<Net>();
  std::vector<std::string> paths;
  for (const auto& r : rows) paths.push_back(r.path);
  CHECK(paths == std::vector<std::string>{"0", "0.0.0", "0.1.0", "0.1.1", "0.1.2", "0.2.0", "1", "1.block.0", "1.shortcut.0", "2",
                                          "2.0.0", "2.1.0"});
  CHECK(rows[0].description == "concat 3 branches, 2 + 5 + 4 → 11 channels");
  CHECK(rows[0].output == "[11, 8, 8]");
  CHECK(rows[0].depth == 0);
  CHECK(rows[1].depth == 1);
  CHECK(rows[1].description == "conv 1×1, 4 → 2");
  CHECK(rows[6].description == "residual (chosen shortcut)");
  CHECK(rows[8].description == "conv 1×1 /2, 11 → 6");
  CHECK(rows[9].description == "add 2 branches");
  // The composites' own rows carry nothing but their joined output; the parts carry the rest.
  std::int64_t parameters = 0, flops = 0;
  for (const auto& r : rows) parameters += r.parameters, flops += r.flops;
  CHECK(parameters == Net::parameters);
  CHECK(flops == Net::flops);
  CHECK(rows[0].parameters == 0);
  CHECK(rows[0].activations == 11 * 64);
  CHECK(rows[6].activations == 6 * 16);
  CHECK(rows[9].activations == 6 * 16);
  std::int64_t activations = 0;
  for (const auto& r : rows) activations += r.activations;
  CHECK(activations == Net::traits::output_shape::elements + saved_of<Net::traits>());
  CHECK(signature<Net>().find("0.1.2 conv 3×3 pad 1, 3 → 5 [5, 8, 8]") != std::string::npos);
  CHECK(signature<Net>().find("1.shortcut.0 conv 1×1 /2, 11 → 6 [6, 4, 4]") != std::string::npos);
  // Parameter names in a model follow the rows.
  Model<Net> model;
  std::vector<std::string> names;
  model.visit_parameters([&](const auto& p) { names.push_back(p.name); });
  CHECK(names == std::vector<std::string>{"0.0.0.weight", "0.0.0.bias", "0.1.0.weight", "0.1.0.bias", "0.1.2.weight", "0.1.2.bias",
                                          "1.block.0.weight", "1.block.0.bias", "1.shortcut.0.weight", "1.shortcut.0.bias",
                                          "2.1.0.weight", "2.1.0.bias"});
}

TEST_CASE("concat, add and residual-with-shortcut gradients match finite differences", "[net][gradient]") {
  // An Inception-like module: 1×1 | 1×1 → 3×3 | 1×1 → 5×5 | pool → 1×1, with batch norms.
  using Module = Concat<Conv<2, Kernel<1>, Ref>,                                                           //
                        Chain<Conv<2, Kernel<1>, NoBias, Ref>, BatchNorm, ReLU, Conv<3, Kernel<3>, Pad<1>, Ref>>,  //
                        Chain<Conv<1, Kernel<1>, Ref>, ReLU, Conv<2, Kernel<5>, Pad<2>, Ref>>,                   //
                        Chain<MaxPool<3, 1, 1, CeilMode>, Conv<2, Kernel<1>, Ref>>>;
  CHECK(check_gradients<Module, sample_shape<3, 6, 5>>(true, 3) == 13);
  CHECK(check_gradients<Module, sample_shape<3, 6, 5>>(false, 2) == 13);
  CHECK(check_gradients<Concat<Dense<3>, Chain<Tanh, Dense<2>>>, sample_shape<5>>() == 4);
  CHECK(check_gradients<TwoPaths, AddIn>() == 3);
  CHECK(check_gradients<Add<Tanh, Chain<Conv<4, Kernel<3>, Pad<1>, Ref>, Tanh>, Conv<4, Kernel<1>, Ref>>, AddIn>() == 4);
  CHECK(check_gradients<Downsample, ResIn>(true, 3) == 7);
  CHECK(check_gradients<Residual<Conv<4, Kernel<3>, Pad<1>, Ref>, Tanh, Shortcut<>>, ResIn>() == 2);
  CHECK(check_gradients<Residual<Conv<4, Kernel<3>, Pad<1>, Ref>, Shortcut<Conv<4, Kernel<1>, NoBias, Ref>, BatchNorm>>, ResIn>() ==
        5);
  CHECK(check_gradients<MaxPool<3, 2, 0, CeilMode>, sample_shape<2, 8, 8>>() == 0);
  CHECK(check_gradients<MaxPool<2, 2, 0, CeilMode>, sample_shape<2, 7, 5>>() == 0);
}

TEST_CASE("max pool in ceil mode keeps the last partial window", "[layers][pool]") {
  using In = sample_shape<1, 5, 5>;
  using P = MaxPool<2, 2, 0, CeilMode>;
  static_assert(std::is_same_v<output_shape_of<P, In>, sample_shape<1, 3, 3>>);
  runtime_layer<P, In, float> pool;
  Tensor<float, 2> x(1, 25), y(1, 9), dy(1, 9), dx(1, 25);
  for (std::int64_t i = 0; i < 25; ++i) x(0, i) = float((i * 7) % 11);
  context ctx;
  pool.forward(x, y, ctx);
  for (std::int64_t p = 0; p < 3; ++p)
    for (std::int64_t q = 0; q < 3; ++q) {
      float m = -INFINITY;
      for (std::int64_t r = 2 * p; r < std::min<std::int64_t>(2 * p + 2, 5); ++r)
        for (std::int64_t c = 2 * q; c < std::min<std::int64_t>(2 * q + 2, 5); ++c) m = std::max(m, x(0, r * 5 + c));
      CHECK(y(0, p * 3 + q) == m);
    }
  dy.fill(1.0f);
  pool.backward(x, y, dy, dx, ctx);
  CHECK(double(sum(dx)) == 9.0);
  CHECK(layer_traits<P, In>::describe() == "max pool 2×2 ceil");
}

TEST_CASE("GoogLeNet runs one forward pass at 224×224", "[zoo][googlenet]") {
  const testing::conv_tuning_guard rule(conv_tuning::rule_of_thumb);  // no timing of candidates
  const auto rows = summary_rows<GoogLeNet>();
  CHECK(rows.size() > 100);
  CHECK(std::count_if(rows.begin(), rows.end(), [](const summary_row& r) { return r.description.rfind("concat 4 branches", 0) == 0; }) == 9);
  Model<GoogLeNet> model;
  std::int64_t parameters = 0;
  model.visit_parameters([&](const auto& p) { parameters += p.value.size(); });
  CHECK(parameters == 6'624'904);
  Tensor<float, 2> x(1, GoogLeNet::input_shape::elements);
  fill_normal(x, 0, 1, 11);
  const auto y = model.forward(x);
  REQUIRE(y.extent(0) == 1);
  REQUIRE(y.extent(1) == 1000);
  CHECK(std::all_of(y.data(), y.data() + 1000, [](float v) { return std::isfinite(v); }));
  CHECK(std::any_of(y.data(), y.data() + 1000, [](float v) { return v != 0.0f; }));
}
