// Tensor and TensorView semantics: layout, ownership, views, slices, copies.
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "strata/strata.hpp"
#include "support/testing.hpp"

using namespace strata;

TEST_CASE("a new tensor is zero-filled, row-major and 64-byte aligned", "[tensor]") {
  Tensor<float, 4> t(2, 3, 4, 5);
  CHECK(t.shape() == Shape{2, 3, 4, 5});
  CHECK(t.size() == 120);
  CHECK(t.bytes() == 480);
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
  for (std::int64_t i = 0; i < t.size(); ++i) CHECK(t.data()[i] == 0.0f);
  t(1, 2, 3, 4) = 7.0f;
  CHECK(t.data()[((1 * 3 + 2) * 4 + 3) * 5 + 4] == 7.0f);
  CHECK(t.shape().strides() == std::array<std::int64_t, 4>{60, 20, 5, 1});
  CHECK(t.shape().to_string() == "[2, 3, 4, 5]");
}

TEST_CASE("extents and indices are 64-bit", "[tensor]") {
  STATIC_REQUIRE(std::is_same_v<decltype(Tensor<float, 2>{}.size()), std::int64_t>);
  STATIC_REQUIRE(std::is_same_v<decltype(std::declval<const Shape<2>&>()[0]), std::int64_t>);
  // An extent beyond 2^31 is representable (not allocated here).
  Shape<2> big{std::int64_t{1} << 20, std::int64_t{1} << 14};
  CHECK(big.elements() == std::int64_t{1} << 34);
}

TEST_CASE("moving a tensor transfers its buffer; copying is explicit", "[tensor]") {
  STATIC_REQUIRE(!std::is_copy_constructible_v<Tensor<float, 2>>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<Tensor<float, 2>>);
  Tensor<float, 2> a(3, 4);
  a(1, 1) = 5.0f;
  const float* buffer = a.data();
  Tensor<float, 2> b = std::move(a);
  CHECK(b.data() == buffer);
  CHECK(a.data() == nullptr);
  CHECK(a.empty());
  Tensor<float, 2> c = b.clone();
  CHECK(c.data() != b.data());
  CHECK(c(1, 1) == 5.0f);
  c(1, 1) = 6.0f;
  CHECK(b(1, 1) == 5.0f);
}

TEST_CASE("assignment writes values into existing storage and checks the shape", "[tensor]") {
  Tensor<float, 2> a(2, 3, 1.5f), b(2, 3);
  const float* storage = b.data();
  b = a;
  CHECK(b.data() == storage);
  CHECK(b(1, 2) == 1.5f);
  Tensor<float, 2> wrong(3, 2);
  CHECK_THROWS_AS(wrong = a, shape_error);
  // An empty tensor takes the shape of what is assigned to it.
  Tensor<float, 2> empty;
  empty = a * 2;
  CHECK(empty.shape() == Shape{2, 3});
  CHECK(empty(0, 0) == 3.0f);
  // Also an empty one: no storage, but the shape (the first 0 images of a set are [0, 3]).
  Tensor<float, 2> none;
  none = a.slice(0, 0);
  CHECK(none.shape() == Shape{0, 3});
  CHECK(none.data() == nullptr);
  b = 4;  // a scalar fills
  CHECK(b(1, 1) == 4.0f);
}

TEST_CASE("extents and a fill value of another type: each extent converted exactly", "[tensor]") {
  // Through their common type (float) 2^24 + 1 would round to 2^24.
  const Tensor<float, 1> t(16777217, 1.5f);
  CHECK(t.size() == 16777217);
  CHECK(t(16777216) == 1.5f);
  const Tensor<double, 2> u(std::int64_t{3}, 5, 0.25);
  CHECK(u.shape() == Shape{3, 5});
}

TEST_CASE("a view wraps foreign memory without copying", "[tensor][view]") {
  std::vector<double> memory(12);
  for (std::size_t i = 0; i < memory.size(); ++i) memory[i] = double(i);
  auto v = map(memory.data(), Shape{3, 4});
  CHECK(v.data() == memory.data());
  CHECK(v(2, 1) == 9.0);
  v(0, 0) = -1.0;
  CHECK(memory[0] == -1.0);
  Tensor<double, 2> t(3, 4);
  t = v * 2;  // views are expression operands
  CHECK(t(2, 3) == 22.0);
  v = t;  // and destinations: values are written through
  CHECK(memory[11] == 22.0);
  TensorView<const double, 2> read_only = v;
  CHECK(read_only(1, 0) == 8.0);
}

