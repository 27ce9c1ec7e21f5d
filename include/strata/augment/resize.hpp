// strata/augment/resize.hpp — image resizing: resize() to a given size and resize_short_side() to a
// given short side, by nearest or bilinear interpolation (half-pixel centres, as OpenCV and PyTorch
// with align_corners=false), antialiased by area averaging where an axis shrinks more than 2×;
// resize_to, the same as an augmentation; and resample_region(), which crops and resizes in one pass.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/augment/augmentation.hpp"
#include "strata/augment/warp.hpp"
#include "strata/core/error.hpp"
#include "strata/image/image.hpp"

namespace strata::augment {

namespace detail {

// The source taps of one axis: output i reads source index index[i·per_output + t] with weight
// weight[i·per_output + t] (unused taps have weight 0).
struct axis_taps {
  std::int64_t per_output = 0;
  std::vector<std::int64_t> index;
  std::vector<float> weight;
};

// Output pixel i of n_out covers the source interval [start + i·step, start + (i + 1)·step] in edge
// coordinates (the source's n_in pixels span [0, n_in]; pixel k's centre is at k + ½).
//  - nearest: the pixel containing the interval's centre (PyTorch "nearest-exact").
//  - bilinear, step ≤ 2: two taps around the centre, indices clamped to the image (OpenCV
//    INTER_LINEAR, PyTorch bilinear with align_corners=false).
//  - bilinear, step > 2: the mean over the interval, each source pixel weighted by its overlap
//    (OpenCV INTER_AREA): two taps would skip pixels and alias.
inline axis_taps make_axis_taps(std::int64_t n_in, std::int64_t n_out, double start, double step, interpolation interp) {
  axis_taps t;
  auto clamp_index = [&](std::int64_t k) { return std::clamp<std::int64_t>(k, 0, n_in - 1); };
  if (interp == interpolation::nearest) {
    t.per_output = 1;
    t.index.resize(std::size_t(n_out));
    t.weight.assign(std::size_t(n_out), 1.0f);
    for (std::int64_t i = 0; i < n_out; ++i)
      t.index[std::size_t(i)] = clamp_index(std::int64_t(std::floor(start + (double(i) + 0.5) * step)));
    return t;
  }
  if (step <= 2) {
    t.per_output = 2;
    t.index.resize(std::size_t(2 * n_out));
    t.weight.resize(std::size_t(2 * n_out));
    for (std::int64_t i = 0; i < n_out; ++i) {
      const double centre = start + (double(i) + 0.5) * step - 0.5;  // in pixel-centre coordinates
      const double k0 = std::floor(centre);
      const float f = float(centre - k0);
      t.index[std::size_t(2 * i)] = clamp_index(std::int64_t(k0));
      t.index[std::size_t(2 * i + 1)] = clamp_index(std::int64_t(k0) + 1);
      t.weight[std::size_t(2 * i)] = 1 - f;
      t.weight[std::size_t(2 * i + 1)] = f;
    }
    return t;
  }
  t.per_output = std::int64_t(std::ceil(step)) + 1;
  t.index.assign(std::size_t(t.per_output * n_out), 0);
  t.weight.assign(std::size_t(t.per_output * n_out), 0.0f);
  for (std::int64_t i = 0; i < n_out; ++i) {
    const double a = start + double(i) * step, b = a + step;
    const std::int64_t k0 = std::int64_t(std::floor(a));
    double total = 0;
    for (std::int64_t j = 0; j < t.per_output; ++j) total += std::max(0.0, std::min(b, double(k0 + j + 1)) - std::max(a, double(k0 + j)));
    for (std::int64_t j = 0; j < t.per_output; ++j) {
      const double overlap = std::max(0.0, std::min(b, double(k0 + j + 1)) - std::max(a, double(k0 + j)));
      t.index[std::size_t(i * t.per_output + j)] = clamp_index(k0 + j);
      t.weight[std::size_t(i * t.per_output + j)] = float(overlap / total);  // sums to 1
    }
  }
  return t;
}

}  // namespace detail

// out (out_size × in.channels(), interleaved) shows the input rectangle whose edges are at
// [y0, y0 + height] × [x0, x0 + width] in edge coordinates (the input spans [0, H] × [0, W]; a
// crop of rows 10…19 is y0 = 10, height = 10). Output pixel (i, j) has its centre at input point
// x = x0 + (j + ½)·width/out_w − ½ (and likewise y). Separable: rows first, then columns.
template <class T>
void resample_region(image_view<const std::type_identity_t<T>> in, image<T>& out, image_size out_size, double y0, double x0, double height,
                     double width, interpolation interp = interpolation::bilinear) {
  if (out_size.height <= 0 || out_size.width <= 0)
    throw shape_error("resize: output size " + detail::extent_text(out_size) + " must be positive");
  if (in.empty()) throw shape_error("resize: empty " + detail::extent_text(in.size()) + " input");
  if (!(height > 0 && width > 0))
    throw shape_error("resize: source region " + std::to_string(height) + "×" + std::to_string(width) + " must be positive");
  const std::int64_t C = in.channels(), out_h = out_size.height, out_w = out_size.width;
  const auto ty = detail::make_axis_taps(in.height(), out_h, y0, height / double(out_h), interp);
  const auto tx = detail::make_axis_taps(in.width(), out_w, x0, width / double(out_w), interp);
  out.reshape(out_h, out_w, C);
  const std::int64_t cs = in.col_stride(), chs = in.channel_stride();

  if (interp == interpolation::nearest) {
    T* o = out.data();
    for (std::int64_t i = 0; i < out_h; ++i)
      for (std::int64_t j = 0; j < out_w; ++j, o += C) {
        const T* p = in.pixel(ty.index[std::size_t(i)], tx.index[std::size_t(j)]);
        for (std::int64_t c = 0; c < C; ++c) o[c] = p[c * chs];
      }
    return;
  }

  // Horizontal pass over the input rows the vertical taps read, into float rows of out_w × C.
  const auto [row_lo, row_hi] = std::minmax_element(ty.index.begin(), ty.index.end());
  const std::int64_t first_row = *row_lo, rows = *row_hi - *row_lo + 1, row_len = out_w * C;
  std::vector<float> across(static_cast<std::size_t>(rows * row_len));
  const std::int64_t kx = tx.per_output;
  const bool two_taps_interleaved = kx == 2 && in.interleaved();
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* src = in.pixel(first_row + r, 0);
    float* dst = across.data() + r * row_len;
    if (two_taps_interleaved) {  // the common bilinear case: contiguous channels, two taps
      for (std::int64_t j = 0; j < out_w; ++j) {
        const T* a = src + tx.index[std::size_t(2 * j)] * C;
        const T* b = src + tx.index[std::size_t(2 * j + 1)] * C;
        const float wa = tx.weight[std::size_t(2 * j)], wb = tx.weight[std::size_t(2 * j + 1)];
        for (std::int64_t c = 0; c < C; ++c) dst[j * C + c] = wa * float(a[c]) + wb * float(b[c]);
      }
      continue;
    }
    for (std::int64_t j = 0; j < out_w; ++j) {
      const std::int64_t* idx = tx.index.data() + j * kx;
      const float* w = tx.weight.data() + j * kx;
      for (std::int64_t c = 0; c < C; ++c) {
        float acc = 0;
        for (std::int64_t t = 0; t < kx; ++t) acc += w[t] * float(src[idx[t] * cs + c * chs]);
        dst[j * C + c] = acc;
      }
    }
  }
  // Vertical pass: contiguous rows, so the inner loops vectorise.
  const std::int64_t ky = ty.per_output;
  std::vector<float> acc(static_cast<std::size_t>(row_len));
  for (std::int64_t i = 0; i < out_h; ++i) {
    T* o = out.data() + i * row_len;
    if (ky == 2) {
      const float* a = across.data() + (ty.index[std::size_t(2 * i)] - first_row) * row_len;
      const float* b = across.data() + (ty.index[std::size_t(2 * i + 1)] - first_row) * row_len;
      const float wa = ty.weight[std::size_t(2 * i)], wb = ty.weight[std::size_t(2 * i + 1)];
      for (std::int64_t k = 0; k < row_len; ++k) o[k] = detail::store_pixel<T>(wa * a[k] + wb * b[k]);
      continue;
    }
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (std::int64_t t = 0; t < ky; ++t) {
      const float w = ty.weight[std::size_t(i * ky + t)];
      if (w == 0) continue;
      const float* row = across.data() + (ty.index[std::size_t(i * ky + t)] - first_row) * row_len;
      for (std::int64_t k = 0; k < row_len; ++k) acc[std::size_t(k)] += w * row[k];
    }
    for (std::int64_t k = 0; k < row_len; ++k) o[k] = detail::store_pixel<T>(acc[std::size_t(k)]);
  }
}

