// benchmarks/cuda_core — How close to the hardware are strata's GPU primitives?
//
// (a) Fused element-wise expressions, fp32 and fp16, 2^28 elements by default: `d = a * b + c`
//     (3 reads + 1 write: 16 B/element in fp32) and `d = a * b + c * e - f * 0.5` (6 arrays),
//     against cudaMemcpy device-to-device moving the same number of bytes (a copy of X bytes
//     reads X and writes X). GB/s of both and their ratio: 1.0 means the expression runs at
//     the speed of the copy engine's / SMs' best streaming, i.e. at memory bandwidth.
// (b) GEMM through strata::matmul (cuBLAS): SGEMM and HGEMM (strata::half, fp32 accumulation)
//     at 8192³, DGEMM at 4096³, in TFLOP/s (2·m·n·k per product), against the same cuBLAS call
//     made directly (so the ratio is strata's overhead), with sampled entries checked.
// (c) cuFFT through strata: rfft2 / irfft2 of 256 planes of 256×256 fp32. GFLOP/s by the usual
//     convention for real transforms, 2.5·N·log2(N) flops per plane of N = H·W points (half of
//     the 5·N·log2(N) of a complex FFT), and GB/s counting one read of the input and one write
//     of the output (the ratio to the D2D copy's GB/s shows how far from streaming it is).
//
// Timing: CUDA events on strata's current stream around each run, warm-up first, candidates
// interleaved, median of `--reps` (default 20, at least 10) runs.
//
// Usage: cuda_core [--quick] [--reps N] [--size-log2 K] [--csv FILE]
//   --quick: 2^24 elements, GEMMs at 4096³ (2048³ fp64), 64 FFT planes: a smoke test.
// Without a usable GPU it prints "no CUDA device: <reason>" and exits with 77.
// Ends with one line: RESULT expr_vs_copy=… hgemm_tflops=… sgemm_tflops=… fft_gflops=…
#include <strata/cuda.hpp>

#include "cuda_timing.cuh"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using gpu = strata::cuda;  // (unqualified `cuda` may meet libcu++'s ::cuda namespace)

struct options {
  bool quick = false;
  int reps = 20;
  int size_log2 = 28;
  std::string csv;
};

struct csv_row {
  std::string section, name, size;
  double ms, gbs, tflops, ratio;
};
std::vector<csv_row> csv_rows;

// Uniform [-1, 1) host tensors (tests/support needs Catch2; a benchmark does not).
template <class T, std::size_t R>
strata::Tensor<T, R> random_host(const strata::Shape<R>& shape, std::uint64_t seed) {
  auto t = strata::Tensor<T, R>::uninitialized(shape);
  strata::fill_uniform(t, -1.0, 1.0, seed);
  return t;
}

template <class T>
T fetch(const T* device_ptr) {
  T v;
  STRATA_CUDA_CHECK(cudaMemcpy(&v, device_ptr, sizeof(T), cudaMemcpyDeviceToHost));
  return v;
}

std::string human_count(std::int64_t n) {
  int log2 = 0;
  while ((std::int64_t{1} << log2) < n) ++log2;
  if ((std::int64_t{1} << log2) == n) return "2^" + std::to_string(log2);
  return std::to_string(n);
}

void rule() { std::printf("%s\n", std::string(100, '-').c_str()); }

// ---------------------------------------------------------------------------------------------
// (a) expressions against the copy

struct expr_result {
  double ratio3 = NAN;  // fp32 `a * b + c` GB/s ÷ copy GB/s
};

template <class T>
bool check_value(const strata::Tensor<T, 1, gpu>& d, float expected, const char* what) {
  const std::int64_t n = d.size();
  for (const std::int64_t i : {std::int64_t{0}, n / 2 + 1, n - 1}) {
    const float v = static_cast<float>(fetch(d.data() + i));
    if (v != expected) {
      std::fprintf(stderr, "cuda_core: %s: element %lld is %g, expected %g\n", what, static_cast<long long>(i), v,
                   expected);
      return false;
    }
  }
  return true;
}

