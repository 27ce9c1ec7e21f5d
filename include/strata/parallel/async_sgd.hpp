// strata/parallel/async_sgd.hpp — asynchronous SGD on threads with shared weights and bounded
// staleness (Downpour SGD's parameter server, inside one process): W workers, each a replica with
// 1/W of the cores, compute gradients on their own batches of the epoch and push them to a
// parameter_store that holds the model and its one optimizer and applies them one at a time. No
// gradient is applied more than s updates after the weights it was computed on; s = 0 is plain
// sequential SGD. fit_async mirrors fit_threads and also reports the staleness it saw.
//
// The staleness rule. A gradient computed on the weights of version v (v updates applied) and
// applied when the store is at version V has staleness V − v. Two gates keep every one ≤ s:
//   1. admission: a worker takes the current weights and the next batch of the epoch only while
//      at most s other gradients are in flight (taken, not yet applied);
//   2. application: a gradient is applied only if every gradient still in flight can afterwards
//      be applied within the bound, oldest first (sorted by version v_0 ≤ v_1 ≤ …, the j-th needs
//      V + 1 + j − v_j ≤ s).
// Together they keep "everything in flight can still meet the bound" true at all times, and the
// oldest gradient in flight can always be applied, so nothing deadlocks: a worker that ran ahead
// waits (gate 2) only until the slowest worker's gradient lands. This is stale synchronous
// parallel (SSP, Ho et al. 2013) counted in applied updates instead of per-worker clocks, so the
// bound is on the staleness itself (an SSP clock bound of s allows up to about (W − 1)·(s + 1)
// updates in between). Nothing computed is thrown away: rejecting a stale gradient and
// recomputing it wastes the slow worker's work and can starve it. With s = 0 one gradient is in
// flight at a time, computed on the current weights: train::fit's updates, batch for batch.
//
// Not deterministic for s ≥ 1 with several workers: which worker takes which batch and the order
// the updates land depend on thread timing, so reruns differ (fit_threads' are bit for bit).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <numeric>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/parallel.hpp"
#include "strata/core/random.hpp"
#include "strata/core/tensor.hpp"
#include "strata/layers/layer.hpp"
#include "strata/layers/loss.hpp"
#include "strata/layers/softmax_cross_entropy.hpp"
#include "strata/parallel/communicator.hpp"
#include "strata/train/fit.hpp"
#include "strata/train/progress.hpp"
#include "strata/train/schedule.hpp"

namespace strata::parallel {

// What fit_async's on_gradient hook sees of a gradient before it is pushed.
struct async_batch {
  int worker = 0;
  int epoch = 0;
  std::int64_t batch = 0;                 // the batch's index in the epoch
  std::int64_t version = 0;               // updates applied to the weights the gradient was computed on
  std::span<const std::int64_t> samples;  // its examples (indices into the training set)
};

struct async_options {
  std::int64_t staleness = 4;  // s: a gradient lands at most s updates after the weights it was computed on
  int threads_per_worker = 0;  // compute threads of each worker (0: strata's thread count / workers, at least 1)
  // Called on the worker's thread after each gradient is computed, before it is pushed:
  // instrumentation, and in tests a slow or failing worker (what it throws ends fit_async).
  std::function<void(const async_batch&)> on_gradient = {};
};

// What the store saw during one fit_async call.
struct staleness_report {
  std::int64_t bound = 0;
  // [k]: gradients applied k updates after the weights they were computed on, as observed (sized
  // by the largest seen, so a breach of the bound would show, not be clipped).
  std::vector<std::int64_t> histogram;
  std::int64_t max = 0;
  double mean = 0;
  std::int64_t updates = 0;                      // gradients applied
  std::vector<std::int64_t> updates_by_worker;
  std::int64_t weight_copies = 0;                // replicas refreshed from the store
  std::int64_t admission_waits = 0;              // a worker waited for a place among the s + 1 in flight
  std::int64_t apply_waits = 0;                  // a computed gradient waited for an older one to land
  double wait_seconds = 0;                       // both kinds of wait, summed over workers
  double store_seconds = 0;                      // the lock held: weight copies, gradient copies, optimizer steps
};

struct async_result {
  std::vector<train::epoch_report> history;  // as fit_threads gives it
  staleness_report staleness;
};

// The shared side: the model (the weights workers copy), the optimizer that updates it, the
// version (updates applied so far, also the schedule's step), the gradients in flight and the
// epoch's batches. One mutex guards it all; the critical sections are copies and the optimizer's
// step (a few per cent of a worker's step on the demo network), and the optimizer's state
// (momentum, Adam's moments) is one object whose step is not safe to run concurrently, which
// rules out Hogwild's lock-free writes for any optimizer but plain SGD.
template <class Model, class Optimizer>
class parameter_store {
 public:
  using T = typename Model::element_type;
  using D = typename Model::device_type;

