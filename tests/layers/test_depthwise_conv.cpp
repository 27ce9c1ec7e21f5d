// Grouped and depthwise convolution (layers/depthwise_conv.hpp, Conv<…, Groups<G>>, the CPU kernel
// kernels/cpu/depthwise_conv.hpp): forward against an fp64 loop over the definition for 3×3, 5×5
// and odd kernels, strides 1 to 3, padding 0 to 3 and odd plane sizes; backward data and filter
// against the same loops and against finite differences; PyTorch's fixtures; the frozen path
// (no parameter gradients) leaving the gradients alone; and the layers' compile-time facts.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "strata/layers/conv.hpp"
#include "strata/layers/depthwise_conv.hpp"
#include "strata/net/model.hpp"
#include "strata/net/sequential.hpp"
#include "support/fixtures.hpp"
#include "support/gradients.hpp"
#include "support/testing.hpp"

using namespace strata;
using kernels::conv_geometry;

namespace {

// The definition, in fp64: filter k of group k / (K/G) reads that group's C/G input channels.
struct reference_conv {
  conv_geometry g;
  std::int64_t n;

  std::int64_t Cg() const { return g.C / g.groups; }
  std::int64_t Kg() const { return g.K / g.groups; }
  template <class F>
  void each_term(F&& f) const {  // f(x index, w index, y index) for every product of the sum
    const std::int64_t P = g.P(), Q = g.Q();
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k < g.K; ++k)
        for (std::int64_t p = 0; p < P; ++p)
          for (std::int64_t q = 0; q < Q; ++q)
            for (std::int64_t c = 0; c < Cg(); ++c)
              for (std::int64_t r = 0; r < g.R; ++r)
                for (std::int64_t s = 0; s < g.S; ++s) {
                  const std::int64_t iy = p * g.stride_y - g.pad_y + r, ix = q * g.stride_x - g.pad_x + s;
                  if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                  const std::int64_t xc = k / Kg() * Cg() + c;
                  f(((i * g.C + xc) * g.H + iy) * g.W + ix, ((k * Cg() + c) * g.R + r) * g.S + s, ((i * g.K + k) * P + p) * Q + q);
                }
  }
  std::vector<double> forward(const std::vector<double>& x, const std::vector<double>& w, const double* b) const {
    std::vector<double> y(static_cast<std::size_t>(n * g.output_elements()));
    const std::int64_t PQ = g.P() * g.Q();
    for (std::int64_t i = 0; i < std::int64_t(y.size()); ++i) y[i] = b ? b[i / PQ % g.K] : 0.0;
    each_term([&](std::int64_t xi, std::int64_t wi, std::int64_t yi) { y[yi] += x[xi] * w[wi]; });
    return y;
  }
  std::vector<double> backward_data(const std::vector<double>& w, const std::vector<double>& dy) const {
    std::vector<double> dx(static_cast<std::size_t>(n * g.input_elements()));
    each_term([&](std::int64_t xi, std::int64_t wi, std::int64_t yi) { dx[xi] += w[wi] * dy[yi]; });
    return dx;
  }
  std::vector<double> backward_filter(const std::vector<double>& x, const std::vector<double>& dy) const {
    std::vector<double> dw(static_cast<std::size_t>(g.weight_elements()));
    each_term([&](std::int64_t xi, std::int64_t wi, std::int64_t yi) { dw[wi] += x[xi] * dy[yi]; });
    return dw;
  }
  std::vector<double> backward_bias(const std::vector<double>& dy) const {
    std::vector<double> db(static_cast<std::size_t>(g.K));
    for (std::int64_t i = 0; i < std::int64_t(dy.size()); ++i) db[i / (g.P() * g.Q()) % g.K] += dy[i];
    return db;
  }
};

std::vector<double> random_values(std::int64_t n, std::uint64_t seed) {
  Tensor<double, 1> t(n);
  fill_uniform(t, -1.0, 1.0, seed);
  return {t.data(), t.data() + n};
}

