// strata/parallel/hybrid.hpp — Krizhevsky's "one weird trick": the layers before a network's
// first top-level Dense (the convolutions: most of the compute, few parameters) run
// data-parallel, and the Dense layers after it (most of the parameters) model-parallel — each
// rank owns a slice of every Dense layer's outputs for the whole global batch. Features and
// activations are all-gathered, their gradients reduce-scattered, and only the features'
// parameter gradients are summed (parallel/communication.hpp counts exactly these bytes).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <numeric>
#include <sstream>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/broadcast.hpp"
#include "strata/core/matmul.hpp"
#include "strata/core/reduction.hpp"
#include "strata/core/transpose.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/layer.hpp"
#include "strata/layers/loss.hpp"
#include "strata/layers/softmax_cross_entropy.hpp"
#include "strata/net/model.hpp"
#include "strata/net/network_edit.hpp"
#include "strata/parallel/communication.hpp"
#include "strata/parallel/communicator.hpp"
#include "strata/parallel/data_parallel.hpp"
#include "strata/train/fit.hpp"

namespace strata::parallel {

namespace detail {

// Rank r's share [n·r/R, n·(r+1)/R) of n outputs.
struct slice_range {
  std::int64_t first = 0, count = 0;
};
inline slice_range slice_of(std::int64_t n, int rank, int ranks) { return {n * rank / ranks, share(n, ranks, rank)}; }

// [R blocks of rows × counts[r] columns] (what all_gather gives) → [rows, Σ counts].
template <class T>
void blocks_to_columns(const T* blocks, T* out, std::int64_t rows, std::span<const std::int64_t> columns) {
  std::int64_t total = 0;
  for (auto c : columns) total += c;
  std::int64_t offset = 0;
  for (const std::int64_t c : columns) {
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = 0; j < c; ++j) out[i * total + offset + j] = blocks[i * c + j];
    blocks += rows * c;
    offset += c;
  }
}
// The inverse: [rows, Σ counts] → R blocks of rows × counts[r] (what reduce_scatter takes).
template <class T>
void columns_to_blocks(const T* in, T* blocks, std::int64_t rows, std::span<const std::int64_t> columns) {
  std::int64_t total = 0;
  for (auto c : columns) total += c;
  std::int64_t offset = 0;
  for (const std::int64_t c : columns) {
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = 0; j < c; ++j) blocks[i * c + j] = in[i * total + offset + j];
    blocks += rows * c;
    offset += c;
  }
}

// A Dense layer's slice of outputs on this rank: its weights for the whole batch, and the
// gathered input kept for backward.
template <class L>
struct dense_outputs;
template <std::int64_t N, class... O>
struct dense_outputs<Dense<N, O...>> {
  static constexpr std::int64_t value = N;
};

template <class L, class T>
struct dense_stage {
  static constexpr std::int64_t outputs = dense_outputs<L>::value;
  static constexpr bool has_bias = L::has_bias;
  std::size_t index = 0;  // top-level layer index in the network
  std::int64_t inputs = 0;
  slice_range mine;
  Tensor<T, 2> weight, weight_gradient;
  Tensor<T, 1> bias, bias_gradient;
  double weight_rate = 1, bias_rate = 1;
  Tensor<T, 2> input;  // [B, inputs], every rank's
};

// A layer that works value by value (an activation, dropout) on this rank's slice: its runtime
// layer for one value per row, run over [B·slice, 1].
template <class L, class T>
struct elementwise_stage {
  typename L::template layer<sample_shape<1>, T, cpu> runtime;
  Tensor<T, 1> input, output;
};

template <class L, class T>
using head_stage_t = std::conditional_t<is_dense_layer<L>, dense_stage<L, T>, elementwise_stage<L, T>>;

template <class List, class T>
struct head_stages;
template <class... L, class T>
struct head_stages<type_list<L...>, T> {
  using type = std::tuple<head_stage_t<L, T>...>;
};
template <class Net>
struct layers_of;
template <class In, class... L>
struct layers_of<Sequential<In, L...>> {
  using type = type_list<L...>;
};

}  // namespace detail

