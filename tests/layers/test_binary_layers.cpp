// The binary layers of BinaryNet and XNOR-Net against plain loops: a BinaryConv or BinaryDense
// forward pass is the real convolution / product of the signs (zero padding counting 0, borders
// included), exactly; with RealInput the real input times the signed weights; with ChannelScale
// the filters scaled by their mean |w|. Gradients are the straight-through estimator's (through α
// too), training clips the latent weights to [−1, 1], binary weights carry the paper's Glorot
// learning-rate factor and no weight decay, and Sign and HardTanh pass gradients in their windows.
#include <cmath>
#include <cstdint>
#include <vector>

#include "strata/layers/binary_conv.hpp"
#include "strata/layers/binary_dense.hpp"
#include "strata/layers/hard_tanh.hpp"
#include "strata/layers/sign.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

double sgn(double v) { return v < 0 ? -1.0 : 1.0; }

// y[n][k][p][q] of the convolution of (signs of) x with (signs of, scaled) w, in fp64.
template <class Spec, class In>
std::vector<double> conv_reference(const Tensor<float, 2>& x, const Tensor<float, 4>& w, const Tensor<float, 1>& b, bool signs_of_input) {
  constexpr kernels::conv_geometry g = Spec::template geometry<In>();
  const std::int64_t n = x.extent(0), P = g.P(), Q = g.Q();
  std::vector<double> alpha(std::size_t(g.K), 1.0);
  if (Spec::scaled)
    for (std::int64_t k = 0; k < g.K; ++k) {
      double s = 0;
      for (std::int64_t c = 0; c < g.C; ++c)
        for (std::int64_t r = 0; r < g.R; ++r)
          for (std::int64_t t = 0; t < g.S; ++t) s += std::abs(double(w(k, c, r, t)));
      alpha[std::size_t(k)] = s / double(g.C * g.R * g.S);
    }
  std::vector<double> y(std::size_t(n * g.K * P * Q));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t k = 0; k < g.K; ++k)
      for (std::int64_t p = 0; p < P; ++p)
        for (std::int64_t q = 0; q < Q; ++q) {
          double s = 0;
          for (std::int64_t c = 0; c < g.C; ++c)
            for (std::int64_t r = 0; r < g.R; ++r)
              for (std::int64_t t = 0; t < g.S; ++t) {
                const std::int64_t iy = p * g.stride_y - g.pad_y + r, ix = q * g.stride_x - g.pad_x + t;
                if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;  // zero padding: the tap counts 0
                const double v = x(i, (c * g.H + iy) * g.W + ix);
                s += (signs_of_input ? sgn(v) : v) * sgn(w(k, c, r, t));
              }
          y[std::size_t(((i * g.K + k) * P + p) * Q + q)] = alpha[std::size_t(k)] * s + (Spec::has_bias ? double(b(k)) : 0.0);
        }
  return y;
}

template <class Spec, class In>
void check_conv_forward(std::uint64_t seed, bool exact) {
  typename Spec::template layer<In, float> l;
  random_engine rng(seed);
  l.initialize(rng);
  if constexpr (Spec::has_bias) fill_uniform(l.bias, -2, 2, seed + 1);
  const std::int64_t n = 3;
  auto x = testing::random_tensor<float>(Shape{n, In::elements}, seed + 2);
  Tensor<float, 2> y(Shape{n, Spec::template traits<In>::output_shape::elements});
  context ctx;
  ctx.training = false;
  l.forward(x, y, ctx);
  const auto want = conv_reference<Spec, In>(x, l.weight, l.bias, !Spec::real_input);
  INFO(Spec::template traits<In>::describe());
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (exact) REQUIRE(y.data()[i] == float(want[i]));
    else REQUIRE(std::abs(y.data()[i] - want[i]) <= 1e-5 * (1 + std::abs(want[i])));
  }
}

}  // namespace

