// The shared helpers must be able to fail: a comparison that a planted NaN slips through, or a
// guard that does not restore, would make every test that uses them vacuous.
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "strata/core/parallel.hpp"
#include "support/errors.hpp"
#include "support/files.hpp"
#include "support/guards.hpp"
#include "support/testing.hpp"

using namespace strata::testing;

TEST_CASE("a NaN on one side fails every comparison, wherever it is", "[support][nan]") {
  const std::vector<double> want = {1.0, 2.0, 3.0, 4.0};
  for (std::size_t at = 0; at < want.size(); ++at) {
    INFO("NaN planted at index " << at);
    auto got = want;
    got[at] = NAN;
    CHECK_FALSE(max_relative_error(got, want) <= 1e300);
    CHECK_FALSE(max_relative_error(want, got) <= 1e300);  // NaN in the reference, finite result
    CHECK_FALSE(max_abs_error(got, want) <= 1e300);
    CHECK_FALSE(conditioned_error(got, want, std::vector<double>(4, 1.0)) <= 1e300);
    CHECK_FALSE(max_ulp_error<float>(got, want) <= 1e300);
    CHECK_FALSE(max_ulp_error<double>(want, got) <= 1e300);
  }
  // The classic idiom this replaces: NaN at index 0 followed by finite elements.
  auto got = want;
  got[0] = NAN;
  CHECK(max_relative_error(got, want) == INFINITY);
}

TEST_CASE("NaN on both sides and equal infinities compare equal; different ones do not", "[support][nan]") {
  const std::vector<double> a = {NAN, INFINITY, -INFINITY, 1.0};
  CHECK(max_relative_error(a, a) == 0.0);
  CHECK(max_abs_error(a, a) == 0.0);
  CHECK(max_ulp_error<float>(a, a) == 0.0);
  CHECK(max_relative_error({INFINITY}, {-INFINITY}) == INFINITY);
  CHECK(max_relative_error({1e300}, {INFINITY}) == INFINITY);
  CHECK(max_abs_error({INFINITY}, {1.0}) == INFINITY);
}

TEST_CASE("worse_of keeps a NaN that std::max would drop", "[support][nan]") {
  CHECK(worse_of(0.0, NAN) == INFINITY);
  CHECK(worse_of(worse_of(0.0, NAN), 1.0) == INFINITY);
  CHECK(worse_of(NAN, 1.0) == INFINITY);
  CHECK(worse_of(0.5, 0.25) == 0.5);
  CHECK(std::max(std::max(0.0, double(NAN)), 1.0) == 1.0);  // why the helper exists
}

TEST_CASE("the error measures give the textbook numbers", "[support]") {
  CHECK(max_relative_error({1.5, 2.0}, {1.0, 2.0}) == 0.5);
  CHECK(max_relative_error({1e-9}, {0.0}, 1e-6) == Approx(1e-3));
  CHECK(max_abs_error({1.0, 2.5}, {1.25, 2.0}) == 0.5);
  CHECK(conditioned_error({1.0, 3.0}, {0.0, 2.0}, {10.0, 4.0}) == 0.25);
  CHECK(conditioned_error({0.0}, {0.0}, {0.0}) == 0.0);
  CHECK(conditioned_error({1.0}, {0.0}, {0.0}) == INFINITY);
  CHECK(ulp_distance<float>(1.0, double(std::nextafter(1.0f, 2.0f))) == 1.0);
  CHECK(ulp_distance<float>(double(std::nextafter(1.0f, 0.0f)), 1.0) == 0.5);  // ulp of the larger
  CHECK(ulp_distance<double>(0.0, double(std::numeric_limits<double>::denorm_min())) == 1.0);
  CHECK(ulp_distance<float>(-0.0, 0.0) == 0.0);
  CHECK(gamma_n<float>(10) == Approx(10 * 0x1.0p-24).epsilon(1e-5));
  CHECK(sigmas(1.3, 1.0, 0.1) == Approx(3.0));
  CHECK(within_sigmas(1.3, 1.0, 0.1));
  CHECK_FALSE(within_sigmas(1.6, 1.0, 0.1));
  CHECK_FALSE(within_sigmas(NAN, 1.0, 0.1));
}

TEST_CASE("guards restore what they found, also when the scope is left by an exception", "[support][guards]") {
  const int setting = strata::detail::thread_setting().load();
  const auto threshold = strata::parallel_threshold();
  int value = 3;
  ::setenv("STRATA_SUPPORT_TEST_VAR", "before", 1);
  ::unsetenv("STRATA_SUPPORT_TEST_UNSET");
  try {
    thread_count_guard threads(3);
    parallel_threshold_guard small(1);
    value_guard v(value, 7);
    env_guard e1("STRATA_SUPPORT_TEST_VAR", "during");
    env_guard e2("STRATA_SUPPORT_TEST_UNSET", "set");
    env_guard e3("STRATA_SUPPORT_TEST_VAR2", std::nullopt);
    CHECK(strata::detail::thread_setting().load() == 3);
    CHECK(strata::parallel_threshold() == 1);
    CHECK(value == 7);
    CHECK(std::string(std::getenv("STRATA_SUPPORT_TEST_VAR")) == "during");
    CHECK(std::getenv("STRATA_SUPPORT_TEST_UNSET") != nullptr);
    throw std::runtime_error("leave the scope");
  } catch (const std::runtime_error&) {
  }
  CHECK(strata::detail::thread_setting().load() == setting);
  CHECK(strata::parallel_threshold() == threshold);
  CHECK(value == 3);
  CHECK(std::string(std::getenv("STRATA_SUPPORT_TEST_VAR")) == "before");
  CHECK(std::getenv("STRATA_SUPPORT_TEST_UNSET") == nullptr);
  ::unsetenv("STRATA_SUPPORT_TEST_VAR");
}

TEST_CASE("caught and message_of return the awaited exception", "[support][errors]") {
  const auto e = caught<std::invalid_argument>([] { throw std::invalid_argument("bad thing"); });
  CHECK(std::string(e.what()) == "bad thing");
  CHECK(message_of<std::runtime_error>([] { throw std::range_error("derived"); }) == "derived");
}

TEST_CASE("raw files round trip and the noise is deterministic", "[support][files]") {
  temp_dir dir;
  const auto noise = lcg_bytes(1000, 7);
  CHECK(noise == lcg_bytes(1000, 7));
  CHECK(noise != lcg_bytes(1000, 8));
  write_raw(dir / "a.bin", noise);
  CHECK(read_raw(dir / "a.bin") == noise);
  CHECK(read_raw_bytes(dir / "a.bin").size() == 1000);
  CHECK(read_raw(dir / "missing.bin").empty());
}
