// strata/kernels/cpu/conv_direct.hpp — the reference convolution: plain loops over the
// definition, forward, backward data and backward filter. Slow and obviously right; every
// fast algorithm is tested against it.
#pragma once

#include <algorithm>
#include <cstdint>

#include "strata/config.hpp"
#include "strata/core/parallel.hpp"
#include "strata/kernels/conv_geometry.hpp"

namespace strata::kernels::cpu {

// y[n][k][p][q] = b[k] + Σ_c,r,s w[k][c][r][s] · x[n][c][p·sy − py + r][q·sx − px + s]
template <class T>
void conv_direct_forward(const conv_geometry& g, std::int64_t N, const T* x, const T* w, const T* b, T* y) {
  const std::int64_t P = g.P(), Q = g.Q();
  parallel_ranges(N * g.K, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t nk = begin; nk < end; ++nk) {
      const std::int64_t n = nk / g.K, k = nk % g.K;
      for (std::int64_t p = 0; p < P; ++p)
        for (std::int64_t q = 0; q < Q; ++q) {
          T acc = b ? b[k] : T(0);
          for (std::int64_t c = 0; c < g.C; ++c)
            for (std::int64_t r = 0; r < g.R; ++r) {
              const std::int64_t iy = p * g.stride_y - g.pad_y + r;
              if (iy < 0 || iy >= g.H) continue;
              for (std::int64_t s = 0; s < g.S; ++s) {
                const std::int64_t ix = q * g.stride_x - g.pad_x + s;
                if (ix < 0 || ix >= g.W) continue;
                acc += w[((k * g.C + c) * g.R + r) * g.S + s] * x[((n * g.C + c) * g.H + iy) * g.W + ix];
              }
            }
          y[((n * g.K + k) * P + p) * Q + q] = acc;
        }
    }
  }, 1, 2);
}

// dx[n][c][iy][ix] = Σ_k,r,s over the outputs that read it: w[k][c][r][s] · dy[n][k][p][q]
template <class T>
void conv_direct_backward_data(const conv_geometry& g, std::int64_t N, const T* w, const T* dy, T* dx) {
  const std::int64_t P = g.P(), Q = g.Q();
  parallel_ranges(N * g.C, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t nc = begin; nc < end; ++nc) {
      const std::int64_t n = nc / g.C, c = nc % g.C;
      for (std::int64_t iy = 0; iy < g.H; ++iy)
        for (std::int64_t ix = 0; ix < g.W; ++ix) {
          T acc = 0;
          for (std::int64_t k = 0; k < g.K; ++k)
            for (std::int64_t r = 0; r < g.R; ++r) {
              const std::int64_t py = iy + g.pad_y - r;  // = p·sy
              if (py < 0 || py % g.stride_y != 0 || py / g.stride_y >= P) continue;
              for (std::int64_t s = 0; s < g.S; ++s) {
                const std::int64_t qx = ix + g.pad_x - s;
                if (qx < 0 || qx % g.stride_x != 0 || qx / g.stride_x >= Q) continue;
                acc += w[((k * g.C + c) * g.R + r) * g.S + s] *
                       dy[((n * g.K + k) * P + py / g.stride_y) * Q + qx / g.stride_x];
              }
            }
          dx[((n * g.C + c) * g.H + iy) * g.W + ix] = acc;
        }
    }
  }, 1, 2);
}

// dw[k][c][r][s] = Σ_n,p,q dy[n][k][p][q] · x[n][c][p·sy − py + r][q·sx − px + s]; db[k] = Σ dy[n][k]
template <class T>
void conv_direct_backward_filter(const conv_geometry& g, std::int64_t N, const T* x, const T* dy, T* dw, T* db) {
  const std::int64_t P = g.P(), Q = g.Q();
  parallel_ranges(g.K * g.C, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t kc = begin; kc < end; ++kc) {
      const std::int64_t k = kc / g.C, c = kc % g.C;
      for (std::int64_t r = 0; r < g.R; ++r)
        for (std::int64_t s = 0; s < g.S; ++s) {
          T acc = 0;
          for (std::int64_t n = 0; n < N; ++n)
            for (std::int64_t p = 0; p < P; ++p) {
              const std::int64_t iy = p * g.stride_y - g.pad_y + r;
              if (iy < 0 || iy >= g.H) continue;
              for (std::int64_t q = 0; q < Q; ++q) {
                const std::int64_t ix = q * g.stride_x - g.pad_x + s;
                if (ix < 0 || ix >= g.W) continue;
                acc += dy[((n * g.K + k) * P + p) * Q + q] * x[((n * g.C + c) * g.H + iy) * g.W + ix];
              }
            }
          dw[((k * g.C + c) * g.R + r) * g.S + s] = acc;
        }
    }
  }, 1, 2);
  if (db) {
    for (std::int64_t k = 0; k < g.K; ++k) {
      T acc = 0;
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t i = 0; i < P * Q; ++i) acc += dy[(n * g.K + k) * P * Q + i];
      db[k] = acc;
    }
  }
}

