// strata/data/loader.hpp — batches assembled on background threads (read/decode, augment,
// convert to normalised C×H×W floats) into a bounded queue ahead of the training loop, so the
// compute never waits while a batch could be ready. Epoch order and every sample's random
// augmentation depend only on (seed, epoch, sample), never on the number of workers; a worker's
// error reaches the caller of next() (or bad records are skipped and counted, by choice). With a
// shard (rank r of R, data/shard.hpp) it makes only rank r's rows of each global batch.
//
// Scheduling (core/thread_plan.hpp): a batch is made sample by sample, and any thread may claim
// the next sample of a batch in the making. By default a worker thread runs only on a core the
// compute leaves free; what no worker has made when next() wants it, the calling thread and its
// compute threads make together, between steps — so the loader never takes a core from one of
// the compute threads (which would stall all of them at their next barrier).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/parallel.hpp"
#include "strata/core/random.hpp"
#include "strata/core/tensor.hpp"
#include "strata/core/thread_plan.hpp"
#include "strata/data/data_error.hpp"
#include "strata/data/labelled_images.hpp"
#include "strata/data/shard.hpp"
#include "strata/image/convert.hpp"
#include "strata/image/image.hpp"

namespace strata::data {

enum class bad_records { fail, skip };

// Where the workers' work runs.
enum class worker_placement {
  planned,     // core/thread_plan.hpp's rule, worked out when an epoch starts from this process's
               // cores, its local ranks and the compute threads (num_threads()) of the thread that
               // starts it: worker threads only on cores the compute leaves free, the rest in next()
  background,  // `workers` threads at normal priority whatever the cores (for slow reads that a
               // thread should wait on; where the compute uses every core, it stalls the compute)
  idle_priority,  // `workers` threads at idle priority: for a compute that leaves cores idle
                  // (waiting on a GPU, say); where it does not, they still take some slices
};

struct loader_options {
  std::int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = false;         // drop a last batch smaller than batch_size
  std::uint64_t seed = 0;         // epoch order and augmentation draws
  int workers = 1;                // worker threads asked for (placement decides); 0: every batch made in next()
  std::int64_t prefetch = 4;      // batches ready (or in the making) ahead of the consumer
  bad_records on_bad_record = bad_records::fail;
  std::vector<float> mean = {}, stddev = {};  // per-channel normalisation after scaling to [0, 1]
  worker_placement placement = worker_placement::planned;
  // Rank r of R makes rows rows_of(B, r, R) of each global batch of B rows (the same order and
  // draws on every rank): R loaders with the same options and ranks 0…R−1 together make each
  // batch once. For parallel::fit(comm, …), which checks the ranks agree.
  rank_shard shard = {};
};

// Where a loader's time went, over all its epochs so far.
struct loader_counts {
  std::int64_t batches = 0;             // delivered by next()
  std::int64_t not_ready = 0;           // of those, how many were not finished when next() wanted them
  std::int64_t samples_by_workers = 0;  // samples (bad ones included) made on background workers
  std::int64_t samples_in_next = 0;     // ... and on next()'s caller and its compute threads
  double seconds_in_next = 0;           // the caller's time inside next(): making samples or waiting
};

// One batch: images [n, C·H·W] (normalised floats) and labels [n]; `number` counts batches
// within the epoch. With bad_records::skip a batch may hold fewer samples than batch_size.
// `global_rows` is the rows of the whole global batch this one is a shard of (its own rows
// without a shard); 0 where it is not known here: where other ranks may have skipped records,
// the ranks sum their rows.
struct batch {
  Tensor<float, 2> images;
  Tensor<std::int32_t, 1> labels;
  std::int64_t number = 0;
  std::int64_t global_rows = 0;
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
    if (options_.shard.ranks < 1 || options_.shard.rank < 0 || options_.shard.rank >= options_.shard.ranks)
      throw error("loader: shard rank " + std::to_string(options_.shard.rank) + " of " + std::to_string(options_.shard.ranks) +
                  " (a shard is rank r of R with 0 ≤ r < R)");
  }
  loader(const loader&) = delete;
  loader& operator=(const loader&) = delete;
  ~loader() { stop(); }

