// Asynchronous SGD on threads (strata/parallel/async_sgd.hpp): the staleness bound holds for every
// applied gradient, and is reached when a worker lags; s = 0 is train::fit's sequential SGD (fp64,
// 1e-12) for 1, 2 and 4 workers; every example is used once per epoch across workers; training
// converges; a failing worker ends fit_async with its message, never a hang.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/model.hpp"
#include "strata/parallel/async_sgd.hpp"
#include "strata/train/adam.hpp"
#include "strata/train/sgd.hpp"
#include "support/autotune_guard.hpp"
#include "support/testing.hpp"
#include "parallel/training_data.hpp"

using namespace strata;
using namespace strata::testing::parallel_data;

namespace {

// n noisy 1×8×8 images of `classes` classes, class c marked by a bright stroke of its own.
data_set strokes(std::int64_t n, int classes, std::uint64_t seed) {
  data_set s{Tensor<float, 2>(n, 64), Tensor<std::int32_t, 1>(n)};
  fill_normal(s.images, 0, 0.5, seed);
  for (std::int64_t i = 0; i < n; ++i) {
    const int c = static_cast<int>((i * 7 + 3) % classes);
    s.labels(i) = c;
    for (int k = 0; k < 4; ++k) s.images(i, 8 * (2 * c % 8) + k + c % 4) += 2.0f;
  }
  return s;
}

const auto decaying = [](std::int64_t step) { return 0.05 / (1.0 + 0.1 * double(step)); };

// Weights after train::fit, and after fit_async with `workers` workers and bound s.
template <class Net>
std::pair<std::vector<double>, std::vector<double>> sequential_and_async(int workers, std::int64_t s, const data_set& data,
                                                                         std::int64_t batch, int epochs) {
  const testing::autotune_guard rule_of_thumb(false);
  Model<Net, double> one(3), many(3);
  train::SGD<double> sgd_one({.momentum = 0.9, .weight_decay = 1e-3});
  train::SGD<double> sgd_many({.momentum = 0.9, .weight_decay = 1e-3});
  train::fit(one, data, sgd_one, decaying, quiet(batch, epochs));
  const auto result = parallel::fit_async(workers, many, data, sgd_many, decaying, quiet(batch, epochs), {.staleness = s});
  CHECK(result.staleness.max == 0);
  CHECK(result.staleness.updates == epochs * ((data.images.extent(0) + batch - 1) / batch));
  return {parameters_of(one), parameters_of(many)};
}

}  // namespace

TEST_CASE("s = 0 is sequential SGD: train::fit's weights for 1, 2 and 4 workers", "[sequential]") {
  const data_set data = strokes(53, 4, 11);  // batches of 8 and a last one of 5
  for (int workers : {1, 2, 4}) {
    const auto [one, async] = sequential_and_async<Small>(workers, 0, data, 8, 2);
    INFO(workers << " workers");
    CHECK(relative_difference(one, async) < 1e-12);
    if (workers == 1) CHECK(one == async);  // the same arithmetic on the same thread budget: the same bits
  }
  SECTION("batch norm: the running statistics are the worker's, as train::fit's") {
    const auto [one, async] = sequential_and_async<Normed>(1, 0, data, 8, 2);
    CHECK(relative_difference(one, async) < 1e-12);
  }
  SECTION("training moved the weights (the comparison is not of two untouched models)") {
    Model<Small, double> untouched(3);
    const auto [one, async] = sequential_and_async<Small>(2, 0, data, 8, 1);
    CHECK(relative_difference(one, parameters_of(untouched)) > 1e-2);
  }
}

TEST_CASE("no applied gradient is staler than the bound, and a lagging worker reaches it", "[staleness]") {
  const testing::autotune_guard rule_of_thumb(false);
  const data_set data = strokes(240, 4, 5);  // 60 batches of 4
  for (int workers : {2, 3, 4}) {
    for (std::int64_t s : {0, 1, 4}) {
      for (bool lagging : {false, true}) {
        INFO(workers << " workers, s = " << s << (lagging ? ", the last worker lagging" : ""));
        Model<Small, float> model(1);
        train::SGD<float> sgd({.momentum = 0.9});
        parallel::async_options o{.staleness = s};
        // The last worker sleeps 30 ms before every push, the others 1 ms (so that an epoch lasts
        // long enough for every thread to start): the others run ahead until the bound stops them.
        if (lagging)
          o.on_gradient = [&](const parallel::async_batch& b) {
            std::this_thread::sleep_for(std::chrono::milliseconds(b.worker == workers - 1 ? 30 : 1));
          };
        const auto r = parallel::fit_async(workers, model, data, sgd, train::constant(0.01), quiet(4, 2), o).staleness;
        CHECK(r.bound == s);
        CHECK(r.max <= s);
        CHECK(static_cast<std::int64_t>(r.histogram.size()) <= s + 1);
        CHECK(r.updates == 2 * 60);
        std::int64_t by_workers = 0;
        for (auto u : r.updates_by_worker) by_workers += u;
        CHECK(by_workers == r.updates);
        if (lagging && s > 0) {
          // The lagging worker's gradients land exactly s updates late: the others did s updates
          // while it slept and were then held back (gate 2) until it pushed.
          CHECK(r.max == s);
          CHECK(r.histogram[static_cast<std::size_t>(s)] > 0);
          CHECK(r.apply_waits + r.admission_waits > 0);
          CHECK(r.updates_by_worker[static_cast<std::size_t>(workers - 1)] > 0);
        }
      }
    }
  }
}

