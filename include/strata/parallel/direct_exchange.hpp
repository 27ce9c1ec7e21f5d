// strata/parallel/direct_exchange.hpp — the arithmetic of rank-order sums done as a direct exchange,
// for transports whose ranks cannot read each other's memory (NCCL's GPUs): which part of a buffer
// each rank owns, what it sends to whom and where it receives it, the bytes it counts, and the
// rank-order sum as a per-thread body that nvcc runs on the GPU and the CPU runs over an emulated
// grid (tests/cuda_emulated). Plain C++: compiles with g++ as well as nvcc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "strata/config.hpp"
#include "strata/core/error.hpp"
#include "strata/device/cuda/grid.hpp"

namespace strata::parallel::direct_exchange {

// Where each rank's part of a buffer lies: counts[r] values at offsets[r], one part after the
// other in rank order (the all-reduce split, or the counts of a gather or reduce-scatter).
struct layout {
  std::vector<std::int64_t> counts, offsets;
  std::int64_t total = 0;

  int ranks() const noexcept { return static_cast<int>(counts.size()); }
  std::int64_t count(int r) const { return counts[static_cast<std::size_t>(r)]; }
  std::int64_t offset(int r) const { return offsets[static_cast<std::size_t>(r)]; }
  // Every part the same size: a collective all-gather (which takes one count) applies.
  bool equal_counts() const noexcept {
    for (const std::int64_t c : counts)
      if (c != counts.front()) return false;
    return true;
  }
};

inline layout from_counts(std::span<const std::int64_t> counts) {
  layout l;
  l.counts.assign(counts.begin(), counts.end());
  l.offsets.reserve(counts.size());
  for (const std::int64_t c : counts) {
    if (c < 0) throw shape_error("direct_exchange: a part's count is " + std::to_string(c));
    l.offsets.push_back(l.total);
    l.total += c;
  }
  return l;
}

// The all-reduce split of n values over R ranks: part r is [n·r/R, n·(r+1)/R), as in the thread
// and MPI transports, so the same rank adds up the same values everywhere.
inline layout all_reduce_split(std::int64_t n, int ranks) {
  std::vector<std::int64_t> counts(static_cast<std::size_t>(ranks));
  for (int r = 0; r < ranks; ++r) counts[static_cast<std::size_t>(r)] = n * (r + 1) / ranks - n * r / ranks;
  return from_counts(counts);
}

// One point-to-point transfer of `count` values to or from rank `peer`, at `offset` in the buffer
// the function that made it names. Transfers of no values and to oneself are left out (both
// sides know the counts, so both leave out the same ones).
struct transfer {
  int peer = 0;
  std::int64_t offset = 0, count = 0;
};

// The exchange, first half of a rank-order sum (and all of a reduce-scatter's communication):
// rank `me` sends part q of its buffer to rank q …
inline std::vector<transfer> exchange_sends(const layout& l, int me) {
  std::vector<transfer> t;
  for (int q = 0; q < l.ranks(); ++q)
    if (q != me && l.count(q) > 0) t.push_back({q, l.offset(q), l.count(q)});
  return t;
}
// … and receives every rank's part `me`, rank q's at q·counts[me] of a scratch of R·counts[me]
// values (its own part it copies into slot `me`: own_slot).
inline std::vector<transfer> exchange_receives(const layout& l, int me) {
  std::vector<transfer> t;
  const std::int64_t mine = l.count(me);
  if (mine == 0) return t;
  for (int q = 0; q < l.ranks(); ++q)
    if (q != me) t.push_back({q, static_cast<std::int64_t>(q) * mine, mine});
  return t;
}
inline std::int64_t own_slot(const layout& l, int me) { return static_cast<std::int64_t>(me) * l.count(me); }

// The gather, second half (and an all-gather of unequal parts), in place on the whole buffer:
// rank `me` sends its part to every other rank and receives part q from rank q, where it lies.
inline std::vector<transfer> gather_sends(const layout& l, int me) {
  std::vector<transfer> t;
  if (l.count(me) == 0) return t;
  for (int q = 0; q < l.ranks(); ++q)
    if (q != me) t.push_back({q, l.offset(me), l.count(me)});
  return t;
}
inline std::vector<transfer> gather_receives(const layout& l, int me) {
  std::vector<transfer> t;
  for (int q = 0; q < l.ranks(); ++q)
    if (q != me && l.count(q) > 0) t.push_back({q, l.offset(q), l.count(q)});
  return t;
}

// Bytes a rank hands to the transport, by the convention of parallel/communication.hpp (the
// thread and MPI transports count the same): an all-reduce of n values sends n − c values in the
// exchange and its c summed values to each of R − 1 ranks in the gather (c = its part); an
// all-gather its part to R − 1 ranks; a reduce-scatter everything but its part; a broadcast's
// root the data to R − 1 ranks.
inline std::int64_t all_reduce_bytes(std::int64_t n, int me, int ranks, std::int64_t value_bytes) {
  const std::int64_t c = n * (me + 1) / ranks - n * me / ranks;
  return ((n - c) + static_cast<std::int64_t>(ranks - 1) * c) * value_bytes;
}
inline std::int64_t all_gather_bytes(const layout& l, int me, std::int64_t value_bytes) {
  return static_cast<std::int64_t>(l.ranks() - 1) * l.count(me) * value_bytes;
}
inline std::int64_t reduce_scatter_bytes(const layout& l, int me, std::int64_t value_bytes) {
  return (l.total - l.count(me)) * value_bytes;
}
inline std::int64_t broadcast_bytes(std::int64_t bytes, int me, int root, int ranks) {
  return me == root ? static_cast<std::int64_t>(ranks - 1) * bytes : 0;
}

// ---------------------------------------------------------------------------------------------
// The rank-order sum: out[i] = received[i] + received[c + i] + … + received[(R−1)·c + i], added
// left to right from rank 0's value — the order that defines every transport's result. Only
// additions, so no contraction into a fused multiply-add can change the bits.

inline constexpr int sum_block = 256;
inline constexpr std::int64_t sum_max_blocks = 1024;  // a grid-stride loop covers the rest

inline cuda_grid::grid_dim sum_blocks(std::int64_t count) { return cuda_grid::blocks_for(count, sum_block, sum_max_blocks); }

template <class T>
STRATA_HD STRATA_INLINE void rank_order_sum_thread(const cuda_grid::grid_index& t, const T* STRATA_RESTRICT received,
                                                   std::int64_t count, int ranks, T* STRATA_RESTRICT out) {
  const std::int64_t stride = cuda_grid::threads_x(t);
  for (std::int64_t i = cuda_grid::global_x(t); i < count; i += stride) {
    T s = received[i];
    for (int q = 1; q < ranks; ++q) s += received[static_cast<std::int64_t>(q) * count + i];
    out[i] = s;
  }
}

// The same grid and bodies on the CPU, thread after thread (what the GPU would compute).
template <class T>
void emulate_rank_order_sum(const T* received, std::int64_t count, int ranks, T* out) {
  if (count <= 0) return;
  cuda_grid::emulate(sum_blocks(count), {sum_block, 1, 1},
                     [&](const cuda_grid::grid_index& t) { rank_order_sum_thread(t, received, count, ranks, out); });
}

}  // namespace strata::parallel::direct_exchange
