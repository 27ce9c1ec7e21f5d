// Networks in fp16 on the CPU (fp16 storage, fp32 compute): every convolution algorithm, pooling,
// depthwise, dropout and GEMM kernel at half is its fp32 kernel on the widened operands, rounded
// once (bit for bit); the demo network and a net with batch norm, depthwise, residual, concat,
// add, dropout and average pooling agree with the same weights in fp32 within fp16's bounds; the
// fp32 weight copy of an fp16 convolution follows the weights.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "strata/core/cast.hpp"
#include "strata/layers/avg_pool.hpp"
#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/depthwise_conv.hpp"
#include "strata/layers/dropout.hpp"
#include "strata/layers/global_avg_pool.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/layers/relu6.hpp"
#include "strata/layers/sigmoid.hpp"
#include "strata/layers/tanh.hpp"
#include "strata/layers/zero_pad.hpp"
#include "strata/net/add.hpp"
#include "strata/net/concat.hpp"
#include "strata/net/model.hpp"
#include "strata/net/residual.hpp"
#include "strata/ops/gemm.hpp"
#include "strata/zoo/fashion_net.hpp"
#include "support/autotune_guard.hpp"
#include "support/testing.hpp"

using namespace strata;
using kernels::conv_geometry;
using testing::normwise_error;

namespace {

// fp16's unit roundoff: every value an fp16 network stores carries a relative error up to u.
constexpr double u16 = 1.0 / 2048;

// Whether fp16 values h are exactly the fp32 values f rounded to nearest even.
bool rounded_once(const half* h, const float* f, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i)
    if (h[i].bits() != half(f[i]).bits()) {
      UNSCOPED_INFO("element " << i << ": fp16 " << float(h[i]) << ", fp32 " << f[i] << " rounds to " << float(half(f[i])));
      return false;
    }
  return true;
}

template <class T>
Tensor<T, 1> values(std::int64_t n, std::uint64_t seed, double lo = -1, double hi = 1) {
  // Drawn in fp16, so both precisions get exactly the same operands.
  return cast<T>(testing::random_tensor<half>(Shape<1>{n}, seed, lo, hi));
}

// The three passes of algorithm A at half against A's fp32 kernel on the same (fp16) values.
template <class A>
void check_conv_rounded_once(const conv_geometry& g, std::int64_t n) {
  INFO(A::name << " on " << g.C << "×" << g.H << "×" << g.W << " → " << g.K << ", " << g.R << "×" << g.S << " stride "
                 << g.stride_y << " pad " << g.pad_y);
  const auto x = values<half>(n * g.input_elements(), 1), w = values<half>(g.weight_elements(), 2), b = values<half>(g.K, 3),
             dy = values<half>(n * g.output_elements(), 4);
  const Tensor<float, 1> xf = cast<float>(x), wf = cast<float>(w), bf = cast<float>(b), dyf = cast<float>(dy);
  Tensor<half, 1> y(n * g.output_elements()), dx(n * g.input_elements()), dw(g.weight_elements()), db(g.K);
  Tensor<float, 1> yf(y.shape()), dxf(dx.shape()), dwf(dw.shape()), dbf(db.shape());
  algo::conv_state<half> sh;
  algo::conv_state<float> sf;
  using H = kernels::conv_kernel<A, cpu, half>;
  using F = kernels::conv_kernel<A, cpu, float>;
  H::forward(g, n, x.data(), w.data(), b.data(), y.data(), sh);
  F::forward(g, n, xf.data(), wf.data(), bf.data(), yf.data(), sf);
  CHECK(rounded_once(y.data(), yf.data(), y.size()));
  H::backward_data(g, n, w.data(), dy.data(), dx.data(), sh);
  F::backward_data(g, n, wf.data(), dyf.data(), dxf.data(), sf);
  CHECK(rounded_once(dx.data(), dxf.data(), dx.size()));
  H::backward_filter(g, n, x.data(), dy.data(), dw.data(), db.data(), sh);
  F::backward_filter(g, n, xf.data(), dyf.data(), dwf.data(), dbf.data(), sf);
  CHECK(rounded_once(dw.data(), dwf.data(), dw.size()));
  CHECK(rounded_once(db.data(), dbf.data(), db.size()));
}

