// ONNX import into compile-time networks: a small committed export (tests/io/fixtures/tiny_cnn:
// grouped convolution, batch norm, Clip as ReLU6, pools, Gemm) and torchvision's ResNet-18, VGG-16,
// GoogLeNet and AlexNet with random weights, exported by tests/io/make_zoo_onnx.py at test time
// (VGG-16 is too big to commit), must give PyTorch's outputs to 1e-5 relative; a graph that
// differs from the network in one node throws an error naming the node and the layer and leaves
// the model unchanged.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "strata/io/onnx/import.hpp"
#include "strata/net/model.hpp"
#include "strata/zoo/alexnet.hpp"
#include "strata/zoo/googlenet.hpp"
#include "strata/zoo/resnet.hpp"
#include "strata/zoo/vgg16.hpp"
#include "support/fixtures.hpp"
#include "support/autotune_guard.hpp"
#include "support/skip.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

std::filesystem::path zoo_dir() {
  const char* d = std::getenv("STRATA_ONNX_ZOO_DIR");
  return d ? std::filesystem::path(d) : std::filesystem::path(STRATA_ONNX_ZOO_DIR);
}

// The references are PyTorch's forward in float64, rounded once to float32 (make_zoo_onnx.py).
// A float32 forward of either library rounds through 20–60 layers, and Winograd and FFT add their
// transforms' rounding. So the import itself — every weight in its place — is checked by the same
// network in float64, to 1e-6 element-wise; float32 with automatic kept to plain sums of
// products (set_conv_transforms(false)) to 1e-5 of the largest logit, or, where float32
// arithmetic cannot reach that, to PyTorch's own float32 error + 25% (GoogLeNet: PyTorch's float32
// logits are 1.26e-5 off its float64 ones; the file holds them as "logits_float32"); with every
// algorithm allowed, to 5e-5 norm-wise. The plain-sums check takes its algorithms by the rule of
// thumb (im2col, 1×1 GEMM), not by timing: a timed choice may mix in direct, whose summation order
// differs, and GoogLeNet's largest error — the tail of 1000 rounding errors — then moved between
// 1.1e-5 and 1.6e-5 from run to run (norm-wise 9.6e-6 to 1.12e-5), a draw rather than a property.
template <class Net, class T>
void check_zoo_model_in(const std::string& name, bool transforms) {
  const auto onnx_file = zoo_dir() / (name + ".onnx");
  const auto io_file = zoo_dir() / (name + "_io.bin");
  if (!std::filesystem::exists(onnx_file) || !std::filesystem::exists(io_file)) {
    testing::skip_test(onnx_file.string() + " is missing: tests/io/make_zoo_onnx.py writes it (needs python3-torch and "
                       "python3-torchvision, which scripts/setup --pretrained installs)");
    return;
  }
  const testing::fixture io(name, io_file.string());
  const auto& x = io.at("input");
  const auto& y = io.at("logits");
  const testing::transforms_guard algorithms(transforms);
  const testing::autotune_guard timed(transforms);
  auto model = std::make_unique<Model<Net, T>>(1);
  onnx::import_model(*model, onnx_file);
  const std::int64_t n = x.dims.at(0);
  Tensor<T, 2> input(Shape{n, Net::input_shape::elements});
  REQUIRE(std::int64_t(x.values.size()) == input.size());
  std::copy(x.values.begin(), x.values.end(), input.data());
  const auto out = model->forward(input.view());
  REQUIRE(out.size() == std::int64_t(y.values.size()));
  const double err = testing::error_relative_to_largest(out.data(), y.values.data(), y.values.size()),
               norm = testing::normwise_error(out.data(), y.values.data(), y.values.size());
  INFO(name << " (" << (sizeof(T) == 4 ? "float32" : "float64") << (transforms ? ", all algorithms" : ", no transforms")
            << "): largest error relative to the largest output " << err << ", norm-wise " << norm);
  std::printf("%-10s %-8s %-15s largest error / largest logit %.2e, norm-wise %.2e\n", name.c_str(),
              sizeof(T) == 4 ? "float32" : "float64", transforms ? "all algorithms" : "no transforms", err, norm);
  if constexpr (sizeof(T) == 4) {
    if (transforms) {
      CHECK(norm <= 5e-5);
    } else {
      const auto& torch32 = io.at("logits_float32").values;
      const double torch_err = testing::error_relative_to_largest(torch32.data(), y.values.data(), y.values.size());
      INFO("PyTorch's own float32 forward: " << torch_err);
      CHECK(err <= std::max(1e-5, 1.25 * torch_err));
    }
  } else {
    CHECK(err <= 1e-6);
  }
}

