// strata/core/random.hpp — reproducible randomness: the counter-based Philox4x32-10 generator
// (Salmon et al., SC'11; the one cuRAND and PyTorch use), a sequential engine for augmentation,
// dropout and stochastic rounding, and tensor fills whose every element depends only on
// (seed, index) — the same values for any thread count, and on the GPU later.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <type_traits>
#include <vector>

#include "strata/config.hpp"
#include "strata/core/parallel.hpp"
#include "strata/core/tensor.hpp"

namespace strata {

struct philox4x32 {
  using counter = std::array<std::uint32_t, 4>;
  using key = std::array<std::uint32_t, 2>;

  // Ten rounds of the Philox S-box: two 32×32→64 multiplies, xor with the key, a lane shuffle;
  // the key advances by the Weyl constants (golden ratio, sqrt(3) − 1) between rounds.
  STRATA_HD static constexpr counter generate(counter c, key k) noexcept {
    constexpr std::uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;
    constexpr std::uint32_t w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
    for (int round = 0; round < 10; ++round) {
      const std::uint64_t p0 = std::uint64_t{m0} * c[0];
      const std::uint64_t p1 = std::uint64_t{m1} * c[2];
      const auto hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
      const auto hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
      c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
      k[0] += w0;
      k[1] += w1;
    }
    return c;
  }
};

namespace detail {

STRATA_HD constexpr philox4x32::key philox_key(std::uint64_t seed) noexcept {
  return {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
}

// The block of four 32-bit values for (block index, stream) under a seed.
STRATA_HD constexpr philox4x32::counter philox_block(std::uint64_t seed, std::uint64_t block,
                                                     std::uint64_t stream) noexcept {
  return philox4x32::generate({static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32),
                               static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)},
                              philox_key(seed));
}

// [0, 1) with 24 (float) or 53 (double) random bits; (0, 1] variants for logarithms.
STRATA_HD constexpr float unit_float(std::uint32_t x) noexcept { return float(x >> 8) * 0x1.0p-24f; }
STRATA_HD constexpr float unit_float_open_zero(std::uint32_t x) noexcept { return float((x >> 8) + 1) * 0x1.0p-24f; }
STRATA_HD constexpr double unit_double(std::uint32_t hi, std::uint32_t lo) noexcept {
  return double(((std::uint64_t{hi} << 32 | lo) >> 11)) * 0x1.0p-53;
}
STRATA_HD constexpr double unit_double_open_zero(std::uint32_t hi, std::uint32_t lo) noexcept {
  return double(((std::uint64_t{hi} << 32 | lo) >> 11) + 1) * 0x1.0p-53;
}

// Streams that keep tensor fills of different kinds independent under the same seed.
inline constexpr std::uint64_t uniform_stream = 0x5eed0001;
inline constexpr std::uint64_t normal_stream = 0x5eed0002;

}  // namespace detail

// A sequential engine over one Philox stream: a standard UniformRandomBitGenerator (works
// with <random>'s distributions) plus the draws strata itself needs. Cheap to copy; two
// engines with the same (seed, stream) produce the same sequence.
class random_engine {
 public:
  using result_type = std::uint32_t;

  explicit random_engine(std::uint64_t seed = 0, std::uint64_t stream = 0) noexcept : seed_(seed), stream_(stream) {}

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  result_type operator()() noexcept {
    const std::uint64_t block = position_ / 4;
    if (block != buffered_block_) {
      buffer_ = detail::philox_block(seed_, block, stream_);
      buffered_block_ = block;
    }
    return buffer_[position_++ % 4];
  }

  // Skips n values in constant time (the generator is counter-based).
  void discard(std::uint64_t n) noexcept { position_ += n; }

  // An independent engine for a sub-task (a worker, a sample): same seed, another stream.
  random_engine fork(std::uint64_t substream) const noexcept {
    return random_engine(seed_, stream_ * 0x9E3779B97F4A7C15ull + substream + 1);
  }

  float uniform() noexcept { return detail::unit_float((*this)()); }  // [0, 1)
  float uniform(float lo, float hi) noexcept { return lo + (hi - lo) * uniform(); }
  double uniform_double() noexcept {
    const auto hi = (*this)();
    return detail::unit_double(hi, (*this)());
  }
  // An integer in [0, n), without modulo bias (Lemire's multiply-and-reject).
  std::uint32_t below(std::uint32_t n) noexcept {
    std::uint64_t m = std::uint64_t{(*this)()} * n;
    if (static_cast<std::uint32_t>(m) < n) {
      const std::uint32_t threshold = (0u - n) % n;
      while (static_cast<std::uint32_t>(m) < threshold) m = std::uint64_t{(*this)()} * n;
    }
    return static_cast<std::uint32_t>(m >> 32);
  }
  bool bernoulli(float p) noexcept { return uniform() < p; }
  // Standard normal by Box–Muller; the second value of each pair is kept for the next call.
  float normal() noexcept {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const float u1 = detail::unit_float_open_zero((*this)());
    const float u2 = detail::unit_float((*this)());
    const float r = std::sqrt(-2.0f * std::log(u1));
    const float theta = 2.0f * std::numbers::pi_v<float> * u2;
    spare_ = r * std::sin(theta);
    has_spare_ = true;
    return r * std::cos(theta);
  }
  float normal(float mean, float stddev) noexcept { return mean + stddev * normal(); }

