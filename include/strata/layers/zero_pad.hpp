// strata/layers/zero_pad.hpp — ZeroPad<…>: zero borders around each channel of an image, for
// padding a convolution cannot express by itself (TensorFlow's asymmetric "SAME" padding before a
// stride-2 convolution, ONNX's Pad). ZeroPad<P> pads P on every side, ZeroPad<Y, X> Y above and
// below and X left and right, ZeroPad<Top, Left, Bottom, Right> each side (ONNX's order).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "strata/core/parallel.hpp"
#include "strata/layers/layer.hpp"

namespace strata {

template <std::int64_t... P>
struct ZeroPad {
  static_assert(sizeof...(P) == 1 || sizeof...(P) == 2 || sizeof...(P) == 4,
                "strata::ZeroPad: give one padding (all sides), two (Y, X) or four (Top, Left, Bottom, Right)");
  static_assert(((P >= 0) && ...), "strata::ZeroPad: padding cannot be negative");
  static constexpr std::int64_t values[] = {P...};
  static constexpr std::int64_t top = values[0];
  static constexpr std::int64_t left = sizeof...(P) == 1 ? values[0] : values[1];
  static constexpr std::int64_t bottom = sizeof...(P) == 4 ? values[2] : values[0];
  static constexpr std::int64_t right = sizeof...(P) == 4 ? values[3] : (sizeof...(P) == 2 ? values[1] : values[0]);
  using spec_tag = void;

  template <class In>
  static constexpr bool accepts = ImageShape<In>;
  template <class In>
  using expects = image_at_least<1, 1>;

  template <class In>
  struct traits {
    using output_shape = sample_shape<In::extents[0], In::extents[1] + top + bottom, In::extents[2] + left + right>;
    static std::string describe() {
      return "zero pad " + std::to_string(top) + "," + std::to_string(left) + "," + std::to_string(bottom) + "," +
             std::to_string(right) + " (top, left, bottom, right)";
    }
  };

  template <class In, class T>
  struct layer {
    static constexpr std::int64_t C = In::extents[0], H = In::extents[1], W = In::extents[2];
    static constexpr std::int64_t Hp = H + top + bottom, Wp = W + left + right;
    using output_shape = typename traits<In>::output_shape;
    // Planes below which one thread copies everything (the threshold counts values).
    static std::int64_t planes_threshold() { return std::max<std::int64_t>(1, parallel_threshold() / (Hp * Wp)); }

    void forward(batch_view<const T, cpu> x, batch_view<T, cpu> y, context&) {
      const T* src = x.data();
      T* dst = y.data();
      parallel_ranges(x.extent(0) * C, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t plane = b; plane < e; ++plane) {
          const T* s = src + plane * H * W;
          T* d = dst + plane * Hp * Wp;
          std::fill(d, d + top * Wp, T{});  // zero (at any exponent)
          for (std::int64_t r = 0; r < H; ++r) {
            T* row = d + (top + r) * Wp;
            std::fill(row, row + left, T{});
            std::memcpy(row + left, s + r * W, sizeof(T) * W);
            std::fill(row + left + W, row + Wp, T{});
          }
          std::fill(d + (top + H) * Wp, d + Hp * Wp, T{});
        }
      }, 1, planes_threshold());
      if constexpr (has_dynamic_scale<T>) adopt_fraction_bits(dst, y.size(), x.size() ? scale_of(src).fraction_bits : 0);
    }

    void backward(batch_view<const T, cpu>, batch_view<const T, cpu>, batch_view<const T, cpu> dy, batch_view<T, cpu> dx,
                  context& ctx) {
      if (!ctx.want_input_gradient) return;
      const T* src = dy.data();
      T* dst = dx.data();
      parallel_ranges(dy.extent(0) * C, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t plane = b; plane < e; ++plane)
          for (std::int64_t r = 0; r < H; ++r)
            std::memcpy(dst + plane * H * W + r * W, src + plane * Hp * Wp + (top + r) * Wp + left, sizeof(T) * W);
      }, 1, planes_threshold());
      if constexpr (has_dynamic_scale<T>) adopt_fraction_bits(dst, dx.size(), dy.size() ? scale_of(src).fraction_bits : 0);
    }
  };
};

}  // namespace strata
