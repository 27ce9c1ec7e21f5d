// The GPU's element-wise kernels run on the CPU: the launch plan (which kernel, what grid) and
// every thread's body (device/cuda/elementwise_body.hpp) emulated over the whole grid, against
// the CPU's own evaluation of the same expressions — bit for bit, since the same evaluators run.
// Covers the flat kernel, the packet kernel (with its ragged tail, for float and half), the row
// kernel (rows of 256 and more, and more rows than a grid's y dimension: the stride over rows),
// the short-row kernel (runs of 1, 7, 33, 49, 255 with many rows, broadcasts over one and two
// outer axes), add/subtract assignment, and grids of 1 to 132 multiprocessors' worth of blocks.
// What only a GPU can check: real concurrency, memory coalescing and speed.
#include <cstdint>
#include <cstring>

#include "strata/core/broadcast.hpp"
#include "strata/core/cast.hpp"
#include "strata/core/functions.hpp"
#include "strata/core/tensor.hpp"
#include "strata/device/cuda/elementwise_body.hpp"
#include "strata/numeric/half.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::random_tensor;
namespace ce = strata::cuda_evaluator;

namespace {

// dst (mode)= e through the emulated GPU path, starting from `start`; compared with the CPU.
// An added or subtracted expression must not end in a product: with -march=native g++ may fuse
// out + a*b into one FMA in one loop and not in the other (the GPU, built with --fmad=false,
// never fuses), and the last bits would then differ for a reason that is not the kernel's.
template <assign_mode Mode, class T, std::size_t R, class MakeExpr>
void check(const Tensor<T, R>& start, MakeExpr&& make, bool aligned, int sms) {
  Tensor<T, R> want = start.clone(), got = start.clone();
  const auto e = as_node(make());
  if constexpr (Mode == assign_mode::set) want = make();
  else if constexpr (Mode == assign_mode::add) want += make();
  else want -= make();
  constexpr std::size_t k = decltype(e)::collapse_depth;
  const std::int64_t n = got.size(), inner = strata::detail::inner_extent(got.shape(), k);
  ce::emulate_assign<Mode>(got.data(), e.evaluator(k), n, inner, aligned && inner == n, sms);
  INFO("shape " << start.shape().to_string() << ", run " << inner << ", " << sms << " SMs, packets " << aligned);
  CHECK(std::memcmp(got.data(), want.data(), std::size_t(got.bytes())) == 0);
}

}  // namespace

TEST_CASE("cuda_emulated: the plan picks the kernel and grid the shape needs", "[cuda_emulated]") {
  using K = ce::elementwise_plan::kernel;
  CHECK(ce::plan_elementwise(1000, 1000, true, 132).which == K::flat_packets);
  CHECK(ce::plan_elementwise(1000, 1000, false, 132).which == K::flat);
  CHECK(ce::plan_elementwise(3000, 300, true, 132).which == K::rows);
  CHECK(ce::plan_elementwise(3000, 30, true, 132).which == K::short_rows);
  const auto big = ce::plan_elementwise(70000 * 256, 256, false, 132);
  CHECK(big.blocks.y == 65535);  // the rows past it are strided
  CHECK(ce::plan_elementwise(std::int64_t{1} << 30, std::int64_t{1} << 30, true, 132).blocks.x == 132 * 16);
  CHECK(ce::plan_elementwise(5, 5, true, 132).blocks.x == 1);
  // Short rows: a block of lanes_per_row × rows, one lane per column up to 32, a warp per row
  // beyond; never more than block_size threads, and the grid bounded like the flat kernels'.
  const auto seven = ce::plan_elementwise(7 * 1000, 7, false, 132);
  CHECK(seven.threads.x == 7);
  CHECK(seven.threads.y == 36);
  const auto long_short = ce::plan_elementwise(255 * 1000, 255, false, 132);
  CHECK(long_short.threads.x == 32);
  CHECK(long_short.threads.y == 8);
  CHECK(ce::plan_elementwise(std::int64_t{7} << 30, 7, false, 132).blocks.x == 132 * 16);
  for (const std::int64_t inner : {1, 2, 7, 31, 32, 33, 100, 255}) {
    const auto p = ce::plan_elementwise(inner * 5000, inner, false, 132);
    INFO("run " << inner);
    CHECK(p.which == K::short_rows);
    CHECK(p.threads.x * p.threads.y <= ce::block_size);
    CHECK(p.threads.x * ce::short_row_columns_per_lane >= inner);  // every column has a lane
  }
}

