// Training checkpoints: a run checkpointed after its first epoch and continued from the file by
// fresh objects (a model of another seed, a new optimizer) ends with the bits of the uninterrupted
// run, for SGD with Nesterov momentum and for Adam, through dropout (the model's random stream);
// fp16 master copies and loss scaling's state come back whole; a checkpoint of another optimizer
// or architecture, a model file and a damaged file are refused naming why, changing nothing.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/dropout.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/model.hpp"
#include "strata/train/adam.hpp"
#include "strata/train/checkpoint.hpp"
#include "strata/train/fit.hpp"
#include "strata/train/sgd.hpp"
#include "support/autotune_guard.hpp"
#include "support/files.hpp"
#include "support/testing.hpp"

using namespace strata;
using namespace strata::train;
using Catch::Matchers::Contains;
using strata::testing::temp_dir;

namespace {

struct data_set {
  Tensor<float, 2> images;
  Tensor<std::int32_t, 1> labels;
};

data_set blobs(std::int64_t n) {
  data_set s{Tensor<float, 2>(n, 6), Tensor<std::int32_t, 1>(n)};
  fill_normal(s.images, 0, 1, 3);
  for (std::int64_t i = 0; i < n; ++i) {
    s.labels(i) = std::int32_t(i % 3);
    s.images(i, s.labels(i)) += 2.0f;
  }
  return s;
}

using Net = Sequential<Input<6>, Dense<16>, ReLU, Dropout<0.3f>, Dense<3>>;

template <class M>
std::vector<float> parameters_of(M& m) {
  std::vector<float> values;
  m.visit_parameters([&](const auto& p) { values.insert(values.end(), p.value.data(), p.value.data() + p.value.size()); });
  return values;
}

fit_options epochs(int n) {
  fit_options o;
  o.epochs = n;
  o.batch_size = 8;
  o.shuffle = false;  // each call of fit starts its order afresh: two calls of one epoch are one call of two
  o.show_progress = false;
  return o;
}

// Two epochs in one run, and one epoch, a checkpoint, then a fresh model and optimizer that load
// it and train the second: the same bits.
template <class Make>
void check_resume(Make make_optimizer) {
  const auto data = blobs(40);
  temp_dir tmp;
  Model<Net> whole(7);
  auto whole_opt = make_optimizer();
  fit(whole, data, whole_opt, constant(0.05), epochs(2));

  Model<Net> first(7);
  auto first_opt = make_optimizer();
  fit(first, data, first_opt, constant(0.05), epochs(1));
  save_training_checkpoint(tmp / "run.ckpt", first, first_opt, {.epoch = 2, .batch = 0, .step = 5});

  Model<Net> resumed(12345);  // other weights, another random stream: all must come from the file
  auto resumed_opt = make_optimizer();
  const training_position at = load_training_checkpoint(tmp / "run.ckpt", resumed, resumed_opt);
  CHECK(at == training_position{2, 0, 5});
  CHECK(parameters_of(resumed) == parameters_of(first));
  CHECK(resumed.rng().state() == first.rng().state());
  fit(resumed, data, resumed_opt, constant(0.05), epochs(1));
  CHECK(parameters_of(resumed) == parameters_of(whole));

  // Without the optimizer's state (a fresh optimizer on the loaded weights) the run differs: the
  // state is what the test is about.
  first.save(tmp / "model.strata");
  Model<Net> weights_only(12345);
  weights_only.load(tmp / "model.strata");
  weights_only.rng() = first.rng();
  auto fresh = make_optimizer();
  fit(weights_only, data, fresh, constant(0.05), epochs(1));
  CHECK(parameters_of(weights_only) != parameters_of(whole));
}

}  // namespace

TEST_CASE("a checkpointed run continues to the uninterrupted run's bits: SGD with Nesterov momentum", "[train][checkpoint]") {
  check_resume([] { return SGD<float>({.momentum = 0.9, .weight_decay = 1e-4, .nesterov = true}); });
}

TEST_CASE("a checkpointed run continues to the uninterrupted run's bits: Adam", "[train][checkpoint]") {
  check_resume([] { return Adam<float>({.weight_decay = 1e-3}); });
}