// Copies every parameter and state tensor of `from` into `to` (same network, another precision).
template <class To, class From>
void copy_weights(To& to, From& from) {
  std::vector<Tensor<float, 1>> params, state;
  from.visit_parameters([&](auto& p) { params.push_back(cast<float>(p.value)); });
  from.visit_state([&](const std::string&, auto v) { state.push_back(cast<float>(v)); });
  std::size_t i = 0, j = 0;
  using T = typename To::element_type;
  to.visit_parameters([&](auto& p) { p.value = cast<T>(params.at(i++)); });
  to.visit_state([&](const std::string&, auto v) { v = cast<T>(state.at(j++)); });
  REQUIRE(i == params.size());
  REQUIRE(j == state.size());
}

template <class T>
std::vector<double> as_doubles(const T* p, std::int64_t n) {
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = double(p[i]);
  return v;
}

struct network_errors {
  double output = 0, input_gradient = 0, worst_parameter_gradient = 0;
  std::string worst_parameter;
};

// One training-mode forward and backward of Net in fp16 and in fp32 from the same (fp16) weights,
// input and output gradient: the normwise relative errors of the fp16 results.
template <class Net>
network_errors compare_half_with_float(std::int64_t batch, std::uint64_t seed) {
  Model<Net, half> mh(seed);
  Model<Net, float> mf(seed);  // the same seed: the same dropout draws
  copy_weights(mf, mh);
  const std::int64_t in = Net::input_shape::elements, out = Net::output_shape::elements;
  const Tensor<half, 2> xh = testing::random_tensor<half>(Shape{batch, in}, seed + 1, 0, 1);
  const Tensor<float, 2> xf = cast<float>(xh);
  const auto yh = mh.forward(xh, true);
  const auto yf = mf.forward(xf, true);
  network_errors e;
  e.output = normwise_error(yh.data(), yf.data(), std::size_t(batch * out));
  const Tensor<half, 2> dyh = testing::random_tensor<half>(Shape{batch, out}, seed + 2);
  const Tensor<float, 2> dyf = cast<float>(dyh);
  Tensor<half, 2> dxh(Shape{batch, in});
  Tensor<float, 2> dxf(Shape{batch, in});
  mh.backward(dyh, dxh);
  mf.backward(dyf, dxf);
  e.input_gradient = normwise_error(dxh.data(), dxf.data(), std::size_t(batch * in));
  std::vector<std::vector<double>> gf;
  mf.visit_parameters([&](auto& p) { gf.push_back(as_doubles(p.gradient.data(), p.gradient.size())); });
  std::size_t i = 0;
  mh.visit_parameters([&](auto& p) {
    const auto gh = as_doubles(p.gradient.data(), p.gradient.size());
    const double err = normwise_error(gh.data(), gf.at(i++).data(), gh.size());
    UNSCOPED_INFO(p.name << ": " << err);
    if (!(err <= e.worst_parameter_gradient)) e.worst_parameter_gradient = err, e.worst_parameter = p.name;
  });
  return e;
}

using FashionNet = zoo::FashionNet<>;
// The demo network with smooth layers only (no kink a rounding error can move a value across).
using SmoothFashionNet = Sequential<Input<1, 28, 28>,                                             //
                                    Conv<32, Kernel<5>, Pad<2>>, Tanh, AvgPool<2>,                //
                                    Conv<64, Kernel<5>, Pad<2>>, Tanh, AvgPool<2>,                //
                                    Dense<1024>, Tanh, Dense<10>>;
using Mixed = Sequential<Input<3, 12, 12>,                                                       //
                         Conv<8, Kernel<3>, Pad<1>, NoBias>, BatchNorm, ReLU,                      //
                         DepthwiseConv<Kernel<3>, Pad<1>>, ReLU6,                                   //
                         Residual<Conv<8, Kernel<3>, Pad<1>, NoBias>, BatchNorm>,                   //
                         ZeroPad<1>, AvgPool<2>,                                                    //
                         Concat<Conv<4, Kernel<1>>, MaxPool<3, 1, 1>>,                              //
                         Add<ReLU, Conv<12, Kernel<1>>>, Conv<12, Kernel<5>, Pad<2>>, Sigmoid,      //
                         GlobalAvgPool, Dropout<0.25f>, Dense<16>, ReLU, Dense<5>>;

}  // namespace

