// Shared by the augmentation, data and image tests: images of patterned or random pixels, planar
// copies.
#pragma once

#include <cstdint>
#include <vector>

#include "strata/core/random.hpp"
#include "strata/image/image.hpp"

namespace strata::testing {

// h × w × c pixels, value (seed + y·31 + x·17 + c·101) mod 256: distinct per position and channel.
inline image<std::uint8_t> pattern_image(std::int64_t h, std::int64_t w, std::int64_t c, int seed = 0) {
  image<std::uint8_t> im(h, w, c);
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x)
      for (std::int64_t k = 0; k < c; ++k) im(y, x, k) = static_cast<std::uint8_t>((seed + y * 31 + x * 17 + k * 101) % 256);
  return im;
}

// Pixels uniform over the type's whole range, seeded.
template <class T>
image<T> random_image(std::int64_t h, std::int64_t w, std::int64_t c, std::uint64_t seed) {
  image<T> im(h, w, c);
  random_engine rng(seed);
  for (std::int64_t i = 0; i < im.values(); ++i) im.data()[i] = pixel_traits<T>::from(rng.uniform_double() * pixel_traits<T>::max);
  return im;
}

// The same pixels stored planar (C×H×W), as a vector, copied by the library's copy_pixels into
// a planar view (so a test can build a strided chw image_view over the result).
template <class T>
std::vector<T> planar_copy(const image<T>& img) {
  std::vector<T> v(static_cast<std::size_t>(img.values()));
  copy_pixels(img.view(), image_view<T>(v.data(), img.height(), img.width(), img.channels(), pixel_layout::chw));
  return v;
}

}  // namespace strata::testing