// One rank's side of the hybrid. The features (layers before the first Dense) are a Model of
// their own, replicated; the head is this rank's slice of every Dense layer and the element-wise
// layers between them. Made from a full Model<Net, T> (rank 0's weights reach every rank);
// gather_into() puts the trained weights back into one.
template <class Net, class T = float>
class hybrid {
  using check = typename detail::hybrid_check<Net>::type;
  static_assert(check::ok,
                "strata::parallel::hybrid<Net>: the hybrid splits a network at its first top-level Dense; the note names "
                "what fails: no_top_level_dense_layer_in<Net>, first_dense_is_layer_0_so_nothing_is_data_parallel_in<Net>, "
                "or not_dense_or_elementwise_in_the_hybrid_head_at<index, layer> (only Dense layers and element-wise layers "
                "without parameters, such as ReLU or Dropout, may follow the first Dense)");
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "strata::parallel::hybrid<Net, T>: T is float or double (the CPU's GEMMs and the transports' sums)");

 public:
  static constexpr std::size_t first_dense = detail::hybrid_check<Net>::first;
  using features_network = take_layers_t<Net, first_dense>;
  using head_layers = typename detail::layers_of<drop_layers_t<Net, first_dense>>::type;
  using features_model = Model<features_network, T>;

  hybrid(Model<Net, T>& full, communicator& comm, std::int64_t bucket_bytes = default_bucket_bytes)
      : comm_(&comm), features_(0), reducer_(features_, comm, bucket_bytes), head_{this} {
    broadcast_model(comm, full, 0);  // every rank starts from rank 0's network
    copy_layers(full, 0, features_, 0, first_dense);
    for (const auto& [layer, multiplier] : full.learning_rate_rules())
      if (std::stoul(layer.substr(0, layer.find('.'))) < first_dense) features_.set_learning_rate(layer, multiplier);
    if (comm.rank() != 0) features_.rng() = features_.rng().fork(static_cast<std::uint64_t>(comm.rank()));
    rng_ = features_.rng().fork(0x4ead);
    take_head_from(full);
  }
  hybrid(const hybrid&) = delete;
  hybrid& operator=(const hybrid&) = delete;

  features_model& features() noexcept { return features_; }
  communicator& comm() noexcept { return *comm_; }

  // The head's parameters on this rank (its slices), as an optimizer sees a model.
  struct head_parameters {
    using element_type = T;
    using device_type = cpu;
    hybrid* owner;
    template <class F>
    void visit_parameters(F&& f) {
      owner->for_each_dense([&](auto& d) {
        parameter_ref<T> w{std::to_string(d.index) + ".weight", d.weight.flat(), d.weight_gradient.flat(), true, d.weight_rate};
        f(w);
        if constexpr (std::remove_cvref_t<decltype(d)>::has_bias) {
          parameter_ref<T> b{std::to_string(d.index) + ".bias", d.bias.flat(), d.bias_gradient.flat(), false, d.bias_rate};
          f(b);
        }
      });
    }
  };
  head_parameters& head() noexcept { return head_; }

  // Gradients for one global batch: x holds this rank's rows (rows_of(global_rows, rank, R)),
  // labels every row of the global batch. Afterwards features() holds the summed feature
  // gradients and head() this rank's slices' gradients; the loss is the global batch's.
  template <Loss L = SoftmaxCrossEntropy>
  step_result compute_gradients(batch_view<const T> x, TensorView<const std::int32_t, 1> labels, const L& = {}) {
    const int ranks = comm_->size(), rank = comm_->rank();
    const std::int64_t B = labels.extent(0), rows = x.extent(0);
    if (rows != rows_of(B, rank, ranks).count)
      throw shape_error("hybrid: rank " + std::to_string(rank) + " of " + std::to_string(ranks) + " holds " + std::to_string(rows) +
                        " rows of a global batch of " + std::to_string(B) + " labels; it should hold " +
                        std::to_string(rows_of(B, rank, ranks).count));
    const std::int64_t F = features_network::output_shape::elements;
    reducer_.plan();
    // Forward: features of my rows, gathered for the whole batch.
    std::vector<std::int64_t> row_counts(static_cast<std::size_t>(ranks));
    for (int r = 0; r < ranks; ++r) row_counts[static_cast<std::size_t>(r)] = rows_of(B, r, ranks).count * F;
    Tensor<T, 2> gathered(Shape{B, F});
    const batch_view<const T> mine_f = rows > 0 ? features_.forward(x, true) : batch_view<const T>{};
    comm_->all_gather(std::span<const T>(mine_f.data(), static_cast<std::size_t>(rows * F)),
                      std::span<T>(gathered.data(), static_cast<std::size_t>(B * F)), row_counts);
    Tensor<T, 2> logits = head_forward(std::move(gathered), B);
    // The loss of the whole batch on every rank (every rank holds every logit).
    Tensor<T, 2> dlogits = Tensor<T, 2>::uninitialized(logits.shape());
    const loss_result r = L::template evaluate<T>(logits, labels, dlogits.view());
    Tensor<T, 2> d_features = head_backward(dlogits, B);  // [B, F] partial sums over ranks
    // Backward: my rows' share of the features' gradient, summed over ranks.
    Tensor<T, 2> d_mine = Tensor<T, 2>::uninitialized(Shape{rows, F});
    comm_->reduce_scatter_sum(std::span<const T>(d_features.data(), static_cast<std::size_t>(B * F)),
                              std::span<T>(d_mine.data(), static_cast<std::size_t>(rows * F)), row_counts);
    if (rows > 0) features_.backward(d_mine, reducer_);
    else features_.visit_parameters([](const parameter_ref<T>& p) { p.gradient.fill(T(0)); });
    reducer_.finish();
    return {r.loss, r.correct, B};
  }

  // compute_gradients, then a step of each optimizer (the features' and the head's) at rate lr.
  template <class Optimizer, class HeadOptimizer, Loss L = SoftmaxCrossEntropy>
  step_result train_step(Optimizer& features_optimizer, HeadOptimizer& head_optimizer, double lr, batch_view<const T> x,
                         TensorView<const std::int32_t, 1> labels, const L& loss = {}) {
    const step_result r = compute_gradients(x, labels, loss);
    features_optimizer.step(features_, lr);
    head_optimizer.step(head_, lr);
    return r;
  }

  // The trained network into `full` on every rank: the features, and every rank's slices.
  void gather_into(Model<Net, T>& full) {
    copy_layers(features_, 0, full, 0, first_dense);
    std::map<std::string, TensorView<T, 1>> into;
    full.visit_parameters([&](const parameter_ref<T>& p) { into.emplace(p.name, p.value); });
    for_each_dense([&](auto& d) {
      gather_slices(d.weight, into.at(std::to_string(d.index) + ".weight"), d.inputs);
      if constexpr (std::remove_cvref_t<decltype(d)>::has_bias) gather_slices(d.bias, into.at(std::to_string(d.index) + ".bias"), 1);
    });
  }

 private:
  using stages_type = typename detail::head_stages<head_layers, T>::type;
  static constexpr std::size_t stage_count = std::tuple_size_v<stages_type>;

  template <class F>
  void for_each_dense(F&& f) {
    std::apply([&](auto&... s) { (visit_if_dense(s, f), ...); }, stages_);
  }
  template <class S, class F>
  static void visit_if_dense(S& s, F& f) {
    if constexpr (requires { S::outputs; }) f(s);
  }

  // Slices of the full model's Dense layers, and the element-wise stages' setup.
  void take_head_from(Model<Net, T>& full) {
    std::map<std::string, std::pair<TensorView<T, 1>, double>> from;
    full.visit_parameters([&](const parameter_ref<T>& p) { from.emplace(p.name, std::pair{p.value, p.rate}); });
    const int ranks = comm_->size(), rank = comm_->rank();
    std::int64_t width = features_network::output_shape::elements;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (
          [&] {
            auto& s = std::get<I>(stages_);
            if constexpr (requires { s.outputs; }) {
              using stage = std::remove_cvref_t<decltype(s)>;
              if (stage::outputs < ranks)
                throw error("hybrid: Dense layer " + std::to_string(first_dense + I) + " has " + std::to_string(stage::outputs) +
                            " outputs, fewer than the " + std::to_string(ranks) + " ranks that share them");
              s.index = first_dense + I;
              s.inputs = width;
              s.mine = detail::slice_of(stage::outputs, rank, ranks);
              const auto& [w, w_rate] = from.at(std::to_string(s.index) + ".weight");
              s.weight = Tensor<T, 2>(Shape{s.mine.count, width});
              std::copy(w.data() + s.mine.first * width, w.data() + (s.mine.first + s.mine.count) * width, s.weight.data());
              s.weight_gradient = Tensor<T, 2>(Shape{s.mine.count, width});
              s.weight_rate = w_rate;
              if constexpr (stage::has_bias) {
                const auto& [b, b_rate] = from.at(std::to_string(s.index) + ".bias");
                s.bias = Tensor<T, 1>(Shape<1>{s.mine.count});
                std::copy(b.data() + s.mine.first, b.data() + s.mine.first + s.mine.count, s.bias.data());
                s.bias_gradient = Tensor<T, 1>(Shape<1>{s.mine.count});
                s.bias_rate = b_rate;
              }
              width = stage::outputs;
            }
          }(),
          ...);
    }(std::make_index_sequence<stage_count>{});
  }

  // Output counts of every rank's slice of a Dense layer with `outputs` outputs, times `rows`.
  std::vector<std::int64_t> slice_counts(std::int64_t outputs, std::int64_t rows) const {
    std::vector<std::int64_t> c = shares(outputs, comm_->size());
    for (auto& v : c) v *= rows;
    return c;
  }

  // Every rank's [B, o_r] slice → [B, O] on every rank.
  Tensor<T, 2> gather_columns(const Tensor<T, 2>& slice, std::int64_t outputs, std::int64_t B) {
    const std::vector<std::int64_t> counts = slice_counts(outputs, B);
    Tensor<T, 1> blocks = Tensor<T, 1>::uninitialized(Shape<1>{B * outputs});
    comm_->all_gather(std::span<const T>(slice.data(), static_cast<std::size_t>(slice.size())),
                      std::span<T>(blocks.data(), static_cast<std::size_t>(blocks.size())), counts);
    Tensor<T, 2> full = Tensor<T, 2>::uninitialized(Shape{B, outputs});
    const std::vector<std::int64_t> columns = shares(outputs, comm_->size());
    detail::blocks_to_columns(blocks.data(), full.data(), B, columns);
    return full;
  }

  // The head, stage by stage; a Dense stage first gathers the previous slice when there is one.
  Tensor<T, 2> head_forward(Tensor<T, 2> full_input, std::int64_t B) {
    Tensor<T, 2> current;  // this rank's slice after the last stage
    std::int64_t current_outputs = 0;
    bool sliced = false;
    context ctx;
    ctx.training = true;
    ctx.rng = &rng_;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (
          [&] {
            auto& s = std::get<I>(stages_);
            if constexpr (requires { s.outputs; }) {
              s.input = sliced ? gather_columns(current, current_outputs, B) : std::move(full_input);
              Tensor<T, 2> z(Shape{B, s.mine.count});
              z = matmul(s.input, transpose(s.weight));
              if constexpr (std::remove_cvref_t<decltype(s)>::has_bias) z += broadcast(s.bias, axes<1>, z.shape());
              current = std::move(z);
              current_outputs = s.outputs;
              sliced = true;
            } else {
              s.input = Tensor<T, 1>(current.flat());
              s.output = Tensor<T, 1>::uninitialized(Shape<1>{current.size()});
              s.runtime.forward(batch_view<const T>(s.input.data(), Shape{current.size(), 1}),
                                batch_view<T>(s.output.data(), Shape{current.size(), 1}), ctx);
              std::copy(s.output.data(), s.output.data() + s.output.size(), current.data());
            }
          }(),
          ...);
    }(std::make_index_sequence<stage_count>{});
    return gather_columns(current, current_outputs, B);
  }

  // Backward through the head from the loss gradient of the whole batch; returns the partial
  // gradient of the gathered features ([B, F], this rank's share of the sum).
  Tensor<T, 2> head_backward(const Tensor<T, 2>& dlogits, std::int64_t B) {
    // My columns of the loss gradient.
    Tensor<T, 2> d;
    {
      const std::int64_t C = dlogits.extent(1);
      const detail::slice_range mine = last_dense_slice();
      d = Tensor<T, 2>::uninitialized(Shape{B, mine.count});
      for (std::int64_t i = 0; i < B; ++i)
        std::copy(dlogits.data() + i * C + mine.first, dlogits.data() + i * C + mine.first + mine.count, d.data() + i * mine.count);
    }
    Tensor<T, 2> d_features;
    context ctx;
    ctx.training = true;
    ctx.rng = &rng_;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (
          [&] {
            constexpr std::size_t k = stage_count - 1 - I;
            auto& s = std::get<k>(stages_);
            if constexpr (requires { s.outputs; }) {
              s.weight_gradient = matmul(transpose(d), s.input);
              if constexpr (std::remove_cvref_t<decltype(s)>::has_bias) s.bias_gradient = sum(d, axes<0>);
              Tensor<T, 2> partial(Shape{B, s.inputs});
              partial = matmul(d, s.weight);  // this rank's outputs' share of dL/d(input)
              if constexpr (k == 0) {
                d_features = std::move(partial);
              } else {
                // Summed over ranks, each rank keeping the columns of its slice of the layer before.
                const std::vector<std::int64_t> columns = shares(s.inputs, comm_->size());
                Tensor<T, 1> blocks = Tensor<T, 1>::uninitialized(Shape<1>{partial.size()});
                detail::columns_to_blocks(partial.data(), blocks.data(), B, columns);
                const std::int64_t mine = columns[static_cast<std::size_t>(comm_->rank())];
                Tensor<T, 2> summed = Tensor<T, 2>::uninitialized(Shape{B, mine});
                comm_->reduce_scatter_sum(std::span<const T>(blocks.data(), static_cast<std::size_t>(blocks.size())),
                                          std::span<T>(summed.data(), static_cast<std::size_t>(summed.size())),
                                          slice_counts(s.inputs, B));
                d = std::move(summed);
              }
            } else {
              Tensor<T, 2> dx = Tensor<T, 2>::uninitialized(d.shape());
              const std::int64_t n = d.size();
              s.runtime.backward(batch_view<const T>(s.input.data(), Shape{n, 1}), batch_view<const T>(s.output.data(), Shape{n, 1}),
                                 batch_view<const T>(d.data(), Shape{n, 1}), batch_view<T>(dx.data(), Shape{n, 1}), ctx);
              d = std::move(dx);
            }
          }(),
          ...);
    }(std::make_index_sequence<stage_count>{});
    return d_features;
  }

  detail::slice_range last_dense_slice() {
    detail::slice_range last;
    for_each_dense([&](auto& s) { last = s.mine; });
    return last;
  }

  // Every rank's rows of a sliced tensor (rows × width values each) into `into`, in rank order.
  template <class V>
  void gather_slices(const V& slice, TensorView<T, 1> into, std::int64_t width) {
    const std::int64_t outputs = into.size() / width;
    std::vector<std::int64_t> counts = shares(outputs, comm_->size());
    for (auto& c : counts) c *= width;
    comm_->all_gather(std::span<const T>(slice.data(), static_cast<std::size_t>(slice.size())),
                      std::span<T>(into.data(), static_cast<std::size_t>(into.size())), counts);
  }

  communicator* comm_;
  features_model features_;
  bucket_reducer<features_model> reducer_;
  head_parameters head_;
  stages_type stages_;
  random_engine rng_;
};

