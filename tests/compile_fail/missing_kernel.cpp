// An operation a device has no kernel for, for this precision, is one static_assert that names
// the operation, the device and the precision.
#include <strata/layers/max_pool.hpp>
#include <strata/net/model.hpp>
// expect: this operation has no kernel for this device and precision
// expect: no_kernel_for<strata::kernels::op::max_pool, strata::cpu, strata::half>
int main() {
  using Net = strata::Sequential<strata::Input<1, 8, 8>, strata::MaxPool<2>>;
  strata::Model<Net, strata::half> m;
  strata::Tensor<strata::half, 2> x(1, 64);
  m.forward(x);
}
