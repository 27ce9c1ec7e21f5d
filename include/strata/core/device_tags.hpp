// strata/core/device_tags.hpp — the device tags `cpu` and `cuda` and the Device concept. Naming a
// device needs no toolkit: `Tensor<float, 2, cuda>` is a type in a CPU program, but only a
// translation unit that includes <strata/cuda.hpp> can allocate one.
#pragma once

#include <concepts>
#include <type_traits>

namespace strata {

struct cpu {
  static constexpr const char* name = "cpu";
};

struct cuda {
  static constexpr const char* name = "cuda";
};

template <class D>
concept Device = std::same_as<D, cpu> || std::same_as<D, cuda>;

// device_traits<D> is the one dispatch point per device: allocation, copies, fill and the
// evaluation of expressions. Each device defines its specialisation in its own header.
template <class D>
struct device_traits {
  static_assert(Device<D>, "strata: device_traits<D>: D is not a strata device tag (cpu or cuda)");
  static_assert(!std::is_same_v<D, cuda>,
                "strata: CUDA tensors need #include <strata/cuda.hpp> (and a build with STRATA_CUDA=ON)");
};

}  // namespace strata
