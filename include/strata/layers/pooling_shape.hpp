// strata/layers/pooling_shape.hpp — what max and average pooling share: the shape rule for a
// square window with stride and padding, the geometry their kernels take, and the description.
#pragma once

#include <cstdint>
#include <string>

#include "strata/kernels/pool_geometry.hpp"
#include "strata/layers/layer.hpp"

namespace strata {

// How a pooling layer rounds its output size: down (the default), or up as PyTorch's
// ceil_mode=True (a last, partial window is kept): MaxPool<3, 2, 0, CeilMode>.
struct FloorMode {};
struct CeilMode {};

namespace detail {
// What max and average pooling share: the shape rule and the geometry.
template <std::int64_t Window, std::int64_t Stride, std::int64_t Pad, bool Ceil = false>
struct pooling_shape {
  static_assert(Window > 0 && Stride > 0 && Pad >= 0, "strata: pooling needs a positive window and stride");
  static_assert(2 * Pad <= Window, "strata: pooling padding may be at most half the window");

  template <class In>
  static constexpr bool accepts = [] {
    if constexpr (ImageShape<In>) return In::extents[1] + 2 * Pad >= Window && In::extents[2] + 2 * Pad >= Window;
    else return false;
  }();

  template <class In>
  using expects = image_at_least<Window - 2 * Pad, Window - 2 * Pad>;

  template <class In>
  static constexpr kernels::pool_geometry geometry() {
    return {In::extents[0], In::extents[1], In::extents[2], Window, Stride, Pad, Ceil};
  }
  template <class In>
  using output = sample_shape<In::extents[0], geometry<In>().P(), geometry<In>().Q()>;

  static std::string describe(const char* kind) {
    std::string d = std::string(kind) + " " + std::to_string(Window) + "×" + std::to_string(Window);
    if (Stride != Window) d += " /" + std::to_string(Stride);
    if (Pad) d += " pad " + std::to_string(Pad);
    if (Ceil) d += " ceil";
    return d;
  }
};
}  // namespace detail

}  // namespace strata
