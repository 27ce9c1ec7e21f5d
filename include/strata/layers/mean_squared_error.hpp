// strata/layers/mean_squared_error.hpp — the regression loss: mean over every element of
// (prediction − target)², with gradient 2·(prediction − target) / count.
#pragma once

#include <cstdint>
#include <string>

#include "strata/core/error.hpp"
#include "strata/core/functions.hpp"
#include "strata/core/reduction.hpp"
#include "strata/layers/loss.hpp"
#include "strata/layers/layer.hpp"

namespace strata {

struct MeanSquaredError {
  static constexpr const char* name = "mean squared error";
  using target_type = float;

  template <class T>
  static loss_result evaluate(batch_view<const T> prediction, batch_view<const T> target, batch_view<T> gradient = {}) {
    if (prediction.shape() != target.shape())
      throw shape_error("mean squared error: predictions " + prediction.shape().to_string() + " and targets " +
                        target.shape().to_string() + " differ");
    const double count = double(prediction.size());
    const double loss = count ? double(sum(square(prediction - target))) / count : 0.0;
    if (gradient.data()) {
      if constexpr (has_dynamic_scale<T>) gradient = (prediction - target) * compute_t<T>(2 / count);  // no value per element
      else gradient = (prediction - target) * T(2 / count);
    }
    return {loss, 0};
  }
};

}  // namespace strata
