// Divergence: fit stops at the first step whose loss or gradients hold Inf or NaN and names the
// first layer that produced one, in the forward pass (a layer whose output overflows) or the
// backward pass (a layer whose input gradient overflows while every forward value is finite), or
// the data itself; the weights are those before that step. skip_step leaves the weights alone for
// such a step, counts it in the epoch's skipped_steps and goes on, until too many in a row. fp16
// loss scaling shares the detector, and a scale of 1 that still overflows stops too. The
// detector itself is checked value by value for fp16, fp32 and fp64.
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/model.hpp"
#include "strata/ops/gemm.hpp"
#include "strata/train/divergence.hpp"
#include "strata/train/fit.hpp"
#include "strata/train/sgd.hpp"
#include "support/testing.hpp"

using namespace strata;
using namespace strata::train;
using Catch::Matchers::Contains;

namespace {

struct data_set {
  Tensor<float, 2> images;
  Tensor<std::int32_t, 1> labels;
};

// n positive points in 4 dimensions, labels 0, 1, 2 in turn.
data_set positive_points(std::int64_t n, float scale = 1) {
  data_set s{Tensor<float, 2>(n, 4), Tensor<std::int32_t, 1>(n)};
  for (std::int64_t i = 0; i < n; ++i) {
    s.labels(i) = static_cast<std::int32_t>(i % 3);
    for (std::int64_t k = 0; k < 4; ++k) s.images(i, k) = scale * float(1 + (i * 7 + k * 3) % 5);
  }
  return s;
}

using Net = Sequential<Input<4>, Dense<8>, ReLU, Dense<8>, ReLU, Dense<3>>;

template <class M>
void set_weights(M& m, const std::string& name, float value) {
  m.visit_parameters([&](auto& p) {
    if (p.name == name)
      for (std::int64_t i = 0; i < p.value.size(); ++i) p.value.data()[i] = value * float(1 + i % 3);  // positive, not all equal
  });
}

template <class M>
std::vector<float> parameters_of(M& m) {
  std::vector<float> values;
  m.visit_parameters([&](const auto& p) { values.insert(values.end(), p.value.data(), p.value.data() + p.value.size()); });
  return values;
}

fit_options quiet(std::int64_t batch = 4, int epochs = 1) {
  fit_options o;
  o.epochs = epochs;
  o.batch_size = batch;
  o.shuffle = false;
  o.show_progress = false;
  return o;
}

template <class F>
divergence_error caught(F&& f) {
  try {
    f();
  } catch (const divergence_error& e) {
    return e;
  }
  FAIL("no divergence_error");
  return divergence_error("", 0, 0);
}

}  // namespace

TEST_CASE("the detector: every Inf and NaN, in every position, for fp16, fp32 and fp64", "[train][divergence]") {
  const auto check = [](auto zero) {
    using T = decltype(zero);
    for (const double bad : {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                             std::numeric_limits<double>::quiet_NaN()}) {
      for (std::int64_t n : {1, 7, 64, 1000}) {
        Tensor<T, 1> v(Shape<1>{n});
        for (std::int64_t i = 0; i < n; ++i) v(i) = T(float(i % 13) - 6.5f);
        CHECK(values_finite(v.view()));
        for (std::int64_t at : {std::int64_t{0}, n / 2, n - 1}) {
          const T kept = v(at);
          v(at) = T(float(bad));
          CHECK_FALSE(values_finite(v.view()));
          v(at) = kept;
        }
      }
    }
    // The largest finite values are finite.
    Tensor<T, 1> big(Shape<1>{2});
    const float largest = std::is_same_v<T, half> ? 65504.0f : std::numeric_limits<float>::max();
    big(0) = T(largest), big(1) = T(-largest);
    CHECK(values_finite(big.view()));
  };
  check(half{});
  check(float{});
  check(double{});
}

TEST_CASE("fit stops at the step whose forward pass overflows and names the layer", "[train][divergence]") {
  Model<Net, float> m(1);
  SGD<float> sgd({.momentum = 0.9});
  const auto data = positive_points(12);
  // Layer 2's weights are finite, but its outputs overflow float: 8 inputs of ~1 times 1e38.
  set_weights(m, "2.weight", 1e38f / 3);
  set_weights(m, "0.weight", 0.5f);  // positive inputs stay positive through layer 0 and its ReLU
  const auto before = parameters_of(m);
  const auto e = caught([&] { fit(m, data, sgd, constant(0.01), quiet()); });
  CHECK(e.epoch() == 1);
  CHECK(e.step() == 0);
  CHECK_THAT(e.what(), Contains("epoch 1, batch 1 (step 0)") && Contains("layer 2 (dense 8 → 8)") &&
                           Contains("forward pass") && Contains("weights are those before this step"));
  CHECK(parameters_of(m) == before);
}

TEST_CASE("fit names the layer whose backward pass overflows while the forward pass is finite", "[train][divergence]") {
  Model<Net, float> m(2);
  SGD<float> sgd;
  // Inputs of 1e-30 through weights of 1 (layer 0), 1e20 (layers 2 and 4): outputs near 1e11,
  // finite, and so is the loss. Backward, layer 4's input gradient is ~1e19 and layer 2's would be
  // 8 × 1e20 × 1e19: Inf. Layer 2's own weight gradient (1e19 × 1e-30) stays finite.
  const auto data = positive_points(8, 1e-30f);
  set_weights(m, "0.weight", 1);
  set_weights(m, "2.weight", 1e20f);
  set_weights(m, "4.weight", 1e20f);
  const auto e = caught([&] { fit(m, data, sgd, constant(0.01), quiet()); });
  CHECK_THAT(e.what(), Contains("layer 2 (dense 8 → 8)") && Contains("backward pass") && Contains("input gradient"));
}

