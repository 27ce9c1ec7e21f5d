// strata/kernels/cpu/xnor_conv.hpp — binary 2-D convolution (groups = 1, any R × S, stride and
// zero padding of conv_geometry) on sign bits packed channels-last (bit_packing.hpp): xnor_filter,
// the prepared filters, and xnor_conv2d, which writes int32 sums [n][P][Q][K].
//
// Semantics: y[n][p][q][k] = Σ over the taps (r, s) that fall inside the image of
// (C − 2·popcount(x ⊕ w)), i.e. exactly an fp32 convolution of ±1 values with zero padding: a
// padded tap contributes 0, not ±C. How: the input is copied into a zero-bordered image (zero words
// are +1 values), every output then sums all R·S taps, and the tap sums Σ_c w[k][c][r][s] =
// C − 2·popcount(w[k][r][s]) of its padded taps are subtracted at border outputs (the correction of
// Larq Compute Engine's zero_padding_correction; the bits of a padded tap never need to exist).
// The product itself is xnor_gemm.hpp's tiles reading each patch straight from the image, one run
// of words per tap: no im2col copy (the bordered copy is (H + 2·py)·(W + 2·px) pixels, a ninth
// of a 3×3 im2col; where the tiles take nibble-split words (AVX2) the copy splits them).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/core/parallel.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cpu/bit_packing.hpp"
#include "strata/kernels/cpu/xnor_gemm.hpp"

namespace strata::kernels::cpu {

// Binary filters ready for xnor_conv2d, made once from packed signs [K][R][S][words_for(C)]: the
// words in the tiles' panel order, and the tap sums C − 2·popcount(w[k][r][s]) for the padding
// correction.
class xnor_filter {
 public:
  xnor_filter() = default;
  xnor_filter(const std::uint64_t* packed, std::int64_t K, std::int64_t C, std::int64_t R, std::int64_t S)
      : K_(K), C_(C), R_(R), S_(S) {
    if (K <= 0 || C <= 0 || R <= 0 || S <= 0)
      throw shape_error("xnor_filter: K " + std::to_string(K) + ", C " + std::to_string(C) + ", R " + std::to_string(R) +
                        ", S " + std::to_string(S) + " must all be positive");
    if (R * S * C > std::numeric_limits<std::int32_t>::max()) throw shape_error("xnor_filter: R·S·C exceeds int32");
    const std::int64_t wpt = words_for(C), depth = R * S * wpt;
    panels_.assign(std::size_t(xnor_detail::panels_for(K) * xnor_detail::split * depth * xnor_detail::nr), 0);
    xnor_detail::pack_panels(K, depth, packed, depth, panels_.data());
    tap_sums_.resize(std::size_t(R * S * K));
    for (std::int64_t k = 0; k < K; ++k)
      for (std::int64_t t = 0; t < R * S; ++t) {
        std::int64_t ones = 0;
        for (std::int64_t w = 0; w < wpt; ++w) ones += simd::popcount(packed[(k * R * S + t) * wpt + w]);
        tap_sums_[std::size_t(t * K + k)] = std::int32_t(C - 2 * ones);
      }
  }

  std::int64_t K() const { return K_; }
  std::int64_t C() const { return C_; }
  std::int64_t R() const { return R_; }
  std::int64_t S() const { return S_; }
  std::int64_t words_per_tap() const { return words_for(C_); }
  // Σ_c w[k][c][r][s] of the ±1 weights.
  std::int32_t tap_sum(std::int64_t k, std::int64_t r, std::int64_t s) const { return tap_sums_[std::size_t((r * S_ + s) * K_ + k)]; }
  const std::int32_t* tap_sums() const { return tap_sums_.data(); }  // [R·S][K]
  const std::uint64_t* panels() const { return panels_.data(); }