  std::uint64_t seed() const noexcept { return seed_; }
  std::uint64_t stream() const noexcept { return stream_; }

  // Where the engine is, whole: what a checkpoint keeps so that a resumed run draws what the
  // uninterrupted run would have drawn next.
  struct state_type {
    std::uint64_t seed = 0, stream = 0, position = 0;
    float spare = 0.0f;  // the second normal of a Box–Muller pair, when has_spare
    bool has_spare = false;
    bool operator==(const state_type&) const = default;
  };
  state_type state() const noexcept { return {seed_, stream_, position_, spare_, has_spare_}; }
  explicit random_engine(const state_type& s) noexcept
      : seed_(s.seed), stream_(s.stream), position_(s.position), spare_(s.spare), has_spare_(s.has_spare) {}

 private:
  std::uint64_t seed_;
  std::uint64_t stream_;
  std::uint64_t position_ = 0;
  std::uint64_t buffered_block_ = ~std::uint64_t{0};
  philox4x32::counter buffer_{};
  float spare_ = 0.0f;
  bool has_spare_ = false;
};

namespace detail {

// Element i of a fill depends only on (seed, i): block i / per_block of the stream.
template <class T, class Gen>
void fill_by_blocks(T* data, std::int64_t n, std::int64_t per_block, Gen gen) {
  if constexpr (has_dynamic_scale<T>) {  // drawn in float, stored with an exponent chosen from the draws
    std::vector<float> values(static_cast<std::size_t>(n));
    fill_by_blocks(values.data(), n, per_block, gen);
    store_values(data, values.data(), n);
    return;
  } else {
  const std::int64_t blocks = (n + per_block - 1) / per_block;
  parallel_ranges(blocks, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      compute_t<T> values[4]{};
      gen(static_cast<std::uint64_t>(b), values);
      for (std::int64_t l = 0; l < per_block && b * per_block + l < n; ++l)
        data[b * per_block + l] = precision_traits<T>::from_compute(values[l]);
    }
  }, 1, parallel_threshold() / per_block);
  }
}

}  // namespace detail

// Uniform values in [lo, hi).
template <class View>
  requires TensorLike<View>
void fill_uniform(View&& t, double lo, double hi, std::uint64_t seed) {
  using T = typename std::remove_cvref_t<View>::value_type;
  using C = compute_t<T>;
  static_assert(std::is_floating_point_v<C>, "strata::fill_uniform: needs a floating-point element type");
  static_assert(std::is_same_v<typename std::remove_cvref_t<View>::device_type, cpu>,
                "strata::fill_uniform: fill on the host and copy to the device");
  const C l = static_cast<C>(lo), w = static_cast<C>(hi - lo);
  if constexpr (std::is_same_v<C, double>) {
    detail::fill_by_blocks(t.data(), t.size(), 2, [&](std::uint64_t b, C* out) {
      const auto x = detail::philox_block(seed, b, detail::uniform_stream);
      out[0] = l + w * detail::unit_double(x[0], x[1]);
      out[1] = l + w * detail::unit_double(x[2], x[3]);
    });
  } else {
    detail::fill_by_blocks(t.data(), t.size(), 4, [&](std::uint64_t b, C* out) {
      const auto x = detail::philox_block(seed, b, detail::uniform_stream);
      for (int i = 0; i < 4; ++i) out[i] = l + w * detail::unit_float(x[i]);
    });
  }
}

// Normal values with the given mean and standard deviation (Box–Muller on Philox blocks).
template <class View>
  requires TensorLike<View>
void fill_normal(View&& t, double mean, double stddev, std::uint64_t seed) {
  using T = typename std::remove_cvref_t<View>::value_type;
  using C = compute_t<T>;
  static_assert(std::is_floating_point_v<C>, "strata::fill_normal: needs a floating-point element type");
  static_assert(std::is_same_v<typename std::remove_cvref_t<View>::device_type, cpu>,
                "strata::fill_normal: fill on the host and copy to the device");
  const C mu = static_cast<C>(mean), sigma = static_cast<C>(stddev);
  constexpr C two_pi = 2 * std::numbers::pi_v<C>;
  if constexpr (std::is_same_v<C, double>) {
    detail::fill_by_blocks(t.data(), t.size(), 2, [&](std::uint64_t b, C* out) {
      const auto x = detail::philox_block(seed, b, detail::normal_stream);
      const double r = std::sqrt(-2.0 * std::log(detail::unit_double_open_zero(x[0], x[1])));
      const double theta = two_pi * detail::unit_double(x[2], x[3]);
      out[0] = mu + sigma * r * std::cos(theta);
      out[1] = mu + sigma * r * std::sin(theta);
    });
  } else {
    detail::fill_by_blocks(t.data(), t.size(), 4, [&](std::uint64_t b, C* out) {
      const auto x = detail::philox_block(seed, b, detail::normal_stream);
      for (int pair = 0; pair < 2; ++pair) {
        const float r = std::sqrt(-2.0f * std::log(detail::unit_float_open_zero(x[2 * pair])));
        const float theta = two_pi * detail::unit_float(x[2 * pair + 1]);
        out[2 * pair] = mu + sigma * r * std::cos(theta);
        out[2 * pair + 1] = mu + sigma * r * std::sin(theta);
      }
    });
  }
}

}  // namespace strata
