// Writes a training log with known values for tests/train/read_events.py, which reads it back
// with TensorBoard's own reader (the CTest train.event_file.tensorboard runs both):
//   write_event_fixture LOG_DIR
// LOG_DIR/tensorboard: an event file; LOG_DIR/train.csv: the CSV log. The values (the script
// computes the same ones):
//   steps s = 0..9, epoch s / 5 + 1: train/loss 1 / (s + 1), train/accuracy s / 10,
//   train/learning_rate 0.1 · 0.9^s, train/images_per_second 1000 + s, train/loss_scale 2^(10 + s)
//   on even steps only; validation/accuracy 0.875 at step 9; at step 9 the histogram
//   weights/dense.weight of the 101 values -1 + i / 50 (i = 0..100), gradients/dense.weight of
//   i / 100 - 0.5 with 7 buckets, and weights/dense.bias of [0.25, 0.25, 0.25] (one bucket).
#include <cmath>
#include <cstdio>
#include <exception>
#include <vector>

#include "strata/train/training_log.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s LOG_DIR\n", argv[0]);
    return 2;
  }
  try {
    const std::filesystem::path dir = argv[1];
    strata::train::training_log log({.tensorboard_dir = dir / "tensorboard", .csv_file = dir / "train.csv"});
    for (int s = 0; s < 10; ++s) {
      strata::train::step_metrics m{.step = s, .epoch = s / 5 + 1};
      m.loss = 1.0 / (s + 1);
      m.accuracy = s / 10.0;
      m.learning_rate = 0.1 * std::pow(0.9, s);
      m.images_per_second = 1000 + s;
      if (s % 2 == 0) m.loss_scale = std::ldexp(1.0, 10 + s);
      log.log_step(m);
    }
    log.log_scalar("validation/accuracy", 0.875, 9);
    std::vector<double> weights, gradients;
    for (int i = 0; i <= 100; ++i) {
      weights.push_back(-1 + i / 50.0);
      gradients.push_back(i / 100.0 - 0.5);
    }
    const std::vector<float> bias(3, 0.25f);
    log.log_histogram("weights/dense.weight", weights, 9);
    log.events()->histogram("gradients/dense.weight", gradients, 9, 7);
    log.log_histogram("weights/dense.bias", bias, 9);
    log.flush();
    std::printf("%s\n", log.events()->path().string().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "write_event_fixture: %s\n", e.what());
    return 1;
  }
  return 0;
}
