// Networks as types: the seed's arithmetic of stacked, bottleneck and factorised convolutions
// falls out of the parameter and multiply-add counts at compile time; options by kind in any
// order; summaries (user composites included), memory estimates and signatures; Model
// construction, determinism, input gradients and save/load errors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "strata/io/model_file.hpp"
#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/dropout.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/relu.hpp"
#include "strata/layers/tanh.hpp"
#include "strata/layers/softmax_cross_entropy.hpp"
#include "strata/net/model.hpp"
#include "strata/net/residual.hpp"
#include "strata/net/summary.hpp"
#include "support/files.hpp"
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
  STATIC_REQUIRE(std::is_same_v<SmallNet::output_shape, sample_shape<10>>);
  STATIC_REQUIRE(SmallNet::valid);
  // conv 4·9 + 4, bn 8, block: 8·4·9 + 8·8·9 + 2·16 + projection 8·4 + 16, dense 10·8·3·3 + 10
  STATIC_REQUIRE(SmallNet::parameters == 40 + 8 + (288 + 576 + 32 + 32 + 16) + 730);
  const auto rows = summary_rows<SmallNet>();
  REQUIRE(rows.size() == 12);  // 6 layers + residual's 5 block layers + the residual row
  CHECK(rows[0].output == "[4, 12, 12]");
  CHECK(rows[4].description.find("1×1 projection") != std::string::npos);
  CHECK(rows[5].depth == 1);
  CHECK(rows[4].parameters == 8 * 4 + 16);  // the residual's own row: its projection and its batch norm
  std::int64_t total = 0, flops = 0;
  for (const auto& r : rows) total += r.parameters, flops += r.flops;
  CHECK(total == SmallNet::parameters);  // every parameter on exactly one row
  CHECK(flops == SmallNet::flops);
  std::ostringstream out;
  print_summary<SmallNet>(out, 32);
  CHECK(out.str().find("total: 1,722 parameters") != std::string::npos);
  CHECK(out.str().find("training memory at batch 32") != std::string::npos);
}

TEST_CASE("the memory estimate adds parameters, gradients, optimizer state and activations", "[net][memory]") {
  const auto m = memory<SmallNet>(32, 1);
  CHECK(m.parameters == SmallNet::parameters * 4);
  CHECK(m.gradients == m.parameters);
  CHECK(m.optimizer_state == m.parameters);
  CHECK(m.input == 32 * 144 * 4);
  // Activations: every layer's output plus what it saves (nested block layers included: a
  // residual row counts only what the residual adds), at the batch size.
  std::int64_t per_sample = 0;
  for (const auto& r : summary_rows<SmallNet>()) per_sample += r.activations;
  CHECK(m.activations == 32 * per_sample * 4);
  // Hand-counted values kept per sample: conv, bn and relu 576 each; max pool 144 and its int32
  // positions (72 float-sized units); the residual's own 3·72 (sum, projection, its batch norm);
  // its block's five layers 72 each; relu 72; dense 10.
  CHECK(per_sample == 576 * 3 + (144 + 72) + 3 * 72 + 5 * 72 + 72 + 10);
  // fp16 stores 2 bytes a value; Adam's two moments and the fp32 master copy take 4 each.
  const auto h = memory<SmallNet, half>(32, 2);
  CHECK(h.parameters == SmallNet::parameters * 2);
  CHECK(h.optimizer_state == SmallNet::parameters * 4 * 3);
  CHECK(h.activations == 32 * per_sample * 2);
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
  const testing::temp_dir scratch;
  const auto& dir = scratch.path;
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
    f.seekg(static_cast<std::streamoff>(size - 100));
    const char byte = static_cast<char>(f.get());
    f.seekp(static_cast<std::streamoff>(size - 100));
    f.put(static_cast<char>(byte ^ 0xFF));  // flipped: always a change
    f.close();
    CHECK_THROWS_WITH(fresh.load(dir / "bad.strata"), Catch::Contains("corrupted"));
  }
  // A failed load leaves the model as it was.
  const auto still = Tensor<float, 2>(fresh.forward(x, false));
  CHECK(std::equal(still.data(), still.data() + still.size(), expected.data()));
  CHECK_THROWS_AS(fresh.load(dir / "missing.strata"), io::archive_error);
}

