// strata/kernels/cpu/fft/real_fft.hpp — strata's own FFTs for lengths 2^a·3^b: complex transforms
// (mixed radix 4, 2 and 3, Stockham autosort) and real-input transforms of even length, each run
// on a SIMD vector of independent signals at once (one signal per lane), in fp32 or fp64.
//
// Why lanes = signals: the convolution transforms thousands of equally sized rows and columns,
// so every lane does the same arithmetic on its own signal and no butterfly ever shuffles lanes
// (only the 2-D transform's one transposition does). Conventions are FFTW's: forward
// X[k] = Σ x[j]·e^{−2πijk/n}, inverse unnormalised (a round trip multiplies by n).
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include "strata/config.hpp"
#include "strata/kernels/cpu/simd.hpp"

namespace strata::kernels::cpu::fft {

// The vectors the FFT convolution works on: at most 32 bytes, even where the target has wider
// ones. A grid must be at least 2·lanes − 2 tall (columns are transformed lanes at a time and
// transposed lanes × lanes), so 16 fp32 lanes would round the small planes CNNs have up to 32
// rows — the demo's 14×14 layer then did twice the products and ran 3× slower than on 8 lanes.
template <class T>
using fft_vec = simd::vec<T, (simd::default_bytes<T> < 32 ? simd::default_bytes<T> : 32)>;
template <class T>
inline constexpr std::int64_t fft_lanes = simd::lanes_of<fft_vec<T>>;

// Complex lengths the transforms take: 2^a·3^b (a, b ≥ 0).
constexpr bool supported_length(std::int64_t n) {
  if (n < 1) return false;
  while (n % 2 == 0) n /= 2;
  while (n % 3 == 0) n /= 3;
  return n == 1;
}
// Real lengths: even, with a supported half.
constexpr bool supported_real_length(std::int64_t n) { return n >= 2 && n % 2 == 0 && supported_length(n / 2); }

namespace detail {

// One radix-P pass of a Stockham transform of length n = L·P·r': with Y(k, j) (k < r = P·r',
// j < L) the length-L DFTs of the r interleaved subsequences, stored at k + j·r, it writes the
// length-L·P DFTs of the r' subsequences: Y'(k, j + s·L) = Σ_q ω_P^{qs}·ω_{LP}^{qj}·Y(k + q·r', j),
// stored at k + (j + s·L)·r'. Reading and writing different arrays keeps the output in natural
// order without a bit-reversal pass.
template <bool Inverse, int P, class V, class T>
STRATA_INLINE void stockham_pass(std::int64_t L, std::int64_t rp, const T* tw_re, const T* tw_im, const V* xr,
                                 const V* xi, V* yr, V* yi) {
  const std::int64_t r = rp * P;
  const T sin60 = T(0.86602540378443864676);
  for (std::int64_t j = 0; j < L; ++j) {
    V wr[P], wi[P];
    for (int q = 1; q < P; ++q) {
      wr[q] = simd::broadcast<V>(tw_re[j * (P - 1) + q - 1]);
      wi[q] = simd::broadcast<V>(Inverse ? -tw_im[j * (P - 1) + q - 1] : tw_im[j * (P - 1) + q - 1]);
    }
    const V* xrj = xr + j * r;
    const V* xij = xi + j * r;
    for (std::int64_t k = 0; k < rp; ++k) {
      V ar[P], ai[P];
#pragma GCC unroll 4
      for (int q = 0; q < P; ++q) ar[q] = xrj[k + q * rp], ai[q] = xij[k + q * rp];
      if (j > 0) {
#pragma GCC unroll 4
        for (int q = 1; q < P; ++q) {
          const V re = ar[q] * wr[q] - ai[q] * wi[q];
          ai[q] = ar[q] * wi[q] + ai[q] * wr[q];
          ar[q] = re;
        }
      }
      V br[P], bi[P];
      if constexpr (P == 2) {
        br[0] = ar[0] + ar[1], bi[0] = ai[0] + ai[1];
        br[1] = ar[0] - ar[1], bi[1] = ai[0] - ai[1];
      } else if constexpr (P == 4) {
        const V t0r = ar[0] + ar[2], t0i = ai[0] + ai[2], t1r = ar[0] - ar[2], t1i = ai[0] - ai[2];
        const V t2r = ar[1] + ar[3], t2i = ai[1] + ai[3], t3r = ar[1] - ar[3], t3i = ai[1] - ai[3];
        br[0] = t0r + t2r, bi[0] = t0i + t2i;
        br[2] = t0r - t2r, bi[2] = t0i - t2i;
        // t1 ∓ i·t3: forward ω_4 = −i
        const int s1 = Inverse ? 3 : 1, s3 = Inverse ? 1 : 3;
        br[s1] = t1r + t3i, bi[s1] = t1i - t3r;
        br[s3] = t1r - t3i, bi[s3] = t1i + t3r;
      } else {
        static_assert(P == 3, "radix 2, 3 or 4");
        const V tr = ar[1] + ar[2], ti = ai[1] + ai[2];
        const V dr = (ar[1] - ar[2]) * sin60, di = (ai[1] - ai[2]) * sin60;
        const V mr = ar[0] - tr * T(0.5), mi = ai[0] - ti * T(0.5);
        br[0] = ar[0] + tr, bi[0] = ai[0] + ti;
        // m ∓ i·(√3/2)·d: forward ω_3 = −½ − i·√3/2
        const int s1 = Inverse ? 2 : 1, s2 = Inverse ? 1 : 2;
        br[s1] = mr + di, bi[s1] = mi - dr;
        br[s2] = mr - di, bi[s2] = mi + dr;
      }
#pragma GCC unroll 4
      for (int s = 0; s < P; ++s) yr[k + (j + s * L) * rp] = br[s], yi[k + (j + s * L) * rp] = bi[s];
    }
  }
}

}  // namespace detail

// A complex FFT of length n = 2^a·3^b: its radix passes (4s first, then a 2, then 3s) and their
// twiddle factors, computed in double and rounded once.
template <class T>
class complex_plan {
 public:
  explicit complex_plan(std::int64_t n) : n_(n) {
    if (!supported_length(n)) throw std::invalid_argument("strata fft: lengths are 2^a·3^b");
    std::int64_t rest = n, L = 1;
    const auto add = [&](int p) {
      const std::int64_t r = n / L;
      passes_.push_back({p, L, r / p, tw_re_.size()});
      for (std::int64_t j = 0; j < L; ++j)
        for (int q = 1; q < p; ++q) {
          const double a = -2.0 * 3.14159265358979323846 * double(q * j) / double(L * p);
          tw_re_.push_back(T(std::cos(a)));
          tw_im_.push_back(T(std::sin(a)));
        }
      L *= p;
      rest /= p;
    };
    while (rest % 4 == 0) add(4);
    while (rest % 2 == 0) add(2);
    while (rest % 3 == 0) add(3);
  }
  std::int64_t size() const { return n_; }