TEST_CASE("a batch slice is a view of consecutive samples", "[tensor][view]") {
  Tensor<float, 4> batch(8, 3, 2, 2);
  fill_uniform(batch, 0, 1, 7);
  auto middle = batch.slice(2, 3);
  CHECK(middle.shape() == Shape{3, 3, 2, 2});
  CHECK(middle.data() == batch.data() + 2 * 12);
  middle = 0;
  for (std::int64_t n = 0; n < 8; ++n) {
    const bool zeroed = n >= 2 && n < 5;
    CHECK((batch(n, 1, 1, 1) == 0.0f) == zeroed);
  }
  auto sample = batch[6];
  CHECK(sample.shape() == Shape{3, 2, 2});
  CHECK(&sample(2, 1, 0) == &batch(6, 2, 1, 0));
  CHECK_THROWS_AS(batch.slice(6, 3), index_error);
  CHECK_THROWS_AS(batch[8], index_error);
}

TEST_CASE("reshape and flat views keep the elements in place", "[tensor][view]") {
  Tensor<int, 3> t(2, 3, 4);
  for (std::int64_t i = 0; i < t.size(); ++i) t.data()[i] = int(i);
  auto m = t.reshape(6, 4);
  CHECK(m(5, 3) == 23);
  CHECK(t.flat()(13) == 13);
  CHECK_THROWS_AS(t.reshape(5, 5), shape_error);
}

#if STRATA_CHECK_BOUNDS
// Compiled only where bounds checks are on: in Debug builds, and always in the core.tensor.checked
// target (built with -DSTRATA_CHECK_BOUNDS=1), so the Release CI runs it too.
TEST_CASE("element access outside the extents throws in checked builds", "[tensor][bounds]") {
  Tensor<float, 2> t(2, 3);
  CHECK_THROWS_AS(t(2, 0), index_error);
  CHECK_THROWS_AS(t(0, 3), index_error);
  CHECK_THROWS_AS(t(-1, 0), index_error);
  CHECK_THROWS_WITH(t(0, -1), Catch::Contains("(0, -1)") && Catch::Contains("[2, 3]"));
  CHECK_NOTHROW(t(1, 2));
  // Views and slices check against their own extents, not their parent's.
  auto rows = t.slice(1, 1);
  CHECK_THROWS_AS(rows(1, 0), index_error);
  CHECK_NOTHROW(rows(0, 2));
  const Tensor<int, 3> c(2, 2, 2);
  CHECK_THROWS_WITH(c(0, 2, 0), Catch::Contains("(0, 2, 0)") && Catch::Contains("[2, 2, 2]"));
}
#endif

TEST_CASE("copy moves values between tensors of equal element count", "[tensor]") {
  Tensor<float, 2> a(2, 6);
  fill_uniform(a, -1, 1, 3);
  Tensor<float, 3> b(3, 2, 2);
  copy(a, b);
  CHECK(b(2, 1, 1) == a(1, 5));
  Tensor<float, 1> c(5);
  CHECK_THROWS_AS(copy(a, c), shape_error);
}

TEST_CASE("a temporary tensor in an expression is owned by the expression", "[tensor][expression]") {
  Tensor<float, 1> a(4, 2.0f);
  auto make = [] { return Tensor<float, 1>(Shape<1>{4}, 3.0f); };
  auto e = a * make();  // the temporary is moved into e: nothing dangles
  Tensor<float, 1> d = e;
  CHECK(d(3) == 6.0f);
}

TEST_CASE("an expression held in auto reads its operands when assigned, not when built", "[tensor][expression]") {
  // The README's rule: an expression refers to named tensors; evaluate it while they live.
  Tensor<float, 1> a(3, 1.0f), b(3, 2.0f);
  auto e = a + b;
  a = 10;
  Tensor<float, 1> d = e;
  CHECK(d(0) == 12.0f);
}

TEST_CASE("resize reallocates only when the element count changes", "[tensor]") {
  Tensor<float, 2> t(4, 6);
  const float* p = t.data();
  t.resize(Shape{6, 4});
  CHECK(t.data() == p);
  CHECK(t.shape() == Shape{6, 4});
  t(1, 2) = 5.0f;
  t.resize(Shape{5, 5});
  CHECK(t.size() == 25);
  CHECK(t.shape() == Shape{5, 5});
  CHECK(t.data() != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
  t(4, 4) = 1.0f;  // the whole new extent is usable
  CHECK(t(4, 4) == 1.0f);
  t.resize(Shape{0, 3});
  CHECK(t.size() == 0);
  CHECK(t.empty());
}
