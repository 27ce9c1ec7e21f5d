// The binary layers are not part of every model's compile: a binary model built without their
// headers says which to include, in one error.
#include <strata/layers/batch_norm.hpp>
#include <strata/layers/conv.hpp>
#include <strata/layers/dense.hpp>
#include <strata/layers/hard_tanh.hpp>
#include <strata/net/model.hpp>
// expect: a binary model needs the binary layers: include <strata/layers/binary_conv.hpp>
// max-lines: 12
int main() {
  using namespace strata;
  using Net = Sequential<Input<1, 8, 8>, Conv<4, Pad<1>>, BatchNorm, HardTanh, Conv<4>, BatchNorm, HardTanh, Dense<2>>;
  Model<Net, binary> model;
}
