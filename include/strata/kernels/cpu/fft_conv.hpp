// strata/kernels/cpu/fft_conv.hpp — convolution by FFT (FFTW3) on the CPU, fp32 and fp64, NCHW,
// stride 1, any kernel size and zero padding: forward, backward data and backward filter, with
// the filters' transforms cached in a filter_cache between calls while the weights are unchanged.
//
// How: every plane (image channel, filter, gradient) is zero-extended to an Fy×Fx grid and
// transformed with real FFTs; a convolution becomes, for every frequency bin, a complex matrix
// product summed over channels (K×C · C×N); inverse FFTs and a cyclic crop give the result.
// The work per output no longer grows with R·S, so large kernels (7×7 … 11×11) get much cheaper
// than with im2col + GEMM, whose cost is proportional to R·S.
//
// Requires FFTW3 (<fftw3.h>; link -lfftw3f -lfftw3). FFTW's planner is not thread-safe: strata
// creates its plans under its own mutex, so a program that also plans FFTW transforms on other
// threads at the same time must serialise with fft_detail::planner_mutex().
#pragma once

#include <fftw3.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <tuple>
#include <type_traits>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "strata/core/parallel.hpp"
#include "strata/kernels/cpu/conv_geometry.hpp"
#include "strata/kernels/cpu/filter_cache.hpp"

namespace strata::kernels::cpu {

namespace fft_detail {

// ---------------------------------------------------------------------------------------------
// FFTW for float (fftwf_*) and double (fftw_*), behind one interface.

template <class T>
struct fftw;

template <>
struct fftw<float> {
  using plan = fftwf_plan;
  using complex = fftwf_complex;
  static void* alloc(std::size_t bytes) { return fftwf_malloc(bytes); }
  static void release(void* p) { fftwf_free(p); }
  static plan rows_r2c(int n, int howmany, float* in, int idist, complex* out, int odist, unsigned flags) {
    return fftwf_plan_many_dft_r2c(1, &n, howmany, in, nullptr, 1, idist, out, nullptr, 1, odist, flags);
  }
  static plan rows_c2r(int n, int howmany, complex* in, int idist, float* out, int odist, unsigned flags) {
    return fftwf_plan_many_dft_c2r(1, &n, howmany, in, nullptr, 1, idist, out, nullptr, 1, odist, flags);
  }
  // howmany 1-D DFTs of n points, out of place, with the given strides and distances.
  static plan dft(int n, int howmany, complex* in, int is, int idist, complex* out, int os, int odist, int sign,
                  unsigned flags) {
    return fftwf_plan_many_dft(1, &n, howmany, in, nullptr, is, idist, out, nullptr, os, odist, sign, flags);
  }
  static void r2c(plan p, float* in, complex* out) { fftwf_execute_dft_r2c(p, in, out); }
  static void c2r(plan p, complex* in, float* out) { fftwf_execute_dft_c2r(p, in, out); }
  static void c2c(plan p, complex* in, complex* out) { fftwf_execute_dft(p, in, out); }
};

template <>
struct fftw<double> {
  using plan = fftw_plan;
  using complex = fftw_complex;
  static void* alloc(std::size_t bytes) { return fftw_malloc(bytes); }
  static void release(void* p) { fftw_free(p); }
  static plan rows_r2c(int n, int howmany, double* in, int idist, complex* out, int odist, unsigned flags) {
    return fftw_plan_many_dft_r2c(1, &n, howmany, in, nullptr, 1, idist, out, nullptr, 1, odist, flags);
  }
  static plan rows_c2r(int n, int howmany, complex* in, int idist, double* out, int odist, unsigned flags) {
    return fftw_plan_many_dft_c2r(1, &n, howmany, in, nullptr, 1, idist, out, nullptr, 1, odist, flags);
  }
  // howmany 1-D DFTs of n points, out of place, with the given strides and distances.
  static plan dft(int n, int howmany, complex* in, int is, int idist, complex* out, int os, int odist, int sign,
                  unsigned flags) {
    return fftw_plan_many_dft(1, &n, howmany, in, nullptr, is, idist, out, nullptr, os, odist, sign, flags);
  }
  static void r2c(plan p, double* in, complex* out) { fftw_execute_dft_r2c(p, in, out); }
  static void c2r(plan p, complex* in, double* out) { fftw_execute_dft_c2r(p, in, out); }
  static void c2c(plan p, complex* in, complex* out) { fftw_execute_dft(p, in, out); }
};

// FFTW-aligned storage (what its SIMD codelets and new-array execution need).
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

// Workspace kept by each thread between calls (grow-only, 64-byte aligned). Fresh allocations
// of this size cost a page fault per 4 KB on first touch, which in a VM came to 10–20 ms per
// forward pass of the 11×11 benchmark layer (20 MB of spectra), more than the transforms, and
// to about half of its backward-filter pass (105 MB). Each thread keeps up to keep_bytes; a
// larger workspace is released when its lease ends. fft_conv_release_workspace() frees the
// calling thread's at once.
class thread_workspace {
 public:
  static constexpr std::size_t keep_bytes = std::size_t(256) << 20;
  ~thread_workspace() { std::free(p_); }
  void* get(std::size_t bytes) {
    if (bytes > size_) {
      std::free(p_);
      size_ = 0;
      p_ = std::aligned_alloc(64, ceil64(bytes));
      if (!p_) throw std::bad_alloc();
      size_ = ceil64(bytes);
    }
    return p_;
  }
  void trim(std::size_t keep = keep_bytes) {
    if (size_ > keep) std::free(p_), p_ = nullptr, size_ = 0;
  }
  static thread_workspace& of_this_thread(int slot) {
    thread_local thread_workspace spaces[2];  // 0: a call's spectra, 1: a worker's plane scratch
    return spaces[slot];
  }

