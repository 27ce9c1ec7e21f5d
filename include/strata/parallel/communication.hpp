// strata/parallel/communication.hpp — the bytes one training step sends, from a network's type:
// pure data parallelism (every gradient all-reduced in buckets) against Krizhevsky's hybrid ("one
// weird trick": layers before the first Dense data-parallel, the Dense layers split by outputs),
// per rank, summed and per worker, with the breakdown a transport's bytes_sent() is checked against.
//
// The transport's convention (communicator::bytes_sent()), s = bytes per value, R ranks, rank r:
//   all_reduce of N values, chunks c_r = N(r+1)/R − N·r/R     r sends (N − c_r)·s + (R−1)·c_r·s
//   all_gather, counts[r]                                      r sends (R−1)·counts[r]·s
//   reduce_scatter, counts[r] of total                         r sends (total − counts[r])·s
// summed over ranks: 2(R−1)·N·s, (R−1)·total·s and (R−1)·total·s.
//
// Data parallelism: Σ over gradient buckets of one all_reduce each (gradient_buckets).
// Hybrid, global batch B with rows b_r = B(r+1)/R − B·r/R, feature width F (the first Dense's input),
// Dense k = 1…K with O_k outputs of which rank r owns o_{k,r} = O_k(r+1)/R − O_k·r/R:
//   gradients  the feature layers' buckets, all-reduced as above (the Dense slices' stay local)
//   forward    all_gather of the features (R−1)·b_r·F·s; for k = 2…K, all_gather of Dense k−1's output
//              slices (R−1)·B·o_{k−1,r}·s; all_gather of Dense K's slices (R−1)·B·o_{K,r}·s (all logits)
//   backward   for k = 2…K, reduce_scatter of Dense k's input gradient (B·O_{k−1} − B·o_{k−1,r})·s;
//              for Dense 1, reduce_scatter of the feature gradient by rows (B − b_r)·F·s
//   summed over ranks: (R−1)·s·[2·P_features + 2·B·F + 2·B·Σ_{k<K} O_k + B·O_K].
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <numeric>
#include <ostream>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/layers/layer.hpp"
#include "strata/net/sequential.hpp"
#include "strata/net/type_list.hpp"

namespace strata {
// Declared here so that recognising them does not pull in their kernels.
template <std::int64_t N, class... Options>
struct Dense;
template <float P>
struct Dropout;
namespace detail {
template <class F>
struct activation_spec;
}
}  // namespace strata

namespace strata::parallel {

// PyTorch DDP's default bucket size.
inline constexpr std::int64_t default_bucket_bytes = std::int64_t{25} << 20;

// ---------------------------------------------------------------------------------------------
// The collectives, rank by rank.

// How many of n items (values, rows, outputs) rank r of R owns: [n·r/R, n·(r+1)/R).
constexpr std::int64_t share(std::int64_t n, std::int64_t ranks, std::int64_t rank) {
  return n * (rank + 1) / ranks - n * rank / ranks;
}
inline std::vector<std::int64_t> shares(std::int64_t n, std::int64_t ranks) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(ranks));
  for (std::int64_t r = 0; r < ranks; ++r) out[static_cast<std::size_t>(r)] = share(n, ranks, r);
  return out;
}

// Bytes rank r hands to the transport in each collective (the convention above).
constexpr std::int64_t all_reduce_sent(std::int64_t n, std::int64_t ranks, std::int64_t rank, std::int64_t value_bytes) {
  const std::int64_t c = share(n, ranks, rank);
  return (n - c) * value_bytes + (ranks - 1) * c * value_bytes;
}
inline std::int64_t all_gather_sent(std::span<const std::int64_t> counts, std::int64_t rank, std::int64_t value_bytes) {
  return std::int64_t(counts.size() - 1) * counts[static_cast<std::size_t>(rank)] * value_bytes;
}
inline std::int64_t reduce_scatter_sent(std::span<const std::int64_t> counts, std::int64_t rank, std::int64_t value_bytes) {
  const std::int64_t total = std::accumulate(counts.begin(), counts.end(), std::int64_t{0});
  return (total - counts[static_cast<std::size_t>(rank)]) * value_bytes;
}

// ---------------------------------------------------------------------------------------------
// A network as the arithmetic sees it: its top-level layers in forward order.

enum class layer_kind {
  dense,        // Dense<N>: split by outputs in the hybrid
  elementwise,  // same shape in and out, no parameters, value by value (activations, dropout)
  other,        // anything else: data-parallel only
};

