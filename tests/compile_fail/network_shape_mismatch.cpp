// A convolution after a dense layer gets a vector, not an image: one static_assert that names
// the layer index and both shapes, in a few lines a person can read.
#include <strata/layers/conv.hpp>
#include <strata/layers/dense.hpp>
#include <strata/layers/relu.hpp>
#include <strata/net/model.hpp>
// expect: network shape mismatch
// expect: shape_mismatch_at<2, strata::Conv<8>, strata::sample_shape<100>
// expect: strata::sample_shape<100>
// max-lines: 10
using Net = strata::Sequential<strata::Input<1, 28, 28>, strata::Dense<100>, strata::ReLU, strata::Conv<8>>;
int main() { strata::Model<Net> model; }
