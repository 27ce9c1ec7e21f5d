// Data parallelism on threads: the thread transport's collectives (rank-order sums, bit for bit;
// gathers, scatters, broadcasts; the byte count; a failing rank ends the others), and the
// invariant that makes data parallelism trustworthy: R replicas give the weights one model gives
// on the same global batches (fp64 within 1e-12, fp32 within 1e-5), whatever the bucket size,
// with or without overlap, with a short last batch, frozen layers, and synchronised batch norm.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <vector>

#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/model.hpp"
#include "strata/parallel/checkpoint.hpp"
#include "strata/parallel/fit.hpp"
#include "strata/train/adam.hpp"
#include "strata/train/sgd.hpp"
#include "support/autotune_guard.hpp"
#include "support/testing.hpp"
#include "support/thread_checks.hpp"
#include "parallel/training_data.hpp"

using namespace strata;
using namespace strata::testing::parallel_data;

namespace {

// Weights after training one model, and after training `replicas` replicas on threads.
template <class Net, class T>
std::pair<std::vector<double>, std::vector<double>> one_and_many(int replicas, const data_set& data, std::int64_t batch,
                                                                 parallel::data_parallel_options dp = {}, int epochs = 1,
                                                                 std::size_t frozen_layers = 0) {
  const testing::autotune_guard rule_of_thumb(false);
  Model<Net, T> many(3);
  if (frozen_layers) many.freeze(layer_range{0, frozen_layers});
  train::SGD<T> sgd(momentum_and_decay());
  parallel::fit_threads(replicas, many, data, sgd, decaying_rate, quiet(batch, epochs), dp);
  return {train_one<Net, T>(data, batch, epochs, frozen_layers), parameters_of(many)};
}

}  // namespace

TEST_CASE("the thread transport sums in rank order, bit for bit", "[collectives]") {
  for (int ranks : {1, 2, 3, 4}) {
    for (std::int64_t n : {0, 1, 3, 7, 1000}) {
      // Values whose sum depends on the order: 1e16 cancels, small terms survive or not.
      const auto value = [](int rank, std::int64_t i) {
        // (divisions, not products: no fused multiply-add can round the expectation differently)
        const double big = (rank % 2 ? -1e16 : 1e16) / double(1 + i % 3);
        return rank < 2 ? big : 1.0 + double(rank) / 4.0 + double(i) / 1024.0;
      };
      const auto value_f = [](int rank, std::int64_t i) {
        return float(rank + 1) / 8.0f + float(i) / 1024.0f + (i % 2 ? 6e7f : 0.0f);
      };
      std::vector<std::vector<double>> results(static_cast<std::size_t>(ranks));
      std::vector<std::vector<float>> float_results(static_cast<std::size_t>(ranks));
      parallel::run_threads(ranks, [&](parallel::communicator& c) {
        std::vector<double> mine(static_cast<std::size_t>(n));
        std::vector<float> mine_f(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i) {
          mine[static_cast<std::size_t>(i)] = value(c.rank(), i);
          mine_f[static_cast<std::size_t>(i)] = value_f(c.rank(), i);
        }
        c.all_reduce_sum(std::span<double>(mine));
        c.all_reduce_sum(std::span<float>(mine_f));
        results[static_cast<std::size_t>(c.rank())] = mine;
        float_results[static_cast<std::size_t>(c.rank())] = mine_f;
      });
      for (std::int64_t i = 0; i < n; ++i) {
        double expected = value(0, i);
        float expected_f = value_f(0, i);
        for (int r = 1; r < ranks; ++r) {
          expected += value(r, i);
          expected_f += value_f(r, i);
        }
        for (int r = 0; r < ranks; ++r) {
          REQUIRE(results[static_cast<std::size_t>(r)][static_cast<std::size_t>(i)] == expected);  // the same bits
          REQUIRE(float_results[static_cast<std::size_t>(r)][static_cast<std::size_t>(i)] == expected_f);
        }
      }
    }
  }
}

