// strata/data/loader.hpp — batches assembled on background threads (read/decode, augment,
// convert to normalised C×H×W floats) into a bounded queue ahead of the training loop, so the
// compute never waits while a batch could be ready. Epoch order and every sample's random
// augmentation depend only on (seed, epoch, sample), never on the number of workers; a worker's
// error reaches the caller of next() (or bad records are skipped and counted, by choice).
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/random.hpp"
#include "strata/core/tensor.hpp"
#include "strata/data/data_error.hpp"
#include "strata/data/labelled_images.hpp"
#include "strata/image/convert.hpp"
#include "strata/image/image.hpp"

namespace strata::data {

enum class bad_records { fail, skip };

struct loader_options {
  std::int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = false;         // drop a last batch smaller than batch_size
  std::uint64_t seed = 0;         // epoch order and augmentation draws
  int workers = 1;                // background threads; 0 = assemble each batch in next()
  std::int64_t prefetch = 4;      // batches ready (or in the making) ahead of the consumer
  bad_records on_bad_record = bad_records::fail;
  std::vector<float> mean = {}, stddev = {};  // per-channel normalisation after scaling to [0, 1]
};

// One batch: images [n, C·H·W] (normalised floats) and labels [n]; `number` counts batches
// within the epoch. With bad_records::skip a batch may hold fewer samples than batch_size.
struct batch {
  Tensor<float, 2> images;
  Tensor<std::int32_t, 1> labels;
  std::int64_t number = 0;
};

// The "augmentation" that leaves images as they are.
struct no_augmentation {};

// Reads samples from `data` (any data::Dataset, or anything with size() and get(i) → {image,
// label}) and augments each with `augment`
// (an Augmentation from strata/augment, or no_augmentation). The dataset and the augmentation
// must stay alive and may be used from several threads at once (get() and sample()/apply() are
// const).
template <class Data, class Augment = no_augmentation>
class loader {
 public:
  loader(const Data& data, Augment augment = {}, loader_options options = {})
      : data_(&data), augment_(std::move(augment)), options_(std::move(options)) {
    if (options_.batch_size <= 0)
      throw error("loader: batch size must be positive, got " + std::to_string(options_.batch_size));
    if (options_.workers < 0) throw error("loader: workers must be ≥ 0, got " + std::to_string(options_.workers));
    if (options_.prefetch <= 0) throw error("loader: prefetch must be positive, got " + std::to_string(options_.prefetch));
  }
  loader(const loader&) = delete;
  loader& operator=(const loader&) = delete;
  ~loader() { stop(); }

  std::int64_t samples() const { return std::int64_t(data_->size()); }
  std::int64_t batches_per_epoch() const {
    const std::int64_t n = samples(), b = options_.batch_size;
    return options_.drop_last ? n / b : (n + b - 1) / b;
  }
  // Bad records skipped so far (bad_records::skip), over all epochs.
  std::int64_t skipped() const { return skipped_.load(); }
  const loader_options& options() const { return options_; }

  // Starts epoch `epoch` (any integer; epochs with the same number have the same order and
  // draws). Workers begin assembling its first batches at once.
  void start_epoch(std::int64_t epoch) {
    stop();
    epoch_ = epoch;
    const std::int64_t n = samples();
    order_.resize(std::size_t(n));
    std::iota(order_.begin(), order_.end(), std::int64_t{0});
    if (options_.shuffle) {
      random_engine shuffler = random_engine(options_.seed, order_stream).fork(std::uint64_t(epoch));
      for (std::int64_t i = n - 1; i > 0; --i)
        std::swap(order_[std::size_t(i)], order_[shuffler.below(std::uint32_t(i + 1))]);
    }
    total_ = batches_per_epoch();
    next_to_make_ = next_to_deliver_ = 0;
    ready_.clear();
    stopping_ = false;
    failed_ = false;
    started_ = true;
    for (int w = 0; w < options_.workers; ++w) workers_.emplace_back([this] { work(); });
  }

  // The next batch of the epoch, in order; false when the epoch is over. Blocks while the
  // batch is being made; rethrows a worker's exception (the epoch then ends).
  bool next(batch& out) {
    if (!started_) throw error("loader::next: call start_epoch(epoch) first");
    if (failed_) throw error("loader::next: this epoch ended with an error (thrown before); call start_epoch again");
    if (options_.workers == 0) {
      if (next_to_deliver_ >= total_) return false;
      ++next_to_deliver_;
      try {
        make(next_to_deliver_ - 1, out);
      } catch (...) {
        failed_ = true;
        throw;
      }
      return true;
    }
    std::unique_lock lock(mutex_);
    if (next_to_deliver_ >= total_) return false;
    const std::int64_t wanted = next_to_deliver_;
    ++waits_;
    if (ready_.find(wanted) == ready_.end()) ++stalls_;  // the compute would wait for this batch
    made_.wait(lock, [&] { return ready_.find(wanted) != ready_.end(); });
    auto node = ready_.extract(wanted);
    ++next_to_deliver_;
    lock.unlock();
    room_.notify_all();
    if (node.mapped().error) {
      failed_ = true;
      stop();
      std::rethrow_exception(node.mapped().error);
    }
    out = std::move(node.mapped().b);
    return true;
  }

