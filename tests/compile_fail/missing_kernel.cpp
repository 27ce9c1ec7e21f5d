// An operation a device has no kernel for, for this precision, is one static_assert that names
// the operation, the device and the precision (fixed point has no depthwise kernel yet).
#include <strata/layers/depthwise_conv.hpp>
#include <strata/net/model.hpp>
// expect: this operation has no kernel for this device and precision
// expect: no_kernel_for<strata::kernels::op::depthwise_conv2d, strata::cpu, strata::fixed<16, 8>
int main() {
  using T = strata::fixed<16, 8>;
  using Net = strata::Sequential<strata::Input<4, 8, 8>, strata::DepthwiseConv<strata::Kernel<3>, strata::Pad<1>>>;
  strata::Model<Net, T> m;
  strata::Tensor<T, 2> x(1, 256);
  m.forward(x);
}
