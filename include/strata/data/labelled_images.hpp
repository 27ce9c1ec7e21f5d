// strata/data/labelled_images.hpp — a labelled image set held in memory (what the IDX and CIFAR
// readers load and what fit and evaluate train on).
#pragma once

#include <algorithm>
#include <cstdint>

#include "strata/core/tensor.hpp"

namespace strata::data {

// A labelled image set: images N×1×H×W in [0, 1], labels N in [0, classes).
struct labelled_images {
  Tensor<float, 4> images;
  Tensor<std::int32_t, 1> labels;
  std::int64_t classes = 0;

  std::int64_t size() const noexcept { return labels.size(); }

  // The first min(n, size()) examples, copied (a quick run on a subset).
  labelled_images first(std::int64_t n) const {
    n = std::clamp<std::int64_t>(n, 0, size());
    labelled_images head;
    head.images = images.slice(0, n);
    head.labels = labels.slice(0, n);
    head.classes = classes;
    return head;
  }
};

}  // namespace strata::data
