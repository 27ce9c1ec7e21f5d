// strata/device/cuda/elementwise.cuh — the one generic kernel that evaluates any element-wise
// expression on the GPU: the same evaluators as the CPU loop, grid-stride, four elements in
// flight per thread, and vector loads and stores of at least 16 bytes when every operand is
// aligned. What each thread does, and which kernel a shape gets, live in elementwise_body.hpp
// (host-compilable, so the cuda_emulated tests run them on the CPU).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "strata/core/broadcast.hpp"
#include "strata/core/cast.hpp"
#include "strata/core/elementwise.hpp"
#include "strata/core/transpose.hpp"
#include "strata/device/cuda/elementwise_body.hpp"
#include "strata/device/cuda/error.hpp"
#include "strata/device/cuda/runtime.hpp"
#include "strata/device/cuda/stream.hpp"

namespace strata::cuda_evaluator {

// The device's multiprocessors (the first device used: strata is single-device), for grid sizes.
inline int device_sms() {
  static const int sms = cuda_runtime::multiprocessor_count(cuda_runtime::current_device());
  return sms;
}
inline int grid_size(std::int64_t work, int per_thread = unroll) {
  return static_cast<int>(grid_blocks(work, device_sms(), per_thread));
}

// The kernels: each thread runs its body (elementwise_body.hpp) at its grid index.
template <assign_mode Mode, class T, class Eval>
__global__ void __launch_bounds__(block_size) assign_flat(T* __restrict__ out, const Eval ev, std::int64_t n) {
  assign_flat_thread<Mode>(cuda_grid::this_thread(), out, ev, n);
}
template <assign_mode Mode, class T, class Eval>
__global__ void __launch_bounds__(block_size) assign_flat_packets(T* __restrict__ out, const Eval ev, std::int64_t n) {
  assign_flat_packets_thread<Mode>(cuda_grid::this_thread(), out, ev, n);
}
template <assign_mode Mode, class T, class Eval>
__global__ void __launch_bounds__(block_size) assign_rows(T* __restrict__ out, const Eval ev, std::int64_t rows,
                                                          std::int64_t inner) {
  assign_rows_thread<Mode>(cuda_grid::this_thread(), out, ev, rows, inner);
}
template <assign_mode Mode, class T, class Eval>
__global__ void __launch_bounds__(block_size) assign_short_rows(T* __restrict__ out, const Eval ev, std::int64_t rows,
                                                                std::int64_t inner) {
  assign_short_rows_thread<Mode>(cuda_grid::this_thread(), out, ev, rows, inner);
}

// ---------------------------------------------------------------------------------------------
// Whether every leaf of a node sits on a `bytes` boundary (then packets may be used). Nodes
// without a packet path read element by element and impose nothing.

// (All declared before any is defined, so the recursive calls see every overload.)
template <class N>
bool leaves_aligned(const N&, std::size_t);
template <class T, std::size_t R, class D>
bool leaves_aligned(const TensorRef<T, R, D>& n, std::size_t bytes);
template <class T, std::size_t R, class D>
bool leaves_aligned(const TensorOwner<T, R, D>& n, std::size_t bytes);
template <class Op, class A>
bool leaves_aligned(const UnaryMap<Op, A>& n, std::size_t bytes);
template <class Op, class A, class B>
bool leaves_aligned(const BinaryMap<Op, A, B>& n, std::size_t bytes);
template <class To, class A>
bool leaves_aligned(const Cast<To, A>& n, std::size_t bytes);

template <class N>
bool leaves_aligned(const N&, std::size_t) {
  return true;
}
template <class T, std::size_t R, class D>
bool leaves_aligned(const TensorRef<T, R, D>& n, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(n.data) % bytes == 0;
}
template <class T, std::size_t R, class D>
bool leaves_aligned(const TensorOwner<T, R, D>& n, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(n.tensor.data()) % bytes == 0;
}
template <class Op, class A>
bool leaves_aligned(const UnaryMap<Op, A>& n, std::size_t bytes) {
  return leaves_aligned(n.operand, bytes);
}
template <class Op, class A, class B>
bool leaves_aligned(const BinaryMap<Op, A, B>& n, std::size_t bytes) {
  return leaves_aligned(n.lhs, bytes) && leaves_aligned(n.rhs, bytes);
}
template <class To, class A>
bool leaves_aligned(const Cast<To, A>& n, std::size_t bytes) {
  // A cast's operand may have a different element size: require its own packet alignment.
  return leaves_aligned(n.operand, bytes / sizeof(To) * sizeof(typename A::element_type));
}

// dst (op)= e on the current stream.
template <assign_mode Mode, class T, std::size_t Rank, class E>
void assign_elementwise(const TensorView<T, Rank, strata::cuda>& dst, const E& e) {
  const std::int64_t n = dst.size();
  if (n == 0) return;
  constexpr std::size_t k = E::collapse_depth;
  const std::int64_t inner = strata::detail::inner_extent(dst.shape(), k);
  const auto ev = e.evaluator(k);
  const cudaStream_t s = current_stream();
  T* out = dst.data();
  constexpr std::size_t packet_bytes = packet_width<T> * sizeof(T);
  const bool aligned = inner == n && reinterpret_cast<std::uintptr_t>(out) % packet_bytes == 0 && leaves_aligned(e, packet_bytes);
  const elementwise_plan plan = plan_elementwise(n, inner, aligned, device_sms());
  const dim3 grid(static_cast<unsigned>(plan.blocks.x), static_cast<unsigned>(plan.blocks.y));
  const dim3 block(static_cast<unsigned>(plan.threads.x), static_cast<unsigned>(plan.threads.y));
  using K = elementwise_plan::kernel;
  switch (plan.which) {
    case K::flat_packets:
      assign_flat_packets<Mode><<<grid, block_size, 0, s>>>(out, ev, n);
      STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::assign_flat_packets");
      break;
    case K::flat:
      assign_flat<Mode><<<grid, block_size, 0, s>>>(out, ev, n);
      STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::assign_flat");
      break;
    case K::rows:
      assign_rows<Mode><<<grid, block_size, 0, s>>>(out, ev, n / inner, inner);
      STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::assign_rows");
      break;
    case K::short_rows:
      assign_short_rows<Mode><<<grid, block, 0, s>>>(out, ev, n / inner, inner);
      STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::assign_short_rows");
      break;
  }
}

template <class T>
__global__ void fill_kernel(T* __restrict__ out, std::int64_t n, T value) {
  fill_thread(cuda_grid::this_thread(), out, n, value);
}

template <class T>
void fill(T* out, std::int64_t n, T value) {
  if (n <= 0) return;
  fill_kernel<<<grid_size(n, 1), block_size, 0, current_stream()>>>(out, n, value);
  STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::fill_kernel");
}

}  // namespace strata::cuda_evaluator