TEST_CASE("every convolution algorithm in fp16 is its fp32 kernel rounded once", "[half][conv]") {
  const conv_geometry geometries[] = {
      {5, 9, 8, 6, 3, 3, 1, 1, 1, 1},   // 3×3: im2col, direct, Winograd, FFT
      {7, 6, 6, 5, 1, 1, 1, 1, 0, 0},   // 1×1: gemm_1x1 too
      {3, 11, 10, 4, 5, 5, 1, 1, 2, 2}, // 5×5: FFT's usual shape
      {4, 9, 9, 3, 3, 3, 2, 2, 1, 1},   // strided
  };
  int checked = 0;
  for (const auto& g : geometries) {
    if (algo::reference::supports(g)) check_conv_rounded_once<algo::reference>(g, 3), ++checked;
    algo::detail::for_each_candidate<half>([&](std::size_t, auto tag) {
      using A = decltype(tag);
      if (A::supports(g)) check_conv_rounded_once<A>(g, 3), ++checked;
    });
  }
  CHECK(checked >= 4 * 4);
  // Every fp32 candidate exists in fp16.
  algo::detail::for_each_candidate<float>([](std::size_t, auto tag) {
    INFO(decltype(tag)::name);
    CHECK(kernels::conv_available<decltype(tag), half, cpu>);
  });
  STATIC_REQUIRE(kernels::conv_available<algo::automatic, half, cpu>);
}

TEST_CASE("automatic chooses among the fp16 algorithms, timed and by rule of thumb", "[half][conv]") {
  for (bool timed : {true, false}) {
    // Another shape per mode: a key automatic decided once is not decided again.
    const conv_geometry g{6, 10, timed ? 10 : 11, 8, 3, 3, 1, 1, 1, 1};
    testing::autotune_guard tuning(timed);
    algo::conv_state<half> s;
    s.layer = std::string("fp16 automatic test ") + (timed ? "timed" : "rule");
    const auto x = values<half>(2 * g.input_elements(), 5), w = values<half>(g.weight_elements(), 6);
    Tensor<half, 1> y(2 * g.output_elements());
    kernels::conv_kernel<algo::automatic, cpu, half>::forward(g, 2, x.data(), w.data(), nullptr, y.data(), s);
    bool recorded = false;
    for (const auto& c : algo::conv_choices())
      if (c.layer == s.layer) {
        recorded = true;
        CHECK(c.precision == "fp16");
        CHECK(c.timed == timed);
        INFO(c.algorithm);
        bool known = false;
        algo::detail::candidate_named<half>(c.algorithm, known);
        CHECK(known);
      }
    CHECK(recorded);
    // Whatever ran, it is within fp16 rounding of the fp64 reference.
    const Tensor<double, 1> xd = cast<double>(x), wd = cast<double>(w);
    Tensor<double, 1> yd(y.shape());
    kernels::cpu::conv_direct_forward(g, 2, xd.data(), wd.data(), static_cast<const double*>(nullptr), yd.data());
    CHECK(normwise_error(y.data(), yd.data(), std::size_t(y.size())) <= u16);
  }
}

