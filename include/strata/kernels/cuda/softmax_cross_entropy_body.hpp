// strata/kernels/cuda/softmax_cross_entropy_body.hpp — what each GPU thread of the softmax
// cross-entropy does: one row of logits, in double as on the CPU (layers/softmax_cross_entropy.hpp):
// the log-sum-exp shift by the row's maximum, the row's loss and whether its arg-max is the label,
// and the gradient (softmax − one-hot) / n. A label outside [0, K) is reported, not read.
// Plain C++: compiles with g++ as well as nvcc.
#pragma once

#include <cmath>
#include <cstdint>

#include "strata/config.hpp"
#include "strata/device/cuda/grid.hpp"
#include "strata/numeric/precision_traits.hpp"

namespace strata::kernels::cuda_body {

template <class T>
struct softmax_cross_entropy_body {
  std::int64_t n, k;
  const T* logits;             // [n, k]
  const std::int32_t* labels;  // [n]
  T* gradient;                 // [n, k], or null
  double* row_loss;            // [n]
  std::int32_t* row_correct;   // [n]: 1 where the arg-max is the label, −1 where the label is invalid
  STRATA_HD void operator()(const cuda_grid::grid_index& t) const {
    using traits = precision_traits<T>;
    for (std::int64_t i = cuda_grid::global_x(t); i < n; i += cuda_grid::threads_x(t)) {
      const T* row = logits + i * k;
      const std::int32_t label = labels[i];
      if (label < 0 || label >= k) {
        row_loss[i] = 0;
        row_correct[i] = -1;
        continue;
      }
      std::int64_t best = 0;
      for (std::int64_t j = 1; j < k; ++j)
        if (row[j] > row[best]) best = j;
      const double shift = double(traits::to_compute(row[best]));
      double sum = 0;
      for (std::int64_t j = 0; j < k; ++j) sum += std::exp(double(traits::to_compute(row[j])) - shift);
      const double log_sum = std::log(sum);
      row_loss[i] = log_sum - (double(traits::to_compute(row[label])) - shift);
      row_correct[i] = best == label;
      if (gradient)
        for (std::int64_t j = 0; j < k; ++j) {
          const double p = std::exp(double(traits::to_compute(row[j])) - shift - log_sum);
          gradient[i * k + j] = traits::from_compute(compute_t<T>((p - (j == label ? 1.0 : 0.0)) / double(n)));
        }
    }
  }
};

}  // namespace strata::kernels::cuda_body
