// strata/augment/noise.hpp — pixel noise: gaussian_noise (additive, σ in units of the full pixel
// range) and salt_and_pepper (a fraction of pixels set to full or zero intensity). The params
// hold a seed, so applying them again, on any thread, gives the same noise.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/augment/augmentation.hpp"
#include "strata/core/error.hpp"
#include "strata/image/image.hpp"
#include "strata/numeric/elementary_functions.hpp"

namespace strata::augment {

namespace detail {

// A fresh 64-bit seed from the caller's engine: the noise then depends on (seed, position in the
// output) only, never on how many other draws a worker thread made in between.
inline std::uint64_t draw_seed(random_engine& rng) noexcept {
  const std::uint64_t hi = rng();
  return hi << 32 | rng();
}

// Standard normal values out[0, n) (n a multiple of 4) for row `row` of a noise field: Box–Muller
// on Philox blocks keyed by (seed, row, block), so any row can be made on any thread. Written to
// vectorise: the Philox words first, then one SIMD loop with strata's branch-free log and a
// polynomial sine/cosine of 2πu (octant reduction, |error| < 4e-7 — far below what any image
// noise can show). About 1.5 ns per value on one core; random_engine::normal(), with libm's
// log, sin and cos one value at a time, took 33.
inline void normal_row(std::uint64_t seed, std::uint64_t stream, std::uint64_t row, std::int64_t n, float* out,
                       std::uint32_t* words) {
  const std::int64_t blocks = n / 4;
  const std::uint64_t first = row * std::uint64_t(blocks);
  for (std::int64_t b = 0; b < blocks; ++b) {
    const auto x = strata::detail::philox_block(seed, first + std::uint64_t(b), stream);
    for (int i = 0; i < 4; ++i) words[4 * b + i] = x[std::size_t(i)];
  }
  const std::int64_t pairs = n / 2;
  STRATA_SIMD
  for (std::int64_t i = 0; i < pairs; ++i) {
    const float u1 = float((words[2 * i] >> 8) + 1) * 0x1.0p-24f;  // (0, 1]
    const float u2 = float(words[2 * i + 1] >> 8) * 0x1.0p-24f;    // [0, 1)
    const float r = std::sqrt(-2.0f * elementary::log(u1));
    // θ = 2πu2 = q·π/2 + d with q = round(4u2), d ∈ [−π/4, π/4].
    const float a = 4.0f * u2, q = float(int(a + 0.5f));
    const float d = (a - q) * 1.57079632679f, d2 = d * d;
    const float sd = d * (1.0f + d2 * (-1.0f / 6 + d2 * (1.0f / 120 + d2 * (-1.0f / 5040))));
    const float cd = 1.0f + d2 * (-0.5f + d2 * (1.0f / 24 + d2 * (-1.0f / 720 + d2 * (1.0f / 40320))));
    const int quadrant = int(q) & 3;  // rotate (cos d, sin d) by quadrant · 90°
    const float c = quadrant == 0 ? cd : quadrant == 1 ? -sd : quadrant == 2 ? -cd : sd;
    const float s = quadrant == 0 ? sd : quadrant == 1 ? cd : quadrant == 2 ? -sd : -cd;
    out[2 * i] = r * c;
    out[2 * i + 1] = r * s;
  }
}

// What the two noises share: params are one seed (so applying them again, on any thread, gives
// the same noise), the size does not change, and points stay where they are.
struct seeded_pixel_noise {
  struct params {
    std::uint64_t seed = 0;
  };
  params sample(random_engine& rng, image_size) const { return {draw_seed(rng)}; }
  image_size output_size(const params&, image_size in) const noexcept { return in; }
  point map(const params&, image_size, point q) const noexcept { return q; }
};

// Streams that keep the two noises independent if they are ever given the same seed.
inline constexpr std::uint64_t gaussian_noise_stream = 0x6e01;
inline constexpr std::uint64_t salt_and_pepper_stream = 0x6e02;

}  // namespace detail

// Independent N(0, σ·range) per value (every channel of every pixel). Integer pixels are rounded
// and clamped; floating-point ones are not clamped, so the noise stays zero-mean.
class gaussian_noise : public detail::seeded_pixel_noise {
 public:

