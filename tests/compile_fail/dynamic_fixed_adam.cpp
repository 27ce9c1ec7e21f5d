// Dynamic fixed point trains with SGD: Adam's second moments span more magnitudes than one
// exponent per tensor holds, so asking for it is one named static_assert.
#include <strata/layers/dense.hpp>
#include <strata/net/model.hpp>
#include <strata/train/adam.hpp>
// expect: dynamic fixed point trains with SGD
int main() {
  using T = strata::dynamic_fixed<10, 12>;
  using Net = strata::Sequential<strata::Input<4>, strata::Dense<2>>;
  strata::Model<Net, T> m;
  strata::train::Adam<T> adam;
  adam.step(m, 0.1);
}
