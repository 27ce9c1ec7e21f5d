// strata/kernels/cpu/thread_scratch.hpp — per-thread, grow-only, 64-byte aligned scratch buffers
// for kernels: one buffer per (Owner, Slot) and thread, allocated on a thread's first call and when
// a larger layer comes, never per call (fresh pages cost a fault per 4 KiB, which showed in profiles).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace strata::kernels::cpu {

// At least `bytes` bytes that stay this thread's until its next call with the same Owner and Slot.
// Owner is a tag type per kernel family, so that kernels that call each other never share one.
template <class Owner, int Slot = 0>
void* thread_scratch_bytes(std::size_t bytes) {
  struct buffer {
    void* p = nullptr;
    std::size_t size = 0;
    ~buffer() { std::free(p); }
  };
  thread_local buffer b;
  if (bytes > b.size) {
    std::free(b.p);
    b.p = nullptr;
    b.size = 0;
    const std::size_t rounded = (bytes + 4095) / 4096 * 4096;
    b.p = std::aligned_alloc(64, rounded == 0 ? 4096 : rounded);
    if (!b.p) throw std::bad_alloc();
    b.size = rounded;
  }
  return b.p;
}

// `values` elements of T (at least one).
template <class T, class Owner, int Slot = 0>
T* thread_scratch(std::int64_t values) {
  return static_cast<T*>(thread_scratch_bytes<Owner, Slot>(std::size_t(values > 0 ? values : 1) * sizeof(T)));
}

}  // namespace strata::kernels::cpu
