// benchmarks/training — How fast does strata train and run the Fashion-MNIST CNN on this CPU,
// against PyTorch doing exactly the same thing? One epoch: the network, SGD (momentum
// 0.9, lr 0.01, no schedule), batch 64, PyTorch's default initialisation (U(±1/√fan_in)), then
// test-set inference in batches of 256; training and inference images/s, test accuracy and peak
// memory. PyTorch (benchmarks/peers/training_pytorch.py, Debian's python3-torch) runs in the
// same invocation, after strata, with the same thread count.
//
// Usage: training [--data DIR] [--threads N] [--epochs N] [--limit N] [--no-peer]
#include <strata/zoo/fashion_net.hpp>
#include <strata/data/idx.hpp>
#include <strata/layers/conv.hpp>
#include <strata/layers/dense.hpp>
#include <strata/layers/max_pool.hpp>
#include <strata/layers/relu.hpp>
#include <strata/net/model.hpp>
#include <strata/train/fit.hpp>
#include <strata/train/schedule.hpp>
#include <strata/train/sgd.hpp>

#include <sys/resource.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

using namespace strata;

using TorchInit = Init<init::fan_in_uniform>;
using Net = zoo::FashionNet<TorchInit>;

namespace {

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;
}

// key=value pairs of the last line starting with "RESULT " in text.
std::map<std::string, std::string> parse_result(const std::string& text) {
  std::map<std::string, std::string> kv;
  std::istringstream lines(text);
  std::string line, last;
  while (std::getline(lines, line))
    if (line.rfind("RESULT ", 0) == 0) last = line;
  std::istringstream words(last.substr(last.empty() ? 0 : 7));
  std::string w;
  while (words >> w)
    if (const auto eq = w.find('='); eq != std::string::npos) kv[w.substr(0, eq)] = w.substr(eq + 1);
  return kv;
}

std::string run_command(const std::string& command) {
  std::array<char, 4096> buf{};
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return out;
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), pipe.get())) out += buf.data();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path data_dir = data::default_fashion_mnist_dir;
  int threads = 2, epochs = 1;
  std::int64_t limit = 0;
  bool peer = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--data" && i + 1 < argc) data_dir = argv[++i];
    else if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--epochs" && i + 1 < argc) epochs = std::atoi(argv[++i]);
    else if (a == "--limit" && i + 1 < argc) limit = std::atoll(argv[++i]);
    else if (a == "--no-peer") peer = false;
    else {
      std::fprintf(stderr, "usage: %s [--data DIR] [--threads N] [--epochs N] [--limit N] [--no-peer]\n", argv[0]);
      return 2;
    }
  }
  set_num_threads(threads);

  auto train_set = data::load_fashion_mnist(data_dir, data::split::train);
  const auto test_set = data::load_fashion_mnist(data_dir, data::split::test);
  if (limit > 0 && limit < train_set.images.extent(0)) {
    train_set.images = Tensor<float, 4>(train_set.images.slice(0, limit));
    train_set.labels = Tensor<std::int32_t, 1>(train_set.labels.slice(0, limit));
  }
  const std::int64_t n = train_set.images.extent(0);

  Model<Net> model(/*seed=*/1);
  train::SGD<float> sgd({.momentum = 0.9});
  train::fit_options options{.epochs = epochs, .batch_size = 64, .shuffle = true, .shuffle_seed = 1};
  options.progress.display = train::display_mode::lines;
  const auto history = train::fit(model, train_set, sgd, train::constant(0.01), options);
  double train_seconds = 0;
  for (const auto& h : history) train_seconds += h.seconds;
  const double train_rate = double(n) * epochs / train_seconds;

  const auto t0 = std::chrono::steady_clock::now();
  const auto result = train::evaluate(model, test_set, 256);
  const double infer_rate =
      double(result.samples) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double strata_peak = peak_rss_mib();

  std::map<std::string, std::string> torch;
  std::string peer_note;
  if (peer) {
    const std::filesystem::path script = std::filesystem::path(STRATA_SOURCE_DIR) / "benchmarks/peers/training_pytorch.py";
    const std::string check = run_command("/usr/bin/python3 -c 'import torch' 2>&1 && echo ok");
    if (check.find("ok") == std::string::npos) {
      peer_note = "PyTorch not available (/usr/bin/python3 cannot import torch; scripts/setup --benchmarks installs it)";
    } else {
      std::ostringstream cmd;
      cmd << "/usr/bin/python3 " << script << " --data " << data_dir << " --threads " << threads << " --epochs " << epochs;
      if (limit > 0) cmd << " --limit " << limit;
      torch = parse_result(run_command(cmd.str() + " 2>/dev/null"));
      if (torch.empty()) peer_note = "the PyTorch script produced no RESULT line";
    }
  } else {
    peer_note = "PyTorch skipped (--no-peer)";
  }

  auto value = [&](const char* k) { return torch.count(k) ? std::stod(torch[k]) : 0.0; };
  std::printf("\ntraining benchmark: Fashion-MNIST CNN, %lld images x %d epoch(s), batch 64, SGD(0.01, momentum 0.9), %d threads, GEMM via %s\n\n",
              static_cast<long long>(n), epochs, threads, kernels::cpu::gemm_backend());
  std::printf("%-10s %14s %14s %10s %10s\n", "", "train img/s", "infer img/s", "test acc", "peak MiB");
  std::printf("%-10s %14.1f %14.1f %9.2f%% %10.0f\n", "strata", train_rate, infer_rate, 100 * result.accuracy, strata_peak);
  if (!torch.empty())
    std::printf("%-10s %14.1f %14.1f %9.2f%% %10.0f\n", "pytorch", value("train_images_per_second"),
                value("inference_images_per_second"), 100 * value("test_accuracy"), value("peak_rss_mib"));
  else
    std::printf("(%s)\n", peer_note.c_str());
  const double train_ratio = torch.empty() ? 0.0 : train_rate / value("train_images_per_second");
  const double infer_ratio = torch.empty() ? 0.0 : infer_rate / value("inference_images_per_second");
  std::printf("\nRESULT train_vs_pytorch=%.3f inference_vs_pytorch=%.3f test_acc_1epoch=%.4f train_images_per_second=%.1f "
              "inference_images_per_second=%.1f pytorch_test_acc=%.4f peak_mib=%.0f\n",
              train_ratio, infer_ratio, result.accuracy, train_rate, infer_rate, value("test_accuracy"), strata_peak);
  return 0;
}
