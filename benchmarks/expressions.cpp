// benchmarks/expressions — Does a strata expression run as fast as the loop a person would
// write by hand? And does strata's GEMM dispatch keep up with OpenBLAS?
//
// fp32, sizes 1e3 … 1e8: `d = a * b + c` and a 5-operand `d = a * b + c * e - f * 0.5`, as a
// strata expression, a hand-written OpenMP SIMD loop, and Eigen Array expressions (split
// across the same threads), at 1 and 2 threads; GB/s and the ratio to the hand loop. Then
// SGEMM GFLOP/s at 1024³ and 2048³: strata's matmul, Eigen's GEMM, OpenBLAS's cblas_sgemm.
// Candidates run interleaved, several repetitions, medians (see TOOLCHAIN.md on noisy vCPUs).
//
// Usage: expressions [--quick] [--csv FILE] [--max-size N] [--no-gemm]
#include <strata/kernels/cpu/eigen_gemm.hpp>
#include <strata/strata.hpp>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(STRATA_BENCH_HAVE_OPENBLAS)
#include <cblas.h>
#endif

using namespace strata;
using clock_type = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Seconds per call of f, timed over enough calls to last about `min_seconds`.
double time_once(const std::function<void()>& f, std::int64_t calls) {
  const auto t0 = clock_type::now();
  for (std::int64_t i = 0; i < calls; ++i) f();
  return std::chrono::duration<double>(clock_type::now() - t0).count() / double(calls);
}

// Runs the candidates interleaved `reps` times and returns each one's median seconds per call.
std::vector<double> compare(const std::vector<std::function<void()>>& candidates, int reps, double min_seconds) {
  std::vector<std::int64_t> calls(candidates.size(), 1);
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    candidates[c]();  // warm-up: page faults, thread pools
    const double t = time_once(candidates[c], 1);
    calls[c] = std::max<std::int64_t>(1, static_cast<std::int64_t>(min_seconds / std::max(t, 1e-9)));
  }
  std::vector<std::vector<double>> times(candidates.size());
  for (int r = 0; r < reps; ++r)
    for (std::size_t c = 0; c < candidates.size(); ++c) times[c].push_back(time_once(candidates[c], calls[c]));
  std::vector<double> out;
  for (auto& t : times) out.push_back(median(t));
  return out;
}

struct row {
  std::string expression;
  std::int64_t n;
  int threads;
  double strata_gbs, loop_gbs, eigen_gbs;
};

void set_threads(int t) {
  set_num_threads(t);
#if defined(_OPENMP)
  omp_set_num_threads(t);
#endif
}

// Hand-written loops: what a careful person writes with OpenMP, static schedule.
// (One thread: a plain SIMD loop, no OpenMP region at all.)
void loop3(float* d, const float* a, const float* b, const float* c, std::int64_t n, int threads) {
  if (threads <= 1) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) d[i] = a[i] * b[i] + c[i];
    return;
  }
#pragma omp parallel for simd schedule(static) num_threads(threads)
  for (std::int64_t i = 0; i < n; ++i) d[i] = a[i] * b[i] + c[i];
}
void loop5(float* d, const float* a, const float* b, const float* c, const float* e, const float* f, std::int64_t n,
           int threads) {
  if (threads <= 1) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) d[i] = a[i] * b[i] + c[i] * e[i] - f[i] * 0.5f;
    return;
  }
#pragma omp parallel for simd schedule(static) num_threads(threads)
  for (std::int64_t i = 0; i < n; ++i) d[i] = a[i] * b[i] + c[i] * e[i] - f[i] * 0.5f;
}