 private:
  std::int64_t K_ = 0, C_ = 0, R_ = 0, S_ = 0;
  std::vector<std::uint64_t> panels_;
  std::vector<std::int32_t> tap_sums_;
};

// What xnor_conv2d keeps between calls: the zero-bordered copy of the input and the tap offsets.
struct xnor_conv_workspace {
  std::vector<std::uint64_t> padded;
  std::vector<std::int64_t> offsets;
};

namespace xnor_detail {

inline void check_conv(const conv_geometry& g, std::int64_t n, const xnor_filter& f) {
  if (g.groups != 1) throw shape_error("xnor_conv2d: only groups = 1 (got " + std::to_string(g.groups) + ")");
  if (f.K() != g.K || f.C() != g.C || f.R() != g.R || f.S() != g.S)
    throw shape_error("xnor_conv2d: the filter is " + std::to_string(f.K()) + "×" + std::to_string(f.C()) + "×" +
                      std::to_string(f.R()) + "×" + std::to_string(f.S()) + ", the geometry wants " + std::to_string(g.K) +
                      "×" + std::to_string(g.C) + "×" + std::to_string(g.R) + "×" + std::to_string(g.S));
  if (n < 0 || g.H <= 0 || g.W <= 0 || g.stride_y <= 0 || g.stride_x <= 0 || g.pad_y < 0 || g.pad_x < 0 || g.P() <= 0 ||
      g.Q() <= 0)
    throw shape_error("xnor_conv2d: the geometry has no output");
}

// dst [n][H + 2·py][W + 2·px][split·wpt] = x with a border of zero words, split as the tiles
// read it (split_words).
inline void pad_image(const std::uint64_t* x, std::int64_t n, std::int64_t H, std::int64_t W, std::int64_t wpt,
                      std::int64_t py, std::int64_t px, std::uint64_t* dst) {
  const std::int64_t Hp = H + 2 * py, Wp = W + 2 * px, we = split * wpt;
  const auto rows = [&](std::int64_t i0, std::int64_t i1) {
    for (std::int64_t i = i0; i < i1; ++i) {
      const std::int64_t image = i / Hp, row = i % Hp;
      std::uint64_t* out = dst + i * Wp * we;
      if (row < py || row >= py + H) {
        std::fill(out, out + Wp * we, std::uint64_t{0});
        continue;
      }
      std::fill(out, out + px * we, std::uint64_t{0});
      split_words(x + (image * H + row - py) * W * wpt, W * wpt, out + px * we);
      std::fill(out + (px + W) * we, out + Wp * we, std::uint64_t{0});
    }
  };
  if (n * Hp * Wp * wpt >= parallel_threshold()) parallel_ranges(n * Hp, rows, 1, 1);
  else rows(0, n * Hp);
}

// y −= the tap sums of the padded taps, at the outputs that have any.
inline void correct_padding(const conv_geometry& g, std::int64_t n, const xnor_filter& f, std::int32_t* y) {
  const std::int64_t P = g.P(), Q = g.Q(), K = g.K;
  const std::int32_t* sums = f.tap_sums();
  const auto rows = [&](std::int64_t i0, std::int64_t i1) {
    for (std::int64_t i = i0; i < i1; ++i) {
      const std::int64_t p = i % P, y0 = p * g.stride_y - g.pad_y;
      const bool row_border = y0 < 0 || y0 + g.R > g.H;
      for (std::int64_t q = 0; q < Q; ++q) {
        const std::int64_t x0 = q * g.stride_x - g.pad_x;
        if (!row_border && x0 >= 0 && x0 + g.S <= g.W) continue;
        std::int32_t* out = y + (i * Q + q) * K;
        for (std::int64_t r = 0; r < g.R; ++r)
          for (std::int64_t s = 0; s < g.S; ++s) {
            const std::int64_t yy = y0 + r, xx = x0 + s;
            if (yy >= 0 && yy < g.H && xx >= 0 && xx < g.W) continue;
            const std::int32_t* t = sums + (r * g.S + s) * K;
            STRATA_SIMD
            for (std::int64_t k = 0; k < K; ++k) out[k] -= t[k];
          }
      }
    }
  };
  if (g.pad_y == 0 && g.pad_x == 0) return;
  if (n * P * Q * K >= parallel_threshold()) parallel_ranges(n * P, rows, 1, 1);
  else rows(0, n * P);
}

}  // namespace xnor_detail

// y [n][P][Q][K] = the binary convolution of x [n][H][W][words_for(C)] (packed signs) with f:
// Σ over the taps inside the image of C − 2·popcount(x ⊕ w), zero padding, g's stride. Channels
// last, so that a caller can threshold one pixel's K sums into packed bits. Threaded.
inline void xnor_conv2d(const conv_geometry& g, std::int64_t n, const std::uint64_t* x, const xnor_filter& f, std::int32_t* y,
                        xnor_conv_workspace& ws, xnor_detail::path choice = xnor_detail::path::automatic) {
  using namespace xnor_detail;
  check_conv(g, n, f);
  if (n == 0) return;
  const std::int64_t wpt = words_for(g.C), P = g.P(), Q = g.Q();
  const bool padded = g.pad_y > 0 || g.pad_x > 0;
  const std::int64_t Hp = g.H + 2 * g.pad_y, Wp = g.W + 2 * g.pad_x, we = split * wpt;
  const std::uint64_t* image = x;
  if (padded || split > 1) {  // without padding the image is read in place where the tiles take packed words
    ws.padded.resize(std::size_t(n * Hp * Wp * we));
    pad_image(x, n, g.H, g.W, wpt, g.pad_y, g.pad_x, ws.padded.data());
    image = ws.padded.data();
  }
  ws.offsets.resize(std::size_t(g.R * g.S));
  for (std::int64_t r = 0; r < g.R; ++r)
    for (std::int64_t s = 0; s < g.S; ++s) ws.offsets[std::size_t(r * g.S + s)] = (r * Wp + s) * we;
  const depth_runs d{ws.offsets.data(), g.R * g.S, we, we};
  const std::int64_t M = n * P * Q, plane = P * Q;
  const std::int64_t row_step = g.stride_y * Wp * we, col_step = g.stride_x * we;
  run_product(M, g.K, d, f.panels(), std::int32_t(g.R * g.S * g.C),
              [&](std::int64_t m0, int count, const std::uint64_t** rows) {
                std::int64_t b = m0 / plane, p = m0 % plane / Q, q = m0 % Q;
                for (int i = 0; i < count; ++i) {
                  rows[i] = image + (b * Hp * Wp) * we + p * row_step + q * col_step;
                  if (++q == Q) {
                    q = 0;
                    if (++p == P) p = 0, ++b;
                  }
                }
              },
              y, g.K, choice, worth_threads(M, g.K, d.words()));
  if (padded) correct_padding(g, n, f, y);
}

}  // namespace strata::kernels::cpu
