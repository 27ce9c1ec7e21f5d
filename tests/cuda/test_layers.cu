// Layers on the GPU: every convolution algorithm the GPU has (im2col + cuBLAS, 1×1 GEMM,
// Winograd F(2×2, 3×3) and F(4×4, 3×3), FFT, automatic) in all three passes against the CPU's
// fp64 reference, in fp64, fp32 and fp16 where each exists, and depthwise convolution against
// the CPU kernel; max
// and average pooling, the dropout mask and softmax cross-entropy against the CPU kernels; whole
// models — the demo network, one with batch norm, dropout, 1×1 and average pooling, one with
// grouped and depthwise convolutions; and the demo network in fp16 with fp32 master weights
// and loss scaling — trained
// for a few SGD steps on the GPU and on the CPU from the same seed, compared step by step; and
// model files moving between GPU and CPU models exactly; memory<Net> beside what the caching
// allocator holds after a training step (the demo network and ResNet-50).
#include <strata/cuda.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "strata/io/model_file.hpp"
#include "strata/layers/avg_pool.hpp"
#include "strata/layers/batch_norm.hpp"
#include "strata/layers/depthwise_conv.hpp"
#include "strata/layers/global_avg_pool.hpp"
#include "strata/layers/relu6.hpp"
#include "strata/layers/dropout.hpp"
#include "strata/layers/softmax_cross_entropy.hpp"
#include "strata/net/model.hpp"
#include "strata/ops/conv2d.hpp"
#include "strata/ops/depthwise_conv2d.hpp"
#include "strata/ops/dropout.hpp"
#include "strata/ops/pooling.hpp"
#include "strata/train/loss_scaling.hpp"
#include "strata/train/sgd.hpp"
#include "strata/zoo/fashion_net.hpp"
#include "strata/zoo/resnet.hpp"
#include "strata/net/summary.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::random_tensor;
using gpu = strata::cuda;  // (unqualified `cuda` may meet libcu++'s ::cuda namespace)
using kernels::conv_geometry;
using kernels::pool_geometry;