template <class Net>
void check_zoo_model(const std::string& name) {
  check_zoo_model_in<Net, float>(name, false);
  check_zoo_model_in<Net, float>(name, true);
  check_zoo_model_in<Net, double>(name, true);
}

using TinyCNN = Sequential<Input<3, 16, 16>, Conv<8, Stride<2>, Pad<1>>, BatchNormalization<0.1, 0.001>, ReLU6,
                           MaxPool<2>, Conv<8, Pad<1>, Groups<4>>, ReLU, GlobalAvgPool, Dense<5>>;

const std::string fixture_dir = std::string(STRATA_SOURCE_TEST_DIR) + "/io/fixtures";

template <class Net>
std::vector<float> parameters_of(Model<Net, float>& m) {
  std::vector<float> v;
  m.visit_parameters([&](const auto& p) { v.insert(v.end(), p.value.data(), p.value.data() + p.value.size()); });
  m.visit_state([&](const std::string&, TensorView<float, 1> s) { v.insert(v.end(), s.data(), s.data() + s.size()); });
  return v;
}

// The import error for network Net and the tiny export; the model must be unchanged by it.
template <class Net>
std::string tiny_import_error() {
  Model<Net, float> model(1);
  const auto before = parameters_of(model);
  std::string message;
  try {
    onnx::import_model(model, fixture_dir + "/tiny_cnn.onnx");
  } catch (const onnx::import_error& e) {
    message = e.what();
  }
  CHECK(parameters_of(model) == before);
  return message;
}

}  // namespace

TEST_CASE("a small PyTorch export imports into its network and gives PyTorch's logits", "[onnx]") {
  const testing::fixture ref("tiny_cnn", fixture_dir + "/tiny_cnn.bin");
  Model<TinyCNN, float> model(1);
  onnx::import_model(model, fixture_dir + "/tiny_cnn.onnx");
  // Weights by name, exactly; the Gemm weight is [out, in] as strata's Dense.
  model.visit_parameters([&](const auto& p) {
    static const std::map<std::string, std::string> torch_name = {
        {"0.weight", "conv1.weight"}, {"0.bias", "conv1.bias"}, {"1.gamma", "bn1.weight"}, {"1.beta", "bn1.bias"},
        {"4.weight", "conv2.weight"}, {"4.bias", "conv2.bias"}, {"7.weight", "fc.weight"}, {"7.bias", "fc.bias"}};
    INFO(p.name);
    const auto& want = ref.at(torch_name.at(p.name)).values;
    CHECK(std::vector<float>(p.value.data(), p.value.data() + p.value.size()) == want);
  });
  const auto& x = ref.at("input");
  Tensor<float, 2> input(Shape{x.dims.at(0), TinyCNN::input_shape::elements});
  std::copy(x.values.begin(), x.values.end(), input.data());
  const auto out = model.forward(input.view());
  const auto& logits = ref.at("logits").values;
  const double err = testing::error_relative_to_largest(out.data(), logits.data(), logits.size());
  INFO("largest error relative to the largest logit: " << err);
  CHECK(err <= 1e-5);
}

// TinyCNN with one difference each.
using GroupsDiffer = Sequential<Input<3, 16, 16>, Conv<8, Stride<2>, Pad<1>>, BatchNormalization<0.1, 0.001>, ReLU6,
                                MaxPool<2>, Conv<8, Pad<1>, Groups<2>>, ReLU, GlobalAvgPool, Dense<5>>;
using EpsilonDiffers = Sequential<Input<3, 16, 16>, Conv<8, Stride<2>, Pad<1>>, BatchNorm, ReLU6, MaxPool<2>,
                                  Conv<8, Pad<1>, Groups<4>>, ReLU, GlobalAvgPool, Dense<5>>;
using ActivationDiffers = Sequential<Input<3, 16, 16>, Conv<8, Stride<2>, Pad<1>>, BatchNormalization<0.1, 0.001>, ReLU,
                                     MaxPool<2>, Conv<8, Pad<1>, Groups<4>>, ReLU, GlobalAvgPool, Dense<5>>;
using HeadDiffers = Sequential<Input<3, 16, 16>, Conv<8, Stride<2>, Pad<1>>, BatchNormalization<0.1, 0.001>, ReLU6,
                               MaxPool<2>, Conv<8, Pad<1>, Groups<4>>, ReLU, GlobalAvgPool, Dense<6>>;
using LayerTooMany = Sequential<Input<3, 16, 16>, Conv<8, Stride<2>, Pad<1>>, BatchNormalization<0.1, 0.001>, ReLU6,
                                MaxPool<2>, Conv<8, Pad<1>, Groups<4>>, ReLU, GlobalAvgPool, Dense<5>, ReLU>;
