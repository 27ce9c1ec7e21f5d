// A layer option given twice is one named error, not a silently different network.
#include <strata/layers/conv.hpp>
// expect: its options are Kernel, Stride, Pad, Groups, NoBias, Init and Algorithm, in any order, each at most once
// expect: option_given_twice<strata::Conv<8, strata::Pad<1, 1>, strata::Kernel<3, 3>, strata::Pad<2, 2> >, strata::Pad<2>
// max-lines: 12
int main() {
  constexpr bool b = strata::Conv<8, strata::Pad<1>, strata::Kernel<3>, strata::Pad<2>>::has_bias;
  return b ? 0 : 1;
}
