// Reductions on the GPU against the CPU: sum and mean within 1e-6 relative (positive data, so
// the relative error is well defined), max and min exactly, integer sums exactly; every set of
// axes of a rank-4 tensor, fused operands with broadcasts, full reductions, half inputs, the
// split paths (few outputs over many elements, few outputs over many rows), and a tensor of more
// than 2^31 elements where the GPU has the memory.
#include <strata/cuda.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "support/testing.hpp"

using namespace strata;
using strata::testing::max_relative_error;
using strata::testing::random_tensor;
using strata::testing::to_doubles;

namespace {

template <std::size_t R, std::size_t... A>
void check_axes(const Tensor<float, R>& x, const Tensor<float, R, cuda>& dx, axis_list<A...> axes_) {
  Shape<R - sizeof...(A)> out;
  for (std::size_t a = 0, o = 0; a < R; ++a)
    if (!axis_list<A...>::contains(a)) out[o++] = x.shape()[a];
  Tensor<float, R - sizeof...(A)> c(out);
  Tensor<float, R - sizeof...(A), cuda> g(out);
  INFO("shape " << x.shape().to_string() << " reducing axes " << ((std::to_string(A) + " ") + ...));
  c = sum(x, axes_);
  g = sum(dx, axes_);
  CHECK(max_relative_error(to_doubles(to_host(g)), to_doubles(c)) <= 1e-6);
  c = mean(x, axes_);
  g = mean(dx, axes_);
  CHECK(max_relative_error(to_doubles(to_host(g)), to_doubles(c)) <= 1e-6);
  c = max(x, axes_);
  g = max(dx, axes_);
  CHECK(max_relative_error(to_doubles(to_host(g)), to_doubles(c)) == 0.0);
  c = min(x, axes_);
  g = min(dx, axes_);
  CHECK(max_relative_error(to_doubles(to_host(g)), to_doubles(c)) == 0.0);
}

void check_all_axes(const Shape<4>& s, std::uint64_t seed) {
  auto x = random_tensor<float>(s, seed, 0, 1);
  auto dx = to_device(x);
  check_axes(x, dx, axes<0>);
  check_axes(x, dx, axes<1>);
  check_axes(x, dx, axes<2>);
  check_axes(x, dx, axes<3>);
  check_axes(x, dx, axes<0, 1>);
  check_axes(x, dx, axes<0, 2>);
  check_axes(x, dx, axes<0, 3>);
  check_axes(x, dx, axes<1, 2>);
  check_axes(x, dx, axes<1, 3>);
  check_axes(x, dx, axes<2, 3>);
  check_axes(x, dx, axes<0, 1, 2>);
  check_axes(x, dx, axes<0, 1, 3>);
  check_axes(x, dx, axes<0, 2, 3>);
  check_axes(x, dx, axes<1, 2, 3>);
}

}  // namespace

TEST_CASE("axis reductions on the GPU match the CPU for every set of axes", "[cuda][reduction]") {
  check_all_axes(Shape{2, 3, 4, 5}, 1);
  check_all_axes(Shape{3, 7, 1, 300}, 2);    // long rows: the nested loop per block
  check_all_axes(Shape{32, 16, 28, 28}, 3);  // a small conv activation
}

TEST_CASE("a reduction with more outputs than a grid's dimension holds", "[cuda][reduction]") {
  // 70,000 outputs of an inner reduction (one block per output in reduce_inner) and of an outer one.
  auto x = random_tensor<float>(Shape{70000, 3, 1, 8}, 31, 0, 1);
  auto dx = to_device(x);
  check_axes(x, dx, axes<1, 2, 3>);
  check_axes(x, dx, axes<1>);
}

TEST_CASE("a fused operand with broadcasts is reduced on the GPU as on the CPU", "[cuda][reduction]") {
  const Shape s{8, 12, 9, 11};
  auto x = random_tensor<float>(s, 4, 0, 1), dy = random_tensor<float>(s, 5, 0, 1);
  auto m = random_tensor<float>(Shape{12}, 6, -1, 0);
  auto dx = to_device(x), ddy = to_device(dy);
  auto dm = to_device(m);
  Tensor<float, 1> c(12);
  Tensor<float, 1, cuda> g(12);
  c = sum((x - broadcast(m, axes<1>, s)) * dy, axes<0, 2, 3>);
  g = sum((dx - broadcast(dm, axes<1>, s)) * ddy, axes<0, 2, 3>);
  CHECK(max_relative_error(to_doubles(to_host(g)), to_doubles(c)) <= 1e-6);
  c += mean(x, axes<0, 2, 3>);
  g += mean(dx, axes<0, 2, 3>);
  CHECK(max_relative_error(to_doubles(to_host(g)), to_doubles(c)) <= 1e-6);
}

