// strata/parallel/fit.hpp — train::fit and train::evaluate, data-parallel: fit(comm, …) runs on
// every rank of a communicator (MPI processes, GPUs), each rank gathering its rows of the same
// global batches in the same shuffled order (from a tensor data set, or from a data::loader
// sharded to the rank); fit_threads(R, model, …) runs R replicas of model on threads of this
// process. Epoch reports are the global batch's, identical on every rank.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <numeric>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/random.hpp"
#include "strata/parallel/data_parallel.hpp"
#include "strata/parallel/thread_group.hpp"
#include "strata/train/fit.hpp"

namespace strata::parallel {

// Loss and accuracy of `model` on a data set, each rank evaluating its share of the samples
// (rank r: [N·r/R, N·(r+1)/R)) and the sums combined: the same numbers on every rank, as one
// model gives them when every rank's model is the same.
template <class Model, class Data, Loss L = SoftmaxCrossEntropy>
train::evaluation evaluate(communicator& comm, Model& model, const Data& data, std::int64_t batch_size = 256, const L& = {}) {
  using T = typename Model::element_type;
  const std::int64_t n = train::detail::sample_count(data);
  const row_range mine = rows_of(n, comm.rank(), comm.size());
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  Tensor<T, 2> x;
  Tensor<std::int32_t, 1> y;
  train::batch_feed<T, typename Model::device_type> feed;
  double totals[2] = {0, 0};  // Σ loss, correct
  for (std::int64_t first = mine.first; first < mine.first + mine.count; first += batch_size) {
    const std::int64_t b = std::min(batch_size, mine.first + mine.count - first);
    train::detail::gather(data, order, first, b, x, y);
    loss_result r;
    if constexpr (std::is_same_v<typename Model::device_type, cpu>) {
      r = L::template evaluate<T>(model.forward(x, false), y);
    } else {
      const auto staged = feed.stage(x, y);
      r = L::template evaluate<T>(model.forward(staged.images, false), staged.labels);
    }
    totals[0] += r.loss * double(b);
    totals[1] += double(r.correct);
  }
  comm.all_reduce_sum(std::span<double>(totals, 2));
  return {n ? totals[0] / double(n) : 0.0, n ? totals[1] / double(n) : 0.0, n};
}

namespace detail {
// This rank's gradients on its rows of a global batch of `global_rows`: on the CPU from the host
// batch, on a GPU after staging it there.
template <class Model, class L>
step_result compute_gradients_here(replica<Model>& rep, train::batch_feed<typename Model::element_type, typename Model::device_type>& feed,
                                   const Tensor<typename Model::element_type, 2>& x, const Tensor<std::int32_t, 1>& y,
                                   std::int64_t global_rows, const L& loss) {
  if constexpr (std::is_same_v<typename Model::device_type, cpu>) {
    return rep.compute_gradients(x, y, global_rows, loss);
  } else {
    const auto staged = feed.stage(x, y);
    return rep.compute_gradients(staged.images, staged.labels, global_rows, loss);
  }
}

// fit's divergence check on every rank: whether the step's global loss and this rank's (summed)
// gradients are finite, decided together so that every rank stops or skips the same step. On a
// stop each rank names what it finds on its own rows (a re-run of its backward pass, which sums
// nothing); the global loss is non-finite on every rank when one rank's is.
template <class Model>
bool finite_everywhere(communicator& comm, Model& model, double global_loss, const train::divergence_options& o) {
  double bad = std::isfinite(global_loss) && (!o.check_gradients || train::gradients_finite(model)) ? 0 : 1;
  comm.all_reduce_sum(std::span<double>(&bad, 1));
  return bad == 0;
}

template <class Model>
train::divergence_error diverged_on_rank(communicator& comm, Model& model, replica<Model>& rep, train::detail::step_position at,
                                         const std::string& how) {
  std::string where;
  if (model.last_input().extent(0) > 0) {
    const double local_loss = 0;  // the loss of this rank's rows is not kept apart; its outputs are checked instead
    where = train::diagnose_nonfinite(model, model.last_input(), model.last_output(), local_loss, rep.output_gradient());
  }
  if (where.empty()) where = "this rank's rows gave finite values throughout; another rank's did not";
  return train::detail::diverged_at("parallel::fit", at,
                                    ", on rank " + std::to_string(comm.rank()) + " of " + std::to_string(comm.size()), where, how);
}

// After compute_gradients: true when the optimizer may step; otherwise stops (throws on every
// rank) or, with skip_step, counts the skipped step, as train::fit does.
template <class Model>
bool may_step(communicator& comm, Model& model, replica<Model>& rep, train::detail::divergence_guard& guard,
              const train::fit_options& options, double global_loss, train::detail::step_position at) {
  const bool finite = finite_everywhere(comm, model, global_loss, options.divergence);
  if (!finite && guard.stops())
    throw diverged_on_rank(comm, model, rep, at,
                           ". The weights are those before this step; fit_options::divergence.action = skip_step skips such steps");
  if (guard.count(finite))
    throw diverged_on_rank(comm, model, rep, at,
                           ", and " + std::to_string(guard.in_a_row()) + " steps in a row were skipped (divergence.max_skipped_in_a_row)");
  return finite;
}

// Closes an epoch on every rank: rank 0's batch-norm statistics everywhere, the test set
// evaluated in shares, the report kept and announced.
template <class Model, class Test, class L>
void finish_epoch(communicator& comm, replica<Model>& rep, Model& model, train::progress& bar, int epoch, const Test* test,
                  std::vector<train::epoch_report>& history, const std::function<void(const train::epoch_report&)>& on_epoch,
                  const L& loss, std::int64_t skipped, const train::fit_options& options) {
  bar.finish();
  rep.broadcast_state_from(0);
  train::epoch_report report{epoch, bar.mean_loss(), bar.accuracy(), 0, 0, bar.seconds(), bar.images_per_second(),
                             algo::get_conv_tuning()};
  report.skipped_steps = skipped;
  if (skipped > 0 && options.show_progress && options.progress.out)
    *options.progress.out << "  " << skipped << (skipped == 1 ? " step" : " steps")
                          << " skipped (non-finite loss or gradients; fit_options::divergence)\n";
  if (test) {
    const train::evaluation e = evaluate(comm, model, *test, 256, loss);
    report.test_loss = e.loss;
    report.test_accuracy = e.accuracy;
  }
  history.push_back(report);
  if (on_epoch) on_epoch(report);
}

// fit() on one rank. Every rank steps its own optimizer (processes, GPUs), or, where `optimizer`
// is null on the ranks other than 0 (threads of one process), rank 0 steps and the others take
// its parameters: one optimizer state however often fit_threads is called.
template <class Model, class Optimizer, class S, class Data, class L>
std::vector<train::epoch_report> fit_ranks(communicator& comm, Model& model, const Data& train_set, Optimizer* optimizer,
                                           const S& schedule, train::fit_options options, const data_parallel_options& dp,
                                           const Data* test, const std::function<void(const train::epoch_report&)>& on_epoch,
                                           const L& loss, bool root_steps) {
  using T = typename Model::element_type;
  if (options.batch_size <= 0) throw error("fit: batch size must be positive, got " + std::to_string(options.batch_size));
  if (options.epochs < 0) throw error("fit: epochs must be non-negative, got " + std::to_string(options.epochs));
  if (comm.rank() != 0) options.show_progress = false;
  const std::int64_t n = train::detail::sample_count(train_set);
  const std::int64_t steps_per_epoch = (n + options.batch_size - 1) / options.batch_size;
  replica<Model> rep(model, comm, dp);
  rep.broadcast_from(0);
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  random_engine shuffler(options.shuffle_seed, 0x5u);  // train::fit's order, so one process and R ranks see the same batches
  Tensor<T, 2> x;
  Tensor<std::int32_t, 1> y;
  train::batch_feed<T, typename Model::device_type> feed;
  std::vector<train::epoch_report> history;
  std::int64_t step = 0;
  train::detail::divergence_guard guard(options.divergence);
  train::detail::announce_conv_tuning(options);
  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    const std::int64_t skipped_before = guard.skipped(), first_step = step;
    if (options.shuffle)
      for (std::int64_t i = n - 1; i > 0; --i)  // Fisher–Yates
        std::swap(order[static_cast<std::size_t>(i)], order[shuffler.below(static_cast<std::uint32_t>(i + 1))]);
    std::ostringstream sink;
    train::progress bar = train::detail::epoch_progress(options, epoch, steps_per_epoch, sink);
    for (std::int64_t first = 0; first < n; first += options.batch_size, ++step) {
      const std::int64_t global_rows = std::min(options.batch_size, n - first);
      const row_range mine = rows_of(global_rows, comm.rank(), comm.size());
      train::detail::gather(train_set, order, first + mine.first, mine.count, x, y);
      const step_result r = compute_gradients_here(rep, feed, x, y, global_rows, loss);
      if (may_step(comm, model, rep, guard, options, r.loss, {epoch, step - first_step, step})) {
        if (optimizer) rep.step(*optimizer, schedule(step));
        if (root_steps) broadcast_parameters(comm, model, 0);
        bar.step(global_rows, r.loss, r.correct);
      } else {
        bar.step(0, 0.0, 0);
      }
    }
    finish_epoch(comm, rep, model, bar, epoch, test, history, on_epoch, loss, guard.skipped() - skipped_before, options);
  }
  return history;
}
}  // namespace detail

