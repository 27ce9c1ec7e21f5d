// fit and evaluate beyond "it learns": the schedule is asked once per optimizer step in order
// across epochs; a partial last batch trains on what is left; evaluate weights a short last
// batch by its size; shuffle = false keeps the order; the same seed gives bit-identical weights
// (with deterministic convolution choices), and fit says how those were chosen; the loss is a
// parameter; SGD without momentum follows w ← w − lr·(g + λw).
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/mean_squared_error.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/model.hpp"
#include "strata/train/fit.hpp"
#include "strata/train/sgd.hpp"
#include "support/autotune_guard.hpp"
#include "support/files.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

struct data_set {
  Tensor<float, 2> images;
  Tensor<std::int32_t, 1> labels;
};

// n points in d dimensions, two blobs, labels alternate.
data_set blobs(std::int64_t n, std::int64_t d, std::uint64_t seed) {
  data_set s{Tensor<float, 2>(n, d), Tensor<std::int32_t, 1>(n)};
  fill_normal(s.images, 0, 1, seed);
  for (std::int64_t i = 0; i < n; ++i) {
    s.labels(i) = static_cast<std::int32_t>(i % 2);
    s.images(i, 0) += s.labels(i) ? 2.0f : -2.0f;
  }
  return s;
}

template <class M>
std::vector<double> parameters_of(M& m) {
  std::vector<double> values;
  m.visit_parameters([&](const auto& p) { values.insert(values.end(), p.value.data(), p.value.data() + p.value.size()); });
  return values;
}

using Blobs = Sequential<Input<6>, Dense<8>, ReLU, Dense<2>>;

// A loss that counts how often it was asked, on top of softmax cross-entropy.
int evaluations = 0;
struct counting_loss {
  static constexpr const char* name = "counting";
  template <class T>
  static loss_result evaluate(batch_view<const T> y, const Tensor<std::int32_t, 1>& labels, batch_view<T> g = {}) {
    ++evaluations;
    return SoftmaxCrossEntropy::evaluate<T>(y, labels, g);
  }
};

}  // namespace

TEST_CASE("fit asks the schedule for every step in order, across epochs and a partial last batch", "[train][fit]") {
  const auto train_set = blobs(70, 6, 1);  // 70 = 4 batches of 16 and one of 6
  Model<Blobs> model(2);
  train::SGD<float> sgd;
  std::vector<std::int64_t> asked;
  auto schedule = [&](std::int64_t step) {
    asked.push_back(step);
    return 0.01;
  };
  const auto history = train::fit(model, train_set, sgd, schedule, {.epochs = 3, .batch_size = 16, .show_progress = false});
  REQUIRE(asked.size() == 15);
  for (std::size_t i = 0; i < asked.size(); ++i) CHECK(asked[i] == std::int64_t(i));
  REQUIRE(history.size() == 3);
  CHECK(history[0].epoch == 1);
  CHECK(history[2].epoch == 3);
}

TEST_CASE("a partial last batch trains exactly like a batch of that size", "[train][fit]") {
  // One epoch of 20 samples at batch 16 without shuffling = a step on 0..15, then on 16..19.
  const auto s = blobs(20, 6, 3);
  Model<Blobs, float> fitted(4), by_hand(4);
  train::SGD<float> a, b;
  train::fit(fitted, s, a, train::constant(0.1), {.epochs = 1, .batch_size = 16, .shuffle = false, .show_progress = false});
  for (auto [first, count] : {std::pair<std::int64_t, std::int64_t>{0, 16}, {16, 4}}) {
    Tensor<float, 2> x(count, 6), g(count, 2);
    Tensor<std::int32_t, 1> y(count);
    for (std::int64_t i = 0; i < count; ++i) {
      for (std::int64_t k = 0; k < 6; ++k) x(i, k) = s.images(first + i, k);
      y(i) = s.labels(first + i);
    }
    const auto out = by_hand.forward(x, true);
    SoftmaxCrossEntropy::evaluate<float>(out, y, g.view());
    by_hand.backward(g);
    b.step(by_hand, 0.1);
  }
  CHECK(parameters_of(fitted) == parameters_of(by_hand));
}

