// strata/augment/warp.hpp — the one warp engine behind the geometric augmentations: every output
// pixel samples the input at inverse_map(output point), by nearest or bilinear interpolation, with
// constant, reflecting or replicating borders. Any functor point → point is a map (dlib's style).
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <string>
#include <type_traits>

#include "strata/augment/augmentation.hpp"
#include "strata/core/error.hpp"
#include "strata/core/random.hpp"
#include "strata/image/image.hpp"

namespace strata::augment {

enum class interpolation { nearest, bilinear };

// What a sample outside the input reads. reflect mirrors about the edge pixel's centre without
// repeating it (… 2 1 | 0 1 2 … — numpy/PyTorch "reflect", OpenCV BORDER_REFLECT_101);
// replicate repeats the edge pixel (… 0 0 | 0 1 2 …); constant reads the constant value.
enum class border_mode { constant, reflect, replicate };

// A closed interval [min, max] that random parameters are drawn from uniformly.
struct uniform_range {
  double min = 0, max = 0;
  double sample(random_engine& rng) const noexcept { return min + (max - min) * rng.uniform_double(); }
  friend bool operator==(const uniform_range&, const uniform_range&) = default;
};

// The contract of a warp's map: called with an output point, returns the input point it shows.
template <class F>
concept PointMap = std::is_invocable_r_v<point, F&, point>;

namespace detail {

inline std::string extent_text(image_size s) { return std::to_string(s.height) + "×" + std::to_string(s.width); }

// Where index i of an axis of n pixels reads under a border mode; −1 means "the constant".
inline std::int64_t border_index(std::int64_t i, std::int64_t n, border_mode mode) noexcept {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case border_mode::replicate:
      return i < 0 ? 0 : n - 1;
    case border_mode::reflect: {
      if (n == 1) return 0;
      const std::int64_t period = 2 * (n - 1);
      i %= period;
      if (i < 0) i += period;
      return i < n ? i : period - i;
    }
    default:
      return -1;
  }
}

// A computed value as a pixel: rounded and clamped for integers. The unsigned fast path is
// equivalent to pixel_traits::from (round half away from zero) for every value that clamps to ≥ 0.
template <class T>
inline T store_pixel(float v) noexcept {
  if constexpr (std::is_floating_point_v<T>) {
    return T(v);
  } else if constexpr (std::is_unsigned_v<T> && sizeof(T) <= 2) {
    constexpr float hi = float(pixel_traits<T>::max);
    return T(std::min(std::max(v + 0.5f, 0.0f), hi));
  } else {
    return pixel_traits<T>::from(double(v));
  }
}

// A convex combination of pixels as a pixel: it cannot leave the type's range, so integers need
// rounding only (no clamping branches in the interior loop).
template <class T>
inline T store_blend(float v) noexcept {
  if constexpr (std::is_unsigned_v<T> && sizeof(T) <= 2)
    return T(v + 0.5f);
  else
    return store_pixel<T>(v);
}

// Map results far outside any image (or NaN) are pinned to a large finite value before the
// conversion to an index, which would otherwise be undefined.
inline double pin_coordinate(double v) noexcept {
  constexpr double limit = 1e9;
  return v > -limit ? (v < limit ? v : limit) : -limit;
}

// One output pixel whose sample needs the border mode: each bilinear tap goes through it on its
// own (as OpenCV's remap does), so a constant border blends into the image over one pixel. Kept
// out of line and independent of the map: it runs for a thin band of pixels only, and one copy
// serves every map and channel count.
template <class T>
[[gnu::noinline]] void sample_with_border(image_view<const T> in, double sx, double sy, interpolation interp,
                                          border_mode border, T fill_pixel, T* o) {
  const std::int64_t H = in.height(), W = in.width(), C = in.channels();
  if (interp == interpolation::nearest) {
    const std::int64_t ix = border_index(std::int64_t(std::floor(sx + 0.5)), W, border);
    const std::int64_t iy = border_index(std::int64_t(std::floor(sy + 0.5)), H, border);
    for (std::int64_t c = 0; c < C; ++c) o[c] = (ix < 0 || iy < 0) ? fill_pixel : in(iy, ix, c);
    return;
  }
  const double x0d = std::floor(sx), y0d = std::floor(sy);
  const float fx = float(sx - x0d), fy = float(sy - y0d);
  const std::int64_t x0 = std::int64_t(x0d), y0 = std::int64_t(y0d);
  const std::int64_t xa = border_index(x0, W, border), xb = border_index(x0 + 1, W, border);
  const std::int64_t ya = border_index(y0, H, border), yb = border_index(y0 + 1, H, border);
  auto tap = [&](std::int64_t ty, std::int64_t tx, std::int64_t c) -> float {
    return (ty < 0 || tx < 0) ? float(fill_pixel) : float(in(ty, tx, c));
  };
  for (std::int64_t c = 0; c < C; ++c)
    o[c] = store_pixel<T>((1 - fx) * (1 - fy) * tap(ya, xa, c) + fx * (1 - fy) * tap(ya, xb, c) +
                          (1 - fx) * fy * tap(yb, xa, c) + fx * fy * tap(yb, xb, c));
}

// floor() of a pinned coordinate as an integer, without a libm call (x86-64's baseline has no
// SSE4.1 round instruction, so std::floor would be a function call per pixel).
inline std::int64_t floor_index(double v) noexcept {
  const auto i = std::int64_t(v);  // truncates towards zero
  return i - std::int64_t(v < double(i));
}

// The warp loop. FixedC > 0: interleaved input with that many channels, known at compile time
// (the common 1- and 3-channel cases, unrolled); FixedC == 0: any strides, any channel count.
// Only samples whose taps all lie inside are handled here; the rest go to sample_with_border.
template <int FixedC, class T, class Map>
void warp_kernel(image_view<const T> in, image<T>& out, Map& inverse_map, interpolation interp, border_mode border,
                 T fill_pixel) {
  const std::int64_t H = in.height(), W = in.width();
  const std::int64_t C = FixedC > 0 ? FixedC : in.channels();
  const std::int64_t rs = in.row_stride();
  const std::int64_t cs = FixedC > 0 ? FixedC : in.col_stride();
  const std::int64_t chs = FixedC > 0 ? 1 : in.channel_stride();
  const T* base = in.data();
  T* o = out.data();
  const std::int64_t out_h = out.height(), out_w = out.width();
  const bool nearest = interp == interpolation::nearest;

  for (std::int64_t y = 0; y < out_h; ++y) {
    for (std::int64_t x = 0; x < out_w; ++x, o += C) {
      const point s = inverse_map(point{double(x), double(y)});
      const double sx = pin_coordinate(s.x), sy = pin_coordinate(s.y);
      if (nearest) {
        // Round half up: the sample sits on the pixel whose centre is nearest.
        const std::int64_t ix = floor_index(sx + 0.5), iy = floor_index(sy + 0.5);
        if (ix >= 0 && ix < W && iy >= 0 && iy < H) {
          const T* p = base + iy * rs + ix * cs;
          for (std::int64_t c = 0; c < C; ++c) o[c] = p[c * chs];
        } else {
          sample_with_border(in, sx, sy, interp, border, fill_pixel, o);
        }
        continue;
      }
      const std::int64_t x0 = floor_index(sx), y0 = floor_index(sy);
      if (x0 >= 0 && x0 < W - 1 && y0 >= 0 && y0 < H - 1) {
        const float fx = float(sx - double(x0)), fy = float(sy - double(y0));
        const float w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
        const T* p00 = base + y0 * rs + x0 * cs;
        const T* p01 = p00 + cs;
        const T* p10 = p00 + rs;
        const T* p11 = p10 + cs;
        if constexpr (FixedC > 0) {
          // All channels are computed before any is stored: an 8-bit store may alias the input
          // (char aliasing), which would otherwise force reloads between channels.
          float v[FixedC];
          for (int c = 0; c < FixedC; ++c)
            v[c] = w00 * float(p00[c]) + w01 * float(p01[c]) + w10 * float(p10[c]) + w11 * float(p11[c]);
          for (int c = 0; c < FixedC; ++c) o[c] = store_blend<T>(v[c]);
        } else {
          for (std::int64_t c = 0; c < C; ++c) {
            const std::int64_t k = c * chs;
            o[c] = store_blend<T>(w00 * float(p00[k]) + w01 * float(p01[k]) + w10 * float(p10[k]) + w11 * float(p11[k]));
          }
        }
      } else {
        sample_with_border(in, sx, sy, interp, border, fill_pixel, o);
      }
    }
  }
}

}  // namespace detail

