// strata/parallel/thread_group.hpp — data parallelism across threads of one process: R ranks
// that share memory, a communicator for each (sums in rank order, as every transport does), and
// run_threads(R, body), which runs body(communicator&) on R threads, each with 1/R of the cores,
// and hands the first failure to the caller after ending the others (never a hang).
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "strata/core/parallel.hpp"
#include "strata/parallel/communicator.hpp"

namespace strata::parallel {

namespace detail {
// [N·r/R, N·(r+1)/R): rank r's share of N values (the chunks every transport uses).
inline std::int64_t share_begin(std::int64_t n, int rank, int ranks) { return n * rank / ranks; }
inline std::int64_t share_end(std::int64_t n, int rank, int ranks) { return n * (rank + 1) / ranks; }
}  // namespace detail

// What R threads share: a barrier that a failing rank can break, and one published pointer per
// rank for the collective in progress.
class thread_group {
 public:
  explicit thread_group(int ranks) : ranks_(ranks), published_(static_cast<std::size_t>(ranks)), sizes_(published_.size()) {
    if (ranks < 1) throw error("thread_group: needs at least one rank, got " + std::to_string(ranks));
  }
  thread_group(const thread_group&) = delete;
  thread_group& operator=(const thread_group&) = delete;

  int size() const noexcept { return ranks_; }

  // Waits until every rank arrives; throws group_error when a rank failed (before or meanwhile).
  void arrive_and_wait() {
    std::unique_lock lock(mutex_);
    check_failed();
    const std::uint64_t generation = generation_;
    if (++arrived_ == ranks_) {
      arrived_ = 0;
      ++generation_;
      wake_.notify_all();
      return;
    }
    wake_.wait(lock, [&] { return generation_ != generation || failed_; });
    if (generation_ == generation) check_failed();
  }

  // Marks the group failed: every rank's current and next wait throws group_error(message).
  void fail(int rank, const std::string& message) {
    std::lock_guard lock(mutex_);
    if (!failed_) {
      failed_ = true;
      message_ = "rank " + std::to_string(rank) + " of " + std::to_string(ranks_) + ": " + message;
    }
    wake_.notify_all();
  }
  bool failed() const {
    std::lock_guard lock(mutex_);
    return failed_;
  }

  // The pointer and size each rank published for the collective in progress.
  void publish(int rank, const void* data, std::int64_t size) {
    published_[static_cast<std::size_t>(rank)] = data;
    sizes_[static_cast<std::size_t>(rank)] = size;
  }
  const void* published(int rank) const { return published_[static_cast<std::size_t>(rank)]; }
  std::int64_t published_size(int rank) const { return sizes_[static_cast<std::size_t>(rank)]; }

 private:
  void check_failed() const {
    if (failed_) throw group_error(message_);
  }

  int ranks_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  int arrived_ = 0;
  std::uint64_t generation_ = 0;
  bool failed_ = false;
  std::string message_;
  std::vector<const void*> published_;
  std::vector<std::int64_t> sizes_;
};

// Rank `rank` of a thread_group. Sums: rank r adds every rank's chunk r in rank order into a
// scratch buffer, then writes it into every rank's buffer; three barriers per sum.
class thread_communicator final : public communicator {
 public:
  thread_communicator(thread_group& group, int rank) : group_(&group), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return group_->size(); }

  void all_reduce_sum(std::span<float> data) override { reduce(data); }
  void all_reduce_sum(std::span<double> data) override { reduce(data); }
  void all_gather(std::span<const float> mine, std::span<float> out, std::span<const std::int64_t> counts) override {
    gather(mine, out, counts);
  }
  void all_gather(std::span<const double> mine, std::span<double> out, std::span<const std::int64_t> counts) override {
    gather(mine, out, counts);
  }
  void reduce_scatter_sum(std::span<const float> all, std::span<float> mine, std::span<const std::int64_t> counts) override {
    scatter(all, mine, counts);
  }
  void reduce_scatter_sum(std::span<const double> all, std::span<double> mine, std::span<const std::int64_t> counts) override {
    scatter(all, mine, counts);
  }