TEST_CASE("evaluate weights a short last batch by its size", "[train][evaluate]") {
  const auto s = blobs(300, 6, 5);
  Model<Blobs> model(6);
  const auto whole = train::evaluate(model, s, 1000);
  const auto pieces = train::evaluate(model, s, 7);  // 42 batches of 7 and one of 6
  CHECK(pieces.samples == 300);
  CHECK(pieces.loss == Approx(whole.loss).epsilon(1e-5));
  CHECK(pieces.accuracy == whole.accuracy);
}

TEST_CASE("the same seed gives bit-identical training with deterministic convolution choices", "[train][fit][determinism]") {
  using Net = Sequential<Input<2, 8, 8>, Conv<4, Kernel<3>, Pad<1>>, ReLU, Conv<4, Kernel<5>, Pad<2>>, ReLU, Flatten, Dense<2>>;
  data_set s{Tensor<float, 2>(48, 128), Tensor<std::int32_t, 1>(48)};
  fill_normal(s.images, 0, 1, 7);
  for (std::int64_t i = 0; i < 48; ++i) s.labels(i) = static_cast<std::int32_t>(i % 2);
  const testing::conv_tuning_guard rule(conv_tuning::rule_of_thumb);
  auto run = [&] {
    Model<Net> m(8);
    train::SGD<float> sgd({.momentum = 0.9});
    std::ostringstream log;
    train::fit_options o{.epochs = 2, .batch_size = 16, .shuffle_seed = 9};
    o.progress.out = &log;
    const auto h = train::fit(m, s, sgd, train::constant(0.05), o);
    CHECK(h.back().tuning == conv_tuning::rule_of_thumb);
    CHECK(log.str().find("convolution algorithms: rule of thumb (deterministic)") != std::string::npos);
    return parameters_of(m);
  };
  CHECK(run() == run());
  // Another shuffle seed trains differently.
  Model<Net> other(8);
  train::SGD<float> sgd({.momentum = 0.9});
  train::fit(other, s, sgd, train::constant(0.05), {.epochs = 2, .batch_size = 16, .shuffle_seed = 10, .show_progress = false});
  CHECK(parameters_of(other) != run());
}

TEST_CASE("fit and evaluate take the loss as a parameter", "[train][fit][loss]") {
  STATIC_REQUIRE(Loss<counting_loss>);
  const auto s = blobs(64, 6, 11);
  Model<Blobs> m(12);
  train::SGD<float> sgd;
  evaluations = 0;
  train::fit(m, s, sgd, train::constant(0.05), {.epochs = 2, .batch_size = 16, .show_progress = false}, &s, {}, counting_loss{});
  CHECK(evaluations == 2 * 4 + 2);  // 4 steps per epoch and one evaluation batch per epoch
  evaluations = 0;
  train::evaluate(m, s, 10, counting_loss{});
  CHECK(evaluations == 7);
}

TEST_CASE("SGD without momentum follows w - lr (g + decay w), biases exempt from decay", "[train][sgd]") {
  Model<Sequential<Input<3>, Dense<2>>, double> m(1);
  std::vector<double> w, g;
  m.visit_parameters([&](const auto& p) {
    for (std::int64_t i = 0; i < p.value.size(); ++i) {
      p.gradient.data()[i] = 0.1 * double(i + 1) - 0.2;
      w.push_back(p.value.data()[i]);
      g.push_back(p.gradient.data()[i]);
    }
  });
  train::SGD<double> sgd({.weight_decay = 0.01});
  sgd.step(m, 0.5);
  std::size_t k = 0;
  m.visit_parameters([&](const auto& p) {
    for (std::int64_t i = 0; i < p.value.size(); ++i, ++k) {
      const double decay = p.weight_decay ? 0.01 : 0.0;
      CHECK(p.value.data()[i] == Approx(w[k] - 0.5 * (g[k] + decay * w[k])).epsilon(1e-15));
    }
  });
  CHECK(sgd.state().empty());  // no momentum buffers
}

