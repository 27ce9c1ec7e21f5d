// What a frozen body costs in a training step. A network whose body is frozen (everything but the
// classifier) should step no slower than the classifier alone stepping on the body's output plus
// one inference forward pass of the body: the frozen layers run as in inference, compute no
// weight gradients, and backward stops at the lowest trainable layer. Measured on the demo network
// (FashionNet, batch 64) and EfficientNet-Lite0 with a 5-way head (batch 16), interleaved round
// by round, 2 threads. Times are the best of the rounds; the ratio is the median over rounds of
// the frozen step over the parts run next to it (robust to the machine's speed drifting). The parts are timed as one block (body forward, feature copy, head step)
// as well as one by one: the best of a sum, not the sum of two bests, which would favour the
// parts by the noise of one of them (that bias was the 1–2% of the first measurement).
//
//   frozen_step [--rounds N] [--threads N]
//
// Ends with one line: RESULT demo_frozen_vs_parts=… effnet_frozen_vs_parts=… (the median ratio of
// the frozen step's time to the parts'; ≤ 1 is the claim).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "strata/core/random.hpp"
#include "strata/net/model.hpp"
#include "strata/net/network_edit.hpp"
#include "strata/train/sgd.hpp"
#include "strata/layers/softmax_cross_entropy.hpp"
#include "strata/zoo/efficientnet_lite.hpp"
#include "strata/zoo/fashion_net.hpp"

using namespace strata;

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class M>
void step(M& model, train::SGD<float>& sgd, const Tensor<float, 2>& x, const Tensor<std::int32_t, 1>& labels,
          Tensor<float, 2>& gradient) {
  const auto out = model.forward(x.view(), true);
  if (gradient.size() != out.size()) gradient = Tensor<float, 2>(out.shape());
  SoftmaxCrossEntropy::evaluate<float>(out, labels, gradient.view());
  model.backward(gradient);
  sgd.step(model, 0.01);
}

struct timing {
  double frozen = 1e300, head = 1e300, body = 1e300, parts = 1e300;
  double ratio = 0;  // median over rounds of frozen / parts within a round
};

// Net with all but its last layer frozen, against that last layer alone plus the body's forward.
template <class Net>
timing measure(const char* name, std::int64_t batch, int rounds) {
  using Body = take_layers_t<Net, Net::layer_count - 1>;
  using Head = drop_layers_t<Net, Net::layer_count - 1>;
  auto whole = std::make_unique<Model<Net, float>>(1);
  auto body = std::make_unique<Model<Body, float>>(2);
  auto head = std::make_unique<Model<Head, float>>(3);
  whole->freeze(layer_range{0, Net::layer_count - 1});
  // The same weights on both sides, so both compute the same values (timings can depend on them:
  // subnormal numbers).
  copy_layers(*whole, 0, *body, 0, Net::layer_count - 1);
  copy_layers(*whole, Net::layer_count - 1, *head, 0, 1);
  Tensor<float, 2> x(Shape{batch, Net::input_shape::elements}), features(Shape{batch, Body::output_shape::elements});
  fill_uniform(x, -1.0f, 1.0f, 7);
  Tensor<std::int32_t, 1> labels(Shape<1>{batch});
  for (std::int64_t i = 0; i < batch; ++i) labels.data()[i] = std::int32_t(i % Net::output_shape::elements);
  train::SGD<float> sgd_whole({.momentum = 0.9}), sgd_head({.momentum = 0.9});
  Tensor<float, 2> g1, g2;
  {  // warm-up: algorithm choices, buffers
    step(*whole, sgd_whole, x, labels, g1);
    const auto f = body->forward(x.view());
    std::copy(f.data(), f.data() + f.size(), features.data());
    step(*head, sgd_head, features, labels, g2);
  }
  timing t;
  const auto parts = [&](double* body_ms, double* head_ms) {
    double t0 = now_ms();
    const auto f = body->forward(x.view());
    const double t1 = now_ms();
    std::copy(f.data(), f.data() + f.size(), features.data());
    const double t2 = now_ms();
    step(*head, sgd_head, features, labels, g2);
    *body_ms = t1 - t0;
    *head_ms = now_ms() - t2;
    return now_ms() - t0;
  };
  std::vector<double> ratios;
  for (int r = 0; r < rounds; ++r) {
    // Alternate which comes first, so neither always finds the other's data in the caches.
    double body_ms = 0, head_ms = 0, parts_ms = 0, frozen_ms = 0;
    for (int k = 0; k < 2; ++k) {
      if ((k == 0) == (r % 2 == 0)) {
        const double t0 = now_ms();
        step(*whole, sgd_whole, x, labels, g1);
        frozen_ms = now_ms() - t0;
      } else {
        parts_ms = parts(&body_ms, &head_ms);
      }
    }
    ratios.push_back(frozen_ms / parts_ms);
    t.frozen = std::min(t.frozen, frozen_ms);
    t.parts = std::min(t.parts, parts_ms);
    t.body = std::min(t.body, body_ms);
    t.head = std::min(t.head, head_ms);
  }
  std::sort(ratios.begin(), ratios.end());
  t.ratio = ratios[ratios.size() / 2];
  std::printf("%-26s %6lld %12.2f %12.2f %12.2f %12.2f %12.3f\n", name, (long long)batch, t.frozen, t.parts, t.body, t.head,
              t.ratio);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 10;
  set_num_threads(2);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) set_num_threads(std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: frozen_step [--rounds N] [--threads N]\n");
      return 2;
    }
  }
  std::printf("best of %d rounds, %d threads, milliseconds per step; frozen/parts: median of the per-round ratios\n\n", rounds, num_threads());
  std::printf("%-26s %6s %12s %12s %12s %12s %12s\n", "network", "batch", "frozen step", "parts", "(body fwd", "head step)",
              "frozen/parts");
  const auto demo = measure<zoo::FashionNet<>>("FashionNet (demo)", 64, rounds);
  const auto effnet = measure<replace_head_t<zoo::EfficientNetLite0<>, Dense<5>>>("EfficientNet-Lite0, 5-way", 16, rounds);
  std::printf("\nRESULT demo_frozen_vs_parts=%.3f effnet_frozen_vs_parts=%.3f\n", demo.ratio, effnet.ratio);
  return 0;
}