struct layer_layout {
  std::string description;
  std::int64_t parameters = 0;
  std::int64_t inputs = 0, outputs = 0;  // values per sample
  layer_kind kind = layer_kind::other;
};

struct network_layout {
  std::vector<layer_layout> layers;
  std::int64_t value_bytes = 4;  // s: bytes per value sent (sizeof the training precision)
};

namespace detail {
template <class L>
inline constexpr bool is_dense_layer = false;
template <std::int64_t N, class... O>
inline constexpr bool is_dense_layer<Dense<N, O...>> = true;

template <class L>
inline constexpr bool is_dropout_layer = false;
template <float P>
inline constexpr bool is_dropout_layer<Dropout<P>> = true;

// Every activation (ReLU, LeakyReLU, Tanh, …) derives from activation_spec<F>.
template <class F>
std::true_type derives_activation(const strata::detail::activation_spec<F>*);
std::false_type derives_activation(const void*);
template <class L>
inline constexpr bool is_activation_layer = decltype(derives_activation(static_cast<const L*>(nullptr)))::value;
}  // namespace detail

// What the hybrid head may hold from its first Dense on: Dense layers, and layers that work value
// by value without parameters, which each rank applies to its own output slice with nothing sent.
// Dropout is one (each rank draws the mask of its slice: the same bytes, not the same bits as one
// worker); BatchNorm is not (its statistics run over the batch, and it has parameters).
template <class L>
concept HybridHeadLayer = detail::is_dense_layer<L> || detail::is_activation_layer<L> || detail::is_dropout_layer<L>;

template <class L>
constexpr layer_kind kind_of() {
  if constexpr (detail::is_dense_layer<L>) return layer_kind::dense;
  else if constexpr (HybridHeadLayer<L>) return layer_kind::elementwise;
  else return layer_kind::other;
}

namespace detail {
template <class Net, std::size_t I>
layer_layout layer_layout_at() {
  using tr = typename Net::traits::template layer_traits_at<I>;
  using input = type_at_t<I, typename Net::traits::inputs>;
  return {tr::describe(), parameters_of<tr>(), input::elements, tr::output_shape::elements,
          kind_of<type_at_t<I, typename Net::body::layers>>()};
}
}  // namespace detail

// Net's top-level layers, with values of T travelling.
template <class Net, class T = float>
  requires Network<Net>
network_layout layout_of() {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return network_layout{{detail::layer_layout_at<Net, I>()...}, std::int64_t(sizeof(T))};
  }(std::make_index_sequence<Net::layer_count>{});
}

// ---------------------------------------------------------------------------------------------
// Gradient buckets: whole top-level layers from the last down, a bucket closed once it holds
// bucket_bytes / s values or more (integer division, at least 1 value), the last one at the end;
// layers without parameters add nothing. The data-parallel trainer builds the same buckets.

struct gradient_bucket {
  std::size_t lowest_layer = 0, highest_layer = 0;  // its layers: backward reaches the lowest last
  std::int64_t values = 0;
};

// Over layers [0, count) of the layout.
inline std::vector<gradient_bucket> gradient_bucket_plan(const network_layout& net, std::int64_t bucket_bytes,
                                                         std::size_t count) {
  if (bucket_bytes <= 0) throw error("gradient_buckets: bucket_bytes must be positive, got " + std::to_string(bucket_bytes));
  const std::int64_t limit = std::max<std::int64_t>(1, bucket_bytes / net.value_bytes);
  std::vector<gradient_bucket> buckets;
  gradient_bucket current;
  bool open = false;
  for (std::size_t k = std::min(count, net.layers.size()); k-- > 0;) {
    const std::int64_t p = net.layers[k].parameters;
    if (p == 0) continue;
    if (!open) current = {k, k, 0};
    open = true;
    current.lowest_layer = k;
    current.values += p;
    if (current.values >= limit) {
      buckets.push_back(current);
      open = false;
    }
  }
  if (open) buckets.push_back(current);
  return buckets;
}
inline std::vector<gradient_bucket> gradient_bucket_plan(const network_layout& net, std::int64_t bucket_bytes = default_bucket_bytes) {
  return gradient_bucket_plan(net, bucket_bytes, net.layers.size());
}

inline std::vector<std::int64_t> bucket_sizes(const std::vector<gradient_bucket>& plan) {
  std::vector<std::int64_t> sizes;
  for (const auto& b : plan) sizes.push_back(b.values);
  return sizes;
}

// Bucket sizes in values, in the order they are summed (the last layer's first).
template <class Net, class T = float>
  requires Network<Net>
