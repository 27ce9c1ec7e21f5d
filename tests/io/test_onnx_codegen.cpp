// strata-onnx2cpp: the network types it wrote at build time (tests/CMakeLists.txt runs it on the
// committed exports) compile, accept the same files' weights and give PyTorch's logits — one of
// them with identity and projection shortcuts, a three-branch concat, an asymmetric zero pad and
// a depthwise convolution; graphs it cannot write get an error naming the node.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "generated/tiny_branches_network.hpp"
#include "generated/tiny_cnn_network.hpp"
#include "strata/io/onnx/codegen.hpp"
#include "strata/net/model.hpp"
#include "support/fixtures.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

const std::string fixture_dir = std::string(STRATA_SOURCE_TEST_DIR) + "/io/fixtures";

template <class Net>
double import_and_compare(const std::string& name) {
  const testing::fixture ref(name, fixture_dir + "/" + name + ".bin");
  Model<Net, float> model(1);
  onnx::import_model(model, fixture_dir + "/" + name + ".onnx");
  const auto& x = ref.at("input");
  Tensor<float, 2> input(Shape{x.dims.at(0), Net::input_shape::elements});
  std::copy(x.values.begin(), x.values.end(), input.data());
  const auto out = model.forward(input.view());
  const auto& want = ref.at("logits").values;
  REQUIRE(out.size() == std::int64_t(want.size()));
  return testing::error_relative_to_largest(out.data(), want.data(), want.size());
}

onnx::node make_node(std::string op, std::vector<std::string> in, std::vector<std::string> out) {
  onnx::node n;
  n.name = "n_" + op;
  n.op_type = std::move(op);
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

std::string codegen_error(onnx::graph g) {
  g.index();
  try {
    onnx::network_type(g);
  } catch (const onnx::onnx_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("generated network types import their exports and give PyTorch's logits", "[onnx]") {
  CHECK(import_and_compare<generated::TinyCNN>("tiny_cnn") <= 1e-5);
  CHECK(import_and_compare<generated::TinyBranches>("tiny_branches") <= 1e-5);
}

TEST_CASE("graphs strata cannot write as a type are named by node", "[onnx]") {
  onnx::graph g;
  g.inputs.push_back({"x", onnx::tensor_type::float32, {-1, 3, 8, 8}});
  g.outputs.push_back({"y", onnx::tensor_type::float32, {}});
  g.nodes.push_back(make_node("Softmax", {"x"}, {"y"}));
  CHECK_THAT(codegen_error(g), Catch::Contains("node #0 'n_Softmax' (Softmax): an operation strata has no layer for"));

  onnx::graph symbolic = g;
  symbolic.inputs[0].dims = {-1, 3, -1, -1};
  CHECK_THAT(codegen_error(symbolic), Catch::Contains("symbolic or unknown size"));

  onnx::graph dilated;
  dilated.inputs.push_back({"x", onnx::tensor_type::float32, {1, 3, 8, 8}});
  dilated.outputs.push_back({"y", onnx::tensor_type::float32, {}});
  onnx::tensor w;
  w.name = "w";
  w.dims = {4, 3, 3, 3};
  w.data_type = onnx::tensor_type::float32;
  w.floats.assign(108, 0.0f);
  dilated.initializers.push_back(w);
  onnx::node conv = make_node("Conv", {"x", "w"}, {"y"});
  onnx::attribute d;
  d.name = "dilations";
  d.type = onnx::attribute_type::ints;
  d.ints = {2, 2};
  conv.attributes.push_back(d);
  dilated.nodes.push_back(conv);
  CHECK_THAT(codegen_error(dilated), Catch::Contains("(Conv): a dilated convolution"));
  dilated.nodes[0].attributes.clear();
  CHECK(codegen_error(dilated).empty());
}
