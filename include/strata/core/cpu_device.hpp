// strata/core/cpu_device.hpp — device_traits<cpu>: the one place where CPU tensors are allocated,
// copied, filled, and where every expression is evaluated: one pass over the destination, a
// SIMD inner loop, split across OpenMP threads above parallel_threshold(), no temporaries.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <mutex>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "strata/config.hpp"
#include "strata/core/error.hpp"
#include "strata/core/expression.hpp"
#include "strata/core/parallel.hpp"
#include "strata/core/cpu_memory.hpp"
#include "strata/core/dynamic_scale.hpp"
#include "strata/numeric/precision_traits.hpp"

namespace strata {

// Declared here, defined in core/ and kernels/: this header sits below them (tensor.hpp
// includes it), so it names them only inside templates.
template <class T, std::size_t Rank, class D>
class TensorView;
template <class T, std::size_t Rank, class D>
struct TensorRef;
template <class To, class A>
struct Cast;
template <class A, std::size_t Rank, std::size_t... Kept>
struct Broadcast;
namespace cpu_evaluator {
template <class Reducer, class E>
accumulate_t<typename E::element_type> reduce_all(const E& e);
}

namespace detail {

// One contiguous stretch of a destination row: out[c] (op)= ev(row, c) for c in [c0, c1).
template <assign_mode Mode, class T, class Eval>
STRATA_INLINE void assign_row(T* STRATA_RESTRICT out, const Eval ev, std::int64_t row, std::int64_t c0,
                              std::int64_t c1) {
  using traits = precision_traits<T>;
  STRATA_SIMD
  for (std::int64_t c = c0; c < c1; ++c) {
    if constexpr (Mode == assign_mode::set) {
      out[c] = traits::from_compute(ev(row, c));
    } else if constexpr (Mode == assign_mode::add) {
      out[c] = traits::from_compute(traits::to_compute(out[c]) + ev(row, c));
    } else {
      out[c] = traits::from_compute(traits::to_compute(out[c]) - ev(row, c));
    }
  }
}

// `dst = cast<float>(h)` and `dst = cast<half>(f)` of a plain tensor: bulk F16C / AVX-512
// conversion (bit-identical to the fused path, several times faster than its bit arithmetic).
template <class E>
struct plain_half_conversion : std::false_type {};
template <std::size_t R>
struct plain_half_conversion<Cast<float, TensorRef<const half, R, cpu>>> : std::true_type {};
template <std::size_t R>
struct plain_half_conversion<Cast<half, TensorRef<const float, R, cpu>>> : std::true_type {};

// `y (op)= broadcast(b, axes<1>, y.shape())` with y [rows, n] and b [n] both fp16 (a dense layer's
// bias): per block of a row, y and b widened by the bulk conversion, summed in fp32, rounded back
// by it — the fused loop's arithmetic, bit for bit (its per-value bit conversions ran scalar here,
// at about ten times the cost).
template <class E>
struct half_row_broadcast : std::false_type {};
template <class T>
struct half_row_broadcast<Broadcast<TensorRef<T, 1, cpu>, 2, 1>> : std::is_same<std::remove_const_t<T>, half> {};

template <assign_mode Mode, class T, class E>
void assign_half_row_broadcast(const TensorView<T, 2, cpu>& dst, const E& e) {
  const std::int64_t rows = dst.shape()[0], cols = dst.shape()[1];
  const T* bias = e.operand.data;
  T* const out = dst.data();
  parallel_ranges(rows, [=](std::int64_t r0, std::int64_t r1) {
    constexpr std::int64_t block = 256;
    alignas(64) float y[block], b[block];
    for (std::int64_t c0 = 0; c0 < cols; c0 += block) {
      const std::int64_t m = std::min(block, cols - c0);
      convert(bias + c0, b, m);
      for (std::int64_t r = r0; r < r1; ++r) {
        T* row = out + r * cols + c0;
        if constexpr (Mode == assign_mode::set) {
          convert(b, row, m);
          continue;
        }
        convert(row, y, m);
        STRATA_SIMD
        for (std::int64_t c = 0; c < m; ++c) y[c] = Mode == assign_mode::add ? y[c] + b[c] : y[c] - b[c];
        convert(y, row, m);
      }
    }
  }, 1, std::max<std::int64_t>(2, parallel_threshold() / std::max<std::int64_t>(1, cols)));
}

// dst -= e for a rank-1 fp32 dst, each new value also rounded into copy[i] (fp16): an optimizer's
// update of a master copy and its store into the fp16 parameter in one pass. The same arithmetic
// as `dst -= e` (assign_row's loop) followed by the bulk conversion, a block at a time while the
// block is in L1, so the results are those bit for bit.
template <class T, class E>
void assign_subtract_and_narrow(const TensorView<T, 1, cpu>& dst, const E& e, half* copy) {
  static_assert(std::is_same_v<T, float> && E::rank == 1);
  const std::int64_t n = dst.size();
  if (n == 0) return;
  const auto ev = e.evaluator(E::collapse_depth);
  T* const out = dst.data();
  parallel_ranges(n, [&](std::int64_t begin, std::int64_t end) {
    const auto local = ev;  // a private copy: stores to `out` cannot alias its fields
    constexpr std::int64_t block = 512;
    for (std::int64_t b = begin; b < end; b += block) {
      const std::int64_t stop = std::min(end, b + block);
      assign_row<assign_mode::subtract>(out, local, 0, b, stop);
      convert(out + b, copy + b, stop - b);
    }
  }, 32);
}

template <assign_mode Mode, class T, std::size_t Rank, class E>
void assign_elementwise(const TensorView<T, Rank, cpu>& dst, const E& e) {
  if constexpr (Mode == assign_mode::set && plain_half_conversion<E>::value) {
    const auto* src = e.operand.data;
    T* out = dst.data();
    parallel_ranges(dst.size(), [=](std::int64_t b, std::int64_t end) { convert(src + b, out + b, end - b); });
    return;
  }
  if constexpr (std::is_same_v<T, half> && half_row_broadcast<E>::value) {
    assign_half_row_broadcast<Mode>(dst, e);
    return;
  }
  constexpr std::size_t k = E::collapse_depth;
  const std::int64_t n = dst.size();
  if (n == 0) return;
  const std::int64_t inner = inner_extent(dst.shape(), k);
  const auto ev = e.evaluator(k);
  T* const out = dst.data();
  parallel_ranges(n, [&](std::int64_t begin, std::int64_t end) {
    const auto local = ev;  // a private copy: stores to `out` cannot alias its fields
    std::int64_t row = 0, col = 0;
    if (begin != 0) {  // a 64-bit division costs as much as a small tensor's whole loop
      row = begin / inner;
      col = begin - row * inner;
    }
    for (std::int64_t pos = begin; pos < end;) {
      const std::int64_t stop = std::min(inner, col + (end - pos));
      assign_row<Mode>(out + row * inner, local, row, col, stop);
      pos += stop - col;
      col = 0;
      ++row;
    }
  });
}

// Dynamic fixed point: out[i] (op)= value(row, col) over n elements in rows of `inner`, where the
// write chooses the tensor's exponent from the values when it sets the whole tensor (a first pass
// counts their binary exponents; the exponent is then the largest that overflows at most
// max_overflow_rate of them), and keeps it otherwise. Leaves read with the exponents they had
// when their evaluators were made, so `w = w - g` in place reads the old exponent.
template <assign_mode Mode, class T, class Eval>
void store_dynamic(T* out, std::int64_t n, std::int64_t inner, const Eval& ev) {
  using traits = precision_traits<T>;
  if (n == 0) return;
  const auto [scale, whole] = scale_for_write(out);
  const float old_step = std::ldexp(1.0f, -scale.fraction_bits);
  auto over_rows = [&](auto&& body) {
    parallel_ranges(n, [&](std::int64_t begin, std::int64_t end) {
      const auto local = ev;
      std::int64_t row = begin / inner, col = begin - row * inner;
      for (std::int64_t pos = begin; pos < end;) {
        const std::int64_t stop = std::min(inner, col + (end - pos));
        body(local, row, col, stop);
        pos += stop - col;
        col = 0;
        ++row;
      }
    });
  };
  auto value = [&](const auto& local, std::int64_t row, std::int64_t c) -> float {
    const float v = local(row, c);
    if constexpr (Mode == assign_mode::set) return v;
    else {
      const float o = traits::to_compute(out[row * inner + c], old_step);
      return Mode == assign_mode::add ? o + v : o - v;
    }
  };
  if (whole) {
    std::mutex merge;
    dynamic_scaling::exponent_histogram total;
    over_rows([&](const auto& local, std::int64_t row, std::int64_t c0, std::int64_t c1) {
      dynamic_scaling::exponent_histogram h;
      for (std::int64_t c = c0; c < c1; ++c) {
        const float v = value(local, row, c);
        ++h.count[std::size_t((std::bit_cast<std::uint32_t>(v) >> 23) & 0xFFu)];
      }
      h.total = c1 - c0;
      const std::lock_guard lock(merge);
      total.add(h);
    });
    const int f = dynamic_scaling::fraction_bits_for(total, T::bits);
    const std::int64_t over = total.at_or_above(T::bits - f + 126);  // the values that saturate at f
    scale.fraction_bits = scale.planned = f;
    scale.written = true;
    ++scale.full_writes;
    scale.overflowed += over;
  }
  const float inverse_step = std::ldexp(1.0f, scale.fraction_bits);
  over_rows([&](const auto& local, std::int64_t row, std::int64_t c0, std::int64_t c1) {
    T* o = out + row * inner;
    for (std::int64_t c = c0; c < c1; ++c) o[c] = traits::from_compute(value(local, row, c), inverse_step);
  });
}

// One value everywhere, as an evaluator (fills).
struct constant_value {
  float value;
  float operator()(std::int64_t, std::int64_t) const { return value; }
};

// Flat float values as an evaluator (for reductions and kernels that produce float results).
struct flat_values {
  const float* data;
  std::int64_t inner;
  float operator()(std::int64_t row, std::int64_t col) const { return data[row * inner + col]; }
};

}  // namespace detail

// Stores n float values into dynamic fixed-point memory at out (op= mode), choosing the tensor's
// exponent from them when out starts its tensor.
template <class T>
  requires has_dynamic_scale<T>
void store_values(T* out, const float* values, std::int64_t n, assign_mode mode = assign_mode::set) {
  const detail::flat_values ev{values, n};
  if (mode == assign_mode::add) detail::store_dynamic<assign_mode::add>(out, n, n, ev);
  else if (mode == assign_mode::subtract) detail::store_dynamic<assign_mode::subtract>(out, n, n, ev);
  else detail::store_dynamic<assign_mode::set>(out, n, n, ev);
}

template <>
struct device_traits<cpu> {
  static constexpr const char* name = "cpu";

