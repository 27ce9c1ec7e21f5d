// strata/zoo/fashion_net.hpp — the small CNN of the Fashion-MNIST demo, the training benchmark
// and the augmentation experiments: conv 5×5×32 pad 2 – ReLU – max pool 2 – conv 5×5×64 pad 2 –
// ReLU – max pool 2 – dense 1024 – ReLU – dense 10 (PyTorch's and dlib's MNIST example network).
#pragma once

#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/sequential.hpp"

namespace strata::zoo {

// Options... go to every weighted layer (e.g. Init<init::fan_in_uniform> for PyTorch's).
template <class... Options>
using FashionNet = Sequential<Input<1, 28, 28>,                                       //
                              Conv<32, Kernel<5>, Stride<1>, Pad<2>, Options...>, ReLU, MaxPool<2>,
                              Conv<64, Kernel<5>, Stride<1>, Pad<2>, Options...>, ReLU, MaxPool<2>,
                              Dense<1024, Options...>, ReLU, Dense<10, Options...>>;

}  // namespace strata::zoo