// max |got − want| / max(1, max |want|).
template <class T>
double scaled_error(const T* got, const std::vector<double>& want) {
  double scale = 1, worst = 0;
  for (double v : want) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < want.size(); ++i) worst = testing::worse_of(worst, testing::abs_error(double(got[i]), want[i]));
  return worst / scale;
}

template <class T>
constexpr double tolerance = std::is_same_v<T, float> ? 2e-5 : 1e-12;

// Layer L on In, in precision T: forward, backward data, filter and bias against the loops.
template <class L, class In, class T>
void check_layer_passes(std::int64_t n = 3, std::uint64_t seed = 5) {
  using Out = output_shape_of<L, In>;
  constexpr conv_geometry g = L::template geometry<In>();
  const std::string what = layer_traits<L, In>::describe() + " on " + In::to_string();
  INFO(what << (std::is_same_v<T, float> ? " (float)" : " (double)") << ", batch " << n);
  runtime_layer<L, In, T> layer;
  const auto x = random_values(n * In::elements, seed), dy = random_values(n * Out::elements, seed + 1);
  const auto w = random_values(g.weight_elements(), seed + 2), b = random_values(g.K, seed + 3);
  REQUIRE(layer.weight.size() == g.weight_elements());
  std::copy(w.begin(), w.end(), layer.weight.data());
  if constexpr (L::has_bias) std::copy(b.begin(), b.end(), layer.bias.data());
  Tensor<T, 2> xt(n, In::elements), yt(n, Out::elements), dyt(n, Out::elements), dxt(n, In::elements);
  std::copy(x.begin(), x.end(), xt.data());
  std::copy(dy.begin(), dy.end(), dyt.data());
  context ctx{true};
  layer.forward(xt, yt, ctx);
  layer.backward(xt, yt, dyt, dxt, ctx);
  const reference_conv ref{g, n};
  CHECK(scaled_error(yt.data(), ref.forward(x, w, L::has_bias ? b.data() : nullptr)) <= tolerance<T>);
  CHECK(scaled_error(dxt.data(), ref.backward_data(w, dy)) <= tolerance<T>);
  CHECK(scaled_error(layer.weight_gradient.data(), ref.backward_filter(x, dy)) <= tolerance<T>);
  if constexpr (L::has_bias) CHECK(scaled_error(layer.bias_gradient.data(), ref.backward_bias(dy)) <= tolerance<T>);
}

template <class L, class In>
void check_both_precisions(std::int64_t n = 3) {
  check_layer_passes<L, In, float>(n);
  check_layer_passes<L, In, double>(n);
}

}  // namespace

