// im2col (tiled into bands), gemm_1x1 and the vectorised direct convolution against the fp64
// reference loops on random data, over borders, strides, odd sizes, channel counts that are not
// multiples of the SIMD width and batch 1; and algo::automatic's choices and reports.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/core/cast.hpp"
#include "strata/kernels/cpu/conv_algorithms.hpp"
#include "support/testing.hpp"

using namespace strata;
using kernels::conv_geometry;

namespace {

double norm_relative(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0, ref = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff += (a[i] - b[i]) * (a[i] - b[i]), ref += b[i] * b[i];
  return std::sqrt(diff / std::max(ref, 1e-300));
}

template <class T>
std::vector<double> as_doubles(const Tensor<T, 1>& t) {
  return std::vector<double>(t.data(), t.data() + t.size());
}

// All three passes of algorithm A in precision T against the fp64 reference; returns the worst
// ‖out − ref‖ / ‖ref‖.
template <class A, class T>
double worst_error(const conv_geometry& g, std::int64_t n) {
  Tensor<double, 1> x(n * g.input_elements()), w(g.weight_elements()), b(g.K), dy(n * g.output_elements());
  fill_uniform(x, -1, 1, 1);
  fill_uniform(w, -1, 1, 2);
  fill_uniform(b, -1, 1, 3);
  fill_uniform(dy, -1, 1, 4);
  Tensor<double, 1> y_ref(n * g.output_elements()), dx_ref(n * g.input_elements()), dw_ref(g.weight_elements()), db_ref(g.K);
  kernels::cpu::conv_direct_forward(g, n, x.data(), w.data(), b.data(), y_ref.data());
  kernels::cpu::conv_direct_backward_data(g, n, w.data(), dy.data(), dx_ref.data());
  kernels::cpu::conv_direct_backward_filter(g, n, x.data(), dy.data(), dw_ref.data(), db_ref.data());
  Tensor<T, 1> xt = cast<T>(x), wt = cast<T>(w), bt = cast<T>(b), dyt = cast<T>(dy);
  Tensor<T, 1> y(y_ref.shape()), dx(dx_ref.shape()), dw(dw_ref.shape()), db(db_ref.shape());
  algo::conv_state<T> state;
  A::forward(g, n, xt.data(), wt.data(), bt.data(), y.data(), state);
  A::backward_data(g, n, wt.data(), dyt.data(), dx.data(), state);
  A::backward_filter(g, n, xt.data(), dyt.data(), dw.data(), db.data(), state);
  const double e = std::max({norm_relative(as_doubles(y), as_doubles(y_ref)), norm_relative(as_doubles(dx), as_doubles(dx_ref)),
                             norm_relative(as_doubles(dw), as_doubles(dw_ref)), norm_relative(as_doubles(db), as_doubles(db_ref))});
  return e;
}

const std::vector<conv_geometry> general_shapes = {
    {3, 7, 9, 5, 3, 3, 1, 1, 1, 1},    // odd sizes, padding 1
    {5, 8, 8, 6, 3, 3, 2, 2, 1, 1},    // stride 2
    {2, 9, 9, 3, 5, 5, 1, 1, 2, 2},    // 5×5
    {3, 6, 7, 4, 1, 3, 1, 1, 0, 1},    // 1×3
    {3, 7, 6, 4, 3, 1, 1, 1, 1, 0},    // 3×1
    {2, 11, 10, 3, 7, 7, 2, 2, 3, 3},  // 7×7 stride 2
    {9, 5, 5, 7, 3, 3, 1, 1, 0, 0},    // no padding, C = 9
    {4, 3, 3, 2, 3, 3, 1, 1, 2, 2},    // padding larger than the image's border
};

}  // namespace

TEST_CASE("im2col matches the fp64 reference in all three passes", "[kernels][conv][im2col]") {
  for (const auto& g : general_shapes)
    for (std::int64_t n : {1, 3}) {
      INFO("C" << g.C << " " << g.H << "x" << g.W << " K" << g.K << " " << g.R << "x" << g.S << " stride " << g.stride_y << " pad "
               << g.pad_y << " batch " << n);
      CHECK(worst_error<algo::im2col, double>(g, n) <= 1e-13);
      CHECK(worst_error<algo::im2col, float>(g, n) <= 1e-6);
    }
}

TEST_CASE("im2col splits large patch matrices into bands and stays exact", "[kernels][conv][im2col]") {
  // 64 channels of 3×3 over 40 columns: 576 × 40 values per output row, so a 1 MiB band holds
  // 11 rows and the 40 output rows take 4 bands.
  const conv_geometry g{64, 40, 40, 8, 3, 3, 1, 1, 1, 1};
  REQUIRE(kernels::cpu::detail::band_rows(g, sizeof(float)) < g.P());
  CHECK(worst_error<algo::im2col, double>(g, 2) <= 1e-13);
  CHECK(worst_error<algo::im2col, float>(g, 2) <= 1e-6);
}

