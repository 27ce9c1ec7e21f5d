// examples/low_precision — the lecture's precision claims, reproduced by changing one template
// argument of the demo network (zoo::FashionNet) on Fashion-MNIST:
//   - Gupta et al. 2015: 16-bit fixed point trains like fp32 when rounding is stochastic, while
//     with few fraction bits rounding to nearest stalls (fixed<16, F> and fixed<16, F, nearest>);
//   - Micikevicius et al. 2017: fp16 storage with fp32 master weights and loss scaling trains like
//     fp32 (half);
//   - Courbariaux et al. 2014: dynamic fixed point with 10-bit propagation and 12-bit parameter
//     updates trains close to fp32 (dynamic_fixed<10, 12>; dynamic_fixed<10, 10> for contrast).
// Every model starts from the same seed, sees the same batches in the same order with the same
// schedule, and is evaluated on the same test set; the table shows test accuracy per epoch, then
// each model's training memory. Fixed-point models (static and dynamic) run integer kernels for
// every product (convolutions: the conv_choices below; dense layers: the int16 GEMM).
//
// Usage: low_precision [--epochs N] [--limit N] [--fractions 8,10,12] [--only fp32,fp16,fixed,dynamic] [--threads N]
//                      [--data DIR] [--quick]
#include <strata/data/idx.hpp>
#include <strata/kernels/conv_choices.hpp>
#include <strata/net/model.hpp>
#include <strata/net/summary.hpp>
#include <strata/train/fit.hpp>
#include <strata/train/schedule.hpp>
#include <strata/train/sgd.hpp>
#include <strata/zoo/fashion_net.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace strata;
using Net = zoo::FashionNet<>;

