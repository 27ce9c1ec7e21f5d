// RAII guards for how algo::automatic chooses convolution algorithms: they restore the mode on
// scope exit.
//
//   strata::testing::autotune_guard rule_of_thumb(false);   // deterministic algorithm choice
//   strata::testing::conv_tuning_guard plan(strata::conv_tuning::rule_of_thumb);
#pragma once

#include "strata/kernels/conv_choices.hpp"

namespace strata::testing {

class conv_tuning_guard {
 public:
  explicit conv_tuning_guard(conv_tuning t) : old_(get_conv_tuning()) { set_conv_tuning(t); }
  ~conv_tuning_guard() { set_conv_tuning(old_); }
  conv_tuning_guard(const conv_tuning_guard&) = delete;
  conv_tuning_guard& operator=(const conv_tuning_guard&) = delete;

 private:
  conv_tuning old_;
};

// true: time the candidates; false: the rule of thumb.
class autotune_guard : public conv_tuning_guard {
 public:
  explicit autotune_guard(bool on) : conv_tuning_guard(on ? conv_tuning::timed : conv_tuning::rule_of_thumb) {}
};

// false: automatic chooses among the algorithms without transforms (no Winograd, no FFT).
class transforms_guard {
 public:
  explicit transforms_guard(bool allowed) : old_(get_conv_transforms()) { set_conv_transforms(allowed); }
  ~transforms_guard() { set_conv_transforms(old_); }
  transforms_guard(const transforms_guard&) = delete;
  transforms_guard& operator=(const transforms_guard&) = delete;

 private:
  bool old_;
};

}  // namespace strata::testing
