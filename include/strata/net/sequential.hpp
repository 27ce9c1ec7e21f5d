// strata/net/sequential.hpp — a network definition: Sequential<Input<C, H, W>, L1, L2, …>, a flat
// list of layers after an input shape. Its shapes, parameters, FLOPs and memory are compile-time
// facts; summary() prints them per layer.
#pragma once

#include <cstdint>
#include <string>

#include "strata/net/chain.hpp"
#include "strata/layers/sample_shape.hpp"

namespace strata {

// The shape of one input sample: Input<1, 28, 28> for a grey 28×28 image, Input<100> for a vector.
template <std::int64_t... E>
struct Input {
  using shape_type = sample_shape<E...>;
};

template <class T>
inline constexpr bool is_input_v = false;
template <std::int64_t... E>
inline constexpr bool is_input_v<Input<E...>> = true;

template <class In, class... L>
struct Sequential {
  static_assert(is_input_v<In>, "strata::Sequential: the first entry must be Input<…>, the shape of one sample");
  using input_shape = typename In::shape_type;
  using body = Chain<L...>;
  using first_mismatch = typename body::template plan<input_shape>::first_mismatch;
  static_assert(first_mismatch::ok,
                "strata: network shape mismatch or a broken layer: the note names the first layer that fails, as "
                "shape_mismatch_at<layer index, layer, input shape, what it expects> (it cannot take its input), "
                "not_a_layer_spec_at<index, layer> or layer_traits_incomplete_at<index, layer, input shape>");
  static constexpr bool valid = first_mismatch::ok;
  using traits = layer_traits<body, input_shape>;
  using output_shape = typename traits::output_shape;

  static constexpr std::int64_t parameters = traits::parameters;
  static constexpr std::int64_t flops = traits::flops;  // multiply-adds per sample, forward
  static constexpr std::size_t layer_count = sizeof...(L);
};

template <class N>
inline constexpr bool is_network_v = false;
template <class In, class... L>
inline constexpr bool is_network_v<Sequential<In, L...>> = true;

template <class N>
concept Network = is_network_v<N>;

}  // namespace strata
