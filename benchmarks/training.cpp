// benchmarks/training — How fast does strata train and run the Fashion-MNIST CNN on this CPU,
// against PyTorch doing exactly the same thing? One epoch: the demo's network, SGD (momentum 0.9,
// lr 0.01, no schedule), batch 64, PyTorch's default initialisation (U(±1/√fan_in)), then
// test-set inference in batches of 256; training and inference images/s, test accuracy and peak
// memory.
//
// PyTorch (benchmarks/peers/training_pytorch.py, Debian's python3-torch, the same thread count)
// runs as a coprocess and the two take turns: the epoch is cut into R rounds (--rounds, default
// 6); in each round strata trains on the next chunk of images, then PyTorch trains on the same
// chunk (who goes first alternates from round to round), each timed. A slow spell of the shared
// 2-vCPU machine then hits both sides of a round, so the per-round ratios and the ratio of the
// medians are fair even when absolute rates swing (PyTorch alone measured 417–711 images/s in
// separate runs). Both sides see the images in the same fixed order: the file's, no shuffling.
// Round 1 is reported but left out of the medians: strata's algo::automatic times the
// convolution algorithms for batch 64 on its first steps, and both sides pay first-touch costs
// there. After the epoch each side runs inference on the test set once untimed (strata times its
// algorithms for batches 256 and 16 there), then 3 timed times, alternating.
//
// Usage: training [--data DIR] [--threads N] [--rounds N] [--limit N] [--no-peer]
#include <strata/zoo/fashion_net.hpp>
#include <strata/data/idx.hpp>
#include <strata/net/model.hpp>
#include <strata/train/fit.hpp>
#include <strata/train/schedule.hpp>
#include <strata/train/sgd.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "peers/peer_process.hpp"

using namespace strata;

using TorchInit = Init<init::fan_in_uniform>;
using Net = zoo::FashionNet<TorchInit>;

