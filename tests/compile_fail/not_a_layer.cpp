// A type that is not a layer spec in a network is one error naming its index.
#include <strata/layers/dense.hpp>
#include <strata/net/sequential.hpp>
// expect: not_a_layer_spec_at<1, int>
// max-lines: 12
int main() {
  using Net = strata::Sequential<strata::Input<4>, strata::Dense<2>, int>;
  return Net::valid ? 0 : 1;
}