TEST_CASE("an entry of the wrong size is refused by name and the model is left as it was", "[net][model][io]") {
  const testing::temp_dir scratch;
  Model<SmallNet> m(3);
  Tensor<float, 2> x(2, 144);
  fill_normal(x, 0, 1, 5);
  const auto before = Tensor<float, 2>(m.forward(x));
  io::archive a;
  a.kind = "strata-model";
  a.signature = Model<SmallNet>::signature();
  a.version = 1;
  m.visit_parameters([&](const auto& p) {
    if (p.name == "6.weight") a.entries.push_back(io::make_entry(p.name, Tensor<float, 1>(Shape<1>{5})));
    else a.entries.push_back(io::make_entry(p.name, p.value));
  });
  m.visit_state([&](const std::string& name, TensorView<float, 1> v) { a.entries.push_back(io::make_entry(name, v)); });
  io::write_archive(scratch.path / "odd.strata", a);
  CHECK_THROWS_WITH(m.load(scratch.path / "odd.strata"), Catch::Contains("'6.weight'") && Catch::Contains("[5]"));
  const auto after = Tensor<float, 2>(m.forward(x));
  CHECK(std::equal(after.data(), after.data() + after.size(), before.data()));
}

TEST_CASE("loading into a model that has run replaces its cached filter transforms", "[net][model][io]") {
  using Wino = Sequential<Input<3, 10, 10>, Conv<8, Kernel<3>, Pad<1>, Algorithm<algo::winograd<4>>>, ReLU,
                          Conv<4, Kernel<5>, Pad<2>, Algorithm<algo::fft>>, Dense<3>>;
  const testing::temp_dir scratch;
  Tensor<float, 2> x(2, 300);
  fill_normal(x, 0, 1, 6);
  Model<Wino> saved(1), target(2);
  saved.save(scratch.path / "w.strata");
  const auto want = Tensor<float, 2>(saved.forward(x));
  target.forward(x);  // caches transforms of its own weights
  target.load(scratch.path / "w.strata");
  const auto got = Tensor<float, 2>(target.forward(x));
  CHECK(std::equal(got.data(), got.data() + got.size(), want.data()));
}

// Options are recognised by kind, in any order.
static_assert(std::is_same_v<Conv<64, Kernel<3>, Pad<1>>::P, Pad<1>>);
static_assert(std::is_same_v<Conv<64, Kernel<3>, Pad<1>>::St, Stride<1>>);
static_assert(Conv<8, Pad<2>, NoBias, Stride<2>, Kernel<5>>::geometry<sample_shape<3, 20, 20>>() ==
              Conv<8, Kernel<5>, Stride<2>, Pad<2>, NoBias>::geometry<sample_shape<3, 20, 20>>());
static_assert(!Conv<8, Pad<2>, NoBias, Kernel<5>>::has_bias);
static_assert(std::is_same_v<Conv<8, Algorithm<algo::im2col>, Kernel<1>>::algorithm, algo::im2col>);
static_assert(std::is_same_v<Conv<8>::algorithm, algo::automatic>);
static_assert(std::is_same_v<Conv<8, Init<init::xavier_normal>>::init_kind, init::xavier_normal>);
static_assert(std::is_same_v<Dense<4, Init<init::fan_in_uniform>, NoBias>::init_kind, init::fan_in_uniform>);
static_assert(Sequential<Input<3, 8, 8>, Conv<4, Pad<1>, Kernel<3>>>::output_shape::extents[1] == 8);  // pad 1, stride 1

TEST_CASE("the input gradient from Model::backward matches finite differences", "[net][model][gradient]") {
  using Net = Sequential<Input<2, 6, 6>, Conv<3, Kernel<3>, Pad<1>, Algorithm<algo::reference>>, ReLU, MaxPool<2>, Dense<4>>;
  Model<Net, double> m(4);
  Tensor<double, 2> x(2, 72), g(2, 4), dx(2, 72);
  fill_normal(x, 0, 1, 7);
  fill_normal(g, 0, 1, 8);
  m.forward(x);
  m.backward(g, dx);
  auto loss = [&] { return double(sum(m.forward(x) * g)); };
  double worst = 0;
  for (std::int64_t i = 0; i < x.size(); i += 5) {
    const double keep = x.data()[i], h = 1e-6;
    x.data()[i] = keep + h;
    const double up = loss();
    x.data()[i] = keep - h;
    const double down = loss();
    x.data()[i] = keep;
    worst = testing::worse_of(worst, std::abs((up - down) / (2 * h) - dx.data()[i]) / std::max(std::abs(dx.data()[i]), 1e-3));
  }
  CHECK(worst < 1e-6);
  Tensor<double, 2> wrong(3, 72);
  m.forward(x);
  CHECK_THROWS_WITH(m.backward(g, wrong), Catch::Contains("input gradient"));
}