TEST_CASE("gemm_1x1 matches the reference at stride 1 and 2", "[kernels][conv][gemm_1x1]") {
  for (const conv_geometry& g : {conv_geometry{7, 5, 6, 9, 1, 1, 1, 1, 0, 0}, conv_geometry{7, 7, 8, 5, 1, 1, 2, 2, 0, 0},
                                 conv_geometry{3, 9, 9, 4, 1, 1, 3, 2, 0, 0}}) {
    REQUIRE(algo::gemm_1x1::supports(g));
    for (std::int64_t n : {1, 4}) {
      CHECK(worst_error<algo::gemm_1x1, double>(g, n) <= 1e-13);
      CHECK(worst_error<algo::gemm_1x1, float>(g, n) <= 1e-6);
    }
  }
  CHECK_FALSE(algo::gemm_1x1::supports(conv_geometry{3, 5, 5, 4, 3, 3, 1, 1, 1, 1}));
  CHECK_FALSE(algo::gemm_1x1::supports(conv_geometry{3, 5, 5, 4, 1, 1, 1, 1, 1, 1}));
}

TEST_CASE("the vectorised direct convolution matches the reference", "[kernels][conv][direct]") {
  for (const auto& g : general_shapes)
    for (std::int64_t n : {1, 2}) {
      CHECK(worst_error<algo::direct, double>(g, n) <= 1e-13);
      CHECK(worst_error<algo::direct, float>(g, n) <= 1e-6);
    }
}

TEST_CASE("automatic times the candidates once per shape and reports what it chose", "[kernels][conv][automatic]") {
  const conv_geometry g{8, 12, 12, 8, 3, 3, 1, 1, 1, 1};
  Tensor<float, 1> x(2 * g.input_elements()), w(g.weight_elements()), y(2 * g.output_elements()), ref(y.shape());
  fill_uniform(x, -1, 1, 5);
  fill_uniform(w, -1, 1, 6);
  kernels::cpu::conv_direct_forward(g, 2, x.data(), w.data(), static_cast<const float*>(nullptr), ref.data());
  algo::conv_state<float> state;
  const auto before = algo::conv_choices().size();
  int runs = 0;
  for (int call = 0; call < 3; ++call)
    algo::automatic::dispatch(algo::conv_pass::forward, g, 2, state, "test layer", [&](auto a) {
      ++runs;
      decltype(a)::forward(g, 2, x.data(), w.data(), static_cast<const float*>(nullptr), y.data(), state);
    });
  const auto choices = algo::conv_choices();
  REQUIRE(choices.size() == before + 1);  // one decision, reused by the later calls
  const auto& c = choices.back();
  CHECK(c.layer == "test layer");
  CHECK(c.timed);
  CHECK(c.milliseconds.size() >= 3);  // im2col, direct, winograd<2>, winograd<4> (+ fft) support 3×3
  bool winner_was_timed = false;
  for (const auto& [name, ms] : c.milliseconds) winner_was_timed |= name == c.algorithm;
  CHECK(winner_was_timed);
  // Two or three timing runs per candidate (a hopeless one stops after its second), three for
  // the winner, then one per call.
  const int timed = static_cast<int>(c.milliseconds.size());
  CHECK(runs <= 3 * timed + 3);
  CHECK(runs >= timed + 2 + 3);
  double diff = 0, norm = 0;
  for (std::int64_t i = 0; i < y.size(); ++i) diff += double(y.data()[i] - ref.data()[i]) * (y.data()[i] - ref.data()[i]), norm += double(ref.data()[i]) * ref.data()[i];
  CHECK(std::sqrt(diff / norm) <= 1e-4);  // whichever won, the result is a correct convolution
}

TEST_CASE("without autotuning the rule of thumb picks per kernel shape", "[kernels][conv][automatic]") {
  algo::set_conv_autotune(false);
  const auto pick = [](const conv_geometry& g, const std::string& layer) {
    algo::conv_state<float> state;
    Tensor<float, 1> x(g.input_elements()), w(g.weight_elements()), y(g.output_elements());
    algo::automatic::dispatch(algo::conv_pass::forward, g, 1, state, layer, [&](auto a) {
      decltype(a)::forward(g, 1, x.data(), w.data(), static_cast<const float*>(nullptr), y.data(), state);
    });
    for (const auto& c : algo::conv_choices())
      if (c.layer == layer) return c.algorithm;
    return std::string("none");
  };
  CHECK(pick({64, 14, 14, 32, 1, 1, 1, 1, 0, 0}, "rule 1x1") == "gemm_1x1");
  CHECK(pick({64, 20, 20, 64, 3, 3, 1, 1, 1, 1}, "rule 3x3") == "winograd<4>");
  CHECK(pick({16, 20, 20, 16, 3, 3, 2, 2, 1, 1}, "rule strided") == "im2col");
  algo::set_conv_autotune(true);
  for (const auto& c : algo::conv_choices())
    if (c.layer.rfind("rule", 0) == 0) CHECK_FALSE(c.timed);
}
