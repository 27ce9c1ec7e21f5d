// strata/layers/softmax_cross_entropy.hpp — the classification loss: softmax of the logits and
// the mean negative log-likelihood of the labels, computed with the log-sum-exp shift so large
// logits never overflow; its gradient is (softmax − one-hot) / n. It also counts correct
// predictions (arg-max = label) for accuracy.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "strata/core/error.hpp"
#include "strata/core/parallel.hpp"
#include "strata/layers/loss.hpp"
#include "strata/layers/layer.hpp"

namespace strata {

struct SoftmaxCrossEntropy {
  static constexpr const char* name = "softmax cross-entropy";
  using target_type = std::int32_t;

  // Loss of logits [n, K] against labels [n] in [0, K); writes dL/dlogits when gradient is
  // non-empty.
  template <class T>
  static loss_result evaluate(batch_view<const T> logits, TensorView<const std::int32_t, 1> labels,
                              batch_view<T> gradient = {}) {
    const std::int64_t n = logits.extent(0), k = logits.extent(1);
    if (labels.extent(0) != n)
      throw shape_error("softmax cross-entropy: " + std::to_string(n) + " rows of logits but " +
                        std::to_string(labels.extent(0)) + " labels");
    for (std::int64_t i = 0; i < n; ++i)
      if (labels(i) < 0 || labels(i) >= k)
        throw error("softmax cross-entropy: label " + std::to_string(labels(i)) + " of sample " + std::to_string(i) +
                    " is outside the " + std::to_string(k) + " classes");
    const bool want_gradient = gradient.data() != nullptr;
    const auto value = [](T v) { return double(precision_traits<T>::to_compute(v)); };
    double total = 0;
    std::int64_t correct = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const T* row = logits.data() + i * k;
      std::int64_t best = 0;
      for (std::int64_t j = 1; j < k; ++j)
        if (row[j] > row[best]) best = j;
      const double shift = value(row[best]);
      double sum = 0;
      for (std::int64_t j = 0; j < k; ++j) sum += std::exp(value(row[j]) - shift);
      const double log_sum = std::log(sum);
      const std::int32_t label = labels(i);
      total += log_sum - (value(row[label]) - shift);
      correct += best == label;
      if (want_gradient) {
        T* g = gradient.data() + i * k;
        for (std::int64_t j = 0; j < k; ++j)
          g[j] = precision_traits<T>::from_compute(
              compute_t<T>((std::exp(value(row[j]) - shift - log_sum) - (j == label ? 1.0 : 0.0)) / double(n)));
      }
    }
    return {n ? total / double(n) : 0.0, correct};
  }
};

}  // namespace strata
