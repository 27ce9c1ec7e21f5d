// The lecture's transfer-learning table, on real data: how to learn five Fashion-MNIST classes
// (5–9: sandal, shirt, sneaker, bag, ankle boot) from 10 or 100 labelled images per class, four
// ways —
//   scratch    strata's FashionNet (5 outputs) trained from random weights;
//   features   ImageNet EfficientNet-Lite0 as a frozen feature extractor (1280 features after
//              global pooling, computed once) and a linear classifier trained on them;
//   fine-tune  the same network with a new 5-way head, blocks 12–15 and the head convolution
//              trained at 1/10 of the rate, the head at the full rate, blocks 0–11 frozen (their
//              output is computed once and cached);
//   fashion    FashionNet trained on the other five classes (0–4, all 30,000 images), its
//              convolutions frozen, its dense layer at 1/10, a new 5-way head at the full rate.
// Images go to EfficientNet resized to 224×224 (bilinear), replicated to three channels and
// normalised as its ImageNet training was, (pixel − 127) / 128. Accuracy is on the test images
// of classes 5–9 (5,000); time is wall time on this machine, extraction included.
//
//   transfer [--data DIR] [--pretrained DIR] [--shots 10,100] [--test N] [--threads N] [--quick]
//
// --quick (what the test suite runs): 10 shots, 200 test images, one source epoch, convolution
// algorithms by the rule of thumb instead of timing them.
//
// Needs scripts/fetch-pretrained (the ONNX file) and Fashion-MNIST (scripts/setup). Ends with
//   RESULT scratch_10=… features_10=… finetune_10=… fashion_10=… scratch_100=… … (accuracies)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "strata/augment/resize.hpp"
#include "strata/data/idx.hpp"
#include "strata/io/model_file.hpp"
#include "strata/io/onnx/import.hpp"
#include "strata/net/model.hpp"
#include "strata/net/network_edit.hpp"
#include "strata/train/feature_cache.hpp"
#include "strata/train/fine_tuning.hpp"
#include "strata/train/fit.hpp"
#include "strata/train/schedule.hpp"
#include "strata/train/sgd.hpp"
#include "strata/zoo/efficientnet_lite.hpp"
#include "strata/zoo/fashion_net.hpp"

using namespace strata;
namespace fs = std::filesystem;

