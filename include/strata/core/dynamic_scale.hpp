// strata/core/dynamic_scale.hpp — the shared exponent of a tensor of a dynamic-scale precision
// (dynamic_fixed): where it lives (a registry keyed by the tensor's allocation, so every view and
// raw pointer into the tensor finds it), and how it is chosen when the tensor is written: the
// most fraction bits whose overflow rate stays at or below max_overflow_rate (Courbariaux et al.).
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/parallel.hpp"
#include "strata/numeric/precision_traits.hpp"

namespace strata {

// The exponent of one tensor: its values are raw · 2^-fraction_bits.
struct dynamic_scale {
  int fraction_bits = 0;
  // For writers that cannot see their values before rounding (the integer kernels): the fraction
  // bits the last full write's headroom allows next time (its overflows lower them at once).
  int planned = 0;
  bool written = false;  // whether a full write has set fraction_bits from data yet
  std::int64_t full_writes = 0, overflowed = 0;  // statistics: full writes, elements saturated in them
};

namespace dynamic_scaling {
// The paper's criterion: at most this fraction of a write's values may saturate.
inline constexpr double max_overflow_rate = 1e-4;
inline constexpr int min_fraction_bits = -40, max_fraction_bits = 56;
inline int clamp_bits(int f, int lo = min_fraction_bits, int hi = max_fraction_bits) { return f < lo ? lo : (f > hi ? hi : f); }
// How many values of n may overflow.
inline std::int64_t allowed_overflows(std::int64_t n, double rate = max_overflow_rate) { return std::int64_t(double(n) * rate); }
}  // namespace dynamic_scaling

// Every live allocation of a dynamic-scale precision and its exponent. Tensors register at
// allocation and leave at release (device_traits<cpu>); views and kernels look the exponent up by
// any address inside the allocation.
class scale_registry {
 public:
  struct entry {
    std::int64_t bytes = 0;
    dynamic_scale scale;
  };
  struct found {
    dynamic_scale* scale;
    const char* base;
    std::int64_t bytes;
  };

  static scale_registry& instance() {
    static scale_registry r;
    return r;
  }

  void add(const void* begin, std::int64_t bytes, int initial_fraction_bits) {
    const std::unique_lock lock(mutex_);
    entry& e = entries_[key(begin)];
    e.bytes = bytes;
    e.scale = dynamic_scale{};
    e.scale.fraction_bits = e.scale.planned = initial_fraction_bits;
  }
  void remove(const void* begin) noexcept {
    const std::unique_lock lock(mutex_);
    entries_.erase(key(begin));
  }
  // The allocation holding p; throws when p lies in none (foreign memory has no exponent).
  found find(const void* p) const {
    const std::shared_lock lock(mutex_);
    auto it = entries_.upper_bound(key(p));
    if (it != entries_.begin()) {
      --it;
      if (key(p) < it->first + std::uintptr_t(it->second.bytes))
        return {const_cast<dynamic_scale*>(&it->second.scale), reinterpret_cast<const char*>(it->first), it->second.bytes};
    }
    char where[32];
    std::snprintf(where, sizeof where, "%p", p);
    throw error(std::string("strata: dynamic fixed-point values at ") + where +
                " lie in no strata tensor; their shared exponent lives with the tensor that owns them (map() or other "
                "foreign memory has none: copy the values into a Tensor)");
  }
  std::size_t size() const {
    const std::shared_lock lock(mutex_);
    return entries_.size();
  }

 private:
  static std::uintptr_t key(const void* p) noexcept { return reinterpret_cast<std::uintptr_t>(p); }
  mutable std::shared_mutex mutex_;
  std::map<std::uintptr_t, entry> entries_;
};

// The exponent of the tensor holding p.
inline dynamic_scale& scale_of(const void* p) { return *scale_registry::instance().find(p).scale; }
// What a write at p needs: the tensor's exponent, and whether the write sets the whole content of
// the tensor (it starts at the allocation; a batch shorter than the buffer leaves only stale
// values behind) — then it chooses the exponent from its data; a write elsewhere keeps it.
struct write_target {
  dynamic_scale& scale;
  bool whole;
};
inline write_target scale_for_write(const void* p) {
  const auto f = scale_registry::instance().find(p);
  return {*f.scale, f.base == static_cast<const char*>(p)};
}

namespace dynamic_scaling {

// A histogram of binary exponents: bin e holds the values with |v| in [2^(e−1−bias), 2^(e−bias))
// (zeros in none). Both writers fill one: from float values by their exponent field, and from
// integer mantissas by their bit length.
struct exponent_histogram {
  static constexpr int bins = 257;
  std::array<std::int64_t, bins> count{};
  std::int64_t total = 0;

