// strata/kernels/cpu/fft/plane_transform.hpp — the 2-D real FFT of one plane on an Fy×Fx grid with
// strata's own transforms (fft/real_fft.hpp), and its inverse: the half spectrum Fx × (Fy/2 + 1),
// bin f = kx·(Fy/2 + 1) + ky, split into real and imaginary arrays.
//
// How: real FFTs down the columns, B adjacent columns at once (one per SIMD lane, loaded straight
// from the rows); one in-register B×B transposition per block; complex FFTs along the rows, B
// adjacent frequencies ky at once, whose results are B consecutive bins of the spectrum, stored
// as they come. Columns past the plane's are zero and skipped; an inverse computes only the
// column blocks its caller reads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "strata/kernels/cpu/fft/real_fft.hpp"
#include "strata/kernels/cpu/simd.hpp"

namespace strata::kernels::cpu::fft {

template <class T>
class plane_fft {
 public:
  using V = fft_vec<T>;
  static constexpr std::int64_t B = fft_lanes<T>;

  // ldr: the row stride of the real planes and of the intermediate (≥ Fx rounded up to B).
  plane_fft(std::int64_t Fy, std::int64_t Fx, std::int64_t ldr)
      : Fy_(Fy), Fx_(Fx), Fyh_(Fy / 2 + 1), ldr_(ldr), cx_((Fx + B - 1) / B * B),
        columns_(plan_of<real_plan<T>>(Fy)), rows_(plan_of<complex_plan<T>>(Fx)) {
    if (Fyh_ < B || ldr_ < cx_) throw std::invalid_argument("strata fft: the grid needs Fy/2 + 1 ≥ lanes");
  }

  // Scalars of scratch one plane transform needs (zeroed by the caller before first use).
  std::int64_t scratch_scalars() const { return 2 * Fyh_ * ldr_ + (4 * cx_ + columns_.scratch_vectors()) * B; }

  // The plane in rows [0, rows) of `real` (row stride ldr, zero from column cols on) → its
  // spectrum: bin f at re[f], im[f], f < Fx·(Fy/2 + 1).
  void forward(const T* real, std::int64_t rows, std::int64_t cols, T* re, T* im, T* scratch) const {
    T *tr = scratch, *ti = scratch + Fyh_ * ldr_;
    V* cw = reinterpret_cast<V*>(scratch + 2 * Fyh_ * ldr_);
    V* rw = cw + 4 * cx_;
    for (std::int64_t x0 = 0; x0 < cx_; x0 += B) {
      if (x0 >= cols) {  // zero columns: zero spectra
        for (std::int64_t k = 0; k < Fyh_; ++k)
          simd::store(tr + k * ldr_ + x0, simd::zero<V>()), simd::store(ti + k * ldr_ + x0, simd::zero<V>());
      } else {
        columns_.forward(real + x0, ldr_, rows, tr + x0, ti + x0, ldr_, rw);
      }
    }
    for (std::int64_t b = 0; b < (Fyh_ + B - 1) / B; ++b) {
      const std::int64_t ky0 = std::min(b * B, Fyh_ - B);  // the last block overlaps the one before
      V *xr = cw, *xi = cw + cx_, *yr = cw + 2 * cx_, *yi = cw + 3 * cx_;
      load_transposed(tr + ky0 * ldr_, xr);
      load_transposed(ti + ky0 * ldr_, xi);
      if (rows_.template run<false>(xr, xi, yr, yi)) xr = yr, xi = yi;
      for (std::int64_t kx = 0; kx < Fx_; ++kx) {
        simd::store(re + kx * Fyh_ + ky0, xr[kx]);
        simd::store(im + kx * Fyh_ + ky0, xi[kx]);
      }
    }
  }

  // The unnormalised inverse (Fy·Fx times the plane) of a spectrum as forward writes it → `real`
  // (Fy rows, stride ldr), computed for at least the columns (col0 + q) mod Fx, q < cols.
  void inverse(const T* re, const T* im, T* real, std::int64_t col0, std::int64_t cols, T* scratch) const {
    T *tr = scratch, *ti = scratch + Fyh_ * ldr_;
    V* cw = reinterpret_cast<V*>(scratch + 2 * Fyh_ * ldr_);
    V* rw = cw + 4 * cx_;
    for (std::int64_t b = 0; b < (Fyh_ + B - 1) / B; ++b) {
      const std::int64_t ky0 = std::min(b * B, Fyh_ - B);
      V *xr = cw, *xi = cw + cx_, *yr = cw + 2 * cx_, *yi = cw + 3 * cx_;
      for (std::int64_t kx = 0; kx < Fx_; ++kx) {
        xr[kx] = simd::load<V>(re + kx * Fyh_ + ky0);
        xi[kx] = simd::load<V>(im + kx * Fyh_ + ky0);
      }
      if (rows_.template run<true>(xr, xi, yr, yi)) xr = yr, xi = yi;
      store_transposed(xr, tr + ky0 * ldr_);
      store_transposed(xi, ti + ky0 * ldr_);
    }
    for (std::int64_t x0 = 0; x0 < cx_; x0 += B)
      if (block_needed(x0, col0, cols)) columns_.inverse(tr + x0, ti + x0, ldr_, real + x0, ldr_, rw);
  }

 private:
  // B rows of src (stride ldr) → x[i] = column i across the rows, for i < cx.
  void load_transposed(const T* src, V* x) const {
    for (std::int64_t x0 = 0; x0 < cx_; x0 += B) {
      V blk[B];
      for (std::int64_t i = 0; i < B; ++i) blk[i] = simd::load<V>(src + i * ldr_ + x0);
      simd::transpose(blk);
      for (std::int64_t i = 0; i < B; ++i) x[x0 + i] = blk[i];
    }
  }
  void store_transposed(const V* x, T* dst) const {
    for (std::int64_t x0 = 0; x0 < cx_; x0 += B) {
      V blk[B];
      for (std::int64_t i = 0; i < B; ++i) blk[i] = x[x0 + i];
      simd::transpose(blk);
      for (std::int64_t i = 0; i < B; ++i) simd::store(dst + i * ldr_ + x0, blk[i]);
    }
  }
  bool block_needed(std::int64_t x0, std::int64_t col0, std::int64_t cols) const {
    for (std::int64_t x = x0; x < std::min(x0 + B, Fx_); ++x)
      if (((x - col0) % Fx_ + Fx_) % Fx_ < cols) return true;
    return false;
  }

  std::int64_t Fy_, Fx_, Fyh_, ldr_, cx_;
  const real_plan<T>& columns_;
  const complex_plan<T>& rows_;
};

}  // namespace strata::kernels::cpu::fft
