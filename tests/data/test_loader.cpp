// The prefetching loader: every sample once per epoch, an order and augmentation draws that
// depend on (seed, epoch, sample) only — the same with 0, 1 or 3 workers —, normalisation,
// bad records failing with the file's name or skipped and counted, errors that reach the
// caller, and no hang when a loader is dropped mid-epoch.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "strata/augment/augmentation.hpp"
#include "strata/core/thread_plan.hpp"
#include "strata/data/loader.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/model.hpp"
#include "strata/train/fit.hpp"
#include "strata/train/sgd.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

struct sample {
  strata::image<std::uint8_t> image;
  std::int32_t label = 0;
};

// Image i is 3×4×2 with every value i % 250, label i % 7; records listed in `bad` throw.
struct toy_dataset {
  std::int64_t n = 50;
  std::set<std::int64_t> bad;
  std::int64_t size() const { return n; }
  sample get(std::int64_t i) const {
    if (bad.count(i)) throw data::data_error("toy/record.bin", "corrupted", i);
    sample s;
    s.image.assign(3, 4, 2, std::uint8_t(i % 250));
    s.label = std::int32_t(i % 7);
    return s;
  }
};

// Adds a random value in [0, 5) (drawn from the sample's engine) to every pixel of channel 0;
// channel 1 keeps the record's value, so a batch row still says which record it came from.
struct add_random {
  struct params {
    int add = 0;
  };
  params sample(random_engine& rng, image_size) const { return {int(rng.below(5))}; }
  image_size output_size(const params&, image_size s) const { return s; }
  template <class T>
  void apply(const params& p, image_view<const T> in, image<T>& out) const {
    out.reshape(in.height(), in.width(), in.channels());
    for (std::int64_t y = 0; y < in.height(); ++y)
      for (std::int64_t x = 0; x < in.width(); ++x)
        for (std::int64_t c = 0; c < in.channels(); ++c) out(y, x, c) = T(in(y, x, c) + (c == 0 ? p.add : 0));
  }
  augment::point map(const params&, image_size, augment::point q) const { return q; }
};
static_assert(augment::Augmentation<add_random>);

struct throws_on_sample_13 : add_random {
  template <class T>
  void apply(const params& p, image_view<const T> in, image<T>& out) const {
    if (in(0, 0, 0) == 13) throw std::runtime_error("augmentation failed on 13");
    add_random::apply(p, in, out);
  }
};

// The record a batch row came from: toy_dataset's channel 1 (values 12..23 of a row) holds i % 250.
long record_of(const data::batch& b, std::int64_t row) { return std::lround(b.images(row, 12) * 255.0f); }

// Every row's label is the label of the record its image came from (labels travel with images).
void check_labels_match_images(const data::batch& b) {
  REQUIRE(b.labels.extent(0) == b.images.extent(0));
  for (std::int64_t i = 0; i < b.images.extent(0); ++i) {
    INFO("batch " << b.number << ", row " << i << ", record " << record_of(b, i));
    CHECK(b.labels(i) == record_of(b, i) % 7);
  }
}

// One epoch: every batch's images, with its labels appended, after checking the labels match.
template <class L>
std::vector<std::vector<float>> epoch_values(L& l, std::int64_t epoch) {
  std::vector<std::vector<float>> out;
  data::batch b;
  l.start_epoch(epoch);
  while (l.next(b)) {
    check_labels_match_images(b);
    out.emplace_back(b.images.data(), b.images.data() + b.images.size());
    for (std::int64_t i = 0; i < b.labels.extent(0); ++i) out.back().push_back(float(b.labels(i)));
  }
  return out;
}

}  // namespace

TEST_CASE("every sample appears once per epoch, in batches of the right size", "[data][loader]") {
  toy_dataset d;
  data::loader l(d, data::no_augmentation{}, {.batch_size = 8, .seed = 3, .workers = 2});
  REQUIRE(l.batches_per_epoch() == 7);
  std::multiset<std::int32_t> labels;
  std::multiset<long> firsts;
  data::batch b;
  l.start_epoch(0);
  std::int64_t batches = 0, samples = 0;
  while (l.next(b)) {
    CHECK(b.number == batches);
    CHECK(b.images.extent(1) == 2 * 3 * 4);
    CHECK(b.images.extent(0) == (batches < 6 ? 8 : 2));
    check_labels_match_images(b);
    for (std::int64_t i = 0; i < b.images.extent(0); ++i) firsts.insert(std::lround(b.images(i, 0) * 255.0f));
    samples += b.images.extent(0);
    ++batches;
  }
  CHECK(batches == 7);
  CHECK(samples == 50);
  for (std::int64_t i = 0; i < 50; ++i) CHECK(firsts.count(long(i)) == 1);  // each image exactly once
}

