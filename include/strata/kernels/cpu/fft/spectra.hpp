// strata/kernels/cpu/fft/spectra.hpp — the FFT convolution's transform grid and its batched
// plane ⇄ spectrum stages: many planes transformed across the threads, their spectra regrouped so
// that every group of B frequency bins holds one complex matrix per operand, ready for the
// per-frequency products (fft/products.hpp).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

#include "strata/core/parallel.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cpu/fft/plane_transform.hpp"
#include "strata/kernels/cpu/fft/workspace.hpp"
#include "strata/kernels/cpu/simd.hpp"

#if defined(STRATA_USE_FFTW)
#include "strata/kernels/cpu/fft/fftw_transform.hpp"
#endif

namespace strata::kernels::cpu::fft {

// The transform of a plane: FFTW's when the build opted in, strata's own otherwise.
#if defined(STRATA_USE_FFTW)
template <class T>
using plane_transform = fftw_plane<T>;
#else
template <class T>
using plane_transform = plane_fft<T>;
#endif

constexpr std::int64_t ceil_to(std::int64_t n, std::int64_t m) { return (n + m - 1) / m * m; }

// The transform length for at least n points: the smallest even 2^a·3^b ≥ n (69 → 72, 57 → 64,
// 29 → 32, 15 → 16), the lengths the own transforms take. Longer lengths cost more in the
// products (the bulk of the work for many channels), so the smallest wins.
inline std::int64_t fft_length(std::int64_t n) {
  n = std::max<std::int64_t>(n, 2);
  for (std::int64_t m = n + (n & 1);; m += 2)
    if (supported_real_length(m)) return m;
}

template <class T>
struct grid {
  static constexpr std::int64_t B = fft_lanes<T>;  // bins per group: one per SIMD lane
  static constexpr std::int64_t E = 2 * B;           // scalars per group: B real parts, then B imaginary
  std::int64_t Fy, Fx;  // transform size
  std::int64_t Fyh;     // complex bins per column of a real transform: Fy/2 + 1
  std::int64_t ldr;     // real row stride in scratch (64-byte multiple, so rows keep alignment)
  std::int64_t bins;    // Fx·Fyh, bin f = kx·Fyh + ky
  std::int64_t vecs;    // bins in groups of B

  // Why Fy ≥ H + pad and not H + 2·pad: the image is placed at the grid origin, not shifted by
  // the padding, and the padding is the grid's own zeros. A circular correlation then equals the
  // linear one on every output as long as indices that fall off the top (−pad … −1) wrap onto
  // rows ≥ H, which are zero: Fy ≥ H + pad; the highest index read, P + R − 2 − pad = H + pad − 1,
  // needs the same. The output (P rows) and the filter (R rows) must also fit without overlap.
  // Fy/2 + 1 ≥ B too: the row transforms run on B frequencies ky at once.
  explicit grid(const conv_geometry& g) {
    Fy = fft_length(std::max({g.H + g.pad_y, g.P(), g.R, 2 * B - 2}));
    Fx = fft_length(std::max({g.W + g.pad_x, g.Q(), g.S}));
    Fyh = Fy / 2 + 1;
    ldr = ceil_to(Fx, 64 / std::int64_t(sizeof(T)));
    bins = Fx * Fyh;
    vecs = (bins + B - 1) / B;
  }
};

// Planes per scatter/gather batch: the spectra of 8 planes on a 72×72 grid take 170 KB (fp32),
// within L2.
constexpr std::int64_t plane_batch = 8;

// A grouped array of spectra: for each group v of B bins, a slab of `rows`×`cols` planes (plane
// i = row·cols + col, e.g. image·channels + channel), each E scalars (the B real parts, then the
// B imaginary parts). Rows are ld = cols rounded up to odd planes apart: a row of 64 planes
// would be exactly 4 KB, and the products, which walk down columns of the slab, would then hit
// one L1 set with every row.
template <class T>
struct grouped_layout {
  std::int64_t rows, cols, ld;
  grouped_layout(std::int64_t r, std::int64_t c) : rows(r), cols(c), ld(c | 1) {}
  std::int64_t slab() const { return rows * ld * grid<T>::E; }  // scalars per bin group
  std::int64_t slot(std::int64_t i) const { return (i / cols) * ld + i % cols; }
};

// Scratch of one thread, in its workspace (64-byte aligned): a real plane, the transform's own
// scratch, and the split spectra of a batch of planes (real parts, then imaginary parts, each
// padded with zero bins to whole groups).
template <class T>
struct plane_scratch {
  workspace_lease<T> lease;
  T *real, *work, *spectra;
  std::int64_t sstride;  // scalars between the spectra of a batch
  plane_scratch(const grid<T>& g, const plane_transform<T>& t, std::int64_t batch)
      : lease(1), sstride(2 * g.vecs * grid<T>::B) {
    lease.reserve(g.Fy * g.ldr);
    lease.reserve(t.scratch_scalars());
    lease.reserve(sstride * batch);
    real = lease.take(g.Fy * g.ldr);
    work = lease.take(t.scratch_scalars());
    spectra = lease.take(sstride * batch);
    std::fill(real, real + g.Fy * g.ldr, T(0));
    std::fill(work, work + t.scratch_scalars(), T(0));
    std::fill(spectra, spectra + sstride * batch, T(0));
  }
  T* re(std::int64_t j) { return spectra + j * sstride; }
  T* im(std::int64_t j) { return spectra + j * sstride + sstride / 2; }
};

template <class T>
struct plane_transformer {
  using V = fft_vec<T>;
  static constexpr std::int64_t B = grid<T>::B, E = grid<T>::E;
  const grid<T>& gr;
  plane_transform<T> transform;