// One element type: the 3- and 5-operand expressions, each interleaved with a D2D copy of the
// bytes the expression moves. Returns the ratios (3-operand, 5-operand), or NaN on a bad result.
template <class T>
std::pair<double, double> expressions(std::int64_t n, const char* type_name, const options& opt,
                                      strata::Tensor<float, 1, gpu>& copy_src, strata::Tensor<float, 1, gpu>& copy_dst) {
  using Vec = strata::Tensor<T, 1, gpu>;
  const strata::Shape<1> shape{n};
  Vec a(shape, T(1.5f)), b(shape, T(2.0f)), c(shape, T(0.25f)), e(shape, T(4.0f)), f(shape, T(3.0f));
  Vec d = Vec::uninitialized(shape);
  strata::synchronize();
  const cudaStream_t s = strata::current_stream();
  const std::int64_t bytes3 = 4 * n * static_cast<std::int64_t>(sizeof(T));  // 3 reads + 1 write
  const std::int64_t bytes5 = 6 * n * static_cast<std::int64_t>(sizeof(T));  // 5 reads + 1 write
  const auto copy = [&](std::int64_t moved) {
    return [&, moved] {
      STRATA_CUDA_CHECK(cudaMemcpyAsync(copy_dst.data(), copy_src.data(), static_cast<std::size_t>(moved / 2),
                                        cudaMemcpyDeviceToDevice, s));
    };
  };
  const int warmup = 3;

  const auto t3 = time_interleaved({[&] { d = a * b + c; }, copy(bytes3)}, warmup, opt.reps);
  if (!check_value(d, 3.25f, "a * b + c")) return {NAN, NAN};
  const auto t5 = time_interleaved({[&] { d = a * b + c * e - f * 0.5f; }, copy(bytes5)}, warmup, opt.reps);
  if (!check_value(d, 2.5f, "a * b + c * e - f * 0.5")) return {NAN, NAN};

  const auto row = [&](const char* expr, std::int64_t bytes, const std::vector<double>& t) {
    const double expr_gbs = bytes / (t[0] * 1e6), copy_gbs = bytes / (t[1] * 1e6);
    std::printf("%-28s %-5s %8s %10.3f %10.1f %10.3f %10.1f %8.3f\n", expr, type_name, human_count(n).c_str(), t[0],
                expr_gbs, t[1], copy_gbs, expr_gbs / copy_gbs);
    csv_rows.push_back({"expression", std::string(expr) + " " + type_name, std::to_string(n), t[0], expr_gbs, NAN,
                        expr_gbs / copy_gbs});
    csv_rows.push_back({"expression", std::string("D2D copy for ") + expr + " " + type_name, std::to_string(n), t[1],
                        copy_gbs, NAN, 1.0});
    return expr_gbs / copy_gbs;
  };
  const double r3 = row("d = a * b + c", bytes3, t3);
  const double r5 = row("d = a*b + c*e - f*0.5", bytes5, t5);
  return {r3, r5};
}

expr_result run_expressions(const options& opt) {
  std::int64_t n = std::int64_t{1} << opt.size_log2;
  // fp32 needs 6 arrays of 4n bytes plus copy buffers of 12n bytes each (the 5-operand
  // expression moves 24n bytes): 48n bytes. Use at most 80% of what is free.
  std::size_t free_bytes = 0, total_bytes = 0;
  STRATA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  bool reduced = false;
  while (n > (std::int64_t{1} << 20) && static_cast<double>(48 * n) > 0.8 * static_cast<double>(free_bytes)) {
    n /= 2;
    reduced = true;
  }
  std::printf("\n(a) element-wise expressions against cudaMemcpyAsync device-to-device of the same bytes moved\n");
  std::printf("    %s elements per array%s; GB/s = bytes read + written per second (a copy of X bytes moves 2X)\n",
              human_count(n).c_str(),
              reduced ? (" (2^" + std::to_string(opt.size_log2) + " requested: reduced to fit free device memory)").c_str()
                      : "");
  rule();
  std::printf("%-28s %-5s %8s %10s %10s %10s %10s %8s\n", "expression", "type", "elements", "expr ms", "expr GB/s",
              "copy ms", "copy GB/s", "ratio");
  rule();
  expr_result result;
  {
    strata::Tensor<float, 1, gpu> src(strata::Shape<1>{3 * n}, 1.0f);  // 12n bytes
    auto dst = strata::Tensor<float, 1, gpu>::uninitialized(strata::Shape<1>{3 * n});
    const auto [r3, r5] = expressions<float>(n, "fp32", opt, src, dst);
    result.ratio3 = r3;
    expressions<strata::half>(n, "fp16", opt, src, dst);
    (void)r5;
  }
  strata::synchronize();
  strata::caching_allocator::instance().release_cached();
  return result;
}