// in resized to `size` (the whole image; see resample_region for the sampling rule).
template <class T>
void resize(image_view<const std::type_identity_t<T>> in, image<T>& out, image_size size, interpolation interp = interpolation::bilinear) {
  if (size.height <= 0 || size.width <= 0)
    throw shape_error("resize: output size " + detail::extent_text(size) + " must be positive");
  resample_region(in, out, size, 0.0, 0.0, double(in.height()), double(in.width()), interp);
}

// The size with short side `short_side` and the long side scaled by the same factor, truncated
// as torchvision's Resize(int) does (e.g. 375×500 → 256×341).
inline image_size short_side_size(image_size in, std::int64_t short_side) {
  if (short_side <= 0) throw shape_error("resize_short_side: short side " + std::to_string(short_side) + " must be positive");
  if (in.height <= 0 || in.width <= 0) throw shape_error("resize_short_side: empty " + detail::extent_text(in) + " input");
  if (in.height <= in.width)
    return {short_side, std::max<std::int64_t>(1, std::int64_t(double(short_side) * double(in.width) / double(in.height)))};
  return {std::max<std::int64_t>(1, std::int64_t(double(short_side) * double(in.height) / double(in.width))), short_side};
}

// in resized so that its short side is `short_side` (aspect kept; test-time and ResNet scaling).
template <class T>
void resize_short_side(image_view<const std::type_identity_t<T>> in, image<T>& out, std::int64_t short_side,
                       interpolation interp = interpolation::bilinear) {
  resize(in, out, short_side_size(in.size(), short_side), interp);
}

// Where input point a lands when an `in`-sized image is resized to `out` (half-pixel centres).
inline point map_resized(image_size in, image_size out, point a) {
  return {(a.x + 0.5) * double(out.width) / double(in.width) - 0.5,
          (a.y + 0.5) * double(out.height) / double(in.height) - 0.5};
}

// Resizing to a fixed size as an augmentation (nothing random). Named resize_to because resize
// is the function.
struct resize_to {
  image_size size{224, 224};
  interpolation interp = interpolation::bilinear;

  struct params {};

  params sample(random_engine&, image_size) const {
    if (size.height <= 0 || size.width <= 0)
      throw shape_error("resize_to: size " + detail::extent_text(size) + " must be positive");
    return {};
  }
  image_size output_size(const params&, image_size) const { return size; }
  template <class T>
  void apply(const params&, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    resize(in, out, size, interp);
  }
  point map(const params&, image_size in, point a) const { return map_resized(in, size, a); }
};

static_assert(Augmentation<resize_to>);

}  // namespace strata::augment
