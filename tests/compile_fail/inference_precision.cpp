// The inference path runs float and double on the CPU; a half model says so, once.
#include <strata/layers/conv.hpp>
#include <strata/layers/relu.hpp>
#include <strata/net/inference.hpp>
#include <strata/numeric/half.hpp>
// expect: the inference path runs float and double models on the CPU
// max-lines: 12
int main() {
  using Net = strata::Sequential<strata::Input<1, 8, 8>, strata::Conv<4>, strata::ReLU>;
  strata::Model<Net, strata::half> model;
  strata::Inference engine(model);
}
