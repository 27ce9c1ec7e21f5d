// PyTorch state dicts by name: the committed tiny export's state dict (tests/io/fixtures, written
// by make_onnx_fixtures.py) goes into the same network in definition order or through an explicit
// name map and gives PyTorch's logits; mismatched models and damaged files are refused with the
// entry and the parameter named, and the model is left unchanged.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "strata/io/state_dict.hpp"
#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/global_avg_pool.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/layers/relu6.hpp"
#include "strata/net/model.hpp"
#include "strata/net/sequential.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

const std::string fixture = std::string(STRATA_SOURCE_TEST_DIR) + "/io/fixtures/tiny_cnn.bin";

using TinyCNN = Sequential<Input<3, 16, 16>, Conv<8, Stride<2>, Pad<1>>, BatchNormalization<0.1, 0.001>, ReLU6,
                           MaxPool<2>, Conv<8, Pad<1>, Groups<4>>, ReLU, GlobalAvgPool, Dense<5>>;

// The fixture's state dict without the input and logits stored beside it.
state_dict weights_only() {
  auto d = read_state_dict(fixture);
  std::erase_if(d, [](const state_dict_entry& e) { return e.name == "input" || e.name == "logits"; });
  return d;
}
const state_dict_entry& entry(const state_dict& d, const std::string& name) {
  return *std::find_if(d.begin(), d.end(), [&](const auto& e) { return e.name == name; });
}

template <class Net>
std::vector<float> values_of(Model<Net, float>& m) {
  std::vector<float> v;
  m.visit_parameters([&](const auto& p) { v.insert(v.end(), p.value.data(), p.value.data() + p.value.size()); });
  m.visit_state([&](const std::string&, TensorView<float, 1> s) { v.insert(v.end(), s.data(), s.data() + s.size()); });
  return v;
}

double logits_error(Model<TinyCNN, float>& model) {
  const auto all = read_state_dict(fixture);
  const auto& x = entry(all, "input");
  const auto& want = entry(all, "logits").values;
  Tensor<float, 2> input(Shape{x.dims.at(0), TinyCNN::input_shape::elements});
  std::copy(x.values.begin(), x.values.end(), input.data());
  const auto out = model.forward(input.view());
  return testing::error_relative_to_largest(out.data(), want.data(), want.size());
}

template <class Net>
std::string import_error(const state_dict& d, const state_dict_names& names = {}) {
  Model<Net, float> model(1);
  const auto before = values_of(model);
  std::string message;
  try {
    import_state_dict(model, d, names, "tiny.bin");
  } catch (const state_dict_error& e) {
    message = e.what();
  }
  CHECK(values_of(model) == before);
  return message;
}

}  // namespace

TEST_CASE("a PyTorch state dict goes into the same network in definition order", "[state_dict]") {
  Model<TinyCNN, float> model(1);
  import_state_dict(model, weights_only());
  const auto d = weights_only();
  model.visit_parameters([&](const auto& p) {
    if (p.name == "1.gamma") CHECK(std::vector<float>(p.value.data(), p.value.data() + p.value.size()) == entry(d, "bn1.weight").values);
    if (p.name == "7.weight") CHECK(std::vector<float>(p.value.data(), p.value.data() + p.value.size()) == entry(d, "fc.weight").values);
  });
  model.visit_state([&](const std::string& name, TensorView<float, 1> v) {
    if (name == "1.running_var") CHECK(std::vector<float>(v.data(), v.data() + v.size()) == entry(d, "bn1.running_var").values);
  });
  CHECK(logits_error(model) <= 1e-5);
}

TEST_CASE("a PyTorch state dict goes in through an explicit name map", "[state_dict]") {
  const state_dict_names names = {
      {"0.weight", "conv1.weight"}, {"0.bias", "conv1.bias"}, {"1.gamma", "bn1.weight"}, {"1.beta", "bn1.bias"},
      {"1.running_mean", "bn1.running_mean"}, {"1.running_var", "bn1.running_var"}, {"4.weight", "conv2.weight"},
      {"4.bias", "conv2.bias"}, {"7.weight", "fc.weight"}, {"7.bias", "fc.bias"}};
  Model<TinyCNN, float> model(1);
  import_state_dict(model, weights_only(), names);
  CHECK(logits_error(model) <= 1e-5);

  auto wrong = names;
  wrong[2].second = "bn1.bias";  // gamma from a bias
  CHECK_THAT(import_error<TinyCNN>(weights_only(), wrong),
             Catch::Contains("'bn1.bias' [8] does not match 1.gamma: a bias where the model has a weight"));
  wrong = names;
  wrong.pop_back();
  CHECK_THAT(import_error<TinyCNN>(weights_only(), wrong), Catch::Contains("the name map has no entry for 7.bias"));
}

TEST_CASE("a state dict that does not fit the network is refused, naming entry and parameter", "[state_dict]") {
  using WiderHead = Sequential<Input<3, 16, 16>, Conv<8, Stride<2>, Pad<1>>, BatchNormalization<0.1, 0.001>, ReLU6,
                               MaxPool<2>, Conv<8, Pad<1>, Groups<4>>, ReLU, GlobalAvgPool, Dense<6>>;
  CHECK_THAT(import_error<WiderHead>(weights_only()),
             Catch::Contains("tiny.bin: entry #") && Catch::Contains("'fc.weight' [5, 8] does not match 7.weight: 40 values where the model has 48"));
  using NoNorm = Sequential<Input<3, 16, 16>, Conv<8, Stride<2>, Pad<1>>, ReLU6, MaxPool<2>, Conv<8, Pad<1>, Groups<4>>,
                            ReLU, GlobalAvgPool, Dense<5>>;
  CHECK_THAT(import_error<NoNorm>(weights_only()), Catch::Contains("'bn1.weight' [8] does not match 3.weight: 8 values where the model has 144"));
  auto extra = weights_only();
  extra.push_back({"head2.weight", {5}, std::vector<float>(5, 0.0f)});
  CHECK_THAT(import_error<TinyCNN>(extra), Catch::Contains("'head2.weight' and any after it have no counterpart"));
}

TEST_CASE("damaged state-dict files name the byte", "[state_dict]") {
  std::ifstream in(fixture, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto path = std::filesystem::temp_directory_path() / "strata_test_state_dict_cut.bin";
  for (std::size_t n : {std::size_t(0), std::size_t(3), std::size_t(10), std::size_t(40), bytes.size() / 2, bytes.size() - 1}) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(n));
    CHECK_THROWS_AS(read_state_dict(path), state_dict_error);
  }
  std::vector<char> longer = bytes;
  longer.push_back(0);
  std::ofstream(path, std::ios::binary).write(longer.data(), std::streamsize(longer.size()));
  CHECK_THROWS_WITH(read_state_dict(path), Catch::Contains("1 bytes after the last tensor"));
  std::filesystem::remove(path);
  CHECK_THROWS_WITH(read_state_dict("/nonexistent.bin"), Catch::Contains("cannot open the state dict"));
}
