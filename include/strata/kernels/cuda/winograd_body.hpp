// strata/kernels/cuda/winograd_body.hpp — what each GPU thread of a Winograd F(2×2, 3×3)
// convolution (Lavin & Gray) does, as host-and-device functors of its grid_index: the filter
// transform U = G g Gᵀ (one thread per filter pair k, c), the input transform V = Bᵀ d B of every
// 4×4 tile (one thread per channel and tile), and the output transform Y = Aᵀ M A of the 16
// products after the GEMMs (one thread per filter and tile, bias added). The 16 transformed
// planes are stored [ξν][rows][columns] for one strided-batched GEMM of 16. Plain C++:
// compiles with g++ as well as nvcc.
#pragma once

#include <cstdint>

#include "strata/config.hpp"
#include "strata/device/cuda/grid.hpp"
#include "strata/kernels/cuda/conv_body.hpp"
#include "strata/numeric/precision_traits.hpp"

namespace strata::kernels::cuda_body {

// U[ξν][k][c] = (G g Gᵀ)[ξ][ν] for g = w[k][c] (3×3), G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]. With
// `rotated`, g is w[c][k] turned by 180° (the filters of the backward-data pass, which is a
// forward pass over dy).
template <class T>
struct winograd_filter_body {
  std::int64_t K, C;  // U's rows and columns: filters out, channels in
  bool rotated;
  const T* w;
  T* U;
  STRATA_HD void operator()(const grid_index& t) const {
    using traits = precision_traits<T>;
    using S = compute_t<T>;
    for (std::int64_t i = cuda_grid::global_x(t); i < K * C; i += cuda_grid::threads_x(t)) {
      const std::int64_t k = i / C, c = i % C;
      S g[3][3];
      for (int r = 0; r < 3; ++r)
        for (int s = 0; s < 3; ++s)
          g[r][s] = rotated ? traits::to_compute(w[(c * K + k) * 9 + (2 - r) * 3 + (2 - s)])
                            : traits::to_compute(w[(k * C + c) * 9 + r * 3 + s]);
      S Gg[4][3];  // G·g
      for (int s = 0; s < 3; ++s) {
        Gg[0][s] = g[0][s];
        Gg[1][s] = S(0.5) * (g[0][s] + g[1][s] + g[2][s]);
        Gg[2][s] = S(0.5) * (g[0][s] - g[1][s] + g[2][s]);
        Gg[3][s] = g[2][s];
      }
      for (int x = 0; x < 4; ++x) {  // (G·g)·Gᵀ, row x
        const S u[4] = {Gg[x][0], S(0.5) * (Gg[x][0] + Gg[x][1] + Gg[x][2]), S(0.5) * (Gg[x][0] - Gg[x][1] + Gg[x][2]), Gg[x][2]};
        for (int y = 0; y < 4; ++y) U[(x * 4 + y) * K * C + i] = traits::from_compute(u[y]);
      }
    }
  }
};

// V[ξν][c][tile] = (Bᵀ d B)[ξ][ν] for the 4×4 input patch d of each tile (2×2 outputs; zero
// outside the image), Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]; tiles of `images` images,
// tile = (b·tiles_y + ty)·tiles_x + tx.
template <class T, class I>
struct winograd_input_body {
  I C, H, W, pad_y, pad_x, tiles_y, tiles_x, images;
  const T* x;
  T* V;
  STRATA_HD void operator()(const grid_index& t) const {
    using traits = precision_traits<T>;
    using S = compute_t<T>;
    const I tiles = images * tiles_y * tiles_x, total = C * tiles;
    for (I i = I(cuda_grid::global_x(t)); i < total; i += I(cuda_grid::threads_x(t))) {
      const I c = i / tiles, tile = i % tiles;
      const I tx = tile % tiles_x, ty = tile / tiles_x % tiles_y, b = tile / (tiles_x * tiles_y);
      const T* plane = x + (b * C + c) * H * W;
      const I y0 = 2 * ty - pad_y, x0 = 2 * tx - pad_x;
      S d[4][4];
      for (I r = 0; r < 4; ++r)
        for (I s = 0; s < 4; ++s) {
          const I h = y0 + r, w = x0 + s;
          d[r][s] = h >= 0 && h < H && w >= 0 && w < W ? traits::to_compute(plane[h * W + w]) : S(0);
        }
      S Bd[4][4];  // Bᵀ·d
      for (int s = 0; s < 4; ++s) {
        Bd[0][s] = d[0][s] - d[2][s];
        Bd[1][s] = d[1][s] + d[2][s];
        Bd[2][s] = d[2][s] - d[1][s];
        Bd[3][s] = d[1][s] - d[3][s];
      }
      const I plane_size = C * tiles;
      for (int r = 0; r < 4; ++r) {  // (Bᵀ·d)·B, row r
        const S v[4] = {Bd[r][0] - Bd[r][2], Bd[r][1] + Bd[r][2], Bd[r][2] - Bd[r][1], Bd[r][1] - Bd[r][3]};
        for (int s = 0; s < 4; ++s) V[(r * 4 + s) * plane_size + i] = traits::from_compute(v[s]);
      }
    }
  }
};

// y[b][k][2ty + u][2tx + v] = (Aᵀ M A)[u][v] + bias[k] for the 16 products M[ξν][k][tile],
// Aᵀ = [1 1 1 0; 0 1 −1 −1]; outputs past P×Q (the last tile of an odd size) are not written.
template <class T, class I>
struct winograd_output_body {
  I K, P, Q, tiles_y, tiles_x, images;
  const T* M;
  const T* bias;  // or null
  T* y;
  STRATA_HD void operator()(const grid_index& t) const {
    using traits = precision_traits<T>;
    using S = compute_t<T>;
    const I tiles = images * tiles_y * tiles_x, total = K * tiles;
    for (I i = I(cuda_grid::global_x(t)); i < total; i += I(cuda_grid::threads_x(t))) {
      const I k = i / tiles, tile = i % tiles;
      const I tx = tile % tiles_x, ty = tile / tiles_x % tiles_y, b = tile / (tiles_x * tiles_y);
      const I plane_size = K * tiles;
      S m[4][4];
      for (int r = 0; r < 4; ++r)
        for (int s = 0; s < 4; ++s) m[r][s] = traits::to_compute(M[(r * 4 + s) * plane_size + i]);
      S Am[2][4];  // Aᵀ·m
      for (int s = 0; s < 4; ++s) {
        Am[0][s] = m[0][s] + m[1][s] + m[2][s];
        Am[1][s] = m[1][s] - m[2][s] - m[3][s];
      }
      const S add = bias ? traits::to_compute(bias[k]) : S(0);
      T* out = y + (b * K + k) * P * Q;
      for (I u = 0; u < 2; ++u) {
        const I p = 2 * ty + u;
        if (p >= P) continue;
        const S o[2] = {Am[u][0] + Am[u][1] + Am[u][2], Am[u][1] - Am[u][2] - Am[u][3]};
        for (I v = 0; v < 2; ++v) {
          const I q = 2 * tx + v;
          if (q < Q) out[p * Q + q] = traits::from_compute(o[v] + add);
        }
      }
    }
  }
};

}  // namespace strata::kernels::cuda_body
