// Assigning an element-wise expression allocates nothing: every global allocation in this
// executable is counted, and the count must not move while `d = a * b + c * 2` runs.
#include <atomic>
#include <cstdlib>
#include <new>

#include "strata/strata.hpp"
#include "support/testing.hpp"

namespace {
std::atomic<long> allocations{0};
}

void* operator new(std::size_t n) {
  ++allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
  ++allocations;
  const std::size_t al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
// The whole family, so that nothing allocated by one allocator is freed by another: the library's
// own array and nothrow forms call the ones above, but AddressSanitizer replaces each form
// separately and reports a block from its new freed by this free (found by scripts/sanitize).
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new[](std::size_t n, std::align_val_t a) { return ::operator new(n, a); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return ::operator new(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return ::operator new(n, t); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return ::operator new(n, a);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t& t) noexcept { return ::operator new(n, a, t); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

using namespace strata;

TEST_CASE("the counter sees allocations (the test can fail)", "[allocation]") {
  const long before = allocations.load();
  Tensor<float, 1> t(10);
  CHECK(allocations.load() == before + 1);
}

TEST_CASE("assigning d = a * b + c * 2 performs no heap allocation", "[allocation]") {
  for (std::int64_t n : {std::int64_t{1000}, std::int64_t{1} << 22}) {  // serial and threaded
    Tensor<float, 1> a(n), b(n), c(n), d(n);
    fill_uniform(a, -1, 1, 1);
    fill_uniform(b, -1, 1, 2);
    fill_uniform(c, -1, 1, 3);
    d = a * b + c * 2;  // warm-up: the OpenMP runtime may allocate its thread pool once
    const long before = allocations.load();
    d = a * b + c * 2;
    const long after = allocations.load();
    INFO("n = " << n);
    CHECK(after == before);
    CHECK(d(n - 1) == Approx(a(n - 1) * b(n - 1) + c(n - 1) * 2));
  }
}

TEST_CASE("broadcasts, casts and compound assignment allocate nothing either", "[allocation]") {
  const Shape s{8, 16, 64, 64};
  Tensor<float, 4> x(s), y(s);
  Tensor<float, 1> bias(16);
  Tensor<half, 4> h(s);
  fill_uniform(x, -1, 1, 4);
  y = x + broadcast(bias, axes<1>, s);  // warm-up
  const long before = allocations.load();
  y = max(x * 2 + broadcast(bias, axes<1>, s), 0);
  y += x;
  y *= 0.5f;
  h = cast<half>(y);
  y = cast<float>(h) - x;
  CHECK(allocations.load() == before);
}
