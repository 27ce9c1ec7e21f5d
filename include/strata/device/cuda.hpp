// strata/device/cuda.hpp — device_traits<cuda>: device memory through the caching allocator,
// device-to-device copies, fill, and the evaluation of every expression on the calling
// thread's current stream; plus explicit copies between host and device tensors.
// Compile with nvcc (include <strata/cuda.hpp>).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "strata/core/tensor.hpp"
#include "strata/device/cuda/allocator.hpp"
#include "strata/device/cuda/error.hpp"
#include "strata/device/cuda/runtime.hpp"
#include "strata/device/cuda/stream.hpp"
#include "strata/device/cuda/elementwise.cuh"
#include "strata/device/cuda/reduce.cuh"

namespace strata {

template <>
struct device_traits<cuda> {
  static constexpr const char* name = "cuda";

  template <class T>
  static T* allocate(std::int64_t n) {
    if (n <= 0) return nullptr;
    return static_cast<T*>(caching_allocator::instance().allocate(static_cast<std::size_t>(n) * sizeof(T), current_stream()));
  }
  template <class T>
  static void deallocate(T* p) noexcept {
    caching_allocator::instance().deallocate(p, current_stream());
  }
  // memmove semantics, as on the CPU: overlapping ranges go through a temporary (a device-to-
  // device cudaMemcpy of overlapping ranges is undefined).
  template <class T>
  static void copy(const T* src, T* dst, std::int64_t n) {
    if (n <= 0 || src == dst) return;
    const std::size_t bytes = static_cast<std::size_t>(n) * sizeof(T);
    const cudaStream_t s = current_stream();
    if (src < dst + n && dst < src + n) {
      T* tmp = allocate<T>(n);
      STRATA_CUDA_CHECK(cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, s));
      STRATA_CUDA_CHECK(cudaMemcpyAsync(dst, tmp, bytes, cudaMemcpyDeviceToDevice, s));
      deallocate(tmp);  // same stream: reused only by work queued after these copies
      return;
    }
    STRATA_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s));
  }
  template <class T>
  static void fill(T* dst, std::int64_t n, T value) {
    cuda_evaluator::fill(dst, n, value);
  }

  template <assign_mode Mode, class T, std::size_t Rank, class E>
  static void assign(const TensorView<T, Rank, cuda>& dst, const E& e) {
    if constexpr (E::is_complex) {
      evaluate_complex(cuda{}, dst, e, Mode);  // matmul, reductions: found by argument-dependent lookup
    } else {
      cuda_evaluator::assign_elementwise<Mode>(dst, e);
    }
  }

  template <class Reducer, class E>
  static auto reduce_all(const E& e) {
    return cuda_evaluator::reduce_all<Reducer>(e);
  }
};

// ---------------------------------------------------------------------------------------------
// Between host and device. Shapes may differ if the element counts agree (as in copy()).

namespace detail {
template <class Src, class Dst>
void check_transfer(const Src& src, const Dst& dst, const char* what) {
  static_assert(std::is_same_v<std::remove_const_t<typename Src::value_type>, typename Dst::value_type>,
                "strata: host and device tensors of different element types; cast on one side first");
  if (src.size() != dst.size())
    throw shape_error(std::string(what) + ": source " + src.shape().to_string() + " and destination " +
                      dst.shape().to_string() + " hold different numbers of elements");
}
template <class Src, class Dst>
void transfer(const Src& src, const Dst& dst, cudaMemcpyKind kind, cudaStream_t s, bool wait, const char* what) {
  check_transfer(src, dst, what);
  STRATA_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), static_cast<std::size_t>(src.bytes()), kind, s));
  if (wait) STRATA_CUDA_CHECK(cudaStreamSynchronize(s));
}
}  // namespace detail

// copy(host, device) and copy(device, host): synchronous, like copy() between host tensors.
template <class Src, class Dst>
void cross_device_copy(cpu, cuda, const Src& src, const Dst& dst) {
  detail::transfer(src, dst, cudaMemcpyHostToDevice, current_stream(), true, "copy to device");
}
template <class Src, class Dst>
void cross_device_copy(cuda, cpu, const Src& src, const Dst& dst) {
  detail::transfer(src, dst, cudaMemcpyDeviceToHost, current_stream(), true, "copy to host");
}

// Asynchronous on stream s: the host memory must stay valid (and, for real overlap, be pinned)
// until the stream reaches the copy.
// The source may be a view of const or of mutable data (T deduced from it, const or not).
template <class T, std::size_t R>
void copy_async(TensorView<T, R, cpu> src, TensorView<std::remove_const_t<T>, R, cuda> dst, cudaStream_t s) {
  detail::transfer(src, dst, cudaMemcpyHostToDevice, s, false, "copy_async to device");
}
template <class T, std::size_t R>
void copy_async(TensorView<T, R, cuda> src, TensorView<std::remove_const_t<T>, R, cpu> dst, cudaStream_t s) {
  detail::transfer(src, dst, cudaMemcpyDeviceToHost, s, false, "copy_async to host");
}

// A device copy of a host tensor, and a host copy of a device tensor.
template <class T, std::size_t R>
Tensor<std::remove_const_t<T>, R, cuda> to_device(TensorView<T, R, cpu> host) {
  auto d = Tensor<std::remove_const_t<T>, R, cuda>::uninitialized(host.shape());
  cross_device_copy(cpu{}, cuda{}, host, d.view());
  return d;
}
template <class T, std::size_t R>
Tensor<T, R, cuda> to_device(const Tensor<T, R, cpu>& host) {
  return to_device(host.view());
}
template <class T, std::size_t R>
Tensor<std::remove_const_t<T>, R, cpu> to_host(TensorView<T, R, cuda> device) {
  auto h = Tensor<std::remove_const_t<T>, R, cpu>::uninitialized(device.shape());
  cross_device_copy(cuda{}, cpu{}, device, h.view());
  return h;
}
template <class T, std::size_t R>
Tensor<T, R, cpu> to_host(const Tensor<T, R, cuda>& device) {
  return to_host(device.view());
}

}  // namespace strata