namespace {

template <class T>
std::vector<double> to_doubles(const Tensor<T, 1, gpu>& t) {
  const auto h = to_host(t);
  std::vector<double> v(std::size_t(h.size()));
  for (std::int64_t i = 0; i < h.size(); ++i) v[std::size_t(i)] = double(precision_traits<T>::to_compute(h.data()[i]));
  return v;
}
template <class T>
Tensor<T, 1, gpu> device_copy_of(const Tensor<double, 1>& x) {
  Tensor<T, 1> h(x.shape());
  for (std::int64_t i = 0; i < x.size(); ++i) h(i) = T(x(i));
  return to_device(h);
}
double error_to_largest(const std::vector<double>& got, const Tensor<double, 1>& want) {
  return testing::error_relative_to_largest(got.data(), want.data(), got.size());
}

// Forward, backward data and backward filter of algorithm A in precision T on the GPU against
// the CPU's reference in fp64 (on the inputs rounded to T), relative to the largest output.
template <class A, class T>
void check_conv(const conv_geometry& g, std::int64_t n, double tolerance) {
  INFO(A::name << " " << precision_traits<T>::name << ": C" << g.C << " " << g.H << "×" << g.W << " K" << g.K << " " << g.R
               << "×" << g.S << " stride " << g.stride_y << " pad " << g.pad_y << ", batch " << n);
  auto round_to_T = [](Tensor<double, 1> t) {
    for (std::int64_t i = 0; i < t.size(); ++i) t(i) = double(precision_traits<T>::to_compute(T(t(i))));
    return t;
  };
  const auto x = round_to_T(random_tensor<double>(Shape<1>{n * g.input_elements()}, 1));
  const auto w = round_to_T(random_tensor<double>(Shape<1>{g.weight_elements()}, 2));
  const auto b = round_to_T(random_tensor<double>(Shape<1>{g.K}, 3));
  const auto dy = round_to_T(random_tensor<double>(Shape<1>{n * g.output_elements()}, 4));
  using ref = kernels::conv_kernel<algo::reference, strata::cpu, double>;
  kernels::conv_state<strata::cpu, double> cpu_state;
  Tensor<double, 1> y(n * g.output_elements()), dx(n * g.input_elements()), dw(g.weight_elements()), db(g.K);
  ref::forward(g, n, x.data(), w.data(), b.data(), y.data(), cpu_state);
  ref::backward_data(g, n, w.data(), dy.data(), dx.data(), cpu_state);
  ref::backward_filter(g, n, x.data(), dy.data(), dw.data(), db.data(), cpu_state);

  const auto gx = device_copy_of<T>(x), gw = device_copy_of<T>(w), gb = device_copy_of<T>(b), gdy = device_copy_of<T>(dy);
  Tensor<T, 1, gpu> gy(y.shape()), gdx(dx.shape()), gdw(dw.shape()), gdb(db.shape());
  kernels::conv_state<gpu, T> state;
  ops::conv2d_forward(gpu{}, A{}, g, n, gx.data(), gw.data(), gb.data(), gy.data(), state);
  ops::conv2d_backward_data(gpu{}, A{}, g, n, gw.data(), gdy.data(), gdx.data(), state);
  ops::conv2d_backward_filter(gpu{}, A{}, g, n, gx.data(), gdy.data(), gdw.data(), gdb.data(), state);
  CHECK(error_to_largest(to_doubles(gy), y) < tolerance);
  CHECK(error_to_largest(to_doubles(gdx), dx) < tolerance);
  CHECK(error_to_largest(to_doubles(gdw), dw) < tolerance);
  CHECK(error_to_largest(to_doubles(gdb), db) < tolerance);
}

const conv_geometry conv_shapes[] = {
    {3, 28, 28, 32, 5, 5, 1, 1, 2, 2},    // the demo network's first layer
    {32, 14, 14, 64, 3, 3, 1, 1, 1, 1},   // 3×3 same
    {16, 15, 13, 24, 3, 3, 2, 2, 1, 1},   // strided, odd sizes
    {5, 9, 7, 6, 3, 2, 2, 1, 1, 0},       // non-square filter, mixed strides and padding
    {64, 8, 8, 32, 1, 1, 1, 1, 0, 0},     // 1×1
    {24, 9, 9, 16, 1, 1, 2, 2, 0, 0},     // strided 1×1
    {8, 16, 16, 12, 7, 7, 1, 1, 3, 3},    // 7×7 same (FFT's shape)
    {6, 10, 12, 5, 3, 3, 1, 1, 0, 2},     // Winograd with padding 0 and 2, partial F(4×4) tiles
};

}  // namespace

TEST_CASE("GPU convolutions equal the CPU reference in every pass (fp64, fp32, fp16)", "[cuda][conv]") {
  for (const auto& g : conv_shapes) {
    // fp64: sums of a few hundred products, u = 1.1e-16; fp32: u = 6e-8 (cuBLAS may use TF32 only
    // if asked: strata's handle keeps the default math mode); fp16: inputs and outputs in half.
    check_conv<algo::im2col, double>(g, 3, 1e-12);
    check_conv<algo::im2col, float>(g, 3, 1e-5);
    check_conv<algo::automatic, float>(g, 5, 5e-5);  // whichever it picks: the loosest candidate's bound
    check_conv<algo::im2col, strata::half>(g, 3, 4e-3);
    if (algo::winograd<2>::supports(g)) {  // F(2×2, 3×3): the transforms add a few roundings
      check_conv<algo::winograd<2>, double>(g, 3, 1e-12);
      check_conv<algo::winograd<2>, float>(g, 3, 2e-5);
      check_conv<algo::winograd<2>, strata::half>(g, 3, 1e-2);
      // F(4×4, 3×3): entries up to 8 in Aᵀ and Bᵀ and sixths in G (CPU fp32 measured 2.4e-6 at C = 128)
      check_conv<algo::winograd<4>, double>(g, 3, 1e-11);
      check_conv<algo::winograd<4>, float>(g, 3, 5e-5);
    }
    if (algo::fft::supports(g)) {  // cuFFT's rounding grows with log(grid size)
      check_conv<algo::fft, double>(g, 3, 1e-11);
      check_conv<algo::fft, float>(g, 3, 2e-5);
    }
    if (algo::gemm_1x1::supports(g)) {
      check_conv<algo::gemm_1x1, double>(g, 3, 1e-12);
      check_conv<algo::gemm_1x1, float>(g, 3, 1e-5);
      check_conv<algo::gemm_1x1, strata::half>(g, 3, 4e-3);
    }
  }
}

