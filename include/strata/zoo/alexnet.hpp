// strata/zoo/alexnet.hpp — AlexNet (Krizhevsky, Sutskever & Hinton 2012) as one tower: the
// paper's layer sizes without the two-GPU split (so conv2, conv4 and conv5 see all channels) and
// without local response normalisation. Input 3×227×227 (the size the paper's arithmetic needs).
// TorchvisionAlexNet is torchvision's variant (64-192-384-256-256 filters, input 3×224×224), the
// layout of its ImageNet weights and ONNX exports.
#pragma once

#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/dropout.hpp"
#include "strata/layers/max_pool.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/sequential.hpp"

namespace strata::zoo {

template <std::int64_t Classes = 1000>
using AlexNet = Sequential<Input<3, 227, 227>,                                  //
                           Conv<96, Kernel<11>, Stride<4>, Pad<0>>, ReLU, MaxPool<3, 2>,  // 55 → 27
                           Conv<256, Kernel<5>, Stride<1>, Pad<2>>, ReLU, MaxPool<3, 2>,  // 27 → 13
                           Conv<384, Kernel<3>, Stride<1>, Pad<1>>, ReLU,                 //
                           Conv<384, Kernel<3>, Stride<1>, Pad<1>>, ReLU,                 //
                           Conv<256, Kernel<3>, Stride<1>, Pad<1>>, ReLU, MaxPool<3, 2>,  // 13 → 6
                           Dense<4096>, ReLU, Dropout<0.5f>,                              //
                           Dense<4096>, ReLU, Dropout<0.5f>,                              //
                           Dense<Classes>>;

// AlexNet as torchvision builds it (the single-tower variant of Krizhevsky's "One weird trick",
// 2014): 64-192-384-256-256 filters, input 3×224×224, 61,100,840 parameters — the layout of
// torchvision's ImageNet weights and of its ONNX export.
template <std::int64_t Classes = 1000>
using TorchvisionAlexNet = Sequential<Input<3, 224, 224>,                                    //
                                      Conv<64, Kernel<11>, Stride<4>, Pad<2>>, ReLU, MaxPool<3, 2>,  // 55 → 27
                                      Conv<192, Kernel<5>, Pad<2>>, ReLU, MaxPool<3, 2>,             // 27 → 13
                                      Conv<384, Kernel<3>, Pad<1>>, ReLU,                            //
                                      Conv<256, Kernel<3>, Pad<1>>, ReLU,                            //
                                      Conv<256, Kernel<3>, Pad<1>>, ReLU, MaxPool<3, 2>,             // 13 → 6
                                      Dropout<0.5f>, Dense<4096>, ReLU,                              //
                                      Dropout<0.5f>, Dense<4096>, ReLU,                              //
                                      Dense<Classes>>;

static_assert(TorchvisionAlexNet<>::parameters == 61'100'840, "AlexNet must have torchvision's parameter count");

}  // namespace strata::zoo
