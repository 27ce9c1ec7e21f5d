// strata/kernels/cuda/fft.cuh — batched 2-D real-to-complex FFTs on the GPU through cuFFT, for
// the FFT convolution: rfft2 of [batch, H, W] real planes into [batch, H, W/2 + 1, 2]
// (interleaved re, im) and back, on tensors or on raw planes. Plans are made once per (device,
// stream, shape, batch) and kept in a bounded cache (least recently used out); their work areas
// come from strata's caching allocator
// for each transform (not cuFFT's own cudaMalloc, which the allocator could not release on
// out-of-memory), and a plan runs one transform at a time (cuFFT plans are not thread-safe).
#pragma once

#include <cuda_runtime.h>
#include <cufft.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>

#include "strata/core/tensor.hpp"
#include "strata/device/cuda/allocator.hpp"
#include "strata/device/cuda/bounded_cache.hpp"
#include "strata/device/cuda.hpp"
#include "strata/device/cuda/error.hpp"
#include "strata/device/cuda/stream.hpp"

namespace strata::kernels::cuda {

namespace detail {

template <class T>
constexpr cufftType fft_type(bool forward) {
  if constexpr (std::is_same_v<T, float>) return forward ? CUFFT_R2C : CUFFT_C2R;
  else return forward ? CUFFT_D2Z : CUFFT_Z2D;
}

inline int fft_extent(std::int64_t v, const char* what) {
  if (v <= 0 || v > INT32_MAX) throw shape_error(std::string("fft: ") + what + " = " + std::to_string(v) + " is out of range");
  return static_cast<int>(v);
}

}  // namespace detail

// A cuFFT plan made without a work area, and the lock its transforms hold; destroyed with the
// entry (when the plan cache has evicted it and no transform still holds it).
struct fft_plan_entry {
  cufftHandle handle = 0;
  std::size_t work_bytes = 0;
  std::mutex running;
  fft_plan_entry() = default;
  fft_plan_entry(const fft_plan_entry&) = delete;
  fft_plan_entry& operator=(const fft_plan_entry&) = delete;
  ~fft_plan_entry() {
    if (handle) cufftDestroy(handle);
  }
};

// How many plans the cache keeps: a network's layers and passes need a few each (filters, a
// chunk of images, a ragged last chunk), and a plan without its work area is small.
inline constexpr std::size_t fft_plan_cache_capacity = 128;

using fft_plan_key = std::tuple<int, cudaStream_t, std::int64_t, std::int64_t, std::int64_t, int>;
inline bounded_cache<fft_plan_key, fft_plan_entry>& fft_plan_cache() {
  static auto* cache = new bounded_cache<fft_plan_key, fft_plan_entry>(fft_plan_cache_capacity);
  return *cache;
}

// The cached plan for `batch` transforms of h × w real planes (type: R2C, C2R, D2Z or Z2D); the
// least recently used plan goes when the cache is full.
inline std::shared_ptr<fft_plan_entry> fft_plan(std::int64_t batch, std::int64_t h, std::int64_t w, cufftType type) {
  int device = 0;
  STRATA_CUDA_CHECK(cudaGetDevice(&device));
  const cudaStream_t stream = current_stream();
  return fft_plan_cache().get(fft_plan_key{device, stream, batch, h, w, static_cast<int>(type)}, [&] {
    int n[2] = {detail::fft_extent(h, "height"), detail::fft_extent(w, "width")};
    const std::int64_t real_dist = h * w, complex_dist = h * (w / 2 + 1);
    const bool forward = type == CUFFT_R2C || type == CUFFT_D2Z;
    detail::fft_extent(real_dist, "height·width");
    detail::fft_extent(batch, "batch");
    if (real_dist * batch * 2 > INT32_MAX)  // cufftMakePlanMany's int strides and offsets
      throw shape_error("fft: " + std::to_string(batch) + " planes of " + std::to_string(h) + "×" + std::to_string(w) +
                        " exceed cuFFT's 32-bit plan limits; transform them in smaller batches");
    auto e = std::make_shared<fft_plan_entry>();
    STRATA_CUDA_CHECK(cufftCreate(&e->handle));
    STRATA_CUDA_CHECK(cufftSetAutoAllocation(e->handle, 0));
    STRATA_CUDA_CHECK(cufftMakePlanMany(e->handle, 2, n, nullptr, 1, int(forward ? real_dist : complex_dist), nullptr, 1,
                                        int(forward ? complex_dist : real_dist), type, int(batch), &e->work_bytes));
    STRATA_CUDA_CHECK(cufftSetStream(e->handle, stream));
    return e;
  });
}

// Runs exec(handle) for one transform with the plan's work area from the caching allocator.
template <class Exec>
void run_fft(fft_plan_entry& plan, Exec&& exec) {
  std::lock_guard<std::mutex> lock(plan.running);
  // cuFFT needs the device's context current on this thread; a thread whose first CUDA work is
  // a transform has none yet (CUFFT_EXEC_FAILED on an H200), and cudaSetDevice makes it current.
  int device = 0;
  STRATA_CUDA_CHECK(cudaGetDevice(&device));
  STRATA_CUDA_CHECK(cudaSetDevice(device));
  const cudaStream_t stream = current_stream();
  auto& pool = caching_allocator::instance();
  void* work = plan.work_bytes ? pool.allocate(plan.work_bytes, stream) : nullptr;
  try {
    if (work) STRATA_CUDA_CHECK(cufftSetWorkArea(plan.handle, work));
    exec(plan.handle);
  } catch (...) {
    pool.deallocate(work, stream);
    throw;
  }
  pool.deallocate(work, stream);  // reused only by work queued after the transform
}

// spectra[b][u][v] (interleaved re, im) = Σ x[b][y][x] e^{-2πi(uy/h + vx/w)} for `planes` h×w
// real planes, v < w/2 + 1 (the rest follows by Hermitian symmetry).
template <class T>
void rfft2_planes(std::int64_t planes, std::int64_t h, std::int64_t w, const T* x, T* spectra) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "strata::rfft2: float or double planes");
  if (planes == 0 || h == 0 || w == 0) return;
  const auto plan_entry = fft_plan(planes, h, w, detail::fft_type<T>(true));
  run_fft(*plan_entry, [&](cufftHandle plan) {
    // cuFFT's R2C does not write its input; its signature just is not const.
    if constexpr (std::is_same_v<T, float>)
      STRATA_CUDA_CHECK(cufftExecR2C(plan, const_cast<cufftReal*>(x), reinterpret_cast<cufftComplex*>(spectra)));
    else
      STRATA_CUDA_CHECK(cufftExecD2Z(plan, const_cast<cufftDoubleReal*>(x), reinterpret_cast<cufftDoubleComplex*>(spectra)));
  });
}

