// Networks as types: the seed's arithmetic of stacked, bottleneck and factorised convolutions
// falls out of the parameter and multiply-add counts at compile time; summaries, memory
// estimates and signatures; Model construction, determinism and save/load errors.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/layers/softmax_cross_entropy.hpp"
#include "strata/net/model.hpp"
#include "strata/net/residual.hpp"
#include "strata/net/summary.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace seed_arithmetic {
// C channels in and out, H×W kept by padding, no biases (the seed counts weights only).
constexpr std::int64_t C = 64, H = 56, W = 56;
using In = Input<C, H, W>;
using one_7x7 = Sequential<In, Conv<C, Kernel<7>, Stride<1>, Pad<3>, NoBias>>;
using three_3x3 = Sequential<In, Conv<C, Kernel<3>, Stride<1>, Pad<1>, NoBias>, ReLU, Conv<C, Kernel<3>, Stride<1>, Pad<1>, NoBias>,
                             ReLU, Conv<C, Kernel<3>, Stride<1>, Pad<1>, NoBias>>;
using one_3x3 = Sequential<In, Conv<C, Kernel<3>, Stride<1>, Pad<1>, NoBias>>;
using bottleneck = Sequential<In, Conv<C / 2, Kernel<1>, Stride<1>, Pad<0>, NoBias>, ReLU,
                              Conv<C / 2, Kernel<3>, Stride<1>, Pad<1>, NoBias>, ReLU, Conv<C, Kernel<1>, Stride<1>, Pad<0>, NoBias>>;
using factorised = Sequential<In, Conv<C, Kernel<1, 3>, Stride<1>, Pad<0, 1>, NoBias>, Conv<C, Kernel<3, 1>, Stride<1>, Pad<1, 0>, NoBias>>;

// "A 7×7 conv costs 49·C² weights, three 3×3 cost 27·C²" — and the same receptive field.
static_assert(one_7x7::parameters == 49 * C * C);
static_assert(three_3x3::parameters == 27 * C * C);
static_assert(one_7x7::output_shape::extents == three_3x3::output_shape::extents);
// Multiply-adds: 49·H·W·C² against 27·H·W·C².
static_assert(one_7x7::flops == 49 * H * W * C * C);
static_assert(three_3x3::flops == 27 * H * W * C * C);
// "A 1×1 (C/2) – 3×3 (C/2) – 1×1 (C) bottleneck costs 3.25·C² against 9·C² for a 3×3."
static_assert(4 * bottleneck::parameters == 13 * C * C);
static_assert(one_3x3::parameters == 9 * C * C);
static_assert(4 * bottleneck::flops == 13 * H * W * C * C);
// "A 1×3 then 3×1 pair costs 6·C²."
static_assert(factorised::parameters == 6 * C * C);
static_assert(factorised::flops == 6 * H * W * C * C);
// The library's Bottleneck block adds only batch-norm scales and shifts (2 per channel).
static_assert(Sequential<In, Bottleneck<C / 2, C>>::parameters == 13 * C * C / 4 + 2 * (C / 2 + C / 2 + C));
}  // namespace seed_arithmetic

using SmallNet = Sequential<Input<1, 12, 12>, Conv<4, Kernel<3>, Stride<1>, Pad<1>>, BatchNorm, ReLU, MaxPool<2>,
                            BasicBlock<8, 2>, ReLU, Dense<10>>;

TEST_CASE("shapes, parameters and multiply-adds are compile-time facts", "[net]") {
  STATIC_REQUIRE(std::is_same_v<SmallNet::output_shape, shape<10>>);
  STATIC_REQUIRE(SmallNet::valid);
  // conv 4·9 + 4, bn 8, block: 8·4·9 + 8·8·9 + 2·16 + projection 8·4 + 16, dense 10·8·3·3 + 10
  STATIC_REQUIRE(SmallNet::parameters == 40 + 8 + (288 + 576 + 32 + 32 + 16) + 730);
  const auto rows = summary_rows<SmallNet>();
  REQUIRE(rows.size() == 12);  // 6 layers + residual's 5 block layers + the residual row
  CHECK(rows[0].output == "[4, 12, 12]");
  CHECK(rows[4].description.find("1×1 projection") != std::string::npos);
  CHECK(rows[5].depth == 1);
  std::int64_t total = 0;
  for (const auto& r : rows)
    if (r.depth == 0) total += r.parameters;
  CHECK(total == SmallNet::parameters);
  std::ostringstream out;
  print_summary<SmallNet>(out, 32);
  CHECK(out.str().find("total: 1,722 parameters") != std::string::npos);
  CHECK(out.str().find("training memory at batch 32") != std::string::npos);
}

