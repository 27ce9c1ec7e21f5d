// Adding a matrix to a rank-3 tensor without a broadcast must not compile.
#include <strata/strata.hpp>
// expect: operands of an element-wise expression have different ranks
int main() {
  strata::Tensor<float, 2> a(2, 3);
  strata::Tensor<float, 3> b(2, 3, 4);
  strata::Tensor<float, 2> d(2, 3);
  d = a + b;
}
