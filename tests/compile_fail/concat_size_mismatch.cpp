// Concatenated branches must agree in height and width: a 3×3 convolution without padding next
// to a 1×1 one is one static_assert whose note names the concat, the branch and both shapes.
#include <strata/layers/conv.hpp>
#include <strata/layers/relu.hpp>
#include <strata/net/concat.hpp>
#include <strata/net/model.hpp>
// expect: network shape mismatch
// expect: shape_mismatch_at<1, strata::Concat<
// expect: strata::concat_mismatch_at<2, strata::sample_shape<4, 6, 6>, strata::sample_shape<2, 8, 8> >
// max-lines: 10
using Net = strata::Sequential<strata::Input<3, 8, 8>, strata::ReLU,
                               strata::Concat<strata::Conv<2, strata::Kernel<1>>,
                                              strata::Chain<strata::Conv<3, strata::Kernel<3>, strata::Pad<1>>, strata::ReLU>,
                                              strata::Conv<4, strata::Kernel<3>>>>;
int main() { strata::Model<Net> model; }
