// strata/device/cuda/reduce_body.hpp — how the GPU splits a reduction over blocks, and what each
// thread of it reads, as host-and-device functions of its grid_index: reduce.cuh launches them,
// and emulate_reduce_axes / emulate_reduce_all run the same split and bodies on the CPU (the
// cuda_emulated tests). Plain C++: compiles with g++ as well as nvcc.
//
// A long reduction is cut into slices, one block each, whose results (partials) a second pass
// combines in slice order. The split depends only on the shape, so every output is combined in
// the same order on every run and every device: results are deterministic.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "strata/config.hpp"
#include "strata/core/expression.hpp"
#include "strata/core/reduction_plan.hpp"
#include "strata/device/cuda/elementwise_body.hpp"
#include "strata/device/cuda/grid.hpp"
#include "strata/numeric/precision_traits.hpp"

namespace strata::cuda_evaluator {

// Elements one block should reduce before splitting pays (64 a thread), and the blocks a split
// aims for (16 per multiprocessor of a 132-SM part; fixed, so results do not depend on the GPU).
inline constexpr std::int64_t reduce_block_work = 16384;
inline constexpr std::int64_t reduce_target_blocks = 2048;
inline constexpr std::int64_t reduce_max_slices = 1024;
inline constexpr std::int64_t reduce_max_grid = 65535;

template <class T, class V>
STRATA_HD STRATA_INLINE T combine_into(T old, V v, assign_mode mode) {
  using traits = precision_traits<T>;
  using C = typename traits::compute;
  if (mode == assign_mode::add) return traits::from_compute(static_cast<C>(traits::to_compute(old) + static_cast<C>(v)));
  if (mode == assign_mode::subtract) return traits::from_compute(static_cast<C>(traits::to_compute(old) - static_cast<C>(v)));
  return traits::from_compute(static_cast<C>(v));
}

// The plan's row offsets (kept_base, reduced_offset) without the division its slowest axis never
// needs: an index below the product of the extents is already in range there.
STRATA_HD STRATA_INLINE std::int64_t row_offset(int axes, const std::int64_t* extent, const std::int64_t* stride,
                                               std::int64_t index) {
  std::int64_t offset = 0;
  for (int i = 0; i + 1 < axes; ++i) {
    offset += (index % extent[i]) * stride[i];
    index /= extent[i];
  }
  return axes > 0 ? offset + index * stride[axes - 1] : offset;
}
template <std::size_t R>
STRATA_HD STRATA_INLINE std::int64_t kept_row(const reduction_plan<R>& p, std::int64_t o) {
  return row_offset(p.kept_n, p.kept_extent, p.kept_stride, o);
}
template <std::size_t R>
STRATA_HD STRATA_INLINE std::int64_t reduced_row(const reduction_plan<R>& p, std::int64_t q) {
  return row_offset(p.red_n, p.red_extent, p.red_stride, q);
}

// How the blocks share a reduction. A block is block_size threads seen as lanes × rows_per_step:
// lanes read neighbouring columns (coalesced), the rows_per_step groups read different operand
// rows. Each group of outputs (inner-reduced: one output; outer: `lanes` neighbouring outputs of
// one kept row) is cut into row_parts × col_parts slices, one block each.
struct reduce_split {
  bool inner_reduced = true;
  std::int64_t lanes = block_size, rows_per_step = 1;
  std::int64_t groups = 1;         // output groups (inner-reduced: outputs)
  std::int64_t tiles = 1;          // outer: column tiles of `lanes` per kept row
  std::int64_t row_parts = 1, rows_per_part = 1;
  std::int64_t col_parts = 1, cols_per_part = 1;  // inner-reduced long runs only

  STRATA_HD std::int64_t slices() const { return row_parts * col_parts; }
  STRATA_HD std::int64_t items() const { return groups * slices(); }
};

namespace detail {
inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }
// Slices for `groups` groups of `work` elements: enough that a block has reduce_block_work, no
// more than the target grid wants.
inline std::int64_t wanted_slices(std::int64_t groups, std::int64_t work) {
  const std::int64_t by_grid = std::max<std::int64_t>(1, reduce_target_blocks / groups);
  return std::clamp<std::int64_t>(ceil_div(work, reduce_block_work), 1, std::min(by_grid, reduce_max_slices));
}
}  // namespace detail

