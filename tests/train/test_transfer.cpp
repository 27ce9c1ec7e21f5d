// Transfer learning as generic algorithms: per-layer learning-rate multipliers and freezing (the
// optimizers honour them, a frozen layer computes no gradients and runs as in inference, the
// backward pass stops above a frozen bottom), network editing (take_layers_t, replace_head_t,
// copy_shared_parameters with its checks), the lecture's rule, and training on cached features.
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/dropout.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/model.hpp"
#include "strata/net/network_edit.hpp"
#include "strata/train/adam.hpp"
#include "strata/train/feature_cache.hpp"
#include "strata/train/fine_tuning.hpp"
#include "strata/train/fit.hpp"
#include "strata/train/sgd.hpp"
#include "support/errors.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

// Counts backward calls, to see where the backward pass stops.
inline int backward_calls = 0;
struct CountingIdentity {
  using spec_tag = void;
  template <class In>
  static constexpr bool accepts = StaticShape<In>;
  template <class In>
  struct traits {
    using output_shape = In;
    static std::string describe() { return "counting identity"; }
  };
  template <class In, class T>
  struct layer {
    void forward(batch_view<const T> x, batch_view<T> y, context&) { copy(x, y); }
    void backward(batch_view<const T>, batch_view<const T>, batch_view<const T> dy, batch_view<T> dx, context& ctx) {
      ++backward_calls;
      if (ctx.want_input_gradient) copy(dy, dx);
    }
  };
};

using Net = Sequential<Input<2, 8, 8>, CountingIdentity, Conv<4, Pad<1>>, BatchNorm, ReLU, Conv<4, Stride<2>>, ReLU,
                       Flatten, Dense<6>, ReLU, Dense<3>>;
constexpr std::size_t layers = Net::layer_count;  // 10

template <class M>
std::vector<double> values_under(M& m, const std::string& layer) {
  std::vector<double> v;
  m.visit_parameters([&](const auto& p) {
    if (detail::path_covers(layer, p.name)) v.insert(v.end(), p.value.data(), p.value.data() + p.value.size());
  });
  return v;
}

template <class T>
Tensor<T, 2> random_batch(std::int64_t n, std::int64_t per, std::uint64_t seed) {
  Tensor<T, 2> x(Shape{n, per});
  fill_normal(x.view(), 0.0, 1.0, seed);
  return x;
}

// One SGD step of cross-entropy on a fixed batch.
template <class M, class O>
void step(M& m, O& opt, const Tensor<double, 2>& x, double lr) {
  const auto y = m.forward(x.view(), true);
  Tensor<double, 2> dy(y.shape());
  for (std::int64_t i = 0; i < dy.size(); ++i) dy.data()[i] = 0.01 * double(i % 7) - 0.02;
  m.backward(dy.view());
  opt.step(m, lr);
}

}  // namespace

TEST_CASE("learning-rate multipliers scale each layer's SGD step; 0 leaves it untouched", "[train][transfer]") {
  const auto x = random_batch<double>(4, 128, 1);
  Model<Net, double> full(7), scaled(7);
  scaled.set_learning_rate("1", 0.1);      // the first conv
  scaled.freeze(layer_range{7, 8});       // the first dense layer
  CHECK(scaled.learning_rate_of("1.weight") == 0.1);
  CHECK(scaled.learning_rate_of("7.bias") == 0);
  CHECK(scaled.learning_rate_of("9.weight") == 1);
  train::SGD<double> a, b;  // no momentum: the step is −lr·rate·g exactly
  const auto before_conv = values_under(full, "1"), before_dense = values_under(full, "7"), before_head = values_under(full, "9");
  step(full, a, x, 0.5);
  step(scaled, b, x, 0.5);
  const auto full_conv = values_under(full, "1"), scaled_conv = values_under(scaled, "1");
  double largest = 0;
  for (std::size_t i = 0; i < before_conv.size(); ++i) {
    const double d_full = full_conv[i] - before_conv[i], d_scaled = scaled_conv[i] - before_conv[i];
    CHECK(d_scaled == Approx(0.1 * d_full).margin(1e-15));
    largest = std::max(largest, std::abs(d_full));
  }
  CHECK(largest > 1e-6);  // the step did something
  CHECK(values_under(scaled, "7") == before_dense);   // frozen: bit for bit
  CHECK(values_under(full, "7") != before_dense);
  // Layers above the frozen one get the same gradient as without freezing.
  const auto full_head = values_under(full, "9"), scaled_head = values_under(scaled, "9");
  for (std::size_t i = 0; i < full_head.size(); ++i) CHECK(scaled_head[i] == Approx(full_head[i]).margin(1e-14));
  CHECK(full_head != before_head);
}