  void add(const exponent_histogram& o) {
    for (int b = 0; b < bins; ++b) count[std::size_t(b)] += o.count[std::size_t(b)];
    total += o.total;
  }
  // How many values lie in bins ≥ b.
  std::int64_t at_or_above(int b) const {
    std::int64_t n = 0;
    for (int i = b < 0 ? 0 : b; i < bins; ++i) n += count[std::size_t(i)];
    return n;
  }
  // The smallest bin t with at most `allowed` values in bins ≥ t (bins if none is over).
  int threshold(std::int64_t allowed) const {
    std::int64_t tail = 0;
    for (int b = bins - 1; b >= 1; --b) {
      tail += count[std::size_t(b)];
      if (tail > allowed) return b + 1;
    }
    return 1;
  }
};

// Float values go in bin = their IEEE exponent field (|v| in [2^(E−127), 2^(E−126)), so v·2^f
// reaches 2^(Bits−1) — one past the largest mantissa — exactly when E ≥ Bits − f + 126; zeros and
// subnormals in bin 0, below every threshold that matters; infinities and NaN in the top bin).
// The most fraction bits (≤ the cap) at which at most rate·n of the histogram's float values
// saturate a Bits-bit mantissa.
inline int fraction_bits_for(const exponent_histogram& h, int bits, int lo = min_fraction_bits, int hi = max_fraction_bits,
                             double rate = max_overflow_rate) {
  const int t = h.threshold(allowed_overflows(h.total, rate));
  return clamp_bits(bits + 126 - t, lo, hi);  // bins ≥ t must stay below 2^(Bits−1): t ≥ Bits − f + 126
}

// Integer mantissas (or exact integer sums) r: bin = bit length of |r|, so r·2^k needs bit length
// + k ≤ Bits − 1 to fit. How many bits of headroom (k ≥ 0) the values leave at the given rate.
template <class I>
exponent_histogram histogram_of_integers(const I* r, std::int64_t n) {
  exponent_histogram h;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint64_t a = r[i] < 0 ? std::uint64_t(0) - std::uint64_t(std::int64_t(r[i])) : std::uint64_t(r[i]);
    ++h.count[std::size_t(std::bit_width(a))];
  }
  h.total = n;
  return h;
}
// Largest shift s (bits to move the binary point right, possibly negative) such that at most
// `allowed` of the integer values exceed Bits − 1 bits after shifting: the fraction bits of the
// integers' own scale plus s.
inline int integer_headroom(const exponent_histogram& h, int bits, std::int64_t allowed) {
  // Values in bins ≥ t (bit length ≥ t) overflow after a shift s when t + s > bits − 1.
  return bits - 1 - (h.threshold(allowed) - 1);
}

}  // namespace dynamic_scaling

// Multiplies n mantissas by 2^k (k > 0, saturating) or divides them by 2^-k (to nearest, ties up).
template <class T>
void rescale_mantissas(T* out, std::int64_t n, int k) {
  parallel_ranges(n, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const std::int64_t v = out[i].raw();
      std::int64_t s;
      if (k >= 0) s = k > 40 ? (v > 0 ? T::raw_max : v < 0 ? T::raw_min : 0) : v * (std::int64_t{1} << k);
      else s = -k > 40 ? 0 : (v + (std::int64_t{1} << (-k - 1))) >> -k;
      out[i] = T::from_raw(s);
    }
  });
}

// out[0, n) holds mantissas at `fraction_bits` (copied or selected from another tensor): that
// becomes the tensor's exponent when out starts it; elsewhere they are rescaled to the tensor's.
template <class T>
void adopt_fraction_bits(T* out, std::int64_t n, int fraction_bits) {
  if (n <= 0) return;
  const auto [s, whole] = scale_for_write(out);
  if (whole) {
    s.fraction_bits = s.planned = fraction_bits;
    s.written = true;
    ++s.full_writes;
  } else if (s.fraction_bits != fraction_bits) {
    rescale_mantissas(out, n, s.fraction_bits - fraction_bits);
  }
}

}  // namespace strata
