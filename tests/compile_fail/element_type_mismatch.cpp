// Mixing float and double operands must not compile: the user says which conversion they mean.
#include <strata/strata.hpp>
// expect: the operands have different element types; convert one with strata::cast<T>(x)
int main() {
  strata::Tensor<float, 1> a(3);
  strata::Tensor<double, 1> b(3);
  auto e = a * b;
  (void)e;
}
