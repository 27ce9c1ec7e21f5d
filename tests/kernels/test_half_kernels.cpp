// The CPU's fp16 kernels that work on bit patterns or bypass the fused expression — ReLU, max
// pooling, a dense layer's bias, SGD's update with the store of the weights — against the float
// path they replace (widen, compute in float, round back; or the passes run one by one), bit for
// bit: every fp16 pattern where the kernel is elementwise, and ties, ±0, ±Inf, subnormals and
// signalling and quiet NaNs of both signs in pooling windows.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "strata/core/broadcast.hpp"
#include "strata/core/tensor.hpp"
#include "strata/kernels/cpu/half_activation.hpp"
#include "strata/kernels/cpu/half_pooling.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/model.hpp"
#include "strata/train/sgd.hpp"
#include "strata/zoo/fashion_net.hpp"
#include "support/testing.hpp"

using namespace strata;

namespace {

using traits = precision_traits<half>;

std::vector<half> every_pattern() {
  std::vector<half> v(65536);
  for (std::uint32_t i = 0; i < 65536; ++i) v[i] = half::from_bits(static_cast<std::uint16_t>(i));
  return v;
}

// Patterns where max and ReLU are delicate: zeros, the smallest and largest magnitudes, infinities,
// NaNs (signalling 0x7c01, 0xfd00; quiet 0x7e00, 0xfe55), and a few ordinary values with ties.
const std::uint16_t special[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x83ff, 0x0400, 0x8400, 0x3c00, 0xbc00, 0x3c01,
                                 0xbc01, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7c01, 0xfd00, 0x7e00, 0xfe55, 0x4000, 0xc000};

// n values drawn from `special`, mostly from a few ordinary levels (many ties), seeded.
std::vector<half> pool_values(std::int64_t n, std::uint32_t seed, bool with_nans) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> kind(0, 9), level(-2, 2), pick(0, int(std::size(special)) - 1);
  std::vector<half> v(static_cast<std::size_t>(n));
  for (auto& e : v) {
    if (kind(rng) < 3) {
      std::uint16_t b = special[pick(rng)];
      if (!with_nans)
        while ((b & 0x7fff) > 0x7c00) b = special[pick(rng)];
      e = half::from_bits(b);
    } else {
      e = half(float(level(rng)));
    }
  }
  return v;
}

std::vector<float> widened(const std::vector<half>& v) {
  std::vector<float> f(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) f[i] = traits::to_compute(v[i]);
  return f;
}

// Index of the first element whose bits differ from the float results rounded, or -1.
std::int64_t first_mismatch(const half* h, const float* f, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i)
    if (h[i].bits() != traits::from_compute(f[i]).bits()) return i;
  return -1;
}

void check_max_pool(const kernels::pool_geometry& g, std::int64_t N, std::uint32_t seed, bool with_nans) {
  INFO("C " << g.C << " H " << g.H << " W " << g.W << " window " << g.window << " stride " << g.stride << " pad " << g.pad
            << " ceil " << g.ceil << " NaNs " << with_nans);
  const std::int64_t in = N * g.C * g.H * g.W, out = N * g.C * g.P() * g.Q();
  const auto x = pool_values(in, seed, with_nans), dy = pool_values(out, seed + 1, with_nans);
  const auto xf = widened(x), dyf = widened(dy);
  std::vector<half> y(static_cast<std::size_t>(out)), dx(static_cast<std::size_t>(in));
  std::vector<float> yf(y.size()), dxf(dx.size());
  std::vector<std::int32_t> ah(y.size()), af(y.size());
  using MH = kernels::op_kernel<kernels::op::max_pool, cpu, half>;
  MH::forward(g, N, x.data(), y.data(), ah.data());
  kernels::cpu::max_pool_forward(g, N, xf.data(), yf.data(), af.data());
  CHECK(first_mismatch(y.data(), yf.data(), out) == -1);
  CHECK(std::memcmp(ah.data(), af.data(), sizeof(std::int32_t) * ah.size()) == 0);
  MH::backward(g, N, dy.data(), ah.data(), dx.data());
  kernels::cpu::max_pool_backward(g, N, dyf.data(), af.data(), dxf.data());
  CHECK(first_mismatch(dx.data(), dxf.data(), in) == -1);
}

}  // namespace