TEST_CASE("Adam leaves frozen parameters and their moments alone", "[train][transfer]") {
  const auto x = random_batch<double>(4, 128, 2);
  Model<Net, double> m(3);
  m.freeze("1");
  train::Adam<double> adam;
  const auto before = values_under(m, "1");
  for (int i = 0; i < 3; ++i) step(m, adam, x, 0.01);
  CHECK(values_under(m, "1") == before);
  m.unfreeze("1");
  step(m, adam, x, 0.01);
  CHECK(values_under(m, "1") != before);
}

TEST_CASE("a frozen bottom computes no gradients and the backward pass stops above it", "[train][transfer]") {
  const auto x = random_batch<double>(3, 128, 3);
  Model<Net, double> m(5);
  m.freeze(layer_range{0, 7});  // everything below the two dense layers
  for (std::size_t i = 0; i < 7; ++i) CHECK(m.frozen(i));
  CHECK_FALSE(m.frozen(7));
  // Poison the frozen layers' gradients: a backward that touched them would overwrite the NaN.
  m.visit_parameters([&](const auto& p) {
    if (detail::top_level_index(p.name) < 7) p.gradient.fill(std::numeric_limits<double>::quiet_NaN());
  });
  const auto y = m.forward(x.view(), true);
  Tensor<double, 2> dy(y.shape(), 0.5);
  backward_calls = 0;
  m.backward(dy.view());
  CHECK(backward_calls == 0);  // layer 0 lies below the frozen stretch: never reached
  m.visit_parameters([&](const auto& p) {
    if (detail::top_level_index(p.name) < 7) CHECK(std::isnan(p.gradient.data()[0]));
    else CHECK(std::isfinite(p.gradient.data()[0]));
  });
  // Asking for the input gradient walks all the way down again.
  Tensor<double, 2> dx(x.shape());
  m.forward(x.view(), true);
  m.backward(dy.view(), dx.view());
  CHECK(backward_calls == 1);
}

TEST_CASE("a frozen layer runs as in inference: batch norm keeps and uses its running statistics", "[train][transfer]") {
  const auto x = random_batch<double>(5, 128, 4);
  Model<Net, double> m(9);
  m.freeze(layer_range{0, 4});
  const auto state_before = [&] {
    std::vector<double> s;
    m.visit_state([&](const std::string&, TensorView<double, 1> v) { s.insert(s.end(), v.data(), v.data() + v.size()); });
    return s;
  };
  const auto before = state_before();
  Tensor<double, 2> training_out(Shape{5, 3}), inference_out(Shape{5, 3});
  copy(m.forward(x.view(), true), training_out.view());
  copy(m.forward(x.view(), false), inference_out.view());
  CHECK(state_before() == before);
  for (std::int64_t i = 0; i < training_out.size(); ++i) CHECK(training_out.data()[i] == inference_out.data()[i]);
  // Unfrozen, training mode uses batch statistics and moves the running ones.
  m.unfreeze();
  m.forward(x.view(), true);
  CHECK(state_before() != before);
}

