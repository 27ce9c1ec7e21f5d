// strata/kernels/cpu/pooling.hpp — max and average pooling over square windows of an NCHW batch,
// forward and backward. Max pooling remembers where each maximum came from (the first in scan
// order on ties, as PyTorch); average pooling divides by the full window, padding included
// (PyTorch's count_include_pad=True). They are the CPU's op_kernel for op::max_pool and op::avg_pool.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "strata/config.hpp"
#include "strata/core/parallel.hpp"
#include "strata/core/device_tags.hpp"
#include "strata/kernels/cpu/simd.hpp"
#include "strata/kernels/op_kernel.hpp"
#include "strata/kernels/pool_geometry.hpp"

namespace strata::kernels::cpu {

namespace detail {
// The common 2×2 / stride 2 window without padding: the first maximum in scan order (a, b, c, d)
// wins, NaN propagates, all by selects. Windows are first split into four contiguous arrays (top
// left, top right, bottom left, bottom right) a few rows at a time, so that the selects run on
// whole vectors even when rows are shorter than a vector (strided loads kept the compiler from
// vectorising them: a third of the demo network's inference time went here).
template <class T>
STRATA_INLINE void max_pool_select(T a, T b, T c, T d, std::int32_t i, std::int32_t W, T& out, std::int32_t& where) {
  T m = a;
  std::int32_t at = i;
  if (b > m) m = b, at = i + 1;  // false against a NaN in m, which stays
  if (c > m) m = c, at = i + W;
  if (d > m) m = d, at = i + W + 1;
  // A NaN anywhere wins (the first one in scan order), as in PyTorch.
  if (d != d) m = d, at = i + W + 1;
  if (c != c) m = c, at = i + W;
  if (b != b) m = b, at = i + 1;
  if (a != a) m = a, at = i;
  out = m;
  where = at;
}

template <class T>
void max_pool_2x2(const pool_geometry& g, const T* in, T* out, std::int32_t* where) {
  const std::int64_t P = g.P(), Q = g.Q();
  constexpr std::int64_t chunk = 512;  // windows per pass, on the stack
  alignas(64) T a_[chunk], b_[chunk], c_[chunk], d_[chunk];
  alignas(64) std::int32_t i_[chunk];
  const std::int32_t W = static_cast<std::int32_t>(g.W);
  const std::int64_t row_chunk = std::min(Q, chunk);
  const std::int64_t rows = std::max<std::int64_t>(1, chunk / row_chunk);
  for (std::int64_t p0 = 0; p0 < P; p0 += rows) {
    const std::int64_t p1 = std::min(P, p0 + rows);
    for (std::int64_t q0 = 0; q0 < Q; q0 += row_chunk) {
      const std::int64_t q1 = std::min(Q, q0 + row_chunk);
      std::int64_t n = 0;
      for (std::int64_t p = p0; p < p1; ++p) {
        const T* r0 = in + 2 * p * g.W;
        const T* r1 = r0 + g.W;
        for (std::int64_t q = q0; q < q1; ++q, ++n) {
          a_[n] = r0[2 * q];
          b_[n] = r0[2 * q + 1];
          c_[n] = r1[2 * q];
          d_[n] = r1[2 * q + 1];
          i_[n] = static_cast<std::int32_t>(2 * p * g.W + 2 * q);
        }
      }
      // The windows in the order they were gathered, back to (p, q).
      const auto put = [&](std::int64_t k, T m, std::int32_t at) {
        const std::int64_t width = q1 - q0, p = p0 + k / width, q = q0 + k % width;
        out[p * Q + q] = m;
        where[p * Q + q] = at;
      };
      std::int64_t k = 0;
      if constexpr (std::is_same_v<T, float> && simd::lanes<float> > 1) {
        using V = simd::vec<float>;
        using I = simd::vec<std::int32_t, sizeof(V)>;
        constexpr int L = simd::lanes<float>;
        alignas(64) float m_[L];
        alignas(64) std::int32_t at_[L];
        for (; k + L <= n; k += L) {
          const V a = simd::load<V>(a_ + k), b = simd::load<V>(b_ + k), c = simd::load<V>(c_ + k), d = simd::load<V>(d_ + k);
          I i;
          std::memcpy(&i, i_ + k, sizeof(I));
          V m = a;
          I at = i;
          const I mb = b > m;
          m = mb ? b : m;
          at = mb ? i + 1 : at;
          const I mc = c > m;
          m = mc ? c : m;
          at = mc ? i + W : at;
          const I md = d > m;
          m = md ? d : m;
          at = md ? i + (W + 1) : at;
          const I na = a != a, nb = b != b, nc = c != c, nd = d != d;
          m = nd ? d : m;
          at = nd ? i + (W + 1) : at;
          m = nc ? c : m;
          at = nc ? i + W : at;
          m = nb ? b : m;
          at = nb ? i + 1 : at;
          m = na ? a : m;
          at = na ? i : at;
          if (q1 - q0 == Q) {  // whole rows: the windows are contiguous in the output
            simd::store<V>(out + p0 * Q + k, m);
            std::memcpy(where + p0 * Q + k, &at, sizeof(I));
          } else {
            simd::store<V>(m_, m);
            std::memcpy(at_, &at, sizeof(I));
            for (int l = 0; l < L; ++l) put(k + l, m_[l], at_[l]);
          }
        }
      }
      for (; k < n; ++k) {
        T m;
        std::int32_t at;
        max_pool_select(a_[k], b_[k], c_[k], d_[k], i_[k], W, m, at);
        put(k, m, at);
      }
    }
  }
}
}  // namespace detail

// y = max over each window; argmax[i] = index (y·W + x) of the maximum within its plane.
template <class T>
void max_pool_forward(const pool_geometry& g, std::int64_t N, const T* x, T* y, std::int32_t* argmax) {
  const std::int64_t P = g.P(), Q = g.Q();
  parallel_ranges(N * g.C, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t plane = b; plane < e; ++plane) {
      const T* in = x + plane * g.H * g.W;
      if (g.window == 2 && g.stride == 2 && g.pad == 0 && 2 * P <= g.H && 2 * Q <= g.W) {  // no partial window (ceil)
        detail::max_pool_2x2(g, in, y + plane * P * Q, argmax + plane * P * Q);
        continue;
      }
      for (std::int64_t p = 0; p < P; ++p)
        for (std::int64_t q = 0; q < Q; ++q) {
          const auto [y0, y1, x0, x1] = g.bounds(p, q);
          T best = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
          std::int64_t where = y0 * g.W + x0;
          for (std::int64_t iy = y0; iy < y1; ++iy)
            for (std::int64_t ix = x0; ix < x1; ++ix) {
              const T v = in[iy * g.W + ix];
              if (v > best || v != v) {  // NaN propagates, as in PyTorch
                best = v;
                where = iy * g.W + ix;
                if (v != v) iy = y1, ix = x1;
              }
            }
          const std::int64_t o = (plane * P + p) * Q + q;
          y[o] = best;
          argmax[o] = static_cast<std::int32_t>(where);
        }
    }
  }, 1, std::max<std::int64_t>(2, parallel_threshold() / std::max<std::int64_t>(1, g.H * g.W)));
}