TEST_CASE("every example is used exactly once per epoch, across the workers", "[data]") {
  const testing::autotune_guard rule_of_thumb(false);
  const data_set data = strokes(101, 4, 9);  // 101 = 12 batches of 8 and one of 5
  constexpr int epochs = 3;
  for (int workers : {2, 4}) {
    INFO(workers << " workers");
    std::mutex m;
    std::vector<std::vector<int>> uses(epochs, std::vector<int>(101, 0));
    std::vector<int> batches_by_worker(static_cast<std::size_t>(workers), 0);
    std::vector<std::vector<std::int64_t>> batches_seen(epochs);
    Model<Small, float> model(2);
    train::SGD<float> sgd;
    parallel::async_options o{.staleness = 2, .on_gradient = [&](const parallel::async_batch& b) {
                                std::lock_guard lock(m);
                                for (std::int64_t i : b.samples) ++uses[static_cast<std::size_t>(b.epoch - 1)][static_cast<std::size_t>(i)];
                                ++batches_by_worker[static_cast<std::size_t>(b.worker)];
                                batches_seen[static_cast<std::size_t>(b.epoch - 1)].push_back(b.batch);
                              }};
    const auto r = parallel::fit_async(workers, model, data, sgd, train::constant(0.01), quiet(8, epochs), o);
    for (int e = 0; e < epochs; ++e) {
      INFO("epoch " << e + 1);
      CHECK(std::all_of(uses[static_cast<std::size_t>(e)].begin(), uses[static_cast<std::size_t>(e)].end(), [](int u) { return u == 1; }));
      auto seen = batches_seen[static_cast<std::size_t>(e)];
      std::sort(seen.begin(), seen.end());
      std::vector<std::int64_t> all(13);
      for (std::int64_t k = 0; k < 13; ++k) all[static_cast<std::size_t>(k)] = k;
      CHECK(seen == all);
    }
    REQUIRE(r.history.size() == epochs);
    for (int w = 0; w < workers; ++w)
      CHECK(r.staleness.updates_by_worker[static_cast<std::size_t>(w)] == batches_by_worker[static_cast<std::size_t>(w)]);
  }
}

TEST_CASE("asynchronous training converges on a small problem", "[converges]") {
  const testing::autotune_guard rule_of_thumb(false);
  const data_set train_set = strokes(512, 4, 21), test_set = strokes(128, 4, 22);
  for (int workers : {2, 4}) {
    INFO(workers << " workers, s = 4");
    Model<Small, float> model(5);
    train::SGD<float> sgd({.momentum = 0.9});
    const auto untrained = train::evaluate(model, test_set);
    const auto r = parallel::fit_async(workers, model, train_set, sgd, train::constant(0.02), quiet(16, 4), {.staleness = 4},
                                       &test_set);
    REQUIRE(r.history.size() == 4);
    CHECK(r.history.back().train_loss < r.history.front().train_loss);
    CHECK(r.history.back().test_loss < 0.5 * untrained.loss);
    CHECK(r.history.back().test_accuracy >= 0.95);
    CHECK(r.history.back().images_per_second > 0);
    CHECK(r.staleness.max <= 4);
  }
  SECTION("with Adam, whose state the one optimizer keeps") {
    Model<Small, float> model(5);
    train::Adam<float> adam;
    const auto r = parallel::fit_async(3, model, train_set, adam, train::constant(0.003), quiet(16, 3), {.staleness = 2}, &test_set);
    CHECK(r.history.back().test_accuracy >= 0.95);
  }
}

TEST_CASE("a failing worker ends fit_async with its message, never a hang", "[errors]") {
  const testing::autotune_guard rule_of_thumb(false);
  const data_set data = strokes(200, 4, 3);
  Model<Small, float> model(1);
  train::SGD<float> sgd;
  SECTION("a worker throws while the others compute") {
    std::atomic<int> calls{0};
    parallel::async_options o{.staleness = 4, .on_gradient = [&](const parallel::async_batch& b) {
                                if (b.worker == 1 && ++calls == 2) throw std::runtime_error("bad record 17 in shard 1");
                                std::this_thread::sleep_for(std::chrono::milliseconds(1));  // every thread gets batches
                              }};
    CHECK_THROWS_WITH(parallel::fit_async(4, model, data, sgd, train::constant(0.01), quiet(4, 3), o), "bad record 17 in shard 1");
  }
  SECTION("the lagging worker throws while the others wait for it at the bound") {
    parallel::async_options o{.staleness = 1, .on_gradient = [&](const parallel::async_batch& b) {
                                if (b.worker != 2) return std::this_thread::sleep_for(std::chrono::milliseconds(1));
                                std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the others block on it
                                throw std::runtime_error("worker 2 lost its shard");
                              }};
    CHECK_THROWS_WITH(parallel::fit_async(3, model, data, sgd, train::constant(0.01), quiet(4), o), "worker 2 lost its shard");
  }
  SECTION("a bad label in the data, on whichever worker draws it") {
    data_set bad = strokes(200, 4, 3);
    bad.labels(137) = 9;
    CHECK_THROWS_WITH(parallel::fit_async(3, model, bad, sgd, train::constant(0.01), quiet(8), {.staleness = 2}),
                      Catch::Contains("label 9 of sample"));
  }
  SECTION("arguments") {
    CHECK_THROWS_WITH(parallel::fit_async(0, model, data, sgd, train::constant(0.01), quiet(8)),
                      "fit_async: needs at least one worker, got 0");
    CHECK_THROWS_WITH(parallel::fit_async(2, model, data, sgd, train::constant(0.01), quiet(8), {.staleness = -1}),
                      "fit_async: the staleness bound must be non-negative, got -1");
  }
}
