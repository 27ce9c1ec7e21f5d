// strata/net/binary_network.hpp — what Model<Net, binary> (and scaled_binary) trains: Net with
// BinaryNet's rules applied to its layers (Courbariaux, Hubara et al. 2016). Every Conv and Dense
// becomes BinaryConv / BinaryDense (±1 weights from real latent ones, XNOR-popcount products), the
// first of them on its real input (RealInput) and the last left real; every HardTanh becomes Sign
// (±1 outputs, straight-through gradient), so each binary layer's input is ±1 (through MaxPool
// and Flatten, which keep it so). scaled_binary adds XNOR-Net's per-channel scale (ChannelScale).
// The same definition in Model<Net, float> is its real-valued counterpart.
//
//   using Net = Sequential<Input<1, 28, 28>, Conv<64, Pad<1>, NoBias>, BatchNorm, HardTanh, …, Dense<10>, BatchNorm>;
//   Model<Net, binary> model;   // trains binary_network_t<Net, binary>
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "strata/layers/layer.hpp"
#include "strata/layers/options.hpp"
#include "strata/net/sequential.hpp"
#include "strata/net/type_list.hpp"
#include "strata/numeric/binary.hpp"

namespace strata {

// Declared only: the rules recognise these layers without their definitions, so a model that is
// not binary pays nothing for them. A binary model needs the binary layers' headers
// (layers/binary_conv.hpp, binary_dense.hpp, sign.hpp; net/inference.hpp includes them).
template <std::int64_t Filters, class... Options>
struct Conv;
template <std::int64_t N, class... Options>
struct Dense;
template <std::int64_t Filters, class... Options>
struct BinaryConv;
template <std::int64_t N, class... Options>
struct BinaryDense;
template <double Momentum, double Epsilon>
struct BatchNormalization;
template <std::int64_t Window, std::int64_t Stride, std::int64_t Pad, class Rounding>
struct MaxPool;
struct Flatten;
struct HardTanh;
struct Sign;

// Why a network cannot be binarised, named in the note of Model<Net, binary>'s static_assert.
template <std::size_t LayerIndex, class Layer>
struct not_binarizable_at {  // a layer with parameters other than Conv (ungrouped), Dense and BatchNorm
  static constexpr bool ok = false;
};
template <std::size_t LayerIndex, class Layer>
struct binary_layer_input_not_sign_at {  // a binarised layer whose input is not ±1: put HardTanh or Sign before it
  static constexpr bool ok = false;
};
template <class Net>
struct no_weight_layer_to_binarize {  // the network has no Conv or Dense
  static constexpr bool ok = false;
};
struct binarizable {
  static constexpr bool ok = true;
};

namespace detail::binarize {

enum class role { other, conv, dense, hard_tanh, keeps_signs, sign, normalization, binary_layer };

template <class L>
struct role_of {
  static constexpr role value = role::other;
};
template <std::int64_t F, class... O>
struct role_of<Conv<F, O...>> {  // a grouped convolution has no binary form
  static constexpr role value = option_of_t<option_kinds::groups, Groups<1>, O...>::value == 1 ? role::conv : role::other;
};
template <std::int64_t N, class... O>
struct role_of<Dense<N, O...>> {
  static constexpr role value = role::dense;
};
template <>
struct role_of<HardTanh> {
  static constexpr role value = role::hard_tanh;
};
template <>
struct role_of<Sign> {
  static constexpr role value = role::sign;
};
template <std::int64_t W, std::int64_t S, std::int64_t P, class R>
struct role_of<MaxPool<W, S, P, R>> {
  static constexpr role value = role::keeps_signs;
};
template <>
struct role_of<Flatten> {
  static constexpr role value = role::keeps_signs;
};
template <double M, double E>
struct role_of<BatchNormalization<M, E>> {
  static constexpr role value = role::normalization;
};
template <std::int64_t F, class... O>
struct role_of<BinaryConv<F, O...>> {
  static constexpr role value = role::binary_layer;
};
template <std::int64_t N, class... O>
struct role_of<BinaryDense<N, O...>> {
  static constexpr role value = role::binary_layer;
};

// A Conv option list without what BinaryConv does not take (Groups<1>, Algorithm): binary
// convolutions pick their kernels themselves.
template <class Option>
inline constexpr bool kept_for_binary_conv = !std::is_same_v<option_kind_t<Option>, option_kinds::groups> &&
                                             !std::is_same_v<option_kind_t<Option>, option_kinds::algorithm>;
template <template <std::int64_t, class...> class Target, std::int64_t F, class Kept, class... Rest>
struct filter_options;
template <template <std::int64_t, class...> class Target, std::int64_t F, class... Kept>
struct filter_options<Target, F, type_list<Kept...>> {
  using type = Target<F, Kept...>;
};
template <template <std::int64_t, class...> class Target, std::int64_t F, class... Kept, class First, class... Rest>
struct filter_options<Target, F, type_list<Kept...>, First, Rest...> {
  using type = typename std::conditional_t<kept_for_binary_conv<First>, filter_options<Target, F, type_list<Kept..., First>, Rest...>,
                                           filter_options<Target, F, type_list<Kept...>, Rest...>>::type;
};

// The binarised form of weight layer L: first (real input) or inner, with or without scale.
template <class L, bool First, bool Scaled>
struct binary_form;
template <std::int64_t F, class... O, bool First, bool Scaled>
struct binary_form<Conv<F, O...>, First, Scaled> {
  template <class... Extra>
  using with = typename filter_options<BinaryConv, F, type_list<>, O..., Extra...>::type;
  using type = std::conditional_t<First, std::conditional_t<Scaled, with<RealInput, ChannelScale>, with<RealInput>>,
                                  std::conditional_t<Scaled, with<ChannelScale>, with<>>>;
};
template <std::int64_t N, class... O, bool First, bool Scaled>
struct binary_form<Dense<N, O...>, First, Scaled> {
  template <class... Extra>
  using with = BinaryDense<N, O..., Extra...>;
  using type = std::conditional_t<First, std::conditional_t<Scaled, with<RealInput, ChannelScale>, with<RealInput>>,
                                  std::conditional_t<Scaled, with<ChannelScale>, with<>>>;
};

template <class Net, bool Scaled>
struct rewrite;
template <class In, class... L, bool Scaled>
struct rewrite<Sequential<In, L...>, Scaled> {
  static constexpr std::size_t count = sizeof...(L);
  static constexpr role roles[count] = {role_of<L>::value...};
  static constexpr bool weight_layer(std::size_t i) { return roles[i] == role::conv || roles[i] == role::dense; }
  static constexpr std::size_t first_weight = [] {
    for (std::size_t i = 0; i < count; ++i)
      if (weight_layer(i)) return i;
    return count;
  }();
  static constexpr std::size_t last_weight = [] {
    std::size_t last = count;
    for (std::size_t i = 0; i < count; ++i)
      if (weight_layer(i)) last = i;
    return last;
  }();
  static constexpr bool binarized(std::size_t i) { return weight_layer(i) && i != last_weight; }
  // Whether layer i's input is ±1 in the binarised network.
  static constexpr bool sign_input(std::size_t i) {
    bool signs = false;
    for (std::size_t j = 0; j < i; ++j) {
      if (roles[j] == role::hard_tanh || roles[j] == role::sign) signs = true;
      else if (roles[j] != role::keeps_signs) signs = false;
    }
    return signs;
  }
  template <std::size_t I, class Layer>
  using layer_at = std::conditional_t<binarized(I), binary_form<Layer, I == first_weight, Scaled>,
                                      std::conditional_t<roles[I] == role::hard_tanh, std::type_identity<Sign>,
                                                         std::type_identity<Layer>>>;