TEST_CASE("a binary convolution is the real convolution of the signs, zero-padded borders included", "[layers][binary]") {
  check_conv_forward<BinaryConv<5, Kernel<3>, Pad<1>>, sample_shape<70, 7, 6>>(1, true);
  check_conv_forward<BinaryConv<4, Kernel<3>, Stride<2>, Pad<1>>, sample_shape<3, 9, 8>>(2, true);
  check_conv_forward<BinaryConv<6, Kernel<1>, NoBias>, sample_shape<129, 4, 5>>(3, true);
  check_conv_forward<BinaryConv<3, Kernel<1, 3>, Pad<0, 1>>, sample_shape<2, 5, 6>>(4, true);
  check_conv_forward<BinaryConv<2, Kernel<5>, Pad<2>>, sample_shape<1, 3, 3>>(5, true);  // every output a border
}

TEST_CASE("RealInput convolves the real input with the signed weights; ChannelScale scales each filter by mean |w|",
          "[layers][binary]") {
  check_conv_forward<BinaryConv<5, Kernel<3>, Pad<1>, RealInput>, sample_shape<3, 7, 6>>(6, false);
  check_conv_forward<BinaryConv<5, Kernel<3>, Pad<1>, ChannelScale>, sample_shape<20, 6, 6>>(7, false);
  check_conv_forward<BinaryConv<4, Kernel<3>, RealInput, ChannelScale, NoBias>, sample_shape<2, 6, 6>>(8, false);
}

TEST_CASE("binary convolution gradients are the straight-through estimator's", "[layers][binary][gradient]") {
  using In = sample_shape<4, 5, 5>;
  auto run = [](auto spec) {
    using Spec = decltype(spec);
    typename Spec::template layer<In, float> l;
    random_engine rng(11);
    l.initialize(rng);
    constexpr kernels::conv_geometry g = Spec::template geometry<In>();
    const std::int64_t n = 2, P = g.P(), Q = g.Q();
    auto x = testing::random_tensor<float>(Shape{n, In::elements}, 12, -2, 2);
    auto dy = testing::random_tensor<float>(Shape{n, g.K * P * Q}, 13);
    Tensor<float, 2> y(dy.shape()), dx(x.shape());
    context ctx;
    ctx.training = true;
    l.forward(x, y, ctx);
    l.backward(x, y, dy, dx, ctx);
    // With w̃ = α·sign(w) (α = 1 unscaled): dL/dw̃ = Σ sign(x)·dy, dL/dx = Σ w̃·dy (sign's own
    // window is the Sign layer's business), dL/dw = α·dL/dw̃ + sign(w)/n·Σ sign(w)·dL/dw̃.
    for (std::int64_t k = 0; k < g.K; ++k) {
      std::vector<double> gw(std::size_t(g.C * 9));
      double alpha = 0;
      for (std::int64_t c = 0; c < g.C * 9; ++c) alpha += std::abs(double(l.weight.data()[k * g.C * 9 + c]));
      alpha = Spec::scaled ? alpha / double(g.C * 9) : 1.0;
      for (std::int64_t c = 0; c < g.C; ++c)
        for (std::int64_t r = 0; r < 3; ++r)
          for (std::int64_t t = 0; t < 3; ++t) {
            double s = 0;
            for (std::int64_t i = 0; i < n; ++i)
              for (std::int64_t p = 0; p < P; ++p)
                for (std::int64_t q = 0; q < Q; ++q) {
                  const std::int64_t iy = p - 1 + r, ix = q - 1 + t;
                  if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                  s += sgn(x(i, (c * g.H + iy) * g.W + ix)) * dy(i, (k * P + p) * Q + q);
                }
            gw[std::size_t((c * 3 + r) * 3 + t)] = s;
          }
      double through = 0;
      for (std::int64_t j = 0; j < g.C * 9; ++j) through += sgn(l.weight.data()[k * g.C * 9 + j]) * gw[std::size_t(j)];
      for (std::int64_t j = 0; j < g.C * 9; ++j) {
        const double want = Spec::scaled ? alpha * gw[std::size_t(j)] + sgn(l.weight.data()[k * g.C * 9 + j]) * through / double(g.C * 9)
                                         : gw[std::size_t(j)];
        REQUIRE(std::abs(l.weight_gradient.data()[k * g.C * 9 + j] - want) <= 1e-4 * (1 + std::abs(want)));
      }
    }
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t c = 0; c < g.C; ++c)
        for (std::int64_t h = 0; h < g.H; ++h)
          for (std::int64_t w = 0; w < g.W; ++w) {
            double s = 0;
            for (std::int64_t k = 0; k < g.K; ++k)
              for (std::int64_t r = 0; r < 3; ++r)
                for (std::int64_t t = 0; t < 3; ++t) {
                  const std::int64_t p = h + 1 - r, q = w + 1 - t;
                  if (p < 0 || p >= P || q < 0 || q >= Q) continue;
                  s += l.binarized(k, c, r, t) * dy(i, (k * P + p) * Q + q);
                }
            REQUIRE(std::abs(dx(i, (c * g.H + h) * g.W + w) - s) <= 1e-4 * (1 + std::abs(s)));
          }
    for (std::int64_t k = 0; k < g.K; ++k) {
      double s = 0;
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t p = 0; p < P * Q; ++p) s += dy(i, k * P * Q + p);
      REQUIRE(std::abs(l.bias_gradient(k) - s) <= 1e-4 * (1 + std::abs(s)));
    }
  };
  run(BinaryConv<3, Kernel<3>, Pad<1>>{});
  run(BinaryConv<3, Kernel<3>, Pad<1>, ChannelScale>{});
}

