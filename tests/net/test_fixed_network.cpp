// Networks in 16-bit fixed point (Gupta et al. 2015): every product is an integer GEMM or
// convolution whose exact sum is rounded once (bit-exact against an int64 definition), the whole
// network stays within the quantisation bound of the same weights in fp64, results do not depend
// on the thread count, stochastic rounding lets training proceed where rounding to nearest
// stalls, and fixed-point models save and load.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/core/random.hpp"
#include "strata/io/model_file.hpp"
#include "strata/kernels/conv_choices.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/avg_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/model.hpp"
#include "strata/train/fit.hpp"
#include "strata/train/sgd.hpp"
#include "support/blobs.hpp"
#include "support/files.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

using Net = Sequential<Input<2, 8, 8>, Conv<4, Kernel<3>, Pad<1>>, ReLU, MaxPool<2>, Conv<6, Kernel<1>>, AvgPool<2>,
                       Dense<5>, ReLU, Dense<3>>;

template <class T>
double value(T v) {
  return double(precision_traits<T>::to_compute(v));
}

// The same parameters in another precision (exact: fixed values are representable in fp64).
template <class To, class From>
void copy_parameters(Model<Net, From>& from, Model<Net, To>& to) {
  std::vector<double> values;
  from.visit_parameters([&](const auto& p) {
    for (std::int64_t i = 0; i < p.value.size(); ++i) values.push_back(value(p.value(i)));
  });
  std::size_t k = 0;
  to.visit_parameters([&](const auto& p) {
    for (std::int64_t i = 0; i < p.value.size(); ++i) p.value(i) = To(values[k++]);
  });
}

template <class T>
Tensor<T, 2> batch(std::int64_t n, std::uint64_t seed) {
  Tensor<T, 2> x(Shape{n, Net::input_shape::elements});
  fill_uniform(x, 0, 1, seed);
  return x;
}

template <class T>
std::vector<std::int16_t> raw_parameters(Model<Net, T>& m) {
  std::vector<std::int16_t> out;
  m.visit_parameters([&](const auto& p) {
    for (std::int64_t i = 0; i < p.value.size(); ++i) out.push_back(p.value(i).raw());
  });
  return out;
}

}  // namespace

TEST_CASE("a fixed-point dense layer is the int64 definition rounded once to nearest", "[net][fixed]") {
  using T = fixed<16, 10, rounding::nearest>;
  using D = Sequential<Input<37>, Dense<11>>;
  Model<D, T> m(2);
  Tensor<T, 2> x(Shape{5, 37});
  fill_uniform(x, -3, 3, 9);
  const auto y = m.forward(x);
  auto& layer = m.layers().template part<0>();
  for (std::int64_t i = 0; i < 5; ++i)
    for (std::int64_t o = 0; o < 11; ++o) {
      std::int64_t acc = 0;
      for (std::int64_t k = 0; k < 37; ++k) acc += std::int64_t(x(i, k).raw()) * layer.weight(o, k).raw();
      const std::int64_t product = T::saturate(strata::detail::round_shift_nearest(acc, 10));
      REQUIRE(y(i, o).raw() == T::saturate(product + layer.bias(o).raw()));
    }
}

TEST_CASE("a fixed-point network stays within the rounding bound of the same weights in fp64", "[net][fixed]") {
  using T = fixed<16, 12, rounding::nearest>;
  Model<Net, T> fx(4);
  Model<Net, double> ref(0);
  copy_parameters(fx, ref);
  const auto xf = batch<T>(6, 5);
  Tensor<double, 2> xd(xf.shape());
  for (std::int64_t i = 0; i < xf.size(); ++i) xd.data()[i] = value(xf.data()[i]);
  const auto yf = fx.forward(xf);
  const auto yd = ref.forward(xd);
  // Four roundings of half a unit (2^-13) on the way, each amplified by at most the following
  // layers' row sums of |W| (≤ 3 here): a few units of 2^-12 at the output.
  double worst = 0;
  for (std::int64_t i = 0; i < yf.size(); ++i) worst = std::max(worst, std::abs(value(yf.data()[i]) - yd.data()[i]));
  CHECK(worst <= 16 * T::resolution);
  CHECK(worst > 0);  // it is fixed point: something was rounded

  // Gradients: the same comparison for the first layer's weights after one backward pass.
  Tensor<T, 2> dyf(yf.shape());
  fill_uniform(dyf, -0.5, 0.5, 6);
  Tensor<double, 2> dyd(yf.shape());
  for (std::int64_t i = 0; i < dyf.size(); ++i) dyd.data()[i] = value(dyf.data()[i]);
  fx.backward(dyf);
  ref.backward(dyd);
  auto& wf = fx.layers().template part<0>().weight_gradient;
  auto& wd = ref.layers().template part<0>().weight_gradient;
  double gradient_worst = 0, scale = 0;
  for (std::int64_t i = 0; i < wf.size(); ++i) {
    gradient_worst = std::max(gradient_worst, std::abs(value(wf.data()[i]) - wd.data()[i]));
    scale = std::max(scale, std::abs(wd.data()[i]));
  }
  CHECK(scale > 0.01);
  CHECK(gradient_worst <= 64 * T::resolution);
}