TEST_CASE("depthwise convolution matches the definition for every kernel, stride and padding", "[layers][depthwise]") {
  check_both_precisions<DepthwiseConv<Kernel<3>, Pad<1>>, sample_shape<5, 7, 9>>();
  check_both_precisions<DepthwiseConv<Kernel<3>, Stride<2>, Pad<1>>, sample_shape<5, 7, 9>>();
  check_both_precisions<DepthwiseConv<Kernel<3>, Stride<2>, NoBias>, sample_shape<4, 13, 13>>();
  check_both_precisions<DepthwiseConv<Kernel<5>, Pad<2>>, sample_shape<3, 13, 13>>();
  check_both_precisions<DepthwiseConv<Kernel<5>, Stride<2>, Pad<2>, NoBias>, sample_shape<6, 7, 9>>();
  check_both_precisions<DepthwiseConv<Kernel<5>, Stride<2>>, sample_shape<3, 14, 14>>();  // TF-SAME after a ZeroPad
  check_both_precisions<DepthwiseConv<Kernel<3>>, sample_shape<2, 7, 9>>();                // no padding
  check_both_precisions<DepthwiseConv<Kernel<1>>, sample_shape<3, 5, 6>>();
  check_both_precisions<DepthwiseConv<Kernel<1>, Stride<2>>, sample_shape<3, 7, 7>>();     // phases without taps
  check_both_precisions<DepthwiseConv<Kernel<3, 5>, Stride<2, 1>, Pad<1, 2>>, sample_shape<3, 9, 8>>();
  check_both_precisions<DepthwiseConv<Kernel<3>, Stride<3>, Pad<3>>, sample_shape<2, 10, 11>>();  // padding > kernel
  check_both_precisions<DepthwiseConv<Kernel<7>, Pad<3>>, sample_shape<2, 9, 9>>();              // 49 taps
  check_both_precisions<DepthwiseConv<Kernel<3>, Pad<1>>, sample_shape<3, 6, 70>>(2);            // long rows
  check_both_precisions<DepthwiseConv<Kernel<5>, Stride<2>, Pad<2>>, sample_shape<2, 5, 141>>(2);
  check_both_precisions<DepthwiseConv<Kernel<3>, Pad<1>>, sample_shape<4, 1, 1>>();              // 1×1 planes
  // Enough channels for the channel-blocked path of small planes (8 floats or 4 doubles a block),
  // with channels left over for the per-plane path.
  check_both_precisions<DepthwiseConv<Kernel<3>, Pad<1>>, sample_shape<11, 7, 7>>();
  check_both_precisions<DepthwiseConv<Kernel<5>, Pad<2>, NoBias>, sample_shape<16, 7, 7>>();
  check_both_precisions<DepthwiseConv<Kernel<5>, Stride<2>, Pad<2>>, sample_shape<19, 13, 13>>();
  check_both_precisions<DepthwiseConv<Kernel<3>, Stride<2>, Pad<1>>, sample_shape<9, 28, 27>>(2);
  check_both_precisions<DepthwiseConv<Kernel<5>, Pad<2>>, sample_shape<8, 28, 28>>(1);
  check_both_precisions<DepthwiseConv<Kernel<3, 5>, Stride<1, 2>, Pad<0, 2>>, sample_shape<13, 5, 9>>();
  check_both_precisions<DepthwiseConv<Kernel<3>, Stride<2, 1>, Pad<1>>, sample_shape<9, 9, 9>>();
  check_both_precisions<DepthwiseConv<Kernel<5, 3>, Pad<2, 1>>, sample_shape<8, 6, 10>>();
}

TEST_CASE("grouped convolution matches the definition", "[layers][grouped]") {
  // Automatic per group, then forced algorithms (the depthwise case runs per group too when forced).
  check_both_precisions<Conv<8, Groups<2>, Kernel<3>, Pad<1>>, sample_shape<8, 7, 9>>();
  check_both_precisions<Conv<16, Groups<4>, Kernel<3>, Stride<2>, Pad<1>>, sample_shape<8, 7, 9>>();
  check_both_precisions<Conv<8, Groups<4>, Kernel<5>, Pad<2>, NoBias>, sample_shape<8, 13, 13>>();
  check_both_precisions<Conv<16, Groups<2>, Kernel<5>, Stride<2>>, sample_shape<8, 13, 13>>();
  check_both_precisions<Conv<16, Groups<4>, Kernel<1>>, sample_shape<8, 5, 6>>();
  check_both_precisions<Conv<16, Groups<8>, Kernel<3>, Pad<1>>, sample_shape<8, 7, 9>>();  // channel multiplier 2
  check_both_precisions<Conv<8, Groups<8>, Kernel<3>, Pad<1>>, sample_shape<8, 7, 9>>();   // depthwise kernel
  check_both_precisions<Conv<8, Groups<8>, Kernel<5>, Stride<2>, Pad<2>, Algorithm<algo::reference>>, sample_shape<8, 9, 7>>();
  check_both_precisions<Conv<16, Groups<4>, Kernel<3>, Pad<1>, Algorithm<algo::im2col>>, sample_shape<8, 7, 9>>();
  check_both_precisions<Conv<8, Groups<2>, Kernel<3>, Pad<1>, Algorithm<algo::winograd<2>>>, sample_shape<8, 7, 9>>();
  check_both_precisions<Conv<8, Groups<2>, Kernel<3>, Pad<1>>, sample_shape<8, 7, 9>>(1);  // one sample: no copies
  check_both_precisions<Conv<16, Groups<4>, Kernel<3>, Stride<2>, Pad<1>>, sample_shape<8, 7, 9>>(1);
}

