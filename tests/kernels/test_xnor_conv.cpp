// xnor_conv2d (kernels/cpu/xnor_conv.hpp) bit for bit against a ±1 integer convolution with zero
// padding computed from int8 arrays in plain loops: 3×3 pad 1 at strides 1 and 2, 1×1, 5×5 pad 2,
// 1×3 and 3×1 with padding on one axis only, images so small that every output is a border
// output, C = 1, 3, 64, 129, filter counts off the tile width, n > 1, both tiles, 1 and 2 threads;
// the tap sums of xnor_filter; xnor_conv2d_signs (the sums thresholded per channel inside the
// tiles) against thresholding those sums; and an fp32 convolution of ±1 values (ops::conv2d_forward,
// algo::reference) against the binary one through the library's packers, borders included.
#include <cstdint>
#include <random>
#include <vector>

#include "strata/kernels/cpu/bit_packing.hpp"
#include "strata/kernels/cpu/xnor_conv.hpp"
#include "strata/ops/conv2d.hpp"
#include "support/guards.hpp"
#include "support/testing.hpp"

using namespace strata;
using kernels::conv_geometry;
using kernels::cpu::words_for;
using kernels::cpu::xnor_conv2d;
using kernels::cpu::xnor_conv_workspace;
using kernels::cpu::xnor_filter;
namespace xd = kernels::cpu::xnor_detail;

namespace {

std::vector<std::int8_t> random_signs(std::int64_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::int8_t> v(std::size_t(std::max<std::int64_t>(n, 1)));
  for (auto& e : v) e = (rng() & 1) ? std::int8_t(-1) : std::int8_t(1);
  return v;
}

// NCHW int8 signs → [n][H][W][words] bits, written out from the contract (bit set for −1).
std::vector<std::uint64_t> pack_activations(const std::vector<std::int8_t>& x, std::int64_t n, std::int64_t C, std::int64_t H,
                                            std::int64_t W) {
  const std::int64_t words = words_for(C);
  std::vector<std::uint64_t> out(std::size_t(n * H * W * words), 0);
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t i = 0; i < H; ++i)
        for (std::int64_t j = 0; j < W; ++j)
          if (x[std::size_t(((b * C + c) * H + i) * W + j)] < 0)
            out[std::size_t(((b * H + i) * W + j) * words + c / 64)] |= std::uint64_t{1} << (c % 64);
  return out;
}

// [K][C][R][S] int8 signs → [K][R][S][words] bits.
std::vector<std::uint64_t> pack_filters(const std::vector<std::int8_t>& w, std::int64_t K, std::int64_t C, std::int64_t R,
                                        std::int64_t S) {
  const std::int64_t words = words_for(C);
  std::vector<std::uint64_t> out(std::size_t(K * R * S * words), 0);
  for (std::int64_t k = 0; k < K; ++k)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t r = 0; r < R; ++r)
        for (std::int64_t s = 0; s < S; ++s)
          if (w[std::size_t(((k * C + c) * R + r) * S + s)] < 0)
            out[std::size_t(((k * R + r) * S + s) * words + c / 64)] |= std::uint64_t{1} << (c % 64);
  return out;
}

// The definition: Σ x·w over the taps inside the image (zero padding), as [n][P][Q][K].
std::vector<std::int32_t> reference(const conv_geometry& g, std::int64_t n, const std::vector<std::int8_t>& x,
                                    const std::vector<std::int8_t>& w) {
  const std::int64_t P = g.P(), Q = g.Q();
  std::vector<std::int32_t> y(std::size_t(n * P * Q * g.K), 0);
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t p = 0; p < P; ++p)
      for (std::int64_t q = 0; q < Q; ++q)
        for (std::int64_t k = 0; k < g.K; ++k) {
          std::int32_t s = 0;
          for (std::int64_t c = 0; c < g.C; ++c)
            for (std::int64_t r = 0; r < g.R; ++r)
              for (std::int64_t t = 0; t < g.S; ++t) {
                const std::int64_t i = p * g.stride_y - g.pad_y + r, j = q * g.stride_x - g.pad_x + t;
                if (i < 0 || i >= g.H || j < 0 || j >= g.W) continue;
                s += x[std::size_t(((b * g.C + c) * g.H + i) * g.W + j)] * w[std::size_t(((k * g.C + c) * g.R + r) * g.S + t)];
              }
          y[std::size_t(((b * P + p) * Q + q) * g.K + k)] = s;
        }
  return y;
}