// The split of an axis reduction with out_n outputs (the plan says which kind).
template <std::size_t R>
reduce_split plan_reduce_split(const reduction_plan<R>& p, std::int64_t out_n) {
  using detail::ceil_div;
  reduce_split s;
  s.inner_reduced = p.inner_reduced;
  if (p.inner_reduced) {
    // Rows of the run side by side when it is short, a whole block along it when it is long.
    s.lanes = std::min<std::int64_t>(p.inner, block_size);
    s.rows_per_step = block_size / s.lanes;
    s.groups = out_n;
    const std::int64_t want = detail::wanted_slices(out_n, p.red_count * p.inner);
    s.row_parts = std::min(want, p.red_count);
    s.rows_per_part = ceil_div(p.red_count, s.row_parts);
    s.row_parts = ceil_div(p.red_count, s.rows_per_part);
    // Few rows left to split (one long run): cut the run into pieces of whole warps' widths.
    const std::int64_t units = ceil_div(p.inner, block_size);
    s.col_parts = std::min(ceil_div(want, s.row_parts), units);
    s.cols_per_part = s.col_parts == 1 ? p.inner : ceil_div(units, s.col_parts) * block_size;
    s.col_parts = ceil_div(p.inner, s.cols_per_part);
  } else {
    // Up to a warp of neighbouring outputs across the lanes, the reduced rows across the rest;
    // with fewer reduced rows than that, more outputs instead of idle threads.
    s.rows_per_step = std::min<std::int64_t>(block_size / std::min<std::int64_t>(p.inner, 32), p.red_count);
    s.lanes = std::min<std::int64_t>(p.inner, block_size / s.rows_per_step);
    s.tiles = ceil_div(p.inner, s.lanes);
    s.groups = out_n / p.inner * s.tiles;
    const std::int64_t want = detail::wanted_slices(s.groups, p.red_count * s.lanes);
    s.row_parts = std::min(want, p.red_count);
    s.rows_per_part = ceil_div(p.red_count, s.row_parts);
    s.row_parts = ceil_div(p.red_count, s.rows_per_part);
  }
  return s;
}

// A block's work item: output group, slice, and the operand rows and columns the slice covers.
struct reduce_item {
  std::int64_t group, slice;
  std::int64_t row_begin, row_end, col_begin, col_end;
};
template <std::size_t R>
STRATA_HD STRATA_INLINE reduce_item item_of(const reduce_split& s, const reduction_plan<R>& p, std::int64_t item) {
  reduce_item it;
  const std::int64_t slices = s.slices();
  it.group = item / slices;
  it.slice = item - it.group * slices;
  const std::int64_t rp = it.slice / s.col_parts, cp = it.slice - rp * s.col_parts;
  it.row_begin = rp * s.rows_per_part;
  it.row_end = it.row_begin + s.rows_per_part < p.red_count ? it.row_begin + s.rows_per_part : p.red_count;
  if (s.inner_reduced) {
    it.col_begin = cp * s.cols_per_part;
    it.col_end = it.col_begin + s.cols_per_part < p.inner ? it.col_begin + s.cols_per_part : p.inner;
  } else {  // one column per lane: the tile's
    const std::int64_t tile = it.group % s.tiles;
    it.col_begin = tile * s.lanes;
    it.col_end = it.col_begin + s.lanes < p.inner ? it.col_begin + s.lanes : p.inner;
  }
  return it;
}

// Inner-reduced: thread `tid` (0 … block_size) of the block on `it` reduces its lane's columns
// of its rows of the slice; the block then combines the threads (block_reduce). Per element: one
// evaluation, no division.
template <class Reducer, class W, class Eval, std::size_t R>
STRATA_HD STRATA_INLINE W reduce_inner_thread(std::int64_t tid, const Eval& ev, const reduction_plan<R>& p,
                                              const reduce_split& s, const reduce_item& it) {
  W acc = Reducer::template identity<W>();
  const std::int64_t y = tid / s.lanes, x = tid - y * s.lanes;
  if (y >= s.rows_per_step) return acc;  // the block's last threads when lanes does not divide it
  const std::int64_t base = kept_row(p, it.group);
  for (std::int64_t q = it.row_begin + y; q < it.row_end; q += s.rows_per_step) {
    const std::int64_t row = base + reduced_row(p, q);
    for (std::int64_t c = it.col_begin + x; c < it.col_end; c += s.lanes) acc = Reducer::combine(acc, static_cast<W>(ev(row, c)));
  }
  return acc;
}