// dx = 0, then each output's gradient goes to where its maximum was.
template <class T>
void max_pool_backward(const pool_geometry& g, std::int64_t N, const T* dy, const std::int32_t* argmax, T* dx) {
  const std::int64_t PQ = g.P() * g.Q(), HW = g.H * g.W;
  parallel_ranges(N * g.C, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t plane = b; plane < e; ++plane) {
      T* out = dx + plane * HW;
      std::fill(out, out + HW, T(0));
      for (std::int64_t i = 0; i < PQ; ++i) out[argmax[plane * PQ + i]] += dy[plane * PQ + i];
    }
  }, 1, std::max<std::int64_t>(2, parallel_threshold() / std::max<std::int64_t>(1, g.H * g.W)));
}

template <class T>
void avg_pool_forward(const pool_geometry& g, std::int64_t N, const T* x, T* y) {
  const std::int64_t P = g.P(), Q = g.Q();
  const T scale = T(1) / T(g.window * g.window);
  parallel_ranges(N * g.C, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t plane = b; plane < e; ++plane) {
      const T* in = x + plane * g.H * g.W;
      for (std::int64_t p = 0; p < P; ++p)
        for (std::int64_t q = 0; q < Q; ++q) {
          const auto [y0, y1, x0, x1] = g.bounds(p, q);
          T acc = 0;
          for (std::int64_t iy = y0; iy < y1; ++iy)
            for (std::int64_t ix = x0; ix < x1; ++ix) acc += in[iy * g.W + ix];
          y[(plane * P + p) * Q + q] = acc * scale;
        }
    }
  }, 1, std::max<std::int64_t>(2, parallel_threshold() / std::max<std::int64_t>(1, g.H * g.W)));
}