// Per channel a threshold near the sums (some equal to one of them, some past every sum) and a
// random direction; the expected sign words of sums y [pixels][K] under them, unused bits zero.
struct random_rule {
  std::vector<std::int32_t> threshold;
  std::vector<std::uint64_t> falling;
  random_rule(std::int64_t K, std::int32_t range, std::uint32_t seed) : threshold(std::size_t(K)), falling(std::size_t(words_for(K)), 0) {
    std::mt19937 rng(seed);
    for (std::int64_t k = 0; k < K; ++k) {
      threshold[std::size_t(k)] = std::int32_t(rng() % std::uint32_t(2 * range + 3)) - range - 1;
      if (rng() & 1) falling[std::size_t(k / 64)] |= std::uint64_t{1} << (k % 64);
    }
  }
  std::vector<std::uint64_t> signs_of(const std::vector<std::int32_t>& y, std::int64_t K) const {
    const std::int64_t pixels = std::int64_t(y.size()) / K, words = words_for(K);
    std::vector<std::uint64_t> out(std::size_t(pixels * words), 0);
    for (std::int64_t i = 0; i < pixels; ++i)
      for (std::int64_t k = 0; k < K; ++k) {
        const bool below = y[std::size_t(i * K + k)] < threshold[std::size_t(k)];
        const bool falls = (falling[std::size_t(k / 64)] >> (k % 64)) & 1;
        if (below != falls) out[std::size_t(i * words + k / 64)] |= std::uint64_t{1} << (k % 64);
      }
    return out;
  }
};

void check(const conv_geometry& g, std::int64_t n, std::uint32_t seed) {
  const auto x = random_signs(n * g.C * g.H * g.W, seed), w = random_signs(g.K * g.C * g.R * g.S, seed + 500);
  const auto xb = pack_activations(x, n, g.C, g.H, g.W);
  const xnor_filter f(pack_filters(w, g.K, g.C, g.R, g.S).data(), g.K, g.C, g.R, g.S);
  const auto want = reference(g, n, x, w);
  // Thresholds within a few of the sums' spread, so that both sides of many of them occur.
  const random_rule rule(g.K, std::int32_t(std::min<std::int64_t>(g.C * g.R * g.S, 12)), seed + 900);
  const auto want_signs = rule.signs_of(want, g.K);
  xnor_conv_workspace ws;
  for (xd::path p : {xd::path::automatic, xd::path::scalar}) {
    std::vector<std::int32_t> y(want.size(), -99999);
    xnor_conv2d(g, n, xb.data(), f, y.data(), ws, p);
    INFO("C " << g.C << " H " << g.H << " W " << g.W << " K " << g.K << " R " << g.R << " S " << g.S << " stride " << g.stride_y
              << "," << g.stride_x << " pad " << g.pad_y << "," << g.pad_x << " n " << n << " path " << int(p));
    CHECK(y == want);
    std::vector<std::uint64_t> signs(want_signs.size(), 0xa5a5a5a5a5a5a5a5ull);  // the unused bits must be cleared
    kernels::cpu::xnor_conv2d_signs(g, n, xb.data(), f, {rule.threshold.data(), rule.falling.data()}, signs.data(), ws, p);
    CHECK(signs == want_signs);
  }
}

}  // namespace

TEST_CASE("xnor_conv2d equals the ±1 integer convolution with zero padding: 3×3 pad 1, strides 1 and 2",
          "[kernels][xnor_conv]") {
  std::uint32_t seed = 1;
  for (std::int64_t C : {1, 3, 64, 129})
    for (std::int64_t K : {1, 5, 33})
      for (std::int64_t stride : {1, 2}) {
        check({C, 7, 9, K, 3, 3, stride, stride, 1, 1}, 2, seed++);
        check({C, 6, 5, K, 3, 3, stride, stride, 1, 1}, 1, seed++);
      }
}

