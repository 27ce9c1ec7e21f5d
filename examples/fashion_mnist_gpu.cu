// The demo network (examples/fashion_mnist.cpp) on the GPU. First the same model is built on the
// CPU and the GPU from one seed and both take the same first SGD steps, compared step by step;
// then the GPU model trains with fit() (batches through pinned buffers and a copy stream), is
// evaluated, saved, and the file is loaded into a CPU model that must score the same.
//
//   fashion_mnist_gpu [--data DIR] [--epochs N] [--batch N] [--lr X] [--compare-steps N] [--out FILE]
//
// Exit status: 0 when the first steps agree to 1e-4 and the run learned (≥ 80 % test accuracy
// after one epoch), 77 without a GPU or the data set (the test suite's skip), 1 otherwise.
#include <strata/cuda.hpp>
#include <strata/data/idx.hpp>
#include <strata/io/model_file.hpp>
#include <strata/layers/softmax_cross_entropy.hpp>
#include <strata/net/model.hpp>
#include <strata/train/fit.hpp>
#include <strata/train/schedule.hpp>
#include <strata/train/sgd.hpp>
#include <strata/zoo/fashion_net.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

using namespace strata;
using gpu = strata::cuda;
using FashionNet = zoo::FashionNet<>;

namespace {

double largest_relative_difference(const float* a, const float* b, std::int64_t n) {
  double worst = 0, scale = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return scale > 0 ? worst / scale : worst;
}

template <class M>
std::vector<float> parameters_of(M& model) {
  std::vector<float> v;
  model.visit_parameters([&](const auto& p) {
    Tensor<float, 1> h(p.value.size());
    copy(p.value, h);
    v.insert(v.end(), h.data(), h.data() + h.size());
  });
  return v;
}

// The first `steps` SGD steps of the CPU and the GPU model on the same batches, at the training
// schedule's rates: the largest difference of logits and of parameters, relative to the largest
// value, over all steps.
template <class Schedule>
double compare_first_steps(const data::labelled_images& train_set, int steps, std::int64_t batch, const Schedule& schedule) {
  Model<FashionNet, float> cpu_model(1);
  Model<FashionNet, float, gpu> gpu_model(1);
  train::SGD<float> cpu_sgd({.momentum = 0.9, .weight_decay = 5e-4, .nesterov = true});
  train::SGD<float, gpu> gpu_sgd({.momentum = 0.9, .weight_decay = 5e-4, .nesterov = true});
  double worst = 0;
  std::printf("\nthe first %d steps on the CPU and on the GPU, from the same weights:\n", steps);
  for (int step = 0; step < steps; ++step) {
    const std::int64_t first = std::int64_t(step) * batch;
    Tensor<float, 2> x(Shape{batch, FashionNet::input_shape::elements});
    Tensor<std::int32_t, 1> y(batch);
    std::copy(train_set.images.data() + first * x.extent(1), train_set.images.data() + (first + batch) * x.extent(1), x.data());
    for (std::int64_t i = 0; i < batch; ++i) y(i) = train_set.labels(first + i);
    const auto gx = to_device(x);
    const auto gy = to_device(y);
    const auto out = cpu_model.forward(x.view(), true);
    const auto gout = gpu_model.forward(gx.view(), true);
    const auto hout = to_host(gout);
    Tensor<float, 2> dy(out.shape());
    Tensor<float, 2, gpu> gdy(out.shape());
    const loss_result l = SoftmaxCrossEntropy::evaluate<float>(out, y.view(), dy.view());
    const loss_result gl = SoftmaxCrossEntropy::evaluate<float>(gout, gy.view(), gdy.view());
    cpu_model.backward(dy.view());
    gpu_model.backward(gdy.view());
    cpu_sgd.step(cpu_model, schedule(step));
    gpu_sgd.step(gpu_model, schedule(step));
    const auto p = parameters_of(cpu_model), gp = parameters_of(gpu_model);
    const double d_out = largest_relative_difference(hout.data(), out.data(), out.size());
    const double d_par = largest_relative_difference(gp.data(), p.data(), std::int64_t(p.size()));
    std::printf("  step %d (rate %.2e): loss CPU %.6f GPU %.6f; logits differ by %.1e, parameters after the step by %.1e\n",
                step + 1, schedule(step), l.loss, gl.loss, d_out, d_par);
    worst = std::max({worst, d_out, d_par});
  }
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path data_dir = data::default_fashion_mnist_dir, out = "fashion_mnist_gpu.strata";
  int epochs = 1, compare_steps = 20;
  std::int64_t batch = 64;
  double lr = 0.05;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* what) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fashion_mnist_gpu: %s needs a value\n", what);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--data") data_dir = value("--data");
    else if (a == "--epochs") epochs = std::stoi(value("--epochs"));
    else if (a == "--batch") batch = std::stoll(value("--batch"));
    else if (a == "--lr") lr = std::stod(value("--lr"));
    else if (a == "--compare-steps") compare_steps = std::stoi(value("--compare-steps"));
    else if (a == "--out") out = value("--out");
    else {
      std::fprintf(stderr, "usage: %s [--data DIR] [--epochs N] [--batch N] [--lr X] [--compare-steps N] [--out FILE]\n", argv[0]);
      return 2;
    }
  }
  if (cuda_runtime::device_count() == 0) {
    std::printf("SKIPPED: %s\n", cuda_runtime::unavailable_reason().c_str());
    return 77;
  }
  std::printf("GPU: %s\n", cuda_runtime::describe(cuda_runtime::current_device()).c_str());

  data::labelled_images train_set, test_set;
  try {
    train_set = data::load_fashion_mnist(data_dir, data::split::train);
    test_set = data::load_fashion_mnist(data_dir, data::split::test);
  } catch (const data::data_error& e) {
    std::cerr << "cannot read Fashion-MNIST: " << e.what() << "\n(pass --data DIR)\n";
    return 77;
  }

  // The demo's schedule: half an epoch of linear warm-up, then a cosine decay to zero.
  const std::int64_t steps_per_epoch = train::steps_per_epoch(train_set.images.extent(0), batch);
  const auto schedule = train::warmup(steps_per_epoch / 2, train::cosine(lr, epochs * steps_per_epoch));
  const double worst = compare_first_steps(train_set, compare_steps, batch, schedule);
  std::printf("largest difference over the first %d steps: %.1e (bound 1e-4)\n", compare_steps, worst);

  Model<FashionNet, float, gpu> model(1);
  train::SGD<float, gpu> sgd({.momentum = 0.9, .weight_decay = 5e-4, .nesterov = true});
  train::fit_options options{.epochs = epochs, .batch_size = batch, .shuffle = true, .shuffle_seed = 7};
  double images_per_second = 0, accuracy = 0;
  train::fit(model, train_set, sgd, schedule, options, &test_set, [&](const train::epoch_report& r) {
    std::printf("epoch %d on the GPU: train loss %.4f, train accuracy %.2f%%, test accuracy %.2f%%, %.0f images/s\n", r.epoch,
                r.train_loss, 100 * r.train_accuracy, 100 * r.test_accuracy, r.images_per_second);
    images_per_second = r.images_per_second;
    accuracy = r.test_accuracy;
  });

  save_model(model, out);
  Model<FashionNet, float> on_cpu(12345);
  load_model(on_cpu, out);
  const auto check = train::evaluate(on_cpu, test_set);
  std::printf("saved from the GPU, loaded on the CPU: test accuracy %.2f%% (GPU %.2f%%)\n", 100 * check.accuracy, 100 * accuracy);
  const bool ok = worst <= 1e-4 && accuracy >= 0.8 && std::abs(check.accuracy - accuracy) <= 0.002;
  std::printf("RESULT gpu_vs_cpu_first_steps=%.2e train_img_s=%.0f test_accuracy=%.4f\n", worst, images_per_second, accuracy);
  return ok ? 0 : 1;
}
