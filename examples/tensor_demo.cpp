// The tensor core in one page: shapes, fused expressions, broadcasting, reductions, a GEMM,
// half precision and reproducible random fills. Run it with `scripts/demo`.
#include <strata/strata.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>

using namespace strata;

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main() {
  std::printf("strata tensor demo — %d threads, GEMM via %s, fp16 conversion via %s\n\n", num_threads(),
              kernels::cpu::gemm_backend(), half_conversion_path());

  // A batch of 64 RGB images, 56×56, NCHW, filled from a seeded normal distribution.
  Tensor<float, 4> x(64, 3, 56, 56);
  fill_normal(x, 0.0, 1.0, /*seed=*/2026);
  std::printf("x %s: %lld elements, %.1f MiB, mean %+.4f, std %.4f\n", x.shape().to_string().c_str(),
              static_cast<long long>(x.size()), x.bytes() / 1048576.0, mean(x), std::sqrt(mean(square(x))));

  // Per-channel normalisation as one fused pass: (x − μ_c) / σ_c, then a ReLU.
  Tensor<float, 1> mu = mean(x, axes<0, 2, 3>);
  Tensor<float, 4> centred = x - broadcast(mu, axes<1>, x.shape());
  Tensor<float, 1> var = mean(square(centred), axes<0, 2, 3>);
  Tensor<float, 1> inv_std = 1.0f / sqrt(var + 1e-5f);
  Tensor<float, 4> y = max(centred * broadcast(inv_std, axes<1>, x.shape()), 0);
  std::printf("channel means  %+.5f %+.5f %+.5f\n", mu(0), mu(1), mu(2));
  std::printf("after ReLU     mean %.4f, max %.4f, fraction positive %.3f\n", mean(y), max(y),
              mean(sign(y)));

  // The same element-wise expression, timed: one pass, no temporaries.
  const std::int64_t n = 1 << 24;
  Tensor<float, 1> a(n), b(n), c(n), d(n);
  fill_uniform(a, -1, 1, 1), fill_uniform(b, -1, 1, 2), fill_uniform(c, -1, 1, 3);
  d = a * b + c * 2;
  auto t0 = std::chrono::steady_clock::now();
  const int reps = 20;
  for (int r = 0; r < reps; ++r) d = a * b + c * 2;
  const double t = seconds_since(t0) / reps;
  std::printf("\nd = a * b + c * 2 over %lld floats: %.2f ms, %.1f GB/s\n", static_cast<long long>(n), t * 1e3,
              4.0 * n * sizeof(float) / t / 1e9);

  // A matrix product: a dense layer on the flattened batch.
  Tensor<float, 2> w(256, 3 * 56 * 56);
  fill_uniform(w, -0.01, 0.01, 4);
  t0 = std::chrono::steady_clock::now();
  Tensor<float, 2> logits = matmul(y.reshape(64, 3 * 56 * 56), transpose(w));
  const double tg = seconds_since(t0);
  std::printf("matmul %s × %s^T -> %s in %.2f ms (%.1f GFLOP/s)\n", "[64, 9408]", "[256, 9408]",
              logits.shape().to_string().c_str(), tg * 1e3, 2.0 * 64 * 256 * 9408 / tg / 1e9);

  // Half precision: 16-bit storage, fp32 arithmetic, one rounding on store.
  Tensor<half, 4> xh = cast<half>(x);
  Tensor<float, 4> back = cast<float>(xh);
  Tensor<float, 4> err = abs(back - x) / max(abs(x), 1e-3f);
  std::printf("\nfp16 copy of x: %.1f MiB, max relative rounding error %.2e (2^-11 = %.2e)\n",
              xh.bytes() / 1048576.0, max(err), 1.0 / 2048);

  // Views: sample 5 of the batch and a slice of samples, without copies.
  auto sample = x[5];
  auto firsts = x.slice(0, 4);
  std::printf("x[5] is %s, x.slice(0, 4) is %s, both views into x\n", sample.shape().to_string().c_str(),
              firsts.shape().to_string().c_str());

  // Errors name what went wrong.
  try {
    Tensor<float, 2> p(2, 3), q(3, 2);
    Tensor<float, 2> r = p + q;
  } catch (const shape_error& e) {
    std::printf("\nshape errors are readable: %s\n", e.what());
  }
  return 0;
}
