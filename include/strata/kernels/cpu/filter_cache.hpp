// strata/kernels/cpu/filter_cache.hpp — transformed filters kept between calls. Winograd and
// FFT convolutions transform the weights before use; while the weights do not change
// (inference, or several forward passes between two optimizer steps) the transform is reused.
// The owner says when weights may have changed by bumping the version it passes in.
#pragma once

#include <cstdint>

#include "strata/core/tensor.hpp"

namespace strata::kernels::cpu {

template <class T>
struct filter_cache {
  static constexpr std::uint64_t empty = ~std::uint64_t{0};
  std::uint64_t version = empty;  // the weights_version `data` was computed from
  Tensor<T, 1> data;              // the algorithm's own layout

  // True when data must be (re)computed for weights_version; sizes data to `elements`.
  bool stale(std::uint64_t weights_version, std::int64_t elements) {
    if (data.size() != elements) {
      data = Tensor<T, 1>::uninitialized(Shape<1>{elements});
      version = empty;
    }
    return version != weights_version;
  }
  void mark(std::uint64_t weights_version) { version = weights_version; }
};

}  // namespace strata::kernels::cpu
