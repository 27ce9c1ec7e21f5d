// The test that matters for checkpoints: a training process killed with SIGKILL at a random step
// and started again with resume_from ends with the bits of an uninterrupted run, for SGD with
// Nesterov momentum and for Adam, from a tensor data set (shuffled) and from a data::loader with
// augmentation workers, through dropout and a schedule that changes every step. The trainer is
// this executable itself, run as a child (its hidden test case), so each run is a fresh process.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "strata/augment/flip.hpp"
#include "strata/data/dataset.hpp"
#include "strata/data/loader.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/dropout.hpp"
#include "strata/layers/flatten.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/model.hpp"
#include "strata/train/adam.hpp"
#include "strata/train/fit.hpp"
#include "strata/train/schedule.hpp"
#include "strata/train/sgd.hpp"
#include "support/files.hpp"
#include "support/testing.hpp"

extern char** environ;

using namespace strata;
using namespace strata::train;
using strata::testing::temp_dir;

namespace {

namespace fs = std::filesystem;

using Net = Sequential<Input<1, 4, 4>, Flatten, Dense<24>, ReLU, Dropout<0.2f>, Dense<3>>;

// 4×4 grey images: sample i's class lights one row of an otherwise dim image.
struct pattern_set {
  std::int64_t n = 600;
  std::int64_t size() const { return n; }
  data::sample<std::uint8_t> get(std::int64_t i) const {
    data::sample<std::uint8_t> s;
    s.label = std::int32_t(i % 3);
    s.image.assign(4, 4, 1, std::uint8_t((i * 37) % 100));
    for (std::int64_t x = 0; x < 4; ++x) s.image(s.label, x, 0) = std::uint8_t(150 + (i * 11 + x * 29) % 100);
    return s;
  }
};

struct flat_set {  // the same samples as rows of floats in [0, 1], for fit over a tensor data set
  Tensor<float, 2> images;
  Tensor<std::int32_t, 1> labels;
};

flat_set flat(const pattern_set& d) {
  flat_set f{Tensor<float, 2>(Shape{d.size(), 16}), Tensor<std::int32_t, 1>(Shape<1>{d.size()})};
  for (std::int64_t i = 0; i < d.size(); ++i) {
    const auto s = d.get(i);
    f.labels(i) = s.label;
    for (std::int64_t k = 0; k < 16; ++k) f.images(i, k) = float(s.image.data()[k]) / 255.0f;
  }
  return f;
}

// One whole run, as the child trains it: 3 epochs of 600 samples in batches of 8 (225 steps).
// Returns its final weights' file.
void train_run(const std::string& optimizer, bool with_loader, fit_options o, const fs::path& final_file) {
  const pattern_set d;
  Model<Net> model(7);
  o.epochs = 3;
  o.batch_size = 8;
  o.shuffle = true;
  o.shuffle_seed = 5;
  o.show_progress = false;
  const auto schedule = warmup(20, cosine(0.05, 225));  // a different rate at every step
  const auto run = [&](auto& opt) {
    if (with_loader) {
      data::loader l(d, augment::horizontal_flip{}, {.batch_size = 8, .seed = 5, .workers = 2});
      fit(model, l, opt, schedule, o);
    } else {
      fit(model, flat(d), opt, schedule, o);
    }
  };
  if (optimizer == "sgd") {
    SGD<float> sgd({.momentum = 0.9, .weight_decay = 1e-4, .nesterov = true});
    run(sgd);
  } else {
    Adam<float> adam({.weight_decay = 1e-3});
    run(adam);
  }
  model.save(final_file);
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Starts this executable as a child running only the hidden test case, with the run's settings
// in its environment.
pid_t start_child(const fs::path& dir, const std::string& optimizer, bool with_loader, bool resume) {
  std::vector<std::string> settings{"STRATA_RESUME_DIR=" + dir.string(), "STRATA_RESUME_OPTIMIZER=" + optimizer,
                                    std::string("STRATA_RESUME_LOADER=") + (with_loader ? "1" : "0"),
                                    std::string("STRATA_RESUME_CONTINUE=") + (resume ? "1" : "0")};
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) envp.push_back(*e);
  for (auto& s : settings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string self = fs::read_symlink("/proc/self/exe").string(), tag = "[checkpoint_child]";
  char* argv[] = {self.data(), tag.data(), nullptr};
  // The child's own Catch2 summary would crowd this test's output: stdout goes nowhere, stderr stays.
  posix_spawn_file_actions_t quiet;
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int started = posix_spawn(&pid, self.c_str(), &quiet, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&quiet);
  REQUIRE(started == 0);
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return status;
}

template <class M>
std::vector<float> weights_in(const fs::path& file) {
  M m(1);
  m.load(file);
  std::vector<float> values;
  m.visit_parameters([&](const auto& p) { values.insert(values.end(), p.value.data(), p.value.data() + p.value.size()); });
  return values;
}

}  // namespace

// The child: trains with a checkpoint after every step; with STRATA_RESUME_CONTINUE=1 it resumes
// from the checkpoint when there is one.
TEST_CASE("child: a run with a checkpoint after every step", "[.][checkpoint_child]") {
  const fs::path dir = env("STRATA_RESUME_DIR");
  REQUIRE(!dir.empty());
  fit_options o;
  o.checkpoint_file = dir / "run.ckpt";
  o.checkpoint_every = 1;
  if (env("STRATA_RESUME_CONTINUE") == "1" && fs::exists(o.checkpoint_file)) o.resume_from = o.checkpoint_file;
  train_run(env("STRATA_RESUME_OPTIMIZER"), env("STRATA_RESUME_LOADER") == "1", o, dir / "final.strata");
}

TEST_CASE("killed with SIGKILL at a random step and resumed: the uninterrupted run's bits", "[train][checkpoint][resume]") {
  std::mt19937 pick(20261206);
  for (const std::string optimizer : {"sgd", "adam"}) {
    for (const bool with_loader : {false, true}) {
      INFO(optimizer << (with_loader ? " from a loader with 2 augmentation workers" : " from a tensor data set"));
      temp_dir tmp;
      train_run(optimizer, with_loader, {}, tmp / "uninterrupted.strata");
      const auto expected = weights_in<Model<Net>>(tmp / "uninterrupted.strata");

      // A full run with checkpoints, timed, to kill the next ones somewhere inside.
      const auto t0 = std::chrono::steady_clock::now();
      REQUIRE(wait_for(start_child(tmp.path, optimizer, with_loader, false)) == 0);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      CHECK(weights_in<Model<Net>>(tmp / "final.strata") == expected);  // checkpoints change nothing

      for (int trial = 0; trial < 2; ++trial) {
        fs::remove(tmp / "run.ckpt");
        fs::remove(tmp / "final.strata");
        // Somewhere in the first two thirds of a run; should the run finish first (a machine
        // suddenly less loaded), again from the start, sooner.
        double at = std::uniform_real_distribution<double>(0.05, 0.65)(pick) * seconds;
        bool killed = false;
        for (int attempt = 0; attempt < 6 && !killed; ++attempt) {
          fs::remove(tmp / "run.ckpt");
          const pid_t child = start_child(tmp.path, optimizer, with_loader, false);
          std::this_thread::sleep_for(std::chrono::duration<double>(at));
          kill(child, SIGKILL);
          const int status = wait_for(child);
          killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
          if (!killed) at /= 2;
        }
        INFO("killed after " << at << " s of a " << seconds << " s run");
        REQUIRE(killed);
        REQUIRE(wait_for(start_child(tmp.path, optimizer, with_loader, true)) == 0);
        CHECK(weights_in<Model<Net>>(tmp / "final.strata") == expected);
      }
    }
  }
}
