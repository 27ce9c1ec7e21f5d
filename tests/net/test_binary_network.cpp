// Binary networks (BinaryNet; XNOR-Net with ChannelScale): Model<Net, binary> trains Net with its
// Conv/Dense layers binarised (the first on its real input, the last kept real) and HardTanh made
// Sign; it computes what the same network computes in fp32 with ±1 weights and activations, value
// for value; Inference<Net, binary> runs the bits end to end with batch norm and sign folded into
// integer thresholds and gives the model's outputs exactly; summaries count bits; files store the
// binarised weights packed (≥ 25× smaller than fp32) and load back the same network; training learns.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/io/archive.hpp"
#include "strata/io/model_file.hpp"
#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/hard_tanh.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/sign.hpp"
#include "strata/net/binary_network.hpp"
#include "strata/net/inference.hpp"
#include "strata/net/model.hpp"
#include "strata/net/summary.hpp"
#include "strata/train/adam.hpp"
#include "strata/train/fit.hpp"
#include "support/blobs.hpp"
#include "support/files.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

// Every folding case: a first convolution on the real input, a max pool of signs, a pooled
// binary convolution, a strided one with a bias, a binary dense layer on 2×2 pixels of 24
// channels (whole words per pixel), and the real last layer with its batch norm.
template <class Act, class Dense40 = Dense<40>>
using NetWith = Sequential<Input<2, 12, 12>, Conv<16, Pad<1>, NoBias>, BatchNorm, Act, MaxPool<2>, Conv<70, Pad<1>, NoBias>,
                           MaxPool<2>, BatchNorm, Act, Conv<24, Kernel<3>, Stride<2>, Pad<1>>, BatchNorm, Act, Flatten, Dense40,
                           BatchNorm, Act, Dense<3>, BatchNorm>;
using Net = NetWith<HardTanh>;
// The same network in fp32 with ±1 values: Sign activations, convolutions by im2col (exact on
// integers), and the first convolution as the binary model runs it (the same automatic choice).
using Reference = Sequential<Input<2, 12, 12>, Conv<16, Pad<1>, NoBias>, BatchNorm, Sign, MaxPool<2>,
                             Conv<70, Pad<1>, NoBias, Algorithm<algo::im2col>>, MaxPool<2>, BatchNorm, Sign,
                             Conv<24, Kernel<3>, Stride<2>, Pad<1>, Algorithm<algo::im2col>>, BatchNorm, Sign, Flatten, Dense<40>,
                             BatchNorm, Sign, Dense<3>, BatchNorm>;

static_assert(std::is_same_v<binary_network_t<Net, binary>,
                             Sequential<Input<2, 12, 12>, BinaryConv<16, Pad<1>, NoBias, RealInput>, BatchNorm, Sign, MaxPool<2>,
                                        BinaryConv<70, Pad<1>, NoBias>, MaxPool<2>, BatchNorm, Sign,
                                        BinaryConv<24, Kernel<3>, Stride<2>, Pad<1>>, BatchNorm, Sign, Flatten, BinaryDense<40>,
                                        BatchNorm, Sign, Dense<3>, BatchNorm>>);
static_assert(std::is_same_v<type_at_t<4, binary_network_t<Net, scaled_binary>::body::layers>,
                             BinaryConv<70, Pad<1>, NoBias, ChannelScale>>);
static_assert(std::is_same_v<binary_network_t<Net, float>, Net>);
static_assert(std::is_same_v<Model<Net, binary>::element_type, float>);

template <class M>
Tensor<float, 2> inputs(std::int64_t n, std::uint64_t seed) {
  auto x = testing::random_tensor<float>(Shape{n, M::input_shape::elements}, seed, -1.5, 1.5);
  return x;
}

// Trains m a few steps so that weights, batch-norm parameters and statistics are all non-trivial.
template <class M>
void train_briefly(M& m, std::uint64_t seed) {
  train::Adam<typename M::precision> adam;
  const auto d = testing::make_blobs(64, seed, M::input_shape::elements);
  for (int step = 0; step < 4; ++step) {
    const auto y = m.forward(d.images, true);
    Tensor<float, 2> dy(y.shape());
    fill_uniform(dy, -0.1, 0.1, seed + std::uint64_t(step));
    m.backward(dy);
    adam.step(m, 0.01);
  }
}

