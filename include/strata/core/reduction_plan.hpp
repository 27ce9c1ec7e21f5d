// strata/core/reduction_plan.hpp — how an axis reduction walks its operand, shared by the
// CPU and CUDA kernels: the trailing axes that are all reduced or all kept become one
// contiguous run (`inner`); the axes before it split into kept axes (which output row) and
// reduced axes (which operand rows add into it), each with its row stride.
#pragma once

#include <cstddef>
#include <cstdint>

#include "strata/core/axes.hpp"
#include "strata/config.hpp"
#include "strata/core/shape.hpp"

namespace strata {

template <std::size_t R>
struct reduction_plan {
  bool inner_reduced = false;   // the run is reduced (else kept: outputs are contiguous rows)
  std::size_t collapsed = 0;    // axes in the run: build the operand's evaluator with this
  std::int64_t inner = 1;       // elements in the run
  int kept_n = 0, red_n = 0;
  std::int64_t kept_extent[R]{}, kept_stride[R]{}, red_extent[R]{}, red_stride[R]{};
  std::int64_t red_count = 1;   // operand rows per output row
  std::int64_t total_count = 1; // operand elements per output element (for mean)

  template <std::size_t... Reduced>
  static reduction_plan make(const Shape<R>& s, std::size_t collapse_depth, axis_list<Reduced...>) {
    using reduced = axis_list<Reduced...>;
    reduction_plan p;
    p.inner_reduced = reduced::contains(R - 1);
    while (p.collapsed < collapse_depth && reduced::contains(R - 1 - p.collapsed) == p.inner_reduced) ++p.collapsed;
    p.inner = s.elements_from(R - p.collapsed);
    std::int64_t row_stride = 1;
    for (std::size_t axis = R - p.collapsed; axis-- > 0;) {
      if (reduced::contains(axis)) {
        p.red_extent[p.red_n] = s[axis];
        p.red_stride[p.red_n++] = row_stride;
        p.red_count *= s[axis];
      } else {
        p.kept_extent[p.kept_n] = s[axis];
        p.kept_stride[p.kept_n++] = row_stride;
      }
      row_stride *= s[axis];
    }
    p.total_count = p.red_count * (p.inner_reduced ? p.inner : 1);
    return p;
  }

  // The first operand row of output row o (kept axes, the last one fastest).
  STRATA_HD std::int64_t kept_base(std::int64_t o) const {
    std::int64_t base = 0;
    for (int i = 0; i < kept_n; ++i) {
      base += (o % kept_extent[i]) * kept_stride[i];
      o /= kept_extent[i];
    }
    return base;
  }
  // The row offset of reduced combination q.
  STRATA_HD std::int64_t reduced_offset(std::int64_t q) const {
    std::int64_t off = 0;
    for (int i = 0; i < red_n; ++i) {
      off += (q % red_extent[i]) * red_stride[i];
      q /= red_extent[i];
    }
    return off;
  }
};

}  // namespace strata