std::vector<std::int64_t> gradient_buckets(std::int64_t bucket_bytes = default_bucket_bytes) {
  return bucket_sizes(gradient_bucket_plan(layout_of<Net, T>(), bucket_bytes));
}

// ---------------------------------------------------------------------------------------------
// Traffic of one optimizer step.

// Bytes each rank hands to the transport in one step, by kind.
struct traffic {
  std::vector<std::int64_t> gradients;  // parameter gradients all-reduced
  std::vector<std::int64_t> gathers;    // forward all-gathers (hybrid)
  std::vector<std::int64_t> scatters;   // backward reduce-scatters (hybrid)

  std::int64_t workers() const { return std::int64_t(gradients.size()); }
  std::int64_t sent(std::int64_t rank) const {
    const auto r = static_cast<std::size_t>(rank);
    return gradients[r] + gathers[r] + scatters[r];
  }
  std::int64_t gradient_bytes() const { return std::accumulate(gradients.begin(), gradients.end(), std::int64_t{0}); }
  std::int64_t gather_bytes() const { return std::accumulate(gathers.begin(), gathers.end(), std::int64_t{0}); }
  std::int64_t scatter_bytes() const { return std::accumulate(scatters.begin(), scatters.end(), std::int64_t{0}); }
  std::int64_t total() const { return gradient_bytes() + gather_bytes() + scatter_bytes(); }  // summed over ranks
  double per_worker() const { return double(total()) / double(workers()); }                   // mean over ranks
};

namespace detail {
inline traffic empty_traffic(std::int64_t workers) {
  const auto n = static_cast<std::size_t>(workers);
  return {std::vector<std::int64_t>(n), std::vector<std::int64_t>(n), std::vector<std::int64_t>(n)};
}
inline void check_workers(std::int64_t workers, std::int64_t batch) {
  if (workers < 1) throw error("communication: workers must be at least 1, got " + std::to_string(workers));
  if (batch < 1) throw error("communication: the batch must be at least 1, got " + std::to_string(batch));
}
}  // namespace detail

// Pure data parallelism: one all_reduce per bucket (sizes in values).
inline traffic data_parallel_traffic(std::span<const std::int64_t> buckets, std::int64_t workers, std::int64_t value_bytes) {
  detail::check_workers(workers, 1);
  traffic t = detail::empty_traffic(workers);
  for (std::int64_t r = 0; r < workers; ++r)
    for (const std::int64_t n : buckets) t.gradients[static_cast<std::size_t>(r)] += all_reduce_sent(n, workers, r, value_bytes);
  return t;
}

// Where the hybrid splits a network, and what its head sends.
struct hybrid_split {
  std::size_t first_dense = 0;             // layers before it are the features
  std::int64_t feature_width = 0;          // F: the first Dense's input values per sample
  std::vector<std::int64_t> dense_outputs;  // O_1 … O_K
  std::int64_t feature_parameters = 0, head_parameters = 0;
};

// Throws, naming the layer, where the head holds something other than Dense and element-wise layers.
inline hybrid_split split_for_hybrid(const network_layout& net) {
  hybrid_split s;
  const auto first = std::find_if(net.layers.begin(), net.layers.end(), [](const layer_layout& l) { return l.kind == layer_kind::dense; });
  if (first == net.layers.end()) throw error("hybrid parallelism: the network has no top-level Dense layer to split");
  if (first == net.layers.begin())
    throw error("hybrid parallelism: the first Dense is layer 0, so nothing before it runs data-parallel");
  s.first_dense = std::size_t(first - net.layers.begin());
  s.feature_width = first->inputs;
  for (std::size_t i = 0; i < net.layers.size(); ++i) {
    const layer_layout& l = net.layers[i];
    if (i < s.first_dense) {
      s.feature_parameters += l.parameters;
      continue;
    }
    s.head_parameters += l.parameters;
    if (l.kind == layer_kind::dense) s.dense_outputs.push_back(l.outputs);
    else if (l.kind != layer_kind::elementwise)
      throw error("hybrid parallelism: layer " + std::to_string(i) + " (" + l.description +
                  ") follows the first Dense but is neither Dense nor element-wise without parameters");
  }
  return s;
}

