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
// of words per filter row (a row's S taps are adjacent pixels): no im2col copy (the bordered copy
// is (H + 2·py)·(W + 2·px) pixels, a ninth of a 3×3 im2col; where the tiles take nibble-split
// words (AVX2) the copy splits them). Except where C leaves words part empty (C = 32 fills half of
// each tap's word): there the C bits of the taps are concatenated, patch by patch, into rows of
// words_for(R·S·C) words (5 words for a 3×3 tap of 32 channels instead of 9), a block of rows at
// a time just before the tiles read them, and the filters the same way.
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

namespace xnor_detail {

// Whether patches are concatenated bits (see the header): when that saves at least an eighth of
// the words a patch takes with one run of words per tap.
inline bool concatenates(std::int64_t C, std::int64_t R, std::int64_t S) {
  const std::int64_t direct = R * S * words_for(C);
  return C % 64 != 0 && 8 * words_for(R * S * C) <= 7 * direct;
}

// out = the C-bit taps at start + offsets[t] (words_for(C) words each, bits past C zero, as the
// packing contract keeps them) laid end to end: words_for(taps·C) words, each split into Split
// words as split_words does. Words are assembled in a register (or-ing into memory would chain
// store forwarding through every tap).
template <int Split = 1>
inline void concatenate_taps(const std::uint64_t* start, const std::int64_t* offsets, std::int64_t taps, std::int64_t C,
                             std::uint64_t* out) {
  const std::int64_t wpt = words_for(C);
  constexpr std::uint64_t low = 0x0f0f0f0f0f0f0f0full;
  const auto emit = [&](std::uint64_t word) {
    if constexpr (Split == 1) *out++ = word;
    else out[0] = word & low, out[1] = word >> 4 & low, out += 2;
  };
  std::uint64_t acc = 0;
  std::int64_t fill = 0;  // bits of acc in use
  for (std::int64_t t = 0; t < taps; ++t) {
    const std::uint64_t* src = start + offsets[t];
    for (std::int64_t w = 0; w < wpt; ++w) {
      const std::uint64_t v = src[w];
      const std::int64_t bits = std::min<std::int64_t>(64, C - 64 * w);
      acc |= v << fill;
      if (fill + bits >= 64) {
        emit(acc);
        acc = fill != 0 ? v >> (64 - fill) : 0;
        fill += bits - 64;
      } else {
        fill += bits;
      }
    }
  }
  if (fill != 0) emit(acc);
}

}  // namespace xnor_detail

