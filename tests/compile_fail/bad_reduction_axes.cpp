// Reduction axes must be increasing and inside the rank.
#include <strata/strata.hpp>
// expect: reduction axes must be strictly increasing and below the operand's rank
int main() {
  strata::Tensor<float, 2> a(2, 3);
  strata::Tensor<float, 1> s(2);
  s = strata::sum(a, strata::axes<2>);
}