// out (reshaped to out_size × in.channels(), interleaved) pixel (y, x) = in sampled at
// inverse_map({x, y}). constant_value is in the pixel type's own units (0–255 for uint8_t, 0–1
// for float) and fills every channel. The map is a template parameter so it inlines into the loop.
template <class T, class InverseMap>
void warp(image_view<const std::type_identity_t<T>> in, image<T>& out, image_size out_size, InverseMap&& inverse_map,
          interpolation interp = interpolation::bilinear, border_mode border = border_mode::constant,
          double constant_value = 0) {
  static_assert(PointMap<InverseMap>,
                "strata::augment::warp: inverse_map must be callable as point(point) — output point to input point");
  if (out_size.height < 0 || out_size.width < 0)
    throw shape_error("warp: negative output size " + detail::extent_text(out_size));
  if (in.height() == 0 || in.width() == 0) {
    if (out_size.height > 0 && out_size.width > 0 && border != border_mode::constant)
      throw shape_error("warp: cannot reflect or replicate the border of an empty " + detail::extent_text(in.size()) +
                        " input");
  }
  out.reshape(out_size.height, out_size.width, in.channels());
  if (out.values() == 0) return;
  if (in.height() == 0 || in.width() == 0) {
    out.assign(out_size.height, out_size.width, in.channels(), detail::store_pixel<T>(float(constant_value)));
    return;
  }
  const T fill = detail::store_pixel<T>(float(constant_value));
  if (in.interleaved()) {
    if (in.channels() == 3) return detail::warp_kernel<3>(in, out, inverse_map, interp, border, fill);
    if (in.channels() == 1) return detail::warp_kernel<1>(in, out, inverse_map, interp, border, fill);
  }
  detail::warp_kernel<0>(in, out, inverse_map, interp, border, fill);
}

}  // namespace strata::augment
