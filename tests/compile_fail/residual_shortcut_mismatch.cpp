// A chosen shortcut that lands on another shape than the block (a stride forgotten): one
// static_assert whose note names the residual's index and both shapes, never a cascade.
#include <strata/layers/conv.hpp>
#include <strata/layers/relu.hpp>
#include <strata/net/model.hpp>
#include <strata/net/residual.hpp>
// expect: network shape mismatch
// expect: shape_mismatch_at<1, strata::Residual<
// expect: strata::shortcut_mismatch_at<strata::sample_shape<16, 4, 4>, strata::sample_shape<16, 8, 8> >
// max-lines: 10
using Net = strata::Sequential<strata::Input<8, 8, 8>, strata::ReLU,
                               strata::Residual<strata::Conv<16, strata::Kernel<3>, strata::Stride<2>, strata::Pad<1>>,
                                                strata::Shortcut<strata::Conv<16, strata::Kernel<1>>>>>;
int main() { strata::Model<Net> model; }