// A block written by a user: a spec over a Chain, with its own name and parts, so the summary and
// the signature see inside it.
struct TwoConvs {
  using spec_tag = void;
  using body = Chain<Conv<4, Kernel<3>, Pad<1>>, ReLU, Conv<4, Kernel<3>, Pad<1>>>;
  template <class In>
  static constexpr bool accepts = body::accepts<In>;
  template <class In>
  struct traits : layer_traits<body, In> {
    static std::string describe() { return "two convs"; }
    static constexpr bool transparent = false;
  };
  template <class In, class T, class D = cpu>
  using layer = runtime_layer<body, In, T, D>;
};

TEST_CASE("a user-written composite is a first-class layer in summaries and signatures", "[net][summary]") {
  using Net = Sequential<Input<3, 6, 6>, TwoConvs, Flatten, Dense<2>>;
  static_assert(Net::parameters == (4 * 27 + 4) + (4 * 36 + 4) + 2 * 144 + 2);
  const auto rows = summary_rows<Net>();
  REQUIRE(rows.size() == 6);
  CHECK(rows[0].description == "two convs");
  CHECK(rows[0].parameters == 0);  // all in its parts
  CHECK(rows[1].path == "0.0");
  CHECK(rows[1].depth == 1);
  CHECK(rows[3].path == "0.2");
  CHECK(signature<Net>().find("0.2 conv 3×3 pad 1, 4 → 4") != std::string::npos);
  Model<Net> m(1);
  std::vector<std::string> names;
  m.visit_parameters([&](const auto& p) { names.push_back(p.name); });
  CHECK(names.front() == "0.0.weight");
}

TEST_CASE("signatures tell apart nets that differ in one hyper-parameter", "[net][summary]") {
  using A = Sequential<Input<1, 8, 8>, Conv<2, Kernel<3>, Pad<1>>, ReLU, Dense<3>>;
  CHECK(signature<A>() == signature<Sequential<Input<1, 8, 8>, Conv<2, Pad<1>, Kernel<3>>, ReLU, Dense<3>>>());
  CHECK(signature<A>() != signature<Sequential<Input<1, 8, 8>, Conv<2, Kernel<3>, Pad<1>, Stride<2>>, ReLU, Dense<3>>>());
  CHECK(signature<A>() != signature<Sequential<Input<1, 8, 8>, Conv<2, Kernel<3>>, ReLU, Dense<3>>>());
  CHECK(signature<A>() != signature<Sequential<Input<1, 8, 8>, Conv<2, Kernel<3>, Pad<1>>, Tanh, Dense<3>>>());
  CHECK(signature<Sequential<Input<4>, Dropout<0.5f>, Dense<2>>>() != signature<Sequential<Input<4>, Dropout<0.25f>, Dense<2>>>());
}

TEST_CASE("Repeat makes independent copies of a block", "[net][repeat]") {
  using Net = Sequential<Input<4, 5, 5>, Repeat<2, BasicBlock<4>, ReLU>, Flatten, Dense<2>>;
  Model<Net, double> m(3);
  std::vector<std::string> names;
  std::vector<std::vector<double>> weights;
  m.visit_parameters([&](const auto& p) {
    names.push_back(p.name);
    weights.emplace_back(p.value.data(), p.value.data() + p.value.size());
  });
  CHECK(names[0] == "0.0.0.block.0.weight");  // layer 0, copy 0, the block's first layer
  const auto second = std::find(names.begin(), names.end(), "0.1.0.block.0.weight");
  REQUIRE(second != names.end());
  CHECK(weights[0] != weights[static_cast<std::size_t>(second - names.begin())]);  // initialised independently
}