  // A batch handed to a worker: its index in the epoch (−1: none left) and the version of the
  // weights now in the worker's replica.
  struct ticket {
    std::int64_t batch = -1;
    std::int64_t version = 0;
  };

  parameter_store(Model& model, Optimizer& optimizer, std::vector<Model*> replicas, std::int64_t bound)
      : model_(&model), optimizer_(&optimizer), bound_(bound), replicas_(std::move(replicas)),
        read_(replicas_.size(), -1), replica_version_(replicas_.size(), -1), updates_by_worker_(replicas_.size(), 0) {
    if (bound < 0) throw error("fit_async: the staleness bound must be non-negative, got " + std::to_string(bound));
    views(model, values_, gradients_, rates_);
    for (Model* r : replicas_) {
      replica_values_.emplace_back();
      replica_gradients_.emplace_back();
      std::vector<double> rates;
      views(*r, replica_values_.back(), replica_gradients_.back(), rates);
      if (replica_values_.back().size() != values_.size()) throw error("fit_async: a replica has other parameters than the model");
      for (std::size_t i = 0; i < values_.size(); ++i)
        if (replica_values_.back()[i].size() != values_[i].size())
          throw error("fit_async: a replica's parameter " + std::to_string(i) + " has another size than the model's");
    }
  }

  // A new epoch of `batches` batches, reported to `bar` as they land.
  void start_epoch(std::int64_t batches, train::progress* bar) {
    std::lock_guard lock(mutex_);
    next_batch_ = 0;
    batches_ = batches;
    bar_ = bar;
  }

  // Gate 1: waits for a place among the s + 1 gradients in flight, first come first served (a
  // worker that has just pushed would otherwise win the place back from one that was woken for
  // it, again and again), then hands out the epoch's next batch and brings the worker's replica
  // to the current weights (copied only when an update landed since its last copy). Throws
  // group_error once another worker has failed.
  ticket take(int worker) {
    std::unique_lock lock(mutex_);
    const std::int64_t queued = queue_tail_++;
    const auto ready = [&] { return failed_ || (queued == queue_head_ && (next_batch_ >= batches_ || in_flight_ <= bound_)); };
    if (!ready()) {
      ++admission_waits_;
      const auto t0 = std::chrono::steady_clock::now();
      wake_.wait(lock, ready);
      wait_seconds_ += seconds_since(t0);
    }
    if (failed_) throw group_error(message_);
    ++queue_head_;
    wake_.notify_all();  // the next in the queue may fit too
    if (next_batch_ >= batches_) return {};
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t w = static_cast<std::size_t>(worker);
    read_[w] = version_;
    ++in_flight_;
    if (replica_version_[w] != version_) {
      for (std::size_t i = 0; i < values_.size(); ++i) copy(values_[i], replica_values_[w][i]);
      replica_version_[w] = version_;
      ++weight_copies_;
    }
    store_seconds_ += seconds_since(t0);
    return {next_batch_++, version_};
  }

