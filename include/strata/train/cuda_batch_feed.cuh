// strata/train/cuda_batch_feed.cuh — host batches to the GPU (batch_feed<T, cuda>): each batch is
// copied into one of two pinned buffers, sent on a copy stream of its own, and the current
// stream waits for it by event; so the transfer of batch k + 1 runs while the GPU still computes
// batch k, and the host prepares batch k + 2 meanwhile. A slot is reused only after its last
// transfer finished (host side) and the compute that read it finished (device side).
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "strata/core/tensor.hpp"
#include "strata/device/cuda.hpp"
#include "strata/device/cuda/allocator.hpp"
#include "strata/device/cuda/stream.hpp"
#include "strata/train/batch_feed.hpp"

namespace strata::train {

template <class T>
class batch_feed<T, strata::cuda> {
 public:
  struct staged {
    batch_view<const T, strata::cuda> images;
    TensorView<const std::int32_t, 1, strata::cuda> labels;
  };

  staged stage(batch_view<const T> images, TensorView<const std::int32_t, 1> labels) {
    if (last_ >= 0) slots_[std::size_t(last_)].consumed.record(current_stream());  // after the compute queued on it
    const int index = last_ < 0 ? 0 : 1 - last_;
    slot& s = slots_[std::size_t(index)];
    if (s.used) s.copied.synchronize();  // its pinned buffers are free again
    const std::int64_t n = images.size(), m = labels.size();
    if (s.host_images.size() < n) s.host_images = pinned_buffer<T>(n);
    if (s.host_labels.size() < m) s.host_labels = pinned_buffer<std::int32_t>(m);
    bool wait_for_compute = s.used;
    if (s.images.size() < n || s.labels.size() < m) {
      // New device blocks are the current stream's: the copy stream may write them only after the
      // work queued there so far (which may have used the memory before).
      if (s.images.size() < n) s.images = Tensor<T, 1, strata::cuda>::uninitialized(Shape<1>{n});
      if (s.labels.size() < m) s.labels = Tensor<std::int32_t, 1, strata::cuda>::uninitialized(Shape<1>{m});
      s.consumed.record(current_stream());
      wait_for_compute = true;
    }
    if (n > 0) std::memcpy(s.host_images.data(), images.data(), std::size_t(n) * sizeof(T));
    if (m > 0) std::memcpy(s.host_labels.data(), labels.data(), std::size_t(m) * sizeof(std::int32_t));
    if (wait_for_compute) STRATA_CUDA_CHECK(cudaStreamWaitEvent(copy_, s.consumed.get(), 0));  // the compute reading it is done
    if (n > 0)
      STRATA_CUDA_CHECK(cudaMemcpyAsync(s.images.data(), s.host_images.data(), std::size_t(n) * sizeof(T),
                                        cudaMemcpyHostToDevice, copy_));
    if (m > 0)
      STRATA_CUDA_CHECK(cudaMemcpyAsync(s.labels.data(), s.host_labels.data(), std::size_t(m) * sizeof(std::int32_t),
                                        cudaMemcpyHostToDevice, copy_));
    s.copied.record(copy_);
    STRATA_CUDA_CHECK(cudaStreamWaitEvent(current_stream(), s.copied.get(), 0));
    s.used = true;
    last_ = index;
    return {batch_view<const T, strata::cuda>(s.images.data(), images.shape()),
            TensorView<const std::int32_t, 1, strata::cuda>(s.labels.data(), labels.shape())};
  }

  // Waits until every staged transfer has finished (before the feed or its buffers go away).
  void finish() {
    for (auto& s : slots_)
      if (s.used) s.copied.synchronize();
  }
  ~batch_feed() {
    try {
      finish();
    } catch (...) {
    }
  }

 private:
  struct slot {
    pinned_buffer<T> host_images;
    pinned_buffer<std::int32_t> host_labels;
    Tensor<T, 1, strata::cuda> images;
    Tensor<std::int32_t, 1, strata::cuda> labels;
    event copied, consumed;
    bool used = false;
  };
  stream copy_{stream::non_blocking};  // not ordered against the legacy stream, where compute runs
  std::array<slot, 2> slots_;
  int last_ = -1;
};

}  // namespace strata::train