TEST_CASE("full reductions on the GPU match the CPU", "[cuda][reduction]") {
  auto x = random_tensor<float>(Shape{7, 1000003}, 7, 0, 1);
  auto dx = to_device(x);
  CHECK(std::abs(sum(dx) - sum(x)) <= 1e-6 * sum(x));
  CHECK(std::abs(mean(dx) - mean(x)) <= 1e-6 * mean(x));
  CHECK(max(dx) == max(x));
  CHECK(min(dx) == min(x));
  CHECK(std::abs(sum(dx * dx + 1) - sum(x * x + 1)) <= 1e-6 * sum(x * x + 1));
  Tensor<strata::half, 2> h = cast<strata::half>(x);
  auto dh = to_device(h);
  CHECK(std::abs(sum(dh) - sum(h)) <= 1e-6 * sum(h));
  Tensor<float, 1, cuda> empty;
  CHECK(sum(empty) == 0.0f);
  CHECK_THROWS_AS(max(empty), shape_error);
  Tensor<float, 1, cuda> nan_inside(1000, 1.0f);
  nan_inside.slice(500, 1).fill(NAN);
  CHECK(std::isnan(max(nan_inside)));
}

TEST_CASE("double reductions on the GPU agree with the CPU to fp64 rounding", "[cuda][reduction]") {
  auto x = random_tensor<double>(Shape{64, 4097}, 8, 0, 1);
  auto dx = to_device(x);
  CHECK(std::abs(sum(dx) - sum(x)) <= 1e-12 * sum(x));
  Tensor<double, 1> c(4097);
  Tensor<double, 1, cuda> g(4097);
  c = sum(x, axes<0>);
  g = sum(dx, axes<0>);
  CHECK(max_relative_error(to_doubles(to_host(g)), to_doubles(c)) <= 1e-12);
}

TEST_CASE("few outputs over many elements are split over blocks and still match the CPU", "[cuda][reduction]") {
  // Per-channel statistics of a (64, 64, 56, 56) activation: 64 outputs of 200,704 elements each.
  auto x = random_tensor<float>(Shape{64, 64, 56, 56}, 41, 0, 1);
  auto dx = to_device(x);
  check_axes(x, dx, axes<0, 2, 3>);
  // Ten column sums over a million rows: the reduced rows spread over threads and blocks.
  auto tall = random_tensor<float>(Shape{1000000, 10}, 42, 0, 1);
  auto dtall = to_device(tall);
  check_axes(tall, dtall, axes<0>);
  // Integers: exactly, and the same on every run (a fixed split and combination order).
  Tensor<std::int32_t, 2> ints(Shape{1000000, 10});
  for (std::int64_t i = 0; i < ints.size(); ++i) ints.data()[i] = static_cast<std::int32_t>((i * 7919) % 2001 - 1000);
  auto dints = to_device(ints);
  Tensor<std::int32_t, 1> c(10);
  Tensor<std::int32_t, 1, cuda> g(10);
  c = sum(ints, axes<0>);
  g = sum(dints, axes<0>);
  CHECK(to_doubles(to_host(g)) == to_doubles(c));
  Tensor<float, 1> first(64), again(64);
  Tensor<float, 1, cuda> gf(64);
  gf = sum(dx, axes<0, 2, 3>);
  first = to_host(gf);
  gf = sum(dx, axes<0, 2, 3>);
  again = to_host(gf);
  CHECK(to_doubles(first) == to_doubles(again));
}

TEST_CASE("a tensor of more than 2^31 elements: fill, sums and a broadcast up to its last element", "[cuda][reduction][large]") {
  std::size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess || free_bytes < (std::size_t{8} << 30)) {
    cudaGetLastError();
    WARN("skipped: needs 8 GiB of free device memory, " << (free_bytes >> 20) << " MiB free");
    return;
  }
  // 2^31 + 5 bytes as rows of 7: every 32-bit index would wrap before the end.
  constexpr std::int64_t rows = 306783379, cols = 7, n = rows * cols;
  static_assert(n == (std::int64_t{1} << 31) + 5);
  Tensor<std::uint8_t, 2, cuda> x(Shape{rows, cols});
  x.fill(std::uint8_t{3});
  CHECK(sum(x) == std::uint64_t{3} * std::uint64_t(n));
  Tensor<std::uint8_t, 1> row(cols);
  for (std::int64_t j = 0; j < cols; ++j) row(j) = static_cast<std::uint8_t>(j + 1);
  auto drow = to_device(row);
  x += broadcast(drow, axes<1>, x.shape());  // short rows of 7 (assign_short_rows)
  CHECK(sum(x) == std::uint64_t{3} * std::uint64_t(n) + std::uint64_t{28} * std::uint64_t(rows));
  std::uint8_t tail[2 * cols];
  REQUIRE(cudaMemcpy(tail, x.data() + (n - 2 * cols), sizeof tail, cudaMemcpyDeviceToHost) == cudaSuccess);
  for (std::int64_t j = 0; j < 2 * cols; ++j) CHECK(int(tail[j]) == 3 + int(j % cols) + 1);
  // Column maxima and minima over all 306,783,379 rows: the outer split past 2^31 elements.
  Tensor<std::uint8_t, 1, cuda> g(cols);
  g = max(x, axes<0>);
  CHECK(to_doubles(to_host(g)) == std::vector<double>{4, 5, 6, 7, 8, 9, 10});
  g = min(x, axes<0>);
  CHECK(to_doubles(to_host(g)) == std::vector<double>{4, 5, 6, 7, 8, 9, 10});
}
