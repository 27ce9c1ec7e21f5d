// strata/kernels/cuda/conv.cuh — convolution on the GPU: im2col + cuBLAS for any shape (patch
// matrices of a chunk of images, one strided-batched GEMM per chunk), 1×1 as GEMMs on the input
// itself, Winograd F(2×2, 3×3) and F(4×4, 3×3) (transforms as kernels, α² GEMMs in one call),
// FFT through cuFFT (complex GEMMs per frequency), and algo::automatic choosing between them per
// (pass, shape, batch, precision) by timing once, recorded in conv_choices() like the CPU's. fp64,
// fp32 and fp16 (tensor cores, fp32 accumulation; no F(4×4) or FFT). The passes are in
// kernels/cuda/conv_passes.hpp, run here over cuBLAS, cuFFT and launches.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "strata/core/tensor.hpp"
#include "strata/device/cuda.hpp"
#include "strata/device/cuda/error.hpp"
#include "strata/kernels/conv_algorithm.hpp"
#include "strata/kernels/conv_choices.hpp"
#include "strata/kernels/cuda/conv_passes.hpp"
#include "strata/kernels/cuda/fft.cuh"
#include "strata/kernels/cuda/gemm.cuh"
#include "strata/kernels/cuda/launch.cuh"
#include "strata/numeric/precision_traits.hpp"

namespace strata::kernels {

namespace cuda {
template <class T>
concept gemm_element = std::is_same_v<T, double> || std::is_same_v<T, float> || std::is_same_v<T, half>;
// cuFFT's real transforms and the complex GEMMs: fp32 and fp64.
template <class T>
concept fft_element = std::is_same_v<T, double> || std::is_same_v<T, float>;

// The passes' backend on the GPU: workspaces from the caching allocator, cuBLAS, launches on the
// current stream.
struct conv_backend {
  template <class T>
  static Tensor<T, 1, strata::cuda> workspace(std::int64_t n) {
    return Tensor<T, 1, strata::cuda>::uninitialized(Shape<1>{n});
  }
  template <class T>
  static void fill_zero(T* p, std::int64_t n) {
    device_traits<strata::cuda>::fill(p, n, T(0));
  }
  template <class Body>
  static void launch(std::int64_t items, const Body& body, const char* what) {
    launch_body(items, body, what);
  }
  template <class T>
  static void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda,
                   std::int64_t stride_a, const T* b, std::int64_t ldb, std::int64_t stride_b, T* c, std::int64_t ldc,
                   std::int64_t stride_c, std::int64_t batch) {
    gemm_strided_batched<T>(ta, tb, m, n, k, 1, a, lda, stride_a, b, ldb, stride_b, 0, c, ldc, stride_c, batch);
  }
  template <class T>
  static void complex_gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda,
                           std::int64_t stride_a, const T* b, std::int64_t ldb, std::int64_t stride_b, T* c,
                           std::int64_t ldc, std::int64_t stride_c, std::int64_t batch) {
    complex_gemm_strided_batched<T>(ta, tb, m, n, k, a, lda, stride_a, b, ldb, stride_b, c, ldc, stride_c, batch);
  }
  template <class T>
  static void rfft2(std::int64_t planes, std::int64_t h, std::int64_t w, const T* x, T* spectra) {
    rfft2_planes<T>(planes, h, w, x, spectra);
  }
  template <class T>
  static void irfft2(std::int64_t planes, std::int64_t h, std::int64_t w, T* spectra, T* x) {
    irfft2_planes_overwriting<T>(planes, h, w, spectra, x);
  }
};

inline cuda_body::conv_passes<conv_backend> passes() {
  static conv_backend backend;
  return {backend};
}
}  // namespace cuda

// The GPU's per-layer convolution state: the layer's name for conv_choices(), whether it trains,
// and automatic's last decision per pass.
template <class T>
struct conv_state<strata::cuda, T> {
  bool training = false;
  std::string layer;
  struct remembered_choice {
    conv_geometry geometry{};
    std::int64_t batch = -1;
    bool training = false, transforms = true;
    int algorithm = -1;  // 0 im2col, 1 gemm_1x1, 2 winograd<2>, 3 winograd<4>, 4 fft
  };
  std::array<remembered_choice, 3> last{};
};

// im2col + GEMM (kernels/cuda/conv_passes.hpp).
template <class T>
  requires cuda::gemm_element<T>
struct conv_kernel<algo::im2col, strata::cuda, T> {
  using state_type = conv_state<strata::cuda, T>;
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, state_type&) {
    cuda::passes().im2col_forward(g, n, x, w, b, y);
  }
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx, state_type&) {
    cuda::passes().im2col_backward_data(g, n, w, dy, dx);
  }
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db, state_type&) {
    cuda::passes().im2col_backward_filter(g, n, x, dy, dw, db);
  }
};

// 1×1 as GEMMs on the input itself; a strided 1×1 gathers its input through im2col.
template <class T>
  requires cuda::gemm_element<T>
