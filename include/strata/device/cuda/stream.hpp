// strata/device/cuda/stream.hpp — streams and events as RAII values, and the calling thread's
// current stream (where strata launches kernels, copies and GEMMs; the legacy default stream
// unless a stream_guard says otherwise).
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "strata/device/cuda/error.hpp"

namespace strata {

// An owned CUDA stream (non-blocking with respect to the legacy default stream).
class stream {
 public:
  stream() { STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&handle_, cudaStreamNonBlocking)); }
  stream(stream&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  stream& operator=(stream&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  ~stream() { reset(); }

  cudaStream_t get() const noexcept { return handle_; }
  operator cudaStream_t() const noexcept { return handle_; }
  void synchronize() const { STRATA_CUDA_CHECK(cudaStreamSynchronize(handle_)); }

 private:
  void reset() noexcept {
    if (handle_) cudaStreamDestroy(handle_);
    handle_ = nullptr;
  }
  cudaStream_t handle_ = nullptr;
};

// An owned CUDA event, with timing.
class event {
 public:
  event() { STRATA_CUDA_CHECK(cudaEventCreate(&handle_)); }
  event(event&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  event& operator=(event&&) = delete;
  event(const event&) = delete;
  event& operator=(const event&) = delete;
  ~event() {
    if (handle_) cudaEventDestroy(handle_);
  }

  void record(cudaStream_t s) { STRATA_CUDA_CHECK(cudaEventRecord(handle_, s)); }
  void synchronize() const { STRATA_CUDA_CHECK(cudaEventSynchronize(handle_)); }
  bool done() const {
    const cudaError_t status = cudaEventQuery(handle_);
    if (status == cudaErrorNotReady) return false;
    STRATA_CUDA_CHECK(status);
    return true;
  }
  // Milliseconds from `start` to this event (both recorded and complete).
  float elapsed_ms_since(const event& start) const {
    float ms = 0;
    STRATA_CUDA_CHECK(cudaEventElapsedTime(&ms, start.handle_, handle_));
    return ms;
  }
  cudaEvent_t get() const noexcept { return handle_; }

 private:
  cudaEvent_t handle_ = nullptr;
};

namespace detail {
inline cudaStream_t& current_stream_slot() {
  thread_local cudaStream_t s = nullptr;  // the legacy default stream
  return s;
}
}  // namespace detail

// The stream strata uses on this thread.
inline cudaStream_t current_stream() noexcept { return detail::current_stream_slot(); }

// Makes `s` the current stream until the guard goes out of scope.
class stream_guard {
 public:
  explicit stream_guard(cudaStream_t s) noexcept : previous_(std::exchange(detail::current_stream_slot(), s)) {}
  stream_guard(const stream_guard&) = delete;
  stream_guard& operator=(const stream_guard&) = delete;
  ~stream_guard() { detail::current_stream_slot() = previous_; }

 private:
  cudaStream_t previous_;
};

// Waits for all work strata queued on this thread's current stream.
inline void synchronize() { STRATA_CUDA_CHECK(cudaStreamSynchronize(current_stream())); }

}  // namespace strata
