// A view of const elements is read-only.
#include <strata/strata.hpp>
// expect: cannot assign to a view of const elements
int main() {
  const strata::Tensor<float, 1> a(3);
  strata::Tensor<float, 1> b(3);
  auto v = a.view();
  v = b * 2;
}