// Copies a binary model into the fp32 reference: binarised weights as their signs, the rest as is.
template <class B, class F>
void copy_as_signs(B& binary_model, F& reference) {
  std::vector<std::vector<float>> values;
  binary_model.visit_parameters([&](auto& p) {
    std::vector<float> v(p.value.data(), p.value.data() + p.value.size());
    if (p.binarized.rows > 0)
      for (float& w : v) w = w < 0 ? -1.0f : 1.0f;
    values.push_back(v);
  });
  binary_model.visit_state([&](const std::string&, TensorView<float, 1> s) { values.emplace_back(s.data(), s.data() + s.size()); });
  std::size_t i = 0;
  reference.visit_parameters([&](auto& p) {
    REQUIRE(std::size_t(p.value.size()) == values[i].size());
    std::copy(values[i].begin(), values[i].end(), p.value.data());
    ++i;
  });
  reference.visit_state([&](const std::string&, TensorView<float, 1> s) {
    std::copy(values[i].begin(), values[i].end(), s.data());
    ++i;
  });
}

void require_equal(const batch_view<const float>& a, const batch_view<const float>& b) {
  REQUIRE(a.shape() == b.shape());
  for (std::int64_t i = 0; i < a.size(); ++i) REQUIRE(a.data()[i] == b.data()[i]);
}

}  // namespace

TEST_CASE("a binary model computes what fp32 computes with ±1 weights and activations, value for value", "[net][binary]") {
  Model<Net, binary> b(3);
  train_briefly(b, 5);
  Model<Reference, float> f(1);
  copy_as_signs(b, f);
  const auto x = inputs<Model<Net, binary>>(6, 9);
  const auto yb = b.forward(x);
  const auto yf = f.forward(x);
  require_equal(yb, yf);
}

TEST_CASE("Inference<Net, binary> runs bits end to end and gives the model's outputs exactly", "[net][binary][inference]") {
  auto check = [](auto precision) {
    using P = decltype(precision);
    Model<Net, P> m(7);
    train_briefly(m, 8);
    Inference engine(m);
    STATIC_REQUIRE(std::is_same_v<decltype(engine), Inference<Net, P>>);
    for (std::int64_t n : {1, 5, 17}) {
      const auto x = inputs<Model<Net, P>>(n, 10 + std::uint64_t(n));
      const auto want = m.forward(x);
      require_equal(engine.forward(x), want);
    }
    const std::string plan = engine.describe();
    INFO(plan);
    CHECK(plan.find("XNOR-popcount, integer thresholds") != std::string::npos);
    CHECK(plan.find("dense 96 → 40") != std::string::npos);
    CHECK(plan.find("AND of sign bits") != std::string::npos);
    // A snapshot: training the model further does not reach the engine until refresh.
    const auto x = inputs<Model<Net, P>>(4, 30);
    Tensor<float, 2> before(engine.forward(x));
    train_briefly(m, 31);
    require_equal(engine.forward(x), before);
    engine.refresh(m);
    require_equal(engine.forward(x), m.forward(x));
  };
  check(binary{});
  check(scaled_binary{});
}

TEST_CASE("thresholds reproduce batch norms of either sign, constant channels and the max pool's AND/OR",
          "[net][binary][inference]") {
  Model<Net, binary> m(11);
  train_briefly(m, 12);
  // Negative, zero and tiny scales; shifts that put the sign change on an exact integer sum.
  auto& norm = m.layers().template part<6>();
  for (std::int64_t c = 0; c < 70; ++c) {
    norm.gamma(c) = c % 4 == 0 ? -0.7f : c % 4 == 1 ? 0.0f : c % 4 == 2 ? 1e-6f : 2.0f;
    norm.beta(c) = c % 3 == 0 ? -0.5f : 0.25f;
    norm.running_mean(c) = float(c % 7) - 3.0f;
    norm.running_var(c) = c % 5 == 0 ? 0.0f : 1.0f;
  }
  Inference engine(m);
  const auto x = inputs<Model<Net, binary>>(9, 13);
  require_equal(engine.forward(x), m.forward(x));
}

