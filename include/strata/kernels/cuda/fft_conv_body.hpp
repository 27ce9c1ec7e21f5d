// strata/kernels/cuda/fft_conv_body.hpp — what each GPU thread of an FFT convolution does, as
// host-and-device functors of its grid_index: planes zero-extended onto the transform grid,
// results cut out of it (scaled, bias added or accumulated), and spectra moved between plane-major
// order (what cuFFT writes) and frequency-major order (one complex matrix per frequency, what the
// batched GEMM reads). kernels/cuda/conv_passes.hpp sequences them; the cuda_emulated tests run
// them on the CPU. Plain C++: compiles with g++ as well as nvcc.
#pragma once

#include <cstdint>

#include "strata/config.hpp"
#include "strata/device/cuda/grid.hpp"

namespace strata::kernels::cuda_body {

// grid[p][i][j] = src[p][i − oy][j − ox] inside the h×w source plane, 0 elsewhere on the
// fy×fx grid: one thread per grid element.
template <class T, class I>
struct fft_extend_body {
  I planes, h, w, fy, fx, oy, ox;
  const T* src;
  T* grid;
  STRATA_HD void operator()(const cuda_grid::grid_index& t) const {
    const I area = fy * fx, total = planes * area;
    for (I e = I(cuda_grid::global_x(t)); e < total; e += I(cuda_grid::threads_x(t))) {
      const I p = e / area, at = e - p * area, i = at / fx - oy, j = at % fx - ox;
      grid[e] = i >= 0 && i < h && j >= 0 && j < w ? src[(p * h + i) * w + j] : T(0);
    }
  }
};

// dst[p][i][j] (+)= scale · grid[p][i + oy][j + ox] (+ bias[p mod channels]) for the h×w window:
// one thread per element of dst.
template <class T, class I>
struct fft_crop_body {
  I planes, h, w, fy, fx, oy, ox, channels;
  T scale;
  const T* grid;
  const T* bias;  // or null
  bool accumulate;
  T* dst;
  STRATA_HD void operator()(const cuda_grid::grid_index& t) const {
    const I area = h * w, total = planes * area;
    for (I e = I(cuda_grid::global_x(t)); e < total; e += I(cuda_grid::threads_x(t))) {
      const I p = e / area, at = e - p * area, i = at / w, j = at - i * w;
      T v = scale * grid[(p * fy + i + oy) * fx + j + ox];
      if (bias) v += bias[p % channels];
      dst[e] = accumulate ? dst[e] + v : v;
    }
  }
};

// Spectra are interleaved complex numbers (re, im) of T. Plane-major: [a][c][f] for `outer`
// planes of `inner` channels and `bins` frequencies; frequency-major: [f][c][a], one inner×outer
// matrix per frequency. `conjugate` conjugates on the way (the correlation's conj(Ŵ)).
template <class T, class I>
struct to_frequency_major_body {
  I outer, inner, bins;
  bool conjugate;
  const T* plane_major;
  T* frequency_major;
  STRATA_HD void operator()(const cuda_grid::grid_index& t) const {
    const I total = outer * inner * bins;
    for (I e = I(cuda_grid::global_x(t)); e < total; e += I(cuda_grid::threads_x(t))) {
      const I f = e % bins, ac = e / bins, c = ac % inner, a = ac / inner;  // reads run along f
      const I to = (f * inner + c) * outer + a;
      frequency_major[2 * to] = plane_major[2 * e];
      frequency_major[2 * to + 1] = conjugate ? -plane_major[2 * e + 1] : plane_major[2 * e + 1];
    }
  }
};

template <class T, class I>
struct from_frequency_major_body {
  I outer, inner, bins;
  const T* frequency_major;
  T* plane_major;
  STRATA_HD void operator()(const cuda_grid::grid_index& t) const {
    const I total = outer * inner * bins;
    for (I e = I(cuda_grid::global_x(t)); e < total; e += I(cuda_grid::threads_x(t))) {
      const I f = e % bins, ac = e / bins, c = ac % inner, a = ac / inner;  // writes run along f
      const I from = (f * inner + c) * outer + a;
      plane_major[2 * e] = frequency_major[2 * from];
      plane_major[2 * e + 1] = frequency_major[2 * from + 1];
    }
  }
};

// The smallest n' ≥ n whose only prime factors are 2, 3, 5 and 7 (cuFFT's fast sizes).
inline std::int64_t fft_friendly_size(std::int64_t n) {
  for (std::int64_t m = n < 1 ? 1 : n;; ++m) {
    std::int64_t r = m;
    for (const std::int64_t p : {2, 3, 5, 7})
      while (r % p == 0) r /= p;
    if (r == 1) return m;
  }
}

}  // namespace strata::kernels::cuda_body
