// A matrix product is not fused into an element-wise expression.
#include <strata/strata.hpp>
// expect: a matrix product or an axis reduction cannot be an operand of an element-wise expression
int main() {
  strata::Tensor<float, 2> a(2, 2), b(2, 2), d(2, 2);
  d = strata::matmul(a, b) + a;
}
