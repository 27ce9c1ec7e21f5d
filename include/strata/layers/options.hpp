// strata/layers/options.hpp — options a layer takes after its hyper-parameters: NoBias,
// Init<init::he_uniform> and friends, and how a layer finds them in its parameter pack.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "strata/core/random.hpp"
#include "strata/core/tensor.hpp"

namespace strata {

// The layer has no bias term (a BatchNorm right after it would cancel one).
struct NoBias {};

// Weight initialisation schemes (fan_in = inputs per output, fan_out = outputs per input).
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
  using kind = Kind;
};

namespace detail {

template <class Option, class... Options>
inline constexpr bool has_option_v = (std::is_same_v<Option, Options> || ...);

// The initialisation named in Options (the first Init<…>), or Default.
template <class Default, class... Options>
struct init_of {
  using type = Default;
};
template <class Default, class K, class... Rest>
struct init_of<Default, Init<K>, Rest...> {
  using type = K;
};
template <class Default, class First, class... Rest>
struct init_of<Default, First, Rest...> : init_of<Default, Rest...> {};

// A 64-bit seed drawn from the model's engine, so every tensor gets its own Philox stream.
inline std::uint64_t next_seed(random_engine& rng) {
  const std::uint64_t hi = rng();
  return hi << 32 | rng();
}

template <class Kind, class T, std::size_t R>
void initialize_weight(TensorView<T, R> w, std::int64_t fan_in, std::int64_t fan_out, random_engine& rng) {
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

template <class Kind, class T>
void initialize_bias(TensorView<T, 1> b, std::int64_t fan_in, random_engine& rng) {
  if constexpr (std::is_same_v<Kind, init::fan_in_uniform>) {
    const double bound = 1 / std::sqrt(static_cast<double>(fan_in));
    fill_uniform(b, -bound, bound, next_seed(rng));
  } else {
    b.fill(0);
  }
}

}  // namespace detail
}  // namespace strata