namespace {

using Lite = zoo::EfficientNetLite0<>;
constexpr std::size_t cached_layers = 16;  // stem (4 layers) and blocks 0–11: frozen in every use
constexpr std::size_t body_layers = 24;    // through global average pooling
using Bottom = take_layers_t<Lite, cached_layers>;
using FeatureTop = drop_layers_t<take_layers_t<Lite, body_layers>, cached_layers>;  // blocks 12–15 … pooling
using TunedTop = replace_head_t<drop_layers_t<Lite, cached_layers>, Dense<5>>;       // … dropout, new head
using LinearHead = Sequential<Input<1280>, Dense<5>>;
using Small = replace_head_t<zoo::FashionNet<>, Dense<5>>;

struct settings {
  fs::path data_dir = data::default_fashion_mnist_dir, pretrained = "build/pretrained";
  std::vector<std::int64_t> shots = {10, 100};
  std::int64_t test = 0;  // 0: all 5,000
  int source_epochs = 2;
  bool quick = false;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The images of `classes` (relabelled 0, 1, …), at most `per_class` of each (0: all), in order.
data::labelled_images select(const data::labelled_images& all, const std::vector<int>& classes, std::int64_t per_class) {
  std::vector<std::int64_t> picked;
  std::vector<std::int64_t> count(classes.size(), 0);
  for (std::int64_t i = 0; i < all.labels.size(); ++i) {
    const auto it = std::find(classes.begin(), classes.end(), all.labels.data()[i]);
    if (it == classes.end()) continue;
    auto& c = count[std::size_t(it - classes.begin())];
    if (per_class > 0 && c >= per_class) continue;
    ++c;
    picked.push_back(i);
  }
  const std::int64_t n = std::int64_t(picked.size()), per = 28 * 28;
  data::labelled_images out{Tensor<float, 4>(Shape{n, 1, 28, 28}), Tensor<std::int32_t, 1>(Shape<1>{n}),
                            std::int64_t(classes.size())};
  for (std::int64_t k = 0; k < n; ++k) {
    const std::int64_t i = picked[std::size_t(k)];
    std::copy(all.images.data() + i * per, all.images.data() + (i + 1) * per, out.images.data() + k * per);
    const auto it = std::find(classes.begin(), classes.end(), all.labels.data()[i]);
    out.labels.data()[k] = std::int32_t(it - classes.begin());
  }
  return out;
}

// Images [first, first + n) as EfficientNet input: 224×224, three channels, (pixel − 127) / 128.
Tensor<float, 2> to_imagenet_input(const data::labelled_images& d, std::int64_t first, std::int64_t n) {
  constexpr std::int64_t side = 224, plane = side * side;
  Tensor<float, 2> out(Shape{n, 3 * plane});
  for (std::int64_t k = 0; k < n; ++k) {
    image<float> small(28, 28, 1);
    std::copy(d.images.data() + (first + k) * 784, d.images.data() + (first + k + 1) * 784, &small(0, 0, 0));
    image<float> big;
    augment::resize<float>(small.view(), big, {side, side});
    float* o = out.data() + k * 3 * plane;
    for (std::int64_t y = 0; y < side; ++y)
      for (std::int64_t x = 0; x < side; ++x) o[y * side + x] = (big(y, x, 0) * 255.0f - 127.0f) / 128.0f;
    std::copy(o, o + plane, o + plane);
    std::copy(o, o + plane, o + 2 * plane);
  }
  return out;
}

// The frozen bottom's output for every image (computed in chunks: 224×224 inputs are large).
train::feature_set run_bottom(Model<Bottom, float>& bottom, const data::labelled_images& d) {
  constexpr std::int64_t chunk = 100, F = Bottom::output_shape::elements;
  const std::int64_t n = d.labels.size();
  train::feature_set f{Tensor<float, 2>(Shape{n, F}), Tensor<std::int32_t, 1>(d.labels.shape()), d.classes};
  std::copy(d.labels.data(), d.labels.data() + n, f.labels.data());
  for (std::int64_t first = 0; first < n; first += chunk) {
    const std::int64_t m = std::min(chunk, n - first);
    const auto x = to_imagenet_input(d, first, m);
    const auto y = bottom.forward(x.view());
    std::copy(y.data(), y.data() + y.size(), f.images.data() + first * F);
  }
  return f;
}

struct row {
  double accuracy = 0, seconds = 0;
};

template <class Net, class Data>
double train_model(Model<Net, float>& model, const Data& train, const Data& test, int epochs, double lr, std::int64_t batch) {
  train::SGD<float> sgd({.momentum = 0.9, .weight_decay = 5e-4, .nesterov = true});
  const std::int64_t steps = (train.labels.size() + batch - 1) / batch;
  train::fit(model, train, sgd, train::cosine(lr, epochs * steps),
             {.epochs = epochs, .batch_size = batch, .shuffle_seed = 3, .show_progress = false});
  return train::evaluate(model, test).accuracy;
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "transfer: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--data") s.data_dir = value();
    else if (a == "--pretrained") s.pretrained = value();
    else if (a == "--test") s.test = std::stoll(value());
    else if (a == "--threads") set_num_threads(std::stoi(value()));
    else if (a == "--quick") s.quick = true, s.shots = {10}, s.test = 200, s.source_epochs = 1, set_conv_autotune(false);
    else if (a == "--shots") {
      s.shots.clear();
      std::stringstream list(value());
      for (std::string k; std::getline(list, k, ',');) s.shots.push_back(std::stoll(k));
    } else {
      std::fprintf(stderr, "usage: transfer [--data DIR] [--pretrained DIR] [--shots 10,100] [--test N] [--threads N] [--quick]\n");
      return 2;
    }
  }
  data::labelled_images train_all, test_all;
  try {
    train_all = data::load_fashion_mnist(s.data_dir, data::split::train);
    test_all = data::load_fashion_mnist(s.data_dir, data::split::test);
  } catch (const std::exception& e) {
    std::cerr << "transfer: cannot read Fashion-MNIST: " << e.what() << " (scripts/setup installs it)\n";
    return s.quick ? 77 : 1;
  }
  const fs::path onnx_file = s.pretrained / "efficientnet_lite0.onnx";
  if (!fs::exists(onnx_file)) {
    std::cerr << "transfer: " << onnx_file.string() << " is missing; run scripts/fetch-pretrained " << s.pretrained.string()
              << "\n";
    return s.quick ? 77 : 1;
  }
  const std::vector<int> target = {5, 6, 7, 8, 9}, source = {0, 1, 2, 3, 4};
  const auto test = select(test_all, target, s.test > 0 ? s.test / 5 : 0);
  std::printf("Target: Fashion-MNIST classes 5–9, tested on %lld images; %d compute threads\n\n",
              (long long)test.labels.size(), num_threads());

