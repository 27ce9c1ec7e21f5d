// strata/kernels/cuda/winograd_body.hpp — what each GPU thread of a Winograd F(m×m, 3×3)
// convolution (Lavin & Gray; m = 2 or 4, tiles of α = m + 2) does, as host-and-device functors
// of its grid_index: the filter transform U = G g Gᵀ (one thread per filter pair k, c), the input
// transform V = Bᵀ d B of every α×α tile (one thread per channel and tile), and the output
// transform Y = Aᵀ M A of the α² products after the GEMMs (one thread per filter and tile, bias
// added), and for the filter gradient their adjoints: dM = A dY Aᵀ of every output tile and
// dg = Gᵀ dU G per filter pair. The α² transformed planes are stored [ξν][rows][columns] for one
// strided-batched GEMM of α². Plain C++: compiles with g++ as well as nvcc.
#pragma once

#include <cstdint>

#include "strata/config.hpp"
#include "strata/device/cuda/grid.hpp"
#include "strata/kernels/cuda/conv_body.hpp"
#include "strata/numeric/precision_traits.hpp"

namespace strata::kernels::cuda_body {

// The transform matrices as coefficient tables (the same interpolation points as the CPU's
// kernels/cpu/winograd/transforms.hpp: 0, ±1, ∞ for m = 2 and 0, ±1, ±2, ∞ for m = 4). The
// products below skip zero coefficients, so a tile holding an infinity gives what the CPU's
// hand-written maps give; with the loops unrolled the tests fold away on the GPU. The CPU's maps
// cannot serve both sides: they also run on SIMD vector types, which device code rejects.
template <int M>
struct winograd_matrices;

template <>
struct winograd_matrices<2> {
  static constexpr int m = 2, alpha = 4;
  STRATA_HD static constexpr double BT(int i, int j) {  // Bᵀ, α×α
    constexpr double t[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
    return t[i][j];
  }
  STRATA_HD static constexpr double G(int i, int j) {  // α×3
    constexpr double t[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    return t[i][j];
  }
  STRATA_HD static constexpr double AT(int i, int j) {  // Aᵀ, m×α
    constexpr double t[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
    return t[i][j];
  }
};

template <>
struct winograd_matrices<4> {
  static constexpr int m = 4, alpha = 6;
  STRATA_HD static constexpr double BT(int i, int j) {
    constexpr double t[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
    return t[i][j];
  }
  STRATA_HD static constexpr double G(int i, int j) {
    constexpr double t[6][3] = {{0.25, 0, 0},
                                {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                {0, 0, 1}};
    return t[i][j];
  }
  STRATA_HD static constexpr double AT(int i, int j) {
    constexpr double t[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
    return t[i][j];
  }
};

// out (rows×cols) = L (rows×inner) · in (inner×cols), L given by coef(i, j); zero coefficients
// skipped, ±1 without a multiplication.
template <int Rows, int Inner, int Cols, class S, class Coef>
STRATA_HD inline void winograd_left_multiply(Coef coef, const S (&in)[Inner][Cols], S (&out)[Rows][Cols]) {
  for (int i = 0; i < Rows; ++i)
    for (int c = 0; c < Cols; ++c) {
      S sum = S(0);
      for (int j = 0; j < Inner; ++j) {
        const double a = coef(i, j);
        if (a == 1) sum += in[j][c];
        else if (a == -1) sum -= in[j][c];
        else if (a != 0) sum += S(a) * in[j][c];
      }
      out[i][c] = sum;
    }
}
// out (rows×cols) = in (rows×inner) · Rᵀ, R (cols×inner) given by coef(i, j).
template <int Rows, int Inner, int Cols, class S, class Coef>
STRATA_HD inline void winograd_right_multiply_transposed(Coef coef, const S (&in)[Rows][Inner], S (&out)[Rows][Cols]) {
  for (int r = 0; r < Rows; ++r)
    for (int i = 0; i < Cols; ++i) {
      S sum = S(0);
      for (int j = 0; j < Inner; ++j) {
        const double a = coef(i, j);
        if (a == 1) sum += in[r][j];
        else if (a == -1) sum -= in[r][j];
        else if (a != 0) sum += S(a) * in[r][j];
      }
      out[r][i] = sum;
    }
}

// U[ξν][k][c] = (G g Gᵀ)[ξ][ν] for g = w[k][c] (3×3), in double and rounded once (G's sixths are
// not binary fractions). With `rotated`, g is w[c][k] turned by 180° (the filters of the
// backward-data pass, which is a forward pass over dy).
template <int M, class T>
struct winograd_filter_body {
  std::int64_t K, C;  // U's rows and columns: filters out, channels in
  bool rotated;
  const T* w;
  T* U;
  STRATA_HD void operator()(const grid_index& t) const {
    using traits = precision_traits<T>;
    using Mx = winograd_matrices<M>;
    constexpr int A = Mx::alpha;
    auto G = [](int i, int j) { return Mx::G(i, j); };
    for (std::int64_t i = cuda_grid::global_x(t); i < K * C; i += cuda_grid::threads_x(t)) {
      const std::int64_t k = i / C, c = i % C;
      double g[3][3];
      for (int r = 0; r < 3; ++r)
        for (int s = 0; s < 3; ++s)
          g[r][s] = double(rotated ? traits::to_compute(w[(c * K + k) * 9 + (2 - r) * 3 + (2 - s)])
                                   : traits::to_compute(w[(k * C + c) * 9 + r * 3 + s]));
      double Gg[A][3], u[A][A];
      winograd_left_multiply<A, 3, 3>(G, g, Gg);
      winograd_right_multiply_transposed<A, 3, A>(G, Gg, u);
      for (int x = 0; x < A; ++x)
        for (int y = 0; y < A; ++y) U[(x * A + y) * K * C + i] = traits::from_compute(compute_t<T>(u[x][y]));
    }
  }
};

// V[ξν][c][tile] = (Bᵀ d B)[ξ][ν] for the α×α input patch d of each tile (m×m outputs; zero
// outside the image); tiles of `images` images, tile = (b·tiles_y + ty)·tiles_x + tx.
template <int M, class T, class I>
struct winograd_input_body {
  I C, H, W, pad_y, pad_x, tiles_y, tiles_x, images;
  const T* x;
  T* V;
  STRATA_HD void operator()(const grid_index& t) const {
    using traits = precision_traits<T>;
    using S = compute_t<T>;
    using Mx = winograd_matrices<M>;
    constexpr int A = Mx::alpha;
    auto BT = [](int i, int j) { return Mx::BT(i, j); };
    const I tiles = images * tiles_y * tiles_x, total = C * tiles;
    for (I i = I(cuda_grid::global_x(t)); i < total; i += I(cuda_grid::threads_x(t))) {
      const I c = i / tiles, tile = i % tiles;
      const I tx = tile % tiles_x, ty = tile / tiles_x % tiles_y, b = tile / (tiles_x * tiles_y);
      const T* plane = x + (b * C + c) * H * W;
      const I y0 = I(M) * ty - pad_y, x0 = I(M) * tx - pad_x;
      S d[A][A];
      for (I r = 0; r < A; ++r)
        for (I s = 0; s < A; ++s) {
          const I h = y0 + r, w = x0 + s;
          d[r][s] = h >= 0 && h < H && w >= 0 && w < W ? traits::to_compute(plane[h * W + w]) : S(0);
        }
      S Bd[A][A], v[A][A];
      winograd_left_multiply<A, A, A>(BT, d, Bd);
      winograd_right_multiply_transposed<A, A, A>(BT, Bd, v);
      const I plane_size = C * tiles;
      for (int r = 0; r < A; ++r)
        for (int s = 0; s < A; ++s) V[(r * A + s) * plane_size + i] = traits::from_compute(v[r][s]);
    }
  }
};

// y[b][k][m·ty + u][m·tx + v] = (Aᵀ M A)[u][v] + bias[k] for the α² products M[ξν][k][tile];
// outputs past P×Q (the last tiles of a size not divisible by m) are not written.
template <int M, class T, class I>
struct winograd_output_body {
  I K, P, Q, tiles_y, tiles_x, images;
  const T* products;
  const T* bias;  // or null
  T* y;
  STRATA_HD void operator()(const grid_index& t) const {
    using traits = precision_traits<T>;
    using S = compute_t<T>;
    using Mx = winograd_matrices<M>;
    constexpr int A = Mx::alpha;
    auto AT = [](int i, int j) { return Mx::AT(i, j); };
    const I tiles = images * tiles_y * tiles_x, total = K * tiles;
    for (I i = I(cuda_grid::global_x(t)); i < total; i += I(cuda_grid::threads_x(t))) {
      const I k = i / tiles, tile = i % tiles;
      const I tx = tile % tiles_x, ty = tile / tiles_x % tiles_y, b = tile / (tiles_x * tiles_y);
      const I plane_size = K * tiles;
      S m[A][A];
      for (int r = 0; r < A; ++r)
        for (int s = 0; s < A; ++s) m[r][s] = traits::to_compute(products[(r * A + s) * plane_size + i]);
      S Am[M][A], o[M][M];
      winograd_left_multiply<M, A, A>(AT, m, Am);
      winograd_right_multiply_transposed<M, A, M>(AT, Am, o);
      const S add = bias ? traits::to_compute(bias[k]) : S(0);
      T* out = y + (b * K + k) * P * Q;
      for (I u = 0; u < M; ++u) {
        const I p = I(M) * ty + u;
        if (p >= P) continue;
        for (I v = 0; v < M; ++v) {
          const I q = I(M) * tx + v;
          if (q < Q) out[p * Q + q] = traits::from_compute(o[u][v] + add);
        }
      }
    }
  }
};

// The filter gradient's half of the output transform: dM[ξν][k][tile] = (A dY Aᵀ)[ξ][ν] for the
// m×m tile of the output gradient (zero past P×Q): one thread per filter and tile.
template <int M, class T, class I>
struct winograd_output_adjoint_body {
  I K, P, Q, tiles_y, tiles_x, images;
  const T* dy;
  T* dM;
  STRATA_HD void operator()(const grid_index& t) const {
    using traits = precision_traits<T>;
    using S = compute_t<T>;
    using Mx = winograd_matrices<M>;
    constexpr int A = Mx::alpha;
    auto A_ = [](int i, int j) { return Mx::AT(j, i); };  // A = (Aᵀ)ᵀ, α×m
    const I tiles = images * tiles_y * tiles_x, total = K * tiles;
    for (I i = I(cuda_grid::global_x(t)); i < total; i += I(cuda_grid::threads_x(t))) {
      const I k = i / tiles, tile = i % tiles;
      const I tx = tile % tiles_x, ty = tile / tiles_x % tiles_y, b = tile / (tiles_x * tiles_y);
      const T* plane = dy + (b * K + k) * P * Q;
      S e[M][M];
      for (I u = 0; u < M; ++u)
        for (I v = 0; v < M; ++v) {
          const I p = I(M) * ty + u, q = I(M) * tx + v;
          e[u][v] = p < P && q < Q ? traits::to_compute(plane[p * Q + q]) : S(0);
        }
      S Ae[A][M], d[A][A];
      winograd_left_multiply<A, M, M>(A_, e, Ae);
      winograd_right_multiply_transposed<A, M, A>(A_, Ae, d);
      const I plane_size = K * tiles;
      for (int r = 0; r < A; ++r)
        for (int s = 0; s < A; ++s) dM[(r * A + s) * plane_size + i] = traits::from_compute(d[r][s]);
    }
  }
};

// dw[k][c] (+)= Gᵀ dU[·][k][c] G (3×3), in double and rounded once: one thread per filter pair.
template <int M, class T>
struct winograd_filter_adjoint_body {
  std::int64_t K, C;
  bool accumulate;
  const T* dU;
  T* dw;
  STRATA_HD void operator()(const grid_index& t) const {
    using traits = precision_traits<T>;
    using Mx = winograd_matrices<M>;
    constexpr int A = Mx::alpha;
    auto GT = [](int i, int j) { return Mx::G(j, i); };  // Gᵀ, 3×α
    for (std::int64_t i = cuda_grid::global_x(t); i < K * C; i += cuda_grid::threads_x(t)) {
      double u[A][A];
      for (int x = 0; x < A; ++x)
        for (int y = 0; y < A; ++y) u[x][y] = double(traits::to_compute(dU[(x * A + y) * K * C + i]));
      double Gu[3][A], g[3][3];
      winograd_left_multiply<3, A, A>(GT, u, Gu);
      winograd_right_multiply_transposed<3, A, 3>(GT, Gu, g);
      for (int r = 0; r < 3; ++r)
        for (int s = 0; s < 3; ++s) {
          T& out = dw[i * 9 + r * 3 + s];
          const double add = accumulate ? double(traits::to_compute(out)) : 0.0;
          out = traits::from_compute(compute_t<T>(add + g[r][s]));
        }
    }
  }
};

}  // namespace strata::kernels::cuda_body
