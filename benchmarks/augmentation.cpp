// benchmarks/augmentation — How many images per second does one core augment, for each
// augmentation, on 224×224 RGB and 28×28 grey uint8 images, against torchvision doing the same
// operation on the same image size in the same run?
//
// torchvision runs as a coprocess (benchmarks/peers/augment_torchvision.py, one thread, uint8
// CHW tensors); every round times strata and torchvision on each operation in turn (medians of
// the rounds). strata runs on one thread, one image after another, as a loader worker does.
// Ratios are strata images/s ÷ torchvision images/s.
//
// Usage: augmentation [--rounds N] [--no-peers]
#include <strata/augment/affine.hpp>
#include <strata/augment/color_jitter.hpp>
#include <strata/augment/crop.hpp>
#include <strata/augment/flip.hpp>
#include <strata/augment/lens_distortion.hpp>
#include <strata/augment/noise.hpp>
#include <strata/augment/pca_lighting.hpp>
#include <strata/core/random.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "peers/peer_process.hpp"

using namespace strata;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

struct operation {
  std::string name;      // also the peer's name for it ("" = strata only)
  bool has_peer = true;
  std::function<void(image_view<const std::uint8_t>, image<std::uint8_t>&, random_engine&)> run;
  std::vector<double> ours, theirs;  // images/s per round
};

template <class A>
std::function<void(image_view<const std::uint8_t>, image<std::uint8_t>&, random_engine&)> runner(A a) {
  return [a = std::move(a)](image_view<const std::uint8_t> in, image<std::uint8_t>& out, random_engine& rng) {
    augment::augment(a, in, out, rng);
  };
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  bool peers = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) rounds = std::max(3, std::atoi(argv[++i]));
    else if (a == "--no-peers") peers = false;
    else {
      std::fprintf(stderr, "usage: %s [--rounds N] [--no-peers]\n", argv[0]);
      return 2;
    }
  }
  std::unique_ptr<peer_process> tv;
  std::string peer_note = "peers skipped (--no-peers)";
  if (peers) {
    tv = std::make_unique<peer_process>(std::string(STRATA_SOURCE_DIR) + "/benchmarks/peers/augment_torchvision.py");
    if (tv->ready()) {
      peer_note = "torchvision " + tv->version() + ", 1 thread";
    } else {
      peer_note = "torchvision not available (" + tv->status + "; scripts/setup --benchmarks installs python3-torchvision)";
      tv.reset();
    }
  }
  std::printf("augmentation: images/s on one core, uint8, median of %d rounds; %s\n\n", rounds, peer_note.c_str());
  std::printf("%-10s %-22s %14s %14s %8s\n", "image", "augmentation", "strata img/s", "torchvision", "ratio");

  double worst = INFINITY;
  std::string worst_at;
  for (const auto& [H, W, C] : {std::array<std::int64_t, 3>{224, 224, 3}, std::array<std::int64_t, 3>{28, 28, 1}}) {
    image<std::uint8_t> input(H, W, C);
    random_engine fill(42);
    for (std::int64_t i = 0; i < input.values(); ++i) input.data()[i] = std::uint8_t(fill.below(256));
    const bool rgb = C == 3;
    const std::int64_t crop = std::min<std::int64_t>(H, 224);
    augment::random_affine affine;
    affine.max_translate_fraction = 0.1, affine.max_rotate_degrees = 15, affine.max_shear_degrees = 10;
    affine.scale_x = affine.scale_y = {0.9, 1.1};
    affine.same_scale = true;
    std::vector<operation> ops;
    ops.push_back({"hflip", true, runner(augment::horizontal_flip{1.0}), {}, {}});
    ops.push_back({"vflip", true, runner(augment::vertical_flip{1.0}), {}, {}});
    ops.push_back({"pad_crop", true, runner(augment::random_crop{H, W, 4}), {}, {}});
    ops.push_back({"random_resized_crop", true, runner(augment::random_resized_crop{crop}), {}, {}});
    ops.push_back({"resnet_scale_crop", true,
                   runner(rgb ? augment::resnet_scale_crop{256, 480, 224} : augment::resnet_scale_crop{28, 40, 28}), {}, {}});
    ops.push_back({"affine", true, runner(affine), {}, {}});
    ops.push_back({"rotate", true, runner(augment::random_rotate(15)), {}, {}});
    ops.push_back({"gaussian_noise", true, runner(augment::gaussian_noise{0.05}), {}, {}});
    if (rgb) ops.push_back({"color_jitter", true, runner(augment::color_jitter{0.4, 0.4, 0.4, 0.1}), {}, {}});
    ops.push_back({"lens_distortion", false, runner(augment::lens_distortion{{-0.3, 0.3}, {0, 0}}), {}, {}});
    ops.push_back({"salt_and_pepper", false, runner(augment::salt_and_pepper{0.05}), {}, {}});
    if (rgb) {
      augment::rgb_statistics stats;
      stats.add(input.view());
      ops.push_back({"pca_lighting", false, runner(augment::pca_lighting{augment::pca_of(stats), 0.1}), {}, {}});
    }
    const bool peer_here = tv && tv->ask("image " + std::to_string(H) + " " + std::to_string(W) + " " + std::to_string(C)) == "ok";
    image<std::uint8_t> out;
    random_engine rng(7);
    // Enough images per timing for ~50 ms of work.
    for (auto& op : ops) {
      const auto t0 = std::chrono::steady_clock::now();
      op.run(input.view(), out, rng);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const int count = std::clamp(int(0.05 / std::max(s, 1e-7)), 5, 20000);
      if (peer_here && op.has_peer) tv->ask("run " + op.name + " 3");  // warm-up
      for (int r = 0; r < rounds; ++r) {
        const auto a = std::chrono::steady_clock::now();
        for (int i = 0; i < count; ++i) op.run(input.view(), out, rng);
        op.ours.push_back(count / std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
        if (peer_here && op.has_peer) {
          const double secs = std::atof(tv->ask("run " + op.name + " " + std::to_string(count)).c_str());
          if (secs > 0) op.theirs.push_back(count / secs);
        }
      }
      const double ours = median(op.ours), theirs = median(op.theirs);
      const std::string label = std::to_string(H) + "x" + std::to_string(W) + "x" + std::to_string(C);
      if (op.theirs.empty()) {
        std::printf("%-10s %-22s %14.0f %14s %8s\n", label.c_str(), op.name.c_str(), ours, "-", "-");
      } else {
        std::printf("%-10s %-22s %14.0f %14.0f %8.2f\n", label.c_str(), op.name.c_str(), ours, theirs, ours / theirs);
        if (ours / theirs < worst) worst = ours / theirs, worst_at = label + " " + op.name;
      }
    }
    std::printf("\n");
  }
  if (std::isfinite(worst)) std::printf("slowest relative to torchvision: %s\n\n", worst_at.c_str());
  std::printf("RESULT aug_vs_torchvision_min=%.3f\n", std::isfinite(worst) ? worst : 0.0);
  return 0;
}