TEST_CASE("bad freezing requests name what was wrong", "[train][transfer]") {
  Model<Net, float> m(1);
  REQUIRE_THROWS_WITH(m.freeze("12"), Catch::Contains("no layer '12'"));
  REQUIRE_THROWS_WITH(m.freeze("1.gamma"), Catch::Contains("no layer '1.gamma'"));
  REQUIRE_THROWS_WITH(m.freeze(layer_range{3, 11}), Catch::Contains("[3, 11)"));
  REQUIRE_THROWS_WITH(m.set_learning_rate("1", -1), Catch::Contains("non-negative"));
  m.freeze("2.gamma");  // a single parameter is a path too
  CHECK(m.learning_rate_of("2.gamma") == 0);
  CHECK(m.learning_rate_of("2.beta") == 1);
}

TEST_CASE("the lecture's rule in one call, shown by the summary", "[train][transfer]") {
  Model<Net, float> m(1);
  train::set_fine_tuning_rates(m, {.frozen_below = 4, .intermediate_below = 5, .head_from = 9});
  CHECK(m.learning_rate_of("1.weight") == 0);
  CHECK(m.learning_rate_of("2.gamma") == 0);
  CHECK(m.learning_rate_of("4.weight") == Approx(0.01));
  CHECK(m.learning_rate_of("7.weight") == Approx(0.1));
  CHECK(m.learning_rate_of("9.weight") == 1);
  std::ostringstream out;
  train::print_summary(out, m, 8);
  const std::string s = out.str();
  CHECK(s.find("frozen") != std::string::npos);
  CHECK(s.find("×0.01") != std::string::npos);
  CHECK(s.find("×0.1") != std::string::npos);
  CHECK(s.find("×1") != std::string::npos);
  REQUIRE_THROWS_WITH(train::set_fine_tuning_rates(m, {.frozen_below = 5, .intermediate_below = 4}), Catch::Contains("ordered"));
}

TEST_CASE("replace_head_t and copy_shared_parameters move a body to a new task", "[train][transfer]") {
  using Five = replace_head_t<Net, Dense<5>>;
  static_assert(std::is_same_v<Five, Sequential<Input<2, 8, 8>, CountingIdentity, Conv<4, Pad<1>>, BatchNorm, ReLU,
                                                Conv<4, Stride<2>>, ReLU, Flatten, Dense<6>, ReLU, Dense<5>>>);
  static_assert(std::is_same_v<take_layers_t<Net, 2>, Sequential<Input<2, 8, 8>, CountingIdentity, Conv<4, Pad<1>>>>);
  static_assert(std::is_same_v<replace_last_t<Net, 3, Dense<2>>,
                               Sequential<Input<2, 8, 8>, CountingIdentity, Conv<4, Pad<1>>, BatchNorm, ReLU,
                                          Conv<4, Stride<2>>, ReLU, Flatten, Dense<2>>>);
  Model<Net, double> old(11);
  const auto x = random_batch<double>(2, 128, 5);
  old.forward(x.view(), true);  // moves the batch-norm statistics away from their start
  Model<Five, float> fresh(12);
  copy_shared_parameters(old, fresh, 9);
  for (const char* layer : {"1", "4", "7"}) {
    const auto a = values_under(old, layer), b = values_under(fresh, layer);
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(b[i] == float(a[i]));
  }
  std::vector<double> old_state, new_state;
  old.visit_state([&](const std::string&, TensorView<double, 1> v) { old_state.insert(old_state.end(), v.data(), v.data() + v.size()); });
  fresh.visit_state([&](const std::string&, TensorView<float, 1> v) { new_state.insert(new_state.end(), v.data(), v.data() + v.size()); });
  REQUIRE(old_state.size() == new_state.size());
  for (std::size_t i = 0; i < old_state.size(); ++i) CHECK(new_state[i] == float(old_state[i]));

  // The new head differs in size: copying it fails, naming the entry, and changes nothing.
  Model<Five, float> other(13);
  const auto untouched = values_under(other, "");
  REQUIRE_THROWS_WITH(copy_shared_parameters(old, other, 10), Catch::Contains("'9.weight' has 30 values, the source's 18"));
  CHECK(values_under(other, "") == untouched);
  using Wider = Sequential<Input<2, 8, 8>, CountingIdentity, Conv<5, Pad<1>>>;
  Model<Wider, float> wider(1);
  REQUIRE_THROWS_WITH(copy_shared_parameters(old, wider, 2), Catch::Contains("'1.weight' has 90 values"));
}