// ---------------------------------------------------------------------------------------------
// (b) GEMM

using strata::kernels::cuda::detail::cuda_type;

// TFLOP/s of c = matmul(a, b) at n³ through strata, and of the same cublasGemmEx made directly
// on a handle of our own; the strata result is checked at a few entries against fp64 dot
// products: |error| ≤ bound·Σ|a||b| (+ half rounding), as in tests/cuda/test_gemm_fft.cu.
template <class T>
double gemm(std::int64_t n, const char* name, const options& opt, bool& ok) {
  const strata::Shape<2> shape{n, n};
  const auto a_host = random_host<T>(shape, 1);
  const auto b_host = random_host<T>(shape, 2);
  const auto a = strata::to_device(a_host), b = strata::to_device(b_host);
  auto c = strata::Tensor<T, 2, gpu>::uninitialized(shape);
  auto c_raw = strata::Tensor<T, 2, gpu>::uninitialized(shape);

  cublasHandle_t raw = nullptr;
  STRATA_CUDA_CHECK(cublasCreate(&raw));
  STRATA_CUDA_CHECK(cublasSetStream(raw, strata::current_stream()));
  // The math mode strata's handles use (kernels/cuda/gemm.cuh), so the ratio measures only strata's overhead.
  STRATA_CUDA_CHECK(cublasSetMathMode(
      raw, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
  using S = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const S one = 1, zero = 0;
  constexpr cublasComputeType_t compute = std::is_same_v<T, double> ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F;
  const int ni = static_cast<int>(n);
  const auto t = time_interleaved(
      {[&] { c = strata::matmul(a, b); },
       [&] {
         // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: B first.
         STRATA_CUDA_CHECK(cublasGemmEx(raw, CUBLAS_OP_N, CUBLAS_OP_N, ni, ni, ni, &one, b.data(), cuda_type<T>(), ni,
                                        a.data(), cuda_type<T>(), ni, &zero, c_raw.data(), cuda_type<T>(), ni, compute,
                                        CUBLAS_GEMM_DEFAULT));
       }},
      2, std::max(10, opt.reps / 2));
  strata::synchronize();
  STRATA_CUDA_CHECK(cublasDestroy(raw));

  // Sampled check.
  const double u = std::is_same_v<T, double> ? 0x1p-53 : 0x1p-24;
  const bool is_half = std::is_same_v<T, strata::half>;
  double worst = 0;
  for (int sample = 0; sample < 16; ++sample) {
    const std::int64_t i = (sample * 7919) % n, j = (sample * 104729 + 13) % n;
    double exact = 0, magnitude = 0;
    for (std::int64_t p = 0; p < n; ++p) {
      const double x = static_cast<double>(strata::precision_traits<T>::to_compute(a_host.data()[i * n + p]));
      const double y = static_cast<double>(strata::precision_traits<T>::to_compute(b_host.data()[p * n + j]));
      exact += x * y;  // fp64: its own error (n·2^-53 of the magnitude) is far below the bounds
      magnitude += std::abs(x * y);
    }
    const double got = static_cast<double>(strata::precision_traits<T>::to_compute(fetch(c.data() + i * n + j)));
    double allowed = (n + 3) * u * magnitude + (std::is_same_v<T, double> ? (n + 1) * 0x1p-52 * magnitude : 0.0);
    if (is_half) allowed = 4 * allowed + 0x1p-11 * std::abs(exact) + 0x1p-25;
    worst = std::max(worst, std::abs(got - exact) / allowed);
  }
  if (!(worst <= 1.0)) {
    std::fprintf(stderr, "cuda_core: %s %lld³ gives wrong entries (error %.3g of the bound)\n", name,
                 static_cast<long long>(n), worst);
    ok = false;
  }
  const double flops = 2.0 * static_cast<double>(n) * n * n;
  const double tf = flops / (t[0] * 1e-3) / 1e12, tf_raw = flops / (t[1] * 1e-3) / 1e12;
  std::printf("%-34s %6lld³ %10.3f %10.1f %10.1f %8.3f   %s\n", name, static_cast<long long>(n), t[0], tf, tf_raw,
              tf / tf_raw, worst <= 1.0 ? "ok" : "WRONG");
  csv_rows.push_back({"gemm", name, std::to_string(n), t[0], NAN, tf, tf / tf_raw});
  return tf;
}

// ---------------------------------------------------------------------------------------------
// (c) FFT

double fft(std::int64_t batch, std::int64_t h, std::int64_t w, const options& opt, double copy_gbs, bool& ok) {
  const auto x_host = random_host<float>(strata::Shape<3>{batch, h, w}, 3);
  const auto x = strata::to_device(x_host);
  auto spec = strata::Tensor<float, 4, gpu>::uninitialized(strata::Shape<4>{batch, h, w / 2 + 1, 2});
  auto back = strata::Tensor<float, 3, gpu>::uninitialized(strata::Shape<3>{batch, h, w});
  using strata::kernels::cuda::irfft2;
  using strata::kernels::cuda::rfft2;
  const auto t = time_interleaved({[&] { rfft2<float>(x.view(), spec.view()); },
                                   [&] { irfft2<float>(spec.view(), back.view()); }},
                                  2, std::max(10, opt.reps), 10);
  // Round trip irfft2(rfft2(x)) = N·x, checked normwise as in tests/cuda/test_gemm_fft.cu:
  // rms(z/N − x) ≤ 3·16·(H + W)·2^-24·rms(x) (a wrong transform gives about rms(x) or more).
  rfft2<float>(x.view(), spec.view());
  irfft2<float>(spec.view(), back.view());
  const auto back_host = strata::to_host(back);
  const double points = static_cast<double>(h * w);
  double err2 = 0, x2 = 0;
  for (std::int64_t i = 0; i < x_host.size(); ++i) {
    const double e = back_host.data()[i] / points - x_host.data()[i];
    err2 += e * e;
    x2 += static_cast<double>(x_host.data()[i]) * x_host.data()[i];
  }
  const double worst = std::sqrt(err2 / x2) / (3 * 16.0 * static_cast<double>(h + w) * 0x1p-24);
  if (!(worst <= 1.0)) {
    std::fprintf(stderr, "cuda_core: irfft2(rfft2(x)) is not N·x (error %.3g of the bound)\n", worst);
    ok = false;
  }
  const double flops = static_cast<double>(batch) * 2.5 * points * std::log2(points);
  const double bytes = static_cast<double>(x.bytes() + spec.bytes());
  std::string size = std::to_string(batch) + "x" + std::to_string(h) + "x" + std::to_string(w);
  double forward_gflops = NAN;
  for (int k = 0; k < 2; ++k) {
    const double gflops = flops / (t[k] * 1e-3) / 1e9, gbs = bytes / (t[k] * 1e6);
    std::printf("%-24s %-16s %10.4f %10.0f %10.1f %12.3f   %s\n", k == 0 ? "rfft2 (R2C)" : "irfft2 (C2R, +copy)",
                size.c_str(), t[k], gflops, gbs, gbs / copy_gbs, worst <= 1.0 ? "ok" : "WRONG");
    csv_rows.push_back({"fft", k == 0 ? "rfft2" : "irfft2", size, t[k], gbs, gflops / 1e3, gbs / copy_gbs});
    if (k == 0) forward_gflops = gflops;
  }
  return forward_gflops;
}

double copy_bandwidth(std::int64_t bytes, const options& opt) {
  auto src = strata::Tensor<float, 1, gpu>(strata::Shape<1>{bytes / 4}, 1.0f);
  auto dst = strata::Tensor<float, 1, gpu>::uninitialized(strata::Shape<1>{bytes / 4});
  const auto t = time_interleaved({[&] {
                                    STRATA_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), static_cast<std::size_t>(bytes),
                                                                      cudaMemcpyDeviceToDevice, strata::current_stream()));
                                  }},
                                  3, opt.reps);
  return 2.0 * static_cast<double>(bytes) / (t[0] * 1e6);
}

