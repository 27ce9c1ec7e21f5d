// strata/device/cuda/stream.hpp — streams and events as RAII values, and the calling thread's
// current stream (where strata launches kernels, copies and GEMMs; the legacy default stream
// unless a stream_guard says otherwise). strata's streams are blocking by default: the legacy
// stream orders itself against them, so a tensor filled on stream 0 and read under a guard (or
// the reverse) needs no event; non_blocking streams leave that to the caller.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "strata/device/cuda/allocator.hpp"
#include "strata/device/cuda/error.hpp"

namespace strata {

// An owned CUDA stream: blocking (ordered against the legacy default stream) unless made with
// stream::non_blocking.
class stream {
 public:
  struct non_blocking_t {};
  static constexpr non_blocking_t non_blocking{};

  stream() { STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&handle_, cudaStreamDefault)); }
  explicit stream(non_blocking_t) { STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&handle_, cudaStreamNonBlocking)); }
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
    if (handle_) {
      caching_allocator::instance().forget_stream(handle_);  // its blocks go to the legacy stream
      if (cudaStreamDestroy(handle_) != cudaSuccess) cudaGetLastError();  // not left for the next launch check
    }
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
    if (handle_ && cudaEventDestroy(handle_) != cudaSuccess) cudaGetLastError();
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

// Marks the device memory of tensor `t` as used on stream s as well as the stream it was
// allocated on: when it is freed, its block waits for the work queued on s so far (PyTorch's
// record_stream). Needed where a tensor made on one non-default stream is read on another and
// freed before that stream is synchronised. A tensor, not a view: the block is the tensor's.
template <class Owner>
  requires requires(const Owner& t) { t.view(); t.clone(); }  // a Tensor (views have no clone)
void record_stream(const Owner& t, cudaStream_t s) {
  if (t.size() > 0) caching_allocator::instance().record_stream(t.data(), s);
}

// Waits for all work strata queued on this thread's current stream.
inline void synchronize() { STRATA_CUDA_CHECK(cudaStreamSynchronize(current_stream())); }

}  // namespace strata