TEST_CASE("a bottom and its top (take_layers_t, drop_layers_t, copy_layers) compute the whole network", "[train][transfer]") {
  using Bottom = take_layers_t<Net, 4>;
  using Top = drop_layers_t<Net, 4>;
  static_assert(std::is_same_v<Top, Sequential<Input<4, 8, 8>, Conv<4, Stride<2>>, ReLU, Flatten, Dense<6>, ReLU, Dense<3>>>);
  Model<Net, double> whole(21);
  const auto x = random_batch<double>(3, 128, 6);
  whole.forward(x.view(), true);  // batch-norm statistics away from their start
  Model<Bottom, double> bottom(22);
  Model<Top, double> top(23);
  copy_layers(whole, 0, bottom, 0, 4);
  copy_layers(whole, 4, top, 0, Top::layer_count);
  const auto want = whole.forward(x.view());
  std::vector<double> expected(want.data(), want.data() + want.size());
  const auto middle = bottom.forward(x.view());
  Tensor<double, 2> features(Shape{3, Bottom::output_shape::elements});
  std::copy(middle.data(), middle.data() + middle.size(), features.data());
  const auto got = top.forward(features.view());
  REQUIRE(got.size() == std::int64_t(expected.size()));
  for (std::size_t i = 0; i < expected.size(); ++i) CHECK(got.data()[i] == expected[i]);
  // A range past either model's end, or layers that differ, are refused.
  REQUIRE_THROWS_WITH(copy_layers(whole, 4, top, 0, Top::layer_count + 1), Catch::Contains("copy_layers: layers [4, 11)"));
  REQUIRE_THROWS_WITH(copy_layers(whole, 3, top, 0, 2), Catch::Contains("'0.weight' has no counterpart '3.weight'"));
}

TEST_CASE("a head trained on cached features of a frozen body", "[train][transfer]") {
  // Two classes that differ in the mean of the first channel.
  constexpr std::int64_t n = 64;
  data::labelled_images d{Tensor<float, 4>(Shape{n, 2, 8, 8}), Tensor<std::int32_t, 1>(Shape<1>{n}), 2};
  fill_normal(d.images.view(), 0.0, 1.0, 3);
  for (std::int64_t i = 0; i < n; ++i) {
    d.labels(i) = std::int32_t(i % 2);
    for (std::int64_t k = 0; k < 64; ++k) d.images.data()[i * 128 + k] += d.labels(i) ? 1.5f : -1.5f;
  }
  using Body = take_layers_t<Net, 7>;  // up to the flatten: 36 features
  Model<Net, float> pretrained(21);
  Model<Body, float> body(0);
  copy_shared_parameters(pretrained, body, 7);
  const train::feature_set f = train::extract_features(body, d, 10);
  REQUIRE(f.images.shape() == Shape{n, 36});
  // The cache holds exactly what the body computes.
  Tensor<float, 2> one(Shape{1, 128});
  for (std::int64_t k = 0; k < 128; ++k) one.data()[k] = d.images.data()[5 * 128 + k];
  const auto y = body.forward(one.view());
  // (to rounding: the convolution may pick another algorithm for one sample than for ten)
  for (std::int64_t k = 0; k < 36; ++k) CHECK(f.images(5, k) == Approx(y.data()[k]).epsilon(1e-5).margin(1e-6));
  CHECK(f.labels(5) == 1);

  using Head = Sequential<Input<36>, Dense<2>>;
  Model<Head, float> head(4);
  train::SGD<float> sgd({.momentum = 0.9});
  const auto before = evaluate(head, f);
  fit(head, f, sgd, train::constant(0.05), {.epochs = 20, .batch_size = 16, .show_progress = false});
  const auto after = evaluate(head, f);
  CHECK(after.loss < before.loss);
  CHECK(after.accuracy >= 0.95);
}
