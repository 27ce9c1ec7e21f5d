// strata/net/model.hpp — Model<Net, T>: a network definition made real for element type T. It
// owns every parameter, gradient and workspace, initialises them from one seed, runs forward
// and backward over batches, and names its parameters ("3.weight") for optimizers, savers and
// freezers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "strata/io/archive.hpp"
#include "strata/net/chain.hpp"
#include "strata/net/layer.hpp"
#include "strata/net/sequential.hpp"
#include "strata/net/summary.hpp"

namespace strata {

namespace detail {
// Stands in for the layers of a network whose shapes do not fit, so that Sequential's one
// shape-mismatch static_assert is the only error.
struct invalid_network_layer {
  template <class... A>
  void initialize(A&&...) {}
  template <class... A>
  void forward(A&&...) {}
  template <class... A>
  void backward(A&&...) {}
  template <class... A>
  void visit_parameters(A&&...) {}
  template <class... A>
  void visit_state(A&&...) {}
};
}  // namespace detail

template <class Net, class T = float, class D = cpu>
class Model {
  static_assert(Network<Net>, "strata::Model<Net, …>: Net must be a Sequential<Input<…>, layers…>");
  static_assert(std::is_same_v<D, cpu>, "strata::Model: the layers have CPU kernels so far; use strata::cpu");
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "strata::Model: layers run in float or double (fp16 training arrives with mixed precision)");

 public:
  using network = Net;
  using element_type = T;
  using input_shape = typename Net::input_shape;
  using output_shape = typename Net::output_shape;
  static constexpr std::int64_t parameter_count = Net::parameters;

  // Parameters drawn from a Philox stream seeded with `seed`: the same seed, the same model.
  explicit Model(std::uint64_t seed = 0) : rng_(seed) { body_.initialize(rng_); }

  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // The outputs for a batch x ([n, input elements]); valid until the next forward.
  batch_view<const T> forward(batch_view<const T> x, bool training = false) {
    check_input(x);
    const std::int64_t n = x.extent(0);
    if (output_.size() < n * output_shape::elements) output_ = Tensor<T, 1>::uninitialized(Shape<1>{n * output_shape::elements});
    batch_view<T> y(output_.data(), Shape{n, output_shape::elements});
    ctx_.training = training;
    ctx_.rng = &rng_;
    body_.forward(x, y, ctx_);
    last_input_.rebind(x);
    return y;
  }

  // Gradients of every parameter for dL/d(output) = dy, after a forward pass on the same batch
  // (whose input must still be alive).
  void backward(batch_view<const T> dy) {
    const std::int64_t n = last_input_.extent(0);
    if (dy.shape() != Shape{n, output_shape::elements})
      throw shape_error("Model::backward: the output gradient " + dy.shape().to_string() + " does not match the last forward's output " +
                        Shape{n, output_shape::elements}.to_string());
    batch_view<const T> y(output_.data(), Shape{n, output_shape::elements});
    context c = ctx_;
    c.want_input_gradient = false;  // nobody needs dL/dinput
    body_.backward(last_input_, y, dy, batch_view<T>{}, c);
  }

  template <class F>
  void visit_parameters(F&& f) {
    body_.visit_parameters(f, "");
  }
  template <class F>
  void visit_state(F&& f) {
    body_.visit_state(f, "");
  }

  random_engine& rng() noexcept { return rng_; }

  // The architecture and element type a saved file must match.
  static std::string signature() { return strata::signature<Net>() + " | " + precision_traits<T>::name; }

  // One versioned, checksummed file (strata/io/archive.hpp): every parameter and every piece of
  // state (batch-norm statistics) under its name, and the architecture signature.
  void save(const std::filesystem::path& path) {
    io::archive a;
    a.kind = "strata-model";
    a.signature = signature();
    a.version = 1;
    visit_parameters([&](const parameter_ref<T>& p) { a.entries.push_back(io::make_entry(p.name, p.value)); });
    visit_state([&](const std::string& name, TensorView<T, 1> v) { a.entries.push_back(io::make_entry(name, v)); });
    io::write_archive(path, a);
  }

  // Loads what save() wrote. A file from another architecture, a truncated or a corrupted file
  // throws io::archive_error saying which; the model is then left as it was.
  void load(const std::filesystem::path& path) {
    const io::archive a = io::read_archive(path, "strata-model", signature());
    // Check every entry before changing anything, so a failure leaves the model intact.
    visit_parameters([&](const parameter_ref<T>& p) { check_entry(a, p.name, p.value.size()); });
    visit_state([&](const std::string& name, TensorView<T, 1> v) { check_entry(a, name, v.size()); });
    visit_parameters([&](const parameter_ref<T>& p) { a.read(p.name, p.value); });
    visit_state([&](const std::string& name, TensorView<T, 1> v) { a.read(name, v); });
  }

  // The runtime layers, for tests and tools that reach into one.
  auto& layers() noexcept { return body_; }

 private:
  static void check_entry(const io::archive& a, const std::string& name, std::int64_t size) {
    const io::archive_entry& e = a.at(name);
    std::int64_t n = 1;
    for (std::int64_t d : e.shape) n *= d;
    if (e.type != io::element_code_of<T>() || n != size)
      throw io::archive_error("model file " + a.source + ": entry '" + name + "' holds " + io::to_string(e.type) + " " +
                              io::shape_string(e.shape) + ", the model needs " + io::to_string(io::element_code_of<T>()) +
                              " [" + std::to_string(size) + "]");
  }

  void check_input(batch_view<const T> x) const {
    if (x.extent(1) != input_shape::elements)
      throw shape_error("Model::forward: a batch of " + input_shape::to_string() + " samples has " +
                        std::to_string(input_shape::elements) + " values per row, got " + x.shape().to_string());
  }

  using body_type = std::conditional_t<Net::valid, runtime_layer<typename Net::body, input_shape, T>,
                                       detail::invalid_network_layer>;
  random_engine rng_;
  body_type body_;
  context ctx_;
  Tensor<T, 1> output_;
  batch_view<const T> last_input_;
};

}  // namespace strata