TEST_CASE("the GPU's automatic choice is recorded with its timings", "[cuda][conv]") {
  const conv_geometry g{64, 8, 8, 48, 1, 1, 1, 1, 0, 0};
  check_conv<algo::automatic, float>(g, 7, 1e-5);
  bool found = false;
  for (const auto& c : conv_choices())
    if (c.geometry == g && c.batch == 7 && c.precision == std::string("fp32") && c.pass == algo::conv_pass::forward) {
      found = true;
      CHECK((c.algorithm == "im2col" || c.algorithm == "gemm_1x1"));
      CHECK(c.milliseconds.size() == 2);
    }
  CHECK(found);
}

TEST_CASE("the GPU's automatic times Winograd F(2×2), F(4×4) and FFT for 3×3 in fp32, not F(4×4) or FFT in fp16",
          "[cuda][conv]") {
  const conv_geometry g{16, 12, 12, 16, 3, 3, 1, 1, 1, 1};
  check_conv<algo::automatic, float>(g, 6, 5e-5);
  check_conv<algo::automatic, strata::half>(g, 6, 1e-2);
  int seen = 0;
  for (const auto& c : conv_choices()) {
    if (!(c.geometry == g && c.batch == 6 && c.pass == algo::conv_pass::forward)) continue;
    std::vector<std::string> timed;
    for (const auto& [name, ms] : c.milliseconds) timed.push_back(name);
    INFO(c.precision << " chose " << c.algorithm);
    if (c.precision == std::string("fp32")) {
      ++seen;
      CHECK(timed == std::vector<std::string>{"im2col", "winograd<2>", "winograd<4>", "fft"});
    } else if (c.precision == std::string("fp16")) {
      ++seen;
      CHECK(timed == std::vector<std::string>{"im2col", "winograd<2>"});
    }
  }
  CHECK(seen == 2);
}

TEST_CASE("GPU depthwise convolution equals the CPU kernel", "[cuda][conv]") {
  const conv_geometry shapes[] = {{32, 14, 14, 32, 3, 3, 1, 1, 1, 1, 32}, {16, 15, 11, 16, 5, 3, 2, 1, 2, 1, 16}};
  const std::int64_t n = 4;
  for (const auto& g : shapes) {
    const auto x = random_tensor<float>(Shape<1>{n * g.input_elements()}, 31);
    const auto w = random_tensor<float>(Shape<1>{g.C * g.R * g.S}, 32);
    const auto b = random_tensor<float>(Shape<1>{g.C}, 33);
    const auto dy = random_tensor<float>(Shape<1>{n * g.output_elements()}, 34);
    Tensor<float, 1> y(dy.shape()), dx(x.shape()), dw(w.shape()), db(b.shape());
    ops::depthwise_conv2d_forward(strata::cpu{}, g, n, x.data(), w.data(), b.data(), y.data(), 0.f, 6.f);
    ops::depthwise_conv2d_backward_data(strata::cpu{}, g, n, w.data(), dy.data(), dx.data());
    ops::depthwise_conv2d_backward_filter(strata::cpu{}, g, n, x.data(), dy.data(), dw.data(), db.data());
    const auto gx = to_device(x), gw = to_device(w), gb = to_device(b), gdy = to_device(dy);
    Tensor<float, 1, gpu> gy(y.shape()), gdx(dx.shape()), gdw(dw.shape()), gdb(db.shape());
    ops::depthwise_conv2d_forward(gpu{}, g, n, gx.data(), gw.data(), gb.data(), gy.data(), 0.f, 6.f);
    ops::depthwise_conv2d_backward_data(gpu{}, g, n, gw.data(), gdy.data(), gdx.data());
    ops::depthwise_conv2d_backward_filter(gpu{}, g, n, gx.data(), gdy.data(), gdw.data(), gdb.data());
    const auto close = [](const Tensor<float, 1, gpu>& got, const Tensor<float, 1>& want) {
      const auto h = to_host(got);
      return testing::error_relative_to_largest(h.data(), want.data(), std::size_t(want.size()));
    };
    CHECK(close(gy, y) < 1e-5);
    CHECK(close(gdx, dx) < 1e-5);
    CHECK(close(gdw, dw) < 1e-5);
    CHECK(close(gdb, db) < 1e-5);
  }
}

