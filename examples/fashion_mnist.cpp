// Fashion-MNIST with a small CNN, end to end: the network is a type (its summary is computed at
// compile time and printed first), trained with SGD + Nesterov momentum under a warm-up + cosine
// schedule, evaluated on the test set after every epoch, saved, and reloaded to check the file.
// The training curves go to TensorBoard event files and a CSV file (--log DIR, default runs/):
// watch them with `tensorboard --logdir runs`.
//
//   fashion_mnist [--data DIR] [--epochs N] [--batch N] [--lr X] [--out FILE] [--threads N] [--log DIR | --no-log]
#include <strata/zoo/fashion_net.hpp>
#include <strata/data/idx.hpp>
#include <strata/layers/conv.hpp>
#include <strata/layers/dense.hpp>
#include <strata/layers/max_pool.hpp>
#include <strata/layers/relu.hpp>
#include <strata/net/model.hpp>
#include <strata/io/model_file.hpp>
#include <strata/net/summary.hpp>
#include <strata/train/fit.hpp>
#include <strata/train/schedule.hpp>
#include <strata/train/sgd.hpp>
#include <strata/train/training_log.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

using namespace strata;

// conv 5×5×32 pad 2 – ReLU – max pool 2 – conv 5×5×64 pad 2 – ReLU – max pool 2 – dense 1024 –
// ReLU – dense 10, the network of the issue (and of PyTorch's and dlib's MNIST examples).
using FashionNet = zoo::FashionNet<>;

int main(int argc, char** argv) {
  std::filesystem::path data_dir = data::default_fashion_mnist_dir, out = "fashion_mnist.strata", log_dir = "runs";
  int epochs = 5;
  std::int64_t batch = 64, limit = 0;
  double lr = 0.05;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* what) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fashion_mnist: %s needs a value\n", what);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--data") data_dir = value("--data");
    else if (a == "--epochs") epochs = std::stoi(value("--epochs"));
    else if (a == "--batch") batch = std::stoll(value("--batch"));
    else if (a == "--lr") lr = std::stod(value("--lr"));
    else if (a == "--out") out = value("--out");
    else if (a == "--threads") set_num_threads(std::stoi(value("--threads")));
    else if (a == "--limit") limit = std::stoll(value("--limit"));
    else if (a == "--log") log_dir = value("--log");
    else if (a == "--no-log") log_dir.clear();
    else if (a == "--quick") quick = true, epochs = 1, limit = 3000;  // what the test suite runs
    else {
      std::fprintf(stderr, "usage: %s [--data DIR] [--epochs N] [--batch N] [--lr X] [--out FILE] [--threads N] [--limit N] [--log DIR | --no-log] [--quick]\n",
                   argv[0]);
      return 2;
    }
  }

  std::cout << "The network, from its type alone:\n\n";
  print_summary<FashionNet>(std::cout, batch);

  data::labelled_images train_set, test_set;
  try {
    train_set = data::load_fashion_mnist(data_dir, data::split::train);
    test_set = data::load_fashion_mnist(data_dir, data::split::test);
  } catch (const data::data_error& e) {
    std::cerr << "\ncannot read Fashion-MNIST: " << e.what()
              << "\n(install Debian's dataset-fashion-mnist, run scripts/setup, or pass --data DIR)\n";
    return quick ? 77 : 1;  // 77: the test suite reports a skip
  }
  if (limit > 0) {  // the first `limit` training images and a third as many test images
    train_set = train_set.first(limit);
    test_set = test_set.first(std::max<std::int64_t>(1, limit / 3));
  }
  std::cout << "\nFashion-MNIST from " << data_dir.string() << ": " << train_set.images.extent(0) << " training and "
            << test_set.images.extent(0) << " test images; " << num_threads() << " threads, GEMM via "
            << kernels::cpu::gemm_backend() << "\n\n";

  Model<FashionNet> model(/*seed=*/1);
  train::SGD<float> sgd({.momentum = 0.9, .weight_decay = 5e-4, .nesterov = true});
  const std::int64_t steps_per_epoch = train::steps_per_epoch(train_set.images.extent(0), batch);
  // Half an epoch of linear warm-up, then a cosine decay to zero at the end of training.
  const auto schedule = train::warmup(steps_per_epoch / 2, train::cosine(lr, epochs * steps_per_epoch));
  train::fit_options options{.epochs = epochs, .batch_size = batch, .shuffle = true, .shuffle_seed = 7};
  // Loss, accuracy, learning rate and images/s every 10 steps; test results and weight/gradient
  // histograms every epoch.
  std::unique_ptr<train::training_log> log;
  if (!log_dir.empty()) {
    log = std::make_unique<train::training_log>(
        train::training_log_options{.tensorboard_dir = log_dir / "fashion_mnist", .csv_file = log_dir / "fashion_mnist.csv"});
    options.log = log.get();
    options.log_every = 10;
  }

  double best = 0;
  train::fit(model, train_set, sgd, schedule, options, &test_set, [&](const train::epoch_report& r) {
    if (r.epoch == 1) {  // the convolution algorithms automatic chose, timed on the first batches
      std::printf("\nconvolution algorithms chosen:\n");
      for (const auto& c : algo::conv_choices()) {
        std::printf("  %-34s %-16s %-12s", c.layer.c_str(), algo::name_of(c.pass), c.algorithm.c_str());
        for (const auto& [name, ms] : c.milliseconds) std::printf("  %s %.2f ms", name.c_str(), ms);
        std::printf("\n");
      }
    }
    best = std::max(best, r.test_accuracy);
    std::printf("epoch %d: train loss %.4f, train accuracy %.2f%%, test accuracy %.2f%%, %.0f images/s\n", r.epoch,
                r.train_loss, 100 * r.train_accuracy, 100 * r.test_accuracy, r.images_per_second);
    std::fflush(stdout);
  });

  if (log) {
    log->flush();
    std::printf("\ntraining curves in %s: tensorboard --logdir %s (and %s)\n", (log_dir / "fashion_mnist").string().c_str(),
                log_dir.string().c_str(), (log_dir / "fashion_mnist.csv").string().c_str());
  }
  model.save(out);
  Model<FashionNet> reloaded(/*seed=*/12345);
  reloaded.load(out);
  const auto check = train::evaluate(reloaded, test_set);
  std::printf("\nsaved to %s (%.1f MiB) and reloaded: test accuracy %.2f%%\n", out.string().c_str(),
              double(std::filesystem::file_size(out)) / (1024 * 1024), 100 * check.accuracy);
  if (quick) {  // a short run must still learn: far above chance (10%)
    std::printf("quick run: %.2f%% test accuracy on %lld images after one epoch on %lld\n", 100 * check.accuracy,
                static_cast<long long>(test_set.size()), static_cast<long long>(train_set.size()));
    return check.accuracy >= 0.6 ? 0 : 1;
  }
  std::printf("%s: %.2f%% test accuracy after %d epochs (goal: at least 91%%)\n", check.accuracy >= 0.91 ? "reached" : "missed",
              100 * check.accuracy, epochs);
  return 0;
}