TEST_CASE("the depthwise kernel clamps (fused ReLU6) and runs without a bias", "[kernels][depthwise]") {
  // Per plane (6 channels, stride 2 × 1), channel-blocked (17 channels of 7×7), long rows (9 × 70).
  for (const conv_geometry& g : {conv_geometry{6, 11, 10, 6, 3, 3, 2, 1, 1, 1, 6}, conv_geometry{17, 7, 7, 17, 5, 5, 1, 1, 2, 2, 17},
                                 conv_geometry{9, 40, 70, 9, 3, 3, 1, 1, 1, 1, 9}}) {
    INFO("C " << g.C << ", " << g.H << "×" << g.W << ", " << g.R << "×" << g.S);
    const std::int64_t n = 2;
    auto xs = random_values(n * g.input_elements(), 31);
    const auto w = random_values(g.weight_elements(), 32);
    for (double& v : xs) v *= 8;  // outputs beyond ±6
    const reference_conv ref{g, n};
    const auto want = ref.forward(xs, w, nullptr);
    std::vector<float> xf(xs.begin(), xs.end()), wf(w.begin(), w.end()), y(want.size());
    kernels::cpu::depthwise_conv_forward(g, n, xf.data(), wf.data(), static_cast<const float*>(nullptr), y.data(), 0.0f, 6.0f);
    std::vector<double> clamped(want);
    for (double& v : clamped) v = std::min(std::max(v, 0.0), 6.0);
    CHECK(std::count(clamped.begin(), clamped.end(), 6.0) > 0);
    CHECK(std::count(clamped.begin(), clamped.end(), 0.0) > 0);
    CHECK(scaled_error(y.data(), clamped) <= 2e-6);
    kernels::cpu::depthwise_conv_forward(g, n, xf.data(), wf.data(), static_cast<const float*>(nullptr), y.data());
    CHECK(scaled_error(y.data(), want) <= 2e-6);
  }
}

TEST_CASE("depthwise and grouped gradients match finite differences", "[layers][depthwise][gradient]") {
  using testing::check_gradients;
  CHECK(check_gradients<DepthwiseConv<Kernel<3>, Pad<1>>, sample_shape<3, 7, 6>>() == 2);
  CHECK(check_gradients<DepthwiseConv<Kernel<5>, Stride<2>, Pad<2>, NoBias>, sample_shape<2, 9, 8>>() == 1);
  CHECK(check_gradients<DepthwiseConv<Kernel<3>, Stride<2>>, sample_shape<2, 8, 8>>() == 2);
  CHECK(check_gradients<Conv<4, Groups<2>, Kernel<3>, Pad<1>>, sample_shape<4, 6, 7>>() == 2);
  CHECK(check_gradients<Conv<8, Groups<4>, Kernel<3>, Stride<2>, Pad<1>, NoBias>, sample_shape<4, 7, 6>>() == 1);
  CHECK(check_gradients<Conv<4, Groups<4>, Kernel<5>, Pad<2>>, sample_shape<4, 6, 6>>() == 2);  // depthwise kernel
}

