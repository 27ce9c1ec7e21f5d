// RAII guards for the global state tests change: every one restores what it found when it goes
// out of scope, also when a REQUIRE throws. (autotune_guard is in support/autotune_guard.hpp, so
// that only the tests that run convolutions include the kernels.)
//
//   strata::testing::thread_count_guard threads(4);      // set_num_threads(4) until the end of scope
//   strata::testing::parallel_threshold_guard small(1);  // every loop takes the threaded path
//   strata::testing::env_guard term("TERM", "dumb");     // or env_guard("TERM", std::nullopt) to unset
//   strata::testing::value_guard g(some_global, new_value);
#pragma once

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include "strata/core/parallel.hpp"
#include "support/skip.hpp"

namespace strata::testing {

// Sets `ref` to `value`; puts the old value back on destruction.
template <class T>
class value_guard {
 public:
  value_guard(T& ref, T value) : ref_(ref), old_(std::move(ref)) { ref_ = std::move(value); }
  ~value_guard() { ref_ = std::move(old_); }
  value_guard(const value_guard&) = delete;
  value_guard& operator=(const value_guard&) = delete;

 private:
  T& ref_;
  T old_;
};

// set_num_threads(n) for the guard's lifetime; restores the *setting* (0 = OpenMP's default), not
// num_threads()'s resolved value, so later cases are not pinned to a count.
class thread_count_guard {
 public:
  explicit thread_count_guard(int n) : old_(strata::detail::thread_setting().load()) { set_num_threads(n); }
  ~thread_count_guard() { strata::detail::thread_setting().store(old_); }
  thread_count_guard(const thread_count_guard&) = delete;
  thread_count_guard& operator=(const thread_count_guard&) = delete;

 private:
  int old_;
};

// set_parallel_threshold(elements) for the guard's lifetime: 1 sends even tiny loops down the
// threaded path (where more than one thread is available).
class parallel_threshold_guard {
 public:
  explicit parallel_threshold_guard(std::int64_t elements) : old_(parallel_threshold()) {
    set_parallel_threshold(elements);
  }
  ~parallel_threshold_guard() { set_parallel_threshold(old_); }
  parallel_threshold_guard(const parallel_threshold_guard&) = delete;
  parallel_threshold_guard& operator=(const parallel_threshold_guard&) = delete;

 private:
  std::int64_t old_;
};

// An environment variable set (or, with std::nullopt, unset) for the guard's lifetime.
class env_guard {
 public:
  env_guard(std::string name, std::optional<std::string> value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value) ::setenv(name_.c_str(), value->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  ~env_guard() {
    if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  env_guard(const env_guard&) = delete;
  env_guard& operator=(const env_guard&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// For a test that compares thread counts: after a thread_count_guard(n > 1), true when strata
// really runs more than one thread. Where it cannot (a build without OpenMP: num_threads() is
// always 1), the comparison would check a path against itself, so the test must not pass as if
// it had: skip_test() reports it (see support/skip.hpp) and this returns false; return then.
inline bool threaded_or_skip() {
  if (num_threads() > 1) return true;
  skip_test("this build runs one thread only (no OpenMP): a thread-count comparison is moot");
  return false;
}

}  // namespace strata::testing