struct conv_kernel<algo::gemm_1x1, strata::cuda, T> {
  using state_type = conv_state<strata::cuda, T>;
  static bool gathers(const conv_geometry& g) { return g.stride_y != 1 || g.stride_x != 1; }
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, state_type&) {
    if (gathers(g)) cuda::passes().im2col_forward(g, n, x, w, b, y);
    else cuda::passes().pointwise_forward(g, n, x, w, b, y);
  }
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx, state_type&) {
    if (gathers(g)) cuda::passes().im2col_backward_data(g, n, w, dy, dx);
    else cuda::passes().pointwise_backward_data(g, n, w, dy, dx);
  }
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db, state_type&) {
    if (gathers(g)) cuda::passes().im2col_backward_filter(g, n, x, dy, dw, db);
    else cuda::passes().pointwise_backward_filter(g, n, x, dy, dw, db);
  }
};

// Winograd F(m×m, 3×3) (3×3, stride 1, padding ≤ 2): forward, backward data (a forward pass over
// dy with turned filters) and the filter gradient (the adjoint transforms). F(4×4) in fp32 and fp64 only:
// its transforms grow values up to 100-fold, too much for fp16's 11 bits and range.
template <int M, class T>
  requires cuda::gemm_element<T> && (M == 2 || cuda::fft_element<T>)
struct conv_kernel<algo::winograd<M>, strata::cuda, T> {
  using state_type = conv_state<strata::cuda, T>;
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, state_type&) {
    cuda::passes().template winograd_forward<M>(g, n, x, w, b, y);
  }
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx, state_type&) {
    cuda::passes().template winograd_backward_data<M>(g, n, w, dy, dx);
  }
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db, state_type&) {
    cuda::passes().template winograd_backward_filter<M>(g, n, x, dy, dw, db);
  }
};

// FFT through cuFFT (stride 1, any kernel and padding), fp32 and fp64: all three passes.
template <class T>
  requires cuda::fft_element<T>
struct conv_kernel<algo::fft, strata::cuda, T> {
  using state_type = conv_state<strata::cuda, T>;
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, state_type&) {
    cuda::passes().fft_forward(g, n, x, w, b, y);
  }
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx, state_type&) {
    cuda::passes().fft_backward_data(g, n, w, dy, dx);
  }
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db, state_type&) {
    cuda::passes().fft_backward_filter(g, n, x, dy, dw, db);
  }
};

// algo::automatic on the GPU: im2col, 1×1 GEMM, Winograd F(2×2) and F(4×4) and FFT where the
// shape and precision allow (the transforms only while set_conv_transforms allows them); on the first call for a key the
// candidates are timed with CUDA events (or the rule of thumb or a loaded plan decides), and the
// decision is recorded in conv_choices() with "cuda" in its key.
template <class T>
  requires cuda::gemm_element<T>
struct conv_kernel<algo::automatic, strata::cuda, T> {
  using state_type = conv_state<strata::cuda, T>;
  static void forward(const conv_geometry& g, std::int64_t n, const T* x, const T* w, const T* b, T* y, state_type& s) {
    dispatch(algo::conv_pass::forward, g, n, s, [&](auto a) { conv_kernel<decltype(a), strata::cuda, T>::forward(g, n, x, w, b, y, s); });
  }
  static void backward_data(const conv_geometry& g, std::int64_t n, const T* w, const T* dy, T* dx, state_type& s) {
    dispatch(algo::conv_pass::backward_data, g, n, s,
             [&](auto a) { conv_kernel<decltype(a), strata::cuda, T>::backward_data(g, n, w, dy, dx, s); });
  }
  static void backward_filter(const conv_geometry& g, std::int64_t n, const T* x, const T* dy, T* dw, T* db, state_type& s) {
    dispatch(algo::conv_pass::backward_filter, g, n, s,
             [&](auto a) { conv_kernel<decltype(a), strata::cuda, T>::backward_filter(g, n, x, dy, dw, db, s); });
  }

 private:
  static constexpr int candidates = 5;
  static constexpr const char* names[candidates] = {algo::im2col::name, algo::gemm_1x1::name, algo::winograd<2>::name,
                                                     algo::winograd<4>::name, algo::fft::name};
  static constexpr bool has_transforms = cuda::fft_element<T>;  // F(4×4) and FFT: fp32 and fp64