TEST_CASE("cuda_emulated: flat and packet kernels equal the CPU, ragged tails included", "[cuda_emulated]") {
  for (const std::int64_t n : {1, 3, 255, 1024, 4099, 100003}) {
    const auto a = random_tensor<float>(Shape{n}, 1, -2, 2), b = random_tensor<float>(Shape{n}, 2, 0.5, 3);
    const Tensor<float, 1> zero(n);
    for (const int sms : {1, 132})
      for (const bool packets : {false, true}) {
        check<assign_mode::set>(zero, [&] { return a * b + exp(a) / b; }, packets, sms);
        check<assign_mode::add>(a, [&] { return b * 2.0f; }, packets, sms);
        check<assign_mode::subtract>(a, [&] { return b - a; }, packets, sms);
      }
    // Half: packets of 8.
    const Tensor<strata::half, 1> ha = cast<strata::half>(a), hb = cast<strata::half>(b), hz(n);
    check<assign_mode::set>(hz, [&] { return ha * hb + ha; }, true, 132);
    check<assign_mode::set>(hz, [&] { return ha * hb + ha; }, false, 3);
  }
}

TEST_CASE("cuda_emulated: row and short-row kernels equal the CPU for broadcasts", "[cuda_emulated]") {
  for (const Shape<2>& s : {Shape{5, 300}, Shape{3, 256}, Shape{70000, 256}, Shape{1000, 7}, Shape{3, 1}}) {
    const auto x = random_tensor<float>(s, 3);
    const auto row = random_tensor<float>(Shape{s[1]}, 4);
    const auto col = random_tensor<float>(Shape{s[0]}, 5);
    for (const int sms : {1, 132}) {
      check<assign_mode::set>(x, [&] { return x * 2.0f - broadcast(row, axes<1>, s); }, true, sms);
      check<assign_mode::add>(x, [&] { return broadcast(col, axes<0>, s) - x * 0.5f; }, true, sms);
    }
  }
  const Shape<4> s{4, 16, 7, 7};  // a bias over NCHW planes of 49: short rows
  const auto x = random_tensor<float>(s, 6);
  const auto bias = random_tensor<float>(Shape{s[1]}, 7);
  check<assign_mode::set>(x, [&] { return x + broadcast(bias, axes<1>, s); }, true, 132);
}

TEST_CASE("cuda_emulated: short rows of 1 to 255 elements, many rows, equal the CPU bit for bit", "[cuda_emulated]") {
  // Rank 2: the row index is the broadcast's whole outer index (no division in the evaluator).
  for (const Shape<2>& s : {Shape{3000, 1}, Shape{100000, 7}, Shape{20000, 33}, Shape{3001, 255}, Shape{777, 100}}) {
    const auto x = random_tensor<float>(s, 31);
    const auto row = random_tensor<float>(Shape{s[1]}, 32);
    const auto col = random_tensor<float>(Shape{s[0]}, 33);
    for (const int sms : {1, 132}) {
      check<assign_mode::set>(x, [&] { return x * 2.0f - broadcast(row, axes<1>, s); }, false, sms);
      check<assign_mode::add>(x, [&] { return broadcast(col, axes<0>, s) - x * 0.5f; }, false, sms);
      check<assign_mode::subtract>(x, [&] { return broadcast(row, axes<1>, s) + broadcast(col, axes<0>, s); }, false, sms);
    }
  }
  // Two or three outer axes: a bias over the middle axis, and planes over NCHW (runs 7, 33, 49, 1).
  for (const Shape<4>& s : {Shape{6, 5, 3, 7}, Shape{2, 8, 32, 33}, Shape{64, 16, 7, 7}, Shape{9, 11, 13, 1}}) {
    const auto x = random_tensor<float>(s, 34);
    const auto bias = random_tensor<float>(Shape{s[1]}, 35);
    const auto row = random_tensor<float>(Shape{s[3]}, 36);
    const auto plane = random_tensor<float>(Shape{s[0], s[2]}, 37);
    for (const int sms : {1, 132}) {
      check<assign_mode::set>(x, [&] { return x * broadcast(bias, axes<1>, s) + broadcast(row, axes<3>, s); }, false, sms);
      check<assign_mode::add>(x, [&] { return x - broadcast(plane, axes<0, 2>, s); }, false, sms);
    }
  }
  // Half destinations: the same rows, values rounded once on both sides.
  const Shape<3> s{500, 4, 33};
  const Tensor<strata::half, 3> h = cast<strata::half>(random_tensor<float>(s, 38));
  const Tensor<strata::half, 1> hb = cast<strata::half>(random_tensor<float>(Shape{s[1]}, 39));
  check<assign_mode::set>(h, [&] { return h * broadcast(hb, axes<1>, s) + h; }, false, 132);
}

TEST_CASE("cuda_emulated: fill writes every element once for any grid", "[cuda_emulated]") {
  for (const std::int64_t n : {1, 255, 256, 257, 100003}) {
    Tensor<float, 1> t(n);
    const std::int64_t blocks = ce::grid_blocks(n, 7, 1);
    cuda_grid::emulate({blocks}, {ce::block_size}, [&](const cuda_grid::grid_index& i) { ce::fill_thread(i, t.data(), n, 2.5f); });
    std::int64_t wrong = 0;
    for (std::int64_t i = 0; i < n; ++i) wrong += t(i) != 2.5f;
    CHECK(wrong == 0);
  }
}
