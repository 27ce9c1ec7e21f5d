// A CPU tensor and a CUDA tensor in one expression must not compile.
#include <strata/strata.hpp>
// expect: the operands live on different devices
void f(strata::Tensor<float, 2, strata::cpu>& a, strata::Tensor<float, 2, strata::cuda>& b) {
  auto e = a + b;
  (void)e;
}
int main() {}
