// strata/layers/loss.hpp — what a loss is: a type with a name and
//   template <class T> static loss_result evaluate(batch_view<const T> outputs, Targets targets,
//                                                  batch_view<T> gradient = {});
// giving the batch mean and, when `gradient` is non-empty, dL/d(outputs). fit and evaluate take
// one as a parameter (SoftmaxCrossEntropy by default).
#pragma once

#include <concepts>
#include <cstdint>

#include "strata/layers/layer.hpp"

namespace strata {

struct loss_result {
  double loss = 0;           // mean over the batch
  std::int64_t correct = 0;  // predictions equal to the label (classification losses)
};

template <class L>
concept Loss = requires {
  { L::name } -> std::convertible_to<const char*>;
};

}  // namespace strata
