// strata/augment/crop.hpp — crops: center_crop (test time), random_crop (CIFAR: pad, then a random
// window), resnet_scale_crop (ResNet scale augmentation: short side L ∈ [256, 480], a random 224
// patch) and random_resized_crop (Inception: random area and aspect, resized to 224×224).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "strata/augment/augmentation.hpp"
#include "strata/augment/resize.hpp"
#include "strata/augment/warp.hpp"
#include "strata/core/error.hpp"

namespace strata::augment {

namespace detail {

// out = the h × w window of `in` whose top-left pixel is (y0, x0); pixels outside `in` are read
// through the border mode (fill for constant). Exact: whole pixels are copied.
template <class T>
void copy_window(image_view<const T> in, image<T>& out, std::int64_t y0, std::int64_t x0, std::int64_t h, std::int64_t w,
                 border_mode border = border_mode::constant, double fill = 0) {
  const std::int64_t H = in.height(), W = in.width(), C = in.channels();
  out.reshape(h, w, C);
  const T fill_pixel = store_pixel<T>(float(fill));
  T* o = out.data();
  if (in.interleaved() && border == border_mode::constant) {
    // Rows: fill, one memcpy of the columns inside the image, fill.
    const std::int64_t inside0 = std::clamp<std::int64_t>(-x0, 0, w), inside1 = std::clamp<std::int64_t>(W - x0, inside0, w);
    for (std::int64_t y = 0; y < h; ++y, o += w * C) {
      const std::int64_t sy = y0 + y;
      if (sy < 0 || sy >= H) {
        std::fill(o, o + w * C, fill_pixel);
        continue;
      }
      std::fill(o, o + inside0 * C, fill_pixel);
      if (inside1 > inside0)
        std::memcpy(o + inside0 * C, in.pixel(sy, x0 + inside0), sizeof(T) * std::size_t((inside1 - inside0) * C));
      std::fill(o + inside1 * C, o + w * C, fill_pixel);
    }
    return;
  }
  for (std::int64_t y = 0; y < h; ++y) {
    const std::int64_t sy = border_index(y0 + y, H, border);
    for (std::int64_t x = 0; x < w; ++x, o += C) {
      const std::int64_t sx = border_index(x0 + x, W, border);
      if (sy < 0 || sx < 0) {
        for (std::int64_t c = 0; c < C; ++c) o[c] = fill_pixel;
      } else {
        const T* p = in.pixel(sy, sx);
        for (std::int64_t c = 0; c < C; ++c) o[c] = p[c * in.channel_stride()];
      }
    }
  }
}

inline void check_positive_extent(std::int64_t v, const char* who, const char* what) {
  if (v <= 0) throw error(std::string(who) + ": " + what + " = " + std::to_string(v) + " must be positive");
}

// Uniform integer in [0, n].
inline std::int64_t uniform_crop_offset(random_engine& rng, std::int64_t n) {
  return std::int64_t(rng.below(std::uint32_t(n + 1)));
}

}  // namespace detail

// The central height × width window (offsets rounded down, as torchvision); the input must be at
// least that large.
struct center_crop {
  std::int64_t height = 224, width = 224;

  struct params {
    std::int64_t y0 = 0, x0 = 0;  // top-left pixel of the window in the input
  };

  params sample(random_engine&, image_size in) const { return window(in); }
  image_size output_size(const params&, image_size) const { return {height, width}; }
  template <class T>
  void apply(const params& p, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    detail::copy_window(in.crop(p.y0, p.x0, height, width), out, 0, 0, height, width);
  }
  point map(const params& p, image_size, point a) const { return {a.x - double(p.x0), a.y - double(p.y0)}; }