// train::fit on every rank of `comm`: the replicas start from rank 0's model, shuffle with the
// same seed, and each trains on its rows of every global batch of options.batch_size; gradients
// are summed over ranks (data_parallel.hpp), so every rank steps its optimizer to the same
// weights. Only rank 0 shows progress. After each epoch the batch-norm statistics are rank 0's
// everywhere and the test set (when given) is evaluated in shares.
template <class Model, class Optimizer, train::Schedule S, class Data, Loss L = SoftmaxCrossEntropy>
  requires train::OptimizerFor<Optimizer, Model>
std::vector<train::epoch_report> fit(communicator& comm, Model& model, const Data& train_set, Optimizer& optimizer, const S& schedule,
                                     train::fit_options options, const data_parallel_options& dp = {}, const Data* test = nullptr,
                                     const std::function<void(const train::epoch_report&)>& on_epoch = {}, const L& loss = {}) {
  return detail::fit_ranks(comm, model, train_set, &optimizer, schedule, options, dp, test, on_epoch, loss, false);
}

namespace detail {
// A loader's settings that every rank must share, with their names for the message.
template <class Loader>
void check_loader_agrees(communicator& comm, const Loader& train) {
  if constexpr (requires { train.options().shard; }) {
    const auto& o = train.options();
    if (o.shard.ranks != comm.size() || o.shard.rank != comm.rank())
      throw error("parallel::fit: the loader is shard " + std::to_string(o.shard.rank) + " of " + std::to_string(o.shard.ranks) +
                  " but this is rank " + std::to_string(comm.rank()) + " of " + std::to_string(comm.size()) +
                  " (set loader_options::shard = {comm.rank(), comm.size()})");
    const std::int64_t mine[] = {o.batch_size, train.samples(), std::int64_t(o.seed), o.shuffle, o.drop_last,
                                 o.on_bad_record == data::bad_records::skip};
    static const char* const names[] = {"batch_size", "the data set's size", "seed", "shuffle", "drop_last", "on_bad_record"};
    constexpr std::size_t n = std::size(mine);
    std::int64_t root[n];
    std::copy(std::begin(mine), std::end(mine), root);
    comm.broadcast(std::as_writable_bytes(std::span<std::int64_t>(root, n)), 0);
    double differs[n];
    for (std::size_t i = 0; i < n; ++i) differs[i] = root[i] != mine[i] ? 1 : 0;
    comm.all_reduce_sum(std::span<double>(differs, n));
    for (std::size_t i = 0; i < n; ++i)
      if (differs[i] != 0)
        throw error(std::string("parallel::fit: the ranks' loaders differ in ") + names[i] +
                    " (every rank's loader needs the same options and data, only the shard's rank differs)");
  }
}
}  // namespace detail