TEST_CASE("xnor_conv2d equals the ±1 integer convolution for 1×1, 5×5 pad 2, 1×3 and 3×1 with padding on one axis",
          "[kernels][xnor_conv]") {
  std::uint32_t seed = 100;
  for (std::int64_t C : {1, 3, 129}) {
    check({C, 8, 6, 40, 1, 1, 1, 1, 0, 0}, 2, seed++);  // pointwise: the image is the patch matrix
    check({C, 9, 7, 9, 1, 1, 2, 2, 0, 0}, 1, seed++);
    check({C, 10, 9, 17, 5, 5, 1, 1, 2, 2}, 2, seed++);
    check({C, 7, 8, 12, 1, 3, 1, 1, 0, 1}, 2, seed++);  // 1×3, padding left and right only
    check({C, 8, 7, 12, 3, 1, 1, 2, 1, 0}, 1, seed++);  // 3×1, padding top and bottom only
    check({C, 9, 9, 6, 3, 3, 1, 1, 0, 0}, 1, seed++);   // no padding: no correction
  }
}

TEST_CASE("xnor_conv2d is exact where every output is a border output", "[kernels][xnor_conv]") {
  std::uint32_t seed = 200;
  for (std::int64_t C : {1, 3, 65}) {
    check({C, 2, 2, 7, 3, 3, 1, 1, 1, 1}, 3, seed++);
    check({C, 1, 1, 7, 3, 3, 1, 1, 1, 1}, 2, seed++);
    check({C, 3, 2, 34, 5, 5, 1, 1, 2, 2}, 2, seed++);
    check({C, 3, 3, 8, 3, 3, 2, 2, 1, 1}, 1, seed++);
  }
}

TEST_CASE("xnor_conv2d of a layer with 256 channels, many tiles, on 1 and 2 threads", "[kernels][xnor_conv][threads]") {
  const conv_geometry g{256, 12, 11, 70, 3, 3, 1, 1, 1, 1};
  for (int threads : {1, 2}) {
    const testing::thread_count_guard guard(threads);
    check(g, 3, 300);
  }
}

TEST_CASE("xnor_conv2d concatenates the taps of part-empty words (C = 32, 96) and stays exact over many blocks and threads",
          "[kernels][xnor_conv][threads]") {
  // C = 32 fills half of each tap's word: a 3×3 patch is 5 concatenated words, not 9.
  CHECK(xd::concatenates(32, 3, 3));
  CHECK(xd::concatenates(96, 3, 3));
  CHECK(xd::concatenates(1, 3, 3));
  CHECK_FALSE(xd::concatenates(64, 3, 3));
  CHECK_FALSE(xd::concatenates(256, 3, 3));
  CHECK_FALSE(xd::concatenates(32, 1, 1));  // one tap: nothing to gain
  const std::vector<std::int8_t> w = random_signs(8 * 32 * 9, 7);
  CHECK(xnor_filter(pack_filters(w, 8, 32, 3, 3).data(), 8, 32, 3, 3).patch_words() == 5);
  std::uint32_t seed = 400;
  for (int threads : {1, 2}) {
    const testing::thread_count_guard guard(threads);
    check({32, 14, 13, 64, 3, 3, 1, 1, 1, 1}, 5, seed++);  // thousands of patches: many row blocks per thread
    check({96, 9, 8, 40, 3, 3, 2, 2, 1, 1}, 3, seed++);
    check({32, 11, 12, 24, 5, 5, 1, 1, 2, 2}, 2, seed++);
    check({32, 10, 10, 16, 3, 3, 1, 1, 0, 0}, 2, seed++);  // no padding: read from the unsplit input in place
  }
}