TEST_CASE("pooling, depthwise, dropout and GEMM in fp16 are the fp32 kernels rounded once", "[half][kernels]") {
  SECTION("max and average pooling") {
    const kernels::pool_geometry g{3, 9, 8, 3, 2, 1, false};
    const std::int64_t n = 2, in = n * g.C * g.H * g.W, out = n * g.C * g.P() * g.Q();
    const auto x = values<half>(in, 7), dy = values<half>(out, 8);
    const Tensor<float, 1> xf = cast<float>(x), dyf = cast<float>(dy);
    Tensor<half, 1> y(out), dx(in);
    Tensor<float, 1> yf(out), dxf(in);
    Tensor<std::int32_t, 1> ah(out), af(out);
    using MH = kernels::op_kernel<kernels::op::max_pool, cpu, half>;
    using MF = kernels::op_kernel<kernels::op::max_pool, cpu, float>;
    MH::forward(g, n, x.data(), y.data(), ah.data());
    MF::forward(g, n, xf.data(), yf.data(), af.data());
    CHECK(rounded_once(y.data(), yf.data(), out));
    CHECK(std::memcmp(ah.data(), af.data(), sizeof(std::int32_t) * std::size_t(out)) == 0);
    MH::backward(g, n, dy.data(), ah.data(), dx.data());
    MF::backward(g, n, dyf.data(), af.data(), dxf.data());
    CHECK(rounded_once(dx.data(), dxf.data(), in));
    using AH = kernels::op_kernel<kernels::op::avg_pool, cpu, half>;
    using AF = kernels::op_kernel<kernels::op::avg_pool, cpu, float>;
    AH::forward(g, n, x.data(), y.data());
    AF::forward(g, n, xf.data(), yf.data());
    CHECK(rounded_once(y.data(), yf.data(), out));
    AH::backward(g, n, dy.data(), dx.data());
    AF::backward(g, n, dyf.data(), dxf.data());
    CHECK(rounded_once(dx.data(), dxf.data(), in));
  }
  SECTION("depthwise convolution, with a clamp") {
    const conv_geometry g{6, 7, 9, 6, 3, 3, 2, 1, 1, 1, 6};
    const std::int64_t n = 3;
    const auto x = values<half>(n * g.input_elements(), 9), w = values<half>(g.weight_elements(), 10), b = values<half>(g.K, 11),
               dy = values<half>(n * g.output_elements(), 12);
    const Tensor<float, 1> xf = cast<float>(x), wf = cast<float>(w), bf = cast<float>(b), dyf = cast<float>(dy);
    Tensor<half, 1> y(n * g.output_elements()), dx(x.shape()), dw(w.shape()), db(b.shape());
    Tensor<float, 1> yf(y.shape()), dxf(x.shape()), dwf(w.shape()), dbf(b.shape());
    using H = kernels::op_kernel<kernels::op::depthwise_conv2d, cpu, half>;
    using F = kernels::op_kernel<kernels::op::depthwise_conv2d, cpu, float>;
    H::forward(g, n, x.data(), w.data(), b.data(), y.data(), half(0.0f), half(1.5f));
    F::forward(g, n, xf.data(), wf.data(), bf.data(), yf.data(), 0.0f, 1.5f);
    CHECK(rounded_once(y.data(), yf.data(), y.size()));
    H::backward_data(g, n, w.data(), dy.data(), dx.data());
    F::backward_data(g, n, wf.data(), dyf.data(), dxf.data());
    CHECK(rounded_once(dx.data(), dxf.data(), dx.size()));
    H::backward_filter(g, n, x.data(), dy.data(), dw.data(), db.data());
    F::backward_filter(g, n, xf.data(), dyf.data(), dwf.data(), dbf.data());
    CHECK(rounded_once(dw.data(), dwf.data(), dw.size()));
    CHECK(rounded_once(db.data(), dbf.data(), db.size()));
  }
  SECTION("dropout mask: the same draws, the scale rounded") {
    Tensor<half, 1> mh(1001);
    Tensor<float, 1> mf(1001);
    kernels::op_kernel<kernels::op::dropout_mask, cpu, half>::fill(1001, 0.3f, 42, mh.data());
    kernels::op_kernel<kernels::op::dropout_mask, cpu, float>::fill(1001, 0.3f, 42, mf.data());
    CHECK(rounded_once(mh.data(), mf.data(), 1001));
  }
  SECTION("matmul: set, add, subtract, transposes, an operand that is the destination") {
    const Tensor<half, 2> a = testing::random_tensor<half>(Shape{37, 53}, 13), b = testing::random_tensor<half>(Shape{53, 29}, 14),
                          bt = testing::random_tensor<half>(Shape{29, 53}, 15);
    const Tensor<float, 2> af = cast<float>(a), bf = cast<float>(b), btf = cast<float>(bt);
    Tensor<half, 2> c(Shape{37, 29});
    Tensor<float, 2> cf(Shape{37, 29});
    c = matmul(a, b);
    cf = matmul(af, bf);
    CHECK(rounded_once(c.data(), cf.data(), c.size()));
    c = matmul(a, transpose(bt));
    cf = matmul(af, transpose(btf));
    CHECK(rounded_once(c.data(), cf.data(), c.size()));
    // += widens the destination too: the sum is rounded once.
    const Tensor<half, 2> c0 = testing::random_tensor<half>(Shape{37, 29}, 16);
    c = c0;
    cf = cast<float>(c0);
    c += matmul(a, b);
    cf += matmul(af, bf);
    CHECK(rounded_once(c.data(), cf.data(), c.size()));
    Tensor<float, 2> expect = cast<float>(c);
    expect -= matmul(af, transpose(btf));
    c -= matmul(a, transpose(bt));
    CHECK(rounded_once(c.data(), expect.data(), c.size()));
    // A square product into one of its operands goes through a temporary.
    Tensor<half, 2> s = testing::random_tensor<half>(Shape{16, 16}, 17);
    const Tensor<half, 2> s0 = s.clone();
    const Tensor<float, 2> s0f = cast<float>(s0);
    s = matmul(s, s0);
    const Tensor<float, 2> sf = matmul(s0f, s0f);
    CHECK(rounded_once(s.data(), sf.data(), s.size()));
  }
}

