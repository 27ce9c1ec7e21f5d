// strata/zoo/resnet.hpp — ResNet-18 and ResNet-50 (He et al. 2016) as torchvision builds them:
// a 7×7/2 stem and max pool, four stages of basic (18) or bottleneck (50) blocks with the stride
// on the 3×3 convolution ("v1.5") and 1×1 projection shortcuts where shapes change, global
// average pooling, one dense layer. Input 3×224×224; 11,689,512 and 25,557,032 parameters.
#pragma once

#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/global_avg_pool.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/residual.hpp"
#include "strata/net/sequential.hpp"

namespace strata::zoo {

using ResNetStem = Chain<Conv<64, Kernel<7>, Stride<2>, Pad<3>, NoBias>, BatchNorm, ReLU, MaxPool<3, 2, 1>>;  // 224 → 56

template <std::int64_t Classes = 1000>
using ResNet18 = Sequential<Input<3, 224, 224>, ResNetStem,                      //
                            Repeat<2, BasicBlock<64>, ReLU>,                     // 56
                            BasicBlock<128, 2>, ReLU, BasicBlock<128>, ReLU,     // 28
                            BasicBlock<256, 2>, ReLU, BasicBlock<256>, ReLU,     // 14
                            BasicBlock<512, 2>, ReLU, BasicBlock<512>, ReLU,     // 7
                            GlobalAvgPool, Dense<Classes>>;

template <std::int64_t Classes = 1000>
using ResNet50 = Sequential<Input<3, 224, 224>, ResNetStem,                                          //
                            Bottleneck<64, 256>, ReLU, Repeat<2, Bottleneck<64, 256>, ReLU>,          // 56
                            Bottleneck<128, 512, 2>, ReLU, Repeat<3, Bottleneck<128, 512>, ReLU>,     // 28
                            Bottleneck<256, 1024, 2>, ReLU, Repeat<5, Bottleneck<256, 1024>, ReLU>,   // 14
                            Bottleneck<512, 2048, 2>, ReLU, Repeat<2, Bottleneck<512, 2048>, ReLU>,   // 7
                            GlobalAvgPool, Dense<Classes>>;

static_assert(ResNet18<>::parameters == 11'689'512, "ResNet-18 must have torchvision's parameter count");
static_assert(ResNet50<>::parameters == 25'557'032, "ResNet-50 must have torchvision's parameter count");

}  // namespace strata::zoo