TEST_CASE("started sums finish in order, gathers and scatters follow the counts, bytes as counted", "[collectives]") {
  constexpr int ranks = 3;
  testing::thread_checks checks;
  parallel::run_threads(ranks, [&](parallel::communicator& c) {
    const int r = c.rank();
    const auto expect = [&](bool ok, const char* what) { checks.expect(ok, "rank " + std::to_string(r) + ": " + what); };
    std::vector<float> a(5, float(r + 1)), b(2, float(10 * (r + 1)));
    c.start_all_reduce_sum(std::span<float>(a));
    c.start_all_reduce_sum(std::span<float>(b));
    c.progress();
    c.wait_all();
    expect(a == std::vector<float>(5, 6.0f), "the first started sum");
    expect(b == std::vector<float>(2, 60.0f), "the second started sum");
    // Sums of 5 values: rank r's chunk is [5r/3, 5(r+1)/3): 1, 2, 2 values.
    const std::int64_t chunk = 5 * (r + 1) / 3 - 5 * r / 3;
    const std::int64_t chunk_b = 2 * (r + 1) / 3 - 2 * r / 3;
    std::int64_t expected = 4 * ((5 - chunk) + 2 * chunk) + 4 * ((2 - chunk_b) + 2 * chunk_b);
    expect(c.bytes_sent() == expected, "the bytes sent so far");

    // Unequal counts: rank r owns r + 1 values.
    const std::vector<std::int64_t> counts{1, 2, 3};
    std::vector<double> mine(static_cast<std::size_t>(r + 1), double(r)), all(6);
    c.all_gather(std::span<const double>(mine), std::span<double>(all), counts);
    expect(all == std::vector<double>{0, 1, 1, 2, 2, 2}, "the gather of unequal counts");
    expected += 8 * 2 * (r + 1);
    std::vector<double> contribution(6);
    for (int i = 0; i < 6; ++i) contribution[static_cast<std::size_t>(i)] = double((r + 1) * (i + 1));
    std::vector<double> part(static_cast<std::size_t>(r + 1));
    c.reduce_scatter_sum(std::span<const double>(contribution), std::span<double>(part), counts);
    const int offset = r * (r + 1) / 2;
    for (int i = 0; i <= r; ++i)  // (1+2+3)·(i+1)
      expect(part[static_cast<std::size_t>(i)] == 6.0 * double(offset + i + 1), "the reduce-scatter's part");
    expected += 8 * (6 - (r + 1));
    expect(c.bytes_sent() == expected, "the bytes sent so far");

    std::vector<std::int32_t> word{r == 2 ? 42 : -1};
    c.broadcast(std::as_writable_bytes(std::span<std::int32_t>(word)), 2);
    expect(word[0] == 42, "the broadcast from rank 2");
    if (r == 2) expected += 4 * 2;
    expect(c.bytes_sent() == expected, "the bytes sent so far");
    std::string message;
    try {
      c.broadcast({}, 3);
    } catch (const std::exception& e) {
      message = e.what();
    }
    expect(message.find("root 3 is not a rank of 3") != std::string::npos, "broadcast to root 3 refused, naming it");
  });
  checks.report();
}

TEST_CASE("a failing rank ends every rank with its message, never a hang", "[collectives]") {
  std::atomic<int> ended{0};
  const auto run = [&] {
    parallel::run_threads(4, [&](parallel::communicator& c) {
      std::vector<float> v(10, 1.0f);
      try {
        c.all_reduce_sum(std::span<float>(v));
        if (c.rank() == 2) throw std::runtime_error("bad record 17 in shard 2");
        for (int i = 0; i < 3; ++i) c.all_reduce_sum(std::span<float>(v));  // the others wait here for rank 2
      } catch (const parallel::group_error&) {
        ++ended;
        throw;
      }
    });
  };
  CHECK_THROWS_WITH(run(), "bad record 17 in shard 2");  // the root cause, as thrown
  CHECK(ended == 3);

  // Different sizes on different ranks would read past a buffer: an error naming both.
  CHECK_THROWS_WITH(parallel::run_threads(2, [](parallel::communicator& c) {
                      std::vector<double> v(static_cast<std::size_t>(3 + c.rank()));
                      c.all_reduce_sum(std::span<double>(v));
                    }),
                    Catch::Contains("all_reduce_sum: the ranks passed different sizes (3, 4 values from ranks 0…1)"));
}