// The bounds. Each tensor an fp16 network stores (every layer's output, and in backward every
// gradient) is rounded to fp16, a relative error up to u = 2⁻¹¹ per value, and the layers after it
// carry that error on; fp32 compute and the weights (the same on both sides) add nothing visible.
// Smooth layers that do not amplify relative errors (tanh, sigmoid, averages, convolutions and dense
// layers, which average independent errors) keep the normwise error below L·u for L stored tensors
// on the longest path — that is the bound for the smooth network and for every forward output (ReLU
// and max are continuous). Gradients through kinks are different: a value within about u of ReLU's
// 0, or of a tie in a max-pool window, can fall on the other side in fp16 and move its gradient
// entry wholesale. Such values are a fraction ~u of each kinked layer's, so with K kinked layers
// the normwise error is about √(K·u) (measured: 0.03–0.04 for the demo network, K = 5); we allow
// 2·√(K·u). A wrong kernel, a lost scale or an overflow gives errors of order 1.
double kinked_gradient_bound(int kinked_layers) { return 2 * std::sqrt(kinked_layers * u16); }

TEST_CASE("a smooth demo network in fp16 agrees with the same weights in fp32 within L·u", "[half][net]") {
  const network_errors e = compare_half_with_float<SmoothFashionNet>(8, 11);
  INFO("output " << e.output << ", input gradient " << e.input_gradient << ", worst parameter gradient "
                 << e.worst_parameter_gradient << " (" << e.worst_parameter << ")");
  CHECK(e.output <= 9 * u16);                     // 9 stored activations
  CHECK(e.input_gradient <= 18 * u16);            // and 9 stored gradients back to the input
  CHECK(e.worst_parameter_gradient <= 18 * u16);
}

TEST_CASE("the demo network in fp16 agrees with the same weights in fp32 within fp16's bounds", "[half][net]") {
  const network_errors e = compare_half_with_float<FashionNet>(8, 11);
  INFO("output " << e.output << ", input gradient " << e.input_gradient << ", worst parameter gradient "
                 << e.worst_parameter_gradient << " (" << e.worst_parameter << ")");
  CHECK(e.output <= 9 * u16);
  CHECK(e.input_gradient <= kinked_gradient_bound(5));  // 3 ReLUs, 2 max pools
  CHECK(e.worst_parameter_gradient <= kinked_gradient_bound(5));
}

TEST_CASE("batch norm, depthwise, residual, concat, add, pooling and dropout in fp16 agree with fp32", "[half][net]") {
  const network_errors e = compare_half_with_float<Mixed>(6, 21);
  INFO("output " << e.output << ", input gradient " << e.input_gradient << ", worst parameter gradient "
                 << e.worst_parameter_gradient << " (" << e.worst_parameter << ")");
  CHECK(e.output <= 24 * u16);  // 24 stored tensors on the longest path (batch norm stores two)
  CHECK(e.input_gradient <= kinked_gradient_bound(5));  // ReLU ×3, ReLU6, the concat's max pool
  CHECK(e.worst_parameter_gradient <= kinked_gradient_bound(5));
}

TEST_CASE("an fp16 convolution's fp32 weights follow the weights, however they change", "[half][conv]") {
  using Net = Sequential<Input<2, 8, 8>, Conv<3, Kernel<3>, Pad<1>, Algorithm<algo::winograd<2>>>>;
  Model<Net, half> m(3);
  const Tensor<half, 2> x = testing::random_tensor<half>(Shape{2, Net::input_shape::elements}, 4);
  Tensor<half, 2> y0(Shape{2, Net::output_shape::elements});
  y0 = m.forward(x);
  // A write through a raw pointer, one weight: the next forward uses it.
  auto& conv = m.layers().template part<0>();
  conv.weight.data()[5] = half(conv.weight.data()[5] + 0.5f);
  Tensor<half, 2> y1(y0.shape());
  y1 = m.forward(x);
  Model<Net, float> f(3);
  copy_weights(f, m);
  const Tensor<float, 2> xf = cast<float>(x);
  const auto yf = f.forward(xf);
  CHECK(rounded_once(y1.data(), yf.data(), y1.size()));
  bool changed = false;
  for (std::int64_t i = 0; i < y0.size(); ++i) changed = changed || y0.data()[i].bits() != y1.data()[i].bits();
  CHECK(changed);
}
