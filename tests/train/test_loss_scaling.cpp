// Dynamic loss scaling for fp16 training (train/loss_scaling.hpp): which precisions scale; the loss
// gradient stored times S, rounded once; an overflow skips the step (weights and optimizer state
// untouched) and halves S; S doubles after the growth interval of clean steps; the fp32 master
// weights are exactly what fp32 training with the same unscaled gradients gives (SGD and Adam), the
// stored fp16 weights their rounding; fit reports S and the skipped steps; a short fit in fp16
// reaches the fp32 model's loss.
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "strata/core/cast.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/layers/softmax_cross_entropy.hpp"
#include "strata/net/model.hpp"
#include "strata/ops/gemm.hpp"
#include "strata/train/adam.hpp"
#include "strata/train/fit.hpp"
#include "strata/train/loss_scaling.hpp"
#include "strata/train/schedule.hpp"
#include "strata/train/sgd.hpp"
#include "support/testing.hpp"

using namespace strata;
using namespace strata::train;

namespace {

using Tiny = Sequential<Input<1, 8, 8>, Conv<4, Kernel<3>, Pad<1>>, ReLU, MaxPool<2>, Dense<4>>;

// Four classes of 8×8 images: a bright 4×4 quadrant (the class) on noise.
struct quadrants {
  Tensor<float, 2> images;
  Tensor<std::int32_t, 1> labels;
  explicit quadrants(std::int64_t n, std::uint64_t seed) : images(Shape{n, 64}), labels(Shape<1>{n}) {
    fill_uniform(images, 0, 1, seed);
    random_engine rng(seed, 1);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int32_t c = std::int32_t(rng.below(4));
      labels(i) = c;
      for (std::int64_t y = 0; y < 4; ++y)
        for (std::int64_t x = 0; x < 4; ++x) images(i, (c / 2 * 4 + y) * 8 + c % 2 * 4 + x) += 0.3f;
    }
  }
};

template <class T>
Tensor<T, 2> batch_of(const quadrants& d, std::int64_t first, std::int64_t n) {
  Tensor<float, 2> x(Shape{n, 64});
  for (std::int64_t i = 0; i < n * 64; ++i) x.data()[i] = d.images.data()[first * 64 + i];
  return cast<T>(x);
}

template <class M>
std::vector<Tensor<float, 1>> weights_of(M& m) {
  std::vector<Tensor<float, 1>> w;
  m.visit_parameters([&](auto& p) { w.push_back(cast<float>(p.value)); });
  return w;
}

template <class To, class From>
void copy_weights(To& to, From& from) {
  const auto w = weights_of(from);
  std::size_t i = 0;
  to.visit_parameters([&](auto& p) { p.value = cast<typename To::element_type>(w.at(i++)); });
}

bool same_bits(const std::vector<Tensor<float, 1>>& a, const std::vector<Tensor<float, 1>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::int64_t k = 0; k < a[i].size(); ++k)
      if (bit_cast<std::uint32_t>(a[i].data()[k]) != bit_cast<std::uint32_t>(b[i].data()[k])) return false;
  return true;
}

}  // namespace

TEST_CASE("loss scaling is for fp16: fp32 and fp64 are their own masters", "[loss_scaling]") {
  STATIC_REQUIRE(scales_loss<half>);
  STATIC_REQUIRE(!scales_loss<float>);
  STATIC_REQUIRE(!scales_loss<double>);
  loss_scaler<float> f({.initial = 1024});
  CHECK(!f.active());
  CHECK(f.scale() == 1);
  loss_scaler<half> off({.enabled = false});
  CHECK(!off.active());
  CHECK(off.scale() == 1);
  loss_scaler<half> h;
  CHECK(h.active());
  CHECK(h.scale() == 32768);  // 2^15 by default
  CHECK_THROWS_WITH(loss_scaler<half>({.initial = 0.5}), Catch::Contains("at least 1"));
  CHECK_THROWS_WITH(loss_scaler<half>({.growth_interval = 0}), Catch::Contains("growth interval"));
}

TEST_CASE("the loss gradient is stored times S, rounded into fp16 once", "[loss_scaling]") {
  const Tensor<half, 2> logits = testing::random_tensor<half>(Shape{5, 7}, 3, -4, 4);
  Tensor<std::int32_t, 1> labels(Shape<1>{5});
  for (std::int64_t i = 0; i < 5; ++i) labels(i) = std::int32_t(i);
  loss_scaler<half> scaler({.initial = 4096});
  Tensor<half, 2> g(logits.shape());
  const loss_result r = scaler.loss_gradient(logits, labels, g.view(), SoftmaxCrossEntropy{});
  const Tensor<float, 2> lf = cast<float>(logits);
  Tensor<float, 2> gf(logits.shape());
  const loss_result rf = SoftmaxCrossEntropy::evaluate<float>(lf, labels, gf.view());
  CHECK(r.loss == rf.loss);
  CHECK(r.correct == rf.correct);
  for (std::int64_t i = 0; i < g.size(); ++i) {
    INFO(i);
    CHECK(g.data()[i].bits() == half(gf.data()[i] * 4096.0f).bits());
  }
}

