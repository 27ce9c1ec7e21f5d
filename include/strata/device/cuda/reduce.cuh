// strata/device/cuda/reduce.cuh — sum, mean, max and min on the GPU, over every element or
// over chosen axes, reading any element-wise expression once. Each thread accumulates in the
// wide type (fp64 for fp32 data), warps combine with shuffles, blocks through shared memory.
// Long reductions are split over several blocks and finished by a second pass; the split
// (reduce_body.hpp, emulated on the CPU by the cuda_emulated tests) depends only on the shape,
// so results are deterministic.
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
#include "strata/device/cuda/reduce_body.hpp"

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

// Blocks over the items of an inner-reduced split (reduce_body.hpp): each block reduces one
// slice of one output and writes it to the output, or to the partials when the output is split.
template <class Reducer, class W, class T, class Eval, std::size_t R>
__global__ void __launch_bounds__(block_size) reduce_inner_split(T* __restrict__ out, W* __restrict__ partial,
                                                                 std::int64_t out_n, const Eval ev,
                                                                 const reduction_plan<R> plan, const reduce_split split,
                                                                 assign_mode mode) {
  const std::int64_t items = split.items();
  for (std::int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const reduce_item it = item_of(split, plan, item);
    W acc = reduce_inner_thread<Reducer, W>(threadIdx.x, ev, plan, split, it);
    acc = block_reduce<Reducer>(acc);
    if (threadIdx.x == 0)
      store_block_result<Reducer>(out, partial, out_n, it.group, it.slice, split.slices(), acc, plan.total_count, mode);
    __syncthreads();  // warp_results is reused by the next item
  }
}

// Blocks over the items of an outer split: the lanes are neighbouring outputs, the row groups
// are combined column by column through shared memory in a fixed tree.
template <class Reducer, class W, class T, class Eval, std::size_t R>
__global__ void __launch_bounds__(block_size) reduce_outer_split(T* __restrict__ out, W* __restrict__ partial,
                                                                 std::int64_t out_n, const Eval ev,
                                                                 const reduction_plan<R> plan, const reduce_split split,
                                                                 assign_mode mode) {
  __shared__ W column[block_size];
  const std::int64_t items = split.items();
  for (std::int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const reduce_item it = item_of(split, plan, item);
    column[threadIdx.x] = reduce_outer_thread<Reducer, W>(threadIdx.x, ev, plan, split, it);
    __syncthreads();
    for (std::int64_t stride = first_column_stride(split.rows_per_step); stride > 0; stride /= 2) {
      column_tree_step<Reducer>(column, threadIdx.x, split.lanes, split.rows_per_step, stride);
      __syncthreads();
    }
    if (threadIdx.x < split.lanes && it.col_begin + threadIdx.x < it.col_end)
      store_block_result<Reducer>(out, partial, out_n, outer_output(split, plan, it, threadIdx.x), it.slice, split.slices(),
                                  column[threadIdx.x], plan.total_count, mode);
    __syncthreads();  // column is reused by the next item
  }
}

// The second pass of a split reduction: each output combines its slices in order.
template <class Reducer, class T, class W>
__global__ void __launch_bounds__(block_size) reduce_finish(T* __restrict__ out, const W* __restrict__ partial,
                                                            std::int64_t out_n, std::int64_t slices,
                                                            std::int64_t total_count, assign_mode mode) {
  reduce_finish_thread<Reducer>(cuda_grid::this_thread(), out, partial, out_n, slices, total_count, mode);
}

// One block combines `count` partials (a full reduction's second pass); the result to partial[0].
template <class Reducer, class W>
__global__ void __launch_bounds__(block_size) reduce_partials(W* partial, std::int64_t count) {
  W acc = Reducer::template identity<W>();
  for (std::int64_t i = threadIdx.x; i < count; i += block_size) acc = Reducer::combine(acc, partial[i]);
  acc = block_reduce<Reducer>(acc);
  if (threadIdx.x == 0) partial[0] = acc;
}

// Launches the split's blocks (and, for a split output, the second pass) on `stream`. With out
// null the block results all go to `partial` (a full reduction).
template <class Reducer, class W, class T, class Eval, std::size_t R>
void launch_split_reduction(T* out, W* partial, std::int64_t out_n, const Eval& ev, const reduction_plan<R>& plan,
                            const reduce_split& split, assign_mode mode, cudaStream_t stream) {
  const unsigned blocks = static_cast<unsigned>(std::min(split.items(), reduce_max_grid));
  if (split.inner_reduced) {
    reduce_inner_split<Reducer, W><<<blocks, block_size, 0, stream>>>(out, partial, out_n, ev, plan, split, mode);
    STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::reduce_inner_split");
  } else {
    reduce_outer_split<Reducer, W><<<blocks, block_size, 0, stream>>>(out, partial, out_n, ev, plan, split, mode);
    STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::reduce_outer_split");
  }
  if (split.slices() > 1 && out != nullptr) {
    const unsigned finish_blocks = static_cast<unsigned>(cuda_grid::blocks_for(out_n, block_size, reduce_max_grid).x);
    reduce_finish<Reducer><<<finish_blocks, block_size, 0, stream>>>(out, partial, out_n, split.slices(), plan.total_count, mode);
    STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::reduce_finish");
  }
}

// The reduction of every element of node `e`, in its accumulation type (waits for the result).
// It is an inner reduction with one output (full_reduction_plan): slices to partials, then one
// block over them; no division per element.
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
  const reduction_plan<1> plan = full_reduction_plan(n, strata::detail::inner_extent(s, k));
  const reduce_split split = plan_reduce_split(plan, 1);
  const cudaStream_t stream = current_stream();
  auto& pool = caching_allocator::instance();
  W* partial = static_cast<W*>(pool.allocate(sizeof(W) * split.slices(), stream));
  W result{};
  try {
    launch_split_reduction<Reducer, W>(static_cast<W*>(nullptr), partial, 1, e.evaluator(k), plan, split, assign_mode::set,
                                       stream);
    reduce_partials<Reducer><<<1, block_size, 0, stream>>>(partial, split.slices());
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

template <class T, std::size_t OutRank, class Reducer, class A, std::size_t... Reduced>
void reduce_axes(const TensorView<T, OutRank, strata::cuda>& dst, const Reduction<Reducer, A, Reduced...>& node,
                 assign_mode mode) {
  using Acc = accumulate_t<typename A::element_type>;
  using W = wide_t<Acc>;
  const std::int64_t out_n = dst.size();
  if (out_n == 0) return;
  const auto plan = reduction_plan<A::rank>::make(node.operand.shape(), A::collapse_depth, axis_list<Reduced...>{});
  const reduce_split split = plan_reduce_split(plan, out_n);
  const cudaStream_t stream = current_stream();
  auto& pool = caching_allocator::instance();
  // Split outputs keep their slices' partials until the second pass (stream-ordered: the block
  // goes back to this stream's cache, to be reused only by work queued after that pass).
  W* partial = split.slices() > 1 ? static_cast<W*>(pool.allocate(sizeof(W) * split.slices() * out_n, stream)) : nullptr;
  try {
    launch_split_reduction<Reducer, W>(dst.data(), partial, out_n, node.operand.evaluator(plan.collapsed), plan, split, mode,
                                       stream);
  } catch (...) {
    if (partial != nullptr) pool.deallocate(partial, stream);
    throw;
  }
  if (partial != nullptr) pool.deallocate(partial, stream);
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