TEST_CASE("fp16 ReLU on bit patterns is the float expression rounded, for every pattern", "[half][kernels]") {
  const auto x = every_pattern();
  const detail::relu_function f;
  using K = kernels::op_kernel<kernels::op::relu, cpu, half>;
  for (std::int64_t n : {std::int64_t{65536}, std::int64_t{65536 - 37}, std::int64_t{5}}) {
    std::vector<half> y(static_cast<std::size_t>(n));
    K::forward(n, x.data(), y.data());
    std::int64_t bad = -1;
    for (std::int64_t i = 0; i < n && bad < 0; ++i)
      if (y[i].bits() != traits::from_compute(f.forward(traits::to_compute(x[i]))).bits()) bad = i;
    INFO("n " << n << " first mismatch at pattern " << bad);
    CHECK(bad == -1);
  }
  // Backward: every pattern of y against a gradient that runs through every pattern too (shifted,
  // so each y meets several kinds of dy), and against each special gradient.
  std::vector<half> dy(x.size()), dx(x.size());
  for (int shift : {0, 1, 0x7c01, 0x8000, 12345}) {
    for (std::size_t i = 0; i < x.size(); ++i) dy[i] = half::from_bits(static_cast<std::uint16_t>(i + std::size_t(shift)));
    K::backward(std::int64_t(x.size()) - 3, x.data(), dy.data(), dx.data());
    std::int64_t bad = -1;
    for (std::size_t i = 0; i + 3 < x.size() && bad < 0; ++i)
      if (dx[i].bits() != traits::from_compute(f.backward(traits::to_compute(x[i]), traits::to_compute(dy[i]))).bits())
        bad = std::int64_t(i);
    INFO("shift " << shift << " first mismatch at " << bad);
    CHECK(bad == -1);
  }
  for (std::uint16_t g : special) {
    for (auto& e : dy) e = half::from_bits(g);
    K::backward(std::int64_t(x.size()), x.data(), dy.data(), dx.data());
    std::int64_t bad = -1;
    for (std::size_t i = 0; i < x.size() && bad < 0; ++i)
      if (dx[i].bits() != traits::from_compute(f.backward(traits::to_compute(x[i]), traits::to_compute(dy[i]))).bits())
        bad = std::int64_t(i);
    INFO("dy bits " << g << " first mismatch at " << bad);
    CHECK(bad == -1);
  }
}

TEST_CASE("an fp16 ReLU layer runs the kernel, with the expression's results", "[half][kernels]") {
  using Layer = ReLU::layer<sample_shape<3, 5, 7>, half>;
  Layer layer;
  context ctx;
  const std::int64_t n = 4, e = 3 * 5 * 7;
  const auto xs = pool_values(n * e, 3, true), gs = pool_values(n * e, 4, true);
  Tensor<half, 2> x(Shape{n, e}), y(Shape{n, e}), dy(Shape{n, e}), dx(Shape{n, e}), want(Shape{n, e});
  std::memcpy(x.data(), xs.data(), sizeof(half) * xs.size());
  std::memcpy(dy.data(), gs.data(), sizeof(half) * gs.size());
  layer.forward(x.view(), y.view(), ctx);
  want = elementwise(Layer::forward_op{}, x);
  CHECK(std::memcmp(y.data(), want.data(), sizeof(half) * std::size_t(y.size())) == 0);
  layer.backward(x.view(), y.view(), dy.view(), dx.view(), ctx);
  want = elementwise(Layer::backward_op{}, y, dy);
  CHECK(std::memcmp(dx.data(), want.data(), sizeof(half) * std::size_t(dx.size())) == 0);
}

TEST_CASE("fp16 max pooling on bit patterns is the float kernel rounded, argmax included", "[half][kernels]") {
  std::uint32_t seed = 1;
  for (bool nans : {false, true}) {
    // 2×2 / stride 2 (the vector path): rows shorter than 8, between 8 and 16, longer than 16 and
    // than two vectors; odd sizes leave a row and a column out.
    for (auto [H, W] : {std::pair{4, 4}, {28, 28}, {14, 14}, {7, 9}, {9, 17}, {6, 34}, {5, 67}, {3, 200}})
      check_max_pool({3, H, W, 2, 2, 0}, 2, seed++, nans);
    // Other windows (the general loop): overlapping (backward through fp32), disjoint, padded, ceil.
    check_max_pool({3, 9, 8, 3, 2, 1}, 2, seed++, nans);
    check_max_pool({2, 9, 10, 3, 3, 0}, 2, seed++, nans);
    check_max_pool({2, 10, 11, 3, 3, 1, true}, 2, seed++, nans);
    check_max_pool({2, 7, 7, 2, 2, 0, true}, 2, seed++, nans);
    check_max_pool({2, 8, 8, 2, 1, 0}, 2, seed++, nans);
  }
}

TEST_CASE("an fp16 bias broadcast over rows is the fused expression, bit for bit", "[half][kernels]") {
  for (std::int64_t cols : {std::int64_t{10}, std::int64_t{1024}, std::int64_t{300}}) {
    const std::int64_t rows = 70;
    const auto ys = pool_values(rows * cols, 5, true), bs = pool_values(cols, 6, true);
    Tensor<half, 2> y(Shape{rows, cols});
    Tensor<half, 1> b(Shape<1>{cols});
    std::memcpy(y.data(), ys.data(), sizeof(half) * ys.size());
    std::memcpy(b.data(), bs.data(), sizeof(half) * bs.size());
    const Tensor<half, 2> y0 = y.clone();
    for (int mode = 0; mode < 3; ++mode) {
      y = y0;
      if (mode == 0) y += broadcast(b, axes<1>, y.shape());
      else if (mode == 1) y -= broadcast(b, axes<1>, y.shape());
      else y = broadcast(b, axes<1>, y.shape());
      std::int64_t bad = -1;
      for (std::int64_t r = 0; r < rows && bad < 0; ++r)
        for (std::int64_t c = 0; c < cols && bad < 0; ++c) {
          const float yv = traits::to_compute(y0.data()[r * cols + c]), bv = traits::to_compute(b.data()[c]);
          const float want = mode == 0 ? yv + bv : mode == 1 ? yv - bv : bv;
          const std::uint16_t got = y.data()[r * cols + c].bits();
          // With two NaN operands IEEE 754 leaves open whose payload the sum carries, and C++ lets
          // the compiler swap the operands of a commutative +: GCC at -O1 (the sanitizer build)
          // swaps them in the reference here, while the kernel keeps y first. Either operand's
          // NaN, quieted, is right there.
          if (mode < 2 && std::isnan(yv) && std::isnan(bv)) {
            const std::uint16_t quiet_y = y0.data()[r * cols + c].bits() | 0x0200, quiet_b = b.data()[c].bits() | 0x0200;
            if (got != quiet_y && got != quiet_b) bad = r * cols + c;
          } else if (got != traits::from_compute(want).bits()) {
            bad = r * cols + c;
          }
        }
      INFO("cols " << cols << " mode " << mode << " first mismatch " << bad);
      CHECK(bad == -1);
    }
  }
}