namespace {

struct settings {
  int epochs = 5;
  std::int64_t batch = 64, limit = 0;
  double lr = 0.05;
};

struct run_result {
  std::string name;
  std::vector<double> accuracy;  // test accuracy per epoch
  memory_estimate memory;
  double seconds = 0;
  std::string note;
};

template <class T>
run_result train_one(const std::string& name, const data::labelled_images& train_set, const data::labelled_images& test_set,
                     const settings& s) {
  run_result r{name, {}, memory<Net, T>(s.batch), 0, {}};
  Model<Net, T> model(/*seed=*/1);
  train::SGD<T> sgd({.momentum = 0.9, .weight_decay = 5e-4, .nesterov = true}, /*rounding_seed=*/3);
  const std::int64_t steps = train::steps_per_epoch(train_set.images.extent(0), s.batch);
  const auto schedule = train::warmup(steps / 2, train::cosine(s.lr, s.epochs * steps));
  const train::fit_options options{.epochs = s.epochs, .batch_size = s.batch, .shuffle = true, .shuffle_seed = 7,
                                   .show_progress = false};
  std::int64_t skipped = 0;
  double scale = 1;
  train::fit(model, train_set, sgd, schedule, options, &test_set, [&](const train::epoch_report& e) {
    r.accuracy.push_back(e.test_accuracy);
    r.seconds += e.seconds;
    skipped += e.skipped_steps;
    scale = e.loss_scale;
    std::printf("  %-22s epoch %d: test accuracy %6.2f%%  (%.0f images/s)\n", name.c_str(), e.epoch, 100 * e.test_accuracy,
                e.images_per_second);
    std::fflush(stdout);
  });
  if (train::scales_loss<T>)
    r.note = "fp32 master weights; loss scale now " + std::to_string(std::int64_t(scale)) + ", " + std::to_string(skipped) +
             " steps skipped (overflow)";
  return r;
}

// What the convolutions of precision `name` ran (the integer kernels have no other algorithms).
std::string algorithms_of(const char* precision) {
  std::set<std::string> seen;
  for (const auto& c : algo::conv_choices())
    if (c.precision == precision) seen.insert(c.algorithm);
  std::string out;
  for (const auto& a : seen) out += (out.empty() ? "" : ", ") + a;
  return out;
}

template <int F>
void train_fixed(std::vector<run_result>& results, const data::labelled_images& tr, const data::labelled_images& te,
                 const settings& s) {
  using stochastic = fixed<16, F>;
  using nearest = fixed<16, F, rounding::nearest>;
  results.push_back(train_one<stochastic>(precision_traits<stochastic>::name, tr, te, s));
  results.back().note = "integer kernels: conv " + algorithms_of(precision_traits<stochastic>::name) + " (int16), dense int16 GEMM";
  results.push_back(train_one<nearest>(precision_traits<nearest>::name, tr, te, s));
  results.back().note = "integer kernels: conv " + algorithms_of(precision_traits<nearest>::name) + " (int16), dense int16 GEMM";
}

// Courbariaux et al.'s dynamic fixed point: Bits-bit mantissas as the network propagates,
// UpdateBits in the optimizer's copy, one exponent per tensor.
template <int Bits, int UpdateBits>
void train_dynamic(std::vector<run_result>& results, const data::labelled_images& tr, const data::labelled_images& te,
                   const settings& s) {
  using T = dynamic_fixed<Bits, UpdateBits>;
  results.push_back(train_one<T>(precision_traits<T>::name, tr, te, s));
  results.back().note = "integer kernels: conv " + algorithms_of(precision_traits<T>::name) +
                        " (int16 mantissas), dense int16 GEMM; one exponent per tensor";
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path data_dir = data::default_fashion_mnist_dir;
  settings s;
  std::set<int> fractions{8, 10, 12};
  std::set<std::string> only{"fp32", "fp16", "fixed", "dynamic"};
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* what) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "low_precision: %s needs a value\n", what);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--data") data_dir = value("--data");
    else if (a == "--epochs") s.epochs = std::stoi(value("--epochs"));
    else if (a == "--limit") s.limit = std::stoll(value("--limit"));
    else if (a == "--threads") set_num_threads(std::stoi(value("--threads")));
    else if (a == "--fractions") {
      fractions.clear();
      std::stringstream list(value("--fractions"));
      for (std::string f; std::getline(list, f, ',');) fractions.insert(std::stoi(f));
    } else if (a == "--only") {
      only.clear();
      std::stringstream list(value("--only"));
      for (std::string p; std::getline(list, p, ',');) {
        if (p != "fp32" && p != "fp16" && p != "fixed" && p != "dynamic") {
          std::fprintf(stderr, "low_precision: --only takes fp32, fp16, fixed and dynamic, got '%s'\n", p.c_str());
          return 2;
        }
        only.insert(p);
      }
    } else if (a == "--quick") quick = true, s.epochs = 1, s.limit = 3000, fractions = {10};
    else {
      std::fprintf(stderr, "usage: %s [--epochs N] [--limit N] [--fractions 8,10,12] [--only fp32,fp16,fixed,dynamic] [--threads N] "
                   "[--data DIR] [--quick]\n", argv[0]);
      return 2;
    }
  }
  for (int f : fractions)
    if (f != 6 && f != 8 && f != 9 && f != 10 && f != 11 && f != 12 && f != 14) {
      std::fprintf(stderr, "low_precision: --fractions takes 6, 8, 9, 10, 11, 12 and 14 (each is its own type, compiled in)\n");
      return 2;
    }

  data::labelled_images train_set, test_set;
  try {
    train_set = data::load_fashion_mnist(data_dir, data::split::train);
    test_set = data::load_fashion_mnist(data_dir, data::split::test);
  } catch (const data::data_error& e) {
    std::cerr << "cannot read Fashion-MNIST: " << e.what()
              << "\n(install Debian's dataset-fashion-mnist, run scripts/setup, or pass --data DIR)\n";
    return quick ? 77 : 1;  // 77: the test suite reports a skip
  }
  if (s.limit > 0) {  // the first `limit` training images and a third as many test images
    train_set = train_set.first(s.limit);
    test_set = test_set.first(std::max<std::int64_t>(1, s.limit / 3));
  }
  std::printf("Fashion-MNIST: %lld training and %lld test images, %d epochs, batch %lld, %d threads\n\n",
              static_cast<long long>(train_set.size()), static_cast<long long>(test_set.size()), s.epochs,
              static_cast<long long>(s.batch), num_threads());

  std::vector<run_result> results;
  if (only.count("fp32")) results.push_back(train_one<float>("fp32", train_set, test_set, s));
  if (only.count("fp16")) results.push_back(train_one<half>("fp16 (mixed)", train_set, test_set, s));
  if (!only.count("fixed")) fractions.clear();
  if (fractions.count(6)) train_fixed<6>(results, train_set, test_set, s);
  if (fractions.count(8)) train_fixed<8>(results, train_set, test_set, s);
  if (fractions.count(9)) train_fixed<9>(results, train_set, test_set, s);
  if (fractions.count(10)) train_fixed<10>(results, train_set, test_set, s);
  if (fractions.count(11)) train_fixed<11>(results, train_set, test_set, s);
  if (fractions.count(12)) train_fixed<12>(results, train_set, test_set, s);
  if (fractions.count(14)) train_fixed<14>(results, train_set, test_set, s);
  if (only.count("dynamic")) {
    train_dynamic<10, 12>(results, train_set, test_set, s);
    if (!quick) train_dynamic<10, 10>(results, train_set, test_set, s);  // the same without wider updates
  }

  std::printf("\nTest accuracy (%%) per epoch:\n\n%-7s", "epoch");
  for (const auto& r : results) std::printf(" %22s", r.name.c_str());
  std::printf("\n");
  for (int e = 0; e < s.epochs; ++e) {
    std::printf("%-7d", e + 1);
    for (const auto& r : results) std::printf(" %22.2f", 100 * r.accuracy[std::size_t(e)]);
    std::printf("\n");
  }
  if (only.count("fp32")) {
    std::printf("%-7s", "Δ fp32");
    for (const auto& r : results) std::printf(" %+22.2f", 100 * (r.accuracy.back() - results.front().accuracy.back()));
  }
  std::printf("\n\nTraining memory at batch %lld (parameters + gradients + optimizer state + activations + input):\n\n",
              static_cast<long long>(s.batch));
  for (const auto& r : results)
    std::printf("  %-22s %8.1f MiB  (parameters %.1f MiB)  %5.0f s  %s\n", r.name.c_str(), double(r.memory.total()) / (1 << 20),
                double(r.memory.parameters) / (1 << 20), r.seconds, r.note.c_str());
  if (quick) {  // a short run must still learn, in every precision: far above chance (10%)
    bool ok = true;
    for (const auto& r : results) ok = ok && r.accuracy.back() >= 0.5;
    std::printf("\nquick run: %s\n", ok ? "every precision learned (≥ 50% after one epoch on 3000 images)" : "a precision did not learn");
    return ok ? 0 : 1;
  }
  return 0;
}