template <class T>
void avg_pool_backward(const pool_geometry& g, std::int64_t N, const T* dy, T* dx) {
  const std::int64_t P = g.P(), Q = g.Q(), HW = g.H * g.W;
  const T scale = T(1) / T(g.window * g.window);
  parallel_ranges(N * g.C, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t plane = b; plane < e; ++plane) {
      T* out = dx + plane * HW;
      std::fill(out, out + HW, T(0));
      for (std::int64_t p = 0; p < P; ++p)
        for (std::int64_t q = 0; q < Q; ++q) {
          const T v = dy[(plane * P + p) * Q + q] * scale;
          const auto [y0, y1, x0, x1] = g.bounds(p, q);
          for (std::int64_t iy = y0; iy < y1; ++iy)
            for (std::int64_t ix = x0; ix < x1; ++ix) out[iy * g.W + ix] += v;
        }
    }
  }, 1, std::max<std::int64_t>(2, parallel_threshold() / std::max<std::int64_t>(1, g.H * g.W)));
}

// Precompiled mode (config.hpp): the instantiations for float and double are compiled once, in
// strata_precompiled (src/), and only declared here. STRATA_INSTANTIATE_POOLING(extern, T)
// declares them, STRATA_INSTANTIATE_POOLING(, T) defines them.
#define STRATA_INSTANTIATE_POOLING(EXTERN, T) \
  EXTERN template void max_pool_forward<T>(const pool_geometry&, std::int64_t, const T*, T*, std::int32_t*); \
  EXTERN template void max_pool_backward<T>(const pool_geometry&, std::int64_t, const T*, const std::int32_t*, T*); \
  EXTERN template void avg_pool_forward<T>(const pool_geometry&, std::int64_t, const T*, T*); \
  EXTERN template void avg_pool_backward<T>(const pool_geometry&, std::int64_t, const T*, T*);
#if defined(STRATA_PRECOMPILED)
STRATA_INSTANTIATE_POOLING(extern, float)
STRATA_INSTANTIATE_POOLING(extern, double)
#endif

}  // namespace strata::kernels::cpu

namespace strata::kernels {

template <class T>
  requires std::is_floating_point_v<T>
struct op_kernel<op::max_pool, strata::cpu, T> {
  static void forward(const pool_geometry& g, std::int64_t n, const T* x, T* y, std::int32_t* argmax) {
    cpu::max_pool_forward(g, n, x, y, argmax);
  }
  static void backward(const pool_geometry& g, std::int64_t n, const T* dy, const std::int32_t* argmax, T* dx) {
    cpu::max_pool_backward(g, n, dy, argmax, dx);
  }
};

template <class T>
  requires std::is_floating_point_v<T>
struct op_kernel<op::avg_pool, strata::cpu, T> {
  static void forward(const pool_geometry& g, std::int64_t n, const T* x, T* y) { cpu::avg_pool_forward(g, n, x, y); }
  static void backward(const pool_geometry& g, std::int64_t n, const T* dy, T* dx) { cpu::avg_pool_backward(g, n, dy, dx); }
};

}  // namespace strata::kernels
