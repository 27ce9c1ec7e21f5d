// strata/image/image_limits.hpp — image_limits: the largest image a decoder will decode, checked
// against the file's header before any pixel memory is allocated, so a hostile file cannot make a
// decoder allocate more than the limits allow.
#pragma once

#include <cstdint>
#include <string>

namespace strata {

// The defaults admit 32768 × 2048 or 8192 × 8192 (a photograph of 67 megapixels); raise them for
// larger images, lower them for inputs from strangers.
struct image_limits {
  std::int64_t max_width = 32768;
  std::int64_t max_height = 32768;
  std::int64_t max_pixels = std::int64_t{1} << 26;  // width × height
};

namespace detail {

// Why a header's width × height may not be decoded (no pixels, or past the limits); empty when
// it may.
inline std::string image_size_problem(std::int64_t width, std::int64_t height, const image_limits& limits) {
  const std::string size = std::to_string(width) + "×" + std::to_string(height) + " pixels";
  if (width <= 0 || height <= 0) return "the header says " + size + ": an image without pixels";
  if (width > limits.max_width || height > limits.max_height || width > limits.max_pixels / height)
    return "the header says " + size + ", past the limits of " + std::to_string(limits.max_width) + "×" +
           std::to_string(limits.max_height) + " and " + std::to_string(limits.max_pixels) +
           " pixels (image_limits raises them); not decoded";
  return "";
}

}  // namespace detail
}  // namespace strata
