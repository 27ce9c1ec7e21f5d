// strata/core/cpu_memory.hpp — host memory for tensors: 64-byte aligned allocation (a cache
// line, and one AVX-512 register) and bulk copy/fill. Part of device_traits<cpu>.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>

#include "strata/core/error.hpp"

namespace strata::detail {

inline constexpr std::size_t cpu_alignment = 64;

template <class T>
T* cpu_allocate(std::int64_t n) {
  static_assert(std::is_trivially_copyable_v<T>, "strata: tensor elements must be trivially copyable");
  if (n <= 0) return nullptr;
  const auto bytes = static_cast<std::size_t>(n) * sizeof(T);
  try {
    return static_cast<T*>(::operator new(bytes, std::align_val_t{cpu_alignment}));
  } catch (const std::bad_alloc&) {
    throw device_error("cpu: cannot allocate " + std::to_string(bytes) + " bytes for a tensor of " +
                       std::to_string(n) + " elements");
  }
}

template <class T>
void cpu_deallocate(T* p) noexcept {
  if (p) ::operator delete(static_cast<void*>(p), std::align_val_t{cpu_alignment});
}

template <class T>
void cpu_copy(const T* src, T* dst, std::int64_t n) noexcept {
  if (n > 0 && src != dst) std::memmove(dst, src, static_cast<std::size_t>(n) * sizeof(T));
}

}  // namespace strata::detail