TEST_CASE("fp16: master copies, moments and loss scaling's state come back whole", "[train][checkpoint]") {
  using Half = Sequential<Input<6>, Dense<8>, ReLU, Dense<3>>;
  const auto data = blobs(16);
  temp_dir tmp;
  Model<Half, half> m(3);
  Adam<half> adam;
  loss_scaler<half> scaler({.initial = 1024, .growth_interval = 3});
  Tensor<half, 2> x(Shape{16, 6});
  for (std::int64_t i = 0; i < x.size(); ++i) x.data()[i] = half(data.images.data()[i]);
  Tensor<half, 2> g(Shape{16, 3});
  for (int step = 0; step < 4; ++step) {
    scaler.loss_gradient(m.forward(x, true), data.labels, g.view(), SoftmaxCrossEntropy{});
    m.backward(g);
    scaler.step(adam, m, 0.01);
  }
  save_training_checkpoint(tmp / "half.ckpt", m, adam, {.epoch = 1, .batch = 4, .step = 4}, scaler);
  Model<Half, half> back(99);
  Adam<half> adam_back;
  loss_scaler<half> scaler_back;
  CHECK(load_training_checkpoint(tmp / "half.ckpt", back, adam_back, scaler_back) == training_position{1, 4, 4});
  CHECK(scaler_back.scale() == scaler.scale());
  CHECK(scaler_back.clean_steps() == scaler.clean_steps());
  CHECK(scaler_back.skipped_steps() == scaler.skipped_steps());
  CHECK(adam_back.steps() == 4);
  REQUIRE(adam_back.master_copies().size() == adam.master_copies().size());
  for (std::size_t i = 0; i < adam.master_copies().size(); ++i) {
    const auto& a = adam.master_copies()[i];
    const auto& b = adam_back.master_copies()[i];
    REQUIRE(a.size() == b.size());
    CHECK(std::equal(a.data(), a.data() + a.size(), b.data()));
  }
  // One more step each: the same bits.
  const auto step = [&](auto& model, auto& opt, auto& s) {
    s.loss_gradient(model.forward(x, true), data.labels, g.view(), SoftmaxCrossEntropy{});
    model.backward(g);
    s.step(opt, model, 0.01);
  };
  step(m, adam, scaler);
  step(back, adam_back, scaler_back);
  std::vector<std::uint16_t> bits_m, bits_back;
  m.visit_parameters([&](const auto& p) {
    for (std::int64_t i = 0; i < p.value.size(); ++i) bits_m.push_back(p.value.data()[i].bits());
  });
  back.visit_parameters([&](const auto& p) {
    for (std::int64_t i = 0; i < p.value.size(); ++i) bits_back.push_back(p.value.data()[i].bits());
  });
  CHECK(bits_m == bits_back);
}

TEST_CASE("a checkpoint of another optimizer or network, a model file or a damaged file is refused, changing nothing",
          "[train][checkpoint]") {
  temp_dir tmp;
  Model<Net> m(1);
  SGD<float> sgd({.momentum = 0.9});
  const auto data = blobs(16);
  fit(m, data, sgd, constant(0.05), epochs(1));
  save_training_checkpoint(tmp / "sgd.ckpt", m, sgd, {});
  m.save(tmp / "model.strata");

  Model<Net> other(5);
  const auto before = parameters_of(other);
  Adam<float> adam;
  CHECK_THROWS_WITH(load_training_checkpoint(tmp / "sgd.ckpt", other, adam), Contains("optimizer sgd") && Contains("optimizer adam"));
  Model<Sequential<Input<6>, Dense<8>, ReLU, Dense<3>>> smaller(1);
  SGD<float> sgd2({.momentum = 0.9});
  CHECK_THROWS(load_training_checkpoint(tmp / "sgd.ckpt", smaller, sgd2));
  CHECK_THROWS_WITH(load_training_checkpoint(tmp / "model.strata", other, sgd2), Contains("strata-model") && Contains("strata-checkpoint"));

  // Cut short: the archive says it is truncated.
  std::ifstream in(tmp / "sgd.ckpt", std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(tmp / "cut.ckpt", std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() / 2));
  CHECK_THROWS_WITH(load_training_checkpoint(tmp / "cut.ckpt", other, sgd2), Contains("cut.ckpt") && Contains("truncated"));
  CHECK(parameters_of(other) == before);
  CHECK(sgd2.state().empty());
}

TEST_CASE("a checkpoint carries the run's convolution choices, and resuming makes the same ones", "[train][checkpoint]") {
  using Conv = Sequential<Input<2, 6, 6>, strata::Conv<4, Kernel<3>, Pad<1>>, ReLU, Flatten, Dense<3>>;
  temp_dir tmp;
  const testing::autotune_guard timed(true);  // the run times its candidates; the resumed one must not choose again
  Model<Conv> m(2);
  SGD<float> sgd;
  Tensor<float, 2> x(Shape{4, 72});
  fill_normal(x, 0, 1, 4);
  m.forward(x, true);  // the convolution's choices are made here
  const std::string plan = algo::conv_plan_text();
  REQUIRE(plan.find('\n') + 1 < plan.size());  // some decision besides the header
  save_training_checkpoint(tmp / "conv.ckpt", m, sgd, {});
  set_conv_tuning(conv_tuning::timed);
  Model<Conv> back(3);
  SGD<float> sgd_back;
  load_training_checkpoint(tmp / "conv.ckpt", back, sgd_back);
  CHECK(get_conv_tuning() == conv_tuning::plan);
  CHECK(algo::conv_plan_text() == plan);
}
