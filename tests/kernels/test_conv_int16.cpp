// The int16 convolutions (kernels/cpu/conv_int16.hpp) against direct int64 loops, bit for bit:
// forward, backward data and backward filter (+ bias gradient), to nearest and stochastically with
// the random bits of each output's flat index; 1×1 (the GEMM on the input itself), 3×3 and 5×5,
// strides 1 and 2, padding, odd channel counts, batches 1–3, values large enough for the spill
// and int64 paths; the same bits on 1 and 2 threads; the geometry checks.
#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "strata/core/random.hpp"
#include "strata/kernels/cpu/conv_int16.hpp"
#include "support/guards.hpp"
#include "support/int16_reference.hpp"
#include "support/testing.hpp"

using namespace strata;
using testing::random_int16;
using testing::round_reference;
using kernels::conv_geometry;
using kernels::cpu::requantize;

namespace {

std::vector<std::int16_t> round_all(const std::vector<std::int64_t>& acc, const requantize& q,
                                    const std::vector<std::int64_t>& bias = {}) {
  std::vector<std::int16_t> out(acc.size());
  for (std::size_t e = 0; e < acc.size(); ++e) out[e] = round_reference(acc[e], e, q, bias.empty() ? 0 : bias[e]);
  return out;
}

// Input pixel (h, w) of output (p, q) at filter tap (r, s), or -1 in the padding.
std::int64_t input_index(const conv_geometry& g, std::int64_t p, std::int64_t q, std::int64_t r, std::int64_t s) {
  const std::int64_t h = p * g.stride_y - g.pad_y + r, w = q * g.stride_x - g.pad_x + s;
  return h < 0 || h >= g.H || w < 0 || w >= g.W ? -1 : h * g.W + w;
}

// The three passes as direct int64 loops (flat NCHW / KCRS indices throughout).
struct sums {
  std::vector<std::int64_t> y, dx, dw, db;
};
sums reference(const conv_geometry& g, std::int64_t N, const std::vector<std::int16_t>& x, const std::vector<std::int16_t>& w,
               const std::vector<std::int16_t>& dy) {
  const std::int64_t P = g.P(), Q = g.Q(), HW = g.H * g.W, RS = g.R * g.S;
  sums out{std::vector<std::int64_t>(std::size_t(N * g.K * P * Q), 0), std::vector<std::int64_t>(std::size_t(N * g.C * HW), 0),
           std::vector<std::int64_t>(std::size_t(g.K * g.C * RS), 0), std::vector<std::int64_t>(std::size_t(g.K), 0)};
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t k = 0; k < g.K; ++k)
      for (std::int64_t p = 0; p < P; ++p)
        for (std::int64_t q = 0; q < Q; ++q) {
          const std::size_t o = std::size_t(((n * g.K + k) * P + p) * Q + q);
          const std::int64_t d = dy[o];
          out.db[std::size_t(k)] += d;
          for (std::int64_t c = 0; c < g.C; ++c)
            for (std::int64_t r = 0; r < g.R; ++r)
              for (std::int64_t s = 0; s < g.S; ++s) {
                const std::int64_t at = input_index(g, p, q, r, s);
                if (at < 0) continue;
                const std::size_t xi = std::size_t((n * g.C + c) * HW + at), wi = std::size_t((k * g.C + c) * RS + r * g.S + s);
                out.y[o] += std::int64_t(w[wi]) * x[xi];
                out.dx[xi] += std::int64_t(w[wi]) * d;
                out.dw[wi] += d * x[xi];
              }
        }
  return out;
}

struct layer {
  std::int64_t C, H, W, K, R, S, sy, sx, py, px;
  conv_geometry geometry() const { return conv_geometry{C, H, W, K, R, S, sy, sx, py, px, 1}; }
};

std::string describe(const layer& l, std::int64_t N) {
  return "C " + std::to_string(l.C) + ", " + std::to_string(l.H) + "×" + std::to_string(l.W) + " → K " + std::to_string(l.K) +
         ", " + std::to_string(l.R) + "×" + std::to_string(l.S) + ", stride " + std::to_string(l.sy) + "×" +
         std::to_string(l.sx) + ", pad " + std::to_string(l.py) + "×" + std::to_string(l.px) + ", N " + std::to_string(N);
}

