// strata/net/model.hpp — Model<Net, T, D>: a network definition made real for precision T on
// device D. It owns every parameter, gradient and workspace, initialises them from one seed, runs
// forward and backward over batches (giving the input gradient when asked), names its
// parameters ("3.weight") for optimizers and savers (strata/io/model_file.hpp), and keeps the
// per-layer learning-rate multipliers and frozen layers of transfer learning. For a binary
// precision it runs Net binarised (net/binary_network.hpp), with fp32 batches and parameters.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/rounding_stream.hpp"
#include "strata/net/binary_network.hpp"
#include "strata/net/chain.hpp"
#include "strata/layers/layer.hpp"
#include "strata/net/sequential.hpp"
#include "strata/net/summary.hpp"

namespace strata {

// Defined in strata/io/model_file.hpp (include it, or strata/strata.hpp, to save or load).
template <class M, class Path>
void save_model(M& model, const Path& path);
template <class M, class Path>
void load_model(M& model, const Path& path);

// Top-level layers [first, last), for freezing and learning-rate multipliers.
struct layer_range {
  std::size_t first = 0, last = 0;
};

namespace detail {
// Whether layer path `prefix` covers `name` ("3" covers "3", "3.weight" and "3.block.0.bias",
// not "30.weight"; "" covers everything).
inline bool path_covers(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return true;
  if (name.size() < prefix.size() || name.substr(0, prefix.size()) != prefix) return false;
  return name.size() == prefix.size() || name[prefix.size()] == '.';
}
}  // namespace detail

template <class Net, class T = float, class D = cpu>
class Model {
  static_assert(Network<Net>, "strata::Model<Net, …>: Net must be a Sequential<Input<…>, layers…>");
  static_assert(Precision<T>, "strata::Model<Net, T, …>: T needs a precision_traits<T> specialisation");
  static_assert(Device<D>, "strata::Model<Net, T, D>: D is a device tag (strata::cpu or strata::cuda)");
  static_assert(!has_dynamic_scale<T> || std::is_same_v<D, cpu>, "strata::Model<Net, dynamic_fixed<…>, D>: dynamic fixed point runs on the CPU");
  static_assert(!is_binary_precision_v<T> || std::is_same_v<D, cpu>,
                "strata::Model<Net, binary, D>: binary networks run on the CPU (XNOR-popcount kernels)");
  static_assert(binary_network<Net, T>::problem::ok,
                "strata::Model<Net, binary>: Net cannot be binarised; the note names the layer, as "
                "not_binarizable_at<index, layer> (only Conv, Dense and BatchNorm may have parameters), "
                "binary_layer_input_not_sign_at<index, layer> (put HardTanh, which becomes Sign, before it) or "
                "no_weight_layer_to_binarize<Net>");

 public:
  using network = Net;
  // The precision the model is built in, and the element type of its batches and parameters
  // (the same, but fp32 for binary precisions, whose bits live inside the binary layers).
  using precision = T;
  using element_type = model_element_t<T>;
  // What runs: Net, or for a binary precision Net with BinaryNet's rules applied.
  using runtime_network = binary_network_t<Net, T>;
  using device_type = D;
  using input_shape = typename Net::input_shape;
  using output_shape = typename Net::output_shape;
  static constexpr std::int64_t parameter_count = Net::parameters;

  // Parameters drawn from a Philox stream seeded with `seed`: the same seed, the same model.
  explicit Model(std::uint64_t seed = 0) : rng_(seed) { initialize_layer(body_, rng_); }

  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // The outputs for a batch x ([n, input elements]); valid until the next forward.
  batch_view<const element_type, D> forward(batch_view<const element_type, D> x, bool training = false) {
    check_input(x);
    const std::int64_t n = x.extent(0);
    batch_view<element_type, D> y = ensure_batch(output_, n, output_shape::elements);
    ctx_.training = training;
    ctx_.rng = &rng_;
    const rounding_scope rounding(rng_);  // stochastic rounding in kernels draws from the model's stream
    body_.forward(x, y, ctx_);
    last_input_.rebind(x);
    return y;
  }

  // The last forward pass's input and outputs (while that input is alive, until the next forward).
  batch_view<const element_type, D> last_input() const noexcept { return last_input_; }
  batch_view<const element_type, D> last_output() const {
    return batch_view<const element_type, D>(output_.data(), Shape{last_input_.extent(0), output_shape::elements});
  }

