// Something that is not an option of the layer (here a stride given to Dense) is one named error.
#include <strata/layers/dense.hpp>
#include <strata/layers/conv.hpp>
// expect: its options are NoBias and Init
// expect: not_an_option_of<strata::Dense<4, strata::Stride<2, 2> >, strata::Stride<2>
// max-lines: 12
int main() {
  constexpr bool b = strata::Dense<4, strata::Stride<2>>::has_bias;
  return b ? 0 : 1;
}
