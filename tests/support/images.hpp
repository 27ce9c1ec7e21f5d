// Shared by the augmentation and data tests: images of random pixels, planar copies.
#pragma once

#include <cstdint>
#include <vector>

#include "strata/core/random.hpp"
#include "strata/image/image.hpp"

namespace strata::testing {

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