  void broadcast(std::span<std::byte> data, int root) override {
    check_root(root);
    group_->publish(rank_, data.data(), static_cast<std::int64_t>(data.size()));
    group_->arrive_and_wait();
    check_sizes("broadcast");
    if (rank_ != root && !data.empty()) std::memcpy(data.data(), group_->published(root), data.size());
    if (rank_ == root) count_sent(static_cast<std::int64_t>(data.size()) * (size() - 1));
    group_->arrive_and_wait();
  }

  void barrier() override { group_->arrive_and_wait(); }

  [[noreturn]] void abort(const std::string& message) override {
    group_->fail(rank_, message);
    throw group_error("rank " + std::to_string(rank_) + " of " + std::to_string(size()) + ": " + message);
  }

 private:
  void check_root(int root) const {
    if (root < 0 || root >= size())
      throw error("communicator: root " + std::to_string(root) + " is not a rank of " + std::to_string(size()));
  }
  // Every rank published as many values: a mismatch would read past a buffer, so it ends them all.
  void check_sizes(const char* what) {
    bool same = true;
    std::string sizes;
    for (int r = 0; r < size(); ++r) {
      same = same && group_->published_size(r) == group_->published_size(0);
      sizes += (r ? ", " : "") + std::to_string(group_->published_size(r));
    }
    if (!same) abort(std::string(what) + ": the ranks passed different sizes (" + sizes + " values from ranks 0…" + std::to_string(size() - 1) + ")");
  }
  static void check_counts(std::span<const std::int64_t> counts, int ranks, std::int64_t total, std::int64_t mine, int rank,
                           const char* what) {
    if (static_cast<int>(counts.size()) != ranks)
      throw error(std::string(what) + ": " + std::to_string(counts.size()) + " counts for " + std::to_string(ranks) + " ranks");
    std::int64_t sum = 0;
    for (std::int64_t c : counts) sum += c;
    if (sum != total || counts[static_cast<std::size_t>(rank)] != mine)
      throw error(std::string(what) + ": counts add up to " + std::to_string(sum) + " (rank's own " +
                  std::to_string(counts[static_cast<std::size_t>(rank)]) + ") for buffers of " + std::to_string(total) + " and " +
                  std::to_string(mine) + " values");
  }
  static std::int64_t offset_of(std::span<const std::int64_t> counts, int rank) {
    std::int64_t offset = 0;
    for (int r = 0; r < rank; ++r) offset += counts[static_cast<std::size_t>(r)];
    return offset;
  }

  template <class T>
  void reduce(std::span<T> data) {
    const std::int64_t n = static_cast<std::int64_t>(data.size());
    const int ranks = size();
    group_->publish(rank_, data.data(), n);
    group_->arrive_and_wait();
    check_sizes("all_reduce_sum");
    const std::int64_t begin = detail::share_begin(n, rank_, ranks), end = detail::share_end(n, rank_, ranks);
    std::vector<T>& sums = scratch<T>();
    sums.resize(static_cast<std::size_t>(end - begin));
    const T* first = static_cast<const T*>(group_->published(0));
    std::copy(first + begin, first + end, sums.begin());
    for (int r = 1; r < ranks; ++r) {
      const T* from = static_cast<const T*>(group_->published(r)) + begin;
      for (std::int64_t i = 0; i < end - begin; ++i) sums[static_cast<std::size_t>(i)] += from[i];
    }
    group_->arrive_and_wait();  // every rank has read every buffer
    for (int r = 0; r < ranks; ++r)
      std::copy(sums.begin(), sums.end(), static_cast<T*>(const_cast<void*>(group_->published(r))) + begin);
    count_sent(static_cast<std::int64_t>(sizeof(T)) * ((n - (end - begin)) + (ranks - 1) * (end - begin)));
    group_->arrive_and_wait();  // every chunk is home
  }