using LayerTooFew = Sequential<Input<3, 16, 16>, Conv<8, Stride<2>, Pad<1>>, BatchNormalization<0.1, 0.001>, ReLU6,
                               MaxPool<2>, Conv<8, Pad<1>, Groups<4>>, ReLU, GlobalAvgPool>;
using InputDiffers = Sequential<Input<3, 32, 32>, Conv<8, Stride<2>, Pad<1>>, BatchNormalization<0.1, 0.001>, ReLU6,
                                MaxPool<2>, Conv<8, Pad<1>, Groups<4>>, ReLU, GlobalAvgPool, Dense<5>>;

TEST_CASE("a network that differs from a small export is refused, naming node, layer and difference", "[onnx]") {
  CHECK_THAT(tiny_import_error<GroupsDiffer>(),
             Catch::Contains("(Conv) does not match layer 4") && Catch::Contains("group is 4, the layer has 2"));
  CHECK_THAT(tiny_import_error<EpsilonDiffers>(),
             Catch::Contains("(BatchNormalization) does not match layer 1") && Catch::Contains("epsilon is 0.001"));
  CHECK_THAT(tiny_import_error<ActivationDiffers>(),
             Catch::Contains("(Clip) does not match layer 2") && Catch::Contains("expected Relu, the graph has Clip"));
  CHECK_THAT(tiny_import_error<HeadDiffers>(),
             Catch::Contains("(Gemm) does not match layer 7") && Catch::Contains("fc.weight' is [5, 8], 7.weight needs [6, 8]"));
  CHECK_THAT(tiny_import_error<LayerTooMany>(), Catch::Contains("layer 8") && Catch::Contains("no node reading"));
  CHECK_THAT(tiny_import_error<LayerTooFew>(),
             Catch::Contains("(Gemm)") && Catch::Contains("the network ends here, the graph goes on"));
  CHECK_THAT(tiny_import_error<InputDiffers>(), Catch::Contains("input 'input' is [-1, 3, 16, 16], the network takes"));
}

TEST_CASE("torchvision's ResNet-18 imported from ONNX matches PyTorch", "[onnx][zoo]") { check_zoo_model<zoo::ResNet18<>>("resnet18"); }
TEST_CASE("torchvision's GoogLeNet imported from ONNX matches PyTorch", "[onnx][zoo]") { check_zoo_model<zoo::GoogLeNet<>>("googlenet"); }
TEST_CASE("torchvision's AlexNet imported from ONNX matches PyTorch", "[onnx][zoo]") {
  check_zoo_model<zoo::TorchvisionAlexNet<>>("alexnet");
}
TEST_CASE("torchvision's VGG-16 imported from ONNX matches PyTorch", "[onnx][zoo]") { check_zoo_model<zoo::VGG16<>>("vgg16"); }

TEST_CASE("a network that differs from the graph in one node is refused, naming node and layer", "[onnx][zoo]") {
  const auto onnx_file = zoo_dir() / "resnet18.onnx";
  if (!std::filesystem::exists(onnx_file)) {
    testing::skip_test(onnx_file.string() + " is missing (tests/io/make_zoo_onnx.py)");
    return;
  }
  // ResNet-18 with one 3×3 convolution in the third stage made 5×5.
  using Wrong = Sequential<Input<3, 224, 224>, zoo::ResNetStem, Repeat<2, BasicBlock<64>, ReLU>, BasicBlock<128, 2>, ReLU,
                           BasicBlock<128>, ReLU, Residual<Conv<256, Kernel<5>, Stride<2>, Pad<2>, NoBias>, BatchNorm, ReLU,
                                                           Conv<256, Kernel<3>, Pad<1>, NoBias>, BatchNorm>,
                           ReLU, BasicBlock<256>, ReLU, BasicBlock<512, 2>, ReLU, BasicBlock<512>, ReLU, GlobalAvgPool, Dense<1000>>;
  auto model = std::make_unique<Model<Wrong, float>>(1);
  std::vector<float> before;
  model->visit_parameters([&](const auto& p) { before.insert(before.end(), p.value.data(), p.value.data() + p.value.size()); });
  try {
    onnx::import_model(*model, onnx_file);
    FAIL("the import should have failed");
  } catch (const onnx::import_error& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("(Conv)") != std::string::npos);
    CHECK(m.find("layer 6.block.0") != std::string::npos);
    CHECK(m.find("kernel_shape is [3, 3], the layer has [5, 5]") != std::string::npos);
  }
  std::vector<float> after;
  model->visit_parameters([&](const auto& p) { after.insert(after.end(), p.value.data(), p.value.data() + p.value.size()); });
  CHECK(after == before);
}