TEST_CASE("training clips latent weights to [-1, 1]; inference leaves them", "[layers][binary]") {
  using In = sample_shape<2, 4, 4>;
  BinaryConv<2, Pad<1>>::layer<In, float> l;
  random_engine rng(3);
  l.initialize(rng);
  l.weight(0, 0, 0, 0) = 3.5f;
  l.weight(1, 1, 2, 2) = -2.0f;
  Tensor<float, 2> x(Shape{1, In::elements}), y(Shape{1, 2 * 16});
  context ctx;
  ctx.training = false;
  l.forward(x, y, ctx);
  CHECK(l.weight(0, 0, 0, 0) == 3.5f);
  ctx.training = true;
  l.forward(x, y, ctx);
  CHECK(l.weight(0, 0, 0, 0) == 1.0f);
  CHECK(l.weight(1, 1, 2, 2) == -1.0f);
}

TEST_CASE("a binary dense layer is the product of the signs; RealInput and ChannelScale as for convolutions",
          "[layers][binary]") {
  auto run = [](auto spec, std::int64_t inputs) {
    using Spec = decltype(spec);
    constexpr std::int64_t N = 7;
    auto check = [&]<std::int64_t I>(std::integral_constant<std::int64_t, I>) {
      using In = sample_shape<I>;
      typename Spec::template layer<In, float> l;
      random_engine rng(21);
      l.initialize(rng);
      if constexpr (Spec::has_bias) fill_uniform(l.bias, -1, 1, 22);
      const std::int64_t n = 5;
      auto x = testing::random_tensor<float>(Shape{n, I}, 23, -2, 2);
      auto dy = testing::random_tensor<float>(Shape{n, N}, 24);
      Tensor<float, 2> y(Shape{n, N}), dx(x.shape());
      context ctx;
      ctx.training = true;
      l.forward(x, y, ctx);
      l.backward(x, y, dy, dx, ctx);
      for (std::int64_t j = 0; j < N; ++j) {
        double alpha = 0;
        for (std::int64_t c = 0; c < I; ++c) alpha += std::abs(double(l.weight(j, c)));
        alpha = Spec::scaled ? alpha / double(I) : 1.0;
        for (std::int64_t i = 0; i < n; ++i) {
          double s = 0;
          for (std::int64_t c = 0; c < I; ++c) s += (Spec::real_input ? double(x(i, c)) : sgn(x(i, c))) * sgn(l.weight(j, c));
          const double want = alpha * s + (Spec::has_bias ? double(l.bias(j)) : 0.0);
          if (!Spec::real_input && !Spec::scaled) REQUIRE(y(i, j) == float(want));
          else REQUIRE(std::abs(y(i, j) - want) <= 1e-5 * (1 + std::abs(want)));
        }
      }
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t c = 0; c < I; ++c) {
          double s = 0;
          for (std::int64_t j = 0; j < N; ++j) s += double(l.binarized(j, c)) * dy(i, j);
          REQUIRE(std::abs(dx(i, c) - s) <= 1e-5 * (1 + std::abs(s)));
        }
      if constexpr (!Spec::scaled)
        for (std::int64_t j = 0; j < N; ++j)
          for (std::int64_t c = 0; c < I; ++c) {
            double s = 0;
            for (std::int64_t i = 0; i < n; ++i) s += (Spec::real_input ? double(x(i, c)) : sgn(x(i, c))) * dy(i, j);
            REQUIRE(std::abs(l.weight_gradient(j, c) - s) <= 1e-5 * (1 + std::abs(s)));
          }
    };
    if (inputs == 1) check(std::integral_constant<std::int64_t, 1>{});
    if (inputs == 63) check(std::integral_constant<std::int64_t, 63>{});
    if (inputs == 200) check(std::integral_constant<std::int64_t, 200>{});
  };
  run(BinaryDense<7>{}, 1);
  run(BinaryDense<7>{}, 63);
  run(BinaryDense<7, NoBias>{}, 200);
  run(BinaryDense<7, RealInput>{}, 63);
  run(BinaryDense<7, ChannelScale>{}, 200);
}