 private:
  static std::size_t ceil64(std::size_t n) { return (n + 63) / 64 * 64; }
  void* p_ = nullptr;
  std::size_t size_ = 0;
};

// Carves arrays of T out of this thread's workspace `slot`, each at a 64-byte boundary:
// lease.take(n) → pointer to n scalars. Sizes are added up first (reserve), then taken.
template <class T>
class workspace_lease {
 public:
  explicit workspace_lease(int slot) : space_(thread_workspace::of_this_thread(slot)) {}
  ~workspace_lease() { space_.trim(); }
  workspace_lease(const workspace_lease&) = delete;
  workspace_lease& operator=(const workspace_lease&) = delete;
  void reserve(std::int64_t n) { total_ += round(n); }
  T* take(std::int64_t n) {
    if (!base_) base_ = static_cast<T*>(space_.get(std::size_t(total_) * sizeof(T)));
    T* p = base_ + used_;
    used_ += round(n);
    return p;
  }

 private:
  static std::int64_t round(std::int64_t n) {  // to whole 64-byte lines
    constexpr std::int64_t line = 64 / std::int64_t(sizeof(T));
    return (n + line - 1) / line * line;
  }
  thread_workspace& space_;
  T* base_ = nullptr;
  std::int64_t total_ = 0, used_ = 0;
};

inline std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}

// FFTW_MEASURE: it times candidate algorithms on first use of a size, once per process (130 ms
// for the four plans of a 72×72 grid here, against 3 ms with FFTW_ESTIMATE), and its plans ran
// the forward plane transform 20% faster (13.0 vs 16.1 µs; inverses equal). Set before the
// first call if planning time matters more (short runs).
inline unsigned& planner_flags() {
  static unsigned flags = FFTW_MEASURE;
  return flags;
}

// ---------------------------------------------------------------------------------------------
// SIMD vectors through GCC's vector extensions (portable across compilers and targets): 32
// bytes with AVX, 16 (SSE2, the x86-64 baseline) otherwise, so no vector ever needs an ABI the
// target lacks.

#if defined(__AVX__)
inline constexpr std::size_t simd_bytes = 32;
#else
inline constexpr std::size_t simd_bytes = 16;
#endif

template <class T>
struct simd;
template <>
struct simd<float> {
  typedef float type __attribute__((vector_size(simd_bytes)));
};
template <>
struct simd<double> {
  typedef double type __attribute__((vector_size(simd_bytes)));
};

template <class V>
inline V load(const void* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <class V>
inline void store(void* p, const V& v) {
  std::memcpy(p, &v, sizeof(V));
}
// A store that bypasses the caches (p aligned to the vector), for large arrays written once and
// read much later: it saves reading each line from memory before overwriting it.
template <class V>
inline void store_streaming(void* p, const V& v) {
  constexpr bool single = sizeof(v[0]) == 4;
#if defined(__AVX__)
  if constexpr (single) _mm256_stream_ps(static_cast<float*>(p), v);
  else _mm256_stream_pd(static_cast<double*>(p), v);
#elif defined(__SSE2__)
  if constexpr (single) _mm_stream_ps(static_cast<float*>(p), v);
  else _mm_stream_pd(static_cast<double*>(p), v);
#else
  store(p, v);
#endif
}
inline void streaming_fence() {
#if defined(__SSE2__)
  _mm_sfence();  // streaming stores are weakly ordered: complete them before other threads read
#endif
}

// Deinterleaving n complex values (2n scalars, re/im alternating) held in two vectors into
// their real and imaginary parts, and back. n = 8 (float, AVX), 4 (float SSE, double AVX) or 2.
#if defined(__clang__)
#define STRATA_FFT_SHUFFLE(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define STRATA_FFT_SHUFFLE(a, b, ...) __builtin_shuffle(a, b, mask{__VA_ARGS__})
#endif
template <class V>
inline void deinterleave(const V& lo, const V& hi, V& re, V& im) {
  using S = std::remove_cvref_t<decltype(lo[0])>;
  [[maybe_unused]] typedef std::conditional_t<sizeof(S) == 4, std::int32_t, std::int64_t> mask
      __attribute__((vector_size(sizeof(V))));
  constexpr int n = int(sizeof(V) / sizeof(S));
  if constexpr (n == 8) {
    re = STRATA_FFT_SHUFFLE(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14);
    im = STRATA_FFT_SHUFFLE(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15);
  } else if constexpr (n == 4) {
    re = STRATA_FFT_SHUFFLE(lo, hi, 0, 2, 4, 6);
    im = STRATA_FFT_SHUFFLE(lo, hi, 1, 3, 5, 7);
  } else {
    re = STRATA_FFT_SHUFFLE(lo, hi, 0, 2);
    im = STRATA_FFT_SHUFFLE(lo, hi, 1, 3);
  }
}
template <class V>
inline void interleave(const V& re, const V& im, V& lo, V& hi) {
  using S = std::remove_cvref_t<decltype(re[0])>;
  [[maybe_unused]] typedef std::conditional_t<sizeof(S) == 4, std::int32_t, std::int64_t> mask
      __attribute__((vector_size(sizeof(V))));
  constexpr int n = int(sizeof(V) / sizeof(S));
  if constexpr (n == 8) {
    lo = STRATA_FFT_SHUFFLE(re, im, 0, 8, 1, 9, 2, 10, 3, 11);
    hi = STRATA_FFT_SHUFFLE(re, im, 4, 12, 5, 13, 6, 14, 7, 15);
  } else if constexpr (n == 4) {
    lo = STRATA_FFT_SHUFFLE(re, im, 0, 4, 1, 5);
    hi = STRATA_FFT_SHUFFLE(re, im, 2, 6, 3, 7);
  } else {
    lo = STRATA_FFT_SHUFFLE(re, im, 0, 2);
    hi = STRATA_FFT_SHUFFLE(re, im, 1, 3);
  }
}
#undef STRATA_FFT_SHUFFLE

// ---------------------------------------------------------------------------------------------
// The transform grid of a convolution.

constexpr std::int64_t ceil_to(std::int64_t n, std::int64_t m) { return (n + m - 1) / m * m; }

// The transform length for at least n points. Even 2^a·3^b·5^c·7^d only: FFTW is fastest on
// those (odd lengths such as 75 or 81 run 2–3× slower than 72 or 80 here). Among those, the
// product stage (the bulk of the work for many channels) grows with the length, and factors 5
// and 7 slow the transforms (70 runs 1.5–2× slower than 72): a length is charged 10% for a 5
// and 20% for a 7, and the cheapest in [n, 2n] wins (69 → 72, 57 → 60, 29 → 30, 15 → 16).
inline std::int64_t fft_length(std::int64_t n) {
  n = std::max<std::int64_t>(n, 2);
  std::int64_t best = 0;
  double best_cost = 0;
  for (std::int64_t m = n + (n & 1); m <= 2 * n; m += 2) {
    std::int64_t k = m;
    double cost = double(m);
    for (std::int64_t p : {2, 3, 5, 7}) {
      const bool has = k % p == 0;
      while (k % p == 0) k /= p;
      if (has && p == 5) cost *= 1.1;
      if (has && p == 7) cost *= 1.2;
    }
    if (k == 1 && (best == 0 || cost < best_cost)) best = m, best_cost = cost;
  }
  return best;
}

// Complex values per SIMD vector: the frequency bins are processed `lanes` at a time.
template <class T>
constexpr std::int64_t lanes = std::int64_t(simd_bytes / sizeof(T));

template <class T>
struct grid {
  std::int64_t Fy, Fx;  // transform size
  std::int64_t Fxh;     // complex bins per row of a real transform: Fx/2 + 1
  std::int64_t ldr;     // real row stride in scratch (64-byte multiple, so row offsets keep alignment)
  std::int64_t ldc;     // complex row stride of the row transforms' output, likewise
  std::int64_t ldt;     // complex column stride of a spectrum (stored by columns), likewise
  std::int64_t bins;    // Fy·Fxh, bin f = x·Fy + y
  std::int64_t vecs;    // bins in groups of lanes<T>
  static constexpr std::int64_t B = lanes<T>;
  static constexpr std::int64_t E = 2 * B;  // scalars per group: B real parts, then B imaginary parts

  // Why Fy ≥ H + pad and not H + 2·pad: the image is placed at the grid origin, not shifted by
  // the padding, and the padding is the grid's own zeros. A circular correlation then equals the
  // linear one on every output as long as indices that fall off the top (−pad … −1) wrap onto
  // rows ≥ H, which are zero: Fy ≥ H + pad; the highest index read, P + R − 2 − pad = H + pad − 1,
  // needs the same. The output (P rows) and the filter (R rows) must also fit without overlap.
  static std::int64_t real_stride(std::int64_t n) { return ceil_to(n, 64 / std::int64_t(sizeof(T))); }
  static std::int64_t complex_stride(std::int64_t n) { return ceil_to(n, 32 / std::int64_t(sizeof(T))); }

  explicit grid(const conv_geometry& g) {
    Fy = fft_length(std::max({g.H + g.pad_y, g.P(), g.R}));
    Fx = fft_length(std::max({g.W + g.pad_x, g.Q(), g.S}));
    Fxh = Fx / 2 + 1;
    ldr = real_stride(Fx);
    ldc = complex_stride(Fxh);
    ldt = complex_stride(Fy);
    bins = Fy * Fxh;
    vecs = (bins + B - 1) / B;
  }
};

// ---------------------------------------------------------------------------------------------
// Plans: one per (precision, kind, sizes), made once and kept for the process (they are never
// destroyed: plans are small, and destroying them at exit could race FFTW's own cleanup).
//
// A plane's 2-D transform is done in two steps, so that the first can skip work and the second
// can write where the next stage wants its data: 1-D r2c (c2r) transforms of the rows, only of
// those that are nonzero (read); 1-D DFTs down the Fxh columns, from the rows' output into a
// spectrum stored by columns (and back). Stored by columns, B consecutive bins are B
// consecutive frequencies of one column, which the regrouping for the products copies as
// vectors; and FFTW's out-of-place column transform runs about 1.5× faster here than its
// in-place one on the row layout (3.4 vs 5.2 µs at 72 points; split-format output, which would
// have saved the deinterleaving, ran 3× slower).

enum class plan_kind { rows_r2c, rows_c2r, columns_forward, columns_backward };

template <class T>
typename fftw<T>::plan get_plan(plan_kind kind, std::int64_t Fy, std::int64_t Fx, std::int64_t rows) {
  using F = fftw<T>;
  using key_t = std::tuple<int, std::int64_t, std::int64_t, std::int64_t>;
  static std::map<key_t, typename F::plan> plans;
  std::lock_guard<std::mutex> lock(planner_mutex());
  const key_t key{int(kind), Fy, Fx, rows};
  if (auto it = plans.find(key); it != plans.end()) return it->second;
  // Planning with FFTW_MEASURE overwrites its arrays, so it gets its own, laid out like the
  // scratch the plan will run on (fftw_malloc'd, offsets at 64-byte multiples), which
  // new-array execution requires.
  const std::int64_t Fxh = Fx / 2 + 1;
  const int ldr = int(grid<T>::real_stride(Fx)), ldc = int(grid<T>::complex_stride(Fxh));
  const int ldt = int(grid<T>::complex_stride(Fy));
  fftw_buffer<T> real(std::size_t(ldr * Fy)), rows_out(std::size_t(2 * ldc * Fy));
  fftw_buffer<T> spectrum(std::size_t(2 * ldt * Fxh));
  auto* c = reinterpret_cast<typename F::complex*>(rows_out.p);
  auto* t = reinterpret_cast<typename F::complex*>(spectrum.p);
  const unsigned flags = planner_flags();
  const int n = int(Fy), many = int(Fxh);
  typename F::plan p = nullptr;
  switch (kind) {
    case plan_kind::rows_r2c: p = F::rows_r2c(int(Fx), int(rows), real.p, ldr, c, ldc, flags); break;
    case plan_kind::rows_c2r: p = F::rows_c2r(int(Fx), int(rows), c, ldc, real.p, ldr, flags); break;
    case plan_kind::columns_forward: p = F::dft(n, many, c, ldc, 1, t, 1, ldt, FFTW_FORWARD, flags); break;
    case plan_kind::columns_backward: p = F::dft(n, many, t, 1, ldt, c, ldc, 1, FFTW_BACKWARD, flags); break;
  }
  if (!p) throw std::runtime_error("strata fft_conv: FFTW could not plan a transform");
  plans.emplace(key, p);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Plane transforms. A plane's real values sit at the grid origin; rows beyond them are zero and
// the row transforms skip them (a pruned 2-D FFT). Inverses likewise run the row c2r only on the
// rows the crop reads.

// Scratch of one thread: real rows, the row transforms' output, and the spectra of a batch, in
// the thread's workspace (64-byte aligned, like the arrays the plans were made with).
template <class T>
struct plane_scratch {
  workspace_lease<T> lease;
  T *real, *rows, *spectra;
  std::int64_t sstride;  // scalars between the spectra of a batch
  plane_scratch(const grid<T>& g, std::int64_t batch) : lease(1), sstride(2 * g.ldt * g.Fxh) {
    lease.reserve(g.Fy * g.ldr);
    lease.reserve(2 * g.Fy * g.ldc);
    lease.reserve(sstride * batch);
    real = lease.take(g.Fy * g.ldr);
    rows = lease.take(2 * g.Fy * g.ldc);
    spectra = lease.take(sstride * batch);
  }
  T* spectrum(std::int64_t j) { return spectra + j * sstride; }
};

// Planes per scatter/gather batch: the spectra of 8 planes on a 72×72 grid take 170 KB (fp32),
// within L2.
constexpr std::int64_t plane_batch = 8;

// A grouped array of spectra: for each group v of B bins, a slab of `rows`×`cols` planes (plane
// i = row·cols + col, e.g. image·channels + channel), each E scalars (the B real parts, then the
// B imaginary parts). Rows are ld = cols rounded up to odd planes apart: a row of 64 planes
// would be exactly 4 KB, and the products, which walk down columns of the slab, would then hit
// one L1 set with every row (the backward data pass ran 1.4× slower for it).
template <class T>
struct grouped_layout {
  std::int64_t rows, cols, ld;
  grouped_layout(std::int64_t r, std::int64_t c) : rows(r), cols(c), ld(c | 1) {}
  std::int64_t slab() const { return rows * ld * grid<T>::E; }  // scalars per bin group
  std::int64_t slot(std::int64_t i) const { return (i / cols) * ld + i % cols; }
};

template <class T>
struct plane_transformer {
  using F = fftw<T>;
  using C = typename F::complex;
  const grid<T>& gr;
  typename F::plan cols_fwd, cols_bwd;

  explicit plane_transformer(const grid<T>& g)
      : gr(g),
        cols_fwd(get_plan<T>(plan_kind::columns_forward, g.Fy, g.Fx, 0)),
        cols_bwd(get_plan<T>(plan_kind::columns_backward, g.Fy, g.Fx, 0)) {}

  typename F::plan r2c_plan(std::int64_t rows) const { return get_plan<T>(plan_kind::rows_r2c, gr.Fy, gr.Fx, rows); }
  typename F::plan c2r_plan(std::int64_t rows) const { return get_plan<T>(plan_kind::rows_c2r, gr.Fy, gr.Fx, rows); }

  // Zeroes what forward() relies on being zero and never writes: the real rows' columns past
  // `cols` and the complex rows past `rows` (FFTW's out-of-place r2c and DFTs keep their input).
  void prepare_forward(plane_scratch<T>& s, std::int64_t rows, std::int64_t cols) const {
    for (std::int64_t r = 0; r < rows; ++r) std::fill(s.real + r * gr.ldr + cols, s.real + (r + 1) * gr.ldr, T(0));
    std::fill(s.rows + 2 * rows * gr.ldc, s.rows + 2 * gr.Fy * gr.ldc, T(0));
  }

  // The rows×cols plane src (row stride cols) → spectrum j of the scratch; r2c was planned
  // for `rows`, and prepare_forward ran for these rows and cols.
  void forward(typename F::plan r2c, const T* src, std::int64_t rows, std::int64_t cols, plane_scratch<T>& s,
               std::int64_t j) const {
    for (std::int64_t r = 0; r < rows; ++r)
      std::memcpy(s.real + r * gr.ldr, src + r * cols, std::size_t(cols) * sizeof(T));
    auto* c = reinterpret_cast<C*>(s.rows);
    F::r2c(r2c, s.real, c);
    F::c2c(cols_fwd, c, reinterpret_cast<C*>(s.spectrum(j)));
  }

  // Spectrum j of the scratch → real rows first … first+count−1 (cyclically) of s.real. c2r1
  // and c2r2 were planned for the two runs the cyclic range splits into.
  void inverse(typename F::plan c2r1, typename F::plan c2r2, std::int64_t first, std::int64_t count,
               plane_scratch<T>& s, std::int64_t j) const {
    auto* c = reinterpret_cast<C*>(s.rows);
    F::c2c(cols_bwd, reinterpret_cast<C*>(s.spectrum(j)), c);
    const std::int64_t run1 = std::min(count, gr.Fy - first);
    F::c2r(c2r1, c + first * gr.ldc, s.real + first * gr.ldr);
    if (count > run1) F::c2r(c2r2, c, s.real);
  }

  // Writes out[p][q] = scale·rbuf[(row0 + p) mod Fy][(col0 + q) mod Fx] + add.
  void crop(const T* rbuf, std::int64_t row0, std::int64_t col0, std::int64_t rows, std::int64_t cols, T scale,
            T add, T* out) const {
    const std::int64_t run = std::min(cols, gr.Fx - col0);  // columns before the wrap
    for (std::int64_t p = 0; p < rows; ++p) {
      const T* src = rbuf + ((row0 + p) % gr.Fy) * gr.ldr;
      T* dst = out + p * cols;
      for (std::int64_t q = 0; q < run; ++q) dst[q] = scale * src[col0 + q] + add;
      for (std::int64_t q = run; q < cols; ++q) dst[q] = scale * src[q - run] + add;
    }
  }

  // The scratch's first `count` spectra → planes first … first+count−1 of a grouped array. The
  // grouped layout makes each bin group's matrices contiguous for the products. Planes go in
  // batches because groups lie far apart (a page or more): one plane at a time would write one
  // 64-byte line per page and miss the TLB on nearly every write.
  void scatter(plane_scratch<T>& s, std::int64_t first, std::int64_t count, T* dst, const grouped_layout<T>& layout,
               T scale, bool streaming) const {
    using V = typename simd<T>::type;
    constexpr std::int64_t B = grid<T>::B, E = grid<T>::E;
    const V sv = V{} + scale;
    std::int64_t off[plane_batch];  // the planes' offsets in a slab (a division each: hoisted)
    for (std::int64_t j = 0; j < count; ++j) off[j] = layout.slot(first + j) * E;
    std::int64_t x = 0, y = 0;  // the first bin of group v: column x, row y
    for (std::int64_t v = 0; v < gr.vecs; ++v, y += B) {
      while (y >= gr.Fy) y -= gr.Fy, ++x;
      T* const slab = dst + v * layout.slab();
      if (y + B <= gr.Fy) {  // the group lies within one column: deinterleave B values
        const T* src = s.spectrum(0) + 2 * (x * gr.ldt + y);
        for (std::int64_t j = 0; j < count; ++j, src += s.sstride) {
          T* d = slab + off[j];
          V re, im;
          deinterleave(load<V>(src), load<V>(src + B), re, im);
          if (streaming) {
            store_streaming(d, re * sv);
            store_streaming(d + B, im * sv);
          } else {
            store(d, re * sv);
            store(d + B, im * sv);
          }
        }
      } else {  // the group spans a column end, or passes the last bin (padding: zeros)
        for (std::int64_t l = 0, xx = x, yy = y; l < B; ++l, ++yy) {
          if (yy == gr.Fy) yy = 0, ++xx;
          const bool inside = xx < gr.Fxh;
          const T* src = s.spectrum(0) + 2 * (xx * gr.ldt + yy);
          for (std::int64_t j = 0; j < count; ++j) {
            T* d = slab + off[j];
            d[l] = inside ? scale * src[j * s.sstride] : T(0);
            d[B + l] = inside ? scale * src[j * s.sstride + 1] : T(0);
          }
        }
      }
    }
    if (streaming) streaming_fence();
  }

  // The reverse of scatter (without scaling).
  void gather(const T* src, const grouped_layout<T>& layout, std::int64_t first, std::int64_t count,
              plane_scratch<T>& s) const {
    using V = typename simd<T>::type;
    constexpr std::int64_t B = grid<T>::B, E = grid<T>::E;
    std::int64_t off[plane_batch];
    for (std::int64_t j = 0; j < count; ++j) off[j] = layout.slot(first + j) * E;
    std::int64_t x = 0, y = 0;
    for (std::int64_t v = 0; v < gr.vecs; ++v, y += B) {
      while (y >= gr.Fy) y -= gr.Fy, ++x;
      const T* const slab = src + v * layout.slab();
      if (y + B <= gr.Fy) {
        T* dst = s.spectrum(0) + 2 * (x * gr.ldt + y);
        for (std::int64_t j = 0; j < count; ++j, dst += s.sstride) {
          const T* g = slab + off[j];
          V lo, hi;
          interleave(load<V>(g), load<V>(g + B), lo, hi);
          store(dst, lo);
          store(dst + B, hi);
        }
      } else {
        for (std::int64_t l = 0, xx = x, yy = y; l < B; ++l, ++yy) {
          if (yy == gr.Fy) yy = 0, ++xx;
          if (xx >= gr.Fxh) break;
          T* dst = s.spectrum(0) + 2 * (xx * gr.ldt + yy);
          for (std::int64_t j = 0; j < count; ++j) {
            const T* g = slab + off[j];
            dst[j * s.sstride] = g[l];
            dst[j * s.sstride + 1] = g[B + l];
          }
        }
      }
    }
  }
};

// Runs batch(scratch, first, count) over [0, planes) in batches of plane_batch, across the
// threads, each thread with its own scratch, first prepared by init(scratch).
template <class T, class Init, class Batch>
void for_plane_batches(const plane_transformer<T>& t, std::int64_t planes, Init&& init, Batch&& batch) {
  const std::int64_t chunks = std::min<std::int64_t>(num_threads(), (planes + plane_batch - 1) / plane_batch);
  parallel_chunks(planes, chunks, [&](std::int64_t, std::int64_t begin, std::int64_t end) {
    plane_scratch<T> scratch(t.gr, plane_batch);
    init(scratch);
    for (std::int64_t i = begin; i < end; i += plane_batch) batch(scratch, i, std::min(plane_batch, end - i));
  });
}

// The layout's rows·cols consecutive planes of src (each rows×cols values) → their spectra
// (times scale) in a grouped array. Arrays larger than a typical L3 share are written with
// streaming stores: they will not be in cache when read anyway.
template <class T>
void planes_to_spectra(const plane_transformer<T>& t, const T* src, std::int64_t rows, std::int64_t cols, T scale,
                       T* grouped, const grouped_layout<T>& layout) {
  const std::int64_t planes = layout.rows * layout.cols;
  const bool streaming = t.gr.vecs * layout.slab() * std::int64_t(sizeof(T)) > (std::int64_t(16) << 20);
  const auto r2c = t.r2c_plan(rows);
  for_plane_batches(
      t, planes, [&](plane_scratch<T>& s) { t.prepare_forward(s, rows, cols); },
      [&](plane_scratch<T>& s, std::int64_t first, std::int64_t count) {
        for (std::int64_t j = 0; j < count; ++j) t.forward(r2c, src + (first + j) * rows * cols, rows, cols, s, j);
        t.scatter(s, first, count, grouped, layout, scale, streaming);
      });
}

// The planes of a grouped array → rows×cols planes of out: out_i[p][q] =
// scale·ifft_i[(row0 + p) mod Fy][(col0 + q) mod Fx] + add(i).
template <class T, class Add>
void spectra_to_planes(const plane_transformer<T>& t, const T* grouped, const grouped_layout<T>& layout,
                       std::int64_t row0, std::int64_t col0, std::int64_t rows, std::int64_t cols, T scale, Add&& add,
                       T* out) {
  const std::int64_t planes = layout.rows * layout.cols;
  const std::int64_t run1 = std::min(rows, t.gr.Fy - row0);
  const auto c2r1 = t.c2r_plan(run1);
  const auto c2r2 = rows > run1 ? t.c2r_plan(rows - run1) : nullptr;
  for_plane_batches(
      t, planes, [](plane_scratch<T>&) {},
      [&](plane_scratch<T>& s, std::int64_t first, std::int64_t count) {
        t.gather(grouped, layout, first, count, s);
        for (std::int64_t j = 0; j < count; ++j) {
          t.inverse(c2r1, c2r2, row0, rows, s, j);
          t.crop(s.real, row0, col0, rows, cols, scale, add(first + j), out + (first + j) * rows * cols);
        }
      });
}

// ---------------------------------------------------------------------------------------------
// The per-frequency complex products. For one group of B bins (all SIMD lanes at once):
//   out(i, j) (+)= Σ_l op(A(i, l)) · Bm(l, j),   op = conjugate or identity,
// every operand a complex B-vector of E scalars (B real parts, then B imaginary parts) at the
// given strides (in scalars).
//
// The micro-kernel computes MI×1 outputs and keeps the four real products ar·br, ai·bi, ar·bi,
// ai·br in separate accumulators (combined only at the end, where conjugation is a sign): each
// accumulator then takes one FMA per step, so 4·MI independent chains hide the FMA latency,
// whereas re/im accumulators would chain two dependent FMAs per step. MI = 3: 12 accumulators,
// one B value (2 registers) and one A value at a time fit the 16 AVX registers.

// a·b + c as one FMA where the target has it: an ISO -std=c++20 build (-ffp-contract=off)
// would otherwise leave a multiply and an add.
template <class V>
inline V fmadd(V a, V b, V c) {
#if defined(__FMA__)
  if constexpr (sizeof(a[0]) == 4) return _mm256_fmadd_ps(a, b, c);
  else return _mm256_fmadd_pd(a, b, c);
#else
  return a * b + c;
#endif
}

template <class T, int MI>
inline void product_block(std::int64_t L, const T* A, std::int64_t a_si, std::int64_t a_sl, const T* Bm,
                          std::int64_t b_sl, T* O, std::int64_t o_si, bool conj_a, bool accumulate,
                          const char* prefetch, std::int64_t prefetch_lines, const char* prefetch2,
                          std::int64_t prefetch2_lines) {
  using V = typename simd<T>::type;
  constexpr std::int64_t B = grid<T>::B;
  V rr[MI], ii[MI], ri[MI], ir[MI];
#pragma GCC unroll 4
  for (int i = 0; i < MI; ++i) rr[i] = ii[i] = ri[i] = ir[i] = V{};
  for (std::int64_t l = 0; l < L; ++l) {
    if (l < prefetch_lines) __builtin_prefetch(prefetch + 64 * l, 0, 2);
    if (l < prefetch2_lines) __builtin_prefetch(prefetch2 + 64 * l, 0, 2);
    const T* bp = Bm + l * b_sl;
    const V br = load<V>(bp), bi = load<V>(bp + B);
#pragma GCC unroll 4
    for (int i = 0; i < MI; ++i) {
      const T* ap = A + i * a_si + l * a_sl;
      const V ar = load<V>(ap), ai = load<V>(ap + B);
      rr[i] = fmadd(ar, br, rr[i]);
      ii[i] = fmadd(ai, bi, ii[i]);
      ri[i] = fmadd(ar, bi, ri[i]);
      ir[i] = fmadd(ai, br, ir[i]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MI; ++i) {
    // (ar − i·ai)(br + i·bi) when conjugating A, (ar + i·ai)(br + i·bi) otherwise.
    V re = conj_a ? rr[i] + ii[i] : rr[i] - ii[i];
    V im = conj_a ? ri[i] - ir[i] : ri[i] + ir[i];
    T* op = O + i * o_si;
    if (accumulate) {
      re += load<V>(op);
      im += load<V>(op + B);
    }
    store(op, re);
    store(op + B, im);
  }
}

// The next bin group's data, fetched into cache while this group computes: each group's
// filter spectra are a fresh 64·K·C bytes from memory, read in rows of a page or so, which the
// hardware prefetchers (that stop at page boundaries) do not run ahead of. Two ranges: the
// next group's A and B operands (the large one and the other).
struct prefetch_plan {
  const char* begin[2] = {nullptr, nullptr};
  std::int64_t lines[2] = {0, 0};  // 64-byte lines from begin
};

// All M×Nj outputs of one bin group: strips of 3 rows of A (then 2 or 1 at the edge), each strip
// against every column j while it is hot in L1. The next group's lines are prefetched evenly
// across the blocks.
template <class T>
void product_group(std::int64_t M, std::int64_t Nj, std::int64_t L, const T* A, std::int64_t a_si, std::int64_t a_sl,
                   const T* Bm, std::int64_t b_sl, std::int64_t b_sj, T* O, std::int64_t o_si, std::int64_t o_sj,
                   bool conj_a, bool accumulate, prefetch_plan next = {}) {
  const std::int64_t blocks = (M / 3 + (M % 3 != 0)) * Nj;
  std::int64_t block = 0;
  const char* pf[2];
  std::int64_t pl[2];
  const auto plan_block = [&] {
    for (int r = 0; r < 2; ++r) {
      const std::int64_t first = next.lines[r] * block / blocks, last = next.lines[r] * (block + 1) / blocks;
      pf[r] = next.begin[r] + 64 * first;
      pl[r] = std::min(last - first, L);
    }
    ++block;
  };
  std::int64_t i = 0;
  for (; i + 3 <= M; i += 3)
    for (std::int64_t j = 0; j < Nj; ++j) {
      plan_block();
      product_block<T, 3>(L, A + i * a_si, a_si, a_sl, Bm + j * b_sj, b_sl, O + i * o_si + j * o_sj, o_si, conj_a,
                          accumulate, pf[0], pl[0], pf[1], pl[1]);
    }
  if (M - i == 2)
    for (std::int64_t j = 0; j < Nj; ++j) {
      plan_block();
      product_block<T, 2>(L, A + i * a_si, a_si, a_sl, Bm + j * b_sj, b_sl, O + i * o_si + j * o_sj, o_si, conj_a,
                          accumulate, pf[0], pl[0], pf[1], pl[1]);
    }
  else if (M - i == 1)
    for (std::int64_t j = 0; j < Nj; ++j) {
      plan_block();
      product_block<T, 1>(L, A + i * a_si, a_si, a_sl, Bm + j * b_sj, b_sl, O + i * o_si + j * o_sj, o_si, conj_a,
                          accumulate, pf[0], pl[0], pf[1], pl[1]);
    }
}

// Splits the bin groups across the threads; body(v) computes group v.
template <class Body>
void over_groups(std::int64_t vecs, Body&& body) {
  parallel_chunks(vecs, std::min<std::int64_t>(num_threads(), vecs), [&](std::int64_t, std::int64_t b, std::int64_t e) {
    for (std::int64_t v = b; v < e; ++v) body(v);
  });
}

// Images per batch group: the spectra of a group (its inputs and outputs) are held at once, at
// most group_budget_bytes (128 MB; tests lower it to exercise several groups); more images per
// group re-read the (large) filter spectra fewer times.
inline std::atomic<std::int64_t>& group_budget_bytes() {
  static std::atomic<std::int64_t> bytes{std::int64_t(128) << 20};
  return bytes;
}
template <class T>
std::int64_t images_per_group(const grid<T>& gr, std::int64_t planes_per_image, std::int64_t N) {
  const std::int64_t bytes = planes_per_image * gr.vecs * grid<T>::E * std::int64_t(sizeof(T));
  const std::int64_t budget = group_budget_bytes().load();
  return std::clamp<std::int64_t>(budget / std::max<std::int64_t>(bytes, 1), 1, std::max<std::int64_t>(N, 1));
}

// The filters' spectra, grouped as K rows of C planes and scaled by 1/(Fy·Fx) (FFTW's inverse
// is unnormalised). The cache recomputes them when the weights or the geometry differ from
// those they were made from (forward and backward data share one transform).
template <class T>
const T* filter_spectra(const conv_geometry& g, const grid<T>& gr, const plane_transformer<T>& t, const T* w,
                        const grouped_layout<T>& layout, filter_cache<T>& cache) {
  constexpr int transform = 30;
  if (cache.stale(transform, g, w, g.weight_elements(), gr.vecs * layout.slab())) {
    planes_to_spectra(t, w, g.R, g.S, T(1) / T(gr.Fy * gr.Fx), cache.data(), layout);
    cache.mark(transform, g, w, g.weight_elements());
  }
  return cache.data();
}

// The slabs of bin group v + 1 of two grouped arrays (either may be null), for product_group to
// prefetch.
template <class T>
prefetch_plan next_slabs(std::int64_t v, std::int64_t vecs, const T* a, const grouped_layout<T>& la, const T* b,
                         const grouped_layout<T>& lb) {
  prefetch_plan p;
  if (v + 1 >= vecs) return p;
  constexpr std::int64_t line = 64 / std::int64_t(sizeof(T));
  if (a) p.begin[0] = reinterpret_cast<const char*>(a + (v + 1) * la.slab()), p.lines[0] = la.slab() / line;
  if (b) p.begin[1] = reinterpret_cast<const char*>(b + (v + 1) * lb.slab()), p.lines[1] = lb.slab() / line;
  return p;
}

inline std::int64_t wrap(std::int64_t i, std::int64_t n) { return ((i % n) + n) % n; }

}  // namespace fft_detail

// Frees the spectra workspace the calling thread keeps between calls (worker threads keep their
// small per-thread transform scratch).
inline void fft_conv_release_workspace() { fft_detail::thread_workspace::of_this_thread(0).trim(0); }

// Stride 1 only (a strided output would waste most of the transform), any kernel and padding.
inline bool fft_conv_supports(const conv_geometry& g) {
  return g.stride_y == 1 && g.stride_x == 1 && g.pad_y >= 0 && g.pad_x >= 0 && g.R >= 1 && g.S >= 1 && g.P() >= 1 &&
         g.Q() >= 1 && g.C >= 1 && g.K >= 1;
}

// y = x ⋆ w + b. Spectra: Y(n, k) = Σ_c conj(Ŵ(k, c)) · X̂(n, c) (correlation, hence the
// conjugate); y[p][q] is the inverse at ((p − pad_y) mod Fy, (q − pad_x) mod Fx).
template <class T>
void fft_conv_forward(const conv_geometry& g, std::int64_t N, const T* x, const T* w, const T* b, T* y,
                      filter_cache<T>& cache) {
  using namespace fft_detail;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "fft_conv: float or double");
  const grid<T> gr(g);
  const plane_transformer<T> t(gr);
  const grouped_layout<T> lw(g.K, g.C);
  const T* ws = filter_spectra(g, gr, t, w, lw, cache);
  if (N <= 0) return;
  constexpr std::int64_t E = grid<T>::E;
  const std::int64_t group = images_per_group(gr, g.C + g.K, N);
  workspace_lease<T> lease(0);
  lease.reserve(gr.vecs * grouped_layout<T>(group, g.C).slab());
  lease.reserve(gr.vecs * grouped_layout<T>(group, g.K).slab());
  T* const xs = lease.take(gr.vecs * grouped_layout<T>(group, g.C).slab());
  T* const ys = lease.take(gr.vecs * grouped_layout<T>(group, g.K).slab());
  for (std::int64_t n0 = 0; n0 < N; n0 += group) {
    const std::int64_t ng = std::min(group, N - n0);
    const grouped_layout<T> lx(ng, g.C), ly(ng, g.K);
    planes_to_spectra(t, x + n0 * g.input_elements(), g.H, g.W, T(1), xs, lx);
    over_groups(gr.vecs, [&](std::int64_t v) {
      // out(k, n) = Σ_c conj(W(k, c)) · X(c, n)
      product_group<T>(g.K, ng, g.C, ws + v * lw.slab(), lw.ld * E, E, xs + v * lx.slab(), E, lx.ld * E,
                       ys + v * ly.slab(), E, ly.ld * E, true, false, next_slabs(v, gr.vecs, ws, lw, xs, lx));
    });
    spectra_to_planes(t, ys, ly, wrap(-g.pad_y, gr.Fy), wrap(-g.pad_x, gr.Fx), g.P(), g.Q(), T(1),
                      [&](std::int64_t i) { return b ? b[i % g.K] : T(0); }, y + n0 * g.output_elements());
  }
}

// dx = dy ∗ w (a true convolution: the adjoint of the correlation). Spectra:
// DX(n, c) = Σ_k Ŵ(k, c) · DŶ(n, k); dx[i][j] is the inverse at (i + pad_y, j + pad_x) mod F.
// Uses the same filter spectra as the forward pass, so one cache may serve both.
template <class T>
void fft_conv_backward_data(const conv_geometry& g, std::int64_t N, const T* w, const T* dy, T* dx,
                            filter_cache<T>& cache) {
  using namespace fft_detail;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "fft_conv: float or double");
  const grid<T> gr(g);
  const plane_transformer<T> t(gr);
  const grouped_layout<T> lw(g.K, g.C);
  const T* ws = filter_spectra(g, gr, t, w, lw, cache);
  if (N <= 0) return;
  constexpr std::int64_t E = grid<T>::E;
  const std::int64_t group = images_per_group(gr, g.C + g.K, N);
  workspace_lease<T> lease(0);
  lease.reserve(gr.vecs * grouped_layout<T>(group, g.K).slab());
  lease.reserve(gr.vecs * grouped_layout<T>(group, g.C).slab());
  T* const dys = lease.take(gr.vecs * grouped_layout<T>(group, g.K).slab());
  T* const dxs = lease.take(gr.vecs * grouped_layout<T>(group, g.C).slab());
  for (std::int64_t n0 = 0; n0 < N; n0 += group) {
    const std::int64_t ng = std::min(group, N - n0);
    const grouped_layout<T> ldy(ng, g.K), ldx(ng, g.C);
    planes_to_spectra(t, dy + n0 * g.output_elements(), g.P(), g.Q(), T(1), dys, ldy);
    over_groups(gr.vecs, [&](std::int64_t v) {
      // out(c, n) = Σ_k W(k, c) · DY(k, n)
      product_group<T>(g.C, ng, g.K, ws + v * lw.slab(), E, lw.ld * E, dys + v * ldy.slab(), E, ldy.ld * E,
                       dxs + v * ldx.slab(), E, ldx.ld * E, false, false, next_slabs(v, gr.vecs, ws, lw, dys, ldy));
    });
    spectra_to_planes(t, dxs, ldx, wrap(g.pad_y, gr.Fy), wrap(g.pad_x, gr.Fx), g.H, g.W, T(1),
                      [](std::int64_t) { return T(0); }, dx + n0 * g.input_elements());
  }
}

// dw = Σ_n x_n ⋆ dy_n. Spectra: DW(k, c) = Σ_n conj(DŶ(n, k)) · X̂(n, c), summed over the whole
// batch in the frequency domain, so only K·C inverse transforms are needed; dw[r][s] is the
// inverse at (r − pad_y, s − pad_x) mod F. The cost hardly depends on R·S, which is why this
// pass stays on FFT for large kernels (for small ones the K·C inverse transforms, of which only
// R·S values each are kept, can make im2col the better choice; the selector times both).
// db = Σ_n,p,q dy, summed directly.
template <class T>
void fft_conv_backward_filter(const conv_geometry& g, std::int64_t N, const T* x, const T* dy, T* dw, T* db) {
  using namespace fft_detail;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "fft_conv: float or double");
  const std::int64_t P = g.P(), Q = g.Q();
  if (db)  // summed in double: N·P·Q terms in float would lose about log2(N·P·Q) bits
    for (std::int64_t k = 0; k < g.K; ++k) {
      double acc = 0;
      for (std::int64_t n = 0; n < N; ++n) {
        const T* row = dy + (n * g.K + k) * P * Q;
        for (std::int64_t i = 0; i < P * Q; ++i) acc += double(row[i]);
      }
      db[k] = T(acc);
    }
  if (N <= 0) {
    std::fill(dw, dw + g.weight_elements(), T(0));
    return;
  }
  const grid<T> gr(g);
  const plane_transformer<T> t(gr);
  constexpr std::int64_t E = grid<T>::E;
  const std::int64_t group = images_per_group(gr, g.C + g.K, N);
  const grouped_layout<T> ldw(g.K, g.C);
  workspace_lease<T> lease(0);
  lease.reserve(gr.vecs * grouped_layout<T>(group, g.C).slab());
  lease.reserve(gr.vecs * grouped_layout<T>(group, g.K).slab());
  lease.reserve(gr.vecs * ldw.slab());
  T* const xs = lease.take(gr.vecs * grouped_layout<T>(group, g.C).slab());
  T* const dys = lease.take(gr.vecs * grouped_layout<T>(group, g.K).slab());
  T* const dws = lease.take(gr.vecs * ldw.slab());
  for (std::int64_t n0 = 0; n0 < N; n0 += group) {
    const std::int64_t ng = std::min(group, N - n0);
    const grouped_layout<T> lx(ng, g.C), ldy(ng, g.K);
    planes_to_spectra(t, x + n0 * g.input_elements(), g.H, g.W, T(1), xs, lx);
    planes_to_spectra(t, dy + n0 * g.output_elements(), P, Q, T(1), dys, ldy);
    over_groups(gr.vecs, [&](std::int64_t v) {
      // out(k, c) (+)= Σ_n conj(DY(k, n)) · X(n, c)
      product_group<T>(g.K, g.C, ng, dys + v * ldy.slab(), E, ldy.ld * E, xs + v * lx.slab(), lx.ld * E, E,
                       dws + v * ldw.slab(), ldw.ld * E, E, true, n0 > 0,
                       next_slabs<T>(v, gr.vecs, n0 > 0 ? dws : nullptr, ldw, xs, lx));
    });
  }
  spectra_to_planes(t, dws, ldw, wrap(-g.pad_y, gr.Fy), wrap(-g.pad_x, gr.Fx), g.R, g.S, T(1) / T(gr.Fy * gr.Fx),
                    [](std::int64_t) { return T(0); }, dw);
}

}  // namespace strata::kernels::cpu

