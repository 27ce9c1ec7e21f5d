// Catching the exception a call must throw, to look at it.
//
//   auto e = strata::testing::caught<data_error>([&] { read_idx(path); });   // FAILs if nothing / other
//   CHECK_THAT(strata::testing::message_of<archive_error>([&] { ... }), Contains("CRC"));
#pragma once

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <utility>

namespace strata::testing {

// The E that f() throws. Fails the test (FAIL, which throws) if f returns or throws another type.
template <class E, class F>
E caught(F&& f) {
  std::optional<E> e;
  try {
    std::forward<F>(f)();
  } catch (const E& thrown) {
    e.emplace(thrown);
  }
  if (!e) FAIL("expected an exception of the awaited type; the call returned normally");
  return *e;
}

// what() of the E that f() throws (fails the test as caught() does).
template <class E, class F>
std::string message_of(F&& f) {
  return caught<E>(std::forward<F>(f)).what();
}

}  // namespace strata::testing