// The hybrid's traffic: the features' buckets (sizes in values), then the head's gathers and scatters.
inline traffic hybrid_traffic(std::span<const std::int64_t> feature_buckets, std::int64_t feature_width,
                              std::span<const std::int64_t> dense_outputs, std::int64_t workers, std::int64_t batch,
                              std::int64_t value_bytes) {
  detail::check_workers(workers, batch);
  if (dense_outputs.empty()) throw error("hybrid_traffic: the head needs at least one Dense layer");
  traffic t = data_parallel_traffic(feature_buckets, workers, value_bytes);
  const std::int64_t s = value_bytes, B = batch, F = feature_width;
  const std::vector<std::int64_t> rows = shares(B, workers);
  std::vector<std::int64_t> features(rows.size());  // counts of the feature collectives: b_r·F
  for (std::size_t r = 0; r < rows.size(); ++r) features[r] = rows[r] * F;
  // The output slices of each Dense, B rows each: counts B·o_{k,r}.
  std::vector<std::vector<std::int64_t>> slices;
  for (const std::int64_t o : dense_outputs) {
    std::vector<std::int64_t> c = shares(o, workers);
    for (auto& v : c) v *= B;
    slices.push_back(std::move(c));
  }
  for (std::int64_t r = 0; r < workers; ++r) {
    const auto i = static_cast<std::size_t>(r);
    t.gathers[i] += all_gather_sent(features, r, s);
    for (const auto& c : slices) t.gathers[i] += all_gather_sent(c, r, s);  // k = 2…K's inputs and the logits
    for (std::size_t k = 0; k + 1 < slices.size(); ++k) t.scatters[i] += reduce_scatter_sent(slices[k], r, s);
    t.scatters[i] += reduce_scatter_sent(features, r, s);
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Both schemes for a network.

struct communication_estimate {
  std::int64_t workers = 1, batch = 1, value_bytes = 4;
  // The hybrid's split of the parameters: before the first Dense (convolutions: data-parallel) and
  // from it on (the Dense layers: split by outputs).
  std::int64_t feature_parameters = 0, head_parameters = 0;
  std::vector<std::int64_t> data_parallel_buckets, feature_buckets;  // values, in the order summed
  traffic data_parallel, hybrid;
};

inline communication_estimate communication(const network_layout& net, std::int64_t workers, std::int64_t batch,
                                            std::int64_t bucket_bytes = default_bucket_bytes) {
  detail::check_workers(workers, batch);
  const hybrid_split split = split_for_hybrid(net);
  communication_estimate e;
  e.workers = workers;
  e.batch = batch;
  e.value_bytes = net.value_bytes;
  e.feature_parameters = split.feature_parameters;
  e.head_parameters = split.head_parameters;
  e.data_parallel_buckets = bucket_sizes(gradient_bucket_plan(net, bucket_bytes));
  e.feature_buckets = bucket_sizes(gradient_bucket_plan(net, bucket_bytes, split.first_dense));
  e.data_parallel = data_parallel_traffic(e.data_parallel_buckets, workers, net.value_bytes);
  e.hybrid = hybrid_traffic(e.feature_buckets, split.feature_width, split.dense_outputs, workers, batch, net.value_bytes);
  return e;
}

// Named failures of the hybrid split, shown by the compiler's note on the one static_assert.
template <class Net>
struct no_top_level_dense_layer_in {
  static constexpr bool ok = false;
};
template <class Net>
struct first_dense_is_layer_0_so_nothing_is_data_parallel_in {
  static constexpr bool ok = false;
};
template <std::size_t LayerIndex, class Layer>
struct not_dense_or_elementwise_in_the_hybrid_head_at {
  static constexpr bool ok = false;
};
struct hybrid_split_ok {
  static constexpr bool ok = true;
};

namespace detail {
template <class Net>
struct hybrid_check;
template <class In, class... L>
struct hybrid_check<Sequential<In, L...>> {
  static constexpr std::size_t n = sizeof...(L);
  static constexpr bool dense[] = {is_dense_layer<L>...};
  static constexpr bool head_ok[] = {HybridHeadLayer<L>...};
  static constexpr std::size_t first = [] {
    std::size_t i = 0;
    while (i < n && !dense[i]) ++i;
    return i;
  }();
  static constexpr std::size_t bad = [] {
    std::size_t i = first;
    while (i < n && head_ok[i]) ++i;
    return i;
  }();
  using type = std::conditional_t<
      first == n, no_top_level_dense_layer_in<Sequential<In, L...>>,
      std::conditional_t<first == 0, first_dense_is_layer_0_so_nothing_is_data_parallel_in<Sequential<In, L...>>,
                         std::conditional_t<bad == n, hybrid_split_ok,
                                            not_dense_or_elementwise_in_the_hybrid_head_at<
                                                bad, type_at_t<(bad < n ? bad : n - 1), type_list<L...>>>>>>;
};
}  // namespace detail

// Whether Net splits for the hybrid (its first top-level Dense not layer 0, and after it only
// Dense and element-wise layers without parameters).
template <class Net>
  requires Network<Net>
inline constexpr bool hybrid_splittable = detail::hybrid_check<Net>::type::ok;

// Per optimizer step of Net with values of T: pure data parallelism against the hybrid, on
// `workers` ranks sharing a global batch of `batch` rows (rank r gets rows [B·r/R, B·(r+1)/R)).
template <class Net, class T = float>
  requires Network<Net>
communication_estimate communication(std::int64_t workers, std::int64_t batch, std::int64_t bucket_bytes = default_bucket_bytes) {
  using check = typename detail::hybrid_check<Net>::type;
  static_assert(check::ok,
                "strata::parallel::communication: the hybrid splits a network at its first top-level Dense; the note "
                "names what fails: no_top_level_dense_layer_in<Net>, first_dense_is_layer_0_so_nothing_is_data_parallel_in"
                "<Net>, or not_dense_or_elementwise_in_the_hybrid_head_at<index, layer> (only Dense layers and "
                "element-wise layers without parameters, such as ReLU or Dropout, may follow the first Dense; "
                "BatchNorm, Flatten or a block may not). For data parallelism alone use data_parallel_traffic("
                "gradient_buckets<Net, T>(), workers, sizeof(T)).");
  return communication(layout_of<Net, T>(), workers, batch, bucket_bytes);
}

// ---------------------------------------------------------------------------------------------
// A table: one row per worker count.

enum class batch_scaling {
  per_worker,  // `batch` rows on every worker: the global batch grows with the workers (weak scaling)
  global,      // `batch` rows in all, shared
};

namespace detail {
inline std::string mebibytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", bytes / (1024.0 * 1024.0));
  return buf;
}
inline std::string right(const std::string& s, std::size_t w) { return s.size() < w ? std::string(w - s.size(), ' ') + s : s; }
}  // namespace detail

// Prints, for each worker count, the bytes per worker per step (MiB) of data parallelism and of
// the hybrid, their ratio, and the hybrid's breakdown per worker.
inline void print_communication_table(std::ostream& out, const network_layout& net, std::span<const std::int64_t> workers,
                                      std::int64_t batch, batch_scaling scaling = batch_scaling::per_worker,
                                      std::int64_t bucket_bytes = default_bucket_bytes) {
  const hybrid_split split = split_for_hybrid(net);
  out << "parameters: " << split.feature_parameters << " before the first Dense (data-parallel in the hybrid), "
      << split.head_parameters << " from it on (split by outputs); " << net.value_bytes << " bytes per value; batch "
      << batch << (scaling == batch_scaling::per_worker ? " per worker" : " in all") << "\n";
  out << detail::right("workers", 7) << detail::right("batch", 8) << detail::right("data-par MiB/w", 16)
      << detail::right("hybrid MiB/w", 14) << detail::right("ratio", 8) << detail::right("grads", 10)
      << detail::right("gathers", 10) << detail::right("scatters", 10) << "\n";
  for (const std::int64_t p : workers) {
    const std::int64_t b = scaling == batch_scaling::per_worker ? batch * p : batch;
    const communication_estimate e = communication(net, p, b, bucket_bytes);
    const double w = double(p);
    char ratio[32];
    std::snprintf(ratio, sizeof ratio, "%.2f", e.hybrid.total() ? double(e.data_parallel.total()) / double(e.hybrid.total()) : 0.0);
    out << detail::right(std::to_string(p), 7) << detail::right(std::to_string(b), 8)
        << detail::right(detail::mebibytes(e.data_parallel.per_worker()), 16)
        << detail::right(detail::mebibytes(e.hybrid.per_worker()), 14) << detail::right(ratio, 8)
        << detail::right(detail::mebibytes(double(e.hybrid.gradient_bytes()) / w), 10)
        << detail::right(detail::mebibytes(double(e.hybrid.gather_bytes()) / w), 10)
        << detail::right(detail::mebibytes(double(e.hybrid.scatter_bytes()) / w), 10) << "\n";
  }
}

template <class Net, class T = float>
  requires Network<Net>
void print_communication_table(std::ostream& out, std::initializer_list<std::int64_t> workers, std::int64_t batch,
                               batch_scaling scaling = batch_scaling::per_worker,
                               std::int64_t bucket_bytes = default_bucket_bytes) {
  static_assert(hybrid_splittable<Net>, "strata::parallel::print_communication_table: Net does not split for the hybrid "
                                        "(see communication<Net>)");
  const std::vector<std::int64_t> w(workers);
  print_communication_table(out, layout_of<Net, T>(), w, batch, scaling, bucket_bytes);
}

}  // namespace strata::parallel