namespace {

constexpr std::int64_t batch = 64;

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

double seconds_of(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Images [first, first + count) of a data set, without copying: what fit() needs of a data set.
struct chunk_view {
  TensorView<const float, 4> images;
  TensorView<const std::int32_t, 1> labels;
};

chunk_view chunk_of(const data::labelled_images& d, std::int64_t first, std::int64_t count) {
  return {d.images.slice(first, count), d.labels.slice(first, count)};
}

// One timed training chunk or inference pass of one side.
struct timing {
  double seconds = NAN, value = NAN;  // value: mean loss (training) or accuracy (inference)
  double rate(std::int64_t images) const { return double(images) / seconds; }
};

// The PyTorch coprocess; empty after its first failure (the reason is kept in note).
struct torch_peer {
  std::unique_ptr<peer_process> process;
  std::string note;

  explicit operator bool() const { return bool(process); }
  // Sends a request answered by "SECONDS VALUE"; on anything else gives up on the peer.
  timing ask(const std::string& request) {
    timing t;
    if (!process) return t;
    const std::string reply = process->ask(request);
    std::istringstream in(reply);
    if (!(in >> t.seconds >> t.value) || !(t.seconds > 0)) {
      note = "PyTorch failed on '" + request + "': " + (reply.empty() ? std::string("no reply") : reply);
      process.reset();
      return {};
    }
    return t;
  }
};

std::string fixed_text(double v, int decimals, int width) {
  if (!std::isfinite(v)) return std::string(std::size_t(std::max(0, width - 3)), ' ') + "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%*.*f", width, decimals, v);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path data_dir = data::default_fashion_mnist_dir;
  int threads = 2, rounds = 6;
  std::int64_t limit = 0;
  bool peer = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--data" && i + 1 < argc) data_dir = argv[++i];
    else if (a == "--threads" && i + 1 < argc) threads = std::max(1, std::atoi(argv[++i]));
    else if (a == "--rounds" && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    else if (a == "--limit" && i + 1 < argc) limit = std::atoll(argv[++i]);
    else if (a == "--no-peer") peer = false;
    else {
      std::fprintf(stderr, "usage: %s [--data DIR] [--threads N] [--rounds N] [--limit N] [--no-peer]\n", argv[0]);
      return 2;
    }
  }
  set_num_threads(threads);

  // PyTorch first: it loads its copy of the data while nothing is timed.
  torch_peer torch;
  if (peer) {
    torch.process = std::make_unique<peer_process>(
        std::string(STRATA_SOURCE_DIR) + "/benchmarks/peers/training_pytorch.py",
        std::vector<std::string>{"--data", data_dir.string(), "--threads", std::to_string(threads)});
    if (torch.process->ready()) {
      torch.note = "PyTorch " + torch.process->version();
    } else {
      torch.note = "PyTorch not available (" + torch.process->status + "; scripts/setup --benchmarks installs python3-torch)";
      torch.process.reset();
    }
  } else {
    torch.note = "PyTorch skipped (--no-peer)";
  }

  const auto train_set = data::load_fashion_mnist(data_dir, data::split::train);
  const auto test_set = data::load_fashion_mnist(data_dir, data::split::test);
  const std::int64_t n = limit > 0 ? std::min(limit, train_set.images.extent(0)) : train_set.images.extent(0);
  const std::int64_t test_n = test_set.images.extent(0);

  // Chunks: a whole number of batches each, the last one takes what is left.
  const std::int64_t per_round = std::max<std::int64_t>(1, (n + rounds - 1) / rounds);
  const std::int64_t chunk = (per_round + batch - 1) / batch * batch;
  std::vector<std::pair<std::int64_t, std::int64_t>> chunks;  // (first, count)
  for (std::int64_t first = 0; first < n; first += chunk) chunks.emplace_back(first, std::min(chunk, n - first));
  rounds = int(chunks.size());

  std::printf("training benchmark: Fashion-MNIST CNN, %lld training images x 1 epoch in %d rounds, batch 64, SGD(lr 0.01, "
              "momentum 0.9), %d threads, GEMM via %s; %s\n",
              static_cast<long long>(n), rounds, threads, kernels::cpu::gemm_backend(), torch.note.c_str());
  std::printf("fixed order, no shuffling: both sides train on images 0..%lld in file order; in each round strata and "
              "PyTorch train on the same chunk, taking turns to go first\n",
              static_cast<long long>(n - 1));

  // A short last batch is a new shape for algo::automatic, which would time the convolution
  // algorithms for it in the middle of the last round: a throwaway model trains on one such batch
  // first, so the choice is recorded before anything is timed. (Batch 64 is left to round 1.)
  if (const std::int64_t tail = n % batch; tail != 0) {
    Model<Net> scratch(/*seed=*/2);
    train::SGD<float> scratch_sgd({.momentum = 0.9});
    train::fit(scratch, chunk_of(train_set, 0, tail), scratch_sgd, train::constant(0.01),
               train::fit_options{.epochs = 1, .batch_size = batch, .shuffle = false, .show_progress = false});
  }

  Model<Net> model(/*seed=*/1);
  train::SGD<float> sgd({.momentum = 0.9});  // one optimizer for the whole epoch: momentum carries over
  const train::fit_options options{.epochs = 1, .batch_size = batch, .shuffle = false, .show_progress = false};

  std::vector<timing> strata_train(chunks.size()), torch_train(chunks.size());
  std::vector<std::size_t> new_choices(chunks.size());
  std::printf("\n%-6s %-14s %-8s %12s %8s %14s %8s %8s  %s\n", "round", "images", "first", "strata img/s", "loss",
              "pytorch img/s", "loss", "ratio", "");
  for (std::size_t r = 0; r < chunks.size(); ++r) {
    const auto [first, count] = chunks[r];
    const auto data = chunk_of(train_set, first, count);
    auto run_strata = [&] {
      const std::size_t before = algo::conv_choices().size();
      std::vector<train::epoch_report> history;
      strata_train[r].seconds = seconds_of([&] { history = train::fit(model, data, sgd, train::constant(0.01), options); });
      strata_train[r].value = history.empty() ? NAN : history.back().train_loss;
      new_choices[r] = algo::conv_choices().size() - before;
    };
    auto run_torch = [&] {
      if (torch) torch_train[r] = torch.ask("train " + std::to_string(first) + " " + std::to_string(count));
    };
    const bool strata_first = r % 2 == 0;
    if (strata_first) run_strata(), run_torch();
    else run_torch(), run_strata();

    const double s = strata_train[r].rate(count), p = torch_train[r].rate(count);
    std::string note = r == 0 ? "not in the medians" : "";
    if (new_choices[r]) note += std::string(note.empty() ? "" : "; ") + "strata timed " + std::to_string(new_choices[r]) +
                                " convolution algorithm choices";
    const std::string range = std::to_string(first) + "-" + std::to_string(first + count - 1);
    std::printf("%-6zu %-14s %-8s %12.1f %8.4f %14s %8s %8s  %s\n", r + 1, range.c_str(),
                !torch ? "-" : strata_first ? "strata" : "pytorch",
                s, strata_train[r].value, fixed_text(p, 1, 14).c_str(), fixed_text(torch_train[r].value, 4, 8).c_str(),
                fixed_text(s / p, 3, 8).c_str(), note.c_str());
    std::fflush(stdout);
  }

  // Medians over rounds 2…R (round 1 alone when there is only one round).
  const std::size_t from = chunks.size() > 1 ? 1 : 0;
  std::vector<double> strata_rates, torch_rates, ratios;
  double strata_total_seconds = 0, torch_total_seconds = 0;
  for (std::size_t r = 0; r < chunks.size(); ++r) {
    strata_total_seconds += strata_train[r].seconds;
    torch_total_seconds += torch_train[r].seconds;
    if (r < from) continue;
    const double s = strata_train[r].rate(chunks[r].second), p = torch_train[r].rate(chunks[r].second);
    strata_rates.push_back(s);
    if (std::isfinite(p)) torch_rates.push_back(p), ratios.push_back(s / p);
  }
  const bool have_torch_train = torch_rates.size() == strata_rates.size() && !torch_rates.empty();
  const double strata_train_rate = median(strata_rates);
  const double torch_train_rate = have_torch_train ? median(torch_rates) : NAN;
  const double train_ratio = strata_train_rate / torch_train_rate;
  const double ratio_min = have_torch_train ? *std::min_element(ratios.begin(), ratios.end()) : NAN;
  const double ratio_max = have_torch_train ? *std::max_element(ratios.begin(), ratios.end()) : NAN;
  // The median of the per-round ratios pairs each round's two timings, so it is the steadier
  // figure when the machine's load changes between rounds; the RESULT line keeps the ratio of
  // the medians.
  const double ratio_median = have_torch_train ? median(ratios) : NAN;
  std::printf("%-6s %-14s %-8s %12.1f %8s %14s %8s %8s  rounds %zu-%zu; per-round ratios %s to %s, their median %s\n",
              "median", "", "", strata_train_rate, "", fixed_text(torch_train_rate, 1, 14).c_str(), "",
              fixed_text(train_ratio, 3, 8).c_str(), from + 1, chunks.size(), fixed_text(ratio_min, 3, 0).c_str(),
              fixed_text(ratio_max, 3, 0).c_str(), fixed_text(ratio_median, 3, 0).c_str());
  std::printf("%-6s %-14s %-8s %12.1f %8s %14s %8s %8s  all rounds, round 1 included\n", "epoch", "", "",
              double(n) / strata_total_seconds, "", fixed_text(double(n) / torch_total_seconds, 1, 14).c_str(), "",
              fixed_text(torch_total_seconds / strata_total_seconds, 3, 8).c_str());

  // Inference: one untimed pass each, then 3 timed ones, alternating who goes first.
  const int infer_reps = 3;
  std::vector<timing> strata_infer, torch_infer;
  timing strata_warm, torch_warm;
  auto infer_strata = [&] {
    timing t;
    train::evaluation e;
    t.seconds = seconds_of([&] { e = train::evaluate(model, test_set, 256); });
    t.value = e.accuracy;
    return t;
  };
  auto infer_torch = [&] { return torch ? torch.ask("infer") : timing{}; };
  strata_warm = infer_strata();
  torch_warm = infer_torch();
  for (int k = 0; k < infer_reps; ++k) {
    if (k % 2 == 0) torch_infer.push_back(infer_torch()), strata_infer.push_back(infer_strata());
    else strata_infer.push_back(infer_strata()), torch_infer.push_back(infer_torch());
  }
  std::vector<double> si, ti;
  for (const auto& t : strata_infer) si.push_back(t.rate(test_n));
  for (const auto& t : torch_infer)
    if (std::isfinite(t.seconds)) ti.push_back(t.rate(test_n));
  const double strata_infer_rate = median(si);
  const double torch_infer_rate = ti.size() == si.size() ? median(ti) : NAN;
  const double infer_ratio = strata_infer_rate / torch_infer_rate;
  const double strata_acc = strata_infer.back().value;
  const double torch_acc = torch ? torch_infer.back().value : NAN;

  std::printf("\ninference on the %lld test images, batch 256 (images/s; one untimed pass each first, then %d timed, "
              "alternating):\n",
              static_cast<long long>(test_n), infer_reps);
  std::printf("%-8s %10s", "", "untimed");
  for (int k = 0; k < infer_reps; ++k) std::printf(" %9s%d", "pass ", k + 1);
  std::printf(" %10s\n", "median");
  std::printf("%-8s %10.1f", "strata", strata_warm.rate(test_n));
  for (const auto& t : strata_infer) std::printf(" %10.1f", t.rate(test_n));
  std::printf(" %10.1f\n", strata_infer_rate);
  std::printf("%-8s %10s", "pytorch", fixed_text(torch_warm.rate(test_n), 1, 10).c_str());
  for (const auto& t : torch_infer) std::printf(" %10s", fixed_text(t.rate(test_n), 1, 10).c_str());
  std::printf(" %10s\n", fixed_text(torch_infer_rate, 1, 10).c_str());

  double torch_peak = NAN;
  if (torch) {
    const std::string reply = torch.process->ask("peak");
    char* end = nullptr;
    const double v = std::strtod(reply.c_str(), &end);
    if (end != reply.c_str()) torch_peak = v;
  }
  const double strata_peak = peak_rss_mib();

  std::printf("\n%-8s %16s %16s %10s %10s\n", "", "train img/s", "infer img/s", "test acc", "peak MiB");
  std::printf("%-8s %16.1f %16.1f %9.2f%% %10.0f\n", "strata", strata_train_rate, strata_infer_rate, 100 * strata_acc,
              strata_peak);
  if (have_torch_train)
    std::printf("%-8s %16.1f %16s %9.2f%% %10s\n", "pytorch", torch_train_rate, fixed_text(torch_infer_rate, 1, 16).c_str(),
                100 * torch_acc, fixed_text(torch_peak, 0, 10).c_str());
  else
    std::printf("(%s)\n", torch.note.c_str());
  std::printf("%-8s %16s %16s\n", "ratio", fixed_text(train_ratio, 3, 16).c_str(), fixed_text(infer_ratio, 3, 16).c_str());
  std::printf("(train img/s: median of rounds %zu-%zu; ratio: strata's median / PyTorch's; peak MiB: each process's "
              "peak resident memory, data sets included)\n",
              from + 1, chunks.size());

  // Ratios and PyTorch's numbers print as n/a without a peer.
  std::printf("\nRESULT train_vs_pytorch=%s inference_vs_pytorch=%s train_ratio_min=%s train_ratio_max=%s "
              "test_acc_1epoch=%.4f train_images_per_second=%.1f inference_images_per_second=%.1f pytorch_test_acc=%s "
              "peak_mib=%.0f\n",
              fixed_text(train_ratio, 3, 0).c_str(), fixed_text(infer_ratio, 3, 0).c_str(), fixed_text(ratio_min, 3, 0).c_str(),
              fixed_text(ratio_max, 3, 0).c_str(), strata_acc, strata_train_rate, strata_infer_rate,
              fixed_text(torch_acc, 4, 0).c_str(), strata_peak);
  return 0;
}
