// strata/zoo/vgg16.hpp — VGG-16 (Simonyan & Zisserman 2015, configuration D): thirteen 3×3
// convolutions in five stages with max pooling between, three dense layers. Input 3×224×224;
// 138,357,544 parameters, as torchvision's vgg16.
#pragma once

#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/dropout.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/residual.hpp"
#include "strata/net/sequential.hpp"

namespace strata::zoo {

template <std::int64_t C>
using Conv3x3Relu = Chain<Conv<C, Kernel<3>, Stride<1>, Pad<1>>, ReLU>;

template <std::int64_t Classes = 1000>
using VGG16 = Sequential<Input<3, 224, 224>,                                               //
                         Repeat<2, Conv3x3Relu<64>>, MaxPool<2>,                           // 224 → 112
                         Repeat<2, Conv3x3Relu<128>>, MaxPool<2>,                          // 112 → 56
                         Repeat<3, Conv3x3Relu<256>>, MaxPool<2>,                          // 56 → 28
                         Repeat<3, Conv3x3Relu<512>>, MaxPool<2>,                          // 28 → 14
                         Repeat<3, Conv3x3Relu<512>>, MaxPool<2>,                          // 14 → 7
                         Dense<4096>, ReLU, Dropout<0.5f>, Dense<4096>, ReLU, Dropout<0.5f>, Dense<Classes>>;

static_assert(VGG16<>::parameters == 138'357'544, "VGG-16 must have torchvision's parameter count");

}  // namespace strata::zoo
