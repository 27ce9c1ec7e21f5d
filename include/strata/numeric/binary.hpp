// strata/numeric/binary.hpp — binary: a value of ±1 in one bit (BinaryNet, Courbariaux, Hubara
// et al. 2016), and scaled_binary, the same bits with one real scale per output channel
// (XNOR-Net, Rastegari et al. 2016). As a model precision, binary and scaled_binary binarise
// weights and activations (net/binary_network.hpp); in memory, bits are packed 64 to a word
// along channels (core/bit_tensor.hpp, Tensor<binary, …>).
#pragma once

#include <cstdint>
#include <type_traits>

#include "strata/config.hpp"

namespace strata {

// One sign bit: set means −1, clear means +1 (so zero words are all +1). Built from a real value
// by its sign, with +0, −0 and NaN all +1, as the packing kernels do.
class binary {
 public:
  constexpr binary() = default;  // +1
  STRATA_HD static constexpr binary from_bit(bool negative) noexcept {
    binary b;
    b.negative_ = negative;
    return b;
  }
  template <class V>
    requires std::is_arithmetic_v<V>
  STRATA_HD static constexpr binary from_sign_of(V v) noexcept {
    return from_bit(v < V(0));
  }
  STRATA_HD constexpr bool bit() const noexcept { return negative_; }
  STRATA_HD constexpr int value() const noexcept { return negative_ ? -1 : 1; }
  STRATA_HD friend constexpr bool operator==(binary a, binary b) noexcept { return a.negative_ == b.negative_; }

 private:
  bool negative_ = false;
};

// The XNOR-Net precision: binary weights scaled per output channel by α = mean |W| of the
// channel's real-valued weights; activations binary as in BinaryNet. Elements are `binary`.
struct scaled_binary {};

template <class T>
inline constexpr bool is_binary_precision_v = std::is_same_v<T, binary> || std::is_same_v<T, scaled_binary>;

}  // namespace strata