  // The pretrained network, its frozen bottom, and the bottom's output for the test images.
  auto start = std::chrono::steady_clock::now();
  auto lite = std::make_unique<Model<Lite, float>>(1);
  onnx::import_model(*lite, onnx_file);
  auto bottom = std::make_unique<Model<Bottom, float>>(1);
  copy_layers(*lite, 0, *bottom, 0, cached_layers);
  auto feature_top = std::make_unique<Model<FeatureTop, float>>(1);
  copy_layers(*lite, cached_layers, *feature_top, 0, body_layers - cached_layers);
  const auto test_cached = run_bottom(*bottom, test);
  const auto test_features = train::extract_features(*feature_top, test_cached, 250);
  const double test_extraction = seconds_since(start);
  std::printf("EfficientNet-Lite0 blocks 0–11 and the feature layers over the test images: %.1f s\n", test_extraction);

  // FashionNet on the source classes, once.
  start = std::chrono::steady_clock::now();
  const auto source_train = select(train_all, source, s.quick ? 200 : 0);
  auto source_model = std::make_unique<Model<Small, float>>(7);
  train_model(*source_model, source_train, select(test_all, source, 200), s.source_epochs, 0.05, 64);
  const double source_seconds = seconds_since(start);
  std::printf("FashionNet on classes 0–4 (%lld images, %d epochs): %.1f s\n\n", (long long)source_train.labels.size(),
              s.source_epochs, source_seconds);

  std::printf("%-6s %-44s %10s %10s\n", "shots", "way", "test acc", "seconds");
  std::string result = "RESULT";
  for (const std::int64_t shots : s.shots) {
    const auto train = select(train_all, target, shots);
    const int epochs = shots <= 10 ? 60 : 30;
    const std::int64_t batch = shots <= 10 ? 10 : 32;
    const auto report = [&](const char* key, const char* way, const row& r) {
      std::printf("%-6lld %-44s %9.2f%% %10.1f\n", (long long)shots, way, 100 * r.accuracy, r.seconds);
      std::fflush(stdout);
      char buf[64];
      std::snprintf(buf, sizeof buf, " %s_%lld=%.4f", key, (long long)shots, r.accuracy);
      result += buf;
    };

    row scratch;
    start = std::chrono::steady_clock::now();
    auto small = std::make_unique<Model<Small, float>>(11);
    scratch.accuracy = train_model(*small, train, test, epochs, 0.05, batch);
    scratch.seconds = seconds_since(start);
    report("scratch", "from scratch (FashionNet)", scratch);

    // The bottom's output for the training images serves both EfficientNet ways.
    start = std::chrono::steady_clock::now();
    const auto train_cached = run_bottom(*bottom, train);
    const double train_extraction = seconds_since(start);

    row features;
    start = std::chrono::steady_clock::now();
    const auto train_features = train::extract_features(*feature_top, train_cached, 250);
    auto head = std::make_unique<Model<LinearHead, float>>(12);
    features.accuracy = train_model(*head, train_features, test_features, 100, 0.01, batch);
    features.seconds = seconds_since(start) + train_extraction + test_extraction;
    report("features", "ImageNet EfficientNet-Lite0, frozen + linear", features);

    row tuned;
    start = std::chrono::steady_clock::now();
    auto top = std::make_unique<Model<TunedTop, float>>(13);
    copy_layers(*lite, cached_layers, *top, 0, TunedTop::layer_count - 1);
    train::set_fine_tuning_rates(*top, {.frozen_below = 0, .intermediate_below = 0, .head_from = TunedTop::layer_count - 1,
                                        .top = 0.1});
    tuned.accuracy = train_model(*top, train_cached, test_cached, epochs / 2, 0.01, batch);
    tuned.seconds = seconds_since(start) + train_extraction + test_extraction;
    report("finetune", "ImageNet EfficientNet-Lite0, top at 1/10", tuned);

    row fashion;
    start = std::chrono::steady_clock::now();
    auto moved = std::make_unique<Model<Small, float>>(14);
    copy_shared_parameters(*source_model, *moved, Small::layer_count - 1);
    train::set_fine_tuning_rates(*moved, {.frozen_below = 6, .intermediate_below = 6, .head_from = Small::layer_count - 1,
                                          .top = 0.1});
    fashion.accuracy = train_model(*moved, train, test, epochs, 0.05, batch);
    fashion.seconds = seconds_since(start) + source_seconds;
    report("fashion", "FashionNet from classes 0–4, top at 1/10", fashion);
  }
  std::printf("%s\n", result.c_str());
  return 0;
}
