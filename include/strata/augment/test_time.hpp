// strata/augment/test_time.hpp — test-time augmentation views: ten_crop (four corners and the
// centre, and their mirror images), multi_scale (ten crops at each of several short-side sizes,
// the ResNet evaluation), and noise_views (the same image under several noise draws).
// train::evaluate_tta averages a model's predictions over such views.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "strata/augment/augmentation.hpp"
#include "strata/augment/resize.hpp"
#include "strata/core/error.hpp"
#include "strata/core/random.hpp"
#include "strata/image/image.hpp"

namespace strata::augment {

namespace detail {
template <class T>
image<T> mirrored(image_view<const T> v) {
  image<T> out(v.height(), v.width(), v.channels());
  for (std::int64_t y = 0; y < v.height(); ++y)
    for (std::int64_t x = 0; x < v.width(); ++x)
      for (std::int64_t c = 0; c < v.channels(); ++c) out(y, v.width() - 1 - x, c) = v(y, x, c);
  return out;
}
}  // namespace detail

// The ten h×w crops: top-left, top-right, bottom-left, bottom-right, centre, then the same five
// mirrored left–right.
template <class T>
std::vector<image<T>> ten_crop(image_view<const T> in, std::int64_t h, std::int64_t w) {
  if (h <= 0 || w <= 0 || h > in.height() || w > in.width())
    throw shape_error("ten_crop: a " + std::to_string(h) + "×" + std::to_string(w) + " crop does not fit a " +
                      std::to_string(in.height()) + "×" + std::to_string(in.width()) + " image");
  const std::int64_t H = in.height(), W = in.width();
  const std::int64_t ys[5] = {0, 0, H - h, H - h, (H - h) / 2}, xs[5] = {0, W - w, 0, W - w, (W - w) / 2};
  std::vector<image<T>> views;
  views.reserve(10);
  for (int i = 0; i < 5; ++i) views.emplace_back(in.crop(ys[i], xs[i], h, w));
  for (int i = 0; i < 5; ++i) views.push_back(detail::mirrored<T>(views[std::size_t(i)].view()));
  return views;
}

// Ten crops of h×w at each scale: the image resized (bilinear) so its short side is s, for s in
// `short_sides` (e.g. {224, 256, 384, 480, 640} as in ResNet's evaluation; every s ≥ max(h, w)).
template <class T>
std::vector<image<T>> multi_scale(image_view<const T> in, const std::vector<std::int64_t>& short_sides, std::int64_t h,
                                  std::int64_t w) {
  std::vector<image<T>> views;
  image<T> scaled;
  for (std::int64_t s : short_sides) {
    if (s < std::max(h, w))
      throw shape_error("multi_scale: short side " + std::to_string(s) + " is smaller than the " + std::to_string(h) + "×" +
                        std::to_string(w) + " crop");
    resize_short_side(in, scaled, s);
    for (auto& v : ten_crop<T>(scaled.view(), h, w)) views.push_back(std::move(v));
  }
  return views;
}

// `count` draws of augmentation `a` (typically noise) on the same image, from `seed`.
template <Augmentation A, class T>
std::vector<image<T>> noise_views(const A& a, image_view<const T> in, int count, std::uint64_t seed) {
  std::vector<image<T>> views(static_cast<std::size_t>(count));
  random_engine rng(seed, 0x77a);
  for (auto& v : views) augment(a, in, v, rng);
  return views;
}

}  // namespace strata::augment
