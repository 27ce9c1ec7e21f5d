// strata/kernels/cpu/fft/fftw_transform.hpp — the plane transform of fft/plane_transform.hpp done by
// FFTW3 plans instead (same grid, same spectrum layout), for builds that opt in with
// -DSTRATA_FFTW=ON. FFTW is GPL-2+: a program linking it must be distributed under the GPL.
//
// FFTW's planner is not thread-safe: strata creates its plans under planner_mutex(), so a
// program that also plans FFTW transforms on other threads at the same time must lock it too.
#pragma once

#if __has_include(<fftw3.h>)
#include <fftw3.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace strata::kernels::cpu::fft {

inline std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}

// FFTW_MEASURE times candidate algorithms on the first use of a size, once per process (about
// 0.1 s per grid); FFTW_ESTIMATE plans at once but may run slower. Set before the first call.
inline unsigned& planner_flags() {
  static unsigned flags = FFTW_MEASURE;
  return flags;
}

namespace detail {
template <class T>
struct fftw;
template <>
struct fftw<float> {
  using plan = fftwf_plan;
  using complex = fftwf_complex;
  static void* alloc(std::size_t bytes) { return fftwf_malloc(bytes); }
  static void release(void* p) { fftwf_free(p); }
  static plan r2c(int rank, const fftw_iodim* dims, float* in, complex* out, unsigned flags) {
    return fftwf_plan_guru_dft_r2c(rank, dims, 0, nullptr, in, out, flags);
  }
  static plan c2r(int rank, const fftw_iodim* dims, complex* in, float* out, unsigned flags) {
    return fftwf_plan_guru_dft_c2r(rank, dims, 0, nullptr, in, out, flags);
  }
  static void r2c(plan p, float* in, complex* out) { fftwf_execute_dft_r2c(p, in, out); }
  static void c2r(plan p, complex* in, float* out) { fftwf_execute_dft_c2r(p, in, out); }
};
template <>
struct fftw<double> {
  using plan = fftw_plan;
  using complex = fftw_complex;
  static void* alloc(std::size_t bytes) { return fftw_malloc(bytes); }
  static void release(void* p) { fftw_free(p); }
  static plan r2c(int rank, const fftw_iodim* dims, double* in, complex* out, unsigned flags) {
    return fftw_plan_guru_dft_r2c(rank, dims, 0, nullptr, in, out, flags);
  }
  static plan c2r(int rank, const fftw_iodim* dims, complex* in, double* out, unsigned flags) {
    return fftw_plan_guru_dft_c2r(rank, dims, 0, nullptr, in, out, flags);
  }
  static void r2c(plan p, double* in, complex* out) { fftw_execute_dft_r2c(p, in, out); }
  static void c2r(plan p, complex* in, double* out) { fftw_execute_dft_c2r(p, in, out); }
};

// FFTW-aligned storage for planning (planning with FFTW_MEASURE overwrites its arrays).
template <class T>
struct fftw_buffer {
  T* p = nullptr;
  explicit fftw_buffer(std::size_t elements)
      : p(static_cast<T*>(fftw<T>::alloc(std::max<std::size_t>(elements, 1) * sizeof(T)))) {
    if (!p) throw std::bad_alloc();
  }
  ~fftw_buffer() { fftw<T>::release(p); }
  fftw_buffer(const fftw_buffer&) = delete;
  fftw_buffer& operator=(const fftw_buffer&) = delete;
};
}  // namespace detail

template <class T>
class fftw_plane {
  using F = detail::fftw<T>;
  using C = typename F::complex;

 public:
  fftw_plane(std::int64_t Fy, std::int64_t Fx, std::int64_t ldr) : Fy_(Fy), Fx_(Fx), Fyh_(Fy / 2 + 1), ldr_(ldr) {
    std::tie(r2c_, c2r_) = plans(Fy, Fx, ldr);
  }

  std::int64_t scratch_scalars() const { return 2 * Fx_ * Fyh_; }

  // As plane_fft::forward; rows [rows, Fy) of `real` must be zero too.
  void forward(const T* real, std::int64_t, std::int64_t, T* re, T* im, T* scratch) const {
    F::r2c(r2c_, const_cast<T*>(real), reinterpret_cast<C*>(scratch));  // out of place: real is kept
    for (std::int64_t f = 0; f < Fx_ * Fyh_; ++f) re[f] = scratch[2 * f], im[f] = scratch[2 * f + 1];
  }
  void inverse(const T* re, const T* im, T* real, std::int64_t, std::int64_t, T* scratch) const {
    for (std::int64_t f = 0; f < Fx_ * Fyh_; ++f) scratch[2 * f] = re[f], scratch[2 * f + 1] = im[f];
    F::c2r(c2r_, reinterpret_cast<C*>(scratch), real);
  }

 private:
  // The 2-D transform with y as the halved (last) dimension: input x·1 + y·ldr, output bin
  // kx·Fyh + ky, the layout of plane_fft. One pair of plans per (precision, grid), kept for the
  // process (destroying them at exit could race FFTW's own cleanup).
  static std::pair<typename F::plan, typename F::plan> plans(std::int64_t Fy, std::int64_t Fx, std::int64_t ldr) {
    using key_t = std::tuple<std::int64_t, std::int64_t, std::int64_t>;
    static std::map<key_t, std::pair<typename F::plan, typename F::plan>> cache;
    std::lock_guard<std::mutex> lock(planner_mutex());
    const key_t key{Fy, Fx, ldr};
    if (auto it = cache.find(key); it != cache.end()) return it->second;
    const int fyh = int(Fy / 2 + 1);
    detail::fftw_buffer<T> real(std::size_t(Fy * ldr)), spectrum(std::size_t(2 * Fx * fyh));
    auto* c = reinterpret_cast<C*>(spectrum.p);
    const fftw_iodim fwd[2] = {{int(Fx), 1, fyh}, {int(Fy), int(ldr), 1}};
    const fftw_iodim bwd[2] = {{int(Fx), fyh, 1}, {int(Fy), 1, int(ldr)}};
    const auto p = std::make_pair(F::r2c(2, fwd, real.p, c, planner_flags()), F::c2r(2, bwd, c, real.p, planner_flags()));
    if (!p.first || !p.second) throw std::runtime_error("strata fft_conv: FFTW could not plan a transform");
    cache.emplace(key, p);
    return p;
  }

  std::int64_t Fy_, Fx_, Fyh_, ldr_;
  typename F::plan r2c_, c2r_;
};

}  // namespace strata::kernels::cpu::fft

#endif  // __has_include(<fftw3.h>)
