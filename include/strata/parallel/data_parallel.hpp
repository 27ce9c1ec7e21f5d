// strata/parallel/data_parallel.hpp — synchronous data parallelism over any communicator
// (threads, MPI ranks, GPUs): each rank's replica runs forward and backward on its rows of the
// global batch, the gradients are summed over ranks in buckets that start while backward is still
// running (as PyTorch DDP and Horovod do), and every rank takes the same optimizer step. With a
// loss averaged over the global batch, R replicas give the weights one model gives on the whole
// batch (up to the order of additions; bit for bit across transports and reruns).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/core/cast.hpp"
#include "strata/core/error.hpp"
#include "strata/core/tensor.hpp"
#include "strata/data/shard.hpp"
#include "strata/layers/layer.hpp"
#include "strata/layers/loss.hpp"
#include "strata/layers/softmax_cross_entropy.hpp"
#include "strata/parallel/communicator.hpp"

namespace strata::parallel {

struct data_parallel_options {
  std::int64_t bucket_bytes = std::int64_t{25} << 20;  // gradients summed per bucket of ≥ this many bytes (PyTorch DDP's 25 MiB)
  bool overlap = true;           // start a bucket's sum as soon as its layers' backward is done
  bool sync_batch_norm = false;  // batch statistics over the global batch (default: each replica's own rows)
  // ZeRO's first stage: each rank sums and updates only its chunk of every bucket (reduce-scatter,
  // its share of the optimizer step and state, all-gather of the parameters). The same weights
  // bit for bit, 1/R of the update's work and optimizer memory per rank. Needs a transport that
  // sums in place (MPI in rank order) and an optimizer that works value by value (SGD, Adam).
  bool shard_optimizer = false;
};

// What a sharded optimizer steps: one parameter_ref per parameter of the model, in the model's
// visiting order, each the slice this rank owns (empty where it owns none: another rank's chunk,
// or frozen). Looks like a model to an optimizer (element_type, device_type, visit_parameters).
template <class T, class D>
class parameter_shard {
 public:
  using element_type = T;
  using device_type = D;
  template <class F>
  void visit_parameters(F&& f) const {
    for (const auto& p : parts_) f(p);
  }
  std::int64_t size() const noexcept {
    std::int64_t n = 0;
    for (const auto& p : parts_) n += p.value.size();
    return n;
  }
  std::vector<parameter_ref<T, D>>& parts() noexcept { return parts_; }

 private:
  std::vector<parameter_ref<T, D>> parts_;
};

// Rows [B·r/R, B·(r+1)/R) of a global batch of B rows belong to rank r of R (data/shard.hpp).
using data::row_range;
using data::rows_of;

namespace detail {
template <class V>
void broadcast_values(communicator& comm, V* data, std::int64_t n, int root) {
  comm.broadcast(std::span<std::byte>(reinterpret_cast<std::byte*>(data), static_cast<std::size_t>(n) * sizeof(V)), root);
}
}  // namespace detail

// Batch-norm running statistics (a model's state) from `root` on every rank.
template <class Model>
void broadcast_state(communicator& comm, Model& model, int root = 0) {
  model.visit_state([&](const std::string&, auto view) { detail::broadcast_values(comm, view.data(), view.size(), root); });
}

// Every parameter from `root` on every rank (models of one architecture).
template <class Model>
void broadcast_parameters(communicator& comm, Model& model, int root = 0) {
  using T = typename Model::element_type;
  using D = typename Model::device_type;
  model.visit_parameters([&](const parameter_ref<T, D>& p) { detail::broadcast_values(comm, p.value.data(), p.value.size(), root); });
}

// Every parameter and state tensor from `root` on every rank.
template <class Model>
void broadcast_model(communicator& comm, Model& model, int root = 0) {
  broadcast_parameters(comm, model, root);
  broadcast_state(comm, model, root);
}

// A step's loss and accuracy over the global batch.
struct step_result {
  double loss = 0;            // mean over the global batch
  std::int64_t correct = 0;   // over the global batch
  std::int64_t rows = 0;      // the global batch's rows
};

// Sums over ranks for synchronised batch norm (the layer's view of a communicator).
class communicator_sums final : public replica_sums {
 public:
  explicit communicator_sums(communicator& c) : comm_(&c) {}
  void sum(std::span<float> v) override { comm_->all_reduce_sum(v); }
  void sum(std::span<double> v) override { comm_->all_reduce_sum(v); }

 private:
  communicator* comm_;
};

// Sums a model's parameter gradients over ranks in buckets of whole top-level layers, from the
// last layer down, each closed once it holds bucket_bytes (frozen parameters left out). As the
// model's gradient_listener it starts a bucket's sum as soon as backward has finished its layers;
// finish() starts the rest (everything, without overlap), waits, and writes the sums back (where
// they were not summed in place).
template <class Model>
class bucket_reducer final : public gradient_listener {
 public:
  using T = typename Model::element_type;
  using D = typename Model::device_type;