TEST_CASE("GPU pooling equals the CPU kernels", "[cuda][pool]") {
  const pool_geometry shapes[] = {{32, 28, 28, 2, 2, 0}, {8, 9, 7, 3, 2, 1}, {4, 7, 5, 2, 2, 0, true}, {3, 6, 6, 3, 1, 1}};
  const std::int64_t n = 4;
  for (const auto& g : shapes) {
    INFO("C" << g.C << " " << g.H << "×" << g.W << " window " << g.window << " stride " << g.stride << " pad " << g.pad);
    auto x = random_tensor<float>(Shape<1>{n * g.C * g.H * g.W}, 5);
    x(3) = x(2);  // a tie
    const auto dy = random_tensor<float>(Shape<1>{n * g.C * g.P() * g.Q()}, 6);
    Tensor<float, 1> y(dy.shape()), dx(x.shape());
    Tensor<std::int32_t, 1> arg(dy.shape());
    ops::max_pool_forward(strata::cpu{}, g, n, x.data(), y.data(), arg.data());
    ops::max_pool_backward(strata::cpu{}, g, n, dy.data(), arg.data(), dx.data());
    const auto gx = to_device(x), gdy = to_device(dy);
    Tensor<float, 1, gpu> gy(y.shape()), gdx(dx.shape());
    Tensor<std::int32_t, 1, gpu> garg(arg.shape());
    ops::max_pool_forward(gpu{}, g, n, gx.data(), gy.data(), garg.data());
    ops::max_pool_backward(gpu{}, g, n, gdy.data(), garg.data(), gdx.data());
    const auto hy = to_host(gy), hdx = to_host(gdx);
    const auto harg = to_host(garg);
    CHECK(std::memcmp(hy.data(), y.data(), std::size_t(y.bytes())) == 0);
    CHECK(std::memcmp(harg.data(), arg.data(), std::size_t(arg.bytes())) == 0);
    CHECK(std::memcmp(hdx.data(), dx.data(), std::size_t(dx.bytes())) == 0);

    ops::avg_pool_forward(strata::cpu{}, g, n, x.data(), y.data());
    ops::avg_pool_backward(strata::cpu{}, g, n, dy.data(), dx.data());
    ops::avg_pool_forward(gpu{}, g, n, gx.data(), gy.data());
    ops::avg_pool_backward(gpu{}, g, n, gdy.data(), gdx.data());
    const auto ay = to_host(gy), adx = to_host(gdx);
    CHECK(std::memcmp(ay.data(), y.data(), std::size_t(y.bytes())) == 0);
    CHECK(testing::error_relative_to_largest(adx.data(), dx.data(), std::size_t(dx.size())) < 4e-7);
  }
}

TEST_CASE("the GPU's dropout mask is the CPU's for the same seed", "[cuda][dropout]") {
  for (const std::int64_t count : {1, 5, 100003}) {
    Tensor<float, 1> want(count);
    ops::dropout_mask(strata::cpu{}, count, 0.25f, 99, want.data());
    Tensor<float, 1, gpu> got(count);
    ops::dropout_mask(gpu{}, count, 0.25f, 99, got.data());
    const auto h = to_host(got);
    CHECK(std::memcmp(h.data(), want.data(), std::size_t(want.bytes())) == 0);
  }
}

