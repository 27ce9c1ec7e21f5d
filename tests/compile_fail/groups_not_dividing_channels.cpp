// A grouped convolution whose groups do not divide its input channels (6 channels in 4 groups):
// the network's one static_assert names the layer, the shape it got and what it expects.
#include <strata/layers/conv.hpp>
#include <strata/net/model.hpp>
// expect: network shape mismatch
// expect: shape_mismatch_at<1, strata::Conv<8, strata::Groups<4> >, strata::sample_shape<6, 8, 8>, strata::image_with_channels_multiple_of<4, 3, 3>
// max-lines: 10
using Net = strata::Sequential<strata::Input<3, 8, 8>, strata::Conv<6, strata::Pad<1>>, strata::Conv<8, strata::Groups<4>>>;
int main() { strata::Model<Net> model; }
