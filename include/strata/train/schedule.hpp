// strata/train/schedule.hpp — learning-rate schedules as small value types called with the
// optimizer step (from 0): constant, step_decay, multi_step, cosine, a linear warmup in front of
// any of them, by_epoch to index a schedule by epochs, and the Schedule concept they all meet.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"

namespace strata::train {

// Schedule: a learning rate for every optimizer step.
//   s(t), t >= 0 the number of optimizer steps taken so far, returns the rate for the next one.
//   Calling it is const and has no side effects, so an optimizer may ask twice, a checkpoint
//   needs only the step to resume, and schedules can be nested (warmup<cosine>, by_epoch<…>).
template <class S>
concept Schedule = requires(const S& s, std::int64_t t) {
  { s(t) } -> std::convertible_to<double>;
};

namespace detail {

// Shortest round-trip text, independent of the global C locale, so messages read "-0.1", not
// "-0.100000" or "-0,1".
inline std::string schedule_number(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

inline void check_lr(const char* schedule, const char* name, double v) {
  if (!std::isfinite(v) || v < 0)
    throw error(std::string(schedule) + ": " + name + " must be finite and non-negative, got " + schedule_number(v));
}

inline void check_gamma(const char* schedule, double gamma) {
  if (!std::isfinite(gamma) || gamma <= 0)
    throw error(std::string(schedule) + ": gamma must be finite and positive, got " + schedule_number(gamma));
}

inline void check_positive(const char* schedule, const char* name, std::int64_t v) {
  if (v <= 0) throw error(std::string(schedule) + ": " + name + " must be positive, got " + std::to_string(v));
}

// A negative step is a bug in the caller's loop (an off-by-one or an overflow), not a request
// for the rate "before training": say so rather than extrapolate.
inline void check_step(const char* schedule, std::int64_t step) {
  if (step < 0) throw error(std::string(schedule) + ": step " + std::to_string(step) + " is negative; steps count from 0");
}

}  // namespace detail

// Optimizer steps in one epoch of `examples` examples in batches of `batch_size`: the last,
// short batch counts unless the loader drops it.
inline std::int64_t steps_per_epoch(std::int64_t examples, std::int64_t batch_size, bool drop_last = false) {
  if (examples < 0) throw error("steps_per_epoch: examples must be non-negative, got " + std::to_string(examples));
  detail::check_positive("steps_per_epoch", "batch_size", batch_size);
  return drop_last ? examples / batch_size : examples / batch_size + (examples % batch_size != 0);
}

// `epochs` epochs in optimizer steps, for schedules given in epochs by papers ("decay by 10 at
// epochs 30 and 60") but stepped per batch, e.g. cosine{0.1, epochs_to_steps(90, spe)}.
inline std::int64_t epochs_to_steps(std::int64_t epochs, std::int64_t steps_per_epoch) {
  if (epochs < 0) throw error("epochs_to_steps: epochs must be non-negative, got " + std::to_string(epochs));
  detail::check_positive("epochs_to_steps", "steps_per_epoch", steps_per_epoch);
  if (epochs > std::numeric_limits<std::int64_t>::max() / steps_per_epoch)
    throw error("epochs_to_steps: " + std::to_string(epochs) + " epochs of " + std::to_string(steps_per_epoch) +
                " steps overflow std::int64_t");
  return epochs * steps_per_epoch;
}

// The same rate at every step.
class constant {
 public:
  explicit constant(double lr) : lr_(lr) { detail::check_lr("constant", "lr", lr); }
  double operator()(std::int64_t step) const {
    detail::check_step("constant", step);
    return lr_;
  }
  double lr() const noexcept { return lr_; }

 private:
  double lr_;
};

// lr · gamma^floor(step / step_size): the classic "divide by 10 every 30 epochs" of the ResNet
// and VGG papers (with by_epoch or epochs_to_steps for the unit).
class step_decay {
 public:
  step_decay(double lr, std::int64_t step_size, double gamma = 0.1) : lr_(lr), step_size_(step_size), gamma_(gamma) {
    detail::check_lr("step_decay", "lr", lr);
    detail::check_positive("step_decay", "step_size", step_size);
    detail::check_gamma("step_decay", gamma);
  }
  double operator()(std::int64_t step) const {
    detail::check_step("step_decay", step);
    return lr_ * std::pow(gamma_, static_cast<double>(step / step_size_));
  }
  double lr() const noexcept { return lr_; }
  std::int64_t step_size() const noexcept { return step_size_; }
  double gamma() const noexcept { return gamma_; }