// fit() over a batch source on every rank of `comm`: each rank's loader makes its rows of the
// same global batches (data::loader with loader_options::shard = {comm.rank(), comm.size()}, the
// same seed and data everywhere, checked before the first epoch), so R ranks train on what one
// process's loader gives it, in the same order with the same augmentation. Where records may be
// skipped, the ranks sum their rows each step to scale the gradients by the global batch.
// Other batch sources: each rank's batches together form the step's global batch.
template <class Model, class Optimizer, train::Schedule S, train::BatchSource Loader, class Data = data::labelled_images,
          Loss L = SoftmaxCrossEntropy>
  requires train::OptimizerFor<Optimizer, Model>
std::vector<train::epoch_report> fit(communicator& comm, Model& model, Loader& train_set, Optimizer& optimizer, const S& schedule,
                                     train::fit_options options, const data_parallel_options& dp = {}, const Data* test = nullptr,
                                     const std::function<void(const train::epoch_report&)>& on_epoch = {}, const L& loss = {}) {
  using T = typename Model::element_type;
  if (options.epochs < 0) throw error("fit: epochs must be non-negative, got " + std::to_string(options.epochs));
  if (comm.rank() != 0) options.show_progress = false;
  detail::check_loader_agrees(comm, train_set);
  replica<Model> rep(model, comm, dp);
  rep.broadcast_from(0);
  Tensor<T, 2> x;
  train::batch_feed<T, typename Model::device_type> feed;
  data::batch b;
  std::vector<train::epoch_report> history;
  std::int64_t step = 0;
  train::detail::divergence_guard guard(options.divergence);
  train::detail::announce_conv_tuning(options);
  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    const std::int64_t skipped_before = guard.skipped(), first_step = step;
    std::ostringstream sink;
    train::progress bar = train::detail::epoch_progress(options, epoch, train_set.batches_per_epoch(), sink);
    train_set.start_epoch(epoch);
    while (train_set.next(b)) {
      std::int64_t global_rows = b.global_rows;
      if (global_rows <= 0) {
        double rows = double(b.images.extent(0));
        comm.all_reduce_sum(std::span<double>(&rows, 1));
        global_rows = std::int64_t(rows);
      }
      if (global_rows == 0) continue;  // every rank skipped every record of the batch
      const step_result r =
          detail::compute_gradients_here(rep, feed, train::detail::batch_images(b.images, x), b.labels, global_rows, loss);
      const double lr = schedule(step);
      if (detail::may_step(comm, model, rep, guard, options, r.loss, {epoch, step - first_step, step})) {
        rep.step(optimizer, lr);
        bar.step(global_rows, r.loss, r.correct);
      } else {
        bar.step(0, 0.0, 0);
      }
      ++step;
    }
    detail::finish_epoch(comm, rep, model, bar, epoch, test, history, on_epoch, loss, guard.skipped() - skipped_before, options);
  }
  return history;
}

