// A small classification set for training tests of low precisions: three noisy classes of
// 1×8×8 images, each brighter on its own third of the pixels.
#pragma once

#include <cstdint>

#include "strata/core/random.hpp"
#include "strata/core/tensor.hpp"

namespace strata::testing {

struct blobs {
  Tensor<float, 2> images;
  Tensor<std::int32_t, 1> labels;
};

inline blobs make_blobs(std::int64_t n, std::uint64_t seed, std::int64_t pixels = 64) {
  blobs d{Tensor<float, 2>(Shape{n, pixels}), Tensor<std::int32_t, 1>(Shape<1>{n})};
  random_engine rng(seed);
  for (std::int64_t i = 0; i < n; ++i) {
    const int c = int(i % 3);
    d.labels(i) = c;
    for (std::int64_t j = 0; j < pixels; ++j) d.images(i, j) = 0.5f * rng.normal() + (j % 3 == c ? 0.4f : 0.0f);
  }
  return d;
}

}  // namespace strata::testing
