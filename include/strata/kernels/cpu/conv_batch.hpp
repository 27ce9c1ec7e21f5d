// strata/kernels/cpu/conv_batch.hpp — how the GEMM-based convolutions split a batch: whole
// images per thread (each thread its own buffer and single-threaded GEMMs), or, for a batch
// smaller than the thread count, image after image with threaded GEMMs.
#pragma once

#include <cstdint>

#include "strata/core/parallel.hpp"
#include "strata/core/tensor.hpp"
#include "strata/kernels/cpu/gemm.hpp"

namespace strata::kernels::cpu::detail {

// Threads a batch of N images is split over: all of them when every thread gets an image, else 1.
inline std::int64_t batch_chunks(std::int64_t N) {
  const std::int64_t threads = num_threads();
  return (N >= threads && threads > 1) ? threads : 1;
}

// Runs one(n, buffer of `workspace` values) for n in [0, N), split as batch_chunks says.
template <class T, class One>
void over_images(std::int64_t N, std::int64_t workspace, One&& one) {
  const std::int64_t chunks = batch_chunks(N);
  const blas_on_calling_threads blas_guard(chunks > 1);
  parallel_chunks(N, chunks, [&](std::int64_t, std::int64_t begin, std::int64_t end) {
    auto buffer = Tensor<T, 1>::uninitialized(Shape<1>{workspace});
    for (std::int64_t n = begin; n < end; ++n) one(n, buffer.data());
  });
}

}  // namespace strata::kernels::cpu::detail
