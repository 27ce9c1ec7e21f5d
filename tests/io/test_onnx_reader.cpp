// The ONNX reader: a file PyTorch exported (tests/io/make_onnx_fixtures.py) reads back with every
// node, attribute and initializer PyTorch wrote, bit for bit; damaged and hand-made hostile files
// get an onnx_error that names the file, the message and the byte, never a crash.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "strata/io/onnx/model.hpp"
#include "support/fixtures.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

const std::string fixture_dir = std::string(STRATA_SOURCE_TEST_DIR) + "/io/fixtures";

std::vector<std::uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A tiny protobuf writer for hand-made files.
struct writer {
  std::vector<std::uint8_t> bytes;
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      bytes.push_back(std::uint8_t(v | 0x80));
      v >>= 7;
    }
    bytes.push_back(std::uint8_t(v));
  }
  void tag(int field, int wire) { varint(std::uint64_t(field) << 3 | std::uint64_t(wire)); }
  void integer(int field, std::int64_t v) {
    tag(field, 0);
    varint(std::uint64_t(v));
  }
  void bytes_field(int field, const std::vector<std::uint8_t>& b) {
    tag(field, 2);
    varint(b.size());
    bytes.insert(bytes.end(), b.begin(), b.end());
  }
  void string(int field, const std::string& s) { bytes_field(field, std::vector<std::uint8_t>(s.begin(), s.end())); }
  void message(int field, const writer& w) { bytes_field(field, w.bytes); }
};

// A model whose graph has one initializer "w" of dims with `raw` bytes of raw_data.
std::vector<std::uint8_t> model_with_initializer(const std::vector<std::int64_t>& dims, std::size_t raw) {
  writer t, g, m;
  for (auto d : dims) t.integer(1, d);
  t.integer(2, 1);  // float32
  t.string(8, "w");
  t.bytes_field(9, std::vector<std::uint8_t>(raw, 0));
  g.message(5, t);
  m.integer(1, 8);
  m.message(7, g);
  return m.bytes;
}