  // Gradients of every parameter for dL/d(output) = dy, after a forward pass on the same batch
  // (whose input must still be alive).
  void backward(batch_view<const element_type, D> dy) { backward_impl(dy, batch_view<element_type, D>{}, false); }

  // The same, and dL/d(input) into dx ([n, input elements]): saliency maps, adversarial
  // examples, feature visualisation.
  void backward(batch_view<const element_type, D> dy, batch_view<element_type, D> dx) {
    const std::int64_t n = last_input_.extent(0);
    if (dx.shape() != Shape{n, input_shape::elements})
      throw shape_error("Model::backward: the input gradient " + dx.shape().to_string() + " does not match the last forward's input " +
                        Shape{n, input_shape::elements}.to_string());
    backward_impl(dy, dx, true);
  }

  // The same, telling `listener` as each top-level layer's parameter gradients become final (the
  // last layer first), so data-parallel training can sum them while the layers below still run.
  void backward(batch_view<const element_type, D> dy, gradient_listener& listener) {
    ctx_.listener = &listener;
    try {
      backward_impl(dy, batch_view<element_type, D>{}, false);
    } catch (...) {
      ctx_.listener = nullptr;
      throw;
    }
    ctx_.listener = nullptr;
  }

  // Batch statistics (batch norm in training) over every replica's rows, summed by `sums`, until
  // set back to nullptr: synchronised batch norm in data-parallel training.
  void set_batch_sums(replica_sums* sums) noexcept { ctx_.batch_sums = sums; }

  // Every parameter, with its learning-rate multiplier in parameter_ref::rate: the model's rules
  // (below) times the layer's own factor (binary layers' per-layer rates, else 1).
  template <class F>
  void visit_parameters(F&& f) {
    visit_layer_parameters(body_, [&](parameter_ref<element_type, D>& p) {
      p.rate *= learning_rate_of(p.name);
      f(p);
    }, "");
  }

  // Learning-rate multipliers by layer (transfer learning): a layer path as the summary shows it
  // ("3", "3.block.0"; "" for the whole network) or a range of top-level layers. A later rule
  // overrides earlier ones where they overlap. 0 freezes: the optimizers leave those parameters
  // alone, and a frozen top-level layer runs as in inference and computes no gradients.
  void set_learning_rate(std::string_view layer, double multiplier) {
    check_multiplier(multiplier);
    check_layer(layer);
    rate_rules_.emplace_back(std::string(layer), multiplier);
    update_frozen();
  }
  void set_learning_rate(layer_range layers, double multiplier) {
    check_multiplier(multiplier);
    check_range(layers);
    for (std::size_t i = layers.first; i < layers.last; ++i) rate_rules_.emplace_back(std::to_string(i), multiplier);
    update_frozen();
  }
  void freeze(std::string_view layer = "") { set_learning_rate(layer, 0); }
  void freeze(layer_range layers) { set_learning_rate(layers, 0); }
  void unfreeze(std::string_view layer = "") { set_learning_rate(layer, 1); }
  void unfreeze(layer_range layers) { set_learning_rate(layers, 1); }

  // The multiplier of a parameter ("3.weight") or layer ("3"): the last rule that covers it, else 1.
  double learning_rate_of(std::string_view name) const {
    double rate = 1;
    for (const auto& [prefix, multiplier] : rate_rules_)
      if (detail::path_covers(prefix, name)) rate = multiplier;
    return rate;
  }
  // The learning-rate rules in the order they were given (layer path, multiplier): what a
  // replica of this model repeats to train alike.
  const std::vector<std::pair<std::string, double>>& learning_rate_rules() const noexcept { return rate_rules_; }

  // Whether top-level layer i is frozen (all its parameters at 0, or parameter-free below every
  // trainable layer).
  bool frozen(std::size_t layer) const { return layer < layer_count ? body_.frozen[layer] : false; }
  static constexpr std::size_t layer_count = Net::layer_count;
  template <class F>
  void visit_state(F&& f) {
    visit_layer_state(body_, f, "");
  }

  random_engine& rng() noexcept { return rng_; }

