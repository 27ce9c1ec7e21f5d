// im2col (tiled into bands), gemm_1x1 and the vectorised direct convolution against the fp64
// reference loops on random data, over borders, strides, odd sizes, channel counts that are not
// multiples of the SIMD width and batch 1; every available candidate of every pass against the
// reference (so a newly listed algorithm is tested at once), at 1, 2, 3 and 8 threads; and
// algo::automatic's choices, modes and recorded plans.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <fstream>
#include <utility>
#include <iterator>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/core/cast.hpp"
#include "strata/kernels/cpu/conv_algorithms.hpp"
#include "support/autotune_guard.hpp"
#include "support/files.hpp"
#include "support/guards.hpp"
#include "support/testing.hpp"

using namespace strata;
using kernels::conv_geometry;

namespace {

double norm_relative(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0, ref = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff += (a[i] - b[i]) * (a[i] - b[i]), ref += b[i] * b[i];
  const double e = std::sqrt(diff / std::max(ref, 1e-300));
  return std::isnan(e) ? INFINITY : e;  // a NaN anywhere fails
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
  using kernel = kernels::conv_kernel<A, cpu, T>;
  kernel::forward(g, n, xt.data(), wt.data(), bt.data(), y.data(), state);
  kernel::backward_data(g, n, wt.data(), dyt.data(), dx.data(), state);
  kernel::backward_filter(g, n, xt.data(), dyt.data(), dw.data(), db.data(), state);
  double e = 0;
  for (double pass : {norm_relative(as_doubles(y), as_doubles(y_ref)), norm_relative(as_doubles(dx), as_doubles(dx_ref)),
                      norm_relative(as_doubles(dw), as_doubles(dw_ref)), norm_relative(as_doubles(db), as_doubles(db_ref))})
    e = testing::worse_of(e, pass);
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

// fp32 bound of each algorithm (norm-wise, against fp64): Winograd's transforms amplify rounding.
template <class A>
double float_bound() {
  if constexpr (std::is_same_v<A, algo::winograd<4>>) return 2e-5;
  else if constexpr (std::is_same_v<A, algo::winograd<2>>) return 5e-6;
  else return 2e-6;
}

TEST_CASE("every available candidate runs every pass like the reference, at any thread count", "[kernels][conv][candidates]") {
  const std::vector<conv_geometry> shapes = {
      {3, 7, 9, 5, 3, 3, 1, 1, 1, 1}, {9, 5, 5, 7, 3, 3, 1, 1, 0, 0}, {4, 3, 3, 2, 3, 3, 1, 1, 2, 2},
      {2, 9, 9, 3, 5, 5, 1, 1, 2, 2}, {5, 8, 8, 6, 3, 3, 2, 2, 1, 1}, {7, 5, 6, 9, 1, 1, 1, 1, 0, 0},
      {3, 9, 9, 4, 1, 1, 3, 2, 0, 0}, {3, 6, 7, 4, 1, 3, 1, 1, 0, 1}, {17, 12, 12, 16, 3, 3, 1, 1, 1, 1}};
  int runs = 0;
  for (int threads : {1, 2, 3, 8}) {
    const testing::thread_count_guard guard(threads);
    for (const auto& g : shapes)
      // Batches below, at and above the thread count: per-image and per-thread chunking both run.
      for (std::int64_t n : {std::int64_t{1}, std::int64_t{threads}, 2 * std::int64_t{threads} + 1}) {
        algo::detail::for_each_candidate<double>([&](std::size_t, auto tag) {
          using A = decltype(tag);
          if (!A::supports(g)) return;
          INFO(A::name << " on C" << g.C << " " << g.H << "x" << g.W << " K" << g.K << " " << g.R << "x" << g.S << " stride "
                       << g.stride_y << "," << g.stride_x << " pad " << g.pad_y << " batch " << n << ", " << threads << " threads");
          CHECK(worst_error<A, double>(g, n) <= 1e-12);
          CHECK(worst_error<A, float>(g, n) <= float_bound<A>());
          ++runs;
        });
      }
  }
  CHECK(runs >= 4 * 3 * 20);
}

namespace {
// Forward and backward-data outputs of A at the current thread count (fp32).
template <class A>
std::pair<std::vector<float>, std::vector<float>> float_passes(const conv_geometry& g, std::int64_t n) {
  Tensor<float, 1> x(n * g.input_elements()), w(g.weight_elements()), b(g.K), dy(n * g.output_elements());
  fill_uniform(x, -1, 1, 11);
  fill_uniform(w, -1, 1, 12);
  fill_uniform(b, -1, 1, 13);
  fill_uniform(dy, -1, 1, 14);
  Tensor<float, 1> y(n * g.output_elements()), dx(n * g.input_elements());
  algo::conv_state<float> state;
  kernels::conv_kernel<A, cpu, float>::forward(g, n, x.data(), w.data(), b.data(), y.data(), state);
  kernels::conv_kernel<A, cpu, float>::backward_data(g, n, w.data(), dy.data(), dx.data(), state);
  return {std::vector<float>(y.data(), y.data() + y.size()), std::vector<float>(dx.data(), dx.data() + dx.size())};
}
}  // namespace

namespace {
// |a − b| at most `tolerance` of the largest |b|.
bool close(const std::vector<float>& a, const std::vector<float>& b, double tolerance) {
  if (a.size() != b.size()) return false;
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(double(a[i]) - b[i]));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return worst <= tolerance * scale;
}
}  // namespace

TEST_CASE("forward and backward data give the same results at any thread count", "[kernels][conv][candidates][threads]") {
  // Each output is computed by one thread in a fixed order, whatever the split: where strata's
  // own loops compute (the direct forward pass), 2, 3 and 8 threads reproduce 1 thread bit for
  // bit. Passes that call the system BLAS for a batch smaller than the thread count hand it all
  // the threads, and OpenBLAS's AVX-512 kernels round a GEMM split over more threads differently
  // (seen on Zen 4: im2col at 8 threads, Winograd's batched GEMMs at 2), so those are held to
  // float rounding. (Backward filter sums per-thread partials; it is checked against the
  // reference above.)
  const std::vector<conv_geometry> shapes = {{16, 12, 12, 16, 3, 3, 1, 1, 1, 1}, {8, 11, 9, 6, 5, 5, 1, 1, 2, 2},
                                             {12, 10, 10, 8, 1, 1, 1, 1, 0, 0}, {6, 13, 13, 5, 3, 3, 2, 2, 1, 1}};
  for (const auto& g : shapes)
    algo::detail::for_each_candidate<float>([&](std::size_t, auto tag) {
      using A = decltype(tag);
      if (!A::supports(g)) return;
      std::pair<std::vector<float>, std::vector<float>> one;
      {
        const testing::thread_count_guard guard(1);
        one = float_passes<A>(g, 5);
      }
      for (int threads : {2, 3, 8}) {
        const testing::thread_count_guard guard(threads);
        INFO(A::name << " on C" << g.C << " " << g.H << "x" << g.W << " " << g.R << "x" << g.S << ", " << threads << " threads");
        const auto many = float_passes<A>(g, 5);
        if constexpr (std::is_same_v<A, algo::direct>) CHECK(many.first == one.first);
        CHECK(close(many.first, one.first, 1e-5));
        CHECK(close(many.second, one.second, 1e-5));
      }
    });
}

TEST_CASE("automatic times the candidates once per shape and reports what it chose", "[kernels][conv][automatic]") {
  const conv_geometry g{8, 12, 12, 8, 3, 3, 1, 1, 1, 1};
  Tensor<float, 1> x(2 * g.input_elements()), w(g.weight_elements()), y(2 * g.output_elements()), ref(y.shape());
  fill_uniform(x, -1, 1, 5);
  fill_uniform(w, -1, 1, 6);
  kernels::cpu::conv_direct_forward(g, 2, x.data(), w.data(), static_cast<const float*>(nullptr), ref.data());
  const testing::conv_tuning_guard timing(conv_tuning::timed);
  algo::conv_state<float> state;
  state.layer = "test layer";
  const auto before = algo::conv_choices().size();
  int runs = 0;
  for (int call = 0; call < 3; ++call)
    kernels::conv_kernel<algo::automatic, cpu, float>::dispatch(algo::conv_pass::forward, g, 2, state, [&](auto a) {
      ++runs;
      kernels::conv_kernel<decltype(a), cpu, float>::forward(g, 2, x.data(), w.data(), static_cast<const float*>(nullptr),
                                                             y.data(), state);
    });
  const auto choices = algo::conv_choices();
  REQUIRE(choices.size() == before + 1);  // one decision, reused by the later calls
  const auto& c = choices.back();
  CHECK(c.layer == "test layer");
  CHECK(c.timed);
  CHECK(c.precision == "fp32");
  // im2col, direct, winograd<2>, winograd<4> and fft support 3×3 (gemm_1x1 does not).
  std::size_t expected = 0;
  algo::detail::for_each_candidate<float>([&](std::size_t, auto tag) { expected += decltype(tag)::supports(g); });
  CHECK(c.milliseconds.size() == expected);
  bool winner_was_timed = false;
  for (const auto& [name, ms] : c.milliseconds) winner_was_timed |= name == c.algorithm;
  CHECK(winner_was_timed);
  // Two or three timing runs per candidate (a hopeless one stops after its second), three for
  // the winner, then one per call.
  const int timed = static_cast<int>(c.milliseconds.size());
  CHECK(runs <= 3 * timed + 3);
  CHECK(runs >= 2 * timed + 3);  // every candidate at least twice, then the two later calls and one more
  double diff = 0, norm = 0;
  for (std::int64_t i = 0; i < y.size(); ++i) diff += double(y.data()[i] - ref.data()[i]) * (y.data()[i] - ref.data()[i]), norm += double(ref.data()[i]) * ref.data()[i];
  CHECK(std::sqrt(diff / norm) <= 1e-4);  // whichever won, the result is a correct convolution
}

namespace {
// The algorithm automatic records for a forward pass of g at batch n under `label`.
std::string pick(const conv_geometry& g, const std::string& label, std::int64_t n = 1) {
  algo::conv_state<float> state;
  state.layer = label;
  Tensor<float, 1> x(n * g.input_elements()), w(g.weight_elements()), y(n * g.output_elements());
  kernels::conv_kernel<algo::automatic, cpu, float>::forward(g, n, x.data(), w.data(), nullptr, y.data(), state);
  for (const auto& c : algo::conv_choices())
    if (c.layer == label) return c.algorithm;
  return "none";
}
}  // namespace

TEST_CASE("without autotuning the rule of thumb picks per kernel shape", "[kernels][conv][automatic]") {
  {
    const testing::autotune_guard rule_of_thumb(false);
    CHECK(pick({64, 14, 14, 32, 1, 1, 1, 1, 0, 0}, "rule 1x1") == "gemm_1x1");
    CHECK(pick({64, 20, 20, 64, 3, 3, 1, 1, 1, 1}, "rule 3x3") == "winograd<4>");
    CHECK(pick({8, 6, 6, 8, 3, 3, 1, 1, 1, 1}, "rule small 3x3") == "winograd<2>");
    CHECK(pick({16, 20, 20, 16, 3, 3, 2, 2, 1, 1}, "rule strided") == "im2col");
    const bool fft_here = kernels::conv_available<algo::fft, float, cpu>;
    CHECK(pick({8, 20, 20, 8, 5, 5, 1, 1, 2, 2}, "rule 5x5") == (fft_here ? "fft" : "im2col"));
  }
  for (const auto& c : algo::conv_choices())
    if (c.layer.rfind("rule", 0) == 0) CHECK_FALSE(c.timed);
}

TEST_CASE("without transforms automatic keeps to plain sums of products", "[kernels][conv][automatic]") {
  const conv_geometry g3{64, 20, 20, 64, 3, 3, 1, 1, 1, 1}, g5{8, 20, 20, 8, 5, 5, 1, 1, 2, 2};
  {
    const testing::autotune_guard rule_of_thumb(false);
    const testing::transforms_guard exact(false);
    CHECK(pick(g3, "exact rule 3x3") == "im2col");
    CHECK(pick(g5, "exact rule 5x5") == "im2col");
  }
  {
    const testing::conv_tuning_guard timing(conv_tuning::timed);
    const testing::transforms_guard exact(false);
    const std::string timed = pick(g3, "exact timed 3x3", 2);
    CHECK((timed == "im2col" || timed == "direct"));
    for (const auto& c : algo::conv_choices())
      if (c.layer == "exact timed 3x3")
        for (const auto& [name, ms] : c.milliseconds) CHECK(std::string(name).find("winograd") == std::string::npos);
  }
  // The same layer state follows the setting when it changes.
  {
    const testing::autotune_guard rule_of_thumb(false);
    algo::conv_state<float> state;
    state.layer = "switching";
    Tensor<float, 1> x(g3.input_elements()), w(g3.weight_elements()), y(g3.output_elements());
    std::string seen;
    const auto run = [&] {
      kernels::conv_kernel<algo::automatic, cpu, float>::dispatch(algo::conv_pass::forward, g3, 1, state, [&](auto a) {
        seen = decltype(a)::name;
        kernels::conv_kernel<decltype(a), cpu, float>::forward(g3, 1, x.data(), w.data(), nullptr, y.data(), state);
      });
    };
    run();
    CHECK(seen == "winograd<4>");
    {
      const testing::transforms_guard exact(false);
      run();
      CHECK(seen == "im2col");
    }
    run();
    CHECK(seen == "winograd<4>");
  }
}

TEST_CASE("a recorded conv plan makes the same choices without timing", "[kernels][conv][automatic][plan]") {
  const testing::conv_tuning_guard restore(conv_tuning::timed);
  const testing::temp_dir dir;
  const conv_geometry g{6, 10, 10, 6, 3, 3, 1, 1, 1, 1};
  const std::string chosen = pick(g, "plan source", 3);
  save_conv_plan((dir.path / "plan.txt").string());
  // A fresh process is simulated by a key no decision exists for yet: batch 3 was decided, so
  // the plan is edited to name another algorithm for it, and a new batch size is asked for.
  std::ifstream in(dir.path / "plan.txt");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text.rfind("strata-conv-plan 1\n", 0) == 0);
  CHECK(text.find(chosen) != std::string::npos);
  {
    std::ofstream out(dir.path / "plan2.txt");
    out << "strata-conv-plan 1\n";
    // key of batch 5, fp32, this thread count, inference
    out << "0,6,10,10,6,3,3,1,1,1,1,5,fp32," << num_threads() << ",i im2col\n";
  }
  load_conv_plan((dir.path / "plan2.txt").string());
  CHECK(get_conv_tuning() == conv_tuning::plan);
  CHECK(pick(g, "plan follower", 5) == "im2col");
  bool found = false;
  for (const auto& c : algo::conv_choices())
    if (c.layer == "plan follower") {
      found = true;
      CHECK_FALSE(c.timed);
    }
  CHECK(found);
  // Malformed plans are refused with the file and line, and change nothing.
  {
    std::ofstream out(dir.path / "bad.txt");
    out << "strata-conv-plan 1\nno-space-here\n";
  }
  CHECK_THROWS_WITH(load_conv_plan((dir.path / "bad.txt").string()), Catch::Contains("line 2"));
  CHECK_THROWS_WITH(load_conv_plan((dir.path / "missing.txt").string()), Catch::Contains("cannot read"));
  CHECK(get_conv_tuning() == conv_tuning::plan);
}