TEST_CASE("fixed-point convolutions run the integer kernels, chosen by automatic", "[net][fixed]") {
  using T = fixed<16, 8>;
  Model<Net, T> m(1);
  const auto x = batch<T>(4, 2);
  (void)m.forward(x, true);
  bool seen = false;
  for (const auto& c : algo::conv_choices()) {
    if (c.precision != precision_traits<T>::name) continue;
    seen = true;
    INFO(c.layer << ": " << c.algorithm);
    CHECK((c.algorithm == std::string("im2col") || c.algorithm == std::string("gemm_1x1")));
  }
  CHECK(seen);
}

TEST_CASE("stochastic rounding gives the same bits for any thread count", "[net][fixed]") {
  using T = fixed<16, 8>;
  auto train_two_steps = [](int threads) {
    set_num_threads(threads);
    Model<Net, T> m(3);
    train::SGD<T> sgd({.momentum = 0.9}, 17);
    for (int step = 0; step < 2; ++step) {
      const auto x = batch<T>(16, 10 + step);  // backward reads the input again: keep it alive
      const auto y = m.forward(x, true);
      Tensor<T, 2> dy(y.shape());
      fill_uniform(dy, -0.05, 0.05, 20 + step);
      m.backward(dy);
      sgd.step(m, 0.1);
    }
    set_num_threads(0);
    return raw_parameters(m);
  };
  const auto one = train_two_steps(1);
  CHECK(one == train_two_steps(2));
  CHECK(one == train_two_steps(1));
}

namespace {
using TrainNet = Sequential<Input<1, 8, 8>, Conv<4, Kernel<3>, Pad<1>>, ReLU, MaxPool<2>, Dense<3>>;
using testing::blobs;
using testing::make_blobs;
template <class T>
double trained_accuracy(const blobs& train_set, const blobs& test_set) {
  Model<TrainNet, T> m(1);
  train::SGD<T> sgd({.momentum = 0.9}, 5);
  const auto history = train::fit(m, train_set, sgd, train::constant(0.005),
                                  {.epochs = 6, .batch_size = 32, .show_progress = false}, &test_set);
  return history.back().test_accuracy;
}
}  // namespace

// Gupta et al.'s figure in miniature: 7 fraction bits, updates and gradients mostly below half a
// unit. (Measured over four data seeds: stochastic within 3 points of fp32, nearest 27–40 behind.)
TEST_CASE("with few fraction bits stochastic rounding tracks fp32 where rounding to nearest stalls", "[net][fixed][train]") {
  const blobs train_set = make_blobs(960, 1), test_set = make_blobs(480, 101);
  const double fp32 = trained_accuracy<float>(train_set, test_set);
  const double stochastic = trained_accuracy<fixed<16, 7>>(train_set, test_set);
  const double nearest = trained_accuracy<fixed<16, 7, rounding::nearest>>(train_set, test_set);
  INFO("fp32 " << fp32 << ", fixed<16,7> stochastic " << stochastic << ", nearest " << nearest);
  CHECK(fp32 > 0.7);
  CHECK(std::abs(stochastic - fp32) < 0.05);
  CHECK(nearest < stochastic - 0.15);
}

TEST_CASE("fixed-point models save, load, and refuse another format", "[net][fixed][io]") {
  const testing::temp_dir dir;
  Model<Net, fixed<16, 8>> saved(7), loaded(8);
  saved.save(dir.path / "q.strata");
  loaded.load(dir.path / "q.strata");
  CHECK(raw_parameters(saved) == raw_parameters(loaded));
  Model<Net, fixed<16, 10>> other(9);
  const auto before = raw_parameters(other);
  try {
    other.load(dir.path / "q.strata");
    FAIL("loading fixed<16,8> weights into a fixed<16,10> model must fail");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find("fixed<16,8>") != std::string::npos);
  }
  CHECK(raw_parameters(other) == before);
}
