// Shared by the augmentation tests: images of random pixels.
#pragma once

#include <cstdint>

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

}  // namespace strata::testing
