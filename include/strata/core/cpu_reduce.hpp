// strata/core/cpu_reduce.hpp — CPU reductions over all elements or chosen axes of an
// element-wise expression: 16 accumulator lanes (vectorised, and a tree-like summation order
// that keeps fp32 error low), blocks summed in double, threads over independent outputs.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "strata/core/parallel.hpp"
#include "strata/core/reduction.hpp"
#include "strata/core/tensor.hpp"
#include "strata/core/reduction_plan.hpp"

namespace strata::cpu_evaluator {

namespace detail {

// Partial results of many blocks are combined in double for floating-point types.
template <class Acc>
using wide_t = std::conditional_t<std::is_floating_point_v<Acc>, std::common_type_t<Acc, double>, Acc>;

inline constexpr int lanes = 16;
// A block short enough that fp32 lanes lose little before the block total goes to double.
inline constexpr std::int64_t block = 1024;

// Reduces ev(row, c) for c in [begin, end): 16 independent lanes the compiler vectorises.
template <class Reducer, class Acc, class Eval>
STRATA_INLINE Acc reduce_run(const Eval& ev, std::int64_t row, std::int64_t begin, std::int64_t end) {
  std::array<Acc, lanes> lane;
  lane.fill(Reducer::template identity<Acc>());
  std::int64_t c = begin;
  for (; c + lanes <= end; c += lanes)
    for (int k = 0; k < lanes; ++k) lane[k] = Reducer::combine(lane[k], static_cast<Acc>(ev(row, c + k)));
  Acc tail = Reducer::template identity<Acc>();
  for (; c < end; ++c) tail = Reducer::combine(tail, static_cast<Acc>(ev(row, c)));
  for (int width = lanes / 2; width > 0; width /= 2)
    for (int k = 0; k < width; ++k) lane[k] = Reducer::combine(lane[k], lane[k + width]);
  return Reducer::combine(lane[0], tail);
}

// Same, over a long run: blocks of `block` elements, block results combined in the wide type.
template <class Reducer, class Acc, class Eval>
wide_t<Acc> reduce_long_run(const Eval& ev, std::int64_t row, std::int64_t begin, std::int64_t end) {
  using W = wide_t<Acc>;
  W total = Reducer::template identity<W>();
  for (std::int64_t b = begin; b < end; b += block)
    total = Reducer::combine(total, static_cast<W>(reduce_run<Reducer, Acc>(ev, row, b, std::min(end, b + block))));
  return total;
}

template <class T, class V>
STRATA_INLINE T combine_into(T old, V v, assign_mode mode) {
  using traits = precision_traits<T>;
  using C = typename traits::compute;
  switch (mode) {
    case assign_mode::add: return traits::from_compute(static_cast<C>(traits::to_compute(old) + static_cast<C>(v)));
    case assign_mode::subtract: return traits::from_compute(static_cast<C>(traits::to_compute(old) - static_cast<C>(v)));
    default: return traits::from_compute(static_cast<C>(v));
  }
}

}  // namespace detail

// The reduction of every element of node `e`, in its accumulation type.
template <class Reducer, class E>
accumulate_t<typename E::element_type> reduce_all(const E& e) {
  using Acc = accumulate_t<typename E::element_type>;
  using W = detail::wide_t<Acc>;
  constexpr std::size_t k = E::collapse_depth;
  const auto& s = e.shape();
  const std::int64_t n = s.elements();
  if (n == 0) {
    if constexpr (std::is_same_v<Reducer, reducer::sum>) return Acc(0);
    else throw shape_error(std::string(Reducer::name) + " of an empty tensor " + s.to_string());
  }
  const std::int64_t inner = strata::detail::inner_extent(s, k);
  const auto ev = e.evaluator(k);
  // Fixed-size pieces, reduced in a fixed order: the result does not depend on thread count.
  constexpr std::int64_t piece = 1 << 16;
  const std::int64_t pieces = (n + piece - 1) / piece;
  std::vector<W> partial(static_cast<std::size_t>(pieces));
  parallel_ranges(
      pieces,
      [&](std::int64_t pb, std::int64_t pe) {
        for (std::int64_t p = pb; p < pe; ++p) {
          const std::int64_t begin = p * piece, end = std::min(n, begin + piece);
          W acc = Reducer::template identity<W>();
          std::int64_t row = begin / inner, col = begin % inner;
          for (std::int64_t pos = begin; pos < end;) {
            const std::int64_t stop = std::min(inner, col + (end - pos));
            acc = Reducer::combine(acc, detail::reduce_long_run<Reducer, Acc>(ev, row, col, stop));
            pos += stop - col;
            col = 0;
            ++row;
          }
          partial[static_cast<std::size_t>(p)] = acc;
        }
      },
      1, std::max<std::int64_t>(2, parallel_threshold() / piece));
  W total = Reducer::template identity<W>();
  for (const W& w : partial) total = Reducer::combine(total, w);
  return static_cast<Acc>(Reducer::finalize(total, n));
}

// dst (op)= reduction of e over its axes.
template <class T, std::size_t OutRank, class Reducer, class A, std::size_t... Reduced>
void reduce_axes(const TensorView<T, OutRank, strata::cpu>& dst, const Reduction<Reducer, A, Reduced...>& node,
                 assign_mode mode) {
  if constexpr (has_dynamic_scale<T>) {  // reduced in float, then stored with an exponent chosen from the results
    Tensor<float, OutRank, strata::cpu> values = Tensor<float, OutRank, strata::cpu>::uninitialized(dst.shape());
    reduce_axes(values.view(), node, assign_mode::set);
    store_values(dst.data(), values.data(), dst.size(), mode);
    return;
  } else {
  using Acc = accumulate_t<typename A::element_type>;
  using W = detail::wide_t<Acc>;
  const auto plan = reduction_plan<A::rank>::make(node.operand.shape(), A::collapse_depth, axis_list<Reduced...>{});
  const auto ev = node.operand.evaluator(plan.collapsed);
  const std::int64_t inner = plan.inner, red_count = plan.red_count, total_count = plan.total_count;
  T* out = dst.data();
  const std::int64_t out_n = dst.size();

  if (plan.inner_reduced) {
    // Each output element reduces red_count contiguous runs of `inner` elements.
    parallel_ranges(
        out_n,
        [&](std::int64_t ob, std::int64_t oe) {
          for (std::int64_t o = ob; o < oe; ++o) {
            const std::int64_t base = plan.kept_base(o);
            W acc = Reducer::template identity<W>();
            for (std::int64_t q = 0; q < red_count; ++q)
              acc = Reducer::combine(acc, detail::reduce_long_run<Reducer, Acc>(ev, base + plan.reduced_offset(q), 0, inner));
            out[o] = detail::combine_into(out[o], Reducer::finalize(acc, total_count), mode);
          }
        },
        1, std::max<std::int64_t>(2, parallel_threshold() / std::max<std::int64_t>(1, total_count)));
  } else {
    // Output rows of `inner` contiguous elements; each adds red_count input rows lane by lane.
    constexpr std::int64_t chunk = 512;
    const std::int64_t out_rows = out_n / inner;
    const std::int64_t chunks_per_row = (inner + chunk - 1) / chunk;
    parallel_ranges(
        out_rows * chunks_per_row,
        [&](std::int64_t wb, std::int64_t we) {
          std::array<W, chunk> acc;
          for (std::int64_t w = wb; w < we; ++w) {
            const std::int64_t o = w / chunks_per_row;
            const std::int64_t c0 = (w % chunks_per_row) * chunk, c1 = std::min(inner, c0 + chunk);
            const std::int64_t base = plan.kept_base(o);
            std::fill(acc.begin(), acc.begin() + (c1 - c0), Reducer::template identity<W>());
            for (std::int64_t q = 0; q < red_count; ++q) {
              const std::int64_t row = base + plan.reduced_offset(q);
              for (std::int64_t c = c0; c < c1; ++c)
                acc[c - c0] = Reducer::combine(acc[c - c0], static_cast<W>(ev(row, c)));
            }
            T* o_row = out + o * inner;
            for (std::int64_t c = c0; c < c1; ++c)
              o_row[c] = detail::combine_into(o_row[c], Reducer::finalize(acc[c - c0], total_count), mode);
          }
        },
        1, std::max<std::int64_t>(2, parallel_threshold() / std::max<std::int64_t>(1, red_count * std::min(inner, chunk))));
  }
  }
}

}  // namespace strata::cpu_evaluator

namespace strata {
// Found by argument-dependent lookup from device_traits<cpu>::assign.
template <class T, std::size_t OutRank, class Reducer, class A, std::size_t... Reduced>
void evaluate_complex(cpu, const TensorView<T, OutRank, cpu>& dst, const Reduction<Reducer, A, Reduced...>& node,
                      assign_mode mode) {
  cpu_evaluator::reduce_axes(dst, node, mode);
}
}  // namespace strata