struct results {
  std::vector<std::int16_t> y, dx, dw, db;
};
results run(const conv_geometry& g, std::int64_t N, const std::vector<std::int16_t>& x, const std::vector<std::int16_t>& w,
            const std::vector<std::int16_t>& dy, const std::vector<std::int32_t>& bias, const requantize& q,
            const requantize& qb) {
  results r{std::vector<std::int16_t>(std::size_t(N * g.output_elements()), 0x5a5a),
            std::vector<std::int16_t>(std::size_t(N * g.input_elements()), 0x5a5a),
            std::vector<std::int16_t>(std::size_t(g.weight_elements()), 0x5a5a), std::vector<std::int16_t>(std::size_t(g.K), 0x5a5a)};
  kernels::cpu::conv_int16_forward(g, N, x.data(), w.data(), bias.empty() ? nullptr : bias.data(), r.y.data(), q);
  kernels::cpu::conv_int16_backward_data(g, N, w.data(), dy.data(), r.dx.data(), q);
  kernels::cpu::conv_int16_backward_filter(g, N, x.data(), dy.data(), r.dw.data(), r.db.data(), q, qb);
  return r;
}

std::int64_t mismatches(const std::vector<std::int16_t>& got, const std::vector<std::int16_t>& want) {
  REQUIRE(got.size() == want.size());
  std::int64_t bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) bad += got[i] != want[i];
  return bad;
}

void check_layer(const layer& l, std::int64_t N, int range, int shift, std::uint32_t seed) {
  const conv_geometry g = l.geometry();
  const auto x = random_int16(N * g.input_elements(), seed, -range, range);
  const auto w = random_int16(g.weight_elements(), seed + 1, -range, range);
  const auto dy = random_int16(N * g.output_elements(), seed + 2, -range, range);
  std::vector<std::int32_t> bias(std::size_t(g.K));
  std::mt19937 rng(seed + 3);
  for (auto& b : bias) b = std::int32_t(rng() % 2001) - 1000;
  const sums want = reference(g, N, x, w, dy);
  std::vector<std::int64_t> bias_of_y(want.y.size());
  for (std::size_t e = 0; e < bias_of_y.size(); ++e) bias_of_y[e] = bias[e / std::size_t(g.P() * g.Q()) % std::size_t(g.K)];
  for (bool stochastic : {false, true}) {
    requantize q, qb;
    q.shift = shift, q.stochastic = stochastic, q.seed = seed, q.stream = 11;
    qb.shift = shift / 2, qb.stochastic = stochastic, qb.seed = seed + 5, qb.stream = 12, qb.lo = -1000, qb.hi = 1000;
    const results got = run(g, N, x, w, dy, bias, q, qb);
    INFO(describe(l, N) << ", values ±" << range << ", shift " << shift << (stochastic ? ", stochastic" : ", nearest"));
    CHECK(mismatches(got.y, round_all(want.y, q, bias_of_y)) == 0);
    CHECK(mismatches(got.dx, round_all(want.dx, q)) == 0);
    CHECK(mismatches(got.dw, round_all(want.dw, q)) == 0);
    CHECK(mismatches(got.db, round_all(want.db, qb)) == 0);
  }
}

const layer layers[] = {
    {5, 9, 11, 7, 1, 1, 1, 1, 0, 0},     // 1×1, stride 1: the GEMM on the input
    {6, 9, 11, 5, 1, 1, 2, 2, 0, 0},     // 1×1, stride 2: through im2col
    {3, 8, 8, 4, 3, 3, 1, 1, 1, 1},      // 3×3, same padding
    {7, 13, 10, 9, 3, 3, 2, 2, 1, 1},    // 3×3, stride 2, odd sizes
    {4, 12, 12, 6, 3, 3, 1, 1, 0, 0},    // 3×3, no padding
    {5, 11, 9, 3, 5, 5, 1, 1, 2, 2},     // 5×5, same padding
    {3, 15, 14, 8, 5, 5, 2, 2, 0, 0},    // 5×5, stride 2, no padding
    {2, 7, 9, 3, 5, 3, 1, 2, 1, 0},      // 5×3, stride 1×2, padding 1×0
    {33, 20, 20, 40, 3, 3, 1, 1, 1, 1},  // more than one tile of filters and a depth of 297
    {64, 14, 14, 33, 1, 1, 1, 1, 0, 0},  // 1×1 with several panels
};

}  // namespace

TEST_CASE("conv_int16 forward, backward data and backward filter match int64 loops bit for bit",
          "[kernels][conv_int16]") {
  std::uint32_t seed = 1;
  for (const layer& l : layers)
    for (std::int64_t N : {1, 3}) {
      check_layer(l, N, 1500, 11, seed);
      seed += 10;
    }
}