  params window(image_size in) const {
    detail::check_positive_extent(height, "center_crop", "height");
    detail::check_positive_extent(width, "center_crop", "width");
    if (in.height < height || in.width < width)
      throw shape_error("center_crop: a " + std::to_string(height) + "×" + std::to_string(width) +
                        " crop does not fit a " + detail::extent_text(in) + " image");
    return {(in.height - height) / 2, (in.width - width) / 2};
  }
};

// CIFAR-style: the input padded by `pad` pixels on every side (through the border mode: zeros by
// default, or reflected/replicated pixels), then a uniformly placed height × width window.
struct random_crop {
  std::int64_t height = 32, width = 32;
  std::int64_t pad = 0;
  border_mode border = border_mode::constant;
  double fill = 0;  // the constant border's value, in pixel units

  struct params {
    std::int64_t y0 = 0, x0 = 0;  // top-left of the window in input coordinates (may be < 0 in the padding)
  };

  params sample(random_engine& rng, image_size in) const {
    detail::check_positive_extent(height, "random_crop", "height");
    detail::check_positive_extent(width, "random_crop", "width");
    if (pad < 0) throw error("random_crop: pad = " + std::to_string(pad) + " must be ≥ 0");
    const std::int64_t room_y = in.height + 2 * pad - height, room_x = in.width + 2 * pad - width;
    if (room_y < 0 || room_x < 0)
      throw shape_error("random_crop: a " + std::to_string(height) + "×" + std::to_string(width) +
                        " crop does not fit a " + detail::extent_text(in) + " image padded by " + std::to_string(pad));
    const std::int64_t y0 = detail::uniform_crop_offset(rng, room_y) - pad;
    return {y0, detail::uniform_crop_offset(rng, room_x) - pad};
  }
  image_size output_size(const params&, image_size) const { return {height, width}; }
  template <class T>
  void apply(const params& p, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    detail::copy_window(in, out, p.y0, p.x0, height, width, border, fill);
  }
  point map(const params& p, image_size, point a) const { return {a.x - double(p.x0), a.y - double(p.y0)}; }
};

// ResNet scale augmentation (He et al. 2016, after Simonyan & Zisserman): the short side is
// resized to L, drawn uniformly from the integers [min_short, max_short], and a random crop × crop
// patch is taken. Only the patch is resampled (resize and crop in one pass), so the cost does not
// grow with L.
struct resnet_scale_crop {
  std::int64_t min_short = 256, max_short = 480, crop = 224;
  interpolation interp = interpolation::bilinear;

  struct params {
    image_size resized;           // the input's size after the short-side resize
    std::int64_t y0 = 0, x0 = 0;  // top-left of the patch in the resized image
  };

  params sample(random_engine& rng, image_size in) const {
    validate();
    const std::int64_t L = min_short + detail::uniform_crop_offset(rng, max_short - min_short);
    const image_size r = short_side_size(in, L);
    const std::int64_t y0 = detail::uniform_crop_offset(rng, r.height - crop);
    return {r, y0, detail::uniform_crop_offset(rng, r.width - crop)};
  }
  image_size output_size(const params&, image_size) const { return {crop, crop}; }
  template <class T>
  void apply(const params& p, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    validate();
    const double sy = double(in.height()) / double(p.resized.height), sx = double(in.width()) / double(p.resized.width);
    resample_region(in, out, {crop, crop}, double(p.y0) * sy, double(p.x0) * sx, double(crop) * sy, double(crop) * sx,
                    interp);
  }
  point map(const params& p, image_size in, point a) const {
    const point r = map_resized(in, p.resized, a);
    return {r.x - double(p.x0), r.y - double(p.y0)};
  }

