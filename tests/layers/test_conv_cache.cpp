// A convolution's cached filter transforms (Winograd, FFT) must never be stale, whatever wrote
// the weights: for every algorithm forced in turn, weights are changed through each public path
// between two forward passes — a parameter view, a raw pointer, an optimizer step (SGD, Adam),
// loading a saved model, re-initialisation, and a bulk copy from outside such as an all-reduce —
// and every forward pass must equal the reference algorithm's on the same weights.
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "strata/io/model_file.hpp"
#include "strata/layers/conv.hpp"
#include "strata/net/model.hpp"
#include "strata/train/adam.hpp"
#include "strata/train/sgd.hpp"
#include "support/files.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

template <class A, class Opts>
struct net_with;
template <class A, class... Opts>
struct net_with<A, std::tuple<Opts...>> {
  using type = Sequential<Input<3, 9, 8>, Conv<4, Opts..., Algorithm<A>>>;
};

// Copies every parameter of `from` into `to` (same architecture, another algorithm).
template <class M1, class M2>
void copy_parameters(M1& from, M2& to) {
  std::vector<std::vector<double>> values;
  from.visit_parameters([&](const auto& p) { values.emplace_back(p.value.data(), p.value.data() + p.value.size()); });
  std::size_t i = 0;
  to.visit_parameters([&](const auto& p) {
    const auto& v = values[i++];
    REQUIRE(static_cast<std::int64_t>(v.size()) == p.value.size());
    std::memcpy(p.value.data(), v.data(), sizeof(double) * v.size());
  });
}

template <class A, class Opts>
void check_algorithm(const std::string& label) {
  using Net = typename net_with<A, Opts>::type;
  using Ref = typename net_with<algo::reference, Opts>::type;
  Model<Net, double> model(1);
  Model<Ref, double> reference(1);
  Tensor<double, 2> x(2, Net::input_shape::elements), dy(2, Net::output_shape::elements);
  fill_uniform(x, -1, 1, 2);
  fill_uniform(dy, -1, 1, 3);

  int checks = 0;
  auto agree = [&](const std::string& after) {
    copy_parameters(model, reference);
    const auto got = testing::to_doubles(model.forward(x));
    const auto want = testing::to_doubles(reference.forward(x));
    INFO(label << " after " << after);
    CHECK(testing::max_relative_error(got, want, 1.0) <= 1e-12);
    ++checks;
  };
  agree("initialisation");

  model.visit_parameters([](const auto& p) { p.value.data()[0] += 0.5; });
  agree("a write through a parameter view");

  model.layers().template part<0>().weight.data()[7] -= 0.25;
  agree("a write through a raw pointer");

  model.forward(x, true);
  model.backward(dy);
  train::SGD<double> sgd({.momentum = 0.9});
  sgd.step(model, 0.1);
  agree("an SGD step");

  model.forward(x, true);
  model.backward(dy);
  train::Adam<double> adam;
  adam.step(model, 0.05);
  agree("an Adam step");

  testing::temp_dir dir;
  Model<Net, double> other(99);
  other.save(dir.path / "other.strata");
  model.load(dir.path / "other.strata");
  agree("loading another model's weights");

  random_engine rng(5);
  initialize_layer(model.layers(), rng);
  agree("re-initialisation");

  // What an all-reduce does: the whole buffer replaced from outside, in one copy.
  model.visit_parameters([](const auto& p) {
    std::vector<double> averaged(static_cast<std::size_t>(p.value.size()));
    for (std::size_t i = 0; i < averaged.size(); ++i) averaged[i] = 0.01 * double(i % 17) - 0.07;
    std::memcpy(p.value.data(), averaged.data(), sizeof(double) * averaged.size());
  });
  agree("a bulk copy into the weights (all-reduce)");
  CHECK(checks == 8);
}

// The Conv spec of a one-layer Sequential.
template <class Net>
struct conv_of_impl;
template <class In, class L>
struct conv_of_impl<Sequential<In, L>> {
  using type = L;
};
template <class Net>
using conv_of = typename conv_of_impl<Net>::type;

template <class Opts>
int check_every_algorithm(const std::string& shape) {
  int ran = 0;
  auto one = [&]<class A>(A) {
    if constexpr (kernels::conv_available<A, double, cpu>) {
      using Net = typename net_with<A, Opts>::type;
      if (!A::supports(conv_of<Net>::template geometry<typename Net::input_shape>())) return;
      check_algorithm<A, Opts>(std::string(A::name) + " on " + shape);
      ++ran;
    }
  };
  std::apply([&](auto... a) { (one(a), ...); }, algo::candidates{});
  one(algo::automatic{});
  return ran;
}

}  // namespace

TEST_CASE("cached filter transforms follow the weights through every path that writes them", "[layers][conv][cache]") {
  CHECK(check_every_algorithm<std::tuple<Kernel<3>, Pad<1>>>("3×3 pad 1") >= 5);  // im2col, direct, Winograd ×2, (FFT), automatic
  CHECK(check_every_algorithm<std::tuple<Kernel<5>, Pad<2>>>("5×5 pad 2") >= 3);
  CHECK(check_every_algorithm<std::tuple<Kernel<1>>>("1×1") >= 4);
}

TEST_CASE("a forced algorithm that cannot run the shape throws, naming the algorithm and the layer", "[layers][conv][errors]") {
  using Net = Sequential<Input<3, 8, 8>, Conv<4, Kernel<3>, Stride<2>, Pad<1>, Algorithm<algo::winograd<4>>>>;
  Model<Net> m(1);
  Tensor<float, 2> x(1, 192);
  CHECK_THROWS_WITH(m.forward(x), Catch::Contains("the forced algorithm winograd<4> cannot run") &&
                                      Catch::Contains("conv 3×3 /2 pad 1, 3 → 4"));
  using Pointwise = Sequential<Input<3, 8, 8>, Conv<4, Kernel<3>, Pad<1>, Algorithm<algo::gemm_1x1>>>;
  Model<Pointwise> p(1);
  CHECK_THROWS_WITH(p.forward(x), Catch::Contains("gemm_1x1") && Catch::Contains("conv 3×3 pad 1"));
}