// The inverse of rfft2_planes, unnormalised (h·w·x); cuFFT's C2R overwrites `spectra`.
template <class T>
void irfft2_planes_overwriting(std::int64_t planes, std::int64_t h, std::int64_t w, T* spectra, T* x) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "strata::irfft2: float or double planes");
  if (planes == 0 || h == 0 || w == 0) return;
  const auto plan_entry = fft_plan(planes, h, w, detail::fft_type<T>(false));
  run_fft(*plan_entry, [&](cufftHandle plan) {
    if constexpr (std::is_same_v<T, float>)
      STRATA_CUDA_CHECK(cufftExecC2R(plan, reinterpret_cast<cufftComplex*>(spectra), x));
    else
      STRATA_CUDA_CHECK(cufftExecZ2D(plan, reinterpret_cast<cufftDoubleComplex*>(spectra), x));
  });
}

// spectrum[b, u, v, 0/1] = Re/Im Σ x[b, y, x] e^{-2πi(uy/H + vx/W)}, v < W/2 + 1.
template <class T>
void rfft2(TensorView<const T, 3, strata::cuda> x, TensorView<T, 4, strata::cuda> spectrum) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "strata::rfft2: float or double planes");
  const std::int64_t b = x.extent(0), h = x.extent(1), w = x.extent(2);
  if (spectrum.shape() != Shape<4>{b, h, w / 2 + 1, 2})
    throw shape_error("rfft2: planes " + x.shape().to_string() + " need a spectrum of shape " +
                      Shape<4>{b, h, w / 2 + 1, 2}.to_string() + ", not " + spectrum.shape().to_string());
  rfft2_planes(b, h, w, x.data(), spectrum.data());
}

// The inverse of rfft2, unnormalised: irfft2(rfft2(x)) = H·W·x. The spectrum is left intact
// (the transform works on a copy).
template <class T>
void irfft2(TensorView<const T, 4, strata::cuda> spectrum, TensorView<T, 3, strata::cuda> x) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "strata::irfft2: float or double planes");
  const std::int64_t b = x.extent(0), h = x.extent(1), w = x.extent(2);
  if (spectrum.shape() != Shape<4>{b, h, w / 2 + 1, 2})
    throw shape_error("irfft2: planes " + x.shape().to_string() + " need a spectrum of shape " +
                      Shape<4>{b, h, w / 2 + 1, 2}.to_string() + ", not " + spectrum.shape().to_string());
  if (x.size() == 0) return;
  Tensor<T, 4, strata::cuda> scratch = Tensor<T, 4, strata::cuda>::uninitialized(spectrum.shape());
  device_traits<strata::cuda>::copy(spectrum.data(), scratch.data(), spectrum.size());
  irfft2_planes_overwriting(b, h, w, scratch.data(), x.data());
}

}  // namespace strata::kernels::cuda
