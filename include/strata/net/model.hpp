// strata/net/model.hpp — Model<Net, T, D>: a network definition made real for precision T on
// device D. It owns every parameter, gradient and workspace, initialises them from one seed, runs
// forward and backward over batches (giving the input gradient when asked), and names its
// parameters ("3.weight") for optimizers, savers (strata/io/model_file.hpp) and freezers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

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

template <class Net, class T = float, class D = cpu>
class Model {
  static_assert(Network<Net>, "strata::Model<Net, …>: Net must be a Sequential<Input<…>, layers…>");
  static_assert(Precision<T>, "strata::Model<Net, T, …>: T needs a precision_traits<T> specialisation");
  static_assert(Device<D>, "strata::Model<Net, T, D>: D is a device tag (strata::cpu or strata::cuda)");

 public:
  using network = Net;
  using element_type = T;
  using device_type = D;
  using input_shape = typename Net::input_shape;
  using output_shape = typename Net::output_shape;
  static constexpr std::int64_t parameter_count = Net::parameters;

  // Parameters drawn from a Philox stream seeded with `seed`: the same seed, the same model.
  explicit Model(std::uint64_t seed = 0) : rng_(seed) { initialize_layer(body_, rng_); }

  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // The outputs for a batch x ([n, input elements]); valid until the next forward.
  batch_view<const T, D> forward(batch_view<const T, D> x, bool training = false) {
    check_input(x);
    const std::int64_t n = x.extent(0);
    batch_view<T, D> y = ensure_batch(output_, n, output_shape::elements);
    ctx_.training = training;
    ctx_.rng = &rng_;
    body_.forward(x, y, ctx_);
    last_input_.rebind(x);
    return y;
  }

  // Gradients of every parameter for dL/d(output) = dy, after a forward pass on the same batch
  // (whose input must still be alive).
  void backward(batch_view<const T, D> dy) { backward_impl(dy, batch_view<T, D>{}, false); }

  // The same, and dL/d(input) into dx ([n, input elements]): saliency maps, adversarial
  // examples, feature visualisation.
  void backward(batch_view<const T, D> dy, batch_view<T, D> dx) {
    const std::int64_t n = last_input_.extent(0);
    if (dx.shape() != Shape{n, input_shape::elements})
      throw shape_error("Model::backward: the input gradient " + dx.shape().to_string() + " does not match the last forward's input " +
                        Shape{n, input_shape::elements}.to_string());
    backward_impl(dy, dx, true);
  }

  template <class F>
  void visit_parameters(F&& f) {
    visit_layer_parameters(body_, f, "");
  }
  template <class F>
  void visit_state(F&& f) {
    visit_layer_state(body_, f, "");
  }

  random_engine& rng() noexcept { return rng_; }

  // The architecture and element type a saved file must match.
  static std::string signature() { return strata::signature<Net>() + " | " + precision_traits<T>::name; }

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
  void backward_impl(batch_view<const T, D> dy, batch_view<T, D> dx, bool want_input_gradient) {
    const std::int64_t n = last_input_.extent(0);
    if (dy.shape() != Shape{n, output_shape::elements})
      throw shape_error("Model::backward: the output gradient " + dy.shape().to_string() + " does not match the last forward's output " +
                        Shape{n, output_shape::elements}.to_string());
    batch_view<const T, D> y(output_.data(), Shape{n, output_shape::elements});
    context c = ctx_;
    c.want_input_gradient = want_input_gradient;  // the first layer skips dx unless it is wanted
    body_.backward(last_input_, y, dy, dx, c);
  }

  void check_input(batch_view<const T, D> x) const {
    if (x.extent(1) != input_shape::elements)
      throw shape_error("Model::forward: a batch of " + input_shape::to_string() + " samples has " +
                        std::to_string(input_shape::elements) + " values per row, got " + x.shape().to_string());
  }

  using body_type = typename std::conditional_t<Net::valid, detail::runtime_layer_of<typename Net::body, input_shape, T, D>,
                                                std::type_identity<detail::invalid_layer>>::type;
  random_engine rng_;
  body_type body_;
  context ctx_;
  Tensor<T, 1, D> output_;
  batch_view<const T, D> last_input_;
};

}  // namespace strata