  // Gate 2, then the update: waits until applying this worker's gradient keeps the bound for
  // every gradient in flight, copies it into the model's gradients and steps the optimizer at
  // schedule(version). rows, loss and correct are the batch's, for the epoch's progress.
  template <train::Schedule S>
  void push(int worker, const S& schedule, std::int64_t rows, double loss, std::int64_t correct) {
    std::unique_lock lock(mutex_);
    const auto ready = [&] { return failed_ || may_apply(worker); };
    if (!ready()) {
      ++apply_waits_;
      const auto t0 = std::chrono::steady_clock::now();
      wake_.wait(lock, ready);
      wait_seconds_ += seconds_since(t0);
    }
    if (failed_) throw group_error(message_);
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t w = static_cast<std::size_t>(worker);
    const std::int64_t staleness = version_ - read_[w];
    if (histogram_.size() <= static_cast<std::size_t>(staleness)) histogram_.resize(static_cast<std::size_t>(staleness) + 1, 0);
    ++histogram_[static_cast<std::size_t>(staleness)];
    for (std::size_t i = 0; i < gradients_.size(); ++i)
      if (rates_[i] != 0) copy(replica_gradients_[w][i], gradients_[i]);  // a frozen parameter's gradient is never read
    optimizer_->step(*model_, schedule(version_));
    ++version_;
    read_[w] = -1;
    --in_flight_;
    ++updates_by_worker_[w];
    if (bar_) bar_->step(rows, loss, correct);
    store_seconds_ += seconds_since(t0);
    wake_.notify_all();
  }

  // Ends every worker: their current and next take/push throw group_error naming this one.
  void fail(int worker, const std::string& message) {
    std::lock_guard lock(mutex_);
    if (!failed_) {
      failed_ = true;
      message_ = "worker " + std::to_string(worker) + " of " + std::to_string(replicas_.size()) + ": " + message;
    }
    wake_.notify_all();
  }

  std::int64_t version() const {
    std::lock_guard lock(mutex_);
    return version_;
  }

  staleness_report report() const {
    std::lock_guard lock(mutex_);
    staleness_report r;
    r.bound = bound_;
    r.histogram = histogram_;
    double sum = 0;
    for (std::size_t k = 0; k < histogram_.size(); ++k) {
      r.updates += histogram_[k];
      sum += double(k) * double(histogram_[k]);
      if (histogram_[k] > 0) r.max = std::int64_t(k);
    }
    r.mean = r.updates ? sum / double(r.updates) : 0.0;
    r.updates_by_worker = updates_by_worker_;
    r.weight_copies = weight_copies_;
    r.admission_waits = admission_waits_;
    r.apply_waits = apply_waits_;
    r.wait_seconds = wait_seconds_;
    r.store_seconds = store_seconds_;
    return r;
  }

 private:
  static void views(Model& m, std::vector<TensorView<T, 1, D>>& values, std::vector<TensorView<T, 1, D>>& gradients,
                    std::vector<double>& rates) {
    m.visit_parameters([&](const parameter_ref<T, D>& p) {
      values.push_back(p.value);
      gradients.push_back(p.gradient);
      rates.push_back(p.rate);
    });
  }
  static void copy(const TensorView<T, 1, D>& from, const TensorView<T, 1, D>& to) {
    std::memcpy(to.data(), from.data(), static_cast<std::size_t>(from.size()) * sizeof(T));
  }
  static double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  // Whether the gradients in flight other than `worker`'s can all still land within the bound,
  // oldest first, once this one has (at version_ + 1).
  bool may_apply(int worker) {
    others_.clear();
    for (std::size_t q = 0; q < read_.size(); ++q)
      if (static_cast<int>(q) != worker && read_[q] >= 0) others_.push_back(read_[q]);
    std::sort(others_.begin(), others_.end());
    for (std::size_t j = 0; j < others_.size(); ++j)
      if (version_ + 1 + std::int64_t(j) - others_[j] > bound_) return false;
    return true;
  }

  Model* model_;
  Optimizer* optimizer_;
  std::int64_t bound_;
  std::vector<Model*> replicas_;
  std::vector<TensorView<T, 1, D>> values_, gradients_;
  std::vector<double> rates_;
  std::vector<std::vector<TensorView<T, 1, D>>> replica_values_, replica_gradients_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::int64_t version_ = 0;                    // updates applied
  std::int64_t in_flight_ = 0;
  std::vector<std::int64_t> read_;              // per worker: the version its gradient in flight was computed on, −1: none
  std::vector<std::int64_t> replica_version_;   // per worker: the version its replica holds, −1: never copied
  std::vector<std::int64_t> others_;            // may_apply's scratch
  std::int64_t queue_head_ = 0, queue_tail_ = 0;  // gate 1's queue: the next served, the next to join
  std::int64_t next_batch_ = 0, batches_ = 0;
  train::progress* bar_ = nullptr;
  bool failed_ = false;
  std::string message_;