TEST_CASE("GPU softmax cross-entropy equals the CPU's, and names a bad label", "[cuda][loss]") {
  const std::int64_t n = 300, k = 10;
  const auto logits = random_tensor<float>(Shape{n, k}, 7, -30, 30);
  Tensor<std::int32_t, 1> labels(n);
  for (std::int64_t i = 0; i < n; ++i) labels(i) = std::int32_t((i * 3) % k);
  Tensor<float, 2> grad(Shape{n, k});
  const loss_result want = SoftmaxCrossEntropy::evaluate<float>(logits.view(), labels.view(), grad.view());
  const auto glogits = to_device(logits);
  auto glabels = to_device(labels);
  Tensor<float, 2, gpu> ggrad(Shape{n, k});
  const loss_result got = SoftmaxCrossEntropy::evaluate<float>(glogits.view(), glabels.view(), ggrad.view());
  CHECK(std::abs(got.loss - want.loss) <= 1e-12 * std::abs(want.loss));
  CHECK(got.correct == want.correct);
  const auto hgrad = to_host(ggrad);
  CHECK(testing::error_relative_to_largest(hgrad.data(), grad.data(), std::size_t(grad.size())) < 1e-6);
  labels(17) = 10;
  glabels = to_device(labels);
  CHECK_THROWS_WITH(SoftmaxCrossEntropy::evaluate<float>(glogits.view(), glabels.view()),
                    Catch::Contains("label 10 of sample 17"));
}

namespace {

// Grouped and depthwise convolutions (a MobileNet-style block) in a model.
using GroupedNet = Sequential<Input<8, 12, 12>, Conv<16, Kernel<3>, Pad<1>, Groups<4>>, ReLU, DepthwiseConv<Kernel<3>, Pad<1>>,
                              ReLU6, Conv<8, Kernel<1>>, GlobalAvgPool, Dense<10>>;

using BatchNormNet = Sequential<Input<3, 16, 16>, Conv<8, Kernel<3>, Pad<1>>, BatchNormalization<>, ReLU, Conv<16, Kernel<1>>,
                                ReLU, AvgPool<2>, MaxPool<2>, Dropout<0.25f>, Dense<10>>;

std::vector<float> parameters_of(auto& model) {
  std::vector<float> v;
  model.visit_parameters([&](const auto& p) {
    if constexpr (std::is_same_v<typename std::remove_cvref_t<decltype(p.value)>::device_type, strata::cpu>) {
      v.insert(v.end(), p.value.data(), p.value.data() + p.value.size());
    } else {
      Tensor<float, 1> h(p.value.size());
      copy(p.value, h);
      v.insert(v.end(), h.data(), h.data() + h.size());
    }
  });
  return v;
}

// The same network on the CPU and the GPU from one seed: equal parameters, then for `steps` SGD
// steps (momentum, weight decay) on the same batches the outputs agree to 1e-4 of the largest.
template <class Net>
void check_training_matches_cpu(int steps, std::int64_t batch) {
  Model<Net, float> cpu_model(7);
  Model<Net, float, gpu> gpu_model(7);
  CHECK(parameters_of(cpu_model) == parameters_of(gpu_model));  // drawn on the host for both
  train::SGD<float> cpu_opt(train::sgd_options{0.9, 1e-4});
  train::SGD<float, gpu> gpu_opt(train::sgd_options{0.9, 1e-4});
  for (int step = 0; step < steps; ++step) {
    INFO("step " << step);
    const auto x = random_tensor<float>(Shape{batch, Net::input_shape::elements}, 100 + step);
    Tensor<std::int32_t, 1> labels(batch);
    for (std::int64_t i = 0; i < batch; ++i) labels(i) = std::int32_t((i * 7 + step) % 10);
    const auto gx = to_device(x);
    const auto glabels = to_device(labels);

    const auto y = cpu_model.forward(x.view(), true);
    const auto gy = gpu_model.forward(gx.view(), true);
    const auto hy = to_host(gy);
    CHECK(testing::error_relative_to_largest(hy.data(), y.data(), std::size_t(y.size())) < 1e-4);

    Tensor<float, 2> dy(y.shape());
    Tensor<float, 2, gpu> gdy(y.shape());
    const loss_result l = SoftmaxCrossEntropy::evaluate<float>(y, labels.view(), dy.view());
    const loss_result gl = SoftmaxCrossEntropy::evaluate<float>(gy, glabels.view(), gdy.view());
    CHECK(std::abs(gl.loss - l.loss) < 1e-4 * std::abs(l.loss));
    cpu_model.backward(dy.view());
    gpu_model.backward(gdy.view());
    cpu_opt.step(cpu_model, 0.05);
    gpu_opt.step(gpu_model, 0.05);
    const auto p = parameters_of(cpu_model), gp = parameters_of(gpu_model);
    CHECK(testing::error_relative_to_largest(gp.data(), p.data(), p.size()) < 1e-4);
  }
}

}  // namespace