bool parse(int argc, char** argv, options& opt) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "cuda_core: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--quick") opt.quick = true;
    else if (arg == "--reps") opt.reps = std::max(10, std::atoi(value()));
    else if (arg == "--size-log2") opt.size_log2 = std::clamp(std::atoi(value()), 20, 32);
    else if (arg == "--csv") opt.csv = value();
    else {
      std::fprintf(stderr, "usage: cuda_core [--quick] [--reps N] [--size-log2 K] [--csv FILE]\n");
      return false;
    }
  }
  if (opt.quick) {
    opt.size_log2 = std::min(opt.size_log2, 24);
    opt.reps = 10;
  }
  return true;
}

}  // namespace


int main(int argc, char** argv) {
  options opt;
  if (!parse(argc, argv, opt)) return 2;
  if (strata::cuda_runtime::device_count() == 0) {
    std::printf("no CUDA device: %s\n", strata::cuda_runtime::unavailable_reason().c_str());
    std::printf("cuda_core: nothing measured (exit code 77 = skipped)\n");
    return 77;
  }
  try {
    int runtime = 0, driver = 0, cublas_major = 0, cublas_minor = 0, cufft_version = 0;
    STRATA_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    STRATA_CUDA_CHECK(cudaDriverGetVersion(&driver));
    STRATA_CUDA_CHECK(cublasGetProperty(MAJOR_VERSION, &cublas_major));
    STRATA_CUDA_CHECK(cublasGetProperty(MINOR_VERSION, &cublas_minor));
    STRATA_CUDA_CHECK(cufftGetVersion(&cufft_version));
    std::printf("cuda_core: how close to the hardware are strata's GPU primitives?\n");
    std::printf("device  %s\n", strata::cuda_runtime::describe(0).c_str());
    std::printf("CUDA    runtime %d.%d, driver %d.%d, cuBLAS %d.%d, cuFFT %d; median of %d runs after warm-up%s\n",
                runtime / 1000, runtime % 1000 / 10, driver / 1000, driver % 1000 / 10, cublas_major, cublas_minor,
                cufft_version, opt.reps, opt.quick ? " (--quick)" : "");
    bool ok = true;

    const expr_result expr = run_expressions(opt);
    if (std::isnan(expr.ratio3)) ok = false;

    const std::int64_t gemm_n = opt.quick ? 4096 : 8192, dgemm_n = opt.quick ? 2048 : 4096;
    std::printf("\n(b) GEMM through strata::matmul (cuBLAS) against the same cublasGemmEx called directly\n");
    rule();
    std::printf("%-34s %7s %10s %10s %10s %8s   %s\n", "product", "size", "ms", "TFLOP/s", "raw TF/s", "ratio",
                "check");
    rule();
    const double sgemm = gemm<float>(gemm_n, "SGEMM fp32 (CUBLAS_COMPUTE_32F)", opt, ok);
    const double hgemm = gemm<strata::half>(gemm_n, "HGEMM fp16, fp32 accumulation", opt, ok);
    gemm<double>(dgemm_n, "DGEMM fp64", opt, ok);
    strata::caching_allocator::instance().release_cached();

    const std::int64_t planes = opt.quick ? 64 : 256;
    const double copy_gbs = copy_bandwidth(std::int64_t{256} << 20, opt);  // 256 MiB copy for reference
    std::printf("\n(c) cuFFT through strata: GFLOP/s = planes·2.5·N·log2(N), N = H·W; GB/s = input + output bytes;\n"
                "    'of copy' = GB/s ÷ D2D copy GB/s (%.0f GB/s, 256 MiB)\n",
                copy_gbs);
    rule();
    std::printf("%-24s %-16s %10s %10s %10s %12s   %s\n", "transform", "planes", "ms", "GFLOP/s", "GB/s", "of copy",
                "check");
    rule();
    const double fft_gflops = fft(planes, 256, 256, opt, copy_gbs, ok);
    rule();

    if (!opt.csv.empty()) {
      if (FILE* f = std::fopen(opt.csv.c_str(), "w")) {
        std::fprintf(f, "section,name,size,ms,gb_per_s,tflop_per_s,ratio\n");
        for (const auto& r : csv_rows)
          std::fprintf(f, "%s,\"%s\",%s,%.6f,%.3f,%.3f,%.4f\n", r.section.c_str(), r.name.c_str(), r.size.c_str(), r.ms,
                       r.gbs, r.tflops, r.ratio);
        std::fclose(f);
        std::printf("wrote %s\n", opt.csv.c_str());
      } else {
        std::fprintf(stderr, "cuda_core: cannot write %s\n", opt.csv.c_str());
      }
    }
    std::printf("\nRESULT expr_vs_copy=%.3f hgemm_tflops=%.1f sgemm_tflops=%.1f fft_gflops=%.0f\n", expr.ratio3, hgemm,
                sgemm, fft_gflops);
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_core: %s\n", e.what());
    std::printf("\nRESULT expr_vs_copy=nan hgemm_tflops=nan sgemm_tflops=nan fft_gflops=nan\n");
    return 1;
  }
}
