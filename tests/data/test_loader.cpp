// The prefetching loader: every sample once per epoch, an order and augmentation draws that
// depend on (seed, epoch, sample) only — the same with 0, 1 or 3 workers —, normalisation,
// bad records failing with the file's name or skipped and counted, errors that reach the
// caller, and no hang when a loader is dropped mid-epoch.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <cmath>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "strata/augment/augmentation.hpp"
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
  const auto e0 = epoch_values(l0, 4);
  CHECK(epoch_values(l1, 4) == e0);
  CHECK(epoch_values(l3, 4) == e0);
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
  data::loader l(d, data::no_augmentation{}, {.batch_size = 5, .workers = 2, .prefetch = 3});
  data::batch b;
  l.start_epoch(0);
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
