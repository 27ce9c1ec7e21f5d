// A layer without a dynamic fixed-point kernel is one static_assert naming the operation, the
// device and the precision (average pooling has none).
#include <strata/layers/avg_pool.hpp>
#include <strata/net/model.hpp>
// expect: this operation has no kernel for this device and precision
// expect: no_kernel_for<strata::kernels::op::avg_pool, strata::cpu, strata::dynamic_fixed<10, 12>
int main() {
  using T = strata::dynamic_fixed<10, 12>;
  using Net = strata::Sequential<strata::Input<4, 8, 8>, strata::AvgPool<2>>;
  strata::Model<Net, T> m;
  strata::Tensor<T, 2> x(1, 256);
  m.forward(x);
}