  void validate() const {
    detail::check_positive_extent(crop, "resnet_scale_crop", "crop");
    if (min_short < crop || max_short < min_short)
      throw error("resnet_scale_crop: needs crop ≤ min_short ≤ max_short, got crop = " + std::to_string(crop) +
                  ", min_short = " + std::to_string(min_short) + ", max_short = " + std::to_string(max_short));
  }
};

// Inception-style crop (Szegedy et al. 2015; torchvision RandomResizedCrop): a window covering a
// fraction of the input's area drawn from `area` and an aspect ratio (width / height) drawn
// log-uniformly from `aspect`; up to 10 draws, then the largest central window whose aspect is in
// range. The window is resized to size × size.
struct random_resized_crop {
  std::int64_t size = 224;
  uniform_range area{0.08, 1.0};
  uniform_range aspect{3.0 / 4.0, 4.0 / 3.0};
  interpolation interp = interpolation::bilinear;

  struct params {
    std::int64_t y0 = 0, x0 = 0, height = 0, width = 0;  // the window, in input pixels
  };

  params sample(random_engine& rng, image_size in) const {
    validate();
    if (in.height <= 0 || in.width <= 0) throw shape_error("random_resized_crop: empty " + detail::extent_text(in) + " input");
    const double total = double(in.height) * double(in.width);
    const double log_lo = std::log(aspect.min), log_hi = std::log(aspect.max);
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target = total * area.sample(rng);
      const double ratio = std::exp(log_lo + (log_hi - log_lo) * rng.uniform_double());
      const auto w = std::int64_t(std::lround(std::sqrt(target * ratio)));
      const auto h = std::int64_t(std::lround(std::sqrt(target / ratio)));
      if (w > 0 && h > 0 && w <= in.width && h <= in.height) {
        const std::int64_t y0 = detail::uniform_crop_offset(rng, in.height - h);
        return {y0, detail::uniform_crop_offset(rng, in.width - w), h, w};
      }
    }
    // Fallback: the whole image, narrowed along its long side to bring the aspect into range.
    const double in_ratio = double(in.width) / double(in.height);
    std::int64_t w = in.width, h = in.height;
    if (in_ratio < aspect.min)
      h = std::clamp<std::int64_t>(std::lround(double(w) / aspect.min), 1, in.height);
    else if (in_ratio > aspect.max)
      w = std::clamp<std::int64_t>(std::lround(double(h) * aspect.max), 1, in.width);
    return {(in.height - h) / 2, (in.width - w) / 2, h, w};
  }
  image_size output_size(const params&, image_size) const { return {size, size}; }
  template <class T>
  void apply(const params& p, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    validate();
    if (p.y0 < 0 || p.x0 < 0 || p.height <= 0 || p.width <= 0 || p.y0 + p.height > in.height() || p.x0 + p.width > in.width())
      throw shape_error("random_resized_crop: window " + std::to_string(p.height) + "×" + std::to_string(p.width) +
                        " at (y " + std::to_string(p.y0) + ", x " + std::to_string(p.x0) + ") does not fit a " +
                        detail::extent_text(in.size()) + " image");
    resample_region(in, out, {size, size}, double(p.y0), double(p.x0), double(p.height), double(p.width), interp);
  }
  point map(const params& p, image_size, point a) const {
    return {(a.x - double(p.x0) + 0.5) * double(size) / double(p.width) - 0.5,
            (a.y - double(p.y0) + 0.5) * double(size) / double(p.height) - 0.5};
  }

  void validate() const {
    detail::check_positive_extent(size, "random_resized_crop", "size");
    if (!(area.min > 0 && area.min <= area.max && area.max <= 1))
      throw error("random_resized_crop: area fraction range [" + std::to_string(area.min) + ", " +
                  std::to_string(area.max) + "] must satisfy 0 < min ≤ max ≤ 1");
    if (!(aspect.min > 0 && aspect.min <= aspect.max))
      throw error("random_resized_crop: aspect range [" + std::to_string(aspect.min) + ", " + std::to_string(aspect.max) +
                  "] must satisfy 0 < min ≤ max");
  }
};

static_assert(Augmentation<center_crop>);
static_assert(Augmentation<random_crop>);
static_assert(Augmentation<resnet_scale_crop>);
static_assert(Augmentation<random_resized_crop>);

}  // namespace strata::augment