TEST_CASE("fit writes a training log: a CSV row per logged step, curves and histograms for TensorBoard", "[train][fit][log]") {
  const auto train_set = blobs(40, 6, 3);  // 5 steps of 8 an epoch
  const auto test_set = blobs(16, 6, 4);
  strata::testing::temp_dir tmp;
  const auto rate = [](std::int64_t step) { return 0.05 / double(1 + step); };
  std::vector<train::epoch_report> history;
  {
    train::training_log log({.tensorboard_dir = tmp / "run", .csv_file = tmp / "run.csv"});
    Model<Blobs> model(2);
    train::SGD<float> sgd;
    history = train::fit(model, train_set, sgd, rate, {.epochs = 2, .batch_size = 8, .show_progress = false, .log = &log}, &test_set);
  }
  std::ifstream csv(tmp / "run.csv");
  std::string line;
  REQUIRE(std::getline(csv, line));
  CHECK(line == train::training_log::csv_header);
  std::vector<std::vector<std::string>> rows;
  while (std::getline(csv, line)) {
    std::vector<std::string> cells;
    std::stringstream cells_of(line);
    for (std::string cell; std::getline(cells_of, cell, ',');) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.push_back("");
    rows.push_back(cells);
  }
  REQUIRE(rows.size() == 10);
  double epoch_loss[2] = {0, 0}, epoch_correct[2] = {0, 0};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    INFO("row " << i);
    REQUIRE(rows[i].size() == 7);
    CHECK(std::stoll(rows[i][0]) == std::int64_t(i) + 1);  // steps so far
    const int epoch = std::stoi(rows[i][1]);
    CHECK(epoch == (i < 5 ? 1 : 2));
    CHECK(std::stod(rows[i][4]) == rate(std::int64_t(i)));  // the rate the step used, exactly
    CHECK(std::stod(rows[i][5]) > 0);                       // images/s
    CHECK(rows[i][6].empty());                              // no loss scaling in fp32
    epoch_loss[epoch - 1] += std::stod(rows[i][2]) / 5;
    epoch_correct[epoch - 1] += std::stod(rows[i][3]) * 8;
  }
  // The rows are the steps' own: over an epoch they give fit's report.
  for (int e = 0; e < 2; ++e) {
    CHECK(epoch_loss[e] == Approx(history[std::size_t(e)].train_loss).epsilon(1e-12));
    CHECK(epoch_correct[e] / 40 == Approx(history[std::size_t(e)].train_accuracy).epsilon(1e-12));
  }
  // One event file, holding the step curves, the test results and the histograms.
  std::vector<std::filesystem::path> events;
  for (const auto& f : std::filesystem::directory_iterator(tmp / "run")) events.push_back(f.path());
  REQUIRE(events.size() == 1);
  std::ifstream in(events[0], std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* tag : {"train/loss", "train/learning_rate", "test/accuracy", "weights/0.weight", "gradients/2.bias"})
    CHECK(bytes.find(tag) != std::string::npos);

  // Every second step only; and a log_every below 1 is refused.
  train::training_log sparse({.csv_file = tmp / "sparse.csv"});
  Model<Blobs> model(2);
  train::SGD<float> sgd;
  train::fit(model, train_set, sgd, rate, {.epochs = 2, .batch_size = 8, .show_progress = false, .log = &sparse, .log_every = 2});
  sparse.flush();
  std::ifstream sparse_csv(tmp / "sparse.csv");
  std::int64_t lines = 0;
  while (std::getline(sparse_csv, line)) ++lines;
  CHECK(lines == 1 + 5);
  CHECK_THROWS_WITH(train::fit(model, train_set, sgd, rate, {.show_progress = false, .log = &sparse, .log_every = 0}),
                    Catch::Contains("log_every must be at least 1"));
}
