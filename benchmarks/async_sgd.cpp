// benchmarks/async_sgd — What does asynchronous SGD (bounded staleness) buy over synchronous data
// parallelism on the demo network, in throughput and in accuracy after the same examples?
//
// For 2 and 4 workers on threads (strata's 2 threads divided among them: 1 compute thread each,
// so 4 workers share 2 cores two to a core), each run trains a fresh demo network (Fashion-MNIST
// CNN, PyTorch's initialisation, seed 1) on the same --examples training images (the file's
// first N, shuffled with seed 1), one pass, SGD lr 0.01 momentum 0.9, no schedule, then the test
// set's accuracy:
//   sync  — parallel::fit_threads, global batch W × 64: every replica computes 64 rows per step,
//           as every async worker does, so the per-worker work per gradient is the same on both
//           sides and the difference is waiting for the others (sync: every step; async: only at
//           the bound). Same lr: sync makes W× fewer, W× larger updates (no linear scaling).
//   async — parallel::fit_async, 64 per worker and per update, staleness bound --staleness.
// Plus, as reference, train::fit (one model, batch 64, both threads): sequential SGD, which is
// async with s = 0. A round runs every configuration once, sync and async of a worker count back
// to back (who goes first alternates from round to round), so a slow spell of the shared 2-vCPU
// machine hits both; throughput ratios are per round, then their median. Before round 1 every
// configuration trains on a few batches untimed (algo::automatic times the convolution algorithms
// for each new batch shape once, including the short last batches).
//
// Usage: async_sgd [--data DIR] [--examples N] [--rounds N] [--staleness S] [--threads N] [--no-reference]
#include <strata/zoo/fashion_net.hpp>
#include <strata/data/idx.hpp>
#include <strata/net/model.hpp>
#include <strata/parallel/async_sgd.hpp>
#include <strata/parallel/fit.hpp>
#include <strata/train/fit.hpp>
#include <strata/train/schedule.hpp>
#include <strata/train/sgd.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

using namespace strata;

using TorchInit = Init<init::fan_in_uniform>;
using Net = zoo::FashionNet<TorchInit>;

