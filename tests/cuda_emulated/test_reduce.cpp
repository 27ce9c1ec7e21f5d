// The GPU's reductions run on the CPU: the split of each reduction over blocks and slices
// (device/cuda/reduce_body.hpp), every thread's body, the block's combination order and the
// second pass, emulated over the whole grid, against the CPU's own reductions — sums and means
// within 1e-6 relative (positive data), max and min exactly, integer sums exactly. A counting
// operand checks that every element of every output is read exactly once. Covers inner-reduced
// runs short and long (split by rows and by columns), outer reductions (split over rows, column
// tiles, runs of 1 to 300), full reductions and add/subtract into the output. What only a GPU
// can check: shuffles and barriers themselves, concurrency, coalescing and speed.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "strata/core/broadcast.hpp"
#include "strata/core/cpu_reduce.hpp"
#include "strata/core/functions.hpp"
#include "strata/core/tensor.hpp"
#include "strata/device/cuda/reduce_body.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::max_relative_error;
using strata::testing::random_tensor;
using strata::testing::to_doubles;
namespace ce = strata::cuda_evaluator;

namespace {

// An operand that counts how often each of its elements is read (and reads as 1).
struct visit_counter {
  std::vector<int>* visits;
  std::int64_t inner;
  std::int64_t operator()(std::int64_t r, std::int64_t c) const {
    ++(*visits)[static_cast<std::size_t>(r * inner + c)];
    return 1;
  }
};

// The plan the GPU uses for reducing axes A of shape s, all axes collapsible.
template <std::size_t R, std::size_t... A>
reduction_plan<R> plan_for(const Shape<R>& s, axis_list<A...> a) {
  return reduction_plan<R>::make(s, R, a);
}

template <std::size_t R, std::size_t... A>
void check_each_element_read_once(const Shape<R>& s, axis_list<A...> a) {
  const auto plan = plan_for(s, a);
  const std::int64_t out_n = s.elements() / plan.total_count;
  std::vector<int> visits(static_cast<std::size_t>(s.elements()), 0);
  std::vector<std::int64_t> out(static_cast<std::size_t>(out_n), -1);
  ce::emulate_reduce_axes<reducer::sum, std::int64_t>(out.data(), out_n, visit_counter{&visits, plan.inner}, plan,
                                                      assign_mode::set);
  const auto split = ce::plan_reduce_split(plan, out_n);
  INFO("shape " << s.to_string() << ", reducing " << ((std::to_string(A) + " ") + ...) << "; run " << plan.inner
                << (plan.inner_reduced ? " reduced" : " kept") << ", " << split.slices() << " slices, " << split.items()
                << " blocks");
  std::int64_t wrong_visits = 0, wrong_outputs = 0;
  for (const int v : visits) wrong_visits += v != 1;
  for (const std::int64_t o : out) wrong_outputs += o != plan.total_count;
  CHECK(wrong_visits == 0);
  CHECK(wrong_outputs == 0);
}

// sum, mean, max and min of x over axes A, emulated GPU against the CPU.
template <class T, std::size_t R, std::size_t... A>
void check_axes(const Tensor<T, R>& x, axis_list<A...> a) {
  using Acc = accumulate_t<T>;
  using W = cpu_evaluator::detail::wide_t<Acc>;
  constexpr std::size_t out_rank = R - sizeof...(A);
  Shape<out_rank> out_shape;
  for (std::size_t axis = 0, o = 0; axis < R; ++axis)
    if (!axis_list<A...>::contains(axis)) out_shape[o++] = x.shape()[axis];
  const auto node = as_node(x);
  const auto plan = reduction_plan<R>::make(x.shape(), decltype(node)::collapse_depth, a);
  const auto ev = node.evaluator(plan.collapsed);
  Tensor<T, out_rank> want(out_shape), got(out_shape);
  const std::int64_t out_n = got.size();
  const double sum_tolerance = std::is_floating_point_v<T> ? 1e-6 : 0.0;
  INFO("shape " << x.shape().to_string() << ", reducing " << ((std::to_string(A) + " ") + ...) << "; "
                << ce::plan_reduce_split(plan, out_n).slices() << " slices");
  want = sum(x, a);
  ce::emulate_reduce_axes<reducer::sum, W>(got.data(), out_n, ev, plan, assign_mode::set);
  CHECK(max_relative_error(to_doubles(got), to_doubles(want)) <= sum_tolerance);
  want = mean(x, a);
  ce::emulate_reduce_axes<reducer::mean, W>(got.data(), out_n, ev, plan, assign_mode::set);
  CHECK(max_relative_error(to_doubles(got), to_doubles(want)) <= sum_tolerance);
  want = max(x, a);
  ce::emulate_reduce_axes<reducer::max, W>(got.data(), out_n, ev, plan, assign_mode::set);
  CHECK(max_relative_error(to_doubles(got), to_doubles(want)) == 0.0);
  want = min(x, a);
  ce::emulate_reduce_axes<reducer::min, W>(got.data(), out_n, ev, plan, assign_mode::set);
  CHECK(max_relative_error(to_doubles(got), to_doubles(want)) == 0.0);
  // Into an output that already holds values: the second pass (or the block) combines with it.
  want += sum(x, a);
  ce::emulate_reduce_axes<reducer::sum, W>(got.data(), out_n, ev, plan, assign_mode::add);
  CHECK(max_relative_error(to_doubles(got), to_doubles(want)) <= sum_tolerance);
}

template <std::size_t R>
Tensor<std::int32_t, R> integer_tensor(const Shape<R>& s) {
  Tensor<std::int32_t, R> t(s);
  for (std::int64_t i = 0; i < t.size(); ++i) t.data()[i] = static_cast<std::int32_t>((i * 7919) % 2001 - 1000);
  return t;
}

}  // namespace

