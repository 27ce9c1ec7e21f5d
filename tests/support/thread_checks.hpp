// thread_checks: assertions made on threads a test starts. Catch2 is not thread-safe (its
// counters race, found by ThreadSanitizer), so threads record each check here and the test
// reports them on its own thread after the threads have joined.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace strata::testing {

class thread_checks {
 public:
  // Records one check; `what` names it in the report when it failed.
  void expect(bool ok, const std::string& what) {
    const std::lock_guard lock(mutex_);
    ++checks_;
    if (!ok) failures_.push_back(what);
  }
  // On the test's thread, after the threads joined: one Catch2 failure per failed check.
  void report() const {
    for (const auto& f : failures_) FAIL_CHECK(f);
    CHECK(checks_ > 0);  // the threads ran their checks at all
  }

 private:
  std::mutex mutex_;
  std::int64_t checks_ = 0;
  std::vector<std::string> failures_;
};

}  // namespace strata::testing
