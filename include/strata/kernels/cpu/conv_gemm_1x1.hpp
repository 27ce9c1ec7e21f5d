// strata/kernels/cpu/conv_gemm_1x1.hpp — 1×1 convolutions as plain matrix products: each image
// is already a C × (H·W) matrix, so y_n = W[K, C] · x_n with no patch matrix. A stride > 1
// gathers the sampled pixels first (C × P·Q, the only copy) and scatters gradients back.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "strata/core/parallel.hpp"
#include "strata/core/tensor.hpp"
#include "strata/kernels/cpu/conv_batch.hpp"
#include "strata/kernels/conv_algorithm.hpp"
#include "strata/kernels/conv_geometry.hpp"
#include "strata/kernels/cpu/gemm.hpp"

namespace strata::kernels::cpu {

// The tag's rule (kernels/conv_algorithm.hpp), in one place.
inline bool gemm_1x1_supports(const conv_geometry& g) { return algo::gemm_1x1::supports(g); }

namespace detail {

inline bool strided(const conv_geometry& g) { return g.stride_y != 1 || g.stride_x != 1; }

// x_n sampled at the stride: [C, P·Q].
template <class T>
void gather_strided(const conv_geometry& g, const T* x, T* out) {
  const std::int64_t P = g.P(), Q = g.Q();
  for (std::int64_t c = 0; c < g.C; ++c)
    for (std::int64_t p = 0; p < P; ++p) {
      const T* row = x + (c * g.H + p * g.stride_y) * g.W;
      T* o = out + (c * P + p) * Q;
      for (std::int64_t q = 0; q < Q; ++q) o[q] = row[q * g.stride_x];
    }
}

template <class T>
void scatter_strided(const conv_geometry& g, const T* in, T* dx) {
  const std::int64_t P = g.P(), Q = g.Q();
  std::fill(dx, dx + g.input_elements(), T(0));
  for (std::int64_t c = 0; c < g.C; ++c)
    for (std::int64_t p = 0; p < P; ++p) {
      T* row = dx + (c * g.H + p * g.stride_y) * g.W;
      const T* i = in + (c * P + p) * Q;
      for (std::int64_t q = 0; q < Q; ++q) row[q * g.stride_x] = i[q];
    }
}


}  // namespace detail

template <class T>
void conv_gemm_1x1_forward(const conv_geometry& g, std::int64_t N, const T* x, const T* w, const T* b, T* y) {
  const std::int64_t PQ = g.P() * g.Q();
  detail::over_images<T>(N, detail::strided(g) ? g.C * g.P() * g.Q() : 0, [&](std::int64_t n, T* buffer) {
    const T* xn = x + n * g.input_elements();
    T* yn = y + n * g.output_elements();
    if (detail::strided(g)) {
      detail::gather_strided(g, xn, buffer);
      xn = buffer;
    }
    gemm<T>(false, false, g.K, PQ, g.C, T(1), w, g.C, xn, PQ, T(0), yn, PQ);
    if (b)
      for (std::int64_t k = 0; k < g.K; ++k)
        for (std::int64_t i = 0; i < PQ; ++i) yn[k * PQ + i] += b[k];
  });
}

template <class T>
void conv_gemm_1x1_backward_data(const conv_geometry& g, std::int64_t N, const T* w, const T* dy, T* dx) {
  const std::int64_t PQ = g.P() * g.Q();
  detail::over_images<T>(N, detail::strided(g) ? g.C * g.P() * g.Q() : 0, [&](std::int64_t n, T* buffer) {
    const T* dyn = dy + n * g.output_elements();
    T* dxn = dx + n * g.input_elements();
    if (detail::strided(g)) {
      gemm<T>(true, false, g.C, PQ, g.K, T(1), w, g.C, dyn, PQ, T(0), buffer, PQ);
      detail::scatter_strided(g, buffer, dxn);
    } else {
      gemm<T>(true, false, g.C, PQ, g.K, T(1), w, g.C, dyn, PQ, T(0), dxn, PQ);
    }
  });
}

template <class T>
void conv_gemm_1x1_backward_filter(const conv_geometry& g, std::int64_t N, const T* x, const T* dy, T* dw, T* db) {
  const std::int64_t PQ = g.P() * g.Q(), KC = g.K * g.C;
  const std::int64_t chunks = detail::batch_chunks(N);
  std::vector<Tensor<T, 1>> partial(static_cast<std::size_t>(chunks - 1));
  for (auto& t : partial) t = Tensor<T, 1>::uninitialized(Shape<1>{KC});
  const blas_on_calling_threads blas_guard(chunks > 1);
  parallel_chunks(N, chunks, [&](std::int64_t chunk, std::int64_t begin, std::int64_t end) {
    T* out = chunk == 0 ? dw : partial[static_cast<std::size_t>(chunk - 1)].data();
    auto buffer = Tensor<T, 1>::uninitialized(Shape<1>{detail::strided(g) ? g.C * PQ : 0});
    for (std::int64_t n = begin; n < end; ++n) {
      const T* xn = x + n * g.input_elements();
      if (detail::strided(g)) {
        detail::gather_strided(g, xn, buffer.data());
        xn = buffer.data();
      }
      gemm<T>(false, true, g.K, g.C, PQ, T(1), dy + n * g.output_elements(), PQ, xn, PQ, n == begin ? T(0) : T(1), out, g.C);
    }
  });
  if (N == 0) std::fill(dw, dw + KC, T(0));
  auto total = map(dw, Shape<1>{KC});
  for (const auto& p : partial) total += p;
  if (db)
    for (std::int64_t k = 0; k < g.K; ++k) {
      T acc = 0;
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t i = 0; i < PQ; ++i) acc += dy[(n * g.K + k) * PQ + i];
      db[k] = acc;
    }
}

// Precompiled mode (config.hpp): the instantiations for float and double are compiled once, in
// strata_precompiled (src/), and only declared here. STRATA_INSTANTIATE_CONV_GEMM_1X1(extern, T)
// declares them, STRATA_INSTANTIATE_CONV_GEMM_1X1(, T) defines them.
#define STRATA_INSTANTIATE_CONV_GEMM_1X1(EXTERN, T) \
  EXTERN template void conv_gemm_1x1_forward<T>(const conv_geometry&, std::int64_t, const T*, const T*, const T*, T*); \
  EXTERN template void conv_gemm_1x1_backward_data<T>(const conv_geometry&, std::int64_t, const T*, const T*, T*); \
  EXTERN template void conv_gemm_1x1_backward_filter<T>(const conv_geometry&, std::int64_t, const T*, const T*, T*, T*);
#if defined(STRATA_PRECOMPILED)
STRATA_INSTANTIATE_CONV_GEMM_1X1(extern, float)
STRATA_INSTANTIATE_CONV_GEMM_1X1(extern, double)
#endif

}  // namespace strata::kernels::cpu
