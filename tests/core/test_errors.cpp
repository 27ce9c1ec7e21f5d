// Runtime shape errors name the operation and both shapes, and leave the destination untouched.
#include <string>

#include "strata/strata.hpp"
#include "support/testing.hpp"

using namespace strata;
using Catch::Contains;

TEST_CASE("an element-wise shape mismatch names the operator and both shapes", "[errors]") {
  Tensor<float, 2> a(2, 3), b(3, 2);
  CHECK_THROWS_AS(a + b, shape_error);
  CHECK_THROWS_WITH(a + b, Contains("operator+") && Contains("[2, 3]") && Contains("[3, 2]"));
  CHECK_THROWS_WITH(a * (a - b), Contains("operator-") && Contains("[2, 3]") && Contains("[3, 2]"));
  CHECK_THROWS_WITH(max(a, b), Contains("max") && Contains("[3, 2]"));
}

TEST_CASE("assigning to a destination of another shape names both shapes", "[errors]") {
  Tensor<float, 2> a(2, 3, 1.0f), d(4, 4, 5.0f);
  CHECK_THROWS_WITH(d = a * 2, Contains("destination [4, 4]") && Contains("expression [2, 3]"));
  CHECK(d(0, 0) == 5.0f);  // untouched
  CHECK_THROWS_AS(d += a, shape_error);
}

TEST_CASE("broadcast, matmul and reshape errors say which extents disagree", "[errors]") {
  Tensor<float, 4> x(2, 3, 4, 4);
  Tensor<float, 1> bias(5);
  CHECK_THROWS_WITH(broadcast(bias, axes<1>, x.shape()),
                    Contains("[5]") && Contains("[2, 3, 4, 4]") && Contains("output axis 1"));
  Tensor<float, 2> a(2, 3), b(4, 5);
  CHECK_THROWS_WITH(matmul(a, b), Contains("matmul") && Contains("[2, 3]") && Contains("[4, 5]") &&
                                      Contains("inner extents 3 and 4"));
  CHECK_THROWS_WITH(a.reshape(4, 2), Contains("[2, 3]") && Contains("[4, 2]"));
  Tensor<float, 1> c(5);
  CHECK_THROWS_WITH(copy(a, c), Contains("[2, 3]") && Contains("[5]"));
}

TEST_CASE("strata's exceptions derive from one base", "[errors]") {
  Tensor<float, 2> a(2, 3), b(3, 2);
  CHECK_THROWS_AS(a + b, strata::error);
  CHECK_THROWS_AS(a.slice(1, 5), strata::error);
}
