// A layer in the middle of a network that cannot take its input is still one error, also when
// the network is used (a Model, a summary): nothing after the failing layer is computed.
#include <strata/layers/conv.hpp>
#include <strata/layers/dense.hpp>
#include <strata/layers/relu.hpp>
#include <strata/net/model.hpp>
#include <strata/net/summary.hpp>
#include <iostream>
// expect: network shape mismatch
// expect: shape_mismatch_at<1, strata::Conv<8>, strata::sample_shape<100>
// max-lines: 10
using Net = strata::Sequential<strata::Input<1, 28, 28>, strata::Dense<100>, strata::Conv<8>, strata::ReLU>;
int main() {
  strata::Model<Net> m;
  strata::print_summary<Net>(std::cout);
  return Net::parameters > 0;
}
