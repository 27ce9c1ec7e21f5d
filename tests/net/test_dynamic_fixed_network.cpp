// Networks in dynamic fixed point (Courbariaux et al. 2014): products are integer GEMMs and
// convolutions on the mantissas, rounded once into an exponent that is the largest the data
// allows (bit-exact against an int64 definition), the network stays within the rounding bound of
// the same weights in fp64, training learns and moves the exponents, 12-bit updates keep steps that
// 10-bit storage alone loses, results do not depend on the thread count, and models save and load.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "strata/core/cast.hpp"
#include "strata/core/random.hpp"
#include "strata/io/model_file.hpp"
#include "strata/kernels/conv_choices.hpp"
#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/model.hpp"
#include "strata/net/summary.hpp"
#include "strata/ops/gemm.hpp"
#include "strata/train/fit.hpp"
#include "strata/train/sgd.hpp"
#include "support/blobs.hpp"
#include "support/files.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

using T = dynamic_fixed<10, 12>;
using Net = Sequential<Input<2, 8, 8>, Conv<4, Kernel<3>, Pad<1>>, ReLU, MaxPool<2>, Conv<6, Kernel<1>>, ReLU, Dense<5>, ReLU,
                       Dense<3>>;

template <class E, std::size_t R>
int bits_of(const Tensor<E, R>& t) {
  return scale_of(t.data()).fraction_bits;
}
template <class V>
int bits_of_view(const V& v) {
  return scale_of(v.data()).fraction_bits;
}

// The largest fraction bits ≤ cap at which no exact sum (value s · 2^-exact) overflows Bits bits.
int best_bits(const std::vector<std::int64_t>& sums, int exact, int bits) {
  int f = exact;
  for (;;) {
    bool fits = true;
    for (std::int64_t s : sums) fits = fits && std::abs(strata::detail::round_shift_nearest(s, exact - f)) < (std::int64_t{1} << (bits - 1));
    if (fits) return f;
    --f;
  }
}

Tensor<T, 2> batch(std::int64_t n, std::uint64_t seed) {
  Tensor<float, 2> x(Shape{n, Net::input_shape::elements});
  fill_uniform(x, 0, 1, seed);
  Tensor<T, 2> d(x.shape());
  d = cast<T>(x);
  return d;
}

template <class M>
std::vector<std::int64_t> mantissas_and_exponents(M& m) {
  std::vector<std::int64_t> out;
  m.visit_parameters([&](const auto& p) {
    out.push_back(bits_of_view(p.value));
    for (std::int64_t i = 0; i < p.value.size(); ++i) out.push_back(p.value(i).raw());
  });
  return out;
}

}  // namespace

TEST_CASE("a dynamic fixed-point product is the int64 sum rounded once, at the largest exponent that fits",
          "[net][dynamic_fixed]") {
  Tensor<float, 2> af(Shape{7, 300}), bf(Shape{11, 300});
  fill_uniform(af, -3, 3, 1);
  fill_uniform(bf, -0.2, 0.2, 2);
  Tensor<T, 2> a(af.shape()), b(bf.shape()), c(Shape{7, 11});
  a = cast<T>(af);
  b = cast<T>(bf);
  const int exact = bits_of(a) + bits_of(b);
  std::vector<std::int64_t> sums;
  for (std::int64_t i = 0; i < 7; ++i)
    for (std::int64_t j = 0; j < 11; ++j) {
      std::int64_t s = 0;
      for (std::int64_t k = 0; k < 300; ++k) s += std::int64_t(a(i, k).raw()) * b(j, k).raw();
      sums.push_back(s);
    }
  // The first write starts from the tensor's initial exponent; the second knows the headroom.
  for (int write = 0; write < 2; ++write) {
    c = matmul(a, transpose(b));
    const int f = bits_of(c);
    for (std::size_t e = 0; e < sums.size(); ++e)
      REQUIRE(c.data()[e].raw() == T::saturate(strata::detail::round_shift_nearest(sums[e], exact - f)));
    if (write == 1) CHECK(f == best_bits(sums, exact, T::bits));
  }
  CHECK(scale_of(c.data()).overflowed == 0);
}

