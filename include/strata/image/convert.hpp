// strata/image/convert.hpp — images to and from the networks' C×H×W float samples: values scaled
// from the pixel type's range to [0, 1], then normalised per channel ((v − mean) / std); and
// back, for looking at what a network saw.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "strata/core/error.hpp"
#include "strata/image/image.hpp"

namespace strata {

// Per-channel normalisation after scaling to [0, 1]; empty spans mean 0 and 1.
struct normalization {
  std::span<const float> mean, stddev;
};

namespace detail {
inline void check_normalization(const normalization& n, std::int64_t channels, const char* who) {
  const auto ok = [&](std::span<const float> s) { return s.empty() || std::int64_t(s.size()) == channels; };
  if (!ok(n.mean) || !ok(n.stddev))
    throw shape_error(std::string(who) + ": normalisation for " + std::to_string(n.mean.size()) + " means and " +
                      std::to_string(n.stddev.size()) + " standard deviations, but the image has " +
                      std::to_string(channels) + " channels");
  for (float s : n.stddev)
    if (!(s > 0)) throw error(std::string(who) + ": a standard deviation is not positive (" + std::to_string(s) + ")");
}
}  // namespace detail

// out[c·H·W + y·W + x] = (in(y, x, c) / max − mean[c]) / std[c]; out holds C·H·W values.
template <class T>
void to_chw(image_view<const T> in, float* out, const normalization& norm = {}) {
  detail::check_normalization(norm, in.channels(), "to_chw");
  const std::int64_t H = in.height(), W = in.width(), plane = H * W;
  const float scale = float(1.0 / pixel_traits<T>::max);
  for (std::int64_t c = 0; c < in.channels(); ++c) {
    const float mean = norm.mean.empty() ? 0.0f : norm.mean[std::size_t(c)];
    const float inv = norm.stddev.empty() ? 1.0f : 1.0f / norm.stddev[std::size_t(c)];
    const float a = scale * inv, b = -mean * inv;  // one multiply-add per value
    float* dst = out + c * plane;
    for (std::int64_t y = 0; y < H; ++y) {
      const T* row = &in(y, 0, c);
      const std::int64_t step = in.col_stride();
      for (std::int64_t x = 0; x < W; ++x) dst[y * W + x] = float(row[x * step]) * a + b;
    }
  }
}

// The inverse: pixels from C·H·W normalised values (rounded and clamped for integer pixels).
template <class T>
void from_chw(const float* in, image_view<T> out, const normalization& norm = {}) {
  detail::check_normalization(norm, out.channels(), "from_chw");
  const std::int64_t H = out.height(), W = out.width(), plane = H * W;
  for (std::int64_t c = 0; c < out.channels(); ++c) {
    const double mean = norm.mean.empty() ? 0.0 : norm.mean[std::size_t(c)];
    const double sd = norm.stddev.empty() ? 1.0 : norm.stddev[std::size_t(c)];
    for (std::int64_t y = 0; y < H; ++y)
      for (std::int64_t x = 0; x < W; ++x)
        out(y, x, c) = pixel_traits<T>::from((double(in[c * plane + y * W + x]) * sd + mean) * pixel_traits<T>::max);
  }
}

}  // namespace strata