TEST_CASE("order and augmentation depend on seed and epoch, not on the number of workers", "[data][loader]") {
  toy_dataset d;
  data::loader l0(d, add_random{}, {.batch_size = 6, .seed = 11, .workers = 0});
  data::loader l1(d, add_random{}, {.batch_size = 6, .seed = 11, .workers = 1});
  data::loader l3(d, add_random{}, {.batch_size = 6, .seed = 11, .workers = 3, .prefetch = 2});
  // Worker threads whatever the cores (planned placement may run none here), at either priority.
  data::loader b3(d, add_random{}, {.batch_size = 6, .seed = 11, .workers = 3, .prefetch = 2,
                                    .placement = data::worker_placement::background});
  data::loader i2(d, add_random{}, {.batch_size = 6, .seed = 11, .workers = 2, .placement = data::worker_placement::idle_priority});
  const auto e0 = epoch_values(l0, 4);
  CHECK(epoch_values(l1, 4) == e0);
  CHECK(epoch_values(l3, 4) == e0);
  CHECK(epoch_values(b3, 4) == e0);
  CHECK(epoch_values(i2, 4) == e0);
  {  // samples made in next() on one compute thread or on several give the same batches
    const thread_budget one(1);
    CHECK(epoch_values(l0, 4) == e0);
  }
  CHECK(epoch_values(l3, 5) != e0);  // another epoch, another order
  data::loader other(d, add_random{}, {.batch_size = 6, .seed = 12, .workers = 2});
  CHECK(epoch_values(other, 4) != e0);  // another seed
  CHECK(epoch_values(l0, 4) == e0);     // an epoch can be replayed
  // Without augmentation the workers must also agree, and labels match images in each.
  data::loader p0(d, data::no_augmentation{}, {.batch_size = 7, .seed = 2, .workers = 0});
  data::loader p3(d, data::no_augmentation{}, {.batch_size = 7, .seed = 2, .workers = 3});
  CHECK(epoch_values(p3, 1) == epoch_values(p0, 1));
}

TEST_CASE("the loader normalises per channel", "[data][loader]") {
  // Distinct, non-zero pixels in each channel, so both terms of (v/255 − mean)/sd matter: a
  // loader that forgot to divide the pixel term (v/255 − mean/sd) or swapped channels fails.
  struct graded {
    std::int64_t size() const { return 3; }
    sample get(std::int64_t i) const {
      sample s;
      s.image.assign(3, 4, 2, 0);
      for (std::int64_t y = 0; y < 3; ++y)
        for (std::int64_t x = 0; x < 4; ++x)
          for (std::int64_t c = 0; c < 2; ++c) s.image(y, x, c) = std::uint8_t(1 + i * 50 + c * 100 + y * 4 + x);
      s.label = std::int32_t(i);
      return s;
    }
  } d;
  const std::vector<float> mean{0.5f, 0.25f}, sd{0.5f, 0.125f};
  for (int workers : {0, 1}) {
    data::loader l(d, data::no_augmentation{}, {.batch_size = 3, .shuffle = false, .workers = workers, .mean = mean, .stddev = sd});
    data::batch b;
    l.start_epoch(0);
    REQUIRE(l.next(b));
    REQUIRE(b.images.extent(0) == 3);
    REQUIRE(b.images.extent(1) == 24);
    std::vector<double> got, want, scale;
    for (std::int64_t i = 0; i < 3; ++i) {
      CHECK(b.labels(i) == i);  // shuffle = false: records in order
      for (std::int64_t c = 0; c < 2; ++c)
        for (std::int64_t p = 0; p < 12; ++p) {
          const double v = double(1 + i * 50 + c * 100 + p) / 255.0;
          got.push_back(b.images(i, c * 12 + p));
          want.push_back((v - mean[c]) / sd[c]);
          // A few fp32 roundings of each term (1/255, 1/sd, their product, the multiply-add).
          scale.push_back(8 * 0x1.0p-24 * (v / sd[c] + mean[c] / sd[c]));
        }
    }
    CHECK(strata::testing::conditioned_error(got, want, scale) <= 1.0);
  }
  toy_dataset t;
  t.n = 1;
  data::batch b;
  data::loader wrong(t, data::no_augmentation{}, {.batch_size = 1, .workers = 0, .mean = {0.5f}, .stddev = {1.0f}});
  wrong.start_epoch(0);
  CHECK_THROWS_WITH(wrong.next(b), Catch::Contains("2 channels"));
}

