// strata/kernels/cpu/fft/workspace.hpp — per-thread, grow-only, 64-byte aligned scratch for the
// FFT convolution (spectra of a batch, plane transforms), and leases that carve arrays out of it.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <new>

namespace strata::kernels::cpu::fft {

// Workspace kept by each thread between calls. Fresh allocations of this size cost a page fault
// per 4 KB on first touch, which can cost more than the transforms themselves (see
// benchmarks/RESULTS.md, issue 5). Each thread keeps up to keep_bytes; a larger workspace is
// released when its lease ends. fft_conv_release_workspace() frees the calling thread's at once.
class thread_workspace {
 public:
  static constexpr std::size_t keep_bytes = std::size_t(256) << 20;
  ~thread_workspace() { std::free(p_); }
  void* get(std::size_t bytes) {
    if (bytes > size_) {
      std::free(p_);
      size_ = 0;
      p_ = std::aligned_alloc(64, ceil64(bytes));
      if (!p_) throw std::bad_alloc();
      size_ = ceil64(bytes);
    }
    return p_;
  }
  void trim(std::size_t keep = keep_bytes) {
    if (size_ > keep) std::free(p_), p_ = nullptr, size_ = 0;
  }
  static thread_workspace& of_this_thread(int slot) {
    thread_local thread_workspace spaces[2];  // 0: a call's spectra, 1: a worker's plane scratch
    return spaces[slot];
  }

 private:
  static std::size_t ceil64(std::size_t n) { return (n + 63) / 64 * 64; }
  void* p_ = nullptr;
  std::size_t size_ = 0;
};

// Carves arrays of T out of this thread's workspace `slot`, each at a 64-byte boundary:
// lease.take(n) → pointer to n scalars. Sizes are added up first (reserve), then taken.
template <class T>
class workspace_lease {
 public:
  explicit workspace_lease(int slot) : space_(thread_workspace::of_this_thread(slot)) {}
  ~workspace_lease() { space_.trim(); }
  workspace_lease(const workspace_lease&) = delete;
  workspace_lease& operator=(const workspace_lease&) = delete;
  void reserve(std::int64_t n) { total_ += round(n); }
  T* take(std::int64_t n) {
    if (!base_) base_ = static_cast<T*>(space_.get(std::size_t(total_) * sizeof(T)));
    T* p = base_ + used_;
    used_ += round(n);
    return p;
  }

 private:
  static std::int64_t round(std::int64_t n) {  // to whole 64-byte lines
    constexpr std::int64_t line = 64 / std::int64_t(sizeof(T));
    return (n + line - 1) / line * line;
  }
  thread_workspace& space_;
  T* base_ = nullptr;
  std::int64_t total_ = 0, used_ = 0;
};

}  // namespace strata::kernels::cpu::fft