// SGD's step as it was before the fused store (train/sgd.hpp, verbatim but for the names): the
// expressions assigned one by one, then master_weights::store's bulk conversion.
namespace {
struct reference_sgd {
  train::sgd_options options_;
  random_engine rounding_{3, 0x56u};
  train::master_weights<half> masters_;
  std::vector<Tensor<float, 1>> velocity_;
  template <class Model>
  void step(Model& model, double lr, double unscale = 1) {
    using master_type = float;
    using T = half;
    using D = cpu;
    std::size_t i = 0;
    const master_type mu = master_type(options_.momentum);
    model.visit_parameters([&](const parameter_ref<T, D>& p) {
      const master_type decay = p.weight_decay ? master_type(options_.weight_decay) : master_type(0);
      const master_type rate = master_type(lr * p.rate);
      auto w = masters_.of(i, p);
      if (mu != master_type(0) && velocity_.size() <= i) velocity_.emplace_back(p.value.shape());
      if (p.rate == 0) {
        ++i;
        return;
      }
      const auto update = [&](const auto& g) {
        if (mu == master_type(0)) {
          w -= (g + w * decay) * rate;
        } else {
          auto& v = velocity_[i];
          v = v * mu + g + w * decay;
          if (options_.nesterov) w -= (g + w * decay + v * mu) * rate;
          else w -= v * rate;
        }
      };
      if (unscale == 1) update(train::master_weights<T, D>::gradient(p));
      else update(train::master_weights<T, D>::gradient(p) * master_type(unscale));
      masters_.store(i, p, rounding_);
      ++i;
    });
  }
};
}  // namespace

TEST_CASE("fp16 SGD's update and store in one pass give the separate passes' values", "[half][train]") {
  using Net = Sequential<Input<3, 6, 6>, Conv<4, Kernel<3>, Pad<1>>, ReLU, Dense<300>, ReLU, Dense<7>>;
  for (double momentum : {0.9, 0.0})
  for (bool nesterov : {true, false}) {
    if (nesterov && momentum == 0) continue;
    const train::sgd_options o{.momentum = momentum, .weight_decay = 5e-4, .nesterov = nesterov};
    Model<Net, half> a(5), b(5);
    train::SGD<half> sgd(o, 3);
    reference_sgd ref;
    ref.options_ = o;
    for (int s = 0; s < 4; ++s) {
      // The same gradients in both (values of both signs and magnitudes, as loss scaling leaves them).
      std::uint32_t seed = 100 + std::uint32_t(s);
      const auto fill = [&](const parameter_ref<half>& p) {
        const auto g = pool_values(p.gradient.size(), seed++, false);
        for (std::int64_t k = 0; k < p.gradient.size(); ++k)
          p.gradient.data()[k] = isinf(g[std::size_t(k)]) ? half(0.25f) : half(float(g[std::size_t(k)]) * 37.0f);
      };
      a.visit_parameters(fill);
      seed = 100 + std::uint32_t(s);
      b.visit_parameters(fill);
      const double unscale = s % 2 ? 1.0 / 1024 : 1.0;
      sgd.step(a, 0.05, unscale);
      ref.step(b, 0.05, unscale);
    }
    std::vector<const half*> pa, pb;
    std::vector<std::int64_t> sizes;
    a.visit_parameters([&](const parameter_ref<half>& p) { pa.push_back(p.value.data()), sizes.push_back(p.value.size()); });
    b.visit_parameters([&](const parameter_ref<half>& p) { pb.push_back(p.value.data()); });
    for (std::size_t i = 0; i < pa.size(); ++i) {
      INFO("momentum " << momentum << " nesterov " << nesterov << " parameter " << i);
      CHECK(std::memcmp(pa[i], pb[i], sizeof(half) * std::size_t(sizes[i])) == 0);
      CHECK(std::memcmp(sgd.master_copies()[i].data(), ref.masters_.copies()[i].data(), sizeof(float) * std::size_t(sizes[i])) == 0);
    }
  }
}
