// strata/device/cuda/elementwise.cuh — the one generic kernel that evaluates any element-wise
// expression on the GPU: the same evaluators as the CPU loop, grid-stride, four elements in
// flight per thread, and vector loads and stores of at least 16 bytes when every operand is
// aligned.
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
#include "strata/device/cuda/error.hpp"
#include "strata/device/cuda/runtime.hpp"
#include "strata/device/cuda/stream.hpp"

namespace strata::cuda_evaluator {

inline constexpr int block_size = 256;
inline constexpr int unroll = 4;  // elements in flight per thread

// Enough blocks to fill the device several times over, no more: the kernels stride.
inline int grid_size(std::int64_t work, int per_thread = unroll) {
  static const int sms = cuda_runtime::multiprocessor_count(cuda_runtime::current_device());
  const std::int64_t wanted = (work + std::int64_t{block_size} * per_thread - 1) / (std::int64_t{block_size} * per_thread);
  return static_cast<int>(std::clamp<std::int64_t>(wanted, 1, std::int64_t{sms} * 16));
}

template <assign_mode Mode, class T, class V>
__device__ __forceinline__ void store(T* out, V v) {
  using traits = precision_traits<T>;
  if constexpr (Mode == assign_mode::set) *out = traits::from_compute(v);
  else if constexpr (Mode == assign_mode::add) *out = traits::from_compute(traits::to_compute(*out) + v);
  else *out = traits::from_compute(traits::to_compute(*out) - v);
}

// Flat: the whole tensor is one row (no broadcast forced a split). Each thread handles
// `unroll` elements blockDim apart, so every load instruction is coalesced across the warp.
template <assign_mode Mode, class T, class Eval>
__global__ void __launch_bounds__(block_size) assign_flat(T* __restrict__ out, const Eval ev, std::int64_t n) {
  const std::int64_t stride = std::int64_t{gridDim.x} * block_size * unroll;
  for (std::int64_t base = std::int64_t{blockIdx.x} * block_size * unroll + threadIdx.x; base < n; base += stride) {
    std::remove_cvref_t<decltype(ev(0, 0))> v[unroll];
#pragma unroll
    for (int k = 0; k < unroll; ++k) {
      const std::int64_t i = base + k * block_size;
      if (i < n) v[k] = ev(0, i);
    }
#pragma unroll
    for (int k = 0; k < unroll; ++k) {
      const std::int64_t i = base + k * block_size;
      if (i < n) store<Mode>(out + i, v[k]);
    }
  }
}

// Elements per packet for a destination of T: 16 bytes (one vector load) for half and int8, and
// at least 4 (fp32 16 bytes, fp64 32). With 4 halves a thread moved 8 bytes per load, and fp16
// expressions reached 0.39 of copy bandwidth on an H200.
template <class T>
inline constexpr int packet_width = sizeof(T) >= 4 ? 4 : int(16 / sizeof(T));

// Flat with packets: thread t handles elements [Wt, Wt + W) of each stride, loading and
// storing W at a time. Only launched when the destination and every leaf are aligned.
template <assign_mode Mode, class T, class Eval>
__global__ void __launch_bounds__(block_size) assign_flat_packets(T* __restrict__ out, const Eval ev, std::int64_t n) {
  constexpr int W = packet_width<T>;
  using V = std::remove_cvref_t<decltype(ev(0, 0))>;
  const std::int64_t packets = n / W;
  const std::int64_t stride = std::int64_t{gridDim.x} * block_size;
  for (std::int64_t p = std::int64_t{blockIdx.x} * block_size + threadIdx.x; p < packets; p += stride) {
    V v[W];
    load_packet<W>(ev, 0, p * W, v);
    if constexpr (Mode == assign_mode::set) {
      packet_storage<T, W> o;
#pragma unroll
      for (int k = 0; k < W; ++k) o.v[k] = precision_traits<T>::from_compute(v[k]);
      *reinterpret_cast<packet_storage<T, W>*>(out + p * W) = o;
    } else {
#pragma unroll
      for (int k = 0; k < W; ++k) store<Mode>(out + p * W + k, v[k]);
    }
  }
  // The last n % W elements.
  const std::int64_t tail = packets * W + std::int64_t{blockIdx.x} * block_size + threadIdx.x;
  if (tail < n && tail < packets * W + W) store<Mode>(out + tail, ev(0, tail));
}

// Rows: a broadcast split the loop into rows of `inner` contiguous elements. Blocks stride over
// rows (y) and columns (x); per-row work in the evaluator is the same for the whole row.
template <assign_mode Mode, class T, class Eval>
__global__ void __launch_bounds__(block_size) assign_rows(T* __restrict__ out, const Eval ev, std::int64_t rows,
                                                          std::int64_t inner) {
  for (std::int64_t r = blockIdx.y; r < rows; r += gridDim.y)
    for (std::int64_t c = std::int64_t{blockIdx.x} * block_size + threadIdx.x; c < inner;
         c += std::int64_t{gridDim.x} * block_size)
      store<Mode>(out + r * inner + c, ev(r, c));
}

// Short rows: one flat index per element, split into (row, column) by a division.
template <assign_mode Mode, class T, class Eval>
__global__ void __launch_bounds__(block_size) assign_short_rows(T* __restrict__ out, const Eval ev, std::int64_t n,
                                                                std::int64_t inner) {
  for (std::int64_t i = std::int64_t{blockIdx.x} * block_size + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * block_size) {
    const std::int64_t r = i / inner;
    store<Mode>(out + i, ev(r, i - r * inner));
  }
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
  if (inner == n) {
    constexpr std::size_t packet_bytes = packet_width<T> * sizeof(T);
    if (reinterpret_cast<std::uintptr_t>(out) % packet_bytes == 0 && leaves_aligned(e, packet_bytes)) {
      assign_flat_packets<Mode><<<grid_size(n), block_size, 0, s>>>(out, ev, n);
      STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::assign_flat_packets");
    } else {
      assign_flat<Mode><<<grid_size(n), block_size, 0, s>>>(out, ev, n);
      STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::assign_flat");
    }
  } else if (inner >= block_size) {
    const std::int64_t rows = n / inner;
    const dim3 grid(static_cast<unsigned>(std::min<std::int64_t>((inner + block_size - 1) / block_size, 1024)),
                    static_cast<unsigned>(std::min<std::int64_t>(rows, 65535)));
    assign_rows<Mode><<<grid, block_size, 0, s>>>(out, ev, rows, inner);
    STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::assign_rows");
  } else {
    assign_short_rows<Mode><<<grid_size(n, 1), block_size, 0, s>>>(out, ev, n, inner);
    STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::assign_short_rows");
  }
}

template <class T>
__global__ void fill_kernel(T* __restrict__ out, std::int64_t n, T value) {
  for (std::int64_t i = std::int64_t{blockIdx.x} * block_size + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * block_size)
    out[i] = value;
}

template <class T>
void fill(T* out, std::int64_t n, T value) {
  if (n <= 0) return;
  fill_kernel<<<grid_size(n, 1), block_size, 0, current_stream()>>>(out, n, value);
  STRATA_CUDA_CHECK_LAUNCH("strata::cuda_evaluator::fill_kernel");
}

}  // namespace strata::cuda_evaluator
