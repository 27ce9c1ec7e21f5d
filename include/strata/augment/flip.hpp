// strata/augment/flip.hpp — mirror flips with probability p: horizontal_flip (left ↔ right, the
// AlexNet/ResNet augmentation) and vertical_flip (top ↔ bottom). Exact: pixels are moved, not
// resampled, and map() sends x to W − 1 − x (or y to H − 1 − y).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "strata/augment/augmentation.hpp"
#include "strata/config.hpp"
#include "strata/core/error.hpp"

namespace strata::augment {

namespace detail {

inline void check_flip_probability(double p, const char* who) {
  if (!(p >= 0 && p <= 1)) throw error(std::string(who) + ": probability p = " + std::to_string(p) + " is not in [0, 1]");
}

// out = in with columns (mirror_x) and/or rows (mirror_y) reversed.
// One row with its pixels in reverse order; the channel count is a constant where it matters
// (1, 3, 4), so the loop compiles to shuffles instead of per-value index arithmetic.
template <int Channels, class T>
STRATA_INLINE void reverse_pixels(const T* STRATA_RESTRICT src, T* STRATA_RESTRICT dst, std::int64_t width) {
  const T* s = src + (width - 1) * Channels;
  for (std::int64_t x = 0; x < width; ++x, s -= Channels)
    for (int c = 0; c < Channels; ++c) dst[x * Channels + c] = s[c];
}

template <class T>
void mirror(image_view<const T> in, image<T>& out, bool mirror_x, bool mirror_y) {
  const std::int64_t H = in.height(), W = in.width(), C = in.channels();
  out.reshape(H, W, C);
  if (in.interleaved()) {  // whole rows: memcpy, or one reversal per row
    for (std::int64_t y = 0; y < H; ++y) {
      const T* src = in.pixel(mirror_y ? H - 1 - y : y, 0);
      T* dst = out.data() + y * W * C;
      if (!mirror_x) std::memcpy(dst, src, sizeof(T) * std::size_t(W * C));
      else if (C == 1) reverse_pixels<1>(src, dst, W);
      else if (C == 3) reverse_pixels<3>(src, dst, W);
      else if (C == 4) reverse_pixels<4>(src, dst, W);
      else
        for (std::int64_t x = 0; x < W; ++x) std::memcpy(dst + x * C, src + (W - 1 - x) * C, sizeof(T) * std::size_t(C));
    }
    return;
  }
  for (std::int64_t y = 0; y < H; ++y) {
    const std::int64_t sy = mirror_y ? H - 1 - y : y;
    T* o = out.data() + y * W * C;
    for (std::int64_t x = 0; x < W; ++x, o += C) {
      const T* p = in.pixel(sy, mirror_x ? W - 1 - x : x);
      for (std::int64_t c = 0; c < C; ++c) o[c] = p[c * in.channel_stride()];
    }
  }
}

}  // namespace detail

struct horizontal_flip {
  double p = 0.5;  // probability of flipping

  struct params {
    bool flipped = false;
  };

  params sample(random_engine& rng, image_size) const {
    detail::check_flip_probability(p, "horizontal_flip");
    return {rng.bernoulli(float(p))};
  }
  image_size output_size(const params&, image_size in) const { return in; }
  template <class T>
  void apply(const params& q, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    detail::mirror(in, out, q.flipped, false);
  }
  point map(const params& q, image_size in, point a) const {
    return q.flipped ? point{double(in.width - 1) - a.x, a.y} : a;
  }
};

struct vertical_flip {
  double p = 0.5;  // probability of flipping

  struct params {
    bool flipped = false;
  };

  params sample(random_engine& rng, image_size) const {
    detail::check_flip_probability(p, "vertical_flip");
    return {rng.bernoulli(float(p))};
  }
  image_size output_size(const params&, image_size in) const { return in; }
  template <class T>
  void apply(const params& q, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    detail::mirror(in, out, false, q.flipped);
  }
  point map(const params& q, image_size in, point a) const {
    return q.flipped ? point{a.x, double(in.height - 1) - a.y} : a;
  }
};

static_assert(Augmentation<horizontal_flip>);
static_assert(Augmentation<vertical_flip>);

}  // namespace strata::augment