// Binary filters ready for xnor_conv2d, made once from packed signs [K][R][S][words_for(C)]: the
// words in the tiles' panel order (a filter's taps concatenated where xnor_detail::concatenates),
// and the tap sums C − 2·popcount(w[k][r][s]) for the padding correction.
class xnor_filter {
 public:
  xnor_filter() = default;
  xnor_filter(const std::uint64_t* packed, std::int64_t K, std::int64_t C, std::int64_t R, std::int64_t S)
      : K_(K), C_(C), R_(R), S_(S) {
    if (K <= 0 || C <= 0 || R <= 0 || S <= 0)
      throw shape_error("xnor_filter: K " + std::to_string(K) + ", C " + std::to_string(C) + ", R " + std::to_string(R) +
                        ", S " + std::to_string(S) + " must all be positive");
    if (R * S * C > std::numeric_limits<std::int32_t>::max()) throw shape_error("xnor_filter: R·S·C exceeds int32");
    const std::int64_t wpt = words_for(C);
    concatenated_ = xnor_detail::concatenates(C, R, S);
    depth_ = concatenated_ ? words_for(R * S * C) : R * S * wpt;
    panels_.assign(std::size_t(xnor_detail::panels_for(K) * xnor_detail::split * depth_ * xnor_detail::nr + 7), 0);
    if (concatenated_) {
      std::vector<std::int64_t> offsets(std::size_t(R * S));
      for (std::int64_t t = 0; t < R * S; ++t) offsets[std::size_t(t)] = t * wpt;
      std::vector<std::uint64_t> rows(std::size_t(K * depth_));
      for (std::int64_t k = 0; k < K; ++k)
        xnor_detail::concatenate_taps(packed + k * R * S * wpt, offsets.data(), R * S, C, rows.data() + k * depth_);
      xnor_detail::pack_panels(K, depth_, rows.data(), depth_, panels());
    } else {
      xnor_detail::pack_panels(K, depth_, packed, depth_, panels());
    }
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
  // Whether patches are concatenated C-bit taps, and the packed words of one patch.
  bool concatenated() const { return concatenated_; }
  std::int64_t patch_words() const { return depth_; }
  // Σ_c w[k][c][r][s] of the ±1 weights.
  std::int32_t tap_sum(std::int64_t k, std::int64_t r, std::int64_t s) const { return tap_sums_[std::size_t((r * S_ + s) * K_ + k)]; }
  const std::int32_t* tap_sums() const { return tap_sums_.data(); }  // [R·S][K]
  // On a 64-byte boundary: the tiles load whole cache lines of a panel (a 32-byte load across
  // two lines costs two; misaligned panels made the AVX2 tile up to twice as slow).
  const std::uint64_t* panels() const { return aligned(panels_.data()); }

 private:
  template <class W>
  static W* aligned(W* p) {
    return p + (8 - std::uintptr_t(p) / 8 % 8) % 8;
  }
  std::uint64_t* panels() { return aligned(panels_.data()); }

  std::int64_t K_ = 0, C_ = 0, R_ = 0, S_ = 0, depth_ = 0;
  bool concatenated_ = false;
  std::vector<std::uint64_t> panels_;  // 7 words more than the panels, which start at panels()
  std::vector<std::int32_t> tap_sums_;
};

// What xnor_conv2d keeps between calls: the zero-bordered copy of the input and the offsets of
// the runs of words it reads.
struct xnor_conv_workspace {
  std::vector<std::uint64_t> padded;
  std::vector<std::int64_t> offsets, tap_offsets;
  std::vector<std::uint16_t> border_class;  // xnor_conv2d_signs: per output pixel
  std::vector<std::int32_t> corrections;     // per border class, the padded taps' sums per filter
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

// dst [n][H + 2·py][W + 2·px][we] = x with a border of zero words, split as the tiles read it
// (split_words) where we = split·wpt, else as packed.
inline void pad_image(const std::uint64_t* x, std::int64_t n, std::int64_t H, std::int64_t W, std::int64_t wpt,
                      std::int64_t py, std::int64_t px, std::int64_t we, std::uint64_t* dst) {
  const std::int64_t Hp = H + 2 * py, Wp = W + 2 * px;
  const auto rows = [&](std::int64_t i0, std::int64_t i1) {
    for (std::int64_t i = i0; i < i1; ++i) {
      const std::int64_t image = i / Hp, row = i % Hp;
      std::uint64_t* out = dst + i * Wp * we;
      if (row < py || row >= py + H) {
        std::fill(out, out + Wp * we, std::uint64_t{0});
        continue;
      }
      std::fill(out, out + px * we, std::uint64_t{0});
      const std::uint64_t* src = x + (image * H + row - py) * W * wpt;
      if (we == wpt) std::copy(src, src + W * wpt, out + px * we);
      else split_words(src, W * wpt, out + px * we);
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

// The product of xnor_conv2d with every tap counted (padded ones as +1 values), into y or a sink.
template <class Sink = sums_to_memory>
void convolve(const conv_geometry& g, std::int64_t n, const std::uint64_t* x, const xnor_filter& f, std::int32_t* y,
              xnor_conv_workspace& ws, path choice, Sink&& sink = {}) {
  const std::int64_t wpt = words_for(g.C), P = g.P(), Q = g.Q();
  const bool padded = g.pad_y > 0 || g.pad_x > 0, concatenated = f.concatenated();
  const std::int64_t Hp = g.H + 2 * g.pad_y, Wp = g.W + 2 * g.pad_x;
  // Words per pixel of the image the rows come from: concatenation splits its own rows.
  const std::int64_t we = concatenated ? wpt : split * wpt;
  const std::uint64_t* image = x;
  if (padded || we != wpt) {  // without padding the image is read in place where it needs no split
    ws.padded.resize(std::size_t(n * Hp * Wp * we));
    pad_image(x, n, g.H, g.W, wpt, g.pad_y, g.pad_x, we, ws.padded.data());
    image = ws.padded.data();
  }
  const std::int64_t M = n * P * Q, plane = P * Q;
  const std::int64_t row_step = g.stride_y * Wp * we, col_step = g.stride_x * we;
  const auto sequential_rows = [&](std::int64_t m0, int count, const std::uint64_t** rows, auto&& row_at) {
    std::int64_t b = m0 / plane, p = m0 % plane / Q, q = m0 % Q;
    for (int i = 0; i < count; ++i) {
      rows[i] = row_at(m0 + i, image + (b * Hp * Wp) * we + p * row_step + q * col_step);
      if (++q == Q) {
        q = 0;
        if (++p == P) p = 0, ++b;
      }
    }
  };
  if (!concatenated) {
    // One run per filter row: its S taps are S adjacent pixels, S·we words from the row's start.
    ws.offsets.resize(std::size_t(g.R));
    for (std::int64_t r = 0; r < g.R; ++r) ws.offsets[std::size_t(r)] = r * Wp * we;
    const depth_runs d{ws.offsets.data(), g.R, g.S * we, g.S * we};
    run_product(M, g.K, d, f.panels(), std::int32_t(g.R * g.S * g.C),
                [&](std::int64_t m0, int count, const std::uint64_t** rows) {
                  sequential_rows(m0, count, rows, [](std::int64_t, const std::uint64_t* start) { return start; });
                },
                y, g.K, choice, worth_threads(M, g.K, d.words()), sink);
  } else {
    // Each tile's patches concatenated into this thread's rows just before the tiles read them:
    // rows of one block of tiles (at most block_tiles·mr consecutive patches) never collide.
    ws.tap_offsets.resize(std::size_t(g.R * g.S));
    for (std::int64_t r = 0; r < g.R; ++r)
      for (std::int64_t s = 0; s < g.S; ++s) ws.tap_offsets[std::size_t(r * g.S + s)] = (r * Wp + s) * wpt;
    const std::int64_t deep = split * f.patch_words(), run = std::min(deep, slice_words),
                       taps = (deep + run - 1) / run, block_rows = block_tiles * mr;
    ws.offsets.resize(std::size_t(taps));
    for (std::int64_t t = 0; t < taps; ++t) ws.offsets[std::size_t(t)] = t * run;
    const depth_runs d{ws.offsets.data(), taps, run, deep - (taps - 1) * run};
    const std::int64_t* tap_offsets = ws.tap_offsets.data();
    const std::int64_t RS = g.R * g.S, C = g.C;
    run_product(M, g.K, d, f.panels(), std::int32_t(RS * C),
                [&](std::int64_t m0, int count, const std::uint64_t** rows) {
                  auto* block = static_cast<std::uint64_t*>(scratch<4>(std::size_t(block_rows * deep) * sizeof(std::uint64_t)));
                  sequential_rows(m0, count, rows, [&](std::int64_t m, const std::uint64_t* start) {
                    std::uint64_t* row = block + (m % block_rows) * deep;
                    concatenate_taps<split>(start, tap_offsets, RS, C, row);
                    return static_cast<const std::uint64_t*>(row);
                  });
                },
                y, g.K, choice, worth_threads(M, g.K, d.words()), sink);
  }
}

// Border classes for xnor_conv2d_signs: class[m] of output pixel m (0: no padded tap; else one
// class per distinct pair of border row and border column) and, per class, the tap sums of its
// padded taps per filter (K padded to whole panels), what correct_padding subtracts.
inline void border_classes(const conv_geometry& g, std::int64_t n, const xnor_filter& f, xnor_conv_workspace& ws) {
  const std::int64_t P = g.P(), Q = g.Q(), K = g.K, Kp = panels_for(K) * nr;
  std::vector<std::int64_t> row_id(static_cast<std::size_t>(P)), col_id(static_cast<std::size_t>(Q));
  std::vector<std::int64_t> row_of_id{-1}, col_of_id{-1};  // a representative per id (id 0: inside)
  for (std::int64_t p = 0; p < P; ++p) {
    const std::int64_t y0 = p * g.stride_y - g.pad_y;
    const bool border = y0 < 0 || y0 + g.R > g.H;
    row_id[std::size_t(p)] = border ? std::int64_t(row_of_id.size()) : 0;
    if (border) row_of_id.push_back(p);
  }
  for (std::int64_t q = 0; q < Q; ++q) {
    const std::int64_t x0 = q * g.stride_x - g.pad_x;
    const bool border = x0 < 0 || x0 + g.S > g.W;
    col_id[std::size_t(q)] = border ? std::int64_t(col_of_id.size()) : 0;
    if (border) col_of_id.push_back(q);
  }
  const std::int64_t cols = std::int64_t(col_of_id.size()), classes = std::int64_t(row_of_id.size()) * cols;
  if (classes > 65535) throw shape_error("xnor_conv2d_signs: more than 65535 border classes");
  ws.corrections.assign(std::size_t(classes * Kp), 0);
  const std::int32_t* sums = f.tap_sums();
  for (std::int64_t rc = 0; rc < std::int64_t(row_of_id.size()); ++rc)
    for (std::int64_t cc = 0; cc < cols; ++cc) {
      if (rc == 0 && cc == 0) continue;
      // A representative pixel: the class's border row and column (an inside one for id 0).
      const std::int64_t p = rc ? row_of_id[std::size_t(rc)] : -1, q = cc ? col_of_id[std::size_t(cc)] : -1;
      std::int32_t* corr = ws.corrections.data() + (rc * cols + cc) * Kp;
      for (std::int64_t r = 0; r < g.R; ++r)
        for (std::int64_t s = 0; s < g.S; ++s) {
          const std::int64_t yy = p < 0 ? 0 : p * g.stride_y - g.pad_y + r, xx = q < 0 ? 0 : q * g.stride_x - g.pad_x + s;
          if ((p < 0 || (yy >= 0 && yy < g.H)) && (q < 0 || (xx >= 0 && xx < g.W))) continue;
          for (std::int64_t k = 0; k < K; ++k) corr[k] += sums[(r * g.S + s) * K + k];
        }
    }
  ws.border_class.resize(std::size_t(n * P * Q));
  std::uint16_t* out = ws.border_class.data();
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t p = 0; p < P; ++p)
      for (std::int64_t q = 0; q < Q; ++q) *out++ = std::uint16_t(row_id[std::size_t(p)] * cols + col_id[std::size_t(q)]);
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
  convolve(g, n, x, f, y, ws, choice);
  if (g.pad_y > 0 || g.pad_x > 0) correct_padding(g, n, f, y);
}

// signs [n][P][Q][words_for(K)] = the sign bits of xnor_conv2d's sums under `rule` (bit k of a
// pixel set where (y[k] < rule.threshold[k]) XOR bit k of rule.falling): a binary convolution with
// its batch norm and sign folded, the padding corrected per border class in each finished tile,
// and no int32 sum ever written to memory. Threaded.
inline void xnor_conv2d_signs(const conv_geometry& g, std::int64_t n, const std::uint64_t* x, const xnor_filter& f,
                              const xnor_detail::sign_rule& rule, std::uint64_t* signs, xnor_conv_workspace& ws,
                              xnor_detail::path choice = xnor_detail::path::automatic) {
  using namespace xnor_detail;
  check_conv(g, n, f);
  if (n == 0) return;
  const bool padded = g.pad_y > 0 || g.pad_x > 0;
  if (padded) border_classes(g, n, f, ws);
  const sign_rule rules{padded_thresholds(rule.threshold, g.K), rule.falling};
  const std::int64_t K = g.K, Kp = panels_for(K) * nr, out_words = words_for(K);
  const std::uint16_t* classes = ws.border_class.data();
  const std::int32_t* corrections = ws.corrections.data();
  convolve(g, n, x, f, nullptr, ws, choice, [&](std::int64_t i0, int rows, std::int64_t j0, int cols, const std::int32_t* sums) {
    for (int i = 0; i < rows; ++i) {
      const std::int32_t* row = sums + i * nr;
      alignas(64) std::int32_t corrected[nr];
      if (padded && classes[i0 + i] != 0) {
        const std::int32_t* c = corrections + std::int64_t(classes[i0 + i]) * Kp + j0;
        STRATA_SIMD
        for (int j = 0; j < nr; ++j) corrected[j] = row[j] - c[j];
        row = corrected;
      }
      store_signs(row, j0, cols, K, rules, signs + (i0 + i) * out_words);
    }
  });
}

}  // namespace strata::kernels::cpu
