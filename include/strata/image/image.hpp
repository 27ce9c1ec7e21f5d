// strata/image/image.hpp — pixels: image_view<T>, a non-owning view over H×W×C (interleaved) or
// C×H×W (planar) memory of any pixel type and channel count, by strides; image<T>, which owns
// interleaved pixels; and the value range of each pixel type (255 for uint8_t, 65535 for
// uint16_t, 1 for floating point) that conversions and colour operations scale by.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"

namespace strata {

enum class pixel_layout { hwc, chw };

// The value of full intensity for a pixel type, and how a computed value becomes a pixel
// (rounded and clamped for integers, unchanged for floating point).
template <class T>
struct pixel_traits {
  static_assert(std::is_arithmetic_v<T>, "strata::image: pixels are arithmetic types (uint8_t, uint16_t, float, …)");
  static constexpr double max = std::is_floating_point_v<T> ? 1.0 : double(std::numeric_limits<T>::max());
  static T from(double v) noexcept {
    if constexpr (std::is_floating_point_v<T>) {
      return T(v);
    } else {
      const double lo = double(std::numeric_limits<T>::lowest()), hi = double(std::numeric_limits<T>::max());
      return T(std::clamp(v + (v < 0 ? -0.5 : 0.5), lo, hi));  // round half away from zero, then clamp
    }
  }
};

struct image_size {
  std::int64_t height = 0, width = 0;
  friend bool operator==(const image_size&, const image_size&) = default;
};

template <class T>
class image_view {
 public:
  using value_type = std::remove_const_t<T>;

  image_view() = default;
  // Contiguous pixels in the given layout.
  image_view(T* data, std::int64_t height, std::int64_t width, std::int64_t channels,
             pixel_layout layout = pixel_layout::hwc)
      : data_(data), height_(height), width_(width), channels_(channels) {
    check_extents();
    if (layout == pixel_layout::hwc) {
      channel_stride_ = 1, col_stride_ = channels, row_stride_ = width * channels;
    } else {
      col_stride_ = 1, row_stride_ = width, channel_stride_ = height * width;
    }
  }
  // Any strides (in elements): a crop of another view, a channel subset, a flipped view.
  image_view(T* data, std::int64_t height, std::int64_t width, std::int64_t channels, std::int64_t row_stride,
             std::int64_t col_stride, std::int64_t channel_stride)
      : data_(data), height_(height), width_(width), channels_(channels), row_stride_(row_stride),
        col_stride_(col_stride), channel_stride_(channel_stride) {
    check_extents();
  }

  // A view of non-const pixels is also a view of const ones.
  operator image_view<const T>() const
    requires(!std::is_const_v<T>)
  {
    return {data_, height_, width_, channels_, row_stride_, col_stride_, channel_stride_};
  }

  T* data() const noexcept { return data_; }
  std::int64_t height() const noexcept { return height_; }
  std::int64_t width() const noexcept { return width_; }
  std::int64_t channels() const noexcept { return channels_; }
  image_size size() const noexcept { return {height_, width_}; }
  std::int64_t row_stride() const noexcept { return row_stride_; }
  std::int64_t col_stride() const noexcept { return col_stride_; }
  std::int64_t channel_stride() const noexcept { return channel_stride_; }
  bool empty() const noexcept { return height_ == 0 || width_ == 0 || channels_ == 0; }
  // H×W×C with no gaps: pixel (y, x) is channels() values at data() + (y·W + x)·C.
  bool interleaved() const noexcept {
    return channel_stride_ == 1 && col_stride_ == channels_ && row_stride_ == width_ * channels_;
  }

  T& operator()(std::int64_t y, std::int64_t x, std::int64_t c = 0) const noexcept {
    return data_[y * row_stride_ + x * col_stride_ + c * channel_stride_];
  }
  T* pixel(std::int64_t y, std::int64_t x) const noexcept { return data_ + y * row_stride_ + x * col_stride_; }

  // The rectangle [y0, y0 + h) × [x0, x0 + w), which must lie inside.
  image_view crop(std::int64_t y0, std::int64_t x0, std::int64_t h, std::int64_t w) const {
    if (y0 < 0 || x0 < 0 || h < 0 || w < 0 || y0 + h > height_ || x0 + w > width_)
      throw shape_error("image_view::crop: rectangle at (y " + std::to_string(y0) + ", x " + std::to_string(x0) + ") of " +
                        std::to_string(h) + "×" + std::to_string(w) + " does not fit a " + std::to_string(height_) + "×" +
                        std::to_string(width_) + " image");
    return {pixel(y0, x0), h, w, channels_, row_stride_, col_stride_, channel_stride_};
  }
  // Channel c alone.
  image_view channel(std::int64_t c) const {
    if (c < 0 || c >= channels_)
      throw shape_error("image_view::channel: channel " + std::to_string(c) + " of a " + std::to_string(channels_) +
                        "-channel image");
    return {data_ + c * channel_stride_, height_, width_, 1, row_stride_, col_stride_, channel_stride_};
  }