  template <class T>
  void gather(std::span<const T> mine, std::span<T> out, std::span<const std::int64_t> counts) {
    const int ranks = size();
    check_counts(counts, ranks, static_cast<std::int64_t>(out.size()), static_cast<std::int64_t>(mine.size()), rank_, "all_gather");
    group_->publish(rank_, mine.data(), static_cast<std::int64_t>(mine.size()));
    group_->arrive_and_wait();
    std::int64_t offset = 0;
    for (int r = 0; r < ranks; ++r) {
      const std::int64_t c = counts[static_cast<std::size_t>(r)];
      if (group_->published_size(r) != c)
        abort("all_gather: rank " + std::to_string(r) + " passed " + std::to_string(group_->published_size(r)) +
              " values where the counts say " + std::to_string(c));
      const T* from = static_cast<const T*>(group_->published(r));
      std::copy(from, from + c, out.data() + offset);
      offset += c;
    }
    count_sent(static_cast<std::int64_t>(sizeof(T)) * (ranks - 1) * static_cast<std::int64_t>(mine.size()));
    group_->arrive_and_wait();
  }

  template <class T>
  void scatter(std::span<const T> all, std::span<T> mine, std::span<const std::int64_t> counts) {
    const int ranks = size();
    const std::int64_t total = static_cast<std::int64_t>(all.size());
    check_counts(counts, ranks, total, static_cast<std::int64_t>(mine.size()), rank_, "reduce_scatter_sum");
    group_->publish(rank_, all.data(), total);
    group_->arrive_and_wait();
    check_sizes("reduce_scatter_sum");
    const std::int64_t offset = offset_of(counts, rank_);
    const T* first = static_cast<const T*>(group_->published(0)) + offset;
    std::copy(first, first + static_cast<std::int64_t>(mine.size()), mine.begin());
    for (int r = 1; r < ranks; ++r) {
      const T* from = static_cast<const T*>(group_->published(r)) + offset;
      for (std::size_t i = 0; i < mine.size(); ++i) mine[i] += from[i];
    }
    count_sent(static_cast<std::int64_t>(sizeof(T)) * (total - static_cast<std::int64_t>(mine.size())));
    group_->arrive_and_wait();
  }

  template <class T>
  std::vector<T>& scratch() {
    if constexpr (std::is_same_v<T, float>) return scratch_float_;
    else return scratch_double_;
  }

  thread_group* group_;
  int rank_;
  std::vector<float> scratch_float_;
  std::vector<double> scratch_double_;
};

// Runs body(communicator&) on `ranks` threads (rank 0 on the calling thread), each with a
// compute budget of `threads_per_rank` (0: strata's thread count divided among the ranks, at
// least 1), so R replicas never run more compute threads than one model would. When a rank
// throws, the others' collectives throw group_error; after every thread has ended, the first
// failure is rethrown as it was thrown.
template <class Body>
void run_threads(int ranks, Body&& body, int threads_per_rank = 0) {
  if (ranks < 1) throw error("run_threads: needs at least one rank, got " + std::to_string(ranks));
  if (threads_per_rank <= 0) threads_per_rank = std::max(1, num_threads() / ranks);
  thread_group group(ranks);
  std::mutex first_mutex;
  std::exception_ptr first;  // the root cause, not the group_errors it set off
  const auto run = [&](int rank) {
    thread_communicator comm(group, rank);
    try {
      const thread_budget budget(threads_per_rank);
      body(static_cast<communicator&>(comm));
    } catch (const group_error&) {
      std::lock_guard lock(first_mutex);
      if (!first) first = std::current_exception();
      group.fail(rank, "ended");
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(first_mutex);
        if (!first || !group.failed()) first = std::current_exception();
      }
      group.fail(rank, e.what());
    } catch (...) {
      {
        std::lock_guard lock(first_mutex);
        if (!first || !group.failed()) first = std::current_exception();
      }
      group.fail(rank, "an exception that is not a std::exception");
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(ranks - 1));
  for (int r = 1; r < ranks; ++r) threads.emplace_back(run, r);
  run(0);
  for (auto& t : threads) t.join();
  if (first) std::rethrow_exception(first);
}

}  // namespace strata::parallel