TEST_CASE("the demo network trains on the GPU as on the CPU", "[cuda][model]") {
  check_training_matches_cpu<zoo::FashionNet<>>(4, 32);
}

TEST_CASE("batch norm, 1×1, average pooling and dropout train on the GPU as on the CPU", "[cuda][model]") {
  check_training_matches_cpu<BatchNormNet>(4, 16);
}

TEST_CASE("grouped and depthwise convolutions train on the GPU as on the CPU", "[cuda][model]") {
  check_training_matches_cpu<GroupedNet>(4, 16);
}

TEST_CASE("fp16 models train on the GPU with fp32 master weights and loss scaling, as on the CPU", "[cuda][model][half]") {
  using Net = zoo::FashionNet<>;
  using strata::half;
  const std::int64_t batch = 32;
  Model<Net, half> cpu_model(5);
  Model<Net, half, gpu> gpu_model(5);
  const auto as_floats = [](auto& model) {
    std::vector<float> v;
    model.visit_parameters([&](const auto& p) {
      Tensor<half, 1> h(p.value.size());
      copy(p.value, h);
      for (std::int64_t i = 0; i < h.size(); ++i) v.push_back(float(h(i)));
    });
    return v;
  };
  CHECK(as_floats(cpu_model) == as_floats(gpu_model));
  train::SGD<half> cpu_sgd(train::sgd_options{0.9});
  train::SGD<half, gpu> gpu_sgd(train::sgd_options{0.9});
  // 2^40 first: the fp16 loss gradient overflows, so the first step is skipped on both devices
  // and S halves; then steps are taken.
  train::loss_scaler<half> cpu_scaler({.initial = std::ldexp(1.0, 40), .growth_interval = 1000});
  train::loss_scaler<half, gpu> gpu_scaler({.initial = std::ldexp(1.0, 40), .growth_interval = 1000});
  for (int step = 0; step < 4; ++step) {
    INFO("step " << step);
    const auto xf = random_tensor<float>(Shape{batch, Net::input_shape::elements}, 200 + step);
    const Tensor<half, 2> x = cast<half>(xf);
    Tensor<std::int32_t, 1> labels(batch);
    for (std::int64_t i = 0; i < batch; ++i) labels(i) = std::int32_t((i * 3 + step) % 10);
    const auto gx = to_device(x);
    const auto glabels = to_device(labels);
    const auto y = cpu_model.forward(x.view(), true);
    const auto gy = gpu_model.forward(gx.view(), true);
    const Tensor<float, 2> yf = cast<float>(y), gyf = cast<float>(to_host(gy));
    CHECK(testing::error_relative_to_largest(gyf.data(), yf.data(), std::size_t(yf.size())) < 2e-2);
    Tensor<half, 2> dy(y.shape());
    Tensor<half, 2, gpu> gdy(y.shape());
    cpu_scaler.loss_gradient(y, labels.view(), dy.view(), SoftmaxCrossEntropy{});
    gpu_scaler.loss_gradient(gy, glabels.view(), gdy.view(), SoftmaxCrossEntropy{});
    cpu_model.backward(dy.view());
    gpu_model.backward(gdy.view());
    const bool cpu_took = cpu_scaler.step(cpu_sgd, cpu_model, 0.05), gpu_took = gpu_scaler.step(gpu_sgd, gpu_model, 0.05);
    CHECK(cpu_took == gpu_took);
    CHECK(gpu_took == (step > 0));
    CHECK(cpu_scaler.scale() == gpu_scaler.scale());
    const auto p = as_floats(cpu_model), gp = as_floats(gpu_model);
    CHECK(testing::error_relative_to_largest(gp.data(), p.data(), p.size()) < 1e-2);
  }
}