 private:
  void check_extents() const {
    if (height_ < 0 || width_ < 0 || channels_ < 0)
      throw shape_error("image_view: negative extent " + std::to_string(height_) + "×" + std::to_string(width_) + "×" +
                        std::to_string(channels_));
  }

  T* data_ = nullptr;
  std::int64_t height_ = 0, width_ = 0, channels_ = 0;
  std::int64_t row_stride_ = 0, col_stride_ = 0, channel_stride_ = 0;
};

// Owned interleaved (H×W×C) pixels. Cheap to move; copying copies the pixels.
template <class T>
class image {
 public:
  image() = default;
  image(std::int64_t height, std::int64_t width, std::int64_t channels, T fill = T{}) { assign(height, width, channels, fill); }
  // A copy of any view's pixels.
  template <class U>
    requires std::same_as<std::remove_const_t<U>, T>
  explicit image(image_view<U> v) : image(v.height(), v.width(), v.channels()) {
    for (std::int64_t y = 0; y < v.height(); ++y)
      for (std::int64_t x = 0; x < v.width(); ++x)
        for (std::int64_t c = 0; c < v.channels(); ++c) (*this)(y, x, c) = v(y, x, c);
  }

  // Makes this height×width×channels; keeps the storage when it is large enough (pixel values
  // are then unspecified unless `fill` is given through assign).
  void reshape(std::int64_t height, std::int64_t width, std::int64_t channels) {
    if (height < 0 || width < 0 || channels < 0)
      throw shape_error("image: negative extent " + std::to_string(height) + "×" + std::to_string(width) + "×" +
                        std::to_string(channels));
    pixels_.resize(static_cast<std::size_t>(height * width * channels));
    height_ = height, width_ = width, channels_ = channels;
  }
  void assign(std::int64_t height, std::int64_t width, std::int64_t channels, T fill) {
    reshape(height, width, channels);
    std::fill(pixels_.begin(), pixels_.end(), fill);
  }

  image_view<T> view() noexcept { return {pixels_.data(), height_, width_, channels_}; }
  image_view<const T> view() const noexcept { return {pixels_.data(), height_, width_, channels_}; }
  operator image_view<T>() noexcept { return view(); }
  operator image_view<const T>() const noexcept { return view(); }

  T* data() noexcept { return pixels_.data(); }
  const T* data() const noexcept { return pixels_.data(); }
  std::int64_t height() const noexcept { return height_; }
  std::int64_t width() const noexcept { return width_; }
  std::int64_t channels() const noexcept { return channels_; }
  image_size size() const noexcept { return {height_, width_}; }
  std::int64_t values() const noexcept { return height_ * width_ * channels_; }
  T& operator()(std::int64_t y, std::int64_t x, std::int64_t c = 0) noexcept { return pixels_[std::size_t((y * width_ + x) * channels_ + c)]; }
  const T& operator()(std::int64_t y, std::int64_t x, std::int64_t c = 0) const noexcept {
    return pixels_[std::size_t((y * width_ + x) * channels_ + c)];
  }
  friend bool operator==(const image& a, const image& b) {
    return a.height_ == b.height_ && a.width_ == b.width_ && a.channels_ == b.channels_ && a.pixels_ == b.pixels_;
  }

 private:
  std::vector<T> pixels_;
  std::int64_t height_ = 0, width_ = 0, channels_ = 0;
};

// Pixel values copied between two views of the same size (any layouts, any pixel types: values
// are rescaled between the types' ranges, e.g. uint8_t 255 ↔ float 1).
template <class T, class U>
void copy_pixels(image_view<const T> from, image_view<U> to) {
  if (from.height() != to.height() || from.width() != to.width() || from.channels() != to.channels())
    throw shape_error("copy_pixels: " + std::to_string(from.height()) + "×" + std::to_string(from.width()) + "×" +
                      std::to_string(from.channels()) + " into " + std::to_string(to.height()) + "×" +
                      std::to_string(to.width()) + "×" + std::to_string(to.channels()));
  const double scale = pixel_traits<std::remove_const_t<U>>::max / pixel_traits<T>::max;
  for (std::int64_t y = 0; y < from.height(); ++y)
    for (std::int64_t x = 0; x < from.width(); ++x)
      for (std::int64_t c = 0; c < from.channels(); ++c)
        to(y, x, c) = pixel_traits<std::remove_const_t<U>>::from(double(from(y, x, c)) * scale);
}

}  // namespace strata
