// strata/layers/options.hpp — options a layer takes after its hyper-parameters (Kernel, Stride,
// Pad, Groups, NoBias, Init<…>, Algorithm<…>), recognised by kind in any order, each at most once; a
// layer finds them with option_of and rejects anything else with one named static_assert.
#pragma once

#include <cmath>
#include <cstdint>
#include <tuple>
#include <type_traits>

#include "strata/core/random.hpp"
#include "strata/core/tensor.hpp"

namespace strata {

// The kinds of option; an option says which it is as `option_kind`.
namespace option_kinds {
struct groups {};
struct kernel {};
struct stride {};
struct pad {};
struct bias {};
struct init {};
struct algorithm {};
struct input_values {};
struct weight_scale {};
}  // namespace option_kinds

// The filter size R×S (Kernel<3> is 3×3; Kernel<1, 7> is a 1×7 row).
template <std::int64_t R, std::int64_t S = R>
struct Kernel {
  using option_kind = option_kinds::kernel;
  static constexpr std::int64_t rows = R, cols = S;
};
template <std::int64_t Y, std::int64_t X = Y>
struct Stride {
  using option_kind = option_kinds::stride;
  static constexpr std::int64_t y = Y, x = X;
};
// Zero padding on each side, rows then columns.
template <std::int64_t Y, std::int64_t X = Y>
struct Pad {
  using option_kind = option_kinds::pad;
  static constexpr std::int64_t y = Y, x = X;
};

// Channel groups of a convolution (PyTorch's and ONNX's `groups`): input and output channels are
// split into G groups and each output channel sees only its group's inputs; weights are
// [K, C/G, R, S]. Groups<C> with C filters is a depthwise convolution.
template <std::int64_t G>
struct Groups {
  using option_kind = option_kinds::groups;
  static constexpr std::int64_t value = G;
};

// The layer has no bias term (a BatchNorm right after it would cancel one).
struct NoBias {
  using option_kind = option_kinds::bias;
};

// The algorithm a convolution must use (algo::im2col, algo::winograd<4>, …) instead of automatic.
template <class A>
struct Algorithm {
  using option_kind = option_kinds::algorithm;
  using type = A;
};

// Weight initialisation schemes (fan_in = inputs per output, fan_out = outputs per input).
// Binary layers (BinaryConv, BinaryDense): the input is real and is not binarised; the layer
// multiplies it by its ±1 weights in fp32 (BinaryNet's first layer).
struct RealInput {
  using option_kind = option_kinds::input_values;
};
// Binary layers: XNOR-Net's scale per output channel, α = mean |W| of the channel's real-valued
// weights, multiplies the ±1 weights.
struct ChannelScale {
  using option_kind = option_kinds::weight_scale;
};

namespace init {
struct he_uniform {       // U(±√(6/fan_in)): He et al. 2015, for ReLU networks; biases 0
  static constexpr const char* name = "He uniform";
};
struct he_normal {        // N(0, √(2/fan_in)); biases 0
  static constexpr const char* name = "He normal";
};
struct xavier_uniform {   // U(±√(6/(fan_in + fan_out))): Glorot & Bengio 2010; biases 0
  static constexpr const char* name = "Xavier uniform";
};
struct xavier_normal {    // N(0, √(2/(fan_in + fan_out))); biases 0
  static constexpr const char* name = "Xavier normal";
};
struct fan_in_uniform {   // weights and biases U(±1/√fan_in): PyTorch's default for Linear and Conv2d
  static constexpr const char* name = "U(±1/√fan_in)";
};
}  // namespace init

template <class Kind>
struct Init {
  using option_kind = option_kinds::init;
  using kind = Kind;
};

// Named in the compiler's note when a layer gets something that is not one of its options, or
// the same kind of option twice: 'strata::not_an_option_of<strata::Conv<8, …>, strata::Stride<2>>'.
template <class Layer, class Option>
struct not_an_option_of {
  static constexpr bool ok = false;
};
template <class Layer, class Kind>
struct option_given_twice {
  static constexpr bool ok = false;
};

namespace detail {

template <class Option>
struct kind_of_option {
  using type = void;
};
template <class Option>
  requires requires { typename Option::option_kind; }
struct kind_of_option<Option> {
  using type = typename Option::option_kind;
};
template <class Option>
using option_kind_t = typename kind_of_option<Option>::type;

template <class Option, class... Options>
inline constexpr bool has_option_v = (std::is_same_v<Option, Options> || ...);

// The first option of kind Kind in Options, or Default.
template <class Kind, class Default, class... Options>
struct option_of {
  using type = Default;
};
template <class Kind, class Default, class First, class... Rest>
struct option_of<Kind, Default, First, Rest...>
    : std::conditional_t<std::is_same_v<option_kind_t<First>, Kind>, std::type_identity<First>,
                         option_of<Kind, Default, Rest...>> {};
template <class Kind, class Default, class... Options>
using option_of_t = typename option_of<Kind, Default, Options...>::type;

// The initialisation named in Options (Init<K> gives K), or Default.
template <class Default, class... Options>
struct init_of {
  using type = typename option_of_t<option_kinds::init, Init<Default>, Options...>::kind;
};

// The first option that Layer does not accept (not of an Allowed kind, or a kind seen before),
// as a type whose ::ok is false and whose name says which; or a type whose ::ok is true.
struct options_ok {
  static constexpr bool ok = true;
};
template <class Layer, class AllowedKinds, class SeenKinds, class... Options>
struct check_options {
  using type = options_ok;
};
template <class Layer, class... Allowed, class... Seen, class First, class... Rest>
struct check_options<Layer, std::tuple<Allowed...>, std::tuple<Seen...>, First, Rest...> {
  using kind = option_kind_t<First>;
  using type = std::conditional_t<
      !(std::is_same_v<kind, Allowed> || ...), not_an_option_of<Layer, First>,
      std::conditional_t<(std::is_same_v<kind, Seen> || ...), option_given_twice<Layer, First>,
                         typename check_options<Layer, std::tuple<Allowed...>, std::tuple<Seen..., kind>, Rest...>::type>>;
};
template <class Layer, class AllowedKinds, class... Options>
using options_check = typename check_options<Layer, AllowedKinds, std::tuple<>, Options...>::type;

// A 64-bit seed drawn from the model's engine, so every tensor gets its own Philox stream.
inline std::uint64_t next_seed(random_engine& rng) {
  const std::uint64_t hi = rng();
  return hi << 32 | rng();
}

template <class Kind, class T, std::size_t R, class D>
void initialize_weight(TensorView<T, R, D> w, std::int64_t fan_in, std::int64_t fan_out, random_engine& rng) {
  if constexpr (!std::is_same_v<D, cpu>) {  // drawn on the host, so every device starts from the same values
    Tensor<T, R> host(w.shape());
    initialize_weight<Kind>(host.view(), fan_in, fan_out, rng);
    copy(host, w);
  } else {
    const double fi = static_cast<double>(fan_in), fo = static_cast<double>(fan_out);
    const std::uint64_t seed = next_seed(rng);
    if constexpr (std::is_same_v<Kind, init::he_uniform>) fill_uniform(w, -std::sqrt(6 / fi), std::sqrt(6 / fi), seed);
    else if constexpr (std::is_same_v<Kind, init::he_normal>) fill_normal(w, 0, std::sqrt(2 / fi), seed);
    else if constexpr (std::is_same_v<Kind, init::xavier_uniform>)
      fill_uniform(w, -std::sqrt(6 / (fi + fo)), std::sqrt(6 / (fi + fo)), seed);
    else if constexpr (std::is_same_v<Kind, init::xavier_normal>) fill_normal(w, 0, std::sqrt(2 / (fi + fo)), seed);
    else if constexpr (std::is_same_v<Kind, init::fan_in_uniform>) fill_uniform(w, -1 / std::sqrt(fi), 1 / std::sqrt(fi), seed);
    else static_assert(!std::is_same_v<Kind, Kind>, "strata: unknown initialisation scheme");
  }
}

template <class Kind, class T, class D>
void initialize_bias(TensorView<T, 1, D> b, std::int64_t fan_in, random_engine& rng) {
  if constexpr (!std::is_same_v<D, cpu> && std::is_same_v<Kind, init::fan_in_uniform>) {
    Tensor<T, 1> host(b.shape());
    initialize_bias<Kind>(host.view(), fan_in, rng);
    copy(host, b);
  } else if constexpr (std::is_same_v<Kind, init::fan_in_uniform>) {
    const double bound = 1 / std::sqrt(static_cast<double>(fan_in));
    fill_uniform(b, -bound, bound, next_seed(rng));
  } else {
    b.fill(0);
  }
}

}  // namespace detail
}  // namespace strata