  explicit plane_transformer(const grid<T>& g) : gr(g), transform(g.Fy, g.Fx, g.ldr) {}

  // The rows×cols plane src (row stride cols) → spectrum j of the scratch, whose real plane
  // is zero past column cols and row rows (the scratch starts zeroed and only those are written).
  void forward(const T* src, std::int64_t rows, std::int64_t cols, plane_scratch<T>& s, std::int64_t j) const {
    for (std::int64_t r = 0; r < rows; ++r)
      std::memcpy(s.real + r * gr.ldr, src + r * cols, std::size_t(cols) * sizeof(T));
    transform.forward(s.real, rows, cols, s.re(j), s.im(j), s.work);
  }

  // Writes out[p][q] = scale·ifft(spectrum j)[(row0 + p) mod Fy][(col0 + q) mod Fx] + add.
  void inverse_crop(plane_scratch<T>& s, std::int64_t j, std::int64_t row0, std::int64_t col0, std::int64_t rows,
                    std::int64_t cols, T scale, T add, T* out) const {
    transform.inverse(s.re(j), s.im(j), s.real, col0, cols, s.work);
    const std::int64_t run = std::min(cols, gr.Fx - col0);  // columns before the wrap
    for (std::int64_t p = 0; p < rows; ++p) {
      const T* src = s.real + ((row0 + p) % gr.Fy) * gr.ldr;
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
    const V sv = simd::broadcast<V>(scale);
    std::int64_t off[plane_batch];  // the planes' offsets in a slab (a division each: hoisted)
    for (std::int64_t j = 0; j < count; ++j) off[j] = layout.slot(first + j) * E;
    for (std::int64_t v = 0; v < gr.vecs; ++v) {
      T* const slab = dst + v * layout.slab();
      for (std::int64_t j = 0; j < count; ++j) {
        T* d = slab + off[j];
        const V re = simd::load_aligned<V>(s.re(j) + v * B) * sv, im = simd::load_aligned<V>(s.im(j) + v * B) * sv;
        if (streaming) {
          simd::store_stream(d, re);
          simd::store_stream(d + B, im);
        } else {
          simd::store_aligned(d, re);
          simd::store_aligned(d + B, im);
        }
      }
    }
    if (streaming) simd::stream_fence();
  }

  // The reverse of scatter (without scaling).
  void gather(const T* src, const grouped_layout<T>& layout, std::int64_t first, std::int64_t count,
              plane_scratch<T>& s) const {
    std::int64_t off[plane_batch];
    for (std::int64_t j = 0; j < count; ++j) off[j] = layout.slot(first + j) * E;
    for (std::int64_t v = 0; v < gr.vecs; ++v) {
      const T* const slab = src + v * layout.slab();
      for (std::int64_t j = 0; j < count; ++j) {
        simd::store_aligned(s.re(j) + v * B, simd::load_aligned<V>(slab + off[j]));
        simd::store_aligned(s.im(j) + v * B, simd::load_aligned<V>(slab + off[j] + B));
      }
    }
  }
};

// Runs batch(scratch, first, count) over [0, planes) in batches of plane_batch, across the
// threads, each thread with its own scratch.
template <class T, class Batch>
void for_plane_batches(const plane_transformer<T>& t, std::int64_t planes, Batch&& batch) {
  const std::int64_t chunks = std::min<std::int64_t>(num_threads(), (planes + plane_batch - 1) / plane_batch);
  parallel_chunks(planes, chunks, [&](std::int64_t, std::int64_t begin, std::int64_t end) {
    plane_scratch<T> scratch(t.gr, t.transform, plane_batch);
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
  for_plane_batches(t, planes, [&](plane_scratch<T>& s, std::int64_t first, std::int64_t count) {
    for (std::int64_t j = 0; j < count; ++j) t.forward(src + (first + j) * rows * cols, rows, cols, s, j);
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
  for_plane_batches(t, planes, [&](plane_scratch<T>& s, std::int64_t first, std::int64_t count) {
    t.gather(grouped, layout, first, count, s);
    for (std::int64_t j = 0; j < count; ++j)
      t.inverse_crop(s, j, row0, col0, rows, cols, scale, add(first + j), out + (first + j) * rows * cols);
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

inline std::int64_t wrap(std::int64_t i, std::int64_t n) { return ((i % n) + n) % n; }

}  // namespace strata::kernels::cpu::fft