TEST_CASE("cuda_emulated: long reductions are split over blocks, by the shape alone", "[cuda_emulated][reduction]") {
  // A per-channel sum over N, H and W of (64, 64, 56, 56): 64 outputs, so one block each used
  // 64 blocks; the split gives each output several slices of whole images.
  const auto channel = plan_for(Shape{64, 64, 56, 56}, axes<0, 2, 3>);
  const auto split = ce::plan_reduce_split(channel, 64);
  CHECK(split.inner_reduced);
  CHECK(split.slices() > 1);
  CHECK(split.items() >= 512);
  CHECK(split.rows_per_part * channel.inner >= ce::reduce_block_work / 2);  // blocks with enough work
  // sum over axis 0 of (1e6, 10): ten outputs that one thread each reduced serially.
  const auto column = plan_for(Shape{1000000, 10}, axes<0>);
  const auto outer = ce::plan_reduce_split(column, 10);
  CHECK(!outer.inner_reduced);
  CHECK(outer.lanes == 10);
  CHECK(outer.rows_per_step == 25);
  CHECK(outer.items() >= 512);
  CHECK(outer.rows_per_part * outer.row_parts >= 1000000);
  // Two reduced rows under many outputs: the block takes 128 outputs, not 32 with idle threads.
  const auto two_rows = ce::plan_reduce_split(plan_for(Shape{2, 100000}, axes<0>), 100000);
  CHECK(two_rows.rows_per_step == 2);
  CHECK(two_rows.lanes == 128);
  // One long run (a full reduction of 7e6 elements): split along the run, in whole blocks' widths.
  const auto full = ce::full_reduction_plan(7000000, 7000000);
  const auto flat = ce::plan_reduce_split(full, 1);
  CHECK(flat.col_parts > 100);
  CHECK(flat.cols_per_part % ce::block_size == 0);
  CHECK(flat.slices() <= ce::reduce_max_slices);
  // Enough outputs already fill the GPU: no split, no second pass.
  CHECK(ce::plan_reduce_split(plan_for(Shape{70000, 3, 1, 8}, axes<1, 2, 3>), 70000).slices() == 1);
  CHECK(ce::plan_reduce_split(plan_for(Shape{64, 100000}, axes<0>), 100000).slices() == 1);
}

TEST_CASE("cuda_emulated: every element of every output is read exactly once", "[cuda_emulated][reduction]") {
  check_each_element_read_once(Shape{64, 64, 56, 56}, axes<0, 2, 3>);
  check_each_element_read_once(Shape{1000000, 10}, axes<0>);
  check_each_element_read_once(Shape{3, 7, 1, 300}, axes<0, 2>);
  check_each_element_read_once(Shape{3, 7, 1, 300}, axes<1, 3>);
  check_each_element_read_once(Shape{2, 3000, 5, 7}, axes<1, 2>);  // two reduced axes in a row, one kept after
  check_each_element_read_once(Shape{300, 2, 77, 3}, axes<0, 2>);  // two reduced axes apart, an outer run of 3
  check_each_element_read_once(Shape{70000, 3, 1, 8}, axes<1, 2, 3>);
  check_each_element_read_once(Shape{70000, 3, 1, 8}, axes<1>);
  check_each_element_read_once(Shape{5, 2000003}, axes<1>);  // long runs split into column parts
  check_each_element_read_once(Shape{40000, 1}, axes<0>);    // runs of 1
  check_each_element_read_once(Shape{4000, 300}, axes<0>);   // column tiles of 32 with a ragged last one
  check_each_element_read_once(Shape{4000, 33}, axes<0>);
  check_each_element_read_once(Shape{3, 5000}, axes<0>);        // 85 outputs a block, a ragged last tile
  check_each_element_read_once(Shape{1, 7, 1, 999}, axes<0, 2>);  // one reduced row
}