TEST_CASE("a frozen grouped or depthwise layer leaves its gradients alone", "[layers][depthwise][frozen]") {
  auto check = [&]<class L, class In>(L*, In*) {
    INFO((layer_traits<L, In>::describe()));
    using Out = output_shape_of<L, In>;
    runtime_layer<L, In, float> layer;
    random_engine rng(3);
    layer.initialize(rng);
    Tensor<float, 2> x(2, In::elements), y(2, Out::elements), dy(2, Out::elements), dx(2, In::elements);
    fill_uniform(x, -1, 1, 4);
    fill_uniform(dy, -1, 1, 5);
    layer.weight_gradient.fill(7.0f);
    layer.bias_gradient.fill(7.0f);
    context ctx{false, true, nullptr, false};
    layer.forward(x, y, ctx);
    layer.backward(x, y, dy, dx, ctx);
    auto all_seven = [](const auto& t) { return std::all_of(t.data(), t.data() + t.size(), [](float v) { return v == 7.0f; }); };
    CHECK(all_seven(layer.weight_gradient));
    CHECK(all_seven(layer.bias_gradient));
    // …and still passes the input gradient on.
    CHECK(std::any_of(dx.data(), dx.data() + dx.size(), [](float v) { return v != 0.0f; }));
  };
  check((DepthwiseConv<Kernel<3>, Pad<1>>*)nullptr, (sample_shape<4, 6, 6>*)nullptr);
  check((Conv<8, Groups<2>, Kernel<3>, Pad<1>>*)nullptr, (sample_shape<4, 6, 6>*)nullptr);
  check((Conv<4, Groups<4>, Kernel<3>, Pad<1>>*)nullptr, (sample_shape<4, 6, 6>*)nullptr);
}

namespace {
// PyTorch's forward and backward on a fixture written by tests/reference/make_reference.py.
template <class L, class In>
void check_fixture(const std::string& name) {
  INFO("fixture " << name);
  const testing::fixture f(name);
  using Out = output_shape_of<L, In>;
  runtime_layer<L, In, float> layer;
  auto load = [&](auto& t, const std::string& tensor) {
    const auto& v = f.at(tensor);
    REQUIRE(v.size() == t.size());
    std::copy(v.values.begin(), v.values.end(), t.data());
  };
  load(layer.weight, "weight");
  if constexpr (L::has_bias) load(layer.bias, "bias");
  const auto& input = f.at("input");
  const std::int64_t n = input.dims[0];
  Tensor<float, 2> x(n, In::elements), y(n, Out::elements), dy(n, Out::elements), dx(n, In::elements);
  load(x, "input");
  load(dy, "grad_output");
  context ctx{true};
  layer.forward(x, y, ctx);
  layer.backward(x, y, dy, dx, ctx);
  auto err = [&](const float* got, const std::string& tensor) {
    const auto& v = f.at(tensor).values;
    return scaled_error(got, std::vector<double>(v.begin(), v.end()));
  };
  CHECK(err(y.data(), "output") <= 1e-5);
  CHECK(err(dx.data(), "grad_input") <= 1e-5);
  CHECK(err(layer.weight_gradient.data(), "grad_weight") <= 1e-5);
  if constexpr (L::has_bias) CHECK(err(layer.bias_gradient.data(), "grad_bias") <= 1e-5);
}
}  // namespace

TEST_CASE("depthwise and grouped convolution agree with PyTorch", "[layers][depthwise][pytorch]") {
  check_fixture<DepthwiseConv<Kernel<3>, Stride<2>, Pad<1>>, sample_shape<6, 9, 8>>("depthwise_3x3_stride2_pad1");
  check_fixture<Conv<6, Groups<6>, Kernel<3>, Stride<2>, Pad<1>>, sample_shape<6, 9, 8>>("depthwise_3x3_stride2_pad1");
  check_fixture<DepthwiseConv<Kernel<5>, Pad<2>, NoBias>, sample_shape<4, 7, 9>>("depthwise_5x5_pad2_nobias");
  check_fixture<Conv<16, Groups<4>, Kernel<3>, Pad<1>>, sample_shape<8, 7, 6>>("grouped_conv_3x3_g4");
}

