// strata/device/cuda/reduce.cuh — sum, mean, max and min on the GPU, over every element or
// over chosen axes, reading any element-wise expression once. Each thread accumulates in the
// wide type (fp64 for fp32 data), warps combine with shuffles, blocks through shared memory;
// a full reduction is two passes with a fixed grid, so results are deterministic.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "strata/core/reduction.hpp"
#include "strata/device/cuda/allocator.hpp"
#include "strata/core/cpu_reduce.hpp"
#include "strata/core/reduction_plan.hpp"
#include "strata/device/cuda/elementwise.cuh"

namespace strata::cuda_evaluator {

using strata::cpu_evaluator::detail::wide_t;

// Combines v across the block; the result is valid in thread 0.
template <class Reducer, class W>
__device__ W block_reduce(W v) {
  __shared__ W warp_results[block_size / 32];
  for (int offset = 16; offset > 0; offset /= 2) v = Reducer::combine(v, __shfl_down_sync(0xffffffffu, v, offset));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_results[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < block_size / 32 ? warp_results[lane] : Reducer::template identity<W>();
    for (int offset = 16; offset > 0; offset /= 2) v = Reducer::combine(v, __shfl_down_sync(0xffffffffu, v, offset));
  }
  return v;
}

template <class Reducer, class W, class Eval>
__global__ void __launch_bounds__(block_size) reduce_all_blocks(const Eval ev, std::int64_t n, std::int64_t inner,
                                                                W* partial) {
  W acc = Reducer::template identity<W>();
  for (std::int64_t i = std::int64_t{blockIdx.x} * block_size + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * block_size) {
    const std::int64_t r = inner == n ? 0 : i / inner;
    acc = Reducer::combine(acc, static_cast<W>(ev(r, i - r * inner)));
  }
  acc = block_reduce<Reducer>(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

template <class Reducer, class W>
__global__ void __launch_bounds__(block_size) reduce_partials(W* partial, int count) {
  W acc = Reducer::template identity<W>();
  for (int i = threadIdx.x; i < count; i += block_size) acc = Reducer::combine(acc, partial[i]);
  acc = block_reduce<Reducer>(acc);
  if (threadIdx.x == 0) partial[0] = acc;
}

// The reduction of every element of node `e`, in its accumulation type (waits for the result).
template <class Reducer, class E>
accumulate_t<typename E::element_type> reduce_all(const E& e) {
  using Acc = accumulate_t<typename E::element_type>;
  using W = wide_t<Acc>;
  const auto& s = e.shape();
  const std::int64_t n = s.elements();
  if (n == 0) {
    if constexpr (std::is_same_v<Reducer, reducer::sum>) return Acc(0);
    else throw shape_error(std::string(Reducer::name) + " of an empty tensor " + s.to_string());
  }
  constexpr std::size_t k = E::collapse_depth;
  const std::int64_t inner = strata::detail::inner_extent(s, k);
  const int blocks = std::min(grid_size(n, 8), 1024);
  const cudaStream_t stream = current_stream();
  auto& pool = caching_allocator::instance();
  W* partial = static_cast<W*>(pool.allocate(sizeof(W) * blocks, stream));
  W result{};
  try {
    reduce_all_blocks<Reducer><<<blocks, block_size, 0, stream>>>(e.evaluator(k), n, inner, partial);
    STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::reduce_all_blocks");
    reduce_partials<Reducer><<<1, block_size, 0, stream>>>(partial, blocks);
    STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::reduce_partials");
    STRATA_CUDA_CHECK(cudaMemcpyAsync(&result, partial, sizeof(W), cudaMemcpyDeviceToHost, stream));
    STRATA_CUDA_CHECK(cudaStreamSynchronize(stream));
  } catch (...) {
    pool.deallocate(partial, stream);
    throw;
  }
  pool.deallocate(partial, stream);
  return static_cast<Acc>(Reducer::finalize(result, n));
}

template <class T, class V>
__device__ __forceinline__ T combine_into(T old, V v, assign_mode mode) {
  using traits = precision_traits<T>;
  using C = typename traits::compute;
  if (mode == assign_mode::add) return traits::from_compute(static_cast<C>(traits::to_compute(old) + static_cast<C>(v)));
  if (mode == assign_mode::subtract) return traits::from_compute(static_cast<C>(traits::to_compute(old) - static_cast<C>(v)));
  return traits::from_compute(static_cast<C>(v));
}

// The innermost axes are reduced: one block per output element.
template <class Reducer, class W, class T, class Eval, std::size_t R>
__global__ void __launch_bounds__(block_size) reduce_inner(T* __restrict__ out, std::int64_t out_n, const Eval ev,
                                                           const reduction_plan<R> plan, assign_mode mode) {
  for (std::int64_t o = blockIdx.x; o < out_n; o += gridDim.x) {
    const std::int64_t base = plan.kept_base(o);
    W acc = Reducer::template identity<W>();
    if (plan.inner >= block_size) {
      for (std::int64_t q = 0; q < plan.red_count; ++q) {
        const std::int64_t row = base + plan.reduced_offset(q);
        for (std::int64_t c = threadIdx.x; c < plan.inner; c += block_size)
          acc = Reducer::combine(acc, static_cast<W>(ev(row, c)));
      }
    } else {  // short rows: spread (row, column) pairs over the threads
      const std::int64_t count = plan.red_count * plan.inner;
      for (std::int64_t j = threadIdx.x; j < count; j += block_size) {
        const std::int64_t q = j / plan.inner;
        acc = Reducer::combine(acc, static_cast<W>(ev(base + plan.reduced_offset(q), j - q * plan.inner)));
      }
    }
    acc = block_reduce<Reducer>(acc);
    if (threadIdx.x == 0) out[o] = combine_into(out[o], Reducer::finalize(acc, plan.total_count), mode);
    __syncthreads();  // warp_results is reused by the next output
  }
}

// The innermost axes are kept: one thread per output element, reading a row of the operand
// per reduced combination (coalesced across the threads of a warp).
template <class Reducer, class W, class T, class Eval, std::size_t R>
__global__ void __launch_bounds__(block_size) reduce_outer(T* __restrict__ out, std::int64_t out_n, const Eval ev,
                                                           const reduction_plan<R> plan, assign_mode mode) {
  for (std::int64_t g = std::int64_t{blockIdx.x} * block_size + threadIdx.x; g < out_n;
       g += std::int64_t{gridDim.x} * block_size) {
    const std::int64_t o = g / plan.inner, c = g - o * plan.inner;
    const std::int64_t base = plan.kept_base(o);
    W acc = Reducer::template identity<W>();
    for (std::int64_t q = 0; q < plan.red_count; ++q)
      acc = Reducer::combine(acc, static_cast<W>(ev(base + plan.reduced_offset(q), c)));
    out[g] = combine_into(out[g], Reducer::finalize(acc, plan.total_count), mode);
  }
}

template <class T, std::size_t OutRank, class Reducer, class A, std::size_t... Reduced>
void reduce_axes(const TensorView<T, OutRank, strata::cuda>& dst, const Reduction<Reducer, A, Reduced...>& node,
                 assign_mode mode) {
  using Acc = accumulate_t<typename A::element_type>;
  using W = wide_t<Acc>;
  const std::int64_t out_n = dst.size();
  if (out_n == 0) return;
  const auto plan = reduction_plan<A::rank>::make(node.operand.shape(), A::collapse_depth, axis_list<Reduced...>{});
  const auto ev = node.operand.evaluator(plan.collapsed);
  const cudaStream_t stream = current_stream();
  if (plan.inner_reduced) {
    const int blocks = static_cast<int>(std::min<std::int64_t>(out_n, 65535));
    reduce_inner<Reducer, W><<<blocks, block_size, 0, stream>>>(dst.data(), out_n, ev, plan, mode);
    STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::reduce_inner");
  } else {
    reduce_outer<Reducer, W><<<grid_size(out_n, 1), block_size, 0, stream>>>(dst.data(), out_n, ev, plan, mode);
    STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::reduce_outer");
  }
}

}  // namespace strata::cuda_evaluator

namespace strata {
// Found by argument-dependent lookup from device_traits<cuda>::assign.
template <class T, std::size_t OutRank, class Reducer, class A, std::size_t... Reduced>
void evaluate_complex(cuda, const TensorView<T, OutRank, cuda>& dst, const Reduction<Reducer, A, Reduced...>& node,
                      assign_mode mode) {
  cuda_evaluator::reduce_axes(dst, node, mode);
}
}  // namespace strata
