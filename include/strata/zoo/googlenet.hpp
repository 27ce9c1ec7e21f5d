// strata/zoo/googlenet.hpp — GoogLeNet (Inception v1, Szegedy et al. 2015) as torchvision 0.14
// builds it with googlenet(aux_logits=False, transform_input=False): every convolution is a
// BasicConv2d (convolution without bias, BatchNorm with eps 0.001, ReLU); max pools round up
// (ceil_mode); nine Inception modules join four branches along channels — 1×1; 1×1 reduce then
// 3×3; 1×1 reduce then a second 3×3 (torchvision's known deviation from the paper's 5×5, kept
// so that its weights fit); 3×3 max pool then 1×1 — then global average pooling, dropout 0.2
// and one dense layer. Input 3×224×224; 6,624,904 parameters, as torchvision counts them.
#pragma once

#include <cstdint>
#include <type_traits>

#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/dropout.hpp"
#include "strata/layers/global_avg_pool.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/chain.hpp"
#include "strata/net/concat.hpp"
#include "strata/net/sequential.hpp"

namespace strata::zoo {

// torchvision's BasicConv2d: Kernel×Kernel convolution (stride, padding) without bias, batch
// norm (eps 0.001), ReLU. ConvOptions go to the convolution (Algorithm<algo::im2col>, Init<…>).
template <std::int64_t Filters, std::int64_t KernelSize = 1, std::int64_t Padding = 0, std::int64_t Step = 1,
          class... ConvOptions>
using BasicConv2d = Chain<Conv<Filters, Kernel<KernelSize>, Stride<Step>, Pad<Padding>, NoBias, ConvOptions...>,
                          BatchNormalization<0.1, 0.001>, ReLU>;

// An Inception module with torchvision's branches: Ch1x1 | Ch3x3Reduce → Ch3x3 |
// Ch5x5Reduce → Ch5x5 (a 3×3, as torchvision) | 3×3 max pool → PoolProjection, concatenated.
// Parameters: "0.0.weight" (branch 0's conv), "1.1.0.weight" (branch 1's 3×3 conv), "3.1.1.gamma"
// (the pool branch's batch norm) ….
template <std::int64_t Ch1x1, std::int64_t Ch3x3Reduce, std::int64_t Ch3x3, std::int64_t Ch5x5Reduce,
          std::int64_t Ch5x5, std::int64_t PoolProjection, class... ConvOptions>
using Inception = Concat<BasicConv2d<Ch1x1, 1, 0, 1, ConvOptions...>,
                         Chain<BasicConv2d<Ch3x3Reduce, 1, 0, 1, ConvOptions...>, BasicConv2d<Ch3x3, 3, 1, 1, ConvOptions...>>,
                         Chain<BasicConv2d<Ch5x5Reduce, 1, 0, 1, ConvOptions...>, BasicConv2d<Ch5x5, 3, 1, 1, ConvOptions...>>,
                         Chain<MaxPool<3, 1, 1, CeilMode>, BasicConv2d<PoolProjection, 1, 0, 1, ConvOptions...>>>;

template <std::int64_t Classes = 1000>
using GoogLeNet = Sequential<Input<3, 224, 224>,                                                 //
                             BasicConv2d<64, 7, 3, 2>, MaxPool<3, 2, 0, CeilMode>,                // 112 → 56
                             BasicConv2d<64>, BasicConv2d<192, 3, 1>, MaxPool<3, 2, 0, CeilMode>, // 56 → 28
                             Inception<64, 96, 128, 16, 32, 32>,                                  // 3a: 256
                             Inception<128, 128, 192, 32, 96, 64>,                                // 3b: 480
                             MaxPool<3, 2, 0, CeilMode>,                                          // 28 → 14
                             Inception<192, 96, 208, 16, 48, 64>,                                 // 4a: 512
                             Inception<160, 112, 224, 24, 64, 64>,                                // 4b: 512
                             Inception<128, 128, 256, 24, 64, 64>,                                // 4c: 512
                             Inception<112, 144, 288, 32, 64, 64>,                                // 4d: 528
                             Inception<256, 160, 320, 32, 128, 128>,                              // 4e: 832
                             MaxPool<2, 2, 0, CeilMode>,                                          // 14 → 7
                             Inception<256, 160, 320, 32, 128, 128>,                              // 5a: 832
                             Inception<384, 192, 384, 48, 128, 128>,                              // 5b: 1024
                             GlobalAvgPool, Dropout<0.2f>, Dense<Classes>>;

static_assert(std::is_same_v<GoogLeNet<>::output_shape, sample_shape<1000>>, "GoogLeNet ends in 1000 classes");
static_assert(GoogLeNet<>::parameters == 6'624'904, "GoogLeNet must have torchvision's parameter count (aux_logits=False)");

}  // namespace strata::zoo