TEST_CASE("the memory estimate adds parameters, gradients, optimizer state and activations", "[net][memory]") {
  const auto m = memory<SmallNet>(32, precision::fp32, 1);
  CHECK(m.parameters == SmallNet::parameters * 4);
  CHECK(m.gradients == m.parameters);
  CHECK(m.optimizer_state == m.parameters);
  CHECK(m.input == 32 * 144 * 4);
  // Activations: every layer's output plus what it saves (nested block layers included: a
  // residual row counts only what the residual adds), at the batch size.
  std::int64_t per_sample = 0;
  for (const auto& r : summary_rows<SmallNet>()) per_sample += r.activations;
  CHECK(m.activations == 32 * per_sample * 4);
  CHECK(memory<SmallNet>(32, precision::fp16, 2).optimizer_state == 2 * SmallNet::parameters * 2);
}

TEST_CASE("the same seed gives the same model; another seed another", "[net][model]") {
  Model<SmallNet> a(7), b(7), c(8);
  std::vector<float> va, vb, vc;
  a.visit_parameters([&](const parameter_ref<float>& p) { va.insert(va.end(), p.value.data(), p.value.data() + p.value.size()); });
  b.visit_parameters([&](const parameter_ref<float>& p) { vb.insert(vb.end(), p.value.data(), p.value.data() + p.value.size()); });
  c.visit_parameters([&](const parameter_ref<float>& p) { vc.insert(vc.end(), p.value.data(), p.value.data() + p.value.size()); });
  CHECK(va.size() == static_cast<std::size_t>(SmallNet::parameters));
  CHECK(va == vb);
  CHECK(va != vc);
}

TEST_CASE("forward rejects a batch of the wrong sample size", "[net][model][errors]") {
  Model<SmallNet> m(1);
  Tensor<float, 2> wrong(2, 100);
  CHECK_THROWS_WITH(m.forward(wrong), Catch::Contains("[1, 12, 12]") && Catch::Contains("[2, 100]"));
}

TEST_CASE("a saved model loads back exactly, and wrong files are refused with reasons", "[net][model][io]") {
  const auto dir = std::filesystem::temp_directory_path() / ("strata_model_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "small.strata";
  Model<SmallNet> trained(3);
  Tensor<float, 2> x(4, 144);
  fill_normal(x, 0, 1, 5);
  trained.forward(x, true);  // moves the batch-norm running statistics off their defaults
  trained.save(path);
  const auto expected = Tensor<float, 2>(trained.forward(x, false));

  Model<SmallNet> fresh(99);
  fresh.load(path);
  const auto got = Tensor<float, 2>(fresh.forward(x, false));
  CHECK(std::equal(got.data(), got.data() + got.size(), expected.data()));

  // Another architecture.
  using Other = Sequential<Input<1, 12, 12>, Conv<4, Kernel<3>, Stride<1>, Pad<1>>, ReLU, Dense<10>>;
  Model<Other> other(1);
  CHECK_THROWS_WITH(other.load(path), Catch::Contains("different architecture"));
  // The same architecture in double.
  Model<SmallNet, double> wider(1);
  CHECK_THROWS_AS(wider.load(path), io::archive_error);
  // Truncated and corrupted copies.
  const auto size = std::filesystem::file_size(path);
  {
    std::filesystem::copy_file(path, dir / "cut.strata", std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(dir / "cut.strata", size / 2);
    CHECK_THROWS_WITH(fresh.load(dir / "cut.strata"), Catch::Contains("truncated"));
  }
  {
    std::filesystem::copy_file(path, dir / "bad.strata", std::filesystem::copy_options::overwrite_existing);
    std::fstream f(dir / "bad.strata", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size - 100));
    f.put('\x5a');
    f.close();
    CHECK_THROWS_WITH(fresh.load(dir / "bad.strata"), Catch::Contains("corrupted"));
  }
  // A failed load leaves the model as it was.
  const auto still = Tensor<float, 2>(fresh.forward(x, false));
  CHECK(std::equal(still.data(), still.data() + still.size(), expected.data()));
  CHECK_THROWS_AS(fresh.load(dir / "missing.strata"), io::archive_error);
  std::filesystem::remove_all(dir);
}
