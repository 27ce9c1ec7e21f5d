// What the README's expression fragments rely on (tests/readme/check_snippets.py compiles each
// as the body of a function after this header).
#pragma once

#include <strata/strata.hpp>

using namespace strata;

extern Tensor<float, 1> a, b, c;
Tensor<float, 1> make_tensor();