// Outer (the run is kept): thread (lane x, row group y) reduces column col_begin + x over its
// rows of the slice; the block then combines the row groups column by column (column_tree_step).
template <class Reducer, class W, class Eval, std::size_t R>
STRATA_HD STRATA_INLINE W reduce_outer_thread(std::int64_t tid, const Eval& ev, const reduction_plan<R>& p,
                                              const reduce_split& s, const reduce_item& it) {
  W acc = Reducer::template identity<W>();
  const std::int64_t y = tid / s.lanes, x = tid - y * s.lanes;
  const std::int64_t c = it.col_begin + x;
  if (y >= s.rows_per_step || c >= it.col_end) return acc;
  const std::int64_t base = kept_row(p, it.group / s.tiles);
  for (std::int64_t q = it.row_begin + y; q < it.row_end; q += s.rows_per_step)
    acc = Reducer::combine(acc, static_cast<W>(ev(base + reduced_row(p, q), c)));
  return acc;
}

// One step of the tree that combines the row groups of an outer block: values[y * lanes + x]
// takes in the group `stride` below it. Steps run for stride = first_column_stride(rows), then
// halving to 1, with a barrier between them; threads of one step touch disjoint values.
STRATA_HD inline std::int64_t first_column_stride(std::int64_t rows) {
  std::int64_t p = 1;
  while (p < rows) p *= 2;
  return p / 2;
}
template <class Reducer, class W>
STRATA_HD STRATA_INLINE void column_tree_step(W* values, std::int64_t tid, std::int64_t lanes, std::int64_t rows,
                                              std::int64_t stride) {
  const std::int64_t y = tid / lanes, x = tid - y * lanes;
  if (y < stride && y + stride < rows) values[y * lanes + x] = Reducer::combine(values[y * lanes + x], values[(y + stride) * lanes + x]);
}

// Where a block's result goes: straight into the output when the group is not split (and there
// is an output), else to partial[slice * out_n + output] for the second pass.
template <class Reducer, class T, class W>
STRATA_HD STRATA_INLINE void store_block_result(T* out, W* partial, std::int64_t out_n, std::int64_t output, std::int64_t slice,
                                                std::int64_t slices, W acc, std::int64_t total_count, assign_mode mode) {
  if (slices == 1 && out != nullptr) out[output] = combine_into(out[output], Reducer::finalize(acc, total_count), mode);
  else partial[slice * out_n + output] = acc;
}
// The output index of lane x of an outer block's item (for store_block_result).
template <std::size_t R>
STRATA_HD STRATA_INLINE std::int64_t outer_output(const reduce_split& s, const reduction_plan<R>& p, const reduce_item& it,
                                                  std::int64_t x) {
  return it.group / s.tiles * p.inner + it.col_begin + x;
}

// The second pass: output o combines its slices' partials in slice order (grid-stride over o).
template <class Reducer, class T, class W>
STRATA_HD STRATA_INLINE void reduce_finish_thread(const grid_index& t, T* STRATA_RESTRICT out, const W* partial,
                                                  std::int64_t out_n, std::int64_t slices, std::int64_t total_count,
                                                  assign_mode mode) {
  for (std::int64_t o = cuda_grid::global_x(t); o < out_n; o += cuda_grid::threads_x(t)) {
    W acc = Reducer::template identity<W>();
    for (std::int64_t k = 0; k < slices; ++k) acc = Reducer::combine(acc, partial[k * out_n + o]);
    out[o] = combine_into(out[o], Reducer::finalize(acc, total_count), mode);
  }
}

// A full reduction of n elements in rows of `inner` as an inner reduction with one output: the
// rows are its reduced rows (operand row q is row q).
inline reduction_plan<1> full_reduction_plan(std::int64_t n, std::int64_t inner) {
  reduction_plan<1> p;
  p.inner_reduced = true;
  p.inner = inner;
  p.red_n = 1;
  p.red_extent[0] = n / inner;
  p.red_stride[0] = 1;
  p.red_count = n / inner;
  p.total_count = n;
  return p;
}

// ---------------------------------------------------------------------------------------------
// The CPU runs the split and the bodies block by block: what the GPU computes.