TEST_CASE("a bad record fails with the file and record, or is skipped and counted", "[data][loader]") {
  toy_dataset d;
  d.bad = {7, 30};
  for (int workers : {0, 2}) {
    data::loader strict(d, data::no_augmentation{}, {.batch_size = 5, .workers = workers});
    data::batch b;
    strict.start_epoch(0);
    bool threw = false;
    try {
      while (strict.next(b)) {
      }
    } catch (const data::data_error& e) {
      threw = true;
      CHECK_THAT(e.what(), Catch::Contains("toy/record.bin") && Catch::Contains("record"));
      CHECK((e.record() == 7 || e.record() == 30));
    }
    CHECK(threw);
    CHECK_THROWS_WITH(strict.next(b), Catch::Contains("ended with an error"));  // no hang afterwards

    data::loader lenient(d, data::no_augmentation{}, {.batch_size = 5, .workers = workers, .on_bad_record = data::bad_records::skip});
    std::int64_t samples = 0;
    lenient.start_epoch(0);
    std::set<long> seen;
    while (lenient.next(b)) {
      samples += b.images.extent(0);
      check_labels_match_images(b);  // compacting around a skipped record keeps pairs together
      for (std::int64_t i = 0; i < b.images.extent(0); ++i) seen.insert(record_of(b, i));
    }
    CHECK(samples == 48);
    CHECK(seen.size() == 48);
    CHECK(seen.count(7) == 0);
    CHECK(seen.count(30) == 0);
    CHECK(lenient.skipped() == 2);
  }
}