 private:
  double lr_;
  std::int64_t step_size_;
  double gamma_;
};

// lr · gamma^(number of milestones <= step): decays at hand-picked steps, e.g. {0.1, {30, 60, 80}, 0.1}
// for the epochs of a CIFAR ResNet. Milestones must strictly increase, so each one is one decay.
class multi_step {
 public:
  multi_step(double lr, std::vector<std::int64_t> milestones, double gamma = 0.1)
      : lr_(lr), milestones_(std::move(milestones)), gamma_(gamma) {
    detail::check_lr("multi_step", "lr", lr);
    detail::check_gamma("multi_step", gamma);
    for (std::size_t i = 0; i < milestones_.size(); ++i) {
      if (milestones_[i] < 0)
        throw error("multi_step: milestone " + std::to_string(milestones_[i]) + " is negative");
      if (i > 0 && milestones_[i] <= milestones_[i - 1])
        throw error("multi_step: milestones must strictly increase, got " + std::to_string(milestones_[i - 1]) +
                    " then " + std::to_string(milestones_[i]));
    }
  }
  double operator()(std::int64_t step) const {
    detail::check_step("multi_step", step);
    const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin();
    return lr_ * std::pow(gamma_, static_cast<double>(passed));
  }
  double lr() const noexcept { return lr_; }
  const std::vector<std::int64_t>& milestones() const noexcept { return milestones_; }
  double gamma() const noexcept { return gamma_; }

 private:
  double lr_;
  std::vector<std::int64_t> milestones_;
  double gamma_;
};

// Cosine annealing without restarts (Loshchilov & Hutter, SGDR, 2017):
// min_lr + (lr − min_lr)(1 + cos(π·t/T))/2 with t = min(step, T), so training past T stays at
// min_lr instead of climbing back up the cosine.
class cosine {
 public:
  cosine(double lr, std::int64_t total_steps, double min_lr = 0.0) : lr_(lr), total_steps_(total_steps), min_lr_(min_lr) {
    detail::check_lr("cosine", "lr", lr);
    detail::check_lr("cosine", "min_lr", min_lr);
    detail::check_positive("cosine", "total_steps", total_steps);
    if (min_lr > lr)
      throw error("cosine: min_lr " + detail::schedule_number(min_lr) + " is above lr " + detail::schedule_number(lr));
  }
  double operator()(std::int64_t step) const {
    detail::check_step("cosine", step);
    // Exactly min_lr from T on: cos(π) in floating point is -1 only up to rounding.
    if (step >= total_steps_) return min_lr_;
    const double phase = std::numbers::pi * static_cast<double>(step) / static_cast<double>(total_steps_);
    return min_lr_ + (lr_ - min_lr_) * (1.0 + std::cos(phase)) / 2.0;
  }
  double lr() const noexcept { return lr_; }
  std::int64_t total_steps() const noexcept { return total_steps_; }
  double min_lr() const noexcept { return min_lr_; }

 private:
  double lr_;
  std::int64_t total_steps_;
  double min_lr_;
};

// A linear ramp in front of another schedule (Goyal et al., "Accurate, Large Minibatch SGD",
// 2017): large-batch and Adam-style training diverges if the full rate hits random weights.
// For step < warmup_steps the rate goes linearly from start_factor·inner(warmup_steps) to
// inner(warmup_steps), which it reaches at step == warmup_steps, where inner(step) takes over —
// so the two meet without a jump. The inner schedule sees the global step: a cosine behind a
// warmup should be given the whole run's steps as total_steps.
template <class S>
class warmup {
  static_assert(Schedule<S>, "warmup<S>: S must be a Schedule, callable as s(std::int64_t) with a result convertible to double");

 public:
  warmup(std::int64_t warmup_steps, S inner, double start_factor = 0.0)
      : warmup_steps_(warmup_steps), inner_(std::move(inner)), start_factor_(start_factor) {
    if (warmup_steps < 0)
      throw error("warmup: warmup_steps must be non-negative, got " + std::to_string(warmup_steps));
    if (!(start_factor >= 0.0 && start_factor <= 1.0))
      throw error("warmup: start_factor must be in [0, 1], got " + detail::schedule_number(start_factor));
  }
  double operator()(std::int64_t step) const {
    detail::check_step("warmup", step);
    if (step >= warmup_steps_) return static_cast<double>(inner_(step));
    const double target = static_cast<double>(inner_(warmup_steps_));
    const double fraction = static_cast<double>(step) / static_cast<double>(warmup_steps_);
    return target * (start_factor_ + (1.0 - start_factor_) * fraction);
  }
  std::int64_t warmup_steps() const noexcept { return warmup_steps_; }
  const S& inner() const noexcept { return inner_; }
  double start_factor() const noexcept { return start_factor_; }

 private:
  std::int64_t warmup_steps_;
  S inner_;
  double start_factor_;
};

// Reads a schedule written in epochs at optimizer steps: inner(step / steps_per_epoch), so the
// rate changes on epoch boundaries only, as in papers that state milestones in epochs.
template <class S>
class by_epoch {
  static_assert(Schedule<S>, "by_epoch<S>: S must be a Schedule, callable as s(std::int64_t) with a result convertible to double");

 public:
  by_epoch(std::int64_t steps_per_epoch, S inner) : steps_per_epoch_(steps_per_epoch), inner_(std::move(inner)) {
    detail::check_positive("by_epoch", "steps_per_epoch", steps_per_epoch);
  }
  double operator()(std::int64_t step) const {
    detail::check_step("by_epoch", step);
    return static_cast<double>(inner_(step / steps_per_epoch_));
  }
  std::int64_t steps_per_epoch() const noexcept { return steps_per_epoch_; }
  const S& inner() const noexcept { return inner_; }

 private:
  std::int64_t steps_per_epoch_;
  S inner_;
};

}  // namespace strata::train
