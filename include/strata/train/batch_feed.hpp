// strata/train/batch_feed.hpp — how a training loop hands host batches to its model's device:
// batch_feed<T, D>::stage(images, labels) gives views on D, valid until the batch after next is
// staged. On the CPU that is the host batch itself; <strata/cuda.hpp> adds the GPU's feed
// (train/cuda_batch_feed.cuh: pinned buffers and a copy stream, so transfers overlap compute).
#pragma once

#include <cstdint>
#include <type_traits>

#include "strata/core/device_tags.hpp"
#include "strata/core/tensor.hpp"
#include "strata/layers/layer.hpp"

namespace strata::train {

template <class T, class D>
class batch_feed {
  static_assert(std::is_same_v<D, cpu>,
                "strata::train::batch_feed<T, D>: batches for this device need its header (<strata/cuda.hpp> for strata::cuda)");

 public:
  struct staged {
    batch_view<const T, D> images;
    TensorView<const std::int32_t, 1, D> labels;
  };
  staged stage(batch_view<const T> images, TensorView<const std::int32_t, 1> labels) { return {images, labels}; }
};

}  // namespace strata::train
