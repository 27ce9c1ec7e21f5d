// strata/kernels/cpu/im2col.hpp — convolution as matrix products: im2col lays out every
// receptive field of one image as a column of a (C·R·S) × (P·Q) matrix, so the convolution is
// W[K, C·R·S] × columns; col2im scatters column gradients back onto the image (adding where
// receptive fields overlap).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "strata/kernels/conv_geometry.hpp"

namespace strata::kernels::cpu {

namespace detail {
// The output columns q whose input column q·stride − pad + s lies inside [0, W): [first, last).
inline void valid_columns(const conv_geometry& g, std::int64_t s, std::int64_t& first, std::int64_t& last) {
  const std::int64_t offset = s - g.pad_x;  // input column of output column 0
  first = offset >= 0 ? 0 : (-offset + g.stride_x - 1) / g.stride_x;
  const std::int64_t limit = g.W - offset;  // need q·stride < limit
  last = limit <= 0 ? 0 : std::min(g.Q(), (limit + g.stride_x - 1) / g.stride_x);
  if (last < first) last = first;
}
}  // namespace detail

// col[(c·R + r)·S + s][p·Q + q] = x[c][p·sy − py + r][q·sx − px + s], or 0 outside the image.
template <class T>
void im2col(const conv_geometry& g, const T* x, T* col) {
  const std::int64_t P = g.P(), Q = g.Q();
  for (std::int64_t c = 0; c < g.C; ++c)
    for (std::int64_t r = 0; r < g.R; ++r)
      for (std::int64_t s = 0; s < g.S; ++s) {
        T* row = col + ((c * g.R + r) * g.S + s) * P * Q;
        std::int64_t q0, q1;
        detail::valid_columns(g, s, q0, q1);
        for (std::int64_t p = 0; p < P; ++p) {
          T* out = row + p * Q;
          const std::int64_t y = p * g.stride_y - g.pad_y + r;
          if (y < 0 || y >= g.H) {
            std::fill(out, out + Q, T(0));
            continue;
          }
          const T* in = x + (c * g.H + y) * g.W;  // input column of output q: q·sx + s − px
          const std::int64_t shift = s - g.pad_x;
          std::fill(out, out + q0, T(0));
          if (g.stride_x == 1) {
            if (q1 > q0) std::memcpy(out + q0, in + q0 + shift, static_cast<std::size_t>(q1 - q0) * sizeof(T));
          } else {
            for (std::int64_t q = q0; q < q1; ++q) out[q] = in[q * g.stride_x + shift];
          }
          std::fill(out + q1, out + Q, T(0));
        }
      }
}

// dx (zeroed here) += the column gradients of every receptive field.
template <class T>
void col2im(const conv_geometry& g, const T* col, T* dx) {
  const std::int64_t P = g.P(), Q = g.Q();
  std::fill(dx, dx + g.input_elements(), T(0));
  for (std::int64_t c = 0; c < g.C; ++c)
    for (std::int64_t r = 0; r < g.R; ++r)
      for (std::int64_t s = 0; s < g.S; ++s) {
        const T* row = col + ((c * g.R + r) * g.S + s) * P * Q;
        std::int64_t q0, q1;
        detail::valid_columns(g, s, q0, q1);
        for (std::int64_t p = 0; p < P; ++p) {
          const std::int64_t y = p * g.stride_y - g.pad_y + r;
          if (y < 0 || y >= g.H) continue;
          T* out = dx + (c * g.H + y) * g.W;
          const std::int64_t shift = s - g.pad_x;
          const T* in = row + p * Q;
          for (std::int64_t q = q0; q < q1; ++q) out[q * g.stride_x + shift] += in[q];
        }
      }
}

}  // namespace strata::kernels::cpu