TEST_CASE("an overflow skips the step, leaves weights and optimizer alone and halves S", "[loss_scaling]") {
  Model<Tiny, half> m(5);
  const quadrants data(16, 7);
  const Tensor<half, 2> x = batch_of<half>(data, 0, 16);
  Adam<half> adam;
  loss_scaler<half> scaler({.initial = std::ldexp(1.0, 40), .growth_interval = 1000});  // 2^40: the loss gradient is Inf in fp16
  Tensor<half, 2> g(Shape{16, 4});
  int skipped = 0;
  double expected = std::ldexp(1.0, 40);
  for (;;) {
    const auto before = weights_of(m);
    const auto y = m.forward(x, true);
    scaler.loss_gradient(y, data.labels, g.view(), SoftmaxCrossEntropy{});
    m.backward(g);
    const bool finite = gradients_finite(m);
    const bool taken = scaler.step(adam, m, 0.01);
    CHECK(taken == finite);
    if (taken) break;
    ++skipped;
    expected /= 2;
    CHECK(scaler.scale() == expected);
    CHECK(scaler.skipped_steps() == skipped);
    CHECK(adam.steps() == 0);  // the optimizer never ran
    CHECK(same_bits(weights_of(m), before));
    REQUIRE(skipped < 40);
  }
  // fp16 holds up to 65504: S fell until |gradient|·S fit, which takes a good many halvings.
  CHECK(skipped >= 20);
  CHECK(adam.steps() == 1);
  CHECK(scaler.scale() == expected);  // no growth after one clean step
  // S never goes below 1.
  loss_scaler<half> low({.initial = 1});
  Model<Tiny, half> broken(5);
  broken.visit_parameters([](auto& p) { p.gradient.fill(std::numeric_limits<half>::infinity()); });
  CHECK_FALSE(low.step(adam, broken, 0.01));
  CHECK(low.scale() == 1);
}

TEST_CASE("S doubles after the growth interval of clean steps in a row", "[loss_scaling]") {
  Model<Tiny, half> m(9);
  const quadrants data(8, 3);
  const Tensor<half, 2> x = batch_of<half>(data, 0, 8);
  SGD<half> sgd;
  loss_scaler<half> scaler({.initial = 1024, .growth_interval = 3});
  Tensor<half, 2> g(Shape{8, 4});
  const auto train = [&] {
    const auto y = m.forward(x, true);
    scaler.loss_gradient(y, data.labels, g.view(), SoftmaxCrossEntropy{});
    m.backward(g);
    return scaler.step(sgd, m, 0.01);
  };
  const double expected[] = {1024, 1024, 2048, 2048, 2048, 4096, 4096};
  for (double s : expected) {
    REQUIRE(train());
    CHECK(scaler.scale() == s);
  }
  CHECK(scaler.clean_steps() == 1);
  // An overflow resets the count: S halves, then takes a full interval to double again.
  m.visit_parameters([](auto& p) { p.gradient.fill(std::numeric_limits<half>::quiet_NaN()); });
  CHECK_FALSE(scaler.step(sgd, m, 0.01));
  CHECK(scaler.scale() == 2048);
  CHECK(scaler.clean_steps() == 0);
  REQUIRE(train());
  REQUIRE(train());
  CHECK(scaler.scale() == 2048);
  REQUIRE(train());
  CHECK(scaler.scale() == 4096);
}

// The master weights of an fp16 model against an fp32 model that starts from the same weights and
// gets, at every step, the fp16 model's gradients divided by S (in fp32: exact, S is a power of 2).
template <class Optimizer16, class Optimizer32>
void check_master_weights(Optimizer16& o16, Optimizer32& o32) {
  Model<Tiny, half> mh(13);
  Model<Tiny, float> mf(13);
  copy_weights(mf, mh);
  const quadrants data(48, 5);
  loss_scaler<half> scaler({.initial = 256, .growth_interval = 2});  // S grows during the run
  Tensor<half, 2> g(Shape{16, 4});
  for (int step = 0; step < 6; ++step) {
    const Tensor<half, 2> x = batch_of<half>(data, (step % 3) * 16, 16);
    Tensor<std::int32_t, 1> labels(Shape<1>{16});
    for (std::int64_t i = 0; i < 16; ++i) labels(i) = data.labels((step % 3) * 16 + i);
    const auto y = mh.forward(x, true);
    scaler.loss_gradient(y, labels, g.view(), SoftmaxCrossEntropy{});
    mh.backward(g);
    const double unscale = 1 / scaler.scale();
    std::vector<Tensor<float, 1>> unscaled;
    mh.visit_parameters([&](auto& p) {
      Tensor<float, 1> u = cast<float>(p.gradient);
      u = u * float(unscale);
      unscaled.push_back(std::move(u));
    });
    std::size_t i = 0;
    mf.visit_parameters([&](auto& p) { p.gradient = unscaled.at(i++); });
    REQUIRE(scaler.step(o16, mh, 0.05));
    o32.step(mf, 0.05);
  }
  CHECK(scaler.scale() == 256 * 8);  // grew at steps 2, 4 and 6
  // The masters: the fp32 model's weights up to fp32 rounding (the two updates are separate
  // expressions, which the compiler may contract into FMAs differently: measured ≤ 3e-8 apart on
  // weights of about 0.1), far inside fp16's 2⁻¹¹ relative spacing.
  const auto wf = weights_of(mf);
  const auto& masters = o16.master_copies();
  REQUIRE(masters.size() == wf.size());
  double worst = 0;
  for (std::size_t i = 0; i < wf.size(); ++i)
    for (std::int64_t k = 0; k < wf[i].size(); ++k) {
      const double a = masters[i].data()[k], b = wf[i].data()[k];
      worst = std::max(worst, std::abs(a - b) / std::max(std::abs(b), 0.1));
    }
  CHECK(worst <= 1e-6);
  // The stored fp16 weights: the masters rounded to nearest.
  std::size_t i = 0;
  mh.visit_parameters([&](auto& p) {
    const auto& m = masters.at(i++);
    for (std::int64_t k = 0; k < p.value.size(); ++k) REQUIRE(p.value.data()[k].bits() == half(m.data()[k]).bits());
  });
}