TEST_CASE("grouped and depthwise layers state their geometry, parameters and cost", "[layers][depthwise][traits]") {
  using In = sample_shape<32, 112, 112>;
  using D = DepthwiseConv<Kernel<3>, Stride<2>, Pad<1>, NoBias>;
  constexpr conv_geometry dg = D::geometry<In>();
  STATIC_REQUIRE(dg == conv_geometry{32, 112, 112, 32, 3, 3, 2, 2, 1, 1, 32});
  STATIC_REQUIRE(dg.is_depthwise() && dg.patch() == 9 && dg.weight_elements() == 32 * 9);
  STATIC_REQUIRE(!D::has_bias);
  STATIC_REQUIRE(std::is_same_v<output_shape_of<D, In>, sample_shape<32, 56, 56>>);
  STATIC_REQUIRE(layer_traits<D, In>::parameters == 288);
  STATIC_REQUIRE(layer_traits<D, In>::flops == 288 * 56 * 56);
  CHECK(layer_traits<D, In>::describe() == "depthwise conv 3×3 /2 pad 1, 32 channels, no bias");

  using G = Conv<16, Groups<4>, Kernel<3>, Pad<1>>;
  using In8 = sample_shape<8, 7, 7>;
  constexpr conv_geometry gg = G::geometry<In8>();
  STATIC_REQUIRE(gg.groups == 4 && gg.patch() == 18 && gg.weight_elements() == 16 * 2 * 9 && !gg.is_pointwise());
  STATIC_REQUIRE(G::has_bias && G::groups == 4);
  STATIC_REQUIRE(layer_traits<G, In8>::parameters == 16 * 2 * 9 + 16);
  STATIC_REQUIRE(layer_traits<G, In8>::flops == 16 * 2 * 9 * 49);
  CHECK(layer_traits<G, In8>::describe() == "conv 3×3 pad 1, 8 → 16, groups 4");
  CHECK(layer_traits<Conv<8, Groups<8>>, In8>::describe() == "conv 3×3, 8 → 8, depthwise");
  STATIC_REQUIRE(std::is_same_v<decltype(runtime_layer<G, In8, float>{}.weight), Tensor<float, 4>>);
  CHECK(runtime_layer<G, In8, float>{}.weight.shape() == Shape{16, 2, 3, 3});
  CHECK(runtime_layer<D, In, float>{}.weight.shape() == Shape{32, 1, 3, 3});

  // Channels that the groups do not divide: the network names the layer and what it expects.
  STATIC_REQUIRE(!G::accepts<sample_shape<6, 7, 7>>);
  STATIC_REQUIRE(std::is_same_v<G::expects<sample_shape<6, 7, 7>>, image_with_channels_multiple_of<4, 1, 1>>);
  // No algorithm takes a grouped geometry by accident.
  STATIC_REQUIRE(!algo::im2col::supports(gg) && !algo::reference::supports(gg) && !algo::automatic::supports(gg));
  STATIC_REQUIRE(!algo::winograd<2>::supports(gg) && !algo::fft::supports(gg) && !algo::direct::supports(gg));
  STATIC_REQUIRE(!algo::gemm_1x1::supports(conv_geometry{8, 5, 5, 8, 1, 1, 1, 1, 0, 0, 2}));
}

TEST_CASE("an EfficientNet-style block runs depthwise layers in a network", "[layers][depthwise][network]") {
  using Net = Sequential<Input<8, 12, 12>, Conv<16, Kernel<1>, NoBias>, DepthwiseConv<Kernel<5>, Stride<2>, Pad<2>>,
                         Conv<16, Groups<4>, Kernel<3>, Pad<1>>>;
  STATIC_REQUIRE(std::is_same_v<Net::output_shape, sample_shape<16, 6, 6>>);
  Model<Net, float> model(1);
  Tensor<float, 2> x(2, Net::input_shape::elements);
  fill_uniform(x, -1, 1, 9);
  const auto y = model.forward(x, true);
  CHECK(std::all_of(y.data(), y.data() + y.size(), [](float v) { return std::isfinite(v); }));
}
