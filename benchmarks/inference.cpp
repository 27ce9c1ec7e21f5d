// Inference: the demo network (FashionNet, batch 32) and EfficientNet-Lite0 (batch 32 and 1),
// strata's inference path (Inference<Net>: batch norm folded, epilogues fused, ping-pong buffers,
// plans per batch size; net/inference.hpp) against PyTorch's eval() forward under no_grad, 2
// threads, interleaved round by round in one run (PyTorch as a coprocess:
// benchmarks/peers/inference_pytorch.py); Model::forward in inference mode is timed in the same
// rounds, for what the inference path gains. With the pretrained files of scripts/fetch-pretrained
// (--pretrained DIR, default build/pretrained) both use the ImageNet weights and strata's top-5
// on the reference photographs is compared with PyTorch's; else random weights and no top-5.
//
//   inference [--rounds N] [--pretrained DIR] [--no-peers]
//
// Ends with: RESULT demo_infer_vs_pytorch=… effnet_b32_vs_pytorch=… effnet_b1_vs_pytorch=…
// effnet_top5_match=… (speedups are PyTorch's median time over strata's; top-5 match is the
// fraction of photographs whose five classes agree, or -1 without the pretrained files).
#include <strata/io/onnx/import.hpp>
#include <strata/io/state_dict.hpp>
#include <strata/net/inference.hpp>
#include <strata/net/model.hpp>
#include <strata/zoo/efficientnet_lite.hpp>
#include <strata/zoo/fashion_net.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "peers/peer_process.hpp"

using namespace strata;
namespace fs = std::filesystem;

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

struct outcome {
  double strata_ms = 0, torch_ms = 0, model_ms = 0;
  double speedup() const { return strata_ms > 0 && torch_ms > 0 ? torch_ms / strata_ms : 0; }
};

// Times the inference engine's forward on a random batch of n against the peer's network
// `peer_net`, and the model's own forward.
template <class M, class E>
outcome compare(const char* label, M& model, E& engine, std::int64_t n, peer_process* torch, const char* peer_net, int rounds) {
  using Net = typename M::network;
  Tensor<float, 2> x(Shape{n, Net::input_shape::elements});
  fill_uniform(x, -1.0f, 1.0f, 5);
  const int burst = n == 1 ? 5 : 2;
  const bool peer = torch && torch->ask(std::string("net ") + peer_net + " " + std::to_string(n)) == "ok";
  std::vector<double> ours, theirs, unfused;
  const auto timed = [&](auto&& forward, std::vector<double>& into, bool keep) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (int i = 0; i < burst; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      forward();
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (keep && i > 0) into.push_back(ms);
    }
  };
  const auto our_burst = [&](bool keep) {
    timed([&] { engine.forward(x.view()); }, ours, keep);
    timed([&] { model.forward(x.view()); }, unfused, keep);
  };
  const auto their_burst = [&](bool keep) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::istringstream times(torch->ask("run " + std::to_string(burst)));
    double t;
    for (int i = 0; times >> t; ++i)
      if (keep && i > 0) theirs.push_back(t);
  };
  our_burst(false);  // algorithm choices, buffers
  if (peer) their_burst(false);
  for (int r = 0; r < rounds; ++r) {
    if (r % 2 == 0 || !peer) {
      our_burst(true);
      if (peer) their_burst(true);
    } else {
      their_burst(true);
      our_burst(true);
    }
  }
  outcome o{median(ours), peer ? median(theirs) : 0, median(unfused)};
  if (peer)
    std::printf("%-22s %6lld %12.2f %12.2f %9.2fx %14.2f\n", label, (long long)n, o.strata_ms, o.torch_ms, o.speedup(), o.model_ms);
  else
    std::printf("%-22s %6lld %12.2f %12s %10s %14.2f\n", label, (long long)n, o.strata_ms, "-", "-", o.model_ms);
  std::fflush(stdout);
  return o;
}