  // Samples in the data set (all ranks' together where sharded).
  std::int64_t samples() const { return std::int64_t(data_->size()); }
  std::int64_t batches_per_epoch() const {
    const std::int64_t n = samples(), b = options_.batch_size;
    return options_.drop_last ? n / b : (n + b - 1) / b;
  }
  // Bad records skipped so far (bad_records::skip), over all epochs.
  std::int64_t skipped() const { return skipped_.load(); }
  const loader_options& options() const { return options_; }

  // Starts epoch `epoch` (any integer; epochs with the same number have the same order and
  // draws). Workers begin assembling its first batches at once; how many run as threads, and at
  // which priority, follows options().placement (planned: threads() of them).
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
    making_.clear();
    stopping_ = false;
    stop_rows_.store(false);
    failed_ = false;
    started_ = true;
    plan_ = plan_threads_here(options_.workers);
    const int threads = options_.placement == worker_placement::planned ? plan_.dedicated_workers : options_.workers;
    const bool idle = options_.placement == worker_placement::idle_priority;
    for (int w = 0; w < threads; ++w)
      workers_.emplace_back([this, idle] {
        if (idle) set_this_thread_priority(thread_priority::idle);  // new threads start at their creator's
        work();
      });
  }

  // Worker threads running for this epoch (0 before the first).
  int threads() const { return int(workers_.size()); }

  // The next batch of the epoch, in order; false when the epoch is over. When the batch is not
  // finished yet, the calling thread and its compute threads (num_threads()) make its remaining
  // samples, then wait for any a worker is still making; rethrows a worker's exception (the
  // epoch then ends).
  bool next(batch& out) {
    if (!started_) throw error("loader::next: call start_epoch(epoch) first");
    if (failed_) throw error("loader::next: this epoch ended with an error (thrown before); call start_epoch again");
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_lock lock(mutex_);
    if (next_to_deliver_ >= total_) return false;
    const std::int64_t wanted = next_to_deliver_;
    ++counts_.batches;
    if (ready_.find(wanted) == ready_.end()) {
      ++counts_.not_ready;
      // Batches start in order and `wanted` is the first not delivered: in the making, or next.
      const auto it = making_.find(wanted);
      const std::shared_ptr<assembly> a = it != making_.end() ? it->second : begin_batch();
      lock.unlock();
      if (a->claimed.load() < a->count) on_team(num_threads(), [&] { make_rows(*a, rows_in_next_); });
      lock.lock();
      made_.wait(lock, [&] { return ready_.find(wanted) != ready_.end(); });
    }
    auto node = ready_.extract(wanted);
    ++next_to_deliver_;
    counts_.seconds_in_next += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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

  // How often next() found its batch not finished, of all calls (measures the overlap).
  std::pair<std::int64_t, std::int64_t> stalls() const {
    std::lock_guard lock(mutex_);
    return {counts_.not_ready, counts_.batches};
  }

  loader_counts counts() const {
    std::lock_guard lock(mutex_);
    loader_counts c = counts_;
    c.samples_by_workers = rows_by_workers_.load();
    c.samples_in_next = rows_in_next_.load();
    return c;
  }

  // The plan worked out for the current epoch (thread_plan.hpp), whatever the placement.
  const thread_plan& plan() const { return plan_; }

 private:
  static constexpr std::uint64_t order_stream = 0x10ad0001, augment_stream = 0x10ad0002;

  struct made_batch {
    batch b;
    std::exception_ptr error;
  };

  // One batch in the making. Threads claim its rows (samples) from `claimed`; the one that
  // finishes the last row finishes the batch. The first row made fixes the tensor's shape.
  struct assembly {
    struct row {
      std::exception_ptr error;
      std::int64_t channels = 0, height = 0, width = 0;
      bool kept = false;  // made (not a skipped bad record)
    };
    std::int64_t number = 0, count = 0;  // count: this shard's rows
    std::int64_t first = 0, global = 0;  // where they start in the global batch, and its rows
    std::atomic<std::int64_t> claimed{0}, finished{0};
    std::vector<row> rows;
    std::mutex shape_mutex;
    std::atomic<std::int64_t> per{-1};  // row length the tensor holds; -1 until allocated
    std::int64_t channels = 0, height = 0, width = 0;
    batch b;
  };

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    stop_rows_.store(true);
    room_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  // Starts the next batch (under mutex_): its rows (this shard's) become claimable. A shard
  // without rows in it (a global batch smaller than the ranks) is ready at once.
  std::shared_ptr<assembly> begin_batch() {
    auto a = std::make_shared<assembly>();
    a->number = next_to_make_++;
    a->global = std::min(options_.batch_size, samples() - a->number * options_.batch_size);
    const row_range mine = rows_of(a->global, options_.shard.rank, options_.shard.ranks);
    a->first = mine.first;
    a->count = mine.count;
    a->rows.resize(std::size_t(a->count));
    if (a->count == 0) {
      batch empty{Tensor<float, 2>(Shape{0, 0}), Tensor<std::int32_t, 1>(Shape<1>{0}), a->number, global_rows_of(*a, 0)};
      ready_.emplace(a->number, made_batch{std::move(empty), nullptr});
      return a;
    }
    making_.emplace(a->number, a);
    return a;
  }

  // The global batch's rows where every rank knows them: unless records may be skipped.
  std::int64_t global_rows_of(const assembly& a, std::int64_t kept) const {
    if (options_.shard.ranks == 1) return kept;
    return options_.on_bad_record == bad_records::fail ? a.global : 0;
  }

  // Under mutex_: the oldest batch in the making with rows to claim, or a new one if the
  // prefetch bound allows; null when there is nothing to do now.
  std::shared_ptr<assembly> claimable() {
    for (auto& [number, a] : making_)
      if (a->claimed.load() < a->count) return a;
    if (next_to_make_ < total_ && next_to_make_ < next_to_deliver_ + options_.prefetch) return begin_batch();
    return nullptr;
  }

  void work() {
    for (;;) {
      std::shared_ptr<assembly> a;
      {
        std::unique_lock lock(mutex_);
        for (;;) {
          if (stopping_) return;
          if ((a = claimable())) break;
          if (next_to_make_ >= total_) return;  // every batch started and every row claimed
          room_.wait(lock);
        }
      }
      make_rows(*a, rows_by_workers_);
    }
  }

  // Claims and makes rows of `a` until none is left; finishes the batch if it made the last.
  void make_rows(assembly& a, std::atomic<std::int64_t>& made) {
    for (;;) {
      if (stop_rows_.load(std::memory_order_relaxed)) return;  // the loader is stopping: leave the rest
      const std::int64_t r = a.claimed.fetch_add(1);
      if (r >= a.count) return;
      make_row(a, r);
      ++made;
      if (a.finished.fetch_add(1, std::memory_order_acq_rel) + 1 == a.count) finish(a);
    }
  }

  // Row r of batch a: sample order_[number·B + r], read, augmented with its own engine (seed,
  // epoch, sample index) and converted straight into the batch's row r.
  void make_row(assembly& a, std::int64_t r) const {
    using pixel = std::remove_cvref_t<decltype(data_->get(0).image(0, 0, 0))>;
    thread_local image<pixel> augmented;  // per thread: rows of one batch run on several at once
    auto& row = a.rows[std::size_t(r)];
    const std::int64_t index = order_[std::size_t(a.number * options_.batch_size + a.first + r)];
    try {
      decltype(data_->get(index)) s;
      try {
        s = data_->get(index);
      } catch (const data_error&) {
        if (options_.on_bad_record == bad_records::fail) throw;
        ++skipped_;
        return;
      }
      image_view<const pixel> view = s.image.view();
      if constexpr (!std::is_same_v<Augment, no_augmentation>) {
        random_engine rng = random_engine(options_.seed, augment_stream)
                                .fork(std::uint64_t(epoch_) * std::uint64_t(samples()) + std::uint64_t(index));
        auto p = augment_.sample(rng, view.size());
        augment_.apply(p, view, augmented);
        view = augmented.view();
      }
      row.channels = view.channels(), row.height = view.height(), row.width = view.width();
      row.kept = true;
      if (a.per.load(std::memory_order_acquire) < 0) {
        std::lock_guard lock(a.shape_mutex);
        if (a.per.load(std::memory_order_relaxed) < 0) {
          a.channels = row.channels, a.height = row.height, a.width = row.width;
          const std::int64_t per = row.channels * row.height * row.width;
          a.b.images = Tensor<float, 2>::uninitialized(Shape{a.count, per});
          a.b.labels = Tensor<std::int32_t, 1>::uninitialized(Shape<1>{a.count});
          a.per.store(per, std::memory_order_release);
        }
      }
      // A row of another shape is an error finish() reports; it must not write past its row.
      if (row.channels != a.channels || row.height != a.height || row.width != a.width) return;
      const normalization norm{std::span<const float>(options_.mean), std::span<const float>(options_.stddev)};
      to_chw(view, a.b.images.data() + r * a.per.load(std::memory_order_relaxed), norm);
      a.b.labels(r) = std::int32_t(s.label);
    } catch (...) {
      row.error = std::current_exception();
    }
  }

  // Every row is made: the error of the first failed row in batch order (the same whichever
  // thread made which row), else the shape check in order, else the kept rows moved together.
  void finish(assembly& a) {
    std::exception_ptr failure;
    std::int64_t kept = 0, first = -1;
    for (std::int64_t r = 0; r < a.count && !failure; ++r) {
      const auto& row = a.rows[std::size_t(r)];
      if (row.error) {
        failure = row.error;
      } else if (row.kept) {
        ++kept;
        if (first < 0) {
          first = r;
        } else if (const auto& f = a.rows[std::size_t(first)];
                   row.channels != f.channels || row.height != f.height || row.width != f.width) {
          const auto at = [&](std::int64_t i) { return order_[std::size_t(a.number * options_.batch_size + a.first + i)]; };
          const auto size = [](const auto& x) {
            return std::to_string(x.channels) + "×" + std::to_string(x.height) + "×" + std::to_string(x.width);
          };
          failure = std::make_exception_ptr(shape_error(
              "loader: sample " + std::to_string(at(r)) + " is " + size(row) + " after augmentation, but the batch's first (sample " +
              std::to_string(at(first)) + ") is " + size(f) + " (crop or resize to one size)"));
        }
      }
    }
    batch& b = a.b;
    if (!failure && kept < a.count) {  // records were skipped: keep the made rows, in order (rare, so a copy is fine)
      const std::int64_t per = std::max<std::int64_t>(a.per.load(), 0);
      auto images = Tensor<float, 2>::uninitialized(Shape{kept, per});
      auto labels = Tensor<std::int32_t, 1>::uninitialized(Shape<1>{kept});
      for (std::int64_t r = 0, n = 0; r < a.count; ++r) {
        if (!a.rows[std::size_t(r)].kept) continue;
        std::copy(b.images.data() + r * per, b.images.data() + (r + 1) * per, images.data() + n * per);
        labels(n++) = b.labels(r);
      }
      b.images = std::move(images);
      b.labels = std::move(labels);
    }
    b.number = a.number;
    b.global_rows = global_rows_of(a, kept);
    {
      std::lock_guard lock(mutex_);
      ready_.emplace(a.number, made_batch{std::move(b), failure});
      making_.erase(a.number);  // callers hold their own reference to `a`
    }
    made_.notify_all();
  }

  const Data* data_;
  Augment augment_;
  loader_options options_;
  thread_plan plan_;
  std::vector<std::int64_t> order_;
  std::int64_t epoch_ = 0, total_ = 0;
  bool started_ = false, failed_ = false;

  mutable std::mutex mutex_;
  std::condition_variable made_, room_;
  std::map<std::int64_t, made_batch> ready_;
  std::map<std::int64_t, std::shared_ptr<assembly>> making_;
  std::int64_t next_to_make_ = 0, next_to_deliver_ = 0;
  bool stopping_ = false;
  std::atomic<bool> stop_rows_{false};
  loader_counts counts_;
  std::atomic<std::int64_t> rows_by_workers_{0}, rows_in_next_{0};
  mutable std::atomic<std::int64_t> skipped_{0};
  std::vector<std::thread> workers_;
};

}  // namespace strata::data