// train::fit with the hybrid on every rank of `comm`: every rank gathers its rows of the same
// shuffled global batches (and every row's label); `model` is rank 0's starting point and holds the
// trained network on every rank afterwards. Optimizers for the features and the head are made
// from optimizer.options(); `optimizer` itself is left as it was.
template <class Net, class T, class Optimizer, train::Schedule S, class Data, Loss L = SoftmaxCrossEntropy>
std::vector<train::epoch_report> fit_hybrid(communicator& comm, Model<Net, T>& model, const Data& train_set, const Optimizer& optimizer,
                                            const S& schedule, train::fit_options options,
                                            std::int64_t bucket_bytes = default_bucket_bytes, const L& loss = {}) {
  if (options.batch_size <= 0) throw error("fit_hybrid: batch size must be positive, got " + std::to_string(options.batch_size));
  if (comm.rank() != 0) options.show_progress = false;
  hybrid<Net, T> h(model, comm, bucket_bytes);
  Optimizer features_optimizer(optimizer.options()), head_optimizer(optimizer.options());
  const std::int64_t n = train::detail::sample_count(train_set);
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  random_engine shuffler(options.shuffle_seed, 0x5u);  // train::fit's order
  Tensor<T, 2> x, unused;
  Tensor<std::int32_t, 1> y, labels;
  std::vector<train::epoch_report> history;
  std::int64_t step = 0;
  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    if (options.shuffle)
      for (std::int64_t i = n - 1; i > 0; --i)
        std::swap(order[static_cast<std::size_t>(i)], order[shuffler.below(static_cast<std::uint32_t>(i + 1))]);
    std::ostringstream sink;
    train::progress bar = train::detail::epoch_progress(options, epoch, (n + options.batch_size - 1) / options.batch_size, sink);
    for (std::int64_t first = 0; first < n; first += options.batch_size, ++step) {
      const std::int64_t global_rows = std::min(options.batch_size, n - first);
      const row_range mine = rows_of(global_rows, comm.rank(), comm.size());
      train::detail::gather(train_set, order, first + mine.first, mine.count, x, y);
      labels = Tensor<std::int32_t, 1>::uninitialized(Shape<1>{global_rows});
      for (std::int64_t i = 0; i < global_rows; ++i) labels(i) = train_set.labels(order[static_cast<std::size_t>(first + i)]);
      const step_result r = h.train_step(features_optimizer, head_optimizer, schedule(step), x, labels, loss);
      bar.step(global_rows, r.loss, r.correct);
    }
    bar.finish();
    history.push_back({epoch, bar.mean_loss(), bar.accuracy(), 0, 0, bar.seconds(), bar.images_per_second(), algo::get_conv_tuning()});
  }
  broadcast_state(comm, h.features(), 0);
  h.gather_into(model);
  return history;
}

}  // namespace strata::parallel