TEST_CASE("an augmentation's exception reaches the caller; dropping a loader mid-epoch does not hang", "[data][loader]") {
  toy_dataset d;
  data::loader l(d, throws_on_sample_13{}, {.batch_size = 4, .workers = 2});
  data::batch b;
  l.start_epoch(0);
  CHECK_THROWS_WITH([&] { while (l.next(b)) {} }(), Catch::Contains("failed on 13"));
  // Destroyed with batches in flight and workers waiting for room: must return promptly. The
  // wait is bounded here (and data.loader has a CTest TIMEOUT in case the thread never ends).
  auto dropped = std::async(std::launch::async, [&d] {
    data::loader early(d, add_random{}, {.batch_size = 2, .workers = 3, .prefetch = 3});
    early.start_epoch(0);
    data::batch first;
    const bool got = early.next(first);
    return got;  // ~loader runs here
  });
  REQUIRE(dropped.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  CHECK(dropped.get());
}

TEST_CASE("workers fill the queue ahead of the consumer, and no further", "[data][loader]") {
  // Counts reads: the prefetch bound is a number of get() calls, not something to time.
  struct counting : toy_dataset {
    mutable std::atomic<std::int64_t> gets{0};
    sample get(std::int64_t i) const {
      ++gets;
      return toy_dataset::get(i);
    }
  } d;
  data::loader l(d, data::no_augmentation{},
                 {.batch_size = 5, .workers = 2, .prefetch = 3, .placement = data::worker_placement::background});
  data::batch b;
  l.start_epoch(0);
  REQUIRE(l.threads() == 2);
  // Without any next(), the workers make exactly `prefetch` batches (polled; 10 s is only a
  // guard against a hang, not a timing assertion).
  for (int i = 0; i < 10000 && l.batches_ready() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(l.batches_ready() == 3);
  // Three whole batches read, not one record more: a fourth batch would have started reading.
  CHECK(d.gets.load() == 3 * 5);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(d.gets.load() == 3 * 5);
  CHECK(l.batches_ready() == 3);
  REQUIRE(l.next(b));
  check_labels_match_images(b);
  for (int i = 0; i < 10000 && l.batches_ready() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(l.batches_ready() == 3);  // taking one lets the workers make one more
  CHECK(d.gets.load() == 4 * 5);
  std::int64_t rest = 0;
  while (l.next(b)) ++rest;
  CHECK(rest == 9);
  CHECK(d.gets.load() == 50);      // and each record is read once per epoch
  CHECK(l.stalls().second == 10);  // every next() is counted
}

TEST_CASE("fit trains from a loader, with augmentation on worker threads", "[data][loader][fit]") {
  // Class 1 images are bright in their left half, class 0 in their right half; add_random's
  // small offsets keep that separable.
  struct halves {
    std::int64_t size() const { return 256; }
    sample get(std::int64_t i) const {
      sample s;
      s.image.assign(4, 4, 1, 0);
      s.label = std::int32_t(i % 2);
      for (std::int64_t y = 0; y < 4; ++y)
        for (std::int64_t x = 0; x < 2; ++x) s.image(y, s.label ? x : x + 2, 0) = 200;
      return s;
    }
  } train_set;
  data::labelled_images test_set{Tensor<float, 4>(Shape{64, 1, 4, 4}), Tensor<std::int32_t, 1>(Shape<1>{64}), 2};
  for (std::int64_t i = 0; i < 64; ++i) {
    const auto s = train_set.get(i);
    test_set.labels(i) = s.label;
    for (std::int64_t p = 0; p < 16; ++p) test_set.images(i, 0, p / 4, p % 4) = s.image(p / 4, p % 4, 0) / 255.0f;
  }
  using Net = Sequential<Input<1, 4, 4>, Dense<8>, ReLU, Dense<2>>;
  Model<Net> model(3);
  train::SGD<float> sgd({.momentum = 0.9});
  data::loader l(train_set, add_random{}, {.batch_size = 16, .seed = 5, .workers = 2});
  const auto history = train::fit(model, l, sgd, train::constant(0.05),
                                  train::fit_options{.epochs = 3, .show_progress = false}, &test_set);
  REQUIRE(history.size() == 3);
  CHECK(history.back().train_loss < history.front().train_loss);
  CHECK(history.back().test_accuracy > 0.95);
}

TEST_CASE("drop_last drops a short last batch, and shuffle = false keeps the records in order", "[data][loader]") {
  toy_dataset d;  // 50 records
  for (int workers : {0, 2}) {
    INFO(workers << " workers");
    data::loader keep(d, data::no_augmentation{}, {.batch_size = 8, .shuffle = false, .workers = workers});
    decltype(keep) drop(d, data::no_augmentation{}, {.batch_size = 8, .shuffle = false, .drop_last = true, .workers = workers});
    CHECK(keep.batches_per_epoch() == 7);  // 6 of 8 and one of 2
    CHECK(drop.batches_per_epoch() == 6);
    for (auto* l : {&keep, &drop}) {
      l->start_epoch(1);
      data::batch b;
      std::int64_t seen = 0, batches = 0;
      while (l->next(b)) {
        ++batches;
        for (std::int64_t i = 0; i < b.labels.extent(0); ++i, ++seen) {
          CHECK(b.labels(i) == seen % 7);  // record `seen`, in order
          CHECK(std::lround(b.images.data()[i * (b.images.size() / b.images.extent(0))] * 255) == seen % 250);
        }
        if (l == &drop) CHECK(b.labels.extent(0) == 8);
      }
      CHECK(batches == l->batches_per_epoch());
      CHECK(seen == (l == &keep ? 50 : 48));
    }
  }
}

TEST_CASE("thread plan: ranks × (compute threads + worker threads) never exceeds the cores", "[data][loader][thread_plan]") {
  // 2 cores, 1 rank, 1 worker (the loader_overlap benchmark): compute keeps both cores and the
  // worker's work runs on them, between steps.
  constexpr auto bench = plan_threads(2, 1, 1);
  static_assert(bench.cores_per_rank == 2 && bench.compute_threads == 2 && bench.dedicated_workers == 0 &&
                bench.workers_on_compute_threads() == 1);
  // Asking for fewer compute threads frees cores for workers, one each, no more.
  static_assert(plan_threads(8, 2, 3, 2).cores_per_rank == 4);
  static_assert(plan_threads(8, 2, 3, 2).dedicated_workers == 2);
  static_assert(plan_threads(8, 2, 3, 2).workers_on_compute_threads() == 1);
  // More compute threads than a rank's cores are cut to its cores.
  static_assert(plan_threads(8, 4, 1, 16).compute_threads == 2);
  // More ranks than cores: one core each (the ranks alone oversubscribe), no worker threads.
  static_assert(plan_threads(2, 4, 2).cores_per_rank == 1 && plan_threads(2, 4, 2).dedicated_workers == 0);
  for (int cores = 1; cores <= 64; ++cores)
    for (int ranks = 1; ranks <= cores; ++ranks)
      for (int workers = 0; workers <= 4; ++workers)
        for (int compute = 0; compute <= cores + 1; ++compute) {
          const auto p = plan_threads(cores, ranks, workers, compute);
          INFO(cores << " cores, " << ranks << " ranks, " << workers << " workers, " << compute << " compute threads asked");
          REQUIRE(p.compute_threads >= 1);
          REQUIRE(ranks * (p.compute_threads + p.dedicated_workers) <= cores);
          REQUIRE(p.dedicated_workers + p.workers_on_compute_threads() == workers);
          if (compute <= 0) REQUIRE(p.compute_threads == cores / ranks);  // by default the compute takes every core
        }
}

TEST_CASE("thread plan here: the process's cores, the launcher's local ranks, the caller's compute threads", "[data][loader][thread_plan]") {
  const int cores = available_cores();
  REQUIRE(cores >= 1);
  set_local_ranks(1);
  {
    const thread_budget one(1);
    const auto p = plan_threads_here(3);
    CHECK(p.cores_per_rank == cores);
    CHECK(p.compute_threads == 1);
    CHECK(p.dedicated_workers == std::min(3, cores - 1));
  }
  // More local ranks than cores: one core each — unless the affinity mask is narrower than the
  // machine, which means the launcher has already given this process its own cores.
  set_local_ranks(cores + 1);
  const int machine = std::max(1, int(std::thread::hardware_concurrency()));
  CHECK(plan_threads_here(1).cores_per_rank == (cores < machine ? cores : 1));
  set_local_ranks(0);  // back to the environment's (or 1)
}

namespace {
// Records, for every thread that reads a record, whether it ran at idle priority.
struct priority_probe : toy_dataset {
  mutable std::mutex m;
  mutable std::map<std::thread::id, thread_priority> seen;
  sample get(std::int64_t i) const {
    {
      std::lock_guard lock(m);
      seen[std::this_thread::get_id()] = this_thread_priority();
    }
    return toy_dataset::get(i);
  }
};
}  // namespace

TEST_CASE("worker threads run where the plan puts them, at the priority asked", "[data][loader][thread_plan]") {
  const int cores = available_cores();
  set_local_ranks(1);
  SECTION("planned, the compute on every core: no worker thread; next() makes the batches, the same ones") {
    const thread_budget all(cores);
    if (num_threads() != cores) return;  // a build without OpenMP computes on one thread
    toy_dataset d;
    data::loader planned(d, add_random{}, {.batch_size = 6, .seed = 11, .workers = 2});
    data::loader serial(d, add_random{}, {.batch_size = 6, .seed = 11, .workers = 0});
    CHECK(epoch_values(planned, 2) == epoch_values(serial, 2));
    CHECK(planned.threads() == 0);
    CHECK(planned.plan().dedicated_workers == 0);
    const auto c = planned.counts();
    CHECK(c.samples_by_workers == 0);
    CHECK(c.samples_in_next == 50);
    CHECK(c.batches == 9);
    CHECK(c.not_ready == 9);
  }
  SECTION("planned, one compute thread: workers on the free cores, at normal priority") {
    if (cores < 2) return;
    const thread_budget one(1);
    priority_probe d;
    data::loader l(d, data::no_augmentation{}, {.batch_size = 5, .workers = 4, .prefetch = 3});
    l.start_epoch(0);
    CHECK(l.threads() == std::min(4, cores - 1));
    // Left alone, the worker threads fill the queue (polled; 10 s only guards against a hang).
    for (int i = 0; i < 10000 && l.batches_ready() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    REQUIRE(l.batches_ready() == 3);
    std::lock_guard lock(d.m);
    REQUIRE(!d.seen.empty());
    for (const auto& [thread, priority] : d.seen) CHECK(priority == thread_priority::normal);
    CHECK(l.counts().samples_by_workers == 15);
  }
  SECTION("idle_priority: every worker thread at idle priority") {
    priority_probe d;
    data::loader l(d, data::no_augmentation{},
                   {.batch_size = 5, .workers = 2, .prefetch = 3, .placement = data::worker_placement::idle_priority});
    l.start_epoch(0);
    CHECK(l.threads() == 2);
    for (int i = 0; i < 10000 && l.batches_ready() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    REQUIRE(l.batches_ready() == 3);
    std::lock_guard lock(d.m);
    REQUIRE(!d.seen.empty());
    for (const auto& [thread, priority] : d.seen) CHECK(priority == thread_priority::idle);
    CHECK(this_thread_priority() == thread_priority::normal);  // the caller's own is untouched
  }
  set_local_ranks(0);
}

TEST_CASE("next() and worker threads share a batch's samples without making one twice", "[data][loader]") {
  // Records are slow on the worker thread only; before each next() the test waits until the
  // worker is inside the batch, so next() finds it half made and makes the rest itself (on its
  // compute threads, in a parallel region) while the worker finishes the record it holds.
  struct slow_on_worker : toy_dataset {
    std::thread::id consumer = std::this_thread::get_id();
    mutable std::atomic<std::int64_t> gets{0}, worker_gets{0};
    sample get(std::int64_t i) const {
      ++gets;
      if (std::this_thread::get_id() != consumer && !in_parallel_region()) {
        ++worker_gets;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      return toy_dataset::get(i);
    }
  } d;
  data::loader shared(d, add_random{}, {.batch_size = 10, .seed = 4, .workers = 1, .prefetch = 1,
                                        .placement = data::worker_placement::background});
  data::loader alone(d, add_random{}, {.batch_size = 10, .seed = 4, .workers = 0});
  const auto want = epoch_values(alone, 1);
  d.gets = 0;
  d.worker_gets = 0;
  std::vector<std::vector<float>> got;
  {
    const thread_budget two(2);
    data::batch b;
    shared.start_epoch(1);
    for (std::int64_t k = 0;; ++k) {
      // Polled; 10 s only guards against a hang (the worker starts each batch on its own).
      for (int i = 0; i < 10000 && k < 5 && d.worker_gets.load() <= k; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (!shared.next(b)) break;
      check_labels_match_images(b);
      got.emplace_back(b.images.data(), b.images.data() + b.images.size());
      for (std::int64_t i = 0; i < b.labels.extent(0); ++i) got.back().push_back(float(b.labels(i)));
    }
  }
  CHECK(got == want);
  CHECK(d.gets.load() == 50);  // each record read once
  const auto c = shared.counts();
  CHECK(c.samples_by_workers + c.samples_in_next == 50);
  CHECK(c.samples_by_workers >= 5);  // one record of each batch at least
  CHECK(c.samples_in_next > 0);
}

namespace {
// One epoch's batches, whole.
template <class L>
std::vector<data::batch> epoch_batches(L& l, std::int64_t epoch) {
  std::vector<data::batch> out;
  data::batch b;
  l.start_epoch(epoch);
  while (l.next(b)) out.push_back(std::move(b));
  return out;
}
}  // namespace

TEST_CASE("a shard makes its rank's rows of each global batch, and the ranks together make the batch", "[data][loader][shard]") {
  toy_dataset d;  // 50 records: batches of 8, the last of 2 (a shard of 3 ranks without rows in it)
  data::loader whole(d, add_random{}, {.batch_size = 8, .seed = 4, .workers = 2});
  const auto expected = epoch_batches(whole, 3);
  REQUIRE(expected.size() == 7);
  for (const int ranks : {2, 3, 5}) {
    std::vector<std::vector<data::batch>> shards;
    for (int r = 0; r < ranks; ++r) {
      data::loader l(d, add_random{}, {.batch_size = 8, .seed = 4, .workers = r % 3, .shard = {r, ranks}});
      CHECK(l.batches_per_epoch() == whole.batches_per_epoch());
      shards.push_back(epoch_batches(l, 3));
    }
    for (std::size_t k = 0; k < expected.size(); ++k) {
      INFO(ranks << " ranks, batch " << k);
      const data::batch& e = expected[k];
      const std::int64_t per = e.images.extent(1), rows = e.images.extent(0);
      std::int64_t row = 0;
      for (int r = 0; r < ranks; ++r) {
        REQUIRE(shards[std::size_t(r)].size() == expected.size());
        const data::batch& s = shards[std::size_t(r)][k];
        const data::row_range mine = data::rows_of(rows, r, ranks);
        CHECK(s.number == e.number);
        CHECK(s.global_rows == rows);
        REQUIRE(s.images.extent(0) == mine.count);
        REQUIRE(s.labels.extent(0) == mine.count);
        CHECK(row == mine.first);
        for (std::int64_t i = 0; i < mine.count; ++i, ++row) {
          CHECK(s.labels(i) == e.labels(row));
          CHECK(std::equal(s.images.data() + i * per, s.images.data() + (i + 1) * per, e.images.data() + row * per));
        }
      }
      CHECK(row == rows);  // the shards cover the batch, in order
    }
  }
}

TEST_CASE("sharded with bad records skipped: each rank keeps its good rows, and the global count is left to the ranks",
          "[data][loader][shard]") {
  toy_dataset d;
  d.bad = {3, 17, 18, 40};
  data::loader whole(d, data::no_augmentation{}, {.batch_size = 8, .seed = 9, .workers = 1, .on_bad_record = data::bad_records::skip});
  const auto expected = epoch_batches(whole, 1);
  std::vector<std::vector<data::batch>> shards;
  for (int r = 0; r < 2; ++r) {
    data::loader l(d, data::no_augmentation{},
                   {.batch_size = 8, .seed = 9, .workers = 1, .on_bad_record = data::bad_records::skip, .shard = {r, 2}});
    shards.push_back(epoch_batches(l, 1));
  }
  std::int64_t kept = 0;
  for (std::size_t k = 0; k < expected.size(); ++k) {
    INFO("batch " << k);
    CHECK(expected[k].global_rows == expected[k].images.extent(0));  // one rank: its own rows
    std::vector<long> records;
    for (const auto& shard : shards) {
      CHECK(shard[k].global_rows == 0);  // another rank may have skipped records
      for (std::int64_t i = 0; i < shard[k].images.extent(0); ++i) records.push_back(record_of(shard[k], i));
    }
    std::vector<long> want;
    for (std::int64_t i = 0; i < expected[k].images.extent(0); ++i) want.push_back(record_of(expected[k], i));
    CHECK(records == want);
    kept += std::int64_t(want.size());
  }
  CHECK(kept == 46);
}

TEST_CASE("a shard outside its ranks is refused, and train::fit refuses a sharded loader", "[data][loader][shard]") {
  toy_dataset d;
  const auto make = [&](data::rank_shard s) { data::loader l(d, data::no_augmentation{}, {.shard = s}); };
  CHECK_THROWS_WITH(make({2, 2}), Catch::Contains("shard rank 2 of 2"));
  CHECK_THROWS_WITH(make({0, 0}), Catch::Contains("shard rank 0 of 0"));
  CHECK_THROWS_WITH(make({-1, 2}), Catch::Contains("shard rank -1 of 2"));
  CHECK_NOTHROW(make({1, 2}));
  using Net = Sequential<Input<2, 4, 3>, Dense<7>>;  // toy_dataset's images: 3×4×2 as C×H×W floats of 2·3·4
  Model<Net> model(1);
  train::SGD<float> sgd;
  data::loader l(d, data::no_augmentation{}, {.batch_size = 8, .workers = 0, .shard = {1, 2}});
  CHECK_THROWS_WITH(train::fit(model, l, sgd, train::constant(0.1), train::fit_options{.show_progress = false}),
                    Catch::Contains("shard 1 of 2") && Catch::Contains("parallel::fit(comm, …) on every rank"));
}