  // scatter_only: the buckets are reduce-scattered (each rank's chunk summed), for a sharded
  // optimizer that steps shard() and then calls gather_parameters().
  bucket_reducer(Model& model, communicator& comm, std::int64_t bucket_bytes, bool scatter_only = false)
      : model_(&model), comm_(&comm), bucket_bytes_(bucket_bytes), scatter_only_(scatter_only) {
    if (bucket_bytes <= 0) throw error("data_parallel: bucket_bytes must be positive, got " + std::to_string(bucket_bytes));
    if (scatter_only && !(std::is_same_v<D, cpu> && comm.sums_pieces()))
      throw error("data_parallel: shard_optimizer needs a transport that sums gradients where they lie (MPI in rank order); "
                  "this one packs them (threads, NCCL, MPI's own order)");
  }
  bucket_reducer(const bucket_reducer&) = delete;
  bucket_reducer& operator=(const bucket_reducer&) = delete;

  // Before each backward pass: (re)plans when the set of trained parameters changed.
  void plan() {
    std::vector<std::pair<std::size_t, std::int64_t>> trainable;  // (top-level layer, size) per parameter, 0 if frozen
    model_->visit_parameters([&](const parameter_ref<T, D>& p) { trainable.emplace_back(top_layer_of(p.name), p.rate == 0 ? 0 : p.value.size()); });
    if (trainable == plan_key_) return;
    plan_key_ = trainable;
    buckets_.clear();
    const std::int64_t limit = std::max<std::int64_t>(1, bucket_bytes_ / std::int64_t(sizeof(T)));
    bucket current;
    bool open = false;
    for (std::size_t k = trainable.size(); k-- > 0;) {
      const auto [layer, size] = trainable[k];
      if (size == 0) continue;
      // A bucket holds whole layers: close it before a new layer once it is full.
      if (open && current.lowest_layer != layer && current.values >= limit) {
        buckets_.push_back(std::move(current));
        current = bucket{};
        open = false;
      }
      if (!open) current.highest_layer = layer;
      open = true;
      current.lowest_layer = layer;
      current.members.insert(current.members.begin(), member{k, 0, size});
      current.values += size;
    }
    if (open) buckets_.push_back(std::move(current));
    for (auto& b : buckets_) {
      std::int64_t offset = 0;
      for (auto& m : b.members) m.offset = std::exchange(offset, offset + m.size);
    }
    if (scatter_only_) plan_shard();
  }

  // This rank's slices (scatter_only): valid after plan(), their values and gradients in place.
  parameter_shard<T, D>& shard() noexcept { return shard_; }

  // After the sharded step: every rank's updated chunks to every rank (scatter_only).
  void gather_parameters() {
    const auto values = parameter_values();
    for (const auto& b : buckets_) {
      pieces_.clear();
      for (const auto& m : b.members) pieces_.emplace_back(values[m.parameter].data(), static_cast<std::size_t>(m.size));
      comm_->all_gather_chunks(std::span<const std::span<T>>(pieces_));
    }
  }

  struct bucket_info {
    std::size_t lowest_layer = 0, highest_layer = 0;
    std::int64_t values = 0;
  };
  std::vector<bucket_info> buckets() const {
    std::vector<bucket_info> out;
    for (const auto& b : buckets_) out.push_back({b.lowest_layer, b.highest_layer, b.values});
    return out;
  }

  void layer_done(std::size_t layer) override {
    bool any = false;
    for (auto& b : buckets_) {
      if (b.started || b.lowest_layer < layer) continue;
      if (!any) grads_ = gradients();
      any = true;
      start(b, grads_);
    }
    comm_->progress();
  }