  // The first layer that breaks the rules, or `binarizable`.
  template <std::size_t I, class Layer>
  using problem_at = std::conditional_t<
      roles[I] == role::other && parameters_of<layer_traits<Layer, type_at_t<I, typename Sequential<In, L...>::body::template plan<typename In::shape_type>::inputs>>>() != 0,
      not_binarizable_at<I, Layer>,
      std::conditional_t<binarized(I) && I != first_weight && !sign_input(I), binary_layer_input_not_sign_at<I, Layer>, binarizable>>;
  template <class... Problems>
  struct first_of {
    using type = binarizable;
  };
  template <class P0, class... Ps>
  struct first_of<P0, Ps...> {
    using type = std::conditional_t<P0::ok, typename first_of<Ps...>::type, P0>;
  };

  template <class Network, class Problem>  // names both without instantiating the network
  struct outcome {
    using network = Network;
    using problem = Problem;
  };
  template <std::size_t... I>
  static auto build(std::index_sequence<I...>)
      -> outcome<Sequential<In, typename layer_at<I, L>::type...>,
                   std::conditional_t<first_weight == count, no_weight_layer_to_binarize<Sequential<In, L...>>,
                                      typename first_of<problem_at<I, L>...>::type>>;
  using built = decltype(build(std::index_sequence_for<L...>{}));
  using problem = typename built::problem;
  using type = std::conditional_t<problem::ok, typename built::network, Sequential<In, L...>>;
};

}  // namespace detail::binarize

// The network Model<Net, T> trains: Net itself, or for a binary precision its binarised form.
template <class Net, class T>
struct binary_network {
  using type = Net;
  using problem = binarizable;
};
namespace detail::binarize {
template <class L>
concept complete = requires { sizeof(L); };
// Whether the binary layers' headers are included, asked when a binary model is built (the
// layers named through T so that the question waits until then).
template <class T>
inline constexpr bool layers_included = complete<std::conditional_t<sizeof(T) != 0, BinaryConv<1>, void>> &&
                                        complete<std::conditional_t<sizeof(T) != 0, BinaryDense<1>, void>> &&
                                        complete<std::conditional_t<sizeof(T) != 0, Sign, void>>;
}  // namespace detail::binarize

template <class Net, class T>
  requires is_binary_precision_v<T>
struct binary_network<Net, T> {
  static_assert(detail::binarize::layers_included<T>,
                "strata: a binary model needs the binary layers: include <strata/layers/binary_conv.hpp>, "
                "<strata/layers/binary_dense.hpp> and <strata/layers/sign.hpp> (<strata/net/inference.hpp> includes them)");
  using rewrite = detail::binarize::rewrite<Net, std::is_same_v<T, scaled_binary>>;
  using type = std::conditional_t<detail::binarize::layers_included<T>, typename rewrite::type, Net>;  // (one error, not a cascade)
  using problem = typename rewrite::problem;
};
template <class Net, class T>
using binary_network_t = typename binary_network<Net, T>::type;

// The element type of a model's batches and parameters: T, or fp32 for the binary precisions
// (their bits live inside the binary layers).
template <class T>
using model_element_t = std::conditional_t<is_binary_precision_v<T>, float, T>;

}  // namespace strata
