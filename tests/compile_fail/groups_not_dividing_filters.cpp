// Groups that do not divide the filters (8 filters in 3 groups) are one named error.
#include <strata/layers/conv.hpp>
// expect: strata::Conv<Filters, Groups<G>>: Filters must be a multiple of G
// max-lines: 12
int main() {
  using L = strata::Conv<8, strata::Groups<3>>;
  return L::has_bias ? 0 : 1;
}
