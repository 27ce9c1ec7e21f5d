// What the README's binary-network fragment relies on (tests/readme/check_snippets.py compiles it
// as the body of a function after this header).
#pragma once

#include <strata/io/model_file.hpp>
#include <strata/layers/batch_norm.hpp>
#include <strata/layers/conv.hpp>
#include <strata/layers/dense.hpp>
#include <strata/layers/flatten.hpp>
#include <strata/layers/hard_tanh.hpp>
#include <strata/layers/max_pool.hpp>
#include <strata/net/inference.hpp>
#include <strata/net/model.hpp>
#include <strata/train/adam.hpp>

using namespace strata;

extern Tensor<float, 2> images;