  std::vector<std::int64_t> histogram_, updates_by_worker_;
  std::int64_t weight_copies_ = 0, admission_waits_ = 0, apply_waits_ = 0;
  double wait_seconds_ = 0, store_seconds_ = 0;
};

namespace detail {
// The buffers of every state tensor (batch-norm running statistics) of a model, in visiting order.
template <class Model>
std::vector<std::span<std::byte>> state_bytes(Model& m) {
  std::vector<std::span<std::byte>> out;
  m.visit_state([&](const std::string&, auto view) {
    out.emplace_back(reinterpret_cast<std::byte*>(view.data()), static_cast<std::size_t>(view.size()) * sizeof(*view.data()));
  });
  return out;
}
template <class Model>
void copy_state(Model& from, Model& to) {
  const auto a = state_bytes(from), b = state_bytes(to);
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (a[i].size() == b[i].size() && !a[i].empty()) std::memcpy(b[i].data(), a[i].data(), a[i].size());
}
}  // namespace detail

// Trains `model` with `workers` asynchronous workers on threads, each taking the epoch's batches
// of options.batch_size (every example once per epoch across workers: the next batch of the
// shuffled order goes to whichever worker asks first) and pushing its gradient to the store,
// which steps `optimizer` on `model` at schedule(updates applied so far). `async.staleness` is
// the bound s (see the top of this file). Epoch reports are as fit_threads gives them: the train
// loss and accuracy of each batch as its worker computed it, the test set (when given) evaluated
// on `model` after each epoch. Batch-norm running statistics: each replica keeps its own; `model`
// gets worker 0's after each epoch (as fit_threads keeps rank 0's). fp32 and fp64 models on the
// CPU (no loss scaling: options.loss_scale is not used). A failure on any worker ends all of them
// and is rethrown as it was thrown.
template <class Model, class Optimizer, train::Schedule S, class Data, Loss L = SoftmaxCrossEntropy>
  requires train::OptimizerFor<Optimizer, Model>
async_result fit_async(int workers, Model& model, const Data& train_set, Optimizer& optimizer, const S& schedule,
                       const train::fit_options& options, const async_options& async = {}, const Data* test = nullptr,
                       const std::function<void(const train::epoch_report&)>& on_epoch = {}, const L& loss = {}) {
  using T = typename Model::element_type;
  static_assert(std::is_same_v<typename Model::device_type, cpu>,
                "strata::parallel::fit_async: asynchronous workers share weights in host memory; the model must be on the CPU");
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "strata::parallel::fit_async: the model's element type must be float or double (no loss scaling here)");
  if (workers < 1) throw error("fit_async: needs at least one worker, got " + std::to_string(workers));
  if (options.batch_size <= 0) throw error("fit_async: batch size must be positive, got " + std::to_string(options.batch_size));
  if (options.epochs < 0) throw error("fit_async: epochs must be non-negative, got " + std::to_string(options.epochs));
  if (async.staleness < 0) throw error("fit_async: the staleness bound must be non-negative, got " + std::to_string(async.staleness));
  const std::int64_t n = train::detail::sample_count(train_set);
  const std::int64_t batch = options.batch_size;
  const std::int64_t steps_per_epoch = (n + batch - 1) / batch;
  const int threads_per_worker = async.threads_per_worker > 0 ? async.threads_per_worker : std::max(1, num_threads() / workers);

