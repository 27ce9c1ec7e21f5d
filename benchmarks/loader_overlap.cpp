// benchmarks/loader_overlap — Does augmentation on the loader's worker thread slow training?
// Trains the demo network (Fashion-MNIST, batch 64, 2 compute threads) from a data::loader with
// a full augmentation pipeline (padded random crop, flip, random affine, brightness/contrast,
// Gaussian noise) and from the same loader with none, alternating the two several times in one
// run; overlap = images/s with ÷ images/s without (1.0: augmentation is completely hidden).
// The loaders place their workers by the library's rule (core/thread_plan.hpp), as training does.
//
// Usage: loader_overlap [--data DIR] [--batches N] [--repeats N] [--workers N]
#include <strata/zoo/fashion_net.hpp>
#include <strata/augment/affine.hpp>
#include <strata/augment/color_jitter.hpp>
#include <strata/augment/compose.hpp>
#include <strata/augment/crop.hpp>
#include <strata/augment/flip.hpp>
#include <strata/augment/noise.hpp>
#include <strata/core/thread_plan.hpp>
#include <strata/data/dataset.hpp>
#include <strata/data/loader.hpp>
#include <strata/layers/conv.hpp>
#include <strata/layers/dense.hpp>
#include <strata/layers/max_pool.hpp>
#include <strata/layers/relu.hpp>
#include <strata/layers/softmax_cross_entropy.hpp>
#include <strata/net/model.hpp>
#include <strata/train/sgd.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace strata;

using FashionNet = zoo::FashionNet<>;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Images per second over `batches` training steps from loader l (epoch `epoch`).
template <class Loader>
double train_rate(Model<FashionNet>& model, train::SGD<float>& sgd, Loader& l, std::int64_t batches, std::int64_t epoch) {
  data::batch b;
  Tensor<float, 2> gradient;
  l.start_epoch(epoch);
  std::int64_t images = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < batches && l.next(b); ++i) {
    const auto out = model.forward(b.images, true);
    if (gradient.extent(0) != out.extent(0)) gradient = Tensor<float, 2>::uninitialized(out.shape());
    SoftmaxCrossEntropy::evaluate<float>(out, b.labels, gradient.view());
    model.backward(gradient);
    sgd.step(model, 0.01);
    images += b.images.extent(0);
  }
  return double(images) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir = data::default_fashion_mnist_dir;
  std::int64_t batches = 200;
  int repeats = 3, workers = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--data" && i + 1 < argc) dir = argv[++i];
    else if (a == "--batches" && i + 1 < argc) batches = std::max(10, std::atoi(argv[++i]));
    else if (a == "--repeats" && i + 1 < argc) repeats = std::max(1, std::atoi(argv[++i]));
    else if (a == "--workers" && i + 1 < argc) workers = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: %s [--data DIR] [--batches N] [--repeats N] [--workers N]\n", argv[0]);
      return 2;
    }
  }
  set_num_threads(2);
  const auto train_set = data::fashion_mnist_dataset<std::uint8_t>(dir, data::split::train);

  augment::random_affine affine;
  affine.max_rotate_degrees = 10, affine.max_translate_fraction = 0.1;
  affine.scale_x = affine.scale_y = {0.9, 1.1};
  affine.same_scale = true;
  const auto pipeline = augment::compose(augment::random_crop{28, 28, 4}, augment::horizontal_flip{}, affine,
                                         augment::color_jitter{0.2, 0.2}, augment::gaussian_noise{0.02});
  const data::loader_options options{.batch_size = 64, .seed = 1, .workers = workers, .prefetch = 4};
  data::loader plain(train_set, data::no_augmentation{}, options);
  data::loader augmented(train_set, pipeline, options);

  // The cost of the pipeline alone, on this thread (what the worker spends per image).
  {
    image<std::uint8_t> out;
    random_engine rng(3);
    const auto s = train_set.get(0);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20000; ++i) augment::augment(pipeline, s.image.view(), out, rng);
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / 20000;
    std::printf("loader_overlap: demo network, batch 64, 2 compute threads, %d loader worker(s), %lld batches per run\n",
                workers, static_cast<long long>(batches));
    std::printf("augmentation pipeline (pad-4 crop, flip, affine, brightness/contrast, noise): %.1f us per 28x28 image on one core\n\n", us);
  }

  Model<FashionNet> model(1);
  train::SGD<float> sgd({.momentum = 0.9});
  train_rate(model, sgd, plain, 20, 0);  // warm-up: first-use algorithm timing, page faults
  train_rate(model, sgd, augmented, 20, 0);
  std::vector<double> with, without;
  std::printf("%-8s %16s %16s\n", "repeat", "no aug img/s", "full aug img/s");
  for (int r = 0; r < repeats; ++r) {
    without.push_back(train_rate(model, sgd, plain, batches, r + 1));
    with.push_back(train_rate(model, sgd, augmented, batches, r + 1));
    std::printf("%-8d %16.1f %16.1f\n", r + 1, without.back(), with.back());
  }
  const auto [stalls, waits] = augmented.stalls();
  std::printf("\nmedian   %16.1f %16.1f   (the augmented loader's batch was not ready %lld of %lld times)\n",
              median(without), median(with), static_cast<long long>(stalls), static_cast<long long>(waits));
  // Where the loaders' time went (warm-up included): how the library's thread plan placed the
  // workers, the samples made on worker threads vs on the compute threads inside next(), and the
  // training thread's time inside next() per batch.
  const thread_plan& plan = augmented.plan();
  std::printf("thread plan: %d core(s), %d compute thread(s); %d of %d worker(s) on a core of their own, "
              "the work of the others made in next() on the compute threads\n",
              plan.cores_per_rank, plan.compute_threads, plan.dedicated_workers, plan.loader_workers);
  for (const auto& [name, counts] : {std::pair{"no aug", plain.counts()}, std::pair{"full aug", augmented.counts()}})
    std::printf("%-8s samples made on worker threads %lld, in next() %lld; next() took %.3f ms per batch\n", name,
                static_cast<long long>(counts.samples_by_workers), static_cast<long long>(counts.samples_in_next),
                1e3 * counts.seconds_in_next / double(std::max<std::int64_t>(counts.batches, 1)));
  std::printf("\nRESULT overlap=%.3f images_per_second_plain=%.1f images_per_second_augmented=%.1f\n",
              median(with) / median(without), median(without), median(with));
  return 0;
}