  // Transforms the n complex vectors (re0[i], im0[i]) (forward, or inverse unnormalised), with
  // re1, im1 as scratch of the same size; returns which pair holds the result (0 or 1).
  template <bool Inverse, class V>
  int run(V* re0, V* im0, V* re1, V* im1) const {
    V *xr = re0, *xi = im0, *yr = re1, *yi = im1;
    for (const pass& p : passes_) {
      const T* wr = tw_re_.data() + p.tw;
      const T* wi = tw_im_.data() + p.tw;
      if (p.radix == 4) detail::stockham_pass<Inverse, 4>(p.L, p.rp, wr, wi, xr, xi, yr, yi);
      else if (p.radix == 2) detail::stockham_pass<Inverse, 2>(p.L, p.rp, wr, wi, xr, xi, yr, yi);
      else detail::stockham_pass<Inverse, 3>(p.L, p.rp, wr, wi, xr, xi, yr, yi);
      std::swap(xr, yr);
      std::swap(xi, yi);
    }
    return int(passes_.size() % 2);
  }

 private:
  struct pass {
    int radix;
    std::int64_t L, rp;
    std::size_t tw;  // offset of its (radix − 1)·L twiddles
  };
  std::int64_t n_;
  std::vector<pass> passes_;
  std::vector<T> tw_re_, tw_im_;
};

// A real FFT of even length n through a complex FFT of length h = n/2 on z[m] = x[2m] + i·x[2m+1]
// (half the work of a complex transform of the zero-extended signal), whose result is split
// into the even and odd samples' spectra: X[k] = E[k] + ω_n^k·O[k], k = 0 … h.
template <class T>
class real_plan {
 public:
  explicit real_plan(std::int64_t n) : half_(n / 2) {
    if (!supported_real_length(n)) throw std::invalid_argument("strata fft: real lengths are 2·2^a·3^b");
    for (std::int64_t k = 0; k <= n / 2; ++k) {
      const double a = 2.0 * 3.14159265358979323846 * double(k) / double(n);
      cos_.push_back(T(std::cos(a)));
      sin_.push_back(T(std::sin(a)));
    }
  }
  std::int64_t size() const { return 2 * half_.size(); }
  std::int64_t bins() const { return half_.size() + 1; }
  // Vectors of scratch forward and inverse need: 4·n/2.
  std::int64_t scratch_vectors() const { return 4 * half_.size(); }