  // Replicas start from the model (the store copies its weights in at their first batch), with
  // its learning-rate rules and batch-norm statistics; worker 0 continues the model's random
  // stream (dropout), the others draw from streams of their own.
  std::vector<std::unique_ptr<Model>> replicas;
  std::vector<Model*> pointers;
  for (int w = 0; w < workers; ++w) {
    replicas.push_back(std::make_unique<Model>());
    for (const auto& [layer, multiplier] : model.learning_rate_rules()) replicas.back()->set_learning_rate(layer, multiplier);
    detail::copy_state(model, *replicas.back());
    replicas.back()->rng() = w == 0 ? model.rng() : model.rng().fork(static_cast<std::uint64_t>(w));
    pointers.push_back(replicas.back().get());
  }
  parameter_store<Model, Optimizer> store(model, optimizer, pointers, async.staleness);

  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  random_engine shuffler(options.shuffle_seed, 0x5u);  // train::fit's order
  std::vector<train::epoch_report> history;
  train::detail::announce_conv_tuning(options);

  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    if (options.shuffle)
      for (std::int64_t i = n - 1; i > 0; --i)  // Fisher–Yates
        std::swap(order[static_cast<std::size_t>(i)], order[shuffler.below(static_cast<std::uint32_t>(i + 1))]);
    std::ostringstream sink;
    train::progress bar = train::detail::epoch_progress(options, epoch, steps_per_epoch, sink);
    store.start_epoch(steps_per_epoch, &bar);

    const auto work = [&](int w) {
      Model& m = *replicas[static_cast<std::size_t>(w)];
      Tensor<T, 2> x, gradient;
      Tensor<std::int32_t, 1> y;
      for (;;) {
        const auto t = store.take(w);
        if (t.batch < 0) return;
        const std::int64_t first = t.batch * batch, rows = std::min(batch, n - first);
        train::detail::gather(train_set, order, first, rows, x, y);
        const auto out = m.forward(x, true);
        if (gradient.extent(0) != out.extent(0) || gradient.extent(1) != out.extent(1))
          gradient = Tensor<T, 2>::uninitialized(out.shape());
        const loss_result r = L::template evaluate<T>(out, y, gradient.view());
        m.backward(gradient);
        if (async.on_gradient)
          async.on_gradient({w, epoch, t.batch, t.version,
                             std::span<const std::int64_t>(order).subspan(static_cast<std::size_t>(first), static_cast<std::size_t>(rows))});
        store.push(w, schedule, rows, r.loss, r.correct);
      }
    };
    // Worker 0 on this thread; the first failure (not the group_errors it sets off) is rethrown.
    std::mutex first_mutex;
    std::exception_ptr root, ended;
    const auto run = [&](int w) {
      try {
        const thread_budget budget(threads_per_worker);
        work(w);
      } catch (const group_error&) {
        std::lock_guard lock(first_mutex);
        if (!ended) ended = std::current_exception();
      } catch (const std::exception& e) {
        {
          std::lock_guard lock(first_mutex);
          if (!root) root = std::current_exception();
        }
        store.fail(w, e.what());
      } catch (...) {
        {
          std::lock_guard lock(first_mutex);
          if (!root) root = std::current_exception();
        }
        store.fail(w, "an exception that is not a std::exception");
      }
    };
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(workers - 1));
    try {
      for (int w = 1; w < workers; ++w) threads.emplace_back(run, w);
    } catch (...) {  // no thread to start: end those started before rethrowing
      store.fail(0, "could not start a worker thread");
      for (auto& th : threads) th.join();
      throw;
    }
    run(0);
    for (auto& th : threads) th.join();
    if (root) std::rethrow_exception(root);
    if (ended) std::rethrow_exception(ended);

    bar.finish();
    detail::copy_state(*replicas[0], model);
    train::epoch_report report{epoch, bar.mean_loss(), bar.accuracy(), 0, 0, bar.seconds(), bar.images_per_second(),
                               algo::get_conv_tuning()};
    if (test) {
      const train::evaluation e = train::evaluate(model, *test, 256, loss);
      report.test_loss = e.loss;
      report.test_accuracy = e.accuracy;
    }
    history.push_back(report);
    if (on_epoch) on_epoch(report);
  }
  model.rng() = replicas[0]->rng();
  return {std::move(history), store.report()};
}

}  // namespace strata::parallel