// The vectorised direct forward: each output plane accumulates w[k][c][r][s] times a shifted
// input row, the inner loop running along output columns (contiguous for stride 1). No
// workspace, no GEMM: it wins for few channels, where a patch matrix would be mostly copying.
template <class T>
void conv_direct_vectorised_forward(const conv_geometry& g, std::int64_t N, const T* x, const T* w, const T* b, T* y) {
  const std::int64_t P = g.P(), Q = g.Q();
  parallel_ranges(N * g.K, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t nk = begin; nk < end; ++nk) {
      const std::int64_t n = nk / g.K, k = nk % g.K;
      T* out = y + nk * P * Q;
      std::fill(out, out + P * Q, b ? b[k] : T(0));
      for (std::int64_t c = 0; c < g.C; ++c) {
        const T* plane = x + (n * g.C + c) * g.H * g.W;
        const T* wk = w + (k * g.C + c) * g.R * g.S;
        for (std::int64_t r = 0; r < g.R; ++r)
          for (std::int64_t s = 0; s < g.S; ++s) {
            const T weight = wk[r * g.S + s];
            // Output columns whose input column q·sx − px + s lies inside the image.
            const std::int64_t offset = s - g.pad_x;
            const std::int64_t q0 = offset >= 0 ? 0 : (-offset + g.stride_x - 1) / g.stride_x;
            const std::int64_t q1 = std::min(Q, g.W - offset <= 0 ? 0 : (g.W - offset + g.stride_x - 1) / g.stride_x);
            for (std::int64_t p = 0; p < P; ++p) {
              const std::int64_t iy = p * g.stride_y - g.pad_y + r;
              if (iy < 0 || iy >= g.H) continue;
              const T* in = plane + iy * g.W;
              T* o = out + p * Q;
              if (g.stride_x == 1) {
                STRATA_SIMD
                for (std::int64_t q = q0; q < q1; ++q) o[q] += weight * in[q + offset];
              } else {
                for (std::int64_t q = q0; q < q1; ++q) o[q] += weight * in[q * g.stride_x + offset];
              }
            }
          }
      }
    }
  }, 1, std::max<std::int64_t>(2, parallel_threshold() / std::max<std::int64_t>(1, P * Q * g.C * g.R * g.S)));
}

// Precompiled mode (config.hpp): the instantiations for float and double are compiled once, in
// strata_precompiled (src/), and only declared here. STRATA_INSTANTIATE_CONV_DIRECT(extern, T)
// declares them, STRATA_INSTANTIATE_CONV_DIRECT(, T) defines them.
#define STRATA_INSTANTIATE_CONV_DIRECT(EXTERN, T) \
  EXTERN template void conv_direct_forward<T>(const conv_geometry&, std::int64_t, const T*, const T*, const T*, T*); \
  EXTERN template void conv_direct_backward_data<T>(const conv_geometry&, std::int64_t, const T*, const T*, T*); \
  EXTERN template void conv_direct_backward_filter<T>(const conv_geometry&, std::int64_t, const T*, const T*, T*, T*); \
  EXTERN template void conv_direct_vectorised_forward<T>(const conv_geometry&, std::int64_t, const T*, const T*, const T*, T*);
#if defined(STRATA_PRECOMPILED)
STRATA_INSTANTIATE_CONV_DIRECT(extern, float)
STRATA_INSTANTIATE_CONV_DIRECT(extern, double)
#endif

}  // namespace strata::kernels::cpu