  template <class Run>
  static void run_candidate(int i, Run& run) {
    if (i == 1) run(algo::gemm_1x1{});
    else if (i == 2) run(algo::winograd<2>{});
    else if constexpr (has_transforms) {
      if (i == 3) run(algo::winograd<4>{});
      else if (i == 4) run(algo::fft{});
      else run(algo::im2col{});
    } else {
      run(algo::im2col{});
    }
  }
  static int index_of(const std::string& name) {
    for (int i = 0; i < candidates; ++i)
      if (name == names[i]) return i;
    return -1;
  }
  // FFT keeps every filter's spectrum at once: not a candidate where those alone would take
  // more than a few conv workspaces (large channel counts on large planes, where it loses anyway),
  // nor for 1×1 filters (a transform of every plane to multiply by a constant).
  static bool fft_fits(const conv_geometry& g) {
    const std::int64_t fy = cuda_body::fft_friendly_size(g.H + 2 * g.pad_y), fx = cuda_body::fft_friendly_size(g.W + 2 * g.pad_x);
    return g.K * g.C * fy * (fx / 2 + 1) * 2 <= 4 * cuda_body::conv_workspace_elements;
  }
  // Which candidates can run this pass and shape.
  static std::array<bool, candidates> usable(algo::conv_pass, const conv_geometry& g, bool transforms) {
    return {true, algo::gemm_1x1::supports(g), transforms && algo::winograd<2>::supports(g),
            has_transforms && transforms && algo::winograd<4>::supports(g),
            has_transforms && transforms && algo::fft::supports(g) && g.R * g.S > 1 && fft_fits(g)};
  }
  // Without timing: 1×1 → GEMM, 3×3 → Winograd (F(4×4) on larger planes, as on the CPU), 5×5 and
  // larger → FFT, else im2col.
  static int rule_of_thumb(const std::array<bool, candidates>& ok, const conv_geometry& g) {
    if (ok[1]) return 1;
    if (ok[3] && g.P() >= 8 && g.Q() >= 8 && g.C >= 16 && g.K >= 16) return 3;
    if (ok[2] && g.C >= 8 && g.K >= 8) return 2;
    if (ok[4] && g.R * g.S >= 25) return 4;
    return 0;
  }

  template <class Run>
  static double time_candidate(int i, Run& run) {
    event start, stop;
    float best = std::numeric_limits<float>::infinity();
    for (int rep = 0; rep < 3; ++rep) {  // the first run pays for cuBLAS's setup and the workspaces
      start.record(current_stream());
      run_candidate(i, run);
      stop.record(current_stream());
      stop.synchronize();
      if (rep > 0) best = std::min(best, stop.elapsed_ms_since(start));
    }
    return best;
  }

  template <class Run>
  static void dispatch(algo::conv_pass pass, const conv_geometry& g, std::int64_t n, state_type& state, Run&& run) {
    auto& memo = state.last[static_cast<std::size_t>(pass)];
    auto& reg = algo::detail::registry();
    const bool transforms = reg.transforms.load(std::memory_order_relaxed);
    if (memo.algorithm >= 0 && memo.batch == n && memo.training == state.training && memo.transforms == transforms &&
        memo.geometry == g)
      return run_candidate(memo.algorithm, run);
    const std::string key = algo::detail::key_of(pass, g, n, precision_traits<T>::name, 1, state.training) +
                            (transforms ? ",cuda" : ",cuda,exact");
    const auto ok = usable(pass, g, transforms);
    int chosen = -1;
    algo::conv_tuning tuning;
    std::string planned;
    {
      std::lock_guard<std::mutex> lock(reg.mutex);
      tuning = reg.tuning;
      if (auto it = reg.index.find(key); it != reg.index.end()) chosen = index_of(reg.choices[it->second].algorithm);
      else if (auto p = reg.planned.find(key); tuning == algo::conv_tuning::plan && p != reg.planned.end()) planned = p->second;
    }
    if (chosen < 0 || !ok[std::size_t(chosen)]) {
      chosen = -1;
      algo::conv_choice c{state.layer, g, n, pass, precision_traits<T>::name, "", false, {}};
      const int from_plan = index_of(planned);
      const int count = int(std::count(ok.begin(), ok.end(), true));
      if (from_plan >= 0 && ok[std::size_t(from_plan)]) {
        chosen = from_plan;
      } else if (tuning == algo::conv_tuning::timed && count > 1) {
        c.timed = true;
        double best = std::numeric_limits<double>::infinity();
        for (int i = 0; i < candidates; ++i) {
          if (!ok[std::size_t(i)]) continue;
          const double ms = time_candidate(i, run);
          c.milliseconds.emplace_back(names[i], ms);
          if (ms < best) best = ms, chosen = i;
        }
      } else {  // the rule of thumb (and the only candidate of other shapes)
        chosen = rule_of_thumb(ok, g);
      }
      c.algorithm = names[chosen];
      std::lock_guard<std::mutex> lock(reg.mutex);
      if (auto it = reg.index.find(key); it == reg.index.end()) {
        reg.index.emplace(key, reg.choices.size());
        reg.choices.push_back(std::move(c));
      } else if (const int other = index_of(reg.choices[it->second].algorithm); other >= 0 && ok[std::size_t(other)]) {
        chosen = other;  // another thread decided first: follow it
      }
    }
    memo = {g, n, state.training, transforms, chosen};
    run_candidate(chosen, run);
  }
};

}  // namespace strata::kernels
