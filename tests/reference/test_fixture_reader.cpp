// The fixture reader loads the committed PyTorch references, and what it reads is consistent.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/fixtures.hpp"

using strata::testing::fixture;
using Dims = std::vector<std::int64_t>;

TEST_CASE("fixture: conv_3x3_pad1 has the expected tensors and shapes", "[fixtures]") {
  const fixture f("conv_3x3_pad1");
  CHECK(f.names() == std::vector<std::string>{"input", "weight", "bias", "output", "grad_output", "grad_input",
                                              "grad_weight", "grad_bias"});
  CHECK(f.at("input").dims == Dims{2, 3, 7, 6});
  CHECK(f.at("weight").dims == Dims{4, 3, 3, 3});
  CHECK(f.at("bias").dims == Dims{4});
  CHECK(f.at("output").dims == Dims{2, 4, 7, 6});  // pad 1 keeps 7x6
  CHECK(f.at("grad_output").dims == f.at("output").dims);
  CHECK(f.at("grad_input").dims == f.at("input").dims);
  CHECK(f.at("grad_weight").dims == f.at("weight").dims);
  CHECK(f.at("grad_bias").dims == f.at("bias").dims);
  for (const auto& name : f.names())
    CHECK(static_cast<std::int64_t>(f.at(name).values.size()) == f.at(name).size());

  // Recompute a few output elements (a corner, where padding matters, and an interior one)
  // and grad_bias from the stored tensors: row-major layout and the conv convention agree.
  const auto& x = f.at("input").values;
  const auto& w = f.at("weight").values;
  const auto& b = f.at("bias").values;
  const auto& out = f.at("output").values;
  auto conv_at = [&](int n, int fo, int oy, int ox) {
    double acc = b[fo];
    for (int c = 0; c < 3; ++c)
      for (int r = 0; r < 3; ++r)
        for (int s = 0; s < 3; ++s) {
          const int iy = oy - 1 + r, ix = ox - 1 + s;
          if (iy < 0 || iy >= 7 || ix < 0 || ix >= 6) continue;
          acc += double(x[((n * 3 + c) * 7 + iy) * 6 + ix]) * double(w[((fo * 3 + c) * 3 + r) * 3 + s]);
        }
    return acc;
  };
  auto out_at = [&](int n, int fo, int oy, int ox) { return double(out[((n * 4 + fo) * 7 + oy) * 6 + ox]); };
  CHECK(out_at(0, 0, 0, 0) == Approx(conv_at(0, 0, 0, 0)).epsilon(1e-5).margin(1e-6));
  CHECK(out_at(1, 3, 6, 5) == Approx(conv_at(1, 3, 6, 5)).epsilon(1e-5).margin(1e-6));
  CHECK(out_at(1, 2, 3, 2) == Approx(conv_at(1, 2, 3, 2)).epsilon(1e-5).margin(1e-6));
  const auto& g = f.at("grad_output").values;
  for (int fo = 0; fo < 4; ++fo) {
    double sum = 0;
    for (int n = 0; n < 2; ++n)
      for (int i = 0; i < 7 * 6; ++i) sum += g[(n * 4 + fo) * 42 + i];
    CHECK(f.at("grad_bias").values[fo] == Approx(sum).epsilon(1e-5).margin(1e-6));
  }
  // grad_output is random normal, not ones.
  CHECK(std::any_of(g.begin(), g.end(), [](float v) { return v < 0; }));
}

TEST_CASE("fixture: softmax_cross_entropy loss and gradient", "[fixtures]") {
  const fixture f("softmax_cross_entropy");
  const auto& logits = f.at("logits");
  const auto& labels = f.at("labels");
  REQUIRE(logits.dims == Dims{5, 7});
  REQUIRE(labels.dims == Dims{5});
  REQUIRE(f.at("loss").dims == Dims{1});
  REQUIRE(f.at("grad_logits").dims == logits.dims);
  CHECK(f.at("loss").values[0] > 0);
  CHECK(*std::max_element(logits.values.begin(), logits.values.end()) == 40.0f);
  CHECK(*std::min_element(logits.values.begin(), logits.values.end()) == -40.0f);

  double loss = 0;
  for (int n = 0; n < 5; ++n) {
    const float label = labels.values[n];
    REQUIRE(label == std::floor(label));
    REQUIRE(label >= 0);
    REQUIRE(label < 7);
    const float* row = logits.values.data() + n * 7;
    const double m = *std::max_element(row, row + 7);
    double z = 0, grad_sum = 0;
    for (int k = 0; k < 7; ++k) z += std::exp(double(row[k]) - m);
    for (int k = 0; k < 7; ++k) grad_sum += f.at("grad_logits").values[n * 7 + k];
    loss += std::log(z) + m - row[static_cast<int>(label)];
    CHECK(grad_sum == Approx(0).margin(1e-6));  // softmax - one_hot sums to zero per row
  }
  CHECK(f.at("loss").values[0] == Approx(loss / 5).epsilon(1e-6));
}

TEST_CASE("fixture: residual_net uses strata's parameter paths", "[fixtures]") {
  const fixture f("residual_net");
  CHECK(f.at("input").dims == Dims{4, 4, 8, 8});
  CHECK(f.at("3.block.0.weight").dims == Dims{8, 8, 3, 3});
  CHECK(f.at("5.projection.weight").dims == Dims{16, 8, 1, 1});
  CHECK(f.at("5.projection_bn.gamma").dims == Dims{16});
  CHECK(f.at("grad_5.block.0.weight").dims == Dims{16, 8, 3, 3});
  CHECK(f.at("8.weight").dims == Dims{5, 16});
  CHECK(f.at("logits").dims == Dims{4, 5});
  CHECK(f.has("5.projection_bn.running_var_out"));
  CHECK_FALSE(f.has("5.projection.bias"));
  for (const auto& name : f.names())
    if (name.rfind("grad_", 0) == 0 && name != "grad_input" && name != "grad_logits")
      CHECK(f.at(name).dims == f.at(name.substr(5)).dims);
}

TEST_CASE("fixture: errors name the case and the tensor", "[fixtures]") {
  const fixture f("mse");
  CHECK_FALSE(f.has("output"));
  try {
    (void)f.at("output");
    FAIL("at() did not throw");
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("'mse'") != std::string::npos);
    CHECK(msg.find("'output'") != std::string::npos);
    CHECK(msg.find("predictions") != std::string::npos);  // lists what is there
  }
  CHECK_THROWS_WITH(fixture("no_such_case"), Catch::Contains("no_such_case") && Catch::Contains("cannot open"));
}
