// A binary model binarises every Conv/Dense but the last; one whose input is not ±1 (here a ReLU's
// output, which sign would map to +1 everywhere) is named in one static_assert.
#include <strata/layers/batch_norm.hpp>
#include <strata/layers/binary_conv.hpp>
#include <strata/layers/binary_dense.hpp>
#include <strata/layers/conv.hpp>
#include <strata/layers/dense.hpp>
#include <strata/layers/hard_tanh.hpp>
#include <strata/layers/relu.hpp>
#include <strata/layers/sign.hpp>
#include <strata/net/model.hpp>
// expect: strata::Model<Net, binary>: Net cannot be binarised
// expect: binary_layer_input_not_sign_at<3
// max-lines: 40
int main() {
  using namespace strata;
  using Net = Sequential<Input<1, 8, 8>, Conv<8, Pad<1>>, BatchNorm, ReLU, Conv<8, Pad<1>>, BatchNorm, HardTanh, Dense<4>>;
  Model<Net, binary> model;
}