std::vector<int> top5(const float* z) {
  std::vector<int> order(1000);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + 5, order.end(), [&](int a, int b) { return z[a] > z[b]; });
  order.resize(5);
  return order;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  bool peers = true;
  fs::path pretrained = "build/pretrained";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else if (a == "--pretrained" && i + 1 < argc) pretrained = argv[++i];
    else if (a == "--no-peers") peers = false;
    else {
      std::fprintf(stderr, "usage: inference [--rounds N] [--pretrained DIR] [--no-peers]\n");
      return 2;
    }
  }
  set_num_threads(2);
  const bool have_weights = fs::exists(pretrained / "efficientnet_lite0.onnx") &&
                            fs::exists(pretrained / "efficientnet_lite0_reference.bin") &&
                            fs::exists(pretrained / "efficientnet-lite0-57934424.pth");
  std::unique_ptr<peer_process> torch;
  std::string note = "peers skipped (--no-peers)";
  if (peers) {
    std::vector<std::string> args{"--threads", "2"};
    if (have_weights) args.insert(args.end(), {"--pretrained", fs::absolute(pretrained).string()});
    torch = std::make_unique<peer_process>(std::string(STRATA_SOURCE_DIR) + "/benchmarks/peers/inference_pytorch.py", args);
    note = torch->ready() ? "PyTorch " + torch->version() : "PyTorch not available (" + torch->status + ")";
    if (!torch->ready()) torch.reset();
  }
  std::printf("inference: forward passes in inference mode, fp32, %d threads, %d rounds (medians); %s; %s\n\n",
              num_threads(), rounds, note.c_str(),
              have_weights ? ("ImageNet weights from " + pretrained.string()).c_str() : "random weights");
  std::printf("%-22s %6s %12s %12s %10s %14s\n", "network", "batch", "strata ms", "PyTorch ms", "speedup", "Model::forward");

  auto demo = std::make_unique<Model<zoo::FashionNet<>, float>>(1);
  auto demo_engine = std::make_unique<Inference<zoo::FashionNet<>, float>>(*demo);
  const outcome d = compare("demo (FashionNet)", *demo, *demo_engine, 32, torch.get(), "demo", rounds);

  auto lite = std::make_unique<Model<zoo::EfficientNetLite0<>, float>>(1);
  double top5_match = -1;
  if (have_weights) onnx::import_model(*lite, pretrained / "efficientnet_lite0.onnx");
  auto lite_engine = std::make_unique<Inference<zoo::EfficientNetLite0<>, float>>(*lite);
  if (have_weights) {
    const auto ref = read_state_dict(pretrained / "efficientnet_lite0_reference.bin");
    const auto& x = *std::find_if(ref.begin(), ref.end(), [](const auto& e) { return e.name == "input"; });
    const auto& want = *std::find_if(ref.begin(), ref.end(), [](const auto& e) { return e.name == "logits"; });
    const std::int64_t n = x.dims.at(0);
    Tensor<float, 2> input(Shape{n, zoo::EfficientNetLite0<>::input_shape::elements});
    std::copy(x.values.begin(), x.values.end(), input.data());
    const auto out = lite_engine->forward(input.view());
    int same = 0;
    for (std::int64_t i = 0; i < n; ++i) same += top5(out.data() + i * 1000) == top5(want.values.data() + i * 1000);
    top5_match = double(same) / double(n);
  }
  const outcome e32 = compare("EfficientNet-Lite0", *lite, *lite_engine, 32, torch.get(), "effnet", rounds);
  const outcome e1 = compare("EfficientNet-Lite0", *lite, *lite_engine, 1, torch.get(), "effnet", rounds * 3);
  std::printf("\nRESULT demo_infer_vs_pytorch=%.3f effnet_b32_vs_pytorch=%.3f effnet_b1_vs_pytorch=%.3f effnet_top5_match=%g\n",
              d.speedup(), e32.speedup(), e1.speedup(), top5_match);
  return 0;
}