  // A dynamic fixed-point allocation registers its exponent (starting at range ±8 until data sets it).
  template <class T>
  static T* allocate(std::int64_t n) {
    T* p = detail::cpu_allocate<T>(n);
    if constexpr (has_dynamic_scale<T>)
      if (p) scale_registry::instance().add(p, n * std::int64_t(sizeof(T)), T::bits - 4);
    return p;
  }
  template <class T>
  static void deallocate(T* p) noexcept {
    if constexpr (has_dynamic_scale<T>)
      if (p) scale_registry::instance().remove(p);
    detail::cpu_deallocate(p);
  }
  template <class T>
  static void copy(const T* src, T* dst, std::int64_t n) noexcept {
    detail::cpu_copy(src, dst, n);
  }
  template <class T>
  static void fill(T* dst, std::int64_t n, T value) {
    parallel_ranges(n, [=](std::int64_t b, std::int64_t e) { std::fill(dst + b, dst + e, value); });
  }

  // dst (op)= e, for any node e on this device with dst's shape (checked by strata::assign).
  template <assign_mode Mode, class T, std::size_t Rank, class E>
  static void assign(const TensorView<T, Rank, cpu>& dst, const E& e) {
    if constexpr (E::is_complex) {
      evaluate_complex(cpu{}, dst, e, Mode);  // matmul, reductions: found by argument-dependent lookup
    } else if constexpr (has_dynamic_scale<T>) {
      constexpr std::size_t k = E::collapse_depth;
      if (dst.size() > 0) detail::store_dynamic<Mode>(dst.data(), dst.size(), detail::inner_extent(dst.shape(), k), e.evaluator(k));
    } else {
      detail::assign_elementwise<Mode>(dst, e);
    }
  }

  // Reduction of every element of e: a value of the accumulation type.
  template <class Reducer, class E>
  static auto reduce_all(const E& e) {
    return cpu_evaluator::reduce_all<Reducer>(e);
  }
};

}  // namespace strata
