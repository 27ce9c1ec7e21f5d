// strata/device/cuda/allocator.hpp — a caching allocator for device memory, so a training loop
// that frees and re-creates the same tensors every step calls cudaMalloc only in its first
// step. Blocks are cached per (device, stream) and reused for requests of up to their size;
// on out-of-memory the cache is released and the allocation retried once.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <unordered_map>

#include "strata/device/cuda/error.hpp"

namespace strata {

class caching_allocator {
 public:
  struct statistics {
    std::size_t bytes_in_use = 0;        // handed out and not yet returned
    std::size_t bytes_cached = 0;        // returned, kept for reuse
    std::int64_t device_allocations = 0; // cudaMalloc calls so far
    std::int64_t cache_hits = 0;         // requests served from the cache
  };

  // One per process, never destroyed: freeing device memory after the CUDA runtime has shut
  // down at exit would fail, and the driver reclaims everything anyway.
  static caching_allocator& instance() {
    static caching_allocator* a = new caching_allocator();
    return *a;
  }

  // Small requests round up to 512 B, large ones to 2 MiB, so similar sizes share blocks.
  static std::size_t round_size(std::size_t bytes) {
    constexpr std::size_t small = 512, large = std::size_t{2} << 20;
    if (bytes < (std::size_t{1} << 20)) return (bytes + small - 1) / small * small;
    return (bytes + large - 1) / large * large;
  }

  void* allocate(std::size_t bytes, cudaStream_t stream) {
    if (bytes == 0) return nullptr;
    const std::size_t size = round_size(bytes);
    int device = 0;
    STRATA_CUDA_CHECK(cudaGetDevice(&device));
    std::lock_guard<std::mutex> lock(mutex_);
    auto& pool = free_[{device, stream}];
    // The smallest cached block that fits, if it is not more than twice what is asked.
    if (auto it = pool.lower_bound(size); it != pool.end() && it->first <= 2 * size) {
      void* p = it->second;
      live_[p] = block{it->first, device, stream};
      stats_.bytes_cached -= it->first;
      stats_.bytes_in_use += it->first;
      ++stats_.cache_hits;
      pool.erase(it);
      return p;
    }
    void* p = nullptr;
    cudaError_t status = cudaMalloc(&p, size);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      release_cached_locked(device);
      status = cudaMalloc(&p, size);
    }
    if (status != cudaSuccess) {
      cudaGetLastError();
      throw cuda_error("cuda: cannot allocate " + std::to_string(bytes) + " bytes on device " +
                           std::to_string(device) + " (" + std::to_string(stats_.bytes_in_use) +
                           " bytes in use by strata): cudaMalloc: " + cudaGetErrorString(status),
                       static_cast<int>(status));
    }
    ++stats_.device_allocations;
    live_[p] = block{size, device, stream};
    stats_.bytes_in_use += size;
    return p;
  }

  // Returns p to the cache of the stream it was allocated on. Work queued on that stream
  // before the free finishes before any later reuse, because reuse is on the same stream.
  void deallocate(void* p) noexcept {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = live_.find(p);
    if (it == live_.end()) return;  // not ours: nothing sensible to do in a noexcept path
    const block b = it->second;
    live_.erase(it);
    stats_.bytes_in_use -= b.size;
    stats_.bytes_cached += b.size;
    free_[{b.device, b.stream}].emplace(b.size, p);
  }

  // Gives every cached block of every device back to the driver.
  void release_cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached_locked(-1);
  }

  statistics stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

 private:
  struct block {
    std::size_t size;
    int device;
    cudaStream_t stream;
  };

  caching_allocator() = default;

  void release_cached_locked(int device) {
    for (auto& [key, pool] : free_) {
      if (device >= 0 && std::get<0>(key) != device) continue;
      for (auto& [size, p] : pool) {
        cudaFree(p);  // synchronises the device, so no queued work still uses p
        stats_.bytes_cached -= size;
      }
      pool.clear();
    }
  }

  mutable std::mutex mutex_;
  std::unordered_map<void*, block> live_;
  std::map<std::tuple<int, cudaStream_t>, std::multimap<std::size_t, void*>> free_;
  statistics stats_;
};

// Pinned (page-locked) host memory: copies from and to it run asynchronously and at full
// PCIe/NVLink speed.
template <class T>
class pinned_buffer {
 public:
  pinned_buffer() = default;
  explicit pinned_buffer(std::int64_t n) : size_(n) {
    if (n > 0) STRATA_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&data_), static_cast<std::size_t>(n) * sizeof(T)));
  }
  pinned_buffer(pinned_buffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  pinned_buffer& operator=(pinned_buffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  pinned_buffer(const pinned_buffer&) = delete;
  pinned_buffer& operator=(const pinned_buffer&) = delete;
  ~pinned_buffer() { reset(); }

  T* data() const noexcept { return data_; }
  std::int64_t size() const noexcept { return size_; }

 private:
  void reset() noexcept {
    if (data_) cudaFreeHost(data_);
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  std::int64_t size_ = 0;
};

}  // namespace strata