TEST_CASE("model files move between GPU and CPU models exactly", "[cuda][model]") {
  const auto dir = std::filesystem::temp_directory_path();
  const auto path = dir / "strata_gpu_model_test.strata";
  Model<BatchNormNet, float, gpu> trained(3);
  train::SGD<float, gpu> opt;
  const auto x = to_device(random_tensor<float>(Shape{8, BatchNormNet::input_shape::elements}, 11));
  Tensor<std::int32_t, 1> labels(8);
  for (std::int64_t i = 0; i < 8; ++i) labels(i) = std::int32_t(i);
  const auto glabels = to_device(labels);
  Tensor<float, 2, gpu> dy(Shape{8, 10});
  const auto y = trained.forward(x.view(), true);
  SoftmaxCrossEntropy::evaluate<float>(y, glabels.view(), dy.view());
  trained.backward(dy.view());
  opt.step(trained, 0.1);
  trained.forward(x.view(), true);  // batch-norm running statistics move too

  save_model(trained, path);
  Model<BatchNormNet, float> on_cpu(99);
  load_model(on_cpu, path);
  CHECK(parameters_of(on_cpu) == parameters_of(trained));
  std::vector<float> cpu_state, gpu_state;
  on_cpu.visit_state([&](const std::string&, const auto& v) { cpu_state.insert(cpu_state.end(), v.data(), v.data() + v.size()); });
  trained.visit_state([&](const std::string&, const auto& v) {
    const auto h = to_host(v);
    gpu_state.insert(gpu_state.end(), h.data(), h.data() + h.size());
  });
  CHECK(cpu_state == gpu_state);
  CHECK(!cpu_state.empty());

  save_model(on_cpu, path);
  Model<BatchNormNet, float, gpu> back(5);
  load_model(back, path);
  CHECK(parameters_of(back) == parameters_of(on_cpu));
  std::filesystem::remove(path);
}

namespace {

// One SGD step (momentum: one optimizer slot) of Net at `batch` on the GPU; prints memory<Net>
// beside what the caching allocator held: at its peak during the step and after it. The
// estimate counts parameters, gradients, optimizer state, the activations training keeps and the
// input; the allocator also holds the layers' gradient buffers and convolution workspaces.
template <class Net>
void compare_memory(const char* name, std::int64_t batch) {
  auto& allocator = caching_allocator::instance();
  synchronize();
  const std::size_t before = allocator.stats().bytes_in_use;
  allocator.reset_peak();
  {
    auto model = std::make_unique<Model<Net, float, gpu>>(1);
    train::SGD<float, gpu> sgd(train::sgd_options{0.9});
    const auto x = to_device(random_tensor<float>(Shape{batch, Net::input_shape::elements}, 3));
    Tensor<std::int32_t, 1> labels(batch);
    for (std::int64_t i = 0; i < batch; ++i) labels(i) = std::int32_t(i % Net::output_shape::elements);
    const auto glabels = to_device(labels);
    Tensor<float, 2, gpu> dy(Shape{batch, Net::output_shape::elements});
    const auto y = model->forward(x.view(), true);
    SoftmaxCrossEntropy::evaluate<float>(y, glabels.view(), dy.view());
    model->backward(dy.view());
    sgd.step(*model, 0.01);
    synchronize();
    const auto s = allocator.stats();
    const memory_estimate m = memory<Net, float>(batch);
    const double mib = 1024.0 * 1024.0;
    const double after = double(s.bytes_in_use - before), peak = double(s.peak_bytes_in_use - before);
    std::printf("memory<%s>(%lld): %.1f MiB (parameters %.1f, gradients %.1f, optimizer %.1f, activations %.1f, input %.1f); "
                "allocator after the step %.1f MiB (%.2f× the estimate), peak %.1f MiB (%.2f×)\n",
                name, (long long)batch, double(m.total()) / mib, double(m.parameters) / mib, double(m.gradients) / mib,
                double(m.optimizer_state) / mib, double(m.activations) / mib, double(m.input) / mib, after / mib,
                after / double(m.total()), peak / mib, peak / double(m.total()));
    // What must be there: the weights, their gradients and the momentum, the batch itself.
    CHECK(after >= double(m.parameters + m.gradients + m.optimizer_state));
    CHECK(peak >= double(m.parameters + m.gradients + m.optimizer_state + m.input));
  }
}

}  // namespace

TEST_CASE("memory<Net> against what the caching allocator holds after a training step", "[cuda][memory]") {
  compare_memory<zoo::FashionNet<>>("FashionNet", 64);
  compare_memory<zoo::ResNet50<>>("ResNet-50", 32);
}
