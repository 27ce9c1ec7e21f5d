// strata/augment/noise.hpp — pixel noise: gaussian_noise (additive, σ in units of the full pixel
// range) and salt_and_pepper (a fraction of pixels set to full or zero intensity). The params
// hold a seed, so applying them again, on any thread, gives the same noise.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "strata/augment/augmentation.hpp"
#include "strata/core/error.hpp"
#include "strata/image/image.hpp"

namespace strata::augment {

namespace detail {

// A fresh 64-bit seed from the caller's engine: the noise then depends on (seed, position in the
// output) only, never on how many other draws a worker thread made in between.
inline std::uint64_t draw_seed(random_engine& rng) noexcept {
  const std::uint64_t hi = rng();
  return hi << 32 | rng();
}

// Streams that keep the two noises independent if they are ever given the same seed.
inline constexpr std::uint64_t gaussian_noise_stream = 0x6e01;
inline constexpr std::uint64_t salt_and_pepper_stream = 0x6e02;

}  // namespace detail

// Independent N(0, σ·range) per value (every channel of every pixel). Integer pixels are rounded
// and clamped; floating-point ones are not clamped, so the noise stays zero-mean.
class gaussian_noise {
 public:
  struct params {
    std::uint64_t seed = 0;
  };

  explicit gaussian_noise(double sigma) : sigma_(sigma) {
    if (!(sigma >= 0)) throw error("gaussian_noise: sigma must be ≥ 0, got " + std::to_string(sigma));
  }
  double sigma() const noexcept { return sigma_; }

  params sample(random_engine& rng, image_size) const { return {detail::draw_seed(rng)}; }
  image_size output_size(const params&, image_size in) const noexcept { return in; }
  point map(const params&, image_size, point q) const noexcept { return q; }

  template <class T>
  void apply(const params& p, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    const std::int64_t channels = in.channels();
    out.reshape(in.height(), in.width(), channels);
    if (in.empty()) return;
    random_engine noise(p.seed, detail::gaussian_noise_stream);
    const float scale = float(sigma_ * pixel_traits<T>::max);
    for (std::int64_t y = 0; y < in.height(); ++y) {
      T* dst = &out(y, 0, 0);
      for (std::int64_t x = 0; x < in.width(); ++x)
        for (std::int64_t c = 0; c < channels; ++c) {
          const float v = float(in(y, x, c)) + scale * noise.normal();
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
class salt_and_pepper {
 public:
  struct params {
    std::uint64_t seed = 0;
  };

  explicit salt_and_pepper(double fraction, double salt_ratio = 0.5) : fraction_(fraction), salt_ratio_(salt_ratio) {
    if (!(fraction >= 0 && fraction <= 1))
      throw error("salt_and_pepper: fraction must be in [0, 1], got " + std::to_string(fraction));
    if (!(salt_ratio >= 0 && salt_ratio <= 1))
      throw error("salt_and_pepper: salt_ratio must be in [0, 1], got " + std::to_string(salt_ratio));
  }
  double fraction() const noexcept { return fraction_; }
  double salt_ratio() const noexcept { return salt_ratio_; }

  params sample(random_engine& rng, image_size) const { return {detail::draw_seed(rng)}; }
  image_size output_size(const params&, image_size in) const noexcept { return in; }
  point map(const params&, image_size, point q) const noexcept { return q; }

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
