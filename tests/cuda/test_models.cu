// Whole models on the GPU: the demo network, one with batch norm, dropout, 1×1 and average
// pooling, one with grouped and depthwise convolutions, and the demo network in fp16 with fp32
// master weights and loss scaling, trained for a few SGD steps on the GPU and on the CPU from the
// same seed and compared step by step; model files moving between GPU and CPU models exactly;
// memory<Net> beside what the caching allocator holds after a training step (the demo network
// and ResNet-50).
#include <strata/cuda.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>
#include <filesystem>
#include <memory>

#include "strata/io/model_file.hpp"
#include "strata/layers/avg_pool.hpp"
#include "strata/layers/batch_norm.hpp"
#include "strata/layers/depthwise_conv.hpp"
#include "strata/layers/dropout.hpp"
#include "strata/layers/global_avg_pool.hpp"
#include "strata/layers/relu6.hpp"
#include "strata/layers/softmax_cross_entropy.hpp"
#include "strata/net/model.hpp"
#include "strata/net/summary.hpp"
#include "strata/train/loss_scaling.hpp"
#include "strata/train/sgd.hpp"
#include "strata/zoo/fashion_net.hpp"
#include "strata/zoo/resnet.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::random_tensor;
using gpu = strata::cuda;  // (unqualified `cuda` may meet libcu++'s ::cuda namespace)

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