TEST_CASE("xnor_filter's tap sums are the sums of the ±1 weights of each filter and tap", "[kernels][xnor_conv]") {
  const std::int64_t K = 5, C = 70, R = 3, S = 2;
  const auto w = random_signs(K * C * R * S, 9);
  const xnor_filter f(pack_filters(w, K, C, R, S).data(), K, C, R, S);
  for (std::int64_t k = 0; k < K; ++k)
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t s = 0; s < S; ++s) {
        std::int32_t sum = 0;
        for (std::int64_t c = 0; c < C; ++c) sum += w[std::size_t(((k * C + c) * R + r) * S + s)];
        CHECK(f.tap_sum(k, r, s) == sum);
      }
}

TEST_CASE("xnor_conv2d rejects grouped convolutions and filters of another shape", "[kernels][xnor_conv]") {
  const auto wb = pack_filters(random_signs(4 * 8 * 9, 1), 4, 8, 3, 3);
  const xnor_filter f(wb.data(), 4, 8, 3, 3);
  std::vector<std::uint64_t> x(64);
  std::vector<std::int32_t> y(1024);
  xnor_conv_workspace ws;
  CHECK_THROWS_AS(xnor_conv2d({8, 4, 4, 4, 3, 3, 1, 1, 1, 1, 2}, 1, x.data(), f, y.data(), ws), shape_error);
  CHECK_THROWS_AS(xnor_conv2d({9, 4, 4, 4, 3, 3, 1, 1, 1, 1}, 1, x.data(), f, y.data(), ws), shape_error);
}

TEST_CASE("An fp32 convolution of ±1 values with zero padding equals xnor_conv2d on the packed signs, borders included",
          "[kernels][xnor_conv]") {
  for (const conv_geometry& g : {conv_geometry{67, 9, 8, 19, 3, 3, 1, 1, 1, 1}, conv_geometry{3, 7, 7, 8, 5, 5, 2, 2, 2, 2},
                                 conv_geometry{130, 5, 6, 33, 1, 3, 1, 1, 0, 1}}) {
    const std::int64_t n = 2;
    // Real values of both signs, zeros of both signs included (they pack as +1).
    auto xv = testing::random_values<float>(n * g.input_elements(), 41, -1, 1);
    auto wv = testing::random_values<float>(g.weight_elements(), 42, -1, 1);
    xv[0] = -0.0f, xv[1] = 0.0f, wv[2] = -0.0f;
    // The ±1 values the packing stands for, in fp32: sign(v) with +1 for zeros.
    std::vector<float> xs(xv.size()), ws(wv.size()), y32(std::size_t(n * g.output_elements()));
    for (std::size_t i = 0; i < xv.size(); ++i) xs[i] = xv[i] < 0 ? -1.0f : 1.0f;
    for (std::size_t i = 0; i < wv.size(); ++i) ws[i] = wv[i] < 0 ? -1.0f : 1.0f;
    ops::conv_state<cpu, float> state;
    ops::conv2d_forward(cpu{}, algo::reference{}, g, n, xs.data(), ws.data(), static_cast<const float*>(nullptr), y32.data(), state);

    std::vector<std::uint64_t> xb(std::size_t(n * g.H * g.W * words_for(g.C))), wb(std::size_t(g.K * g.R * g.S * words_for(g.C)));
    kernels::cpu::pack_sign_nchw_to_nhwc(xv.data(), n, g.C, g.H, g.W, xb.data());
    kernels::cpu::pack_filter_signs(wv.data(), g.K, g.C, g.R, g.S, wb.data());
    const xnor_filter f(wb.data(), g.K, g.C, g.R, g.S);
    std::vector<std::int32_t> yb(y32.size());
    xnor_conv_workspace work;
    xnor_conv2d(g, n, xb.data(), f, yb.data(), work);
    const std::int64_t P = g.P(), Q = g.Q();
    std::int64_t bad = 0;
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t k = 0; k < g.K; ++k)
        for (std::int64_t p = 0; p < P; ++p)
          for (std::int64_t q = 0; q < Q; ++q)
            bad += y32[std::size_t(((b * g.K + k) * P + p) * Q + q)] != float(yb[std::size_t(((b * P + p) * Q + q) * g.K + k)]);
    INFO("C " << g.C << " K " << g.K << " " << g.R << "×" << g.S);
    CHECK(bad == 0);
  }
}