TEST_CASE("conv_int16 is exact across im2col bands (patch matrices past 1 MiB are built band by band)",
          "[kernels][conv_int16]") {
  check_layer({64, 56, 56, 8, 3, 3, 1, 1, 1, 1}, 1, 2000, 12, 300);   // 4 bands forward, 14 backward
  check_layer({120, 61, 61, 4, 3, 3, 2, 2, 1, 1}, 2, 2000, 12, 310);  // stride 2, 3 bands forward
}

TEST_CASE("conv_int16 stays exact with full-range values (chunks spilled into int64) and shifts past 30",
          "[kernels][conv_int16]") {
  std::uint32_t seed = 700;
  for (const layer& l : {layers[0], layers[3], layers[5], layers[8]})
    for (int shift : {20, 33}) {
      check_layer(l, 2, 32767, shift, seed);
      seed += 10;
    }
  // −32768 in both operands: pairs of (−32768)² sum to 2^31, read back through the wrap rule.
  const layer l = layers[2];
  const conv_geometry g = l.geometry();
  const std::int64_t N = 2;
  const std::vector<std::int16_t> x(std::size_t(N * g.input_elements()), -32768), w(std::size_t(g.weight_elements()), -32768),
      dy(std::size_t(N * g.output_elements()), -32768);
  const sums want = reference(g, N, x, w, dy);
  requantize q, qb;
  q.shift = 36, qb.shift = 3, qb.lo = -32768;
  const results got = run(g, N, x, w, dy, {}, q, qb);
  CHECK(mismatches(got.y, round_all(want.y, q)) == 0);
  CHECK(mismatches(got.dx, round_all(want.dx, q)) == 0);
  CHECK(mismatches(got.dw, round_all(want.dw, q)) == 0);
  CHECK(mismatches(got.db, round_all(want.db, qb)) == 0);
}

TEST_CASE("conv_int16 gives the same bits on 1 and 2 threads, batch split or not", "[kernels][conv_int16][threads]") {
  const testing::parallel_threshold_guard everything_parallel(1);
  std::uint32_t seed = 900;
  for (const layer& l : {layers[3], layers[8], layers[9]})
    for (std::int64_t N : {1, 2, 3}) {
      const conv_geometry g = l.geometry();
      const auto x = random_int16(N * g.input_elements(), seed, -3000, 3000);
      const auto w = random_int16(g.weight_elements(), seed + 1, -3000, 3000);
      const auto dy = random_int16(N * g.output_elements(), seed + 2, -3000, 3000);
      const std::vector<std::int32_t> bias(std::size_t(g.K), 17);
      requantize q, qb;
      q.shift = 12, q.stochastic = true, q.seed = 3, qb = q;
      results one, two;
      {
        const testing::thread_count_guard threads(1);
        one = run(g, N, x, w, dy, bias, q, qb);
      }
      {
        const testing::thread_count_guard threads(2);
        two = run(g, N, x, w, dy, bias, q, qb);
      }
      INFO(describe(l, N));
      CHECK(one.y == two.y);
      CHECK(one.dx == two.dx);
      CHECK(one.dw == two.dw);
      CHECK(one.db == two.db);
      const sums want = reference(g, N, x, w, dy);
      CHECK(mismatches(two.dw, round_all(want.dw, q)) == 0);
      seed += 10;
    }
}

TEST_CASE("conv_int16 refuses grouped convolutions and filters larger than the padded input", "[kernels][conv_int16]") {
  const std::vector<std::int16_t> v(64);
  std::vector<std::int16_t> out(64);
  const requantize q;
  const conv_geometry grouped{4, 4, 4, 4, 3, 3, 1, 1, 1, 1, 2};
  CHECK_THROWS_AS(kernels::cpu::conv_int16_forward(grouped, 1, v.data(), v.data(), nullptr, out.data(), q), shape_error);
  const conv_geometry too_big{1, 2, 2, 1, 3, 3, 1, 1, 0, 0, 1};
  CHECK_THROWS_AS(kernels::cpu::conv_int16_backward_data(too_big, 1, v.data(), v.data(), out.data(), q), shape_error);
  CHECK_THROWS_AS(kernels::cpu::conv_int16_backward_filter(too_big, 1, v.data(), v.data(), out.data(), nullptr, q, q),
                  shape_error);
}