TEST_CASE("R replicas on threads train to one model's weights on the same global batches", "[invariant]") {
  const data_set data = squares(53, 4, 11);  // 53 = 6 batches of 8 and a last one of 5
  SECTION("fp64, within 1e-12") {
    for (int replicas : {2, 3, 4}) {
      const auto [one, many] = one_and_many<Small, double>(replicas, data, 8);
      INFO(replicas << " replicas");
      CHECK(relative_difference(one, many) < 1e-12);
    }
  }
  SECTION("fp32, within 1e-5") {
    for (int replicas : {2, 4}) {
      const auto [one, many] = one_and_many<Small, float>(replicas, data, 8);
      INFO(replicas << " replicas");
      CHECK(relative_difference(one, many) < 1e-5);
    }
  }
  SECTION("more replicas than the last batch has rows") {
    const data_set few = squares(11, 4, 5);  // batches of 8 and 3, over 4 replicas: one rank gets no row
    const auto [one, many] = one_and_many<Small, double>(4, few, 8, {}, 2);
    CHECK(relative_difference(one, many) < 1e-12);
  }
  SECTION("frozen layers train nothing and the rest as one model") {
    const auto [one, many] = one_and_many<Small, double>(2, data, 8, {}, 1, 1);
    CHECK(relative_difference(one, many) < 1e-12);
  }
  SECTION("training actually moved the weights") {
    Model<Small, double> untouched(3);
    const auto [one, many] = one_and_many<Small, double>(2, data, 8);
    CHECK(relative_difference(one, parameters_of(untouched)) > 1e-2);
  }
}

TEST_CASE("bucket size and overlap change nothing: the same bits", "[invariant]") {
  const data_set data = squares(40, 4, 3);
  parallel::data_parallel_options one_bucket{.bucket_bytes = std::int64_t{1} << 30, .overlap = false};
  parallel::data_parallel_options tiny_buckets{.bucket_bytes = 64, .overlap = true};
  const auto a = one_and_many<Small, float>(2, data, 8, one_bucket).second;
  const auto b = one_and_many<Small, float>(2, data, 8, tiny_buckets).second;
  const auto c = one_and_many<Small, float>(2, data, 8, tiny_buckets).second;
  CHECK(a == b);
  CHECK(b == c);  // and a rerun gives the same bits
}

TEST_CASE("gradient buckets hold whole layers from the last down", "[buckets]") {
  Model<Small, float> m(1);
  parallel::run_threads(1, [&](parallel::communicator& c) {
    // Small's parameters: conv 36+4 (layer 0), dense 64·16+16 (layer 4), dense 16·4+4 (layer 6).
    parallel::replica<Model<Small, float>> rep(m, c, {.bucket_bytes = 4 * 100});
    const data_set d = squares(4, 4, 1);
    rep.compute_gradients(d.images, d.labels, 4);
    const auto b = rep.buckets();
    REQUIRE(b.size() == 2);
    CHECK(b[0].highest_layer == 6);
    CHECK(b[0].lowest_layer == 4);  // 68 values < 100: layer 4 joins, then it is full
    CHECK(b[0].values == 68 + 1040);
    CHECK(b[1].highest_layer == 0);
    CHECK(b[1].lowest_layer == 0);
    CHECK(b[1].values == 40);
  });
}

TEST_CASE("synchronised batch norm: R replicas train as one model on the global batch", "[batch_norm]") {
  const data_set data = squares(48, 4, 9);
  const auto [one, synced] = one_and_many<Normed, double>(2, data, 12, {.sync_batch_norm = true});
  CHECK(relative_difference(one, synced) < 1e-12);
  const auto [one4, synced4] = one_and_many<Normed, double>(4, data, 12, {.sync_batch_norm = true});
  CHECK(relative_difference(one4, synced4) < 1e-12);
  // Per-replica statistics (the default) are a different model: the test above can fail.
  const auto [same, own] = one_and_many<Normed, double>(2, data, 12);
  CHECK(relative_difference(same, own) > 1e-6);
}

TEST_CASE("data-parallel fit reports the global batch and evaluates in shares", "[fit]") {
  const testing::autotune_guard rule_of_thumb(false);
  const data_set data = squares(64, 4, 2), test = squares(37, 4, 8);
  Model<Small, float> m(5);
  train::Adam<float> adam;
  const auto history = parallel::fit_threads(3, m, data, adam, [](std::int64_t) { return 0.01; }, quiet(16, 10), {}, &test);
  REQUIRE(history.size() == 10);
  CHECK(history.back().train_accuracy > 0.9);
  const train::evaluation alone = train::evaluate(m, test);
  CHECK(history.back().test_accuracy == Approx(alone.accuracy));
  CHECK(history.back().test_loss == Approx(alone.loss).epsilon(1e-5));
}

TEST_CASE("a bad label on one replica's rows ends training with its message", "[fit]") {
  data_set data = squares(32, 4, 2);
  data.labels(13) = 9;  // rows 8…15 of the first batch of 16 are rank 1's
  Model<Small, float> m(5);
  train::SGD<float> sgd;
  CHECK_THROWS_WITH(parallel::fit_threads(2, m, data, sgd, [](std::int64_t) { return 0.01; }, quiet(16)),
                    Catch::Contains("9"));
}