  void finish() {
    const auto t0 = std::chrono::steady_clock::now();
    finish_sums();
    wait_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  // Seconds the last finish() took: the communication the backward pass did not hide (all of
  // it, packing included, without overlap).
  double last_wait_seconds() const noexcept { return wait_seconds_; }

 private:
  void finish_sums() {
    grads_ = gradients();
    for (auto& b : buckets_)
      if (!b.started) start(b, grads_);
    comm_->wait_all();
    for (auto& b : buckets_) {
      if (!b.in_place)
        for (const auto& m : b.members)
          assign(grads_[m.parameter], as_node(TensorView<T, 1, D>(b.buffer.data() + m.offset, Shape<1>{m.size})));
      b.started = false;
    }
  }


  // Rank r owns values [n·r/R, n·(r+1)/R) of each bucket of n values, as the sums chunk it.
  void plan_shard() {
    std::vector<std::pair<std::int64_t, std::int64_t>> owned(plan_key_.size());  // (first, count) per parameter
    const auto R = static_cast<std::int64_t>(comm_->size()), r = static_cast<std::int64_t>(comm_->rank());
    for (const auto& b : buckets_) {
      const std::int64_t begin = b.values * r / R, end = b.values * (r + 1) / R;
      for (const auto& m : b.members) {
        const std::int64_t from = std::max(begin, m.offset), to = std::min(end, m.offset + m.size);
        if (from < to) owned[m.parameter] = {from - m.offset, to - from};
      }
    }
    auto& parts = shard_.parts();
    parts.clear();
    std::size_t k = 0;
    model_->visit_parameters([&](const parameter_ref<T, D>& p) {
      const auto [first, count] = owned[k++];
      // (Views assign values, not where they look: the slices are constructed, never assigned.)
      parts.push_back(parameter_ref<T, D>{p.name, TensorView<T, 1, D>(p.value.data() + first, Shape<1>{count}),
                                          TensorView<T, 1, D>(p.gradient.data() + first, Shape<1>{count}), p.weight_decay,
                                          p.rate, p.binarized});
    });
  }

  std::vector<TensorView<T, 1, D>> parameter_values() {
    std::vector<TensorView<T, 1, D>> v;
    model_->visit_parameters([&](const parameter_ref<T, D>& p) { v.push_back(p.value); });
    return v;
  }

  struct member {
    std::size_t parameter = 0;  // index in visiting order
    std::int64_t offset = 0, size = 0;
  };
  struct bucket {
    std::size_t lowest_layer = 0, highest_layer = 0;
    std::int64_t values = 0;
    std::vector<member> members;
    Tensor<T, 1, D> buffer;  // the packed gradients, where the transport cannot sum pieces
    bool started = false, in_place = false;
  };

  static std::size_t top_layer_of(const std::string& name) { return std::stoul(name.substr(0, name.find('.'))); }

  std::vector<TensorView<T, 1, D>> gradients() {
    std::vector<TensorView<T, 1, D>> g;
    model_->visit_parameters([&](const parameter_ref<T, D>& p) { g.push_back(p.gradient); });
    return g;
  }

  void start(bucket& b, const std::vector<TensorView<T, 1, D>>& grads) {
    b.started = true;
    // Summed where the gradients lie when the transport can (no copy in, no copy out: ~2 passes
    // over every gradient saved); packed into the bucket's buffer otherwise.
    b.in_place = std::is_same_v<D, cpu> && comm_->sums_pieces();
    if (b.in_place) {
      pieces_.clear();
      for (const auto& m : b.members) pieces_.emplace_back(grads[m.parameter].data(), static_cast<std::size_t>(m.size));
      if (scatter_only_) comm_->start_reduce_scatter_sum(std::span<const std::span<T>>(pieces_));
      else comm_->start_all_reduce_sum(std::span<const std::span<T>>(pieces_));
      return;
    }
    if (b.buffer.size() != b.values) b.buffer = Tensor<T, 1, D>::uninitialized(Shape<1>{b.values});
    for (const auto& m : b.members)
      assign(TensorView<T, 1, D>(b.buffer.data() + m.offset, Shape<1>{m.size}), as_node(grads[m.parameter]));
    comm_->start_all_reduce_sum(std::span<T>(b.buffer.data(), static_cast<std::size_t>(b.values)));
  }

  Model* model_;
  communicator* comm_;
  std::int64_t bucket_bytes_;
  bool scatter_only_;
  parameter_shard<T, D> shard_;
  std::vector<std::pair<std::size_t, std::int64_t>> plan_key_;
  std::vector<bucket> buckets_;
  std::vector<TensorView<T, 1, D>> grads_;
  std::vector<std::span<T>> pieces_;
  double wait_seconds_ = 0;
};

// One rank's side of synchronous data parallelism: the replica (a Model), the communicator, and
// the gradient buckets. Every rank makes the same calls in the same order.
template <class Model>
class replica {
 public:
  using T = typename Model::element_type;
  using D = typename Model::device_type;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "strata::parallel::replica<Model>: data-parallel gradients are summed in fp32 or fp64; the model's element "
                "type must be float or double");

  replica(Model& model, communicator& comm, data_parallel_options options = {})
      : model_(&model), comm_(&comm), options_(options), sums_(comm),
        reducer_(model, comm, options.bucket_bytes, options.shard_optimizer) {
    model.set_batch_sums(options.sync_batch_norm ? &sums_ : nullptr);
    // Dropout draws from another stream on every rank (rank 0 keeps the model's own).
    if (comm.rank() != 0) model.rng() = model.rng().fork(static_cast<std::uint64_t>(comm.rank()));
  }
  replica(const replica&) = delete;
  replica& operator=(const replica&) = delete;
  ~replica() { model_->set_batch_sums(nullptr); }

