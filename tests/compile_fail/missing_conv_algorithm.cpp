// A forced convolution algorithm that a device does not implement for the precision is one named
// error at compile time (not a run-time "not supported"): fixed point has no Winograd (its
// transforms are not integer-exact).
#include <strata/layers/conv.hpp>
#include <strata/net/model.hpp>
// expect: this device has no kernel for the forced convolution algorithm at this precision
// expect: no_conv_algorithm_for<strata::algo::winograd<4>, strata::cpu, strata::fixed<16, 8>
int main() {
  using T = strata::fixed<16, 8>;
  using Net = strata::Sequential<strata::Input<1, 8, 8>, strata::Conv<4, strata::Pad<1>, strata::Algorithm<strata::algo::winograd<4>>>>;
  strata::Model<Net, T> m;
  strata::Tensor<T, 2> x(1, 64);
  m.forward(x);
}