// fit() with `replicas` replicas of `model` on threads of this process, each with its share of
// the cores (strata's thread count divided among them). `model` and `optimizer` are rank 0's:
// rank 0 steps with them and the other replicas take its parameters after each step, so any
// optimizer works and its state carries over from one call to the next. The other replicas copy
// model's learning-rate rules. A failure on any thread ends all and is rethrown.
template <class Model, class Optimizer, train::Schedule S, class Data, Loss L = SoftmaxCrossEntropy>
  requires train::OptimizerFor<Optimizer, Model>
std::vector<train::epoch_report> fit_threads(int replicas, Model& model, const Data& train_set, Optimizer& optimizer, const S& schedule,
                                             const train::fit_options& options, const data_parallel_options& dp = {},
                                             const Data* test = nullptr,
                                             const std::function<void(const train::epoch_report&)>& on_epoch = {},
                                             const L& loss = {}) {
  if (replicas < 1) throw error("fit_threads: needs at least one replica, got " + std::to_string(replicas));
  if (dp.shard_optimizer)
    throw error("fit_threads: rank 0 steps the one optimizer and the replicas take its parameters; shard_optimizer is "
                "for fit(comm, …), where every rank steps its own");
  std::vector<std::unique_ptr<Model>> models;
  for (int r = 1; r < replicas; ++r) {
    models.push_back(std::make_unique<Model>());  // its parameters come from rank 0
    for (const auto& [layer, multiplier] : model.learning_rate_rules()) models.back()->set_learning_rate(layer, multiplier);
  }
  std::vector<train::epoch_report> history;
  run_threads(replicas, [&](communicator& comm) {
    const int r = comm.rank();
    Model& m = r == 0 ? model : *models[static_cast<std::size_t>(r - 1)];
    auto h = detail::fit_ranks(comm, m, train_set, r == 0 ? &optimizer : nullptr, schedule, options, dp, test,
                               r == 0 ? on_epoch : std::function<void(const train::epoch_report&)>{}, loss, true);
    if (r == 0) history = std::move(h);
  });
  return history;
}

}  // namespace strata::parallel