namespace {

constexpr std::int64_t per_worker_batch = 64;
constexpr double lr = 0.01;

// Images [first, first + count) of a data set, without copying.
struct chunk_view {
  TensorView<const float, 4> images;
  TensorView<const std::int32_t, 1> labels;
};
chunk_view chunk_of(const data::labelled_images& d, std::int64_t first, std::int64_t count) {
  return {d.images.slice(first, count), d.labels.slice(first, count)};
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

// One configuration: how it trains, and what its runs gave.
struct config {
  std::string name;
  int workers = 1;
  bool async = false;
  std::vector<double> rates, accuracies;
  std::int64_t max_staleness = 0;
  double mean_staleness_sum = 0, wait_share_sum = 0;
  int async_runs = 0;
};

struct run_result {
  double seconds = 0, accuracy = 0;
  parallel::staleness_report staleness;
};

train::fit_options options_for(std::int64_t batch) {
  return train::fit_options{.epochs = 1, .batch_size = batch, .shuffle = true, .shuffle_seed = 1, .show_progress = false};
}

run_result train_once(const config& c, const chunk_view& data, const data::labelled_images& test, std::int64_t staleness,
                      int threads, bool evaluate) {
  Model<Net> model(/*seed=*/1);
  train::SGD<float> sgd({.momentum = 0.9});
  run_result r;
  const auto t0 = std::chrono::steady_clock::now();
  if (c.workers == 1) {
    train::fit(model, data, sgd, train::constant(lr), options_for(per_worker_batch));
  } else if (c.async) {
    r.staleness = parallel::fit_async(c.workers, model, data, sgd, train::constant(lr), options_for(per_worker_batch),
                                      {.staleness = staleness})
                      .staleness;
  } else {
    parallel::fit_threads(c.workers, model, data, sgd, train::constant(lr), options_for(per_worker_batch * c.workers));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (evaluate) {
    const thread_budget all(threads);
    r.accuracy = train::evaluate(model, test, 256).accuracy;
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path data_dir = data::default_fashion_mnist_dir;
  std::int64_t examples = 30000, staleness = 4;
  int rounds = 3, threads = 2;
  bool reference = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--data" && i + 1 < argc) data_dir = argv[++i];
    else if (a == "--examples" && i + 1 < argc) examples = std::max<std::int64_t>(512, std::atoll(argv[++i]));
    else if (a == "--rounds" && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    else if (a == "--staleness" && i + 1 < argc) staleness = std::max<std::int64_t>(0, std::atoll(argv[++i]));
    else if (a == "--threads" && i + 1 < argc) threads = std::max(1, std::atoi(argv[++i]));
    else if (a == "--no-reference") reference = false;
    else {
      std::fprintf(stderr, "usage: %s [--data DIR] [--examples N] [--rounds N] [--staleness S] [--threads N] [--no-reference]\n",
                   argv[0]);
      return 2;
    }
  }
  set_num_threads(threads);
  const auto train_set = data::load_fashion_mnist(data_dir, data::split::train);
  const auto test_set = data::load_fashion_mnist(data_dir, data::split::test);
  examples = std::min(examples, train_set.images.extent(0));
  const chunk_view data = chunk_of(train_set, 0, examples);

  std::vector<config> configs;
  if (reference) configs.push_back({"fit, 1 model", 1, false});
  for (int w : {2, 4}) {
    configs.push_back({"sync " + std::to_string(w), w, false});
    configs.push_back({"async " + std::to_string(w), w, true});
  }

  std::printf("async_sgd benchmark: demo network (Fashion-MNIST CNN), the first %lld training images once, SGD lr %.2g "
              "momentum 0.9; %d threads (workers share them: %d each at 2 workers, %d at 4); GEMM via %s\n",
              static_cast<long long>(examples), lr, threads, std::max(1, threads / 2), std::max(1, threads / 4),
              kernels::cpu::gemm_backend());
  std::printf("sync: fit_threads, global batch W x %lld; async: fit_async, %lld per update, staleness bound s = %lld; "
              "fit: train::fit, batch %lld\n",
              static_cast<long long>(per_worker_batch), static_cast<long long>(per_worker_batch), static_cast<long long>(staleness),
              static_cast<long long>(per_worker_batch));
  std::printf("load average before: %s\n", load_average().c_str());
  std::fflush(stdout);

  // Untimed: every configuration's batch shapes, its short last batch included, once.
  {
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t before = algo::conv_choices().size();
    for (const auto& c : configs) {
      // The same remainder as the full run, for this configuration's batch.
      const std::int64_t global = c.async || c.workers == 1 ? per_worker_batch : per_worker_batch * c.workers;
      const std::int64_t n = std::min(examples, 2 * global + examples % global);
      train_once(c, chunk_of(train_set, 0, n), test_set, staleness, threads, false);
    }
    std::printf("warm-up: %zu convolution algorithm choices recorded in %.1f s (%s)\n", algo::conv_choices().size() - before,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                algo::name_of(algo::get_conv_tuning()));
  }

  std::printf("\n%-6s %-13s %9s %10s %9s %17s %8s\n", "round", "config", "seconds", "img/s", "test acc", "staleness mean/max",
              "waited");
  for (int r = 0; r < rounds; ++r) {
    // Reference first in even rounds, last in odd ones; within a worker count sync and async swap.
    std::vector<std::size_t> sequence;
    for (int w : {2, 4}) {
      std::size_t s = 0, a = 0;
      for (std::size_t i = 0; i < configs.size(); ++i)
        if (configs[i].workers == w) (configs[i].async ? a : s) = i;
      if (r % 2 == 0) sequence.push_back(s), sequence.push_back(a);
      else sequence.push_back(a), sequence.push_back(s);
    }
    if (reference) {
      if (r % 2 == 0) sequence.insert(sequence.begin(), 0);
      else sequence.push_back(0);
    }
    for (std::size_t i : sequence) {
      config& c = configs[i];
      const run_result res = train_once(c, data, test_set, staleness, threads, true);
      const double rate = double(examples) / res.seconds;
      c.rates.push_back(rate);
      c.accuracies.push_back(res.accuracy);
      std::string stale = "-", waited = "-";
      if (c.async) {
        c.max_staleness = std::max(c.max_staleness, res.staleness.max);
        c.mean_staleness_sum += res.staleness.mean;
        c.wait_share_sum += res.staleness.wait_seconds / (res.seconds * c.workers);
        ++c.async_runs;
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.2f / %lld", res.staleness.mean, static_cast<long long>(res.staleness.max));
        stale = buf;
        std::snprintf(buf, sizeof buf, "%.1f%%", 100 * res.staleness.wait_seconds / (res.seconds * c.workers));
        waited = buf;
      }
      std::printf("%-6d %-13s %9.1f %10.1f %8.2f%% %17s %8s\n", r + 1, c.name.c_str(), res.seconds, rate, 100 * res.accuracy,
                  stale.c_str(), waited.c_str());
      std::fflush(stdout);
    }
  }

  // Per-round async/sync throughput ratios, and their median.
  const auto find = [&](int w, bool async) -> config& {
    for (auto& c : configs)
      if (c.workers == w && c.async == async) return c;
    return configs.front();
  };
  std::map<int, double> ratio, ratio_min, ratio_max;
  for (int w : {2, 4}) {
    const config &s = find(w, false), &a = find(w, true);
    std::vector<double> per_round;
    for (std::size_t k = 0; k < s.rates.size(); ++k) per_round.push_back(a.rates[k] / s.rates[k]);
    ratio[w] = median(per_round);
    ratio_min[w] = *std::min_element(per_round.begin(), per_round.end());
    ratio_max[w] = *std::max_element(per_round.begin(), per_round.end());
  }
  std::printf("\n%-13s %12s %14s %14s %17s %8s\n", "config", "median img/s", "test acc (med)", "acc min-max", "staleness mean/max",
              "waited");
  std::int64_t max_staleness = 0;
  for (const auto& c : configs) {
    const auto [lo, hi] = std::minmax_element(c.accuracies.begin(), c.accuracies.end());
    char range[64], stale[64] = "-", waited[32] = "-";
    std::snprintf(range, sizeof range, "%.2f-%.2f%%", 100 * *lo, 100 * *hi);
    if (c.async) {
      std::snprintf(stale, sizeof stale, "%.2f / %lld", c.mean_staleness_sum / c.async_runs, static_cast<long long>(c.max_staleness));
      std::snprintf(waited, sizeof waited, "%.1f%%", 100 * c.wait_share_sum / c.async_runs);
      max_staleness = std::max(max_staleness, c.max_staleness);
    }
    std::printf("%-13s %12.1f %13.2f%% %14s %17s %8s\n", c.name.c_str(), median(c.rates), 100 * median(c.accuracies), range, stale,
                waited);
  }
  for (int w : {2, 4})
    std::printf("async %d / sync %d throughput: %.3f (median of per-round ratios; rounds %.3f to %.3f)\n", w, w, ratio[w],
                ratio_min[w], ratio_max[w]);
  std::printf("(waited: the share of the workers' time spent at the staleness gates; test acc of sync is the same every round: "
              "it is deterministic)\nload average after: %s\n",
              load_average().c_str());

  std::printf("\nRESULT async2_vs_sync2_throughput=%.3f async4_vs_sync4_throughput=%.3f sync2_accuracy=%.4f async2_accuracy=%.4f "
              "sync4_accuracy=%.4f async4_accuracy=%.4f max_staleness=%lld\n",
              ratio[2], ratio[4], median(find(2, false).accuracies), median(find(2, true).accuracies),
              median(find(4, false).accuracies), median(find(4, true).accuracies), static_cast<long long>(max_staleness));
  return 0;
}