  // Lanes of V are signals. Input sample i of every lane: the vector at x + i·ldx, for i < count
  // (samples from count on are zero). Output bin k: real parts at re + k·ld, imaginary at im + k·ld.
  template <class V>
  void forward(const T* x, std::int64_t ldx, std::int64_t count, T* re, T* im, std::int64_t ld, V* scratch) const {
    const std::int64_t h = half_.size();
    V *zr = scratch, *zi = scratch + h, *wr = scratch + 2 * h, *wi = scratch + 3 * h;
    for (std::int64_t m = 0; m < h; ++m) {
      zr[m] = 2 * m < count ? simd::load<V>(x + 2 * m * ldx) : simd::zero<V>();
      zi[m] = 2 * m + 1 < count ? simd::load<V>(x + (2 * m + 1) * ldx) : simd::zero<V>();
    }
    if (half_.template run<false>(zr, zi, wr, wi)) std::swap(zr, wr), std::swap(zi, wi);
    const V half = simd::broadcast<V>(T(0.5));
    for (std::int64_t k = 0; k <= h; ++k) {
      const std::int64_t a = k == h ? 0 : k, b = k == 0 ? 0 : h - k;
      const V er = (zr[a] + zr[b]) * half, ei = (zi[a] - zi[b]) * half;  // ½(Z[k] + conj Z[h−k])
      const V orr = (zi[a] + zi[b]) * half, oi = (zr[b] - zr[a]) * half;  // −½i(Z[k] − conj Z[h−k])
      const V c = simd::broadcast<V>(cos_[k]), s = simd::broadcast<V>(sin_[k]);  // ω_n^k = c − i·s
      simd::store(re + k * ld, er + c * orr + s * oi);
      simd::store(im + k * ld, ei + c * oi - s * orr);
    }
  }

  // The inverse (unnormalised: n·x): bins k = 0 … n/2 at re + k·ld, im + k·ld (the imaginary
  // parts of bins 0 and n/2 are taken as zero) → samples i < n at x + i·ldx.
  template <class V>
  void inverse(const T* re, const T* im, std::int64_t ld, T* x, std::int64_t ldx, V* scratch) const {
    const std::int64_t h = half_.size();
    V *zr = scratch, *zi = scratch + h, *wr = scratch + 2 * h, *wi = scratch + 3 * h;
    for (std::int64_t k = 0; k < h; ++k) {
      const V ar = simd::load<V>(re + k * ld), br = simd::load<V>(re + (h - k) * ld);
      const V ai = k == 0 ? simd::zero<V>() : simd::load<V>(im + k * ld);
      const V bi = k == 0 ? simd::zero<V>() : simd::load<V>(im + (h - k) * ld);
      const V er = ar + br, ei = ai - bi, dr = ar - br, di = ai + bi;  // X[k] ± conj X[h−k]
      const V c = simd::broadcast<V>(cos_[k]), s = simd::broadcast<V>(sin_[k]);  // ω_n^−k = c + i·s
      const V orr = dr * c - di * s, oi = dr * s + di * c;
      zr[k] = er - oi;  // Z = E + i·O
      zi[k] = ei + orr;
    }
    if (half_.template run<true>(zr, zi, wr, wi)) std::swap(zr, wr), std::swap(zi, wi);
    for (std::int64_t m = 0; m < h; ++m) {
      simd::store(x + 2 * m * ldx, zr[m]);
      simd::store(x + (2 * m + 1) * ldx, zi[m]);
    }
  }

 private:
  complex_plan<T> half_;
  std::vector<T> cos_, sin_;
};

// Plans are made once per (precision, length) and kept for the process.
template <class Plan>
const Plan& plan_of(std::int64_t n) {
  static std::mutex m;
  static std::map<std::int64_t, std::unique_ptr<const Plan>> plans;
  std::lock_guard<std::mutex> lock(m);
  auto& p = plans[n];
  if (!p) p = std::make_unique<const Plan>(n);
  return *p;
}

}  // namespace strata::kernels::cpu::fft
