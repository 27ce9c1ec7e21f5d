// strata/device/cuda/allocator.hpp — a caching allocator for device memory, so a training loop
// that frees and re-creates the same tensors every step calls cudaMalloc only in its first
// step. Blocks are cached per (device, stream) and reused for requests of up to their size;
// on out-of-memory the cache is released and the allocation retried once.
//
// The stream contract: a block belongs to the stream it was allocated on, and is reused there
// at once when it is freed with that stream current and used on no other. A block freed while
// another stream is current, or marked with record_stream() as used on other streams, waits for
// an event on each of those streams before it is reused (as PyTorch's recordStream), so a kernel
// still reading it on another stream never sees its next owner's data. A stream that is
// destroyed hands its blocks to the legacy default stream first (forget_stream).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <unordered_map>
#include <vector>

#include "strata/device/cuda/error.hpp"

namespace strata {

class caching_allocator {
 public:
  struct statistics {
    std::size_t bytes_in_use = 0;        // handed out and not yet returned
    std::size_t peak_bytes_in_use = 0;   // the most ever in use at once (since reset_peak)
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
    collect_pending_locked(false);
    auto& pool = free_[{device, stream}];
    // The smallest cached block that fits, if it is not more than twice what is asked.
    if (auto it = pool.lower_bound(size); it != pool.end() && it->first <= 2 * size) {
      void* p = it->second;
      live_[p] = block{it->first, device, stream};
      stats_.bytes_cached -= it->first;
      stats_.bytes_in_use += it->first;
      stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
      ++stats_.cache_hits;
      pool.erase(it);
      return p;
    }
    void* p = nullptr;
    cudaError_t status = cudaMalloc(&p, size);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      collect_pending_locked(true);  // wait for the blocks other streams still use, then free them too
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
    live_[p] = block{size, device, stream, {}};
    stats_.bytes_in_use += size;
    stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
    return p;
  }

  // Marks p (a live block) as used on stream s too: freeing it then waits for the work queued
  // on s so far before the block is reused.
  void record_stream(const void* p, cudaStream_t s) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = live_.find(const_cast<void*>(p));
    if (it == live_.end()) throw cuda_error("caching_allocator::record_stream: the pointer is not a live block of strata's", 0);
    block& b = it->second;
    if (s != b.stream && std::find(b.users.begin(), b.users.end(), s) == b.users.end()) b.users.push_back(s);
  }

  // Returns p to the cache of the stream it was allocated on: at once when `current` (the stream
  // current where it is freed) is that stream and no other stream was recorded for it, since
  // work queued on that stream finishes before any later work there; else after events on the
  // other streams have passed (collected by later allocations).
  void deallocate(void* p, cudaStream_t current = nullptr) noexcept {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = live_.find(p);
    if (it == live_.end()) return;  // not ours: nothing sensible to do in a noexcept path
    block b = std::move(it->second);
    live_.erase(it);
    stats_.bytes_in_use -= b.size;
    stats_.bytes_cached += b.size;
    if (current != b.stream && std::find(b.users.begin(), b.users.end(), current) == b.users.end()) b.users.push_back(current);
    if (b.users.empty()) {
      free_[{b.device, b.stream}].emplace(b.size, p);
      return;
    }
    pending_block waiting{p, b.size, b.device, b.stream, {}};
    for (cudaStream_t user : b.users) {
      cudaEvent_t e = take_event_locked();
      if (e == nullptr || cudaEventRecord(e, user) != cudaSuccess) {
        cudaGetLastError();  // cannot record: wait here instead (noexcept, so no throw)
        if (e) spare_events_.push_back(e);
        cudaStreamSynchronize(user);
        cudaGetLastError();
        continue;
      }
      waiting.events.push_back(e);
    }
    if (waiting.events.empty()) free_[{b.device, b.stream}].emplace(b.size, p);
    else pending_.push_back(std::move(waiting));
  }

  // Before stream s is destroyed (strata::stream does this): waits for it, and gives its cached
  // and live blocks to the legacy default stream, so that a later stream with the same handle
  // value inherits nothing.
  void forget_stream(cudaStream_t s) noexcept {
    if (s == nullptr) return;
    cudaStreamSynchronize(s);
    cudaGetLastError();
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (std::get<1>(it->first) != s) continue;
      auto& legacy = free_[{std::get<0>(it->first), nullptr}];
      legacy.insert(it->second.begin(), it->second.end());
      it->second.clear();
    }
    for (auto& [p, b] : live_) {
      if (b.stream == s) b.stream = nullptr;
      b.users.erase(std::remove(b.users.begin(), b.users.end(), s), b.users.end());
    }
    for (auto& w : pending_)
      if (w.stream == s) w.stream = nullptr;
  }

  // Gives every cached block of every device back to the driver (blocks still waiting for other
  // streams stay until those streams pass them).
  void release_cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    collect_pending_locked(false);
    release_cached_locked(-1);
  }

  // Blocks freed but still waiting for other streams.
  std::size_t pending_blocks() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return pending_.size();
  }

  statistics stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  // Starts the peak over from what is in use now.
  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_bytes_in_use = stats_.bytes_in_use;
  }

 private:
  struct block {
    std::size_t size;
    int device;
    cudaStream_t stream;
    std::vector<cudaStream_t> users;  // other streams that used it (record_stream, the freeing stream)
  };
  struct pending_block {
    void* p;
    std::size_t size;
    int device;
    cudaStream_t stream;
    std::vector<cudaEvent_t> events;
  };

  caching_allocator() = default;

  cudaEvent_t take_event_locked() noexcept {
    if (!spare_events_.empty()) {
      cudaEvent_t e = spare_events_.back();
      spare_events_.pop_back();
      return e;
    }
    cudaEvent_t e = nullptr;
    if (cudaEventCreateWithFlags(&e, cudaEventDisableTiming) != cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    return e;
  }

  // Moves the pending blocks whose events have all passed into their stream's cache (`wait`:
  // waits for all of them first).
  void collect_pending_locked(bool wait) noexcept {
    for (std::size_t i = 0; i < pending_.size();) {
      pending_block& w = pending_[i];
      bool passed = true;
      for (cudaEvent_t e : w.events) {
        const cudaError_t status = wait ? cudaEventSynchronize(e) : cudaEventQuery(e);
        if (status == cudaErrorNotReady) {
          passed = false;
          break;
        }
        if (status != cudaSuccess) cudaGetLastError();  // an error elsewhere: the event will not pass later either
      }
      if (!passed) {
        ++i;
        continue;
      }
      spare_events_.insert(spare_events_.end(), w.events.begin(), w.events.end());
      free_[{w.device, w.stream}].emplace(w.size, w.p);
      pending_[i] = std::move(pending_.back());
      pending_.pop_back();
    }
  }

  void release_cached_locked(int device) {
    for (auto& [key, pool] : free_) {
      if (device >= 0 && std::get<0>(key) != device) continue;
      for (auto& [size, p] : pool) {
        if (cudaFree(p) != cudaSuccess) cudaGetLastError();  // synchronises the device, so no queued work still uses p
        stats_.bytes_cached -= size;
      }
      pool.clear();
    }
  }

  mutable std::mutex mutex_;
  std::unordered_map<void*, block> live_;
  std::map<std::tuple<int, cudaStream_t>, std::multimap<std::size_t, void*>> free_;
  std::vector<pending_block> pending_;
  std::vector<cudaEvent_t> spare_events_;
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
    if (data_ && cudaFreeHost(data_) != cudaSuccess) cudaGetLastError();  // not left for the next launch check
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  std::int64_t size_ = 0;
};

}  // namespace strata