TEST_CASE("a NaN in one replica's rows stops every replica at that step, or is skipped as train::fit skips it", "[fit][divergence]") {
  data_set data = squares(48, 4, 6);
  data.images(21, 5) = std::numeric_limits<float>::quiet_NaN();  // batch 2 (rows 16…31); rows 24…31 are rank 1's of 2
  {
    Model<Small, double> m(5);
    const auto before = parameters_of(m);
    train::SGD<double> sgd;
    const testing::autotune_guard rule_of_thumb(false);
    auto o = quiet(16);
    o.shuffle = false;
    try {
      parallel::fit_threads(2, m, data, sgd, decaying_rate, o);
      FAIL("no divergence_error");
    } catch (const train::divergence_error& e) {
      CHECK(e.step() == 1);
      // Whichever rank's message comes back: rank 0's rows (16…23) hold the NaN.
      CHECK_THAT(e.what(), Catch::Contains("diverged at epoch 1, batch 2 (step 1), on rank") &&
                               (Catch::Contains("rank 0 of 2: the input batch") ||
                                Catch::Contains("rank 1 of 2: this rank's rows gave finite values")));
    }
    CHECK(parameters_of(m) != before);  // the first step was taken
  }
  {
    // skip_step: every replica skips the step, and the weights are one process's, skipping it too.
    const testing::autotune_guard rule_of_thumb(false);
    auto o = quiet(16);
    o.divergence.action = train::divergence_action::skip_step;
    Model<Small, double> many(3), one(3);
    train::SGD<double> sgd_many(momentum_and_decay()), sgd_one(momentum_and_decay());
    const auto reports = parallel::fit_threads(2, many, data, sgd_many, decaying_rate, o);
    const auto single = train::fit(one, data, sgd_one, decaying_rate, o);
    CHECK(reports[0].skipped_steps == 1);
    CHECK(single[0].skipped_steps == 1);
    CHECK(relative_difference(parameters_of(one), parameters_of(many)) < 1e-12);
    CHECK(std::isfinite(reports[0].train_loss));
  }
}

TEST_CASE("checkpoints: rank 0 writes the file, every rank gets what it holds", "[checkpoint]") {
  const auto path = std::filesystem::temp_directory_path() / "strata-parallel-checkpoint-test.strata";
  std::filesystem::remove(path);
  Model<Small, float> trained(21);
  const auto expected = parameters_of(trained);
  std::vector<std::vector<double>> loaded(3);
  parallel::run_threads(3, [&](parallel::communicator& c) {
    if (c.rank() == 0) parallel::save_checkpoint(c, trained, path);
    else parallel::save_checkpoint(c, *std::make_unique<Model<Small, float>>(99), path);  // only rank 0's is written
    Model<Small, float> fresh(static_cast<std::uint64_t>(c.rank()) + 100);  // every rank starts elsewhere
    parallel::load_checkpoint(c, fresh, path);
    loaded[static_cast<std::size_t>(c.rank())] = parameters_of(fresh);
  });
  for (const auto& l : loaded) CHECK(l == expected);
  std::filesystem::remove(path);

  // A file rank 0 cannot read is every rank's error, with rank 0's message.
  std::atomic<int> failed{0};
  parallel::run_threads(3, [&](parallel::communicator& c) {
    Model<Small, float> m(1);
    try {
      parallel::load_checkpoint(c, m, path);
    } catch (const error& e) {
      if (std::string(e.what()).find("on rank 0") != std::string::npos &&
          std::string(e.what()).find(path.filename().string()) != std::string::npos)
        ++failed;
    }
  });
  CHECK(failed == 3);
}

TEST_CASE("fit_threads twice continues one optimizer's state, as train::fit twice does", "[fit]") {
  const testing::autotune_guard rule_of_thumb(false);
  const data_set data = squares(40, 4, 6);
  Model<Small, double> one(3), many(3);
  train::SGD<double> sgd_one(momentum_and_decay()), sgd_many(momentum_and_decay());
  for (int call = 0; call < 2; ++call) {
    train::fit(one, data, sgd_one, decaying_rate, quiet(8));
    parallel::fit_threads(3, many, data, sgd_many, decaying_rate, quiet(8));
  }
  CHECK(relative_difference(parameters_of(one), parameters_of(many)) < 1e-12);
}