  explicit gaussian_noise(double sigma) : sigma_(sigma) {
    if (!(sigma >= 0)) throw error("gaussian_noise: sigma must be ≥ 0, got " + std::to_string(sigma));
  }
  double sigma() const noexcept { return sigma_; }


  template <class T>
  void apply(const params& p, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    const std::int64_t channels = in.channels();
    out.reshape(in.height(), in.width(), channels);
    if (in.empty()) return;
    const float scale = float(sigma_ * pixel_traits<T>::max);
    const std::int64_t row = in.width() * channels, padded = (row + 3) / 4 * 4;
    std::vector<float> noise(static_cast<std::size_t>(padded));
    std::vector<std::uint32_t> words(static_cast<std::size_t>(padded));
    for (std::int64_t y = 0; y < in.height(); ++y) {
      detail::normal_row(p.seed, detail::gaussian_noise_stream, std::uint64_t(y), padded, noise.data(), words.data());
      T* dst = &out(y, 0, 0);
      const float* z = noise.data();
      if (in.interleaved()) {  // contiguous rows: one vectorisable loop
        const T* src = &in(y, 0, 0);
        STRATA_SIMD
        for (std::int64_t i = 0; i < row; ++i) {
          const float v = float(src[i]) + scale * z[i];
          if constexpr (std::is_floating_point_v<T>) {
            dst[i] = T(v);
          } else {
            // Rounded half up, then clamped as integers: float compares may trap, so GCC will not
            // if-convert (vectorise) them without -fno-trapping-math; integer ones it will.
            constexpr std::int32_t hi = std::int32_t(pixel_traits<T>::max);
            const std::int32_t r = std::int32_t(v + 0.5f);
            dst[i] = T(r < 0 ? 0 : r > hi ? hi : r);
          }
        }
        continue;
      }
      for (std::int64_t x = 0; x < in.width(); ++x)
        for (std::int64_t c = 0; c < channels; ++c) {
          const float v = float(in(y, x, c)) + scale * z[x * channels + c];
          if constexpr (std::is_floating_point_v<T>)
            dst[x * channels + c] = T(v);
          else
            dst[x * channels + c] = pixel_traits<T>::from(double(v));
        }
    }
  }

 private:
  double sigma_;
};

// Each pixel, with probability `fraction`, becomes salt (full intensity in every channel) with
// probability salt_ratio, else pepper (zero); the others are copied. One uniform draw per pixel
// decides both, in output order.
class salt_and_pepper : public detail::seeded_pixel_noise {
 public:

  explicit salt_and_pepper(double fraction, double salt_ratio = 0.5) : fraction_(fraction), salt_ratio_(salt_ratio) {
    if (!(fraction >= 0 && fraction <= 1))
      throw error("salt_and_pepper: fraction must be in [0, 1], got " + std::to_string(fraction));
    if (!(salt_ratio >= 0 && salt_ratio <= 1))
      throw error("salt_and_pepper: salt_ratio must be in [0, 1], got " + std::to_string(salt_ratio));
  }
  double fraction() const noexcept { return fraction_; }
  double salt_ratio() const noexcept { return salt_ratio_; }


  template <class T>
  void apply(const params& p, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    const std::int64_t channels = in.channels();
    out.reshape(in.height(), in.width(), channels);
    if (in.empty()) return;
    random_engine noise(p.seed, detail::salt_and_pepper_stream);
    const float salt_below = float(fraction_ * salt_ratio_), changed_below = float(fraction_);
    const T salt = T(pixel_traits<T>::max);
    for (std::int64_t y = 0; y < in.height(); ++y) {
      T* dst = &out(y, 0, 0);
      for (std::int64_t x = 0; x < in.width(); ++x) {
        const float u = noise.uniform();
        T* px = dst + x * channels;
        if (u < changed_below) {
          const T v = u < salt_below ? salt : T(0);
          for (std::int64_t c = 0; c < channels; ++c) px[c] = v;
        } else {
          for (std::int64_t c = 0; c < channels; ++c) px[c] = in(y, x, c);
        }
      }
    }
  }

 private:
  double fraction_, salt_ratio_;
};

static_assert(Augmentation<gaussian_noise>, "gaussian_noise must satisfy strata::augment::Augmentation");
static_assert(Augmentation<salt_and_pepper>, "salt_and_pepper must satisfy strata::augment::Augmentation");

}  // namespace strata::augment