TEST_CASE("a dynamic fixed-point convolution is the int64 definition rounded once", "[net][dynamic_fixed]") {
  Model<Net, T> m(2);
  const auto x = batch(3, 4);
  for (int pass = 0; pass < 2; ++pass) (void)m.forward(x);
  auto& conv = m.layers().template part<0>();
  const auto& y = m.layers().outputs[0];  // the convolution's output before the ReLU
  const int fy = bits_of(y), exact = bits_of(x) + bits_of(conv.weight), fb = bits_of(conv.bias);
  std::vector<std::int64_t> sums;
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t k = 0; k < 4; ++k)
      for (std::int64_t p = 0; p < 8; ++p)
        for (std::int64_t q = 0; q < 8; ++q) {
          std::int64_t s = 0;
          for (std::int64_t c = 0; c < 2; ++c)
            for (std::int64_t r = 0; r < 3; ++r)
              for (std::int64_t t = 0; t < 3; ++t) {
                const std::int64_t iy = p + r - 1, ix = q + t - 1;
                if (iy < 0 || iy >= 8 || ix < 0 || ix >= 8) continue;
                s += std::int64_t(x(i, (c * 8 + iy) * 8 + ix).raw()) * conv.weight(k, c, r, t).raw();
              }
          const std::int64_t bias = strata::detail::round_shift_nearest(conv.bias(k).raw(), fb - fy);
          const std::int64_t want = T::saturate(strata::detail::round_shift_nearest(s, exact - fy) + bias);
          REQUIRE(y.data()[((i * 4 + k) * 8 + p) * 8 + q].raw() == want);
        }
  // Every convolution ran an integer kernel.
  bool seen = false;
  for (const auto& c : algo::conv_choices()) {
    if (c.precision != precision_traits<T>::name) continue;
    seen = true;
    CHECK((c.algorithm == std::string("im2col") || c.algorithm == std::string("gemm_1x1")));
  }
  CHECK(seen);
}

namespace {
// The largest difference between N's outputs in dynamic fixed point and in fp64 on the same
// parameters and input, and the largest fp64 output.
template <class N>
std::pair<double, double> against_fp64(bool training) {
  Model<N, T> dx(4);
  Model<N, double> ref(0);
  std::vector<Tensor<double, 1>> values;
  dx.visit_parameters([&](const auto& p) { values.emplace_back(cast<double>(p.value)); });
  std::size_t k = 0;
  ref.visit_parameters([&](const auto& p) { copy(values[k++], p.value); });
  const auto x = batch(6, 5);
  Tensor<double, 2> xd(x.shape());
  xd = cast<double>(x);
  const auto y = dx.forward(x, training);
  const auto yd = ref.forward(xd, training);
  Tensor<double, 2> yv(y.shape());
  yv = cast<double>(y);
  double worst = 0, largest = 0;
  for (std::int64_t i = 0; i < yv.size(); ++i) {
    worst = std::max(worst, std::abs(yv.data()[i] - yd.data()[i]));
    largest = std::max(largest, std::abs(yd.data()[i]));
  }
  return {worst, largest};
}
}  // namespace

TEST_CASE("a dynamic fixed-point network stays within the rounding bound of the same weights in fp64", "[net][dynamic_fixed]") {
  // Each of ~8 roundings costs half a unit of 10 bits relative to its tensor's largest value, and
  // the layers after it amplify it by at most their weights' row sums.
  const auto [worst, largest] = against_fp64<Net>(false);
  INFO("worst " << worst << " of " << largest);
  CHECK(largest > 0.05);
  CHECK(worst <= 0.04 * largest);
  CHECK(worst > 0);
  // Batch norm runs through expressions (its statistics in fp32), on batch statistics here.
  using BnNet = Sequential<Input<2, 8, 8>, Conv<4, Kernel<3>, Pad<1>>, BatchNorm, ReLU, MaxPool<2>, Dense<3>>;
  const auto [bn_worst, bn_largest] = against_fp64<BnNet>(true);
  INFO("with batch norm: worst " << bn_worst << " of " << bn_largest);
  CHECK(bn_largest > 0.05);
  CHECK(bn_worst <= 0.04 * bn_largest);
}

TEST_CASE("dynamic fixed point gives the same bits for any thread count", "[net][dynamic_fixed]") {
  auto train_two_steps = [](int threads) {
    set_num_threads(threads);
    Model<Net, T> m(3);
    train::SGD<T> sgd({.momentum = 0.9}, 17);
    for (int step = 0; step < 3; ++step) {
      const auto x = batch(16, 10 + step);
      const auto y = m.forward(x, true);
      Tensor<float, 2> dyf(y.shape());
      fill_uniform(dyf, -0.05, 0.05, 20 + step);
      Tensor<T, 2> dy(y.shape());
      dy = cast<T>(dyf);
      m.backward(dy);
      sgd.step(m, 0.1);
    }
    set_num_threads(0);
    return mantissas_and_exponents(m);
  };
  const auto one = train_two_steps(1);
  CHECK(one == train_two_steps(2));
}