TEST_CASE("fit names the data when a batch holds NaN, after the steps before it", "[train][divergence]") {
  auto data = positive_points(16);
  data.images(9, 2) = std::numeric_limits<float>::quiet_NaN();  // batch 3 of 4 (rows 8–11)
  Model<Net, float> m(3), reference(3);
  SGD<float> sgd, sgd_reference;
  const auto e = caught([&] { fit(m, data, sgd, constant(0.05), quiet()); });
  CHECK(e.step() == 2);
  CHECK_THAT(e.what(), Contains("batch 3 (step 2)") && Contains("the input batch"));
  // The weights are those after the two steps before it: the first 8 rows alone give the same bits.
  data_set first_two{Tensor<float, 2>(8, 4), Tensor<std::int32_t, 1>(8)};
  for (std::int64_t i = 0; i < 8; ++i) {
    first_two.labels(i) = data.labels(i);
    for (std::int64_t k = 0; k < 4; ++k) first_two.images(i, k) = data.images(i, k);
  }
  fit(reference, first_two, sgd_reference, constant(0.05), quiet());
  CHECK(parameters_of(m) == parameters_of(reference));
}

TEST_CASE("skip_step: the non-finite step leaves the weights alone, is counted and said, and training goes on", "[train][divergence]") {
  auto data = positive_points(16);
  data.images(9, 2) = std::numeric_limits<float>::infinity();
  // The same data with batch 3 taken out: the weights must come out the same, bit for bit.
  data_set without{Tensor<float, 2>(12, 4), Tensor<std::int32_t, 1>(12)};
  for (std::int64_t i = 0, j = 0; i < 16; ++i) {
    if (i >= 8 && i < 12) continue;
    without.labels(j) = data.labels(i);
    for (std::int64_t k = 0; k < 4; ++k) without.images(j, k) = data.images(i, k);
    ++j;
  }
  Model<Net, float> m(4), reference(4);
  SGD<float> sgd, sgd_reference;
  auto o = quiet(4, 1);
  o.divergence.action = divergence_action::skip_step;
  std::ostringstream out;
  o.show_progress = true;
  o.progress.out = &out;
  const auto reports = fit(m, data, sgd, constant(0.05), o);
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].skipped_steps == 1);
  CHECK(std::isfinite(reports[0].train_loss));
  CHECK_THAT(out.str(), Contains("1 step skipped (non-finite loss or gradients"));
  fit(reference, without, sgd_reference, constant(0.05), quiet());
  CHECK(parameters_of(m) == parameters_of(reference));

  // Every batch non-finite: after max_skipped_in_a_row of them, fit stops and says so.
  auto all_bad = positive_points(40);
  for (std::int64_t i = 0; i < 40; ++i) all_bad.images(i, 0) = std::numeric_limits<float>::quiet_NaN();
  o.show_progress = false;
  o.divergence.max_skipped_in_a_row = 5;
  Model<Net, float> m2(5);
  const auto e = caught([&] { fit(m2, all_bad, sgd, constant(0.05), o); });
  CHECK(e.step() == 4);
  CHECK_THAT(e.what(), Contains("5 steps in a row were skipped") && Contains("the input batch"));
  o.divergence.max_skipped_in_a_row = 0;
  CHECK_THROWS_WITH(fit(m2, all_bad, sgd, constant(0.05), o), Contains("max_skipped_in_a_row must be at least 1"));
}

TEST_CASE("fp16 loss scaling shares the detector: its skipped steps count towards the limit", "[train][divergence]") {
  using Tiny = Sequential<Input<1, 8, 8>, Conv<4, Kernel<3>, Pad<1>>, ReLU, MaxPool<2>, Dense<4>>;
  data_set data{Tensor<float, 2>(64, 64), Tensor<std::int32_t, 1>(64)};
  fill_normal(data.images, 0, 1, 11);
  for (std::int64_t i = 0; i < 64; ++i) data.labels(i) = std::int32_t(i % 4);
  auto o = quiet(2, 1);
  o.loss_scale.initial = std::ldexp(1.0, 40);  // the loss gradient times S is Inf in fp16 until S falls by ~2^20
  {
    Model<Tiny, half> m(5);
    SGD<half> sgd;
    o.divergence.max_skipped_in_a_row = 10;
    const auto e = caught([&] { fit(m, data, sgd, constant(0.01), o); });
    CHECK(e.step() == 9);
    CHECK_THAT(e.what(), Contains("10 steps in a row were skipped") && Contains("gradients overflowed at loss scale 1073741824") &&
                             Contains("the loss's gradient"));
  }
  {
    // Under the default limit (50) S falls until the gradients fit, and training goes on.
    Model<Tiny, half> m(5);
    SGD<half> sgd;
    o.divergence = {};
    const auto reports = fit(m, data, sgd, constant(0.01), o);
    CHECK(reports[0].skipped_steps >= 20);
    CHECK(reports[0].skipped_steps < 32);
  }
}