  // The architecture and element type a saved file must match.
  static std::string signature() { return strata::signature<runtime_network>() + " | " + precision_traits<T>::name; }

  // Saves to / loads from one versioned, checksummed file (strata/io/model_file.hpp, which a
  // program that saves includes): parameters and state by name, and the signature.
  template <class Path>
  void save(const Path& path) {
    save_model(*this, path);
  }
  template <class Path>
  void load(const Path& path) {
    load_model(*this, path);
  }

  // The runtime layers, for tests and tools that reach into one.
  auto& layers() noexcept { return body_; }

 private:
  void backward_impl(batch_view<const element_type, D> dy, batch_view<element_type, D> dx, bool want_input_gradient) {
    const std::int64_t n = last_input_.extent(0);
    if (dy.shape() != Shape{n, output_shape::elements})
      throw shape_error("Model::backward: the output gradient " + dy.shape().to_string() + " does not match the last forward's output " +
                        Shape{n, output_shape::elements}.to_string());
    batch_view<const element_type, D> y(output_.data(), Shape{n, output_shape::elements});
    context c = ctx_;
    c.want_input_gradient = want_input_gradient;  // the first layer skips dx unless it is wanted
    const rounding_scope rounding(rng_);
    body_.backward(last_input_, y, dy, dx, c);
  }

  void check_input(batch_view<const element_type, D> x) const {
    if (x.extent(1) != input_shape::elements)
      throw shape_error("Model::forward: a batch of " + input_shape::to_string() + " samples has " +
                        std::to_string(input_shape::elements) + " values per row, got " + x.shape().to_string());
  }

  static void check_multiplier(double m) {
    if (!(m >= 0) || !std::isfinite(m))
      throw error("Model::set_learning_rate: the multiplier must be finite and non-negative, got " + std::to_string(m));
  }
  static void check_range(layer_range r) {
    if (r.first > r.last || r.last > layer_count)
      throw error("Model: layer range [" + std::to_string(r.first) + ", " + std::to_string(r.last) + ") is outside the " +
                  std::to_string(layer_count) + " top-level layers");
  }
  // A path names a layer when its first component is a top-level index and, below that, some
  // parameter lies under it (a path into a parameter-free layer names nothing to train).
  void check_layer(std::string_view layer) {
    if (layer.empty()) return;
    const std::string_view top = layer.substr(0, layer.find('.'));
    std::size_t index = 0;
    bool numeric = !top.empty();
    for (char c : top) numeric = numeric && c >= '0' && c <= '9';
    if (numeric) index = std::stoul(std::string(top));
    bool found = numeric && index < layer_count && layer == top;
    if (!found)
      visit_layer_parameters(body_, [&](const parameter_ref<element_type, D>& p) { found = found || detail::path_covers(layer, p.name); }, "");
    if (!found)
      throw error("Model: no layer '" + std::string(layer) + "' (top-level layers are 0…" + std::to_string(layer_count - 1) +
                  "; deeper paths as the summary prints them, e.g. '3.block.0')");
  }
  // Marks the frozen top-level layers: a layer with parameters when all are at 0, one without
  // when no layer up to it trains (so a dropout above a trained layer stays active).
  void update_frozen() {
    std::array<int, layer_count> trainable{}, with_parameters{};
    visit_layer_parameters(body_, [&](const parameter_ref<element_type, D>& p) {
      const std::size_t i = std::stoul(p.name.substr(0, p.name.find('.')));
      with_parameters[i] = 1;
      if (learning_rate_of(p.name) != 0) trainable[i] = 1;
    }, "");
    bool trainable_so_far = false;
    for (std::size_t i = 0; i < layer_count; ++i) {
      trainable_so_far = trainable_so_far || trainable[i];
      body_.frozen[i] = with_parameters[i] ? !trainable[i] : !trainable_so_far;
    }
  }

  using body_type = typename std::conditional_t<Net::valid && binary_network<Net, T>::problem::ok, detail::runtime_layer_of<typename runtime_network::body, input_shape, element_type, D>,
                                                std::type_identity<detail::invalid_layer>>::type;
  std::vector<std::pair<std::string, double>> rate_rules_;
  random_engine rng_;
  body_type body_;
  context ctx_;
  Tensor<element_type, 1, D> output_;
  batch_view<const element_type, D> last_input_;
};

}  // namespace strata
