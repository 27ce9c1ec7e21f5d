// Storing a half expression into a float tensor needs an explicit cast.
#include <strata/strata.hpp>
// expect: the expression's element type differs from the destination's
int main() {
  strata::Tensor<strata::half, 1> h(3);
  strata::Tensor<float, 1> f(3);
  f = h * 2;
}