// Eigen Array expressions over the same memory; Eigen does not thread element-wise code, so
// each thread evaluates its own segment.
using array_map = Eigen::Map<Eigen::ArrayXf, Eigen::Aligned64>;
using const_array_map = Eigen::Map<const Eigen::ArrayXf, Eigen::Aligned64>;
template <class F>
void eigen_split(std::int64_t n, int threads, F&& f) {
  if (threads <= 1) {
    f(0, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
#if defined(_OPENMP)
    const std::int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    const std::int64_t t = 0, nt = 1;
#endif
    const std::int64_t per = (n + nt - 1) / nt / 16 * 16 + 16;
    const std::int64_t b = std::min(n, t * per), e = std::min(n, b + per);
    if (b < e) f(b, e);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, gemm = true;
  std::int64_t max_size = 100000000;
  std::string csv_path;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--no-gemm")) gemm = false;
    else if (!std::strcmp(argv[i], "--csv") && i + 1 < argc) csv_path = argv[++i];
    else if (!std::strcmp(argv[i], "--max-size") && i + 1 < argc) max_size = std::atoll(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--quick] [--csv FILE] [--max-size N] [--no-gemm]\n", argv[0]);
      return 2;
    }
  }
  const int reps = quick ? 3 : 7;
  const double min_seconds = quick ? 0.02 : 0.05;
  std::vector<std::int64_t> sizes = {1000, 10000, 100000, 1000000, 10000000, 100000000};
  if (quick) sizes.pop_back();
  while (!sizes.empty() && sizes.back() > max_size) sizes.pop_back();

  std::printf("strata expressions benchmark: fp32, interleaved, median of %d; GEMM via %s\n\n", reps,
              kernels::cpu::gemm_backend());
  std::printf("%-26s %11s %3s %11s %11s %11s %9s %9s\n", "expression", "n", "thr", "strata GB/s", "loop GB/s",
              "Eigen GB/s", "vs loop", "vs Eigen");
  std::vector<row> rows;
  double fused_vs_loop = 0, fused5_vs_loop = 0;

  for (std::int64_t n : sizes) {
    Tensor<float, 1> a(n), b(n), c(n), e(n), f(n), d(n);
    fill_uniform(a, -1, 1, 1), fill_uniform(b, -1, 1, 2), fill_uniform(c, -1, 1, 3);
    fill_uniform(e, -1, 1, 4), fill_uniform(f, -1, 1, 5);
    for (int threads : {1, 2}) {
      set_threads(threads);
      // d = a * b + c: 3 streams in, 1 out.
      {
        const auto t = compare(
            {[&] { d = a * b + c; }, [&] { loop3(d.data(), a.data(), b.data(), c.data(), n, threads); },
             [&] {
               eigen_split(n, threads, [&](std::int64_t lo, std::int64_t hi) {
                 array_map(d.data() + lo, hi - lo) = const_array_map(a.data() + lo, hi - lo) *
                                                         const_array_map(b.data() + lo, hi - lo) +
                                                     const_array_map(c.data() + lo, hi - lo);
               });
             }},
            reps, min_seconds);
        const double bytes = 4.0 * sizeof(float) * double(n);
        rows.push_back({"d = a*b + c", n, threads, bytes / t[0] / 1e9, bytes / t[1] / 1e9, bytes / t[2] / 1e9});
        if (n == 10000000 && threads == 2) fused_vs_loop = t[1] / t[0];
      }
      // d = a * b + c * e - f * 0.5: 5 streams in, 1 out.
      {
        const auto t = compare(
            {[&] { d = a * b + c * e - f * 0.5f; },
             [&] { loop5(d.data(), a.data(), b.data(), c.data(), e.data(), f.data(), n, threads); },
             [&] {
               eigen_split(n, threads, [&](std::int64_t lo, std::int64_t hi) {
                 const std::int64_t m = hi - lo;
                 array_map(d.data() + lo, m) =
                     const_array_map(a.data() + lo, m) * const_array_map(b.data() + lo, m) +
                     const_array_map(c.data() + lo, m) * const_array_map(e.data() + lo, m) -
                     const_array_map(f.data() + lo, m) * 0.5f;
               });
             }},
            reps, min_seconds);
        const double bytes = 6.0 * sizeof(float) * double(n);
        rows.push_back({"d = a*b + c*e - f*0.5", n, threads, bytes / t[0] / 1e9, bytes / t[1] / 1e9, bytes / t[2] / 1e9});
        if (n == 10000000 && threads == 2) fused5_vs_loop = t[1] / t[0];
      }
      for (std::size_t i = rows.size() - 2; i < rows.size(); ++i) {
        const row& r = rows[i];
        std::printf("%-26s %11lld %3d %11.2f %11.2f %11.2f %9.3f %9.3f\n", r.expression.c_str(),
                    static_cast<long long>(r.n), r.threads, r.strata_gbs, r.loop_gbs, r.eigen_gbs,
                    r.strata_gbs / r.loop_gbs, r.strata_gbs / r.eigen_gbs);
      }
    }
  }

  // ---- GEMM ------------------------------------------------------------------------------
  std::printf("\n%-10s %3s %14s %14s %16s %12s %12s\n", "SGEMM", "thr", "strata GFLOP/s", "Eigen GFLOP/s",
              "OpenBLAS GFLOP/s", "strata/OB", "Eigen/OB");
  double gemm_vs_openblas = 0, eigen_vs_openblas = 0;
#if !defined(STRATA_BENCH_HAVE_OPENBLAS)
  std::printf("(OpenBLAS not found: run scripts/setup --benchmarks; reporting strata and Eigen only)\n");
#endif
  for (std::int64_t s : {std::int64_t{1024}, std::int64_t{2048}}) {
    if (!gemm) break;
    Tensor<float, 2> A(s, s), B(s, s), C(s, s);
    fill_uniform(A, -1, 1, 6), fill_uniform(B, -1, 1, 7);
    set_threads(2);
    std::vector<std::function<void()>> candidates = {
        [&] { C = matmul(A, B); },
        [&] { kernels::cpu::eigen_gemm<float>(false, false, s, s, s, 1.0f, A.data(), s, B.data(), s, 0.0f, C.data(), s); }};
#if defined(STRATA_BENCH_HAVE_OPENBLAS)
    candidates.push_back([&] {
      openblas_set_num_threads(2);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(s), int(s), int(s), 1.0f, A.data(), int(s),
                  B.data(), int(s), 0.0f, C.data(), int(s));
    });
#endif
    const auto t = compare(candidates, quick ? 3 : 5, quick ? 0.1 : 0.3);
    const double flops = 2.0 * double(s) * double(s) * double(s);
    const double ob = t.size() > 2 ? flops / t[2] / 1e9 : 0.0;
    std::printf("%4lld^3     %3d %14.1f %14.1f %16.1f %12.3f %12.3f\n", static_cast<long long>(s), 2,
                flops / t[0] / 1e9, flops / t[1] / 1e9, ob, ob > 0 ? t[2] / t[0] : 0.0, ob > 0 ? t[2] / t[1] : 0.0);
    if (s == 2048 && ob > 0) {
      gemm_vs_openblas = t[2] / t[0];
      eigen_vs_openblas = t[2] / t[1];
    }
  }

  if (!csv_path.empty()) {
    if (FILE* out = std::fopen(csv_path.c_str(), "w")) {
      std::fprintf(out, "expression,n,threads,strata_gbs,loop_gbs,eigen_gbs\n");
      for (const row& r : rows)
        std::fprintf(out, "\"%s\",%lld,%d,%.3f,%.3f,%.3f\n", r.expression.c_str(), static_cast<long long>(r.n),
                     r.threads, r.strata_gbs, r.loop_gbs, r.eigen_gbs);
      std::fclose(out);
    } else {
      std::fprintf(stderr, "cannot write %s\n", csv_path.c_str());
    }
  }

  std::printf("\nRESULT fused_vs_loop=%.3f fused5_vs_loop=%.3f gemm_vs_openblas=%.3f eigen_gemm_vs_openblas=%.3f "
              "gemm_backend=%s\n",
              fused_vs_loop, fused5_vs_loop, gemm_vs_openblas, eigen_vs_openblas, kernels::cpu::gemm_backend());
  return 0;
}