TEST_CASE("summaries and memory<Net, binary> count binarised weights as bits", "[net][binary]") {
  constexpr std::int64_t bits = 16 * 2 * 9 + 70 * 16 * 9 + 24 * 70 * 9 + 40 * 96;
  CHECK(binary_parameter_count<Net, binary>() == bits);
  CHECK(binary_parameter_count<Net, float>() == 0);
  const memory_estimate m = memory<Net, binary>(64, 2);
  CHECK(m.parameters == (bits + 7) / 8 + 4 * (Net::parameters - bits));
  CHECK(m.gradients == 4 * Net::parameters);
  CHECK(m.optimizer_state == 4 * Net::parameters * 2 + 4 * bits);  // Adam's moments and the latent weights
  CHECK(m.parameters * 10 < memory<Net, float>(64, 2).parameters);
  std::ostringstream out;
  print_summary<Net, binary>(out, 64);
  INFO(out.str());
  CHECK(out.str().find("binary-weight conv 3×3 pad 1, 2 → 16") != std::string::npos);
  CHECK(out.str().find("binary conv 3×3 /2 pad 1, 70 → 24") != std::string::npos);
  CHECK(out.str().find("binary dense 96 → 40") != std::string::npos);
  CHECK(out.str().find(strata::detail::grouped(bits) + " binary at 1 bit") != std::string::npos);
  CHECK(Model<Net, binary>::signature().find("sign (straight-through)") != std::string::npos);
}

TEST_CASE("a binary model saves its binarised weights packed and loads the same network", "[net][binary][io]") {
  testing::temp_dir dir;
  auto check = [&](auto precision) {
    using P = decltype(precision);
    Model<Net, P> m(21);
    train_briefly(m, 22);
    const auto path = dir / "binary.strata";
    m.save(path);
    Model<Net, P> loaded(99);
    loaded.load(path);
    const auto x = inputs<Model<Net, P>>(5, 23);
    Tensor<float, 2> want(m.forward(x));
    require_equal(loaded.forward(x), want);
    // The binarised layers: one bit per weight, stored as bits; ≥ 25× less than fp32 would take.
    const io::archive a = io::read_archive(path, "strata-model", Model<Net, P>::signature());
    std::int64_t weights = 0, stored = 0;
    m.visit_parameters([&](auto& p) {
      if (p.binarized.rows == 0) return;
      const io::archive_entry& e = a.at(p.name);
      CHECK(e.type == io::element_code::binary);
      weights += p.value.size();
      stored += std::int64_t(e.data.size());
      if (p.binarized.scaled) stored += std::int64_t(a.at(p.name + ".scale").data.size());
    });
    INFO("binarised weights: " << weights << ", bytes stored " << stored);
    CHECK(4.0 * double(weights) / double(stored) >= 25);
    // An fp32 file of the same network does not load into the binary model (and back).
    Model<Net, float> real(1);
    const auto real_path = dir / "real.strata";
    real.save(real_path);
    CHECK(std::filesystem::file_size(path) * 10 < std::filesystem::file_size(real_path));
    CHECK_THROWS_WITH(loaded.load(real_path), Catch::Contains("signature"));
    CHECK_THROWS_WITH(real.load(path), Catch::Contains("signature"));
  };
  check(binary{});
  check(scaled_binary{});
}

TEST_CASE("a binary network learns: BinaryNet within reach of its fp32 counterpart on blobs", "[net][binary][train]") {
  using Small = Sequential<Input<1, 8, 8>, Conv<16, Pad<1>, NoBias>, BatchNorm, HardTanh, Conv<32, Pad<1>, NoBias>, MaxPool<2>,
                           BatchNorm, HardTanh, Flatten, Dense<64, NoBias>, BatchNorm, HardTanh, Dense<3>, BatchNorm>;
  const auto train_set = testing::make_blobs(960, 1), test_set = testing::make_blobs(480, 101);
  auto accuracy = [&](auto precision) {
    using P = decltype(precision);
    Model<Small, P> m(1);
    train::Adam<P> adam;
    return train::fit(m, train_set, adam, train::constant(0.003), {.epochs = 6, .batch_size = 32, .show_progress = false},
                      &test_set)
        .back()
        .test_accuracy;
  };
  const double real = accuracy(float{}), bnn = accuracy(binary{}), xnor = accuracy(scaled_binary{});
  INFO("fp32 " << real << ", binary " << bnn << ", binary with scales " << xnor);
  CHECK(real > 0.8);
  CHECK(bnn > 0.75);
  CHECK(xnor > 0.75);
}