TEST_CASE("12-bit updates keep steps that 10-bit storage alone would round away", "[net][dynamic_fixed][train]") {
  using D = Sequential<Input<6>, Dense<4>>;
  // The weights' mean movement over 8 steps of a quarter of their storage unit, as a fraction of
  // the 2 units asked for: the 12-bit master holds a quarter unit exactly; 10 bits round it away.
  auto moved = [](auto precision) {
    using P = decltype(precision);
    Model<D, P> m(6);
    auto& w = m.layers().template part<0>().weight;
    const Tensor<double, 2> start = cast<double>(w);
    const double unit = std::ldexp(1.0, -bits_of(w));
    train::SGD<P> sgd;
    for (int s = 0; s < 8; ++s) {
      m.visit_parameters([&](const auto& p) { p.gradient.fill(1.0); });
      sgd.step(m, unit / 4);
    }
    const Tensor<double, 2> end = cast<double>(w);
    double total = 0;
    for (std::int64_t i = 0; i < end.size(); ++i) total += start.data()[i] - end.data()[i];
    return total / double(end.size()) / (2 * unit);
  };
  const double wide = moved(dynamic_fixed<10, 12>{}), narrow = moved(dynamic_fixed<10, 10>{});
  INFO("12-bit updates moved " << wide << " of the requested distance, 10-bit " << narrow);
  CHECK(wide == Approx(1.0).epsilon(0.1));
  CHECK(narrow == 0);
}

namespace {
using TrainNet = Sequential<Input<1, 8, 8>, Conv<4, Kernel<3>, Pad<1>>, ReLU, MaxPool<2>, Dense<3>>;
using testing::blobs;
using testing::make_blobs;
}  // namespace

TEST_CASE("dynamic fixed point 10/12 trains like fp32 and its exponents follow the data", "[net][dynamic_fixed][train]") {
  const blobs train_set = make_blobs(960, 1), test_set = make_blobs(480, 101);
  auto train = [&](auto precision, Model<TrainNet, decltype(precision)>& m) {
    using P = decltype(precision);
    train::SGD<P> sgd({.momentum = 0.9}, 5);
    return train::fit(m, train_set, sgd, train::constant(0.005), {.epochs = 6, .batch_size = 32, .show_progress = false}, &test_set)
        .back()
        .test_accuracy;
  };
  Model<TrainNet, float> f(1);
  Model<TrainNet, T> d(1);
  const int bias_bits_before = bits_of(d.layers().template part<0>().bias);
  const double fp32 = train(float{}, f), dynamic = train(T{}, d);
  INFO("fp32 " << fp32 << ", dynamic_fixed<10,12> " << dynamic);
  CHECK(fp32 > 0.7);
  CHECK(std::abs(dynamic - fp32) < 0.05);
  // The biases started at zero (any exponent) and grew; overflows stayed rare.
  const auto& bias = d.layers().template part<0>().bias;
  CHECK(bits_of(bias) != bias_bits_before);
  const dynamic_scale& s = scale_of(d.layers().template part<0>().weight.data());
  CHECK(s.full_writes > 100);
  CHECK(double(s.overflowed) <= 1e-4 * double(s.full_writes) * double(d.layers().template part<0>().weight.size()) + 1);
}

TEST_CASE("dynamic fixed-point models save and load mantissas and exponents, and name their precision", "[net][dynamic_fixed][io]") {
  const testing::temp_dir dir;
  Model<Net, T> saved(7), loaded(8);
  // Make the exponents differ from a fresh model's.
  const auto x = batch(4, 3);
  const auto y = saved.forward(x, true);
  Tensor<T, 2> dy(y.shape());
  dy.fill(0.01);
  saved.backward(dy);
  train::SGD<T> sgd;
  sgd.step(saved, 3.0);
  saved.save(dir.path / "d.strata");
  loaded.load(dir.path / "d.strata");
  CHECK(mantissas_and_exponents(saved) == mantissas_and_exponents(loaded));
  Model<Net, fixed<16, 8>> other(9);
  try {
    other.load(dir.path / "d.strata");
    FAIL("loading dynamic_fixed weights into a fixed<16,8> model must fail");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find("dynamic_fixed<10,12>") != std::string::npos);
  }
  std::ostringstream out;
  print_summary<Net, T>(out, 8);
  CHECK(out.str().find("dynamic_fixed<10,12>") != std::string::npos);
}