// block_reduce's order (reduce.cuh): a shuffle-down tree in each warp, then one over the warps.
template <class Reducer, class W>
W block_reduce_emulated(const W* v) {
  auto warp = [](W* lane) {
    for (int offset = 16; offset > 0; offset /= 2) {
      W next[32];
      for (int l = 0; l < 32; ++l) next[l] = Reducer::combine(lane[l], lane[l + offset < 32 ? l + offset : l]);
      std::copy(next, next + 32, lane);
    }
    return lane[0];
  };
  W per_warp[32];
  for (int w = 0; w < block_size / 32; ++w) {
    W lane[32];
    std::copy(v + w * 32, v + w * 32 + 32, lane);
    per_warp[w] = warp(lane);
  }
  for (int l = block_size / 32; l < 32; ++l) per_warp[l] = Reducer::template identity<W>();
  return warp(per_warp);
}

// Runs every block of the split on the CPU; results to out (or partials when split).
template <class Reducer, class W, class T, class Eval, std::size_t R>
void emulate_reduce_blocks(T* out, std::vector<W>& partial, std::int64_t out_n, const Eval& ev, const reduction_plan<R>& p,
                           const reduce_split& s, assign_mode mode) {
  W v[block_size];
  for (std::int64_t item = 0; item < s.items(); ++item) {
    const reduce_item it = item_of(s, p, item);
    if (s.inner_reduced) {
      for (std::int64_t tid = 0; tid < block_size; ++tid) v[tid] = reduce_inner_thread<Reducer, W>(tid, ev, p, s, it);
      store_block_result<Reducer>(out, partial.data(), out_n, it.group, it.slice, s.slices(), block_reduce_emulated<Reducer>(v),
                                  p.total_count, mode);
    } else {
      for (std::int64_t tid = 0; tid < block_size; ++tid) v[tid] = reduce_outer_thread<Reducer, W>(tid, ev, p, s, it);
      for (std::int64_t stride = first_column_stride(s.rows_per_step); stride > 0; stride /= 2)
        for (std::int64_t tid = 0; tid < block_size; ++tid) column_tree_step<Reducer>(v, tid, s.lanes, s.rows_per_step, stride);
      for (std::int64_t x = 0; x < s.lanes && it.col_begin + x < it.col_end; ++x)
        store_block_result<Reducer>(out, partial.data(), out_n, outer_output(s, p, it, x), it.slice, s.slices(), v[x],
                                    p.total_count, mode);
    }
  }
}

// out (mode)= the reduction the plan describes, through the GPU's split, on the CPU.
template <class Reducer, class W, class T, class Eval, std::size_t R>
void emulate_reduce_axes(T* out, std::int64_t out_n, const Eval& ev, const reduction_plan<R>& p, assign_mode mode) {
  if (out_n == 0) return;
  const reduce_split s = plan_reduce_split(p, out_n);
  std::vector<W> partial(static_cast<std::size_t>(s.slices() > 1 ? s.slices() * out_n : 0));
  emulate_reduce_blocks<Reducer, W>(out, partial, out_n, ev, p, s, mode);
  if (s.slices() > 1)
    cuda_grid::emulate(cuda_grid::blocks_for(out_n, block_size, reduce_max_grid), {block_size}, [&](const grid_index& t) {
      reduce_finish_thread<Reducer>(t, out, partial.data(), out_n, s.slices(), p.total_count, mode);
    });
}

// The reduction of n elements (rows of `inner`) through the GPU's split, in the wide type W:
// blocks to partials, then one block over the partials (reduce_partials' order).
template <class Reducer, class W, class Eval>
W emulate_reduce_all(const Eval& ev, std::int64_t n, std::int64_t inner) {
  const reduction_plan<1> p = full_reduction_plan(n, inner);
  const reduce_split s = plan_reduce_split(p, 1);
  std::vector<W> partial(static_cast<std::size_t>(s.slices()));
  emulate_reduce_blocks<Reducer, W>(static_cast<W*>(nullptr), partial, 1, ev, p, s, assign_mode::set);
  W v[block_size];
  for (std::int64_t tid = 0; tid < block_size; ++tid) {
    v[tid] = Reducer::template identity<W>();
    for (std::int64_t i = tid; i < s.slices(); i += block_size) v[tid] = Reducer::combine(v[tid], partial[static_cast<std::size_t>(i)]);
  }
  return block_reduce_emulated<Reducer>(v);
}

}  // namespace strata::cuda_evaluator