  // Batches finished and waiting for next() (never more than options().prefetch).
  std::int64_t batches_ready() const {
    std::lock_guard lock(mutex_);
    return std::int64_t(ready_.size());
  }

  // How often next() found its batch not ready yet, of all calls (measures the overlap).
  std::pair<std::int64_t, std::int64_t> stalls() const {
    std::lock_guard lock(mutex_);
    return {stalls_, waits_};
  }

 private:
  static constexpr std::uint64_t order_stream = 0x10ad0001, augment_stream = 0x10ad0002;

  struct made_batch {
    batch b;
    std::exception_ptr error;
  };

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    room_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  void work() {
    for (;;) {
      std::int64_t number;
      {
        std::unique_lock lock(mutex_);
        room_.wait(lock, [&] {
          return stopping_ || next_to_make_ >= total_ || next_to_make_ < next_to_deliver_ + options_.prefetch;
        });
        if (stopping_ || next_to_make_ >= total_) return;
        number = next_to_make_++;
      }
      made_batch m;
      try {
        make(number, m.b);
      } catch (...) {
        m.error = std::current_exception();
      }
      {
        std::lock_guard lock(mutex_);
        ready_.emplace(number, std::move(m));
      }
      made_.notify_all();
    }
  }

  // Batch `number` of the current epoch: samples order_[number·B, …), each read, augmented with
  // its own engine (seed, epoch, sample index) and converted.
  void make(std::int64_t number, batch& out) const {
    const std::int64_t B = options_.batch_size, first = number * B;
    const std::int64_t count = std::min(B, samples() - first);
    const normalization norm{std::span<const float>(options_.mean), std::span<const float>(options_.stddev)};
    std::int64_t n = 0, per = -1, c0 = 0, h0 = 0, w0 = 0;
    using pixel = std::remove_cvref_t<decltype(data_->get(0).image(0, 0, 0))>;
    image<pixel> augmented;
    for (std::int64_t i = 0; i < count; ++i) {
      const std::int64_t index = order_[std::size_t(first + i)];
      decltype(data_->get(index)) s;
      try {
        s = data_->get(index);
      } catch (const data_error&) {
        if (options_.on_bad_record == bad_records::fail) throw;
        ++skipped_;
        continue;
      }
      image_view<const pixel> view = s.image.view();
      if constexpr (!std::is_same_v<Augment, no_augmentation>) {
        random_engine rng = random_engine(options_.seed, augment_stream)
                                .fork(std::uint64_t(epoch_) * std::uint64_t(samples()) + std::uint64_t(index));
        auto p = augment_.sample(rng, view.size());
        augment_.apply(p, view, augmented);
        view = augmented.view();
      }
      if (per < 0) {  // the first sample fixes the batch's shape; values go straight into `out`
        c0 = view.channels(), h0 = view.height(), w0 = view.width(), per = c0 * h0 * w0;
        if (out.images.extent(0) != count || out.images.extent(1) != per)
          out.images = Tensor<float, 2>::uninitialized(Shape{count, per});
        if (out.labels.extent(0) != count) out.labels = Tensor<std::int32_t, 1>::uninitialized(Shape<1>{count});
      } else if (view.channels() != c0 || view.height() != h0 || view.width() != w0) {
        throw shape_error("loader: sample " + std::to_string(index) + " is " + std::to_string(view.channels()) + "×" +
                          std::to_string(view.height()) + "×" + std::to_string(view.width()) + " after augmentation, but " +
                          "the batch's first is " + std::to_string(c0) + "×" + std::to_string(h0) + "×" +
                          std::to_string(w0) + " (crop or resize to one size)");
      }
      to_chw(view, out.images.data() + n * per, norm);
      out.labels(n++) = std::int32_t(s.label);
    }
    if (n < count) {  // records were skipped: keep the first n rows (rare, so a copy is fine)
      per = std::max<std::int64_t>(per, 0);
      auto images = Tensor<float, 2>::uninitialized(Shape{n, per});
      auto labels = Tensor<std::int32_t, 1>::uninitialized(Shape<1>{n});
      if (n > 0) {
        std::copy(out.images.data(), out.images.data() + n * per, images.data());
        std::copy(out.labels.data(), out.labels.data() + n, labels.data());
      }
      out.images = std::move(images);
      out.labels = std::move(labels);
    }
    out.number = number;
  }

  const Data* data_;
  Augment augment_;
  loader_options options_;
  std::vector<std::int64_t> order_;
  std::int64_t epoch_ = 0, total_ = 0;
  bool started_ = false, failed_ = false;

  mutable std::mutex mutex_;
  std::condition_variable made_, room_;
  std::map<std::int64_t, made_batch> ready_;
  std::int64_t next_to_make_ = 0, next_to_deliver_ = 0;
  bool stopping_ = false;
  std::int64_t stalls_ = 0, waits_ = 0;
  mutable std::atomic<std::int64_t> skipped_{0};
  std::vector<std::thread> workers_;
};

}  // namespace strata::data