TEST_CASE("the fp32 masters are what fp32 training with the same unscaled gradients gives", "[loss_scaling]") {
  SECTION("SGD with Nesterov momentum and weight decay") {
    SGD<half> o16({.momentum = 0.9, .weight_decay = 1e-3, .nesterov = true});
    SGD<float> o32({.momentum = 0.9, .weight_decay = 1e-3, .nesterov = true});
    check_master_weights(o16, o32);
  }
  SECTION("AdamW") {
    Adam<half> o16({.weight_decay = 1e-2, .decoupled_weight_decay = true});
    Adam<float> o32({.weight_decay = 1e-2, .decoupled_weight_decay = true});
    check_master_weights(o16, o32);
  }
}

TEST_CASE("fit trains an fp16 model to the fp32 model's loss and reports S", "[loss_scaling][fit]") {
  const quadrants train_set(512, 21);
  const quadrants test_set(256, 22);
  std::vector<epoch_report> reports[2];
  std::ostringstream out[2];
  const auto run = [&]<class T>(T, int k) {
    Model<Tiny, T> m(17);
    SGD<T> sgd({.momentum = 0.9});
    fit_options o{.epochs = 4, .batch_size = 32};
    o.progress.out = &out[k];
    o.progress.display = display_mode::lines;
    reports[k] = fit(m, train_set, sgd, constant(0.05), o, &test_set);
  };
  run(float{}, 0);
  run(half{}, 1);
  const epoch_report &f = reports[0].back(), &h = reports[1].back();
  INFO("fp32: train loss " << f.train_loss << ", test loss " << f.test_loss << "; fp16: " << h.train_loss << ", " << h.test_loss);
  CHECK(f.train_loss < 0.3);  // it learned
  CHECK(std::abs(h.train_loss - f.train_loss) <= 0.02 + 0.05 * f.train_loss);
  CHECK(std::abs(h.test_loss - f.test_loss) <= 0.02 + 0.05 * f.test_loss);
  CHECK(std::abs(h.test_accuracy - f.test_accuracy) <= 0.02);
  // 64 steps: below the growth interval, and nothing overflowed at 2^15.
  for (const auto& r : reports[1]) {
    CHECK(r.loss_scale == 32768);
    CHECK(r.skipped_steps == 0);
  }
  for (const auto& r : reports[0]) CHECK(r.loss_scale == 1);
  CHECK(out[1].str().find("fp16 loss scale 32,768, 0 steps skipped") != std::string::npos);
  CHECK(out[0].str().find("loss scale") == std::string::npos);
}

TEST_CASE("fit over a batch source scales an fp16 model's loss too", "[loss_scaling][fit]") {
  // Two batches of the quadrant images per epoch, as a loader would hand them out.
  struct two_batches {
    const quadrants* data;
    std::int64_t next_batch = 0;
    void start_epoch(std::int64_t) { next_batch = 0; }
    bool next(data::batch& b) {
      if (next_batch == 2) return false;
      b.images = batch_of<float>(*data, next_batch * 32, 32);
      b.labels = Tensor<std::int32_t, 1>(Shape<1>{32});
      for (std::int64_t i = 0; i < 32; ++i) b.labels(i) = data->labels(next_batch * 32 + i);
      b.number = next_batch++;
      return true;
    }
    std::int64_t batches_per_epoch() const { return 2; }
  };
  const quadrants data(64, 31);
  two_batches source{&data};
  Model<Tiny, half> m(3);
  SGD<half> sgd;
  const auto reports = fit(m, source, sgd, constant(0.01),
                           fit_options{.epochs = 2, .show_progress = false, .loss_scale = {.initial = 1024, .growth_interval = 3}});
  REQUIRE(reports.size() == 2);
  CHECK(reports[0].loss_scale == 1024);  // 2 clean steps
  CHECK(reports[1].loss_scale == 2048);  // the third doubled it
  CHECK(reports[1].skipped_steps == 0);
}