  Model& model() noexcept { return *model_; }
  communicator& comm() noexcept { return *comm_; }
  const data_parallel_options& options() const noexcept { return options_; }

  // Every rank's parameters and state (batch-norm statistics) become `root`'s: replicas start
  // from one model, and after training every rank holds what rank 0 holds.
  void broadcast_from(int root = 0) { broadcast_model(*comm_, *model_, root); }
  // Batch-norm running statistics from `root` only (rank 0's, as PyTorch DDP keeps them).
  void broadcast_state_from(int root = 0) { broadcast_state(*comm_, *model_, root); }

  // Forward and backward on this rank's rows of a global batch of `global_rows`, the loss
  // averaged over the global batch, then the parameter gradients summed over ranks (every rank
  // holds the global batch's gradients; with shard_optimizer only its shard's). A rank may have
  // no rows (a short last batch).
  template <Loss L = SoftmaxCrossEntropy>
  step_result compute_gradients(batch_view<const T, D> x, TensorView<const std::int32_t, 1, D> labels, std::int64_t global_rows,
                                const L& = {}) {
    const std::int64_t rows = x.extent(0);
    if (labels.extent(0) != rows)
      throw shape_error("data_parallel: " + std::to_string(rows) + " rows but " + std::to_string(labels.extent(0)) + " labels");
    if (global_rows <= 0 || rows > global_rows)
      throw shape_error("data_parallel: this rank's " + std::to_string(rows) + " rows of a global batch of " +
                        std::to_string(global_rows));
    if (rows == 0 && options_.sync_batch_norm)
      throw error("data_parallel: a global batch of " + std::to_string(global_rows) + " rows leaves rank " +
                  std::to_string(comm_->rank()) + " of " + std::to_string(comm_->size()) +
                  " without rows, which synchronised batch norm cannot run with (use batches of at least one row per rank)");
    reducer_.plan();
    double totals[2] = {0, 0};  // Σ loss over rows, correct
    if (rows > 0) {
      const auto out = model_->forward(x, true);
      if (gradient_.extent(0) != out.extent(0) || gradient_.extent(1) != out.extent(1))
        gradient_ = Tensor<T, 2, D>::uninitialized(out.shape());
      const loss_result r = L::template evaluate<T>(out, labels, gradient_.view());
      // The loss gradient of this rank's mean, scaled to its share of the global mean.
      if (rows != global_rows) gradient_ = gradient_ * T(double(rows) / double(global_rows));
      totals[0] = r.loss * double(rows);
      totals[1] = double(r.correct);
      if (options_.overlap) {
        model_->backward(gradient_, reducer_);
      } else {
        model_->backward(gradient_);
      }
    } else {
      model_->visit_parameters([](const parameter_ref<T, D>& p) { p.gradient.fill(T(0)); });
    }
    reducer_.finish();
    comm_->all_reduce_sum(std::span<double>(totals, 2));
    return {totals[0] / double(global_rows), static_cast<std::int64_t>(totals[1]), global_rows};
  }

  // The optimizer's step at rate lr after compute_gradients (the same on every rank): on the
  // whole model, or, with shard_optimizer, on this rank's shard and then the parameters gathered.
  template <class Optimizer>
  void step(Optimizer& optimizer, double lr) {
    if (!options_.shard_optimizer) {
      optimizer.step(*model_, lr);
      return;
    }
    optimizer.step(reducer_.shard(), lr);
    reducer_.gather_parameters();
  }

  // compute_gradients, then step.
  template <class Optimizer, Loss L = SoftmaxCrossEntropy>
  step_result train_step(Optimizer& optimizer, double lr, batch_view<const T, D> x, TensorView<const std::int32_t, 1, D> labels,
                         std::int64_t global_rows, const L& loss = {}) {
    const step_result r = compute_gradients(x, labels, global_rows, loss);
    step(optimizer, lr);
    return r;
  }

  // dL/d(output) of this rank's rows in the last compute_gradients (its share of the global mean).
  batch_view<const T, D> output_gradient() const { return gradient_.view(); }

  // The slices this rank's optimizer steps with shard_optimizer (valid after compute_gradients).
  const parameter_shard<T, D>& shard() { return reducer_.shard(); }

  // The buckets of the last step (top-level layers, last first), and the seconds its gradient
  // sums kept the step waiting after backward.
  auto buckets() const { return reducer_.buckets(); }
  double last_wait_seconds() const noexcept { return reducer_.last_wait_seconds(); }

 private:
  Model* model_;
  communicator* comm_;
  data_parallel_options options_;
  communicator_sums sums_;
  bucket_reducer<Model> reducer_;
  Tensor<T, 2, D> gradient_;
};

}  // namespace strata::parallel
