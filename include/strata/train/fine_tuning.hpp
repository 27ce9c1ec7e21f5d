// strata/train/fine_tuning.hpp — the lecture's fine-tuning rule as one call (bottom layers frozen,
// intermediate layers at 1/100 of the learning rate, the top pretrained layers at 1/10, a new head
// at the full rate), and a model's summary with each layer's multiplier.
#pragma once

#include <cstddef>
#include <cstdio>
#include <ostream>
#include <string>

#include "strata/core/error.hpp"
#include "strata/net/model.hpp"
#include "strata/net/summary.hpp"

namespace strata::train {

// Top-level layer boundaries, bottom to top: [0, frozen_below) frozen, [frozen_below,
// intermediate_below) at `intermediate`, [intermediate_below, head_from) at `top`, [head_from,
// end) at 1.
struct fine_tuning {
  std::size_t frozen_below = 0;
  std::size_t intermediate_below = 0;
  std::size_t head_from = 0;
  double intermediate = 0.01;
  double top = 0.1;
};

template <class M>
void set_fine_tuning_rates(M& model, const fine_tuning& f) {
  if (!(f.frozen_below <= f.intermediate_below && f.intermediate_below <= f.head_from && f.head_from <= M::layer_count))
    throw error("set_fine_tuning_rates: the boundaries must be ordered, frozen_below " + std::to_string(f.frozen_below) +
                " <= intermediate_below " + std::to_string(f.intermediate_below) + " <= head_from " +
                std::to_string(f.head_from) + " <= " + std::to_string(M::layer_count) + " layers");
  model.set_learning_rate(layer_range{0, f.frozen_below}, 0);
  model.set_learning_rate(layer_range{f.frozen_below, f.intermediate_below}, f.intermediate);
  model.set_learning_rate(layer_range{f.intermediate_below, f.head_from}, f.top);
  model.set_learning_rate(layer_range{f.head_from, M::layer_count}, 1);
}

// "frozen", "×0.1", or "mixed" for a layer whose parameters have different multipliers.
template <class M>
std::string rate_label(M& model, const std::string& layer) {
  double first = -1;
  bool mixed = false;
  model.visit_parameters([&](const auto& p) {  // the model's rules (a binary layer's own factor aside)
    if (!detail::path_covers(layer, p.name)) return;
    const double rate = model.learning_rate_of(p.name);
    if (first < 0) first = rate;
    else mixed = mixed || rate != first;
  });
  if (first < 0) return "";
  if (mixed) return "mixed";
  if (first == 0) return "frozen";
  char buf[32];
  std::snprintf(buf, sizeof buf, "×%g", first);
  return buf;
}

// The network's summary (net/summary.hpp) with a column of learning-rate multipliers.
template <class M>
void print_summary(std::ostream& out, M& model, std::int64_t batch = 64) {
  ::strata::print_summary<typename M::network, typename M::precision>(
      out, batch, "lr", [&](const summary_row& r) { return rate_label(model, r.path); });
}

}  // namespace strata::train
