// strata/layers/softmax_cross_entropy.hpp — the classification loss: softmax of the logits and
// the mean negative log-likelihood of the labels, computed with the log-sum-exp shift so large
// logits never overflow; its gradient is (softmax − one-hot) / n. It also counts correct
// predictions (arg-max = label) for accuracy.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/parallel.hpp"
#include "strata/layers/loss.hpp"
#include "strata/layers/layer.hpp"
#include "strata/ops/softmax_cross_entropy.hpp"

namespace strata {

struct SoftmaxCrossEntropy {
  static constexpr const char* name = "softmax cross-entropy";
  using target_type = std::int32_t;

  // Loss of logits [n, K] against labels [n] in [0, K); writes dL/dlogits when gradient is
  // non-empty.
  template <class T>
  static loss_result evaluate(batch_view<const T> logits, TensorView<const std::int32_t, 1> labels,
                              batch_view<T> gradient = {}) {
    return evaluate_on_host(logits, labels, gradient);
  }

  // The same on another device (logits, labels and gradient all there; the device is the
  // logits'): its op::softmax_cross_entropy kernel computes the rows.
  template <class T, class D>
    requires(!std::is_same_v<D, cpu>)
  static loss_result evaluate(batch_view<const T, D> logits, std::type_identity_t<TensorView<const std::int32_t, 1, D>> labels,
                              std::type_identity_t<batch_view<T, D>> gradient = {}) {
    const std::int64_t n = logits.extent(0), k = logits.extent(1);
    check_rows(n, labels.extent(0));
    const auto sums = ops::softmax_cross_entropy(D{}, n, k, logits.data(), labels.data(), gradient.data());
    if (sums.invalid_sample >= 0) throw invalid_label(sums.invalid_label, sums.invalid_sample, k);
    return {n ? sums.total / double(n) : 0.0, sums.correct};
  }

 private:
  static void check_rows(std::int64_t n, std::int64_t labels) {
    if (labels != n)
      throw shape_error("softmax cross-entropy: " + std::to_string(n) + " rows of logits but " + std::to_string(labels) +
                        " labels");
  }
  static error invalid_label(std::int32_t label, std::int64_t sample, std::int64_t k) {
    return error("softmax cross-entropy: label " + std::to_string(label) + " of sample " + std::to_string(sample) +
                 " is outside the " + std::to_string(k) + " classes");
  }

  template <class T>
  static loss_result evaluate_on_host(batch_view<const T> logits, TensorView<const std::int32_t, 1> labels,
                                      batch_view<T> gradient) {
    const std::int64_t n = logits.extent(0), k = logits.extent(1);
    check_rows(n, labels.extent(0));
    for (std::int64_t i = 0; i < n; ++i)
      if (labels(i) < 0 || labels(i) >= k) throw invalid_label(labels(i), i, k);
    const bool want_gradient = gradient.data() != nullptr;
    // Dynamic fixed point reads with the logits' exponent and stores the gradient with its own.
    constexpr bool dynamic = has_dynamic_scale<T>;
    const float step = [&] {
      if constexpr (dynamic) return n * k > 0 ? std::ldexp(1.0f, -scale_of(logits.data()).fraction_bits) : 1.0f;
      else return 1.0f;
    }();
    const auto value = [step](T v) {
      if constexpr (dynamic) return double(precision_traits<T>::to_compute(v, step));
      else return double(precision_traits<T>::to_compute(v));
    };
    std::vector<float> dynamic_gradient(dynamic && want_gradient ? std::size_t(n * k) : 0);
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
        for (std::int64_t j = 0; j < k; ++j) {
          const auto g = compute_t<T>((std::exp(value(row[j]) - shift - log_sum) - (j == label ? 1.0 : 0.0)) / double(n));
          if constexpr (dynamic) dynamic_gradient[std::size_t(i * k + j)] = g;
          else gradient.data()[i * k + j] = precision_traits<T>::from_compute(g);
        }
      }
    }
    if constexpr (dynamic)
      if (want_gradient) store_values(gradient.data(), dynamic_gradient.data(), n * k);
    return {n ? total / double(n) : 0.0, correct};
  }
};

}  // namespace strata
