// strata/device/cuda/elementwise_body.hpp — what each GPU thread of an element-wise assignment
// does, as host-and-device functions of its grid_index (device/cuda/grid.hpp), and the launch
// plan that picks the kernel and the grid from the shape: elementwise.cuh launches them on the
// GPU, and emulate_assign runs the same plan and bodies on the CPU (the cuda_emulated tests).
// Plain C++: compiles with g++ as well as nvcc.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "strata/config.hpp"
#include "strata/core/expression.hpp"
#include "strata/device/cuda/grid.hpp"
#include "strata/numeric/precision_traits.hpp"

namespace strata::cuda_evaluator {

using cuda_grid::grid_dim;
using cuda_grid::grid_index;

inline constexpr int block_size = 256;
inline constexpr int unroll = 4;  // elements in flight per thread

// Elements per packet for a destination of T: 16 bytes (one vector load) for half and int8, and
// at least 4 (fp32 16 bytes, fp64 32). With 4 halves a thread moved 8 bytes per load, and fp16
// expressions reached 0.39 of copy bandwidth on an H200.
template <class T>
inline constexpr int packet_width = sizeof(T) >= 4 ? 4 : int(16 / sizeof(T));

template <assign_mode Mode, class T, class V>
STRATA_HD STRATA_INLINE void store(T* out, V v) {
  using traits = precision_traits<T>;
  if constexpr (Mode == assign_mode::set) *out = traits::from_compute(v);
  else if constexpr (Mode == assign_mode::add) *out = traits::from_compute(traits::to_compute(*out) + v);
  else *out = traits::from_compute(traits::to_compute(*out) - v);
}

// Flat: the whole tensor is one row (no broadcast forced a split). Each thread handles
// `unroll` elements blockDim apart, so every load instruction is coalesced across the warp.
template <assign_mode Mode, class T, class Eval>
STRATA_HD STRATA_INLINE void assign_flat_thread(const grid_index& t, T* STRATA_RESTRICT out, const Eval& ev, std::int64_t n) {
  const std::int64_t stride = t.blocks.x * block_size * unroll;
  for (std::int64_t base = t.block.x * block_size * unroll + t.thread.x; base < n; base += stride) {
    std::remove_cvref_t<decltype(ev(0, 0))> v[unroll]{};  // (set where used; {} quiets g++)
    STRATA_UNROLL
    for (int k = 0; k < unroll; ++k) {
      const std::int64_t i = base + k * block_size;
      if (i < n) v[k] = ev(0, i);
    }
    STRATA_UNROLL
    for (int k = 0; k < unroll; ++k) {
      const std::int64_t i = base + k * block_size;
      if (i < n) store<Mode>(out + i, v[k]);
    }
  }
}

// Flat with packets: thread t handles elements [Wt, Wt + W) of each stride, loading and
// storing W at a time. Only launched when the destination and every leaf are aligned.
template <assign_mode Mode, class T, class Eval>
STRATA_HD STRATA_INLINE void assign_flat_packets_thread(const grid_index& t, T* STRATA_RESTRICT out, const Eval& ev,
                                                       std::int64_t n) {
  constexpr int W = packet_width<T>;
  using V = std::remove_cvref_t<decltype(ev(0, 0))>;
  const std::int64_t packets = n / W;
  const std::int64_t stride = t.blocks.x * block_size;
  const std::int64_t first = t.block.x * block_size + t.thread.x;
  for (std::int64_t p = first; p < packets; p += stride) {
    V v[W];
    load_packet<W>(ev, 0, p * W, v);
    if constexpr (Mode == assign_mode::set) {
      packet_storage<T, W> o;
      STRATA_UNROLL
      for (int k = 0; k < W; ++k) o.v[k] = precision_traits<T>::from_compute(v[k]);
      *reinterpret_cast<packet_storage<T, W>*>(out + p * W) = o;
    } else {
      STRATA_UNROLL
      for (int k = 0; k < W; ++k) store<Mode>(out + p * W + k, v[k]);
    }
  }
  // The last n % W elements: the first threads of the grid take one each.
  const std::int64_t tail = packets * W + first;
  if (tail < n && first < W) store<Mode>(out + tail, ev(0, tail));
}

// Rows: a broadcast split the loop into rows of `inner` contiguous elements. Blocks stride over
// rows (y) and columns (x); per-row work in the evaluator is the same for the whole row.
template <assign_mode Mode, class T, class Eval>
STRATA_HD STRATA_INLINE void assign_rows_thread(const grid_index& t, T* STRATA_RESTRICT out, const Eval& ev, std::int64_t rows,
                                               std::int64_t inner) {
  for (std::int64_t r = t.block.y; r < rows; r += t.blocks.y)
    for (std::int64_t c = t.block.x * block_size + t.thread.x; c < inner; c += t.blocks.x * block_size)
      store<Mode>(out + r * inner + c, ev(r, c));
}

// Short rows (inner < block_size): a block is lanes_per_row × rows_per_block threads and each
// thread knows its row from where it sits, so no element pays a 64-bit division. Rows of up to
// 32 get one lane per column (a warp covers 32 consecutive elements); longer rows get a warp
// each, a lane walking every 32nd column. A thread's first column always exists; where its
// evaluation dominates the row's others (every full batch of rows) the compiler computes the
// evaluator's per-row work (a broadcast's index) once per row, not once per element.
inline constexpr int short_row_columns_per_lane = block_size / 32;  // inner < block_size

STRATA_HD inline std::int64_t short_row_lanes(std::int64_t inner) { return inner <= 32 ? inner : 32; }

// The columns of row r after the thread's first (c0): every `lanes`-th, up to the run's end.
template <assign_mode Mode, class T, class Eval>
STRATA_HD STRATA_INLINE void store_row_rest(T* STRATA_RESTRICT row_out, const Eval& ev, std::int64_t r, std::int64_t c0,
                                            std::int64_t lanes, std::int64_t inner) {
  STRATA_UNROLL
  for (int j = 1; j < short_row_columns_per_lane; ++j) {
    const std::int64_t c = c0 + j * lanes;
    if (c < inner) store<Mode>(row_out + c, ev(r, c));
  }
}

template <assign_mode Mode, class T, class Eval>
STRATA_HD STRATA_INLINE void assign_short_rows_thread(const grid_index& t, T* STRATA_RESTRICT out, const Eval& ev,
                                                     std::int64_t rows, std::int64_t inner) {
  using V = std::remove_cvref_t<decltype(ev(0, 0))>;
  const std::int64_t lanes = t.threads.x, c0 = t.thread.x;
  const std::int64_t row_step = t.blocks.x * t.threads.y;
  for (std::int64_t base = t.block.x * t.threads.y + t.thread.y; base < rows; base += row_step * unroll) {
    if (base + (unroll - 1) * row_step < rows) {  // a full batch: `unroll` rows in flight, no guards
      V v[unroll];
      STRATA_UNROLL
      for (int k = 0; k < unroll; ++k) v[k] = ev(base + k * row_step, c0);
      STRATA_UNROLL
      for (int k = 0; k < unroll; ++k) {
        const std::int64_t r = base + k * row_step;
        store<Mode>(out + r * inner + c0, v[k]);
        store_row_rest<Mode>(out + r * inner, ev, r, c0, lanes, inner);
      }
    } else {
      for (std::int64_t r = base; r < rows; r += row_step) {
        store<Mode>(out + r * inner + c0, ev(r, c0));
        store_row_rest<Mode>(out + r * inner, ev, r, c0, lanes, inner);
      }
    }
  }
}

template <class T>
STRATA_HD STRATA_INLINE void fill_thread(const grid_index& t, T* STRATA_RESTRICT out, std::int64_t n, T value) {
  for (std::int64_t i = t.block.x * block_size + t.thread.x; i < n; i += t.blocks.x * block_size) out[i] = value;
}

// Enough blocks to fill a device of `sms` multiprocessors several times over, no more: the
// kernels stride.
inline std::int64_t grid_blocks(std::int64_t work, int sms, int per_thread = unroll) {
  const std::int64_t wanted = (work + std::int64_t{block_size} * per_thread - 1) / (std::int64_t{block_size} * per_thread);
  return std::clamp<std::int64_t>(wanted, 1, std::int64_t{sms} * 16);
}

// Which kernel assigns n elements in rows of `inner` (inner == n: one flat run), on what grid
// and with what block.
struct elementwise_plan {
  enum class kernel { flat, flat_packets, rows, short_rows } which;
  grid_dim blocks;
  grid_dim threads{block_size};
};
inline elementwise_plan plan_elementwise(std::int64_t n, std::int64_t inner, bool packets_aligned, int sms) {
  if (inner == n)
    return {packets_aligned ? elementwise_plan::kernel::flat_packets : elementwise_plan::kernel::flat, {grid_blocks(n, sms)}};
  const std::int64_t rows = n / inner;
  if (inner >= block_size)
    return {elementwise_plan::kernel::rows,
            {std::min<std::int64_t>((inner + block_size - 1) / block_size, 1024), std::min<std::int64_t>(rows, 65535)}};
  const std::int64_t lanes = short_row_lanes(inner), rows_per_block = block_size / lanes;
  const std::int64_t wanted = (rows + rows_per_block * unroll - 1) / (rows_per_block * unroll);
  return {elementwise_plan::kernel::short_rows,
          {std::clamp<std::int64_t>(wanted, 1, std::int64_t{sms} * 16)},
          {lanes, rows_per_block}};
}

// The plan and the bodies run on the CPU: what the GPU computes, thread by thread (out is host
// memory here; the evaluator reads host tensors).
template <assign_mode Mode, class T, class Eval>
void emulate_assign(T* out, const Eval& ev, std::int64_t n, std::int64_t inner, bool packets_aligned, int sms) {
  if (n == 0) return;
  const elementwise_plan plan = plan_elementwise(n, inner, packets_aligned, sms);
  using K = elementwise_plan::kernel;
  cuda_grid::emulate(plan.blocks, plan.threads, [&](const grid_index& t) {
    switch (plan.which) {
      case K::flat: assign_flat_thread<Mode>(t, out, ev, n); break;
      case K::flat_packets: assign_flat_packets_thread<Mode>(t, out, ev, n); break;
      case K::rows: assign_rows_thread<Mode>(t, out, ev, n / inner, inner); break;
      case K::short_rows: assign_short_rows_thread<Mode>(t, out, ev, n / inner, inner); break;
    }
  });
}

}  // namespace strata::cuda_evaluator