TEST_CASE("binary weights learn at the paper's Glorot rate, without weight decay, and save packed", "[layers][binary]") {
  using In = sample_shape<16, 6, 6>;
  BinaryConv<32, Pad<1>, ChannelScale>::layer<In, float> l;
  int seen = 0;
  l.visit_parameters([&](auto& p) {
    ++seen;
    if (p.name == "weight") {
      CHECK(p.rate == Approx(1 / std::sqrt(1.5 / (16 * 9 + 32 * 9))));
      CHECK(!p.weight_decay);
      CHECK(p.binarized.rows == 32);
      CHECK(p.binarized.scaled);
    } else {
      CHECK(p.binarized.rows == 0);
      CHECK(p.rate == 1);
    }
  });
  CHECK(seen == 2);
}

TEST_CASE("Sign gives ±1 and passes gradients where |x| <= 1; HardTanh clips and passes inside (-1, 1)", "[layers][binary]") {
  using In = sample_shape<6>;
  Tensor<float, 2> x(Shape{1, 6}), y(x.shape()), dy(x.shape(), 1.0f), dx(x.shape());
  const float v[6] = {-2.0f, -1.0f, -0.25f, 0.0f, 1.0f, 1.5f};
  for (int i = 0; i < 6; ++i) x(0, i) = v[i];
  context ctx;
  Sign::layer<In, float> s;
  s.forward(x, y, ctx);
  s.backward(x, y, dy, dx, ctx);
  const float sy[6] = {-1, -1, -1, 1, 1, 1}, sdx[6] = {0, 1, 1, 1, 1, 0};
  for (int i = 0; i < 6; ++i) {
    CHECK(y(0, i) == sy[i]);
    CHECK(dx(0, i) == sdx[i]);
  }
  HardTanh::layer<In, float> h;
  h.forward(x, y, ctx);
  h.backward(x, y, dy, dx, ctx);
  const float hy[6] = {-1, -1, -0.25f, 0, 1, 1}, hdx[6] = {0, 0, 1, 1, 0, 0};
  for (int i = 0; i < 6; ++i) {
    CHECK(y(0, i) == hy[i]);
    CHECK(dx(0, i) == hdx[i]);
  }
}
