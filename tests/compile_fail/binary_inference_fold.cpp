// Inference<Net, binary> folds each binary layer with [MaxPool] BatchNorm Sign into integer
// thresholds; a network that puts something else between them is named in one static_assert.
#include <strata/layers/batch_norm.hpp>
#include <strata/layers/conv.hpp>
#include <strata/layers/dense.hpp>
#include <strata/layers/hard_tanh.hpp>
#include <strata/net/inference.hpp>
// expect: strata::Inference<Net, binary>: the binary network does not fold into bit stages
// expect: binary_inference_cannot_fold_at<4
// max-lines: 40
int main() {
  using namespace strata;
  // The second convolution's output goes to a HardTanh (a Sign) without a batch norm between.
  using Net = Sequential<Input<1, 8, 8>, Conv<8, Pad<1>>, BatchNorm, HardTanh, Conv<8, Pad<1>>, HardTanh, Dense<4>>;
  Model<Net, binary> model;
  Inference engine(model);
}