TEST_CASE("cuda_emulated: split axis reductions equal the CPU's", "[cuda_emulated][reduction]") {
  const auto x = random_tensor<float>(Shape{64, 64, 56, 56}, 1, 0, 1);
  check_axes(x, axes<0, 2, 3>);  // per channel: the batch-norm statistics
  check_axes(x, axes<1>);
  const auto tall = random_tensor<float>(Shape{1000000, 10}, 2, 0, 1);
  check_axes(tall, axes<0>);
  const auto small = random_tensor<float>(Shape{3, 7, 1, 300}, 3, 0, 1);
  check_axes(small, axes<0>);
  check_axes(small, axes<0, 3>);
  check_axes(small, axes<1, 2, 3>);
  const auto many = random_tensor<float>(Shape{70000, 3, 1, 8}, 4, 0, 1);
  check_axes(many, axes<1, 2, 3>);
  check_axes(many, axes<0>);
  const auto wide = random_tensor<double>(Shape{64, 4097}, 5, 0, 1);
  check_axes(wide, axes<0>);
  check_axes(wide, axes<1>);
  const auto ints = integer_tensor(Shape{300, 2, 77, 3});  // integer sums exactly
  check_axes(ints, axes<0, 2>);
  check_axes(ints, axes<1, 3>);
  check_axes(integer_tensor(Shape{5, 2000003}), axes<1>);
  check_axes(integer_tensor(Shape{200000, 7}), axes<0>);
  check_axes(integer_tensor(Shape{3, 50000}), axes<0>);
  check_axes(random_tensor<float>(Shape{2, 3, 40000}, 12, 0, 1), axes<0>);
}

TEST_CASE("cuda_emulated: a fused operand with a broadcast is reduced as on the CPU", "[cuda_emulated][reduction]") {
  const Shape s{8, 12, 9, 11};
  const auto x = random_tensor<float>(s, 6, 0, 1), dy = random_tensor<float>(s, 7, 0, 1);
  const auto m = random_tensor<float>(Shape{12}, 8, -1, 0);
  const auto e = as_node((x - broadcast(m, axes<1>, s)) * dy);
  const auto plan = reduction_plan<4>::make(s, decltype(e)::collapse_depth, axes<0, 2, 3>);
  Tensor<float, 1> want(12), got(12);
  want = sum((x - broadcast(m, axes<1>, s)) * dy, axes<0, 2, 3>);
  ce::emulate_reduce_axes<reducer::sum, double>(got.data(), 12, e.evaluator(plan.collapsed), plan, assign_mode::set);
  CHECK(max_relative_error(to_doubles(got), to_doubles(want)) <= 1e-6);
  want -= max((x - broadcast(m, axes<1>, s)) * dy, axes<0, 2, 3>);
  ce::emulate_reduce_axes<reducer::max, double>(got.data(), 12, e.evaluator(plan.collapsed), plan, assign_mode::subtract);
  CHECK(max_relative_error(to_doubles(got), to_doubles(want)) <= 1e-6);
}

TEST_CASE("cuda_emulated: full reductions equal the CPU's, one run or short rows", "[cuda_emulated][reduction]") {
  const auto x = random_tensor<float>(Shape{7, 1000003}, 9, 0, 1);
  const auto ev = as_node(x).evaluator(2);
  const std::int64_t n = x.size();
  CHECK(std::abs(ce::emulate_reduce_all<reducer::sum, double>(ev, n, n) - double(sum(x))) <= 1e-6 * sum(x));
  CHECK(float(ce::emulate_reduce_all<reducer::max, double>(ev, n, n)) == max(x));
  CHECK(float(ce::emulate_reduce_all<reducer::min, double>(ev, n, n)) == min(x));
  // A broadcast leaves runs of 7: the rows are the split's reduced rows.
  const Shape s{150000, 7};
  const auto y = random_tensor<float>(s, 10, 0, 1);
  const auto row = random_tensor<float>(Shape{7}, 11, 0, 1);
  const auto e = as_node(y * broadcast(row, axes<1>, s));
  const double got = ce::emulate_reduce_all<reducer::sum, double>(e.evaluator(1), s.elements(), 7);
  CHECK(std::abs(got - double(sum(y * broadcast(row, axes<1>, s)))) <= 1e-6 * got);
  // Integers exactly; and every element read once.
  const auto ints = integer_tensor(Shape{3, 1000001});
  std::int64_t want = 0;
  for (std::int64_t i = 0; i < ints.size(); ++i) want += ints.data()[i];
  CHECK(ce::emulate_reduce_all<reducer::sum, std::int64_t>(as_node(ints).evaluator(2), ints.size(), ints.size()) == want);
  std::vector<int> visits(1050007, 0);
  CHECK(ce::emulate_reduce_all<reducer::sum, std::int64_t>(visit_counter{&visits, 7}, 1050007, 7) == 1050007);
  std::int64_t wrong = 0;
  for (const int v : visits) wrong += v != 1;
  CHECK(wrong == 0);
}