std::string error_of(const std::vector<std::uint8_t>& bytes) {
  try {
    onnx::parse_model(bytes, "hand.onnx");
  } catch (const onnx::onnx_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a PyTorch export reads back node by node, with its initializers bit for bit", "[onnx]") {
  const auto m = onnx::read_model(fixture_dir + "/tiny_cnn.onnx");
  CHECK(m.opset == 13);
  CHECK(m.producer_name == "pytorch");
  std::vector<std::string> ops;
  for (const auto& n : m.graph.nodes)
    if (n.op_type != "Constant") ops.push_back(n.op_type);
  CHECK(ops == std::vector<std::string>{"Conv", "BatchNormalization", "Clip", "MaxPool", "Conv", "Relu",
                                        "GlobalAveragePool", "Flatten", "Gemm"});
  // The input keeps its symbolic batch.
  REQUIRE(!m.graph.inputs.empty());
  CHECK(m.graph.inputs[0].name == "input");
  CHECK(m.graph.inputs[0].dims == std::vector<std::int64_t>{-1, 3, 16, 16});
  CHECK(m.graph.inputs[0].elem_type == onnx::tensor_type::float32);
  REQUIRE(m.graph.outputs.size() == 1);
  CHECK(m.graph.outputs[0].name == "logits");

  // Attributes as PyTorch wrote them.
  const onnx::node& conv1 = m.graph.nodes.at(0);
  CHECK(conv1.ints("kernel_shape") == std::vector<std::int64_t>{3, 3});
  CHECK(conv1.ints("strides") == std::vector<std::int64_t>{2, 2});
  CHECK(conv1.ints("pads") == std::vector<std::int64_t>{1, 1, 1, 1});
  CHECK(conv1.ints("no_such_list").empty());
  for (const auto& n : m.graph.nodes) {
    if (n.op_type == "BatchNormalization") CHECK(n.f("epsilon") == Approx(1e-3f));
    if (n.op_type == "Conv" && n.inputs.at(1).find("conv2") != std::string::npos) CHECK(n.i("group") == 4);
    if (n.op_type == "Gemm") CHECK(n.i("transB") == 1);
  }
  CHECK_THROWS_WITH(conv1.i("group_size"), Catch::Contains("has no attribute 'group_size'"));
  CHECK_THROWS_WITH(conv1.f("strides"), Catch::Contains("attribute 'strides' is not a float"));

  // Clip's bounds are constants (initializers or Constant nodes), found by name.
  for (const auto& n : m.graph.nodes)
    if (n.op_type == "Clip") {
      REQUIRE(n.inputs.size() == 3);
      const onnx::tensor* lo = m.graph.constant(n.inputs[1]);
      const onnx::tensor* hi = m.graph.constant(n.inputs[2]);
      REQUIRE(lo);
      REQUIRE(hi);
      CHECK(lo->float_values() == std::vector<float>{0.0f});
      CHECK(hi->float_values() == std::vector<float>{6.0f});
    }

  // Every state-dict tensor PyTorch saved is an initializer with the same dims and values.
  const testing::fixture ref("tiny_cnn", fixture_dir + "/tiny_cnn.bin");
  int compared = 0;
  for (const char* name : {"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean",
                           "bn1.running_var", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias"}) {
    INFO(name);
    const onnx::tensor* t = m.graph.initializer(name);
    REQUIRE(t);
    CHECK(t->dims == ref.at(name).dims);
    CHECK(t->float_values() == ref.at(name).values);
    ++compared;
  }
  CHECK(compared == 10);
  CHECK(m.graph.producer(m.graph.outputs[0].name)->op_type == "Gemm");
}

TEST_CASE("every truncation of a real file and every damaged byte gives an error, never a crash", "[onnx]") {
  const auto bytes = file_bytes(fixture_dir + "/tiny_cnn.onnx");
  int errors = 0;
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const std::vector<std::uint8_t> prefix(bytes.begin(), bytes.begin() + std::ptrdiff_t(n));
    try {
      const auto m = onnx::parse_model(prefix, "cut.onnx");
      // A cut at a field boundary is a valid, shorter message; it still holds a graph.
      CHECK(!m.graph.nodes.empty());
    } catch (const onnx::onnx_error& e) {
      ++errors;
      CHECK(std::string(e.what()).rfind("cut.onnx: ", 0) == 0);
    }
  }
  CHECK(errors > int(bytes.size()) * 9 / 10);  // almost every cut lands inside a message
  // Each byte in turn set to values that break tags, lengths and varints.
  for (std::size_t i = 0; i < bytes.size(); ++i)
    for (std::uint8_t v : {std::uint8_t(0x00), std::uint8_t(0xff), std::uint8_t(0x7f), std::uint8_t(bytes[i] ^ 0x55)}) {
      auto damaged = bytes;
      damaged[i] = v;
      try {
        const auto m = onnx::parse_model(damaged, "damaged.onnx");
        for (const auto& t : m.graph.initializers)
          if (t.is_floating()) CHECK(std::int64_t(t.float_values().size()) == t.element_count());
      } catch (const onnx::onnx_error&) {
      }
    }
}

TEST_CASE("hand-made hostile files name what is wrong", "[onnx]") {
  CHECK(error_of(model_with_initializer({2, 3}, 24)).empty());
  CHECK_THAT(error_of(model_with_initializer({2, 3}, 20)),
             Catch::Contains("TensorProto 'w'") && Catch::Contains("raw_data has 20 bytes, its dims need 24"));
  CHECK_THAT(error_of(model_with_initializer({2, -3}, 0)), Catch::Contains("negative dimension -3"));
  CHECK_THAT(error_of(model_with_initializer({1ll << 40, 1ll << 40}, 0)), Catch::Contains("its dims overflow"));

  // A length that runs past the end of its message.
  writer m;
  m.tag(7, 2);
  m.varint(1000);
  m.bytes.push_back(0);
  CHECK_THAT(error_of(m.bytes), Catch::Contains("hand.onnx: ModelProto field 7 at byte 1") &&
                                    Catch::Contains("runs past the end"));
  // A deprecated group.
  writer g;
  g.tag(3, 3);
  CHECK_THAT(error_of(g.bytes), Catch::Contains("deprecated protobuf group"));
  // No graph at all.
  writer empty;
  empty.integer(1, 8);
  CHECK_THAT(error_of(empty.bytes), Catch::Contains("not an ONNX model"));
  // Weights in an external file.
  writer t, gr, model;
  t.integer(1, 1);
  t.integer(2, 1);
  t.string(8, "w_external");
  t.integer(14, 1);
  gr.message(5, t);
  model.message(7, gr);
  CHECK_THAT(error_of(model.bytes), Catch::Contains("'w_external'") && Catch::Contains("external file"));
  // A node with no op_type.
  writer node, gn, mn;
  node.string(3, "nameless");
  node.string(2, "y");
  gn.message(1, node);
  mn.message(7, gn);
  CHECK_THAT(error_of(mn.bytes), Catch::Contains("NodeProto 'nameless'") && Catch::Contains("no op_type"));

  CHECK_THROWS_WITH(onnx::read_model("/nonexistent/model.onnx"), Catch::Contains("cannot open the ONNX file"));
  // An integer tensor asked for floats names itself.
  onnx::tensor ints;
  ints.name = "shape";
  ints.data_type = onnx::tensor_type::int64;
  ints.dims = {2};
  ints.integers = {1, -1};
  CHECK(ints.int_values() == std::vector<std::int64_t>{1, -1});
  CHECK_THROWS_WITH(ints.float_values(), Catch::Contains("'shape' holds int64 values"));
}
