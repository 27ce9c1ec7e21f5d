// Copying a tensor is explicit (clone()); the copy constructor does not exist.
#include <strata/strata.hpp>
// expect: use of deleted function
int main() {
  strata::Tensor<float, 1> a(3);
  strata::Tensor<float, 1> b = a;
  (void)b;
}
