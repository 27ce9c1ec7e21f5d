// strata/kernels/cuda/fft.cuh — batched 2-D real-to-complex FFTs on the GPU through cuFFT, for
// the FFT convolution: rfft2 of [batch, H, W] real planes into [batch, H, W/2 + 1, 2]
// (interleaved re, im) and back. Plans are created once per (device, stream, shape, batch)
// and cached for the life of the process.
#pragma once

#include <cuda_runtime.h>
#include <cufft.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>

#include "strata/core/tensor.hpp"
#include "strata/device/cuda/allocator.hpp"
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

// The cached plan for `batch` transforms of h × w real planes (type: R2C, C2R, D2Z or Z2D).
inline cufftHandle fft_plan(std::int64_t batch, std::int64_t h, std::int64_t w, cufftType type) {
  using key = std::tuple<int, cudaStream_t, std::int64_t, std::int64_t, std::int64_t, int>;
  static std::mutex mutex;
  static auto* plans = new std::map<key, cufftHandle>();
  int device = 0;
  STRATA_CUDA_CHECK(cudaGetDevice(&device));
  const cudaStream_t stream = current_stream();
  std::lock_guard<std::mutex> lock(mutex);
  const key k{device, stream, batch, h, w, static_cast<int>(type)};
  if (const auto it = plans->find(k); it != plans->end()) return it->second;
  int n[2] = {detail::fft_extent(h, "height"), detail::fft_extent(w, "width")};
  const int real_dist = n[0] * n[1], complex_dist = n[0] * (n[1] / 2 + 1);
  const bool forward = type == CUFFT_R2C || type == CUFFT_D2Z;
  cufftHandle plan = 0;
  STRATA_CUDA_CHECK(cufftPlanMany(&plan, 2, n, nullptr, 1, forward ? real_dist : complex_dist, nullptr, 1,
                                  forward ? complex_dist : real_dist, type, detail::fft_extent(batch, "batch")));
  const cufftResult set = cufftSetStream(plan, stream);
  if (set != CUFFT_SUCCESS) {
    cufftDestroy(plan);
    STRATA_CUDA_CHECK(set);
  }
  plans->emplace(k, plan);
  return plan;
}

// spectrum[b, u, v, 0/1] = Re/Im Σ x[b, y, x] e^{-2πi(uy/H + vx/W)}, v < W/2 + 1 (the rest
// follows by Hermitian symmetry).
template <class T>
void rfft2(TensorView<const T, 3, strata::cuda> x, TensorView<T, 4, strata::cuda> spectrum) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "strata::rfft2: float or double planes");
  const std::int64_t b = x.extent(0), h = x.extent(1), w = x.extent(2);
  if (spectrum.shape() != Shape<4>{b, h, w / 2 + 1, 2})
    throw shape_error("rfft2: planes " + x.shape().to_string() + " need a spectrum of shape " +
                      Shape<4>{b, h, w / 2 + 1, 2}.to_string() + ", not " + spectrum.shape().to_string());
  if (x.size() == 0) return;
  const cufftHandle plan = fft_plan(b, h, w, detail::fft_type<T>(true));
  // cuFFT's R2C does not write its input; its signature just is not const.
  if constexpr (std::is_same_v<T, float>)
    STRATA_CUDA_CHECK(cufftExecR2C(plan, const_cast<cufftReal*>(x.data()), reinterpret_cast<cufftComplex*>(spectrum.data())));
  else
    STRATA_CUDA_CHECK(cufftExecD2Z(plan, const_cast<cufftDoubleReal*>(x.data()),
                                   reinterpret_cast<cufftDoubleComplex*>(spectrum.data())));
}

// The inverse of rfft2, unnormalised: irfft2(rfft2(x)) = H·W·x. The spectrum is left intact
// (cuFFT's C2R overwrites its input, so it works on a copy).
template <class T>
void irfft2(TensorView<const T, 4, strata::cuda> spectrum, TensorView<T, 3, strata::cuda> x) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "strata::irfft2: float or double planes");
  const std::int64_t b = x.extent(0), h = x.extent(1), w = x.extent(2);
  if (spectrum.shape() != Shape<4>{b, h, w / 2 + 1, 2})
    throw shape_error("irfft2: planes " + x.shape().to_string() + " need a spectrum of shape " +
                      Shape<4>{b, h, w / 2 + 1, 2}.to_string() + ", not " + spectrum.shape().to_string());
  if (x.size() == 0) return;
  const cufftHandle plan = fft_plan(b, h, w, detail::fft_type<T>(false));
  Tensor<T, 4, strata::cuda> scratch = Tensor<T, 4, strata::cuda>::uninitialized(spectrum.shape());
  device_traits<strata::cuda>::copy(spectrum.data(), scratch.data(), spectrum.size());
  if constexpr (std::is_same_v<T, float>)
    STRATA_CUDA_CHECK(cufftExecC2R(plan, reinterpret_cast<cufftComplex*>(scratch.data()), x.data()));
  else
    STRATA_CUDA_CHECK(cufftExecZ2D(plan, reinterpret_cast<cufftDoubleComplex*>(scratch.data()), x.data()));
}

}  // namespace strata::kernels::cuda
