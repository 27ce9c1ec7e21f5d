// cuBLAS GEMM and cuFFT through strata on the GPU: matmul (fp64, fp32, fp16 with fp32
// accumulation) against the CPU product and an exact reference, every transpose combination,
// odd sizes, += / -=, destinations that alias an operand, batched GEMM, shape errors; rfft2 /
// irfft2 against a naive DFT, the round trip, shape errors and the plan cache.
//
// Tolerances are bounds, not fitted constants (see `Error bounds` below), so a pass on one GPU
// means the same on any other, and a wrong transpose, leading dimension or stride (errors of
// the size of the result itself) is caught by orders of magnitude.
#include <strata/cuda.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "support/testing.hpp"

using strata::assign_mode;
using strata::Shape;
using strata::Tensor;
using strata::testing::random_tensor;
using strata::testing::to_doubles;
using gpu = strata::cuda;  // (unqualified `cuda` may meet libcu++'s ::cuda namespace)

namespace {

// ---------------------------------------------------------------------------------------------
// Error bounds.
//
// GEMM. Each element is a dot product of length k plus, for += / -=, the old value c0. In any
// summation order (blocked, split-K, tensor-core trees, with or without FMA) the classical
// bound holds: |ĉ − c| ≤ γ_{k+1}·(Σ_p |a_ip|·|b_pj| + |c0|), γ_n = n·u / (1 − n·u), with u the
// unit roundoff of the accumulation (Higham, Accuracy and Stability of Numerical Algorithms,
// §3.1). We allow (k + 3)·u·(Σ|a||b| + |c0|), above γ_{k+1} = (k + 1)·u·(1 + O(k·u)) for every
// k used here (k·u ≤ 2.5e-4); γ_{k+1} covers the k products and sums plus the one rounding of
// += / -= (β = 1), or of dst ± temporary on the aliasing path. The measure is scale-free and
// meaningful under cancellation, unlike an error relative to |c|.
//  - fp32: u = 2^-24. cuBLAS's CUBLAS_COMPUTE_32F is true fp32 (TF32 tensor cores need
//    CUBLAS_COMPUTE_32F_FAST_TF32 or CUBLAS_TF32_TENSOR_OP_MATH, which strata does not set; the
//    bound assumes no NVIDIA_TF32_OVERRIDE / CUBLAS_EMULATE_SINGLE_PRECISION games in the
//    environment). For k = 257 that is 1.6e-5 of Σ|a||b|; a wrong operand gives ~1/sqrt(k).
//  - fp64: u = 2^-53, 2.9e-14 for k = 257 (the reference is exact to 2^-64, see below).
//  - fp16 inputs, fp32 accumulation, fp16 output: the products of two halves are exact in fp32
//    (11 + 11 ≤ 24 bits); tensor cores align addends to the largest exponent and may truncate
//    instead of rounding (Fasi, Higham, Mikaitis, Pranesh, "Numerical behavior of NVIDIA tensor
//    cores", 2021), so we allow 4× the fp32 accumulation bound; then the result is rounded to
//    half once: 2^-11·|c| (round to nearest), or 2^-25 absolute below the normal range.
// The CPU product (OpenBLAS or Eigen) obeys the same bound, so |GPU − CPU| ≤ twice it.
//
// FFT. Normwise, an FFT satisfies ‖X̂ − X‖₂ ≤ c·L·u·‖X‖₂ with L the number of stages and c a small
// constant growing with the radix (Higham §24.1: c·log2 N for radix 2). We allow
// 16·(H + W)·u·‖X‖₂ per element, ‖X‖₂ = sqrt(H·W·Σx²) (Parseval), which is above c·L·u for
// every radix cuFFT uses on these sizes; the inverse and the round trip get the analogous bound.
// ---------------------------------------------------------------------------------------------

template <class T>
constexpr double unit_roundoff() {
  if constexpr (std::is_same_v<T, double>) return 0x1p-53;
  else return 0x1p-24;  // fp32, and the fp32 accumulation of half GEMM
}

// Σ|a||b| + |c0| per element ("magnitude") and the exact value c0 ± op(a)·op(b). Long double
// (x87: 64-bit significand): each product and sum is off by at most 2^-64 relative, so the
// reference's own error is below (k + 1)·2^-64·magnitude, folded into the fp64 bound.
struct exact_product {
  std::vector<long double> value;
  std::vector<double> magnitude;
};

// a is stored row-major as (ta ? k×m : m×k), b as (tb ? n×k : k×n); c0 (m×n) or empty.
exact_product reference_product(const std::vector<double>& a, bool ta, const std::vector<double>& b, bool tb,
                                std::int64_t m, std::int64_t n, std::int64_t k, const std::vector<double>& c0,
                                assign_mode mode) {
  exact_product r{std::vector<long double>(static_cast<std::size_t>(m * n)),
                  std::vector<double>(static_cast<std::size_t>(m * n))};
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      long double s = 0, mag = 0;
      for (std::int64_t p = 0; p < k; ++p) {
        const long double x = ta ? a[p * m + i] : a[i * k + p];
        const long double y = tb ? b[j * k + p] : b[p * n + j];
        s += x * y;
        mag += std::fabs(x * y);
      }
      const std::size_t idx = static_cast<std::size_t>(i * n + j);
      const long double old = mode == assign_mode::set ? 0.0L : static_cast<long double>(c0[idx]);
      r.value[idx] = mode == assign_mode::subtract ? old - s : old + s;
      r.magnitude[idx] = static_cast<double>(mag + std::fabs(old));
    }
  return r;
}

// The largest error as a fraction of what the bound allows (pass: ≤ 1): for each element,
// |got − target| / (rel·|target| + acc·magnitude + floor).
template <class V>
double worst_ratio(const std::vector<double>& got, const V& target, const std::vector<double>& magnitude, double acc,
                   double rel = 0, double floor = 0) {
  REQUIRE(got.size() == target.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const long double t = target[i];
    const double err = static_cast<double>(std::fabs(static_cast<long double>(got[i]) - t));
    const double allowed = rel * static_cast<double>(std::fabs(t)) + acc * magnitude[i] + floor;
    const double ratio = allowed > 0 ? err / allowed : (err == 0 ? 0.0 : INFINITY);
    if (!(ratio <= worst)) worst = ratio;  // NaN-safe: a NaN makes worst NaN, which fails ≤ 1
  }
  return worst;
}

const char* mode_name(assign_mode mode) {
  return mode == assign_mode::set ? "=" : mode == assign_mode::add ? "+=" : "-=";
}

// dst (op)= op(a)·op(b) on whichever device the tensors live, transposes chosen at run time.
template <class Dst, class A, class B>
void product_into(Dst& dst, assign_mode mode, const A& a, bool ta, const B& b, bool tb) {
  const auto run = [&](const auto& product) {
    switch (mode) {
      case assign_mode::set: dst = product; break;
      case assign_mode::add: dst += product; break;
      case assign_mode::subtract: dst -= product; break;
    }
  };
  if (!ta && !tb) run(strata::matmul(a, b));
  else if (ta && !tb) run(strata::matmul(strata::transpose(a), b));
  else if (!ta && tb) run(strata::matmul(a, strata::transpose(b)));
  else run(strata::matmul(strata::transpose(a), strata::transpose(b)));
}

struct gemm_size {
  std::int64_t m, n, k;
};

// Every transpose combination and assignment mode for one size: the GPU product against the
// exact reference and, for float and double, against the CPU product.
template <class T>
void check_matmul(gemm_size s, std::uint64_t seed) {
  const auto [m, n, k] = s;
  const double u = unit_roundoff<T>();
  constexpr bool is_half = std::is_same_v<T, strata::half>;
  // See `Error bounds`: (k + 3)·u of the magnitude; half: 4× that, plus output rounding.
  double acc = (k + 3) * u;
  if constexpr (std::is_same_v<T, double>) acc += (k + 1) * 0x1p-64;
  double rel = 0, floor = 0;
  if constexpr (is_half) {
    acc = 4 * acc * (1 + 0x1p-11);
    rel = 0x1p-11;
    floor = 0x1p-25;
  }
  for (const bool ta : {false, true})
    for (const bool tb : {false, true})
      for (const assign_mode mode : {assign_mode::set, assign_mode::add, assign_mode::subtract}) {
        INFO(m << "x" << n << "x" << k << (ta ? " Aᵀ" : " A") << (tb ? " Bᵀ" : " B") << " c " << mode_name(mode));
        const auto a = random_tensor<T>(ta ? Shape{k, m} : Shape{m, k}, seed++);
        const auto b = random_tensor<T>(tb ? Shape{n, k} : Shape{k, n}, seed++);
        const auto c0 = random_tensor<T>(Shape{m, n}, seed++);
        const auto ad = strata::to_device(a), bd = strata::to_device(b);
        Tensor<T, 2, gpu> cd;
        if (mode != assign_mode::set) cd = strata::to_device(c0);
        product_into(cd, mode, ad, ta, bd, tb);
        REQUIRE(cd.shape() == Shape{m, n});
        const auto got = to_doubles(strata::to_host(cd));
        const auto ref = reference_product(to_doubles(a), ta, to_doubles(b), tb, m, n, k, to_doubles(c0), mode);
        const double vs_exact = worst_ratio(got, ref.value, ref.magnitude, acc, rel, floor);
        INFO("error / bound against the exact product: " << vs_exact);
        CHECK(vs_exact <= 1.0);
        if constexpr (!is_half) {
          Tensor<T, 2> c_cpu = c0.clone();
          product_into(c_cpu, mode, a, ta, b, tb);
          const double vs_cpu = worst_ratio(got, to_doubles(c_cpu), ref.magnitude, 2 * acc);
          INFO("error / bound against the CPU product: " << vs_cpu);
          CHECK(vs_cpu <= 1.0);
        }
      }
}

// Sizes: degenerate, small odd, odd and not a multiple of any tile, and a long k that invites
// cuBLAS to split the reduction.
constexpr gemm_size gemm_sizes[] = {{1, 1, 1}, {7, 5, 3}, {129, 67, 257}, {16, 24, 4099}};

}  // namespace

TEST_CASE("cuda matmul: fp32 products match the CPU product and the exact one within (k+3)·2^-24·Σ|a||b|, "
          "all four transpose combinations, odd sizes, =, += and -=",
          "[cuda][gemm]") {
  std::uint64_t seed = 100;
  for (const auto& s : gemm_sizes) check_matmul<float>(s, seed += 100);
}

TEST_CASE("cuda matmul: fp64 products match the CPU product and the exact one within (k+3)·2^-53·Σ|a||b|, "
          "all four transpose combinations, odd sizes, =, += and -=",
          "[cuda][gemm]") {
  std::uint64_t seed = 200;
  for (const auto& s : gemm_sizes) check_matmul<double>(s, seed += 1000);
}

TEST_CASE("cuda matmul: half products (fp32 accumulation) are within one half rounding of the result plus "
          "the fp32 accumulation bound of the exact product of the same half inputs",
          "[cuda][gemm][half]") {
  std::uint64_t seed = 300;
  for (const auto& s : gemm_sizes) check_matmul<strata::half>(s, seed += 1000);
}

TEST_CASE("cuda matmul: a destination that aliases an operand (a = matmul(a, b), overlapping views) gets the "
          "product of the old values",
          "[cuda][gemm][alias]") {
  const std::int64_t m = 37, s = 29;
  using T = float;
  const double acc = (s + 3) * unit_roundoff<T>();
  const auto r = random_tensor<T>(Shape{m, s}, 11), x = random_tensor<T>(Shape{s, s}, 12);
  const auto c0 = random_tensor<T>(Shape{m, s}, 13);
  const auto rv = to_doubles(r), xv = to_doubles(x), c0v = to_doubles(c0);
  const auto xd = strata::to_device(x);

  SECTION("r = matmul(r, x)") {
    auto rd = strata::to_device(r);
    rd = strata::matmul(rd, xd);
    const auto ref = reference_product(rv, false, xv, false, m, s, s, {}, assign_mode::set);
    CHECK(worst_ratio(to_doubles(strata::to_host(rd)), ref.value, ref.magnitude, acc) <= 1.0);
  }
  SECTION("r += matmul(r, transpose(x))") {
    auto rd = strata::to_device(r);
    rd += strata::matmul(rd, strata::transpose(xd));
    const auto ref = reference_product(rv, false, xv, true, m, s, s, rv, assign_mode::add);
    CHECK(worst_ratio(to_doubles(strata::to_host(rd)), ref.value, ref.magnitude, acc) <= 1.0);
  }
  SECTION("x -= matmul(transpose(x), x): both operands are the destination") {
    auto xa = strata::to_device(x);
    xa -= strata::matmul(strata::transpose(xa), xa);
    const auto ref = reference_product(xv, true, xv, false, s, s, s, xv, assign_mode::subtract);
    CHECK(worst_ratio(to_doubles(strata::to_host(xa)), ref.value, ref.magnitude, acc) <= 1.0);
  }
  SECTION("rows 1..m of z = matmul(rows 0..m-1 of z, x): partially overlapping views") {
    Tensor<T, 2> z(m + 1, s);
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < s; ++j) z(i, j) = r(i, j);
    for (std::int64_t j = 0; j < s; ++j) z(m, j) = T(5);
    auto zd = strata::to_device(z);
    zd.slice(1, m) = strata::matmul(zd.slice(0, m), xd);
    const auto back = strata::to_host(zd);
    const auto ref = reference_product(rv, false, xv, false, m, s, s, {}, assign_mode::set);
    CHECK(worst_ratio(to_doubles(back.slice(1, m)), ref.value, ref.magnitude, acc) <= 1.0);
    for (std::int64_t j = 0; j < s; ++j) CHECK(back(0, j) == r(0, j));  // row 0 is only read
  }
  SECTION("a non-aliased += on the same data for comparison") {
    auto cd = strata::to_device(c0);
    const auto rd = strata::to_device(r);
    cd += strata::matmul(rd, xd);
    const auto ref = reference_product(rv, false, xv, false, m, s, s, c0v, assign_mode::add);
    CHECK(worst_ratio(to_doubles(strata::to_host(cd)), ref.value, ref.magnitude, acc) <= 1.0);
  }
}

TEST_CASE("cuda matmul: on a stream_guard stream the product is queued on that stream and is correct",
          "[cuda][gemm][stream]") {
  const std::int64_t m = 65, n = 33, k = 130;
  const auto a = random_tensor<float>(Shape{m, k}, 21), b = random_tensor<float>(Shape{k, n}, 22);
  const auto ad = strata::to_device(a), bd = strata::to_device(b);
  strata::stream s;
  Tensor<float, 2> back;
  {
    strata::stream_guard guard(s);
    Tensor<float, 2, gpu> cd = strata::matmul(ad, bd);
    s.synchronize();
    back = strata::to_host(cd);  // (to_host runs on the current stream, s)
  }
  const auto ref = reference_product(to_doubles(a), false, to_doubles(b), false, m, n, k, {}, assign_mode::set);
  CHECK(worst_ratio(to_doubles(back), ref.value, ref.magnitude, (k + 3) * unit_roundoff<float>()) <= 1.0);
}

// cuBLAS rejects leading dimensions below 1 even when k = 0 means nothing is read; gemm.cuh
// passes max(ld, 1).
TEST_CASE("cuda matmul: an empty inner extent (m×0 times 0×n) gives zeros, and += leaves the destination as it was",
          "[cuda][gemm]") {
  const std::int64_t m = 4, n = 3;
  const auto c0 = random_tensor<float>(Shape{m, n}, 70);
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      INFO((ta ? "Aᵀ" : "A") << (tb ? " Bᵀ" : " B"));
      const Tensor<float, 2, gpu> a(ta ? Shape{0, m} : Shape{m, 0}), b(tb ? Shape{n, 0} : Shape{0, n});
      Tensor<float, 2, gpu> c = strata::to_device(c0);
      CHECK_NOTHROW(product_into(c, assign_mode::set, a, ta, b, tb));
      CHECK(to_doubles(strata::to_host(c)) == std::vector<double>(static_cast<std::size_t>(m * n), 0.0));
      c = strata::to_device(c0);
      CHECK_NOTHROW(product_into(c, assign_mode::add, a, ta, b, tb));
      CHECK(to_doubles(strata::to_host(c)) == to_doubles(c0));
    }
}

TEST_CASE("cuda matmul: mismatched extents throw strata::shape_error and leave the destination untouched",
          "[cuda][gemm][errors]") {
  const auto a = strata::to_device(random_tensor<float>(Shape{3, 4}, 31));
  const auto b = strata::to_device(random_tensor<float>(Shape{5, 2}, 32));
  const auto b4 = strata::to_device(random_tensor<float>(Shape{4, 2}, 33));
  const auto c_host = random_tensor<float>(Shape{3, 3}, 34);
  auto c = strata::to_device(c_host);
  CHECK_THROWS_AS(strata::matmul(a, b), strata::shape_error);                    // 3×4 · 5×2
  CHECK_THROWS_AS(strata::matmul(strata::transpose(a), b4), strata::shape_error);  // 4×3 · 4×2
  CHECK_THROWS_AS(c = strata::matmul(a, b4), strata::shape_error);               // 3×2 into 3×3
  CHECK_THROWS_AS(c += strata::matmul(a, b4), strata::shape_error);
  CHECK_THROWS_AS(c -= strata::matmul(a, b4), strata::shape_error);
  CHECK(to_doubles(strata::to_host(c)) == to_doubles(c_host));
  // and a half one, which takes the same path with another element type
  const auto ah = strata::to_device(random_tensor<strata::half>(Shape{3, 4}, 35));
  const auto bh = strata::to_device(random_tensor<strata::half>(Shape{3, 4}, 36));
  CHECK_THROWS_AS(strata::matmul(ah, bh), strata::shape_error);
  CHECK_NOTHROW(strata::matmul(ah, strata::transpose(bh)));
}

// ---------------------------------------------------------------------------------------------
// Batched GEMM

namespace {

// c[i] (op)= op(a[i])·op(b[i]) on the GPU; each batch entry against the CPU product of the same
// entry (float, double) and the exact product.
template <class T>
void check_batched(std::int64_t batch, gemm_size s, std::uint64_t seed) {
  const auto [m, n, k] = s;
  constexpr bool is_half = std::is_same_v<T, strata::half>;
  double acc = (k + 3) * unit_roundoff<T>(), rel = 0, floor = 0;
  if constexpr (std::is_same_v<T, double>) acc += (k + 1) * 0x1p-64;
  if constexpr (is_half) {
    acc = 4 * acc * (1 + 0x1p-11);
    rel = 0x1p-11;
    floor = 0x1p-25;
  }
  for (const bool ta : {false, true})
    for (const bool tb : {false, true})
      for (const assign_mode mode : {assign_mode::set, assign_mode::add, assign_mode::subtract}) {
        INFO("batch " << batch << " of " << m << "x" << n << "x" << k << (ta ? " Aᵀ" : " A") << (tb ? " Bᵀ" : " B")
                      << " c " << mode_name(mode));
        const auto a = random_tensor<T>(ta ? Shape{batch, k, m} : Shape{batch, m, k}, seed++);
        const auto b = random_tensor<T>(tb ? Shape{batch, n, k} : Shape{batch, k, n}, seed++);
        const auto c0 = random_tensor<T>(Shape{batch, m, n}, seed++);
        const auto ad = strata::to_device(a), bd = strata::to_device(b);
        auto cd = strata::to_device(c0);  // `set` must overwrite it
        strata::kernels::cuda::batched_matmul<T>(ad.view(), ta, bd.view(), tb, cd.view(), mode);
        const auto c = strata::to_host(cd);
        for (std::int64_t i = 0; i < batch; ++i) {
          INFO("batch entry " << i);
          const auto got = to_doubles(c[i]);
          const auto ref = reference_product(to_doubles(a[i]), ta, to_doubles(b[i]), tb, m, n, k, to_doubles(c0[i]), mode);
          CHECK(worst_ratio(got, ref.value, ref.magnitude, acc, rel, floor) <= 1.0);
          if constexpr (!is_half) {
            Tensor<T, 2> c_cpu(Shape{m, n});
            c_cpu = c0[i];
            const auto ai = a[i], bi = b[i];
            product_into(c_cpu, mode, ai, ta, bi, tb);
            CHECK(worst_ratio(got, to_doubles(c_cpu), ref.magnitude, 2 * acc) <= 1.0);
          }
        }
      }
}

}  // namespace

TEST_CASE("cuda batched_matmul: each entry of a strided batch equals its own CPU product, every transpose "
          "combination, =, += and -=",
          "[cuda][gemm][batched]") {
  check_batched<float>(5, {7, 5, 3}, 400);
  check_batched<float>(3, {33, 17, 65}, 500);
  check_batched<float>(1, {9, 11, 13}, 600);  // batch 1: the single-GEMM path
  check_batched<double>(4, {33, 17, 65}, 700);
  check_batched<strata::half>(3, {33, 17, 65}, 800);
}

TEST_CASE("cuda batched_matmul: extents that do not fit throw strata::shape_error and write nothing",
          "[cuda][gemm][batched][errors]") {
  using V3 = strata::TensorView<const float, 3, gpu>;
  const auto a = strata::to_device(random_tensor<float>(Shape{4, 3, 5}, 41));   // 4 × (3×5)
  const auto b = strata::to_device(random_tensor<float>(Shape{4, 5, 2}, 42));   // 4 × (5×2)
  const auto c_host = random_tensor<float>(Shape{4, 3, 2}, 43);
  auto c = strata::to_device(c_host);
  const auto bad_batch = strata::to_device(random_tensor<float>(Shape{3, 5, 2}, 44));
  const auto bad_k = strata::to_device(random_tensor<float>(Shape{4, 4, 2}, 45));
  auto bad_c = strata::to_device(random_tensor<float>(Shape{4, 2, 3}, 46));
  auto bad_c_batch = strata::to_device(random_tensor<float>(Shape{5, 3, 2}, 47));
  using strata::kernels::cuda::batched_matmul;
  CHECK_NOTHROW(batched_matmul<float>(V3(a.view()), false, V3(b.view()), false, c.view(), assign_mode::add));
  c = strata::to_device(c_host);
  CHECK_THROWS_AS(batched_matmul<float>(V3(a.view()), false, V3(bad_batch.view()), false, c.view()), strata::shape_error);
  CHECK_THROWS_AS(batched_matmul<float>(V3(a.view()), false, V3(bad_k.view()), false, c.view()), strata::shape_error);
  CHECK_THROWS_AS(batched_matmul<float>(V3(a.view()), false, V3(b.view()), false, bad_c.view()), strata::shape_error);
  CHECK_THROWS_AS(batched_matmul<float>(V3(a.view()), false, V3(b.view()), false, bad_c_batch.view()),
                  strata::shape_error);
  // With flags: aᵀ is 5×3, which does not fit b's 5 rows on the right side.
  CHECK_THROWS_AS(batched_matmul<float>(V3(a.view()), true, V3(b.view()), false, c.view()), strata::shape_error);
  CHECK_THROWS_AS(batched_matmul<float>(V3(a.view()), false, V3(b.view()), true, c.view()), strata::shape_error);
  CHECK(to_doubles(strata::to_host(c)) == to_doubles(c_host));
}

// ---------------------------------------------------------------------------------------------
// FFT

namespace {

// The spectrum of each plane by the definition, in long double with exactly reduced twiddles:
// out[b][u][v] = Σ_y Σ_x x[b][y][x]·e^{-2πi(uy/H + vx/W)}, v < W/2 + 1. Also each plane's
// ‖X‖₂ = sqrt(H·W·Σx²) (Parseval over the full spectrum), the scale of the error bound.
struct naive_spectrum {
  std::vector<long double> re, im;  // [b][u][v]
  std::vector<double> norm;         // [b]
};

naive_spectrum naive_rfft2(const std::vector<double>& x, std::int64_t batch, std::int64_t h, std::int64_t w) {
  const std::int64_t wc = w / 2 + 1;
  const long double two_pi = 6.283185307179586476925286766559005768L;
  std::vector<long double> ch(h), sh(h), cw(w), sw(w);
  for (std::int64_t i = 0; i < h; ++i) ch[i] = std::cos(two_pi * i / h), sh[i] = std::sin(two_pi * i / h);
  for (std::int64_t i = 0; i < w; ++i) cw[i] = std::cos(two_pi * i / w), sw[i] = std::sin(two_pi * i / w);
  naive_spectrum r{std::vector<long double>(batch * h * wc), std::vector<long double>(batch * h * wc),
                   std::vector<double>(batch)};
  for (std::int64_t b = 0; b < batch; ++b) {
    const double* plane = x.data() + b * h * w;
    long double sq = 0;
    for (std::int64_t i = 0; i < h * w; ++i) sq += static_cast<long double>(plane[i]) * plane[i];
    r.norm[b] = static_cast<double>(std::sqrt(sq * h * w));
    for (std::int64_t u = 0; u < h; ++u)
      for (std::int64_t v = 0; v < wc; ++v) {
        long double re = 0, im = 0;
        for (std::int64_t y = 0; y < h; ++y) {
          const std::int64_t ty = (u * y) % h;
          for (std::int64_t xx = 0; xx < w; ++xx) {
            const std::int64_t tx = (v * xx) % w;
            // e^{-iθ} with θ = θy + θx: cos(θy+θx) − i·sin(θy+θx)
            const long double c = ch[ty] * cw[tx] - sh[ty] * sw[tx];
            const long double s = sh[ty] * cw[tx] + ch[ty] * sw[tx];
            re += plane[y * w + xx] * c;
            im -= plane[y * w + xx] * s;
          }
        }
        r.re[(b * h + u) * wc + v] = re;
        r.im[(b * h + u) * wc + v] = im;
      }
  }
  return r;
}

template <class T>
double fft_tolerance(std::int64_t h, std::int64_t w) {
  return 16.0 * static_cast<double>(h + w) * unit_roundoff<T>();  // see `Error bounds`
}

template <class T>
void check_rfft2(std::int64_t batch, std::int64_t h, std::int64_t w, std::uint64_t seed) {
  INFO(batch << " planes of " << h << "x" << w << (std::is_same_v<T, float> ? " float" : " double"));
  const std::int64_t wc = w / 2 + 1;
  const auto x = random_tensor<T>(Shape{batch, h, w}, seed);
  const auto xd = strata::to_device(x);
  Tensor<T, 4, gpu> spec(Shape{batch, h, wc, 2});
  strata::kernels::cuda::rfft2<T>(xd.view(), spec.view());
  const auto spec_host = strata::to_host(spec);
  const auto ref = naive_rfft2(to_doubles(x), batch, h, w);
  const double tol = fft_tolerance<T>(h, w);

  double worst = 0;  // max |X̂ − X| / (tol·‖X‖₂), over real and imaginary parts
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t i = 0; i < h * wc; ++i) {
      const std::int64_t idx = b * h * wc + i;
      const long double dr = spec_host.data()[2 * idx] - ref.re[idx], di = spec_host.data()[2 * idx + 1] - ref.im[idx];
      const double e = static_cast<double>(std::sqrt(dr * dr + di * di)) / (tol * ref.norm[b]);
      if (!(e <= worst)) worst = e;
    }
  INFO("forward: error / bound = " << worst);
  CHECK(worst <= 1.0);

  // Round trip: irfft2(rfft2(x)) = H·W·x, within the forward error carried through the
  // (unnormalised, norm √N) inverse plus the inverse's own: 3·tol·N·‖x‖₂ per element.
  Tensor<T, 3, gpu> back(Shape{batch, h, w});
  strata::kernels::cuda::irfft2<T>(spec.view(), back.view());
  const auto back_host = strata::to_host(back);
  const double n = static_cast<double>(h * w);
  double worst_rt = 0;
  for (std::int64_t b = 0; b < batch; ++b) {
    const double x_norm = ref.norm[b] / std::sqrt(n);  // ‖x‖₂ of the plane
    for (std::int64_t i = 0; i < h * w; ++i) {
      const std::int64_t idx = b * h * w + i;
      const double e = std::abs(static_cast<double>(back_host.data()[idx]) - n * static_cast<double>(x.data()[idx])) /
                       (3 * tol * n * x_norm);
      if (!(e <= worst_rt)) worst_rt = e;
    }
  }
  INFO("round trip: error / bound = " << worst_rt);
  CHECK(worst_rt <= 1.0);

  // cuFFT's C2R overwrites its input; irfft2 promises to leave the spectrum as it was.
  const auto spec_after = strata::to_host(spec);
  CHECK(std::memcmp(spec_after.data(), spec_host.data(), static_cast<std::size_t>(spec_host.bytes())) == 0);
}

}  // namespace

TEST_CASE("cuda rfft2: float and double spectra of odd and even planes match a naive DFT within "
          "16·(H+W)·u·‖X‖₂, and irfft2(rfft2(x)) = H·W·x",
          "[cuda][fft]") {
  check_rfft2<float>(3, 5, 7, 900);
  check_rfft2<float>(3, 8, 6, 901);
  check_rfft2<float>(2, 63, 50, 902);
  check_rfft2<double>(3, 5, 7, 903);
  check_rfft2<double>(3, 8, 6, 904);
  check_rfft2<double>(2, 63, 50, 905);
}

TEST_CASE("cuda rfft2 / irfft2: a spectrum of the wrong shape throws strata::shape_error", "[cuda][fft][errors]") {
  using strata::kernels::cuda::irfft2;
  using strata::kernels::cuda::rfft2;
  const auto x = strata::to_device(random_tensor<float>(Shape{3, 5, 7}, 50));
  Tensor<float, 3, gpu> y(Shape{3, 5, 7});
  Tensor<float, 4, gpu> good(Shape{3, 5, 4, 2});
  for (const auto& bad : {Shape{3, 5, 7, 2}, Shape{3, 5, 3, 2}, Shape{2, 5, 4, 2}, Shape{3, 4, 4, 2}, Shape{3, 5, 4, 1}}) {
    INFO("spectrum shape " << bad.to_string());
    Tensor<float, 4, gpu> spec(bad);
    CHECK_THROWS_AS(rfft2<float>(x.view(), spec.view()), strata::shape_error);
    CHECK_THROWS_AS(irfft2<float>(spec.view(), y.view()), strata::shape_error);
  }
  Tensor<float, 3, gpu> y_taller(Shape{3, 6, 7});
  CHECK_THROWS_AS(irfft2<float>(good.view(), y_taller.view()), strata::shape_error);
  CHECK_NOTHROW(rfft2<float>(x.view(), good.view()));
  CHECK_NOTHROW(irfft2<float>(good.view(), y.view()));
  strata::synchronize();
}

TEST_CASE("cuda fft_plan: the cache returns the same plan for the same (stream, batch, shape, type) and "
          "different plans otherwise",
          "[cuda][fft][plan]") {
  const auto fft_plan = [](std::int64_t b, std::int64_t h, std::int64_t w, cufftType t) {
    return strata::kernels::cuda::fft_plan(b, h, w, t)->handle;
  };
  const cufftHandle p = fft_plan(3, 5, 7, CUFFT_R2C);
  CHECK(fft_plan(3, 5, 7, CUFFT_R2C) == p);
  CHECK(fft_plan(3, 5, 7, CUFFT_C2R) != p);
  CHECK(fft_plan(3, 5, 7, CUFFT_D2Z) != p);
  CHECK(fft_plan(4, 5, 7, CUFFT_R2C) != p);
  CHECK(fft_plan(3, 7, 5, CUFFT_R2C) != p);
  CHECK(fft_plan(3, 5, 8, CUFFT_R2C) != p);
  {
    strata::stream s;
    strata::stream_guard guard(s);
    const cufftHandle q = fft_plan(3, 5, 7, CUFFT_R2C);
    CHECK(q != p);
    CHECK(fft_plan(3, 5, 7, CUFFT_R2C) == q);
  }
  CHECK(fft_plan(3, 5, 7, CUFFT_R2C) == p);
  // rfft2 uses the cached plan: running it creates nothing new and works.
  const auto x = strata::to_device(random_tensor<float>(Shape{3, 5, 7}, 60));
  Tensor<float, 4, gpu> spec(Shape{3, 5, 4, 2});
  strata::kernels::cuda::rfft2<float>(x.view(), spec.view());
  strata::synchronize();
  CHECK(fft_plan(3, 5, 7, CUFFT_R2C) == p);
  // Too many planes for cuFFT's 32-bit plan: a shape_error, not a wrapped size.
  CHECK_THROWS_AS(fft_plan(70000, 128, 128, CUFFT_R2C), strata::shape_error);
}

TEST_CASE("cuda fft_plan: the cache keeps at most its capacity, evicting the least recently used; a held plan still works",
          "[cuda][fft][plan]") {
  namespace kc = strata::kernels::cuda;
  const auto held = kc::fft_plan(2, 6, 10, CUFFT_R2C);
  const auto made = kc::fft_plan_cache().made();
  for (std::int64_t b = 1; b <= std::int64_t(kc::fft_plan_cache_capacity) + 5; ++b) kc::fft_plan(b, 4, 4, CUFFT_C2R);
  CHECK(kc::fft_plan_cache().size() == kc::fft_plan_cache_capacity);
  CHECK(kc::fft_plan_cache().made() >= made + kc::fft_plan_cache_capacity);
  // `held` was evicted (least recently used) but lives while held: its transform still runs.
  const auto host = random_tensor<float>(Shape{2, 6, 10}, 62);
  const auto x = strata::to_device(host);
  Tensor<float, 4, gpu> spectrum(Shape{2, 6, 6, 2});
  kc::run_fft(*held, [&](cufftHandle h) {
    STRATA_CUDA_CHECK(cufftExecR2C(h, const_cast<float*>(x.data()), reinterpret_cast<cufftComplex*>(spectrum.data())));
  });
  Tensor<float, 4, gpu> want(Shape{2, 6, 6, 2});
  kc::rfft2<float>(x.view(), want.view());  // a new plan for the same shape
  strata::synchronize();
  const auto a = strata::to_host(spectrum), b = strata::to_host(want);
  CHECK(std::memcmp(a.data(), b.data(), std::size_t(a.bytes())) == 0);
}

TEST_CASE("cuda rfft2: the work area comes from the caching allocator, and threads sharing a plan take turns",
          "[cuda][fft][plan][threads]") {
  const Shape<3> planes{64, 96, 96};
  const auto host = random_tensor<float>(planes, 61);
  const auto x = strata::to_device(host);
  const auto plan = strata::kernels::cuda::fft_plan(planes[0], planes[1], planes[2], CUFFT_R2C);
  Tensor<float, 4, gpu> want(Shape{64, 96, 49, 2});
  strata::kernels::cuda::rfft2<float>(x.view(), want.view());
  strata::synchronize();
  if (plan->work_bytes > 0) {  // the work area went back to strata's cache after the transform
    const auto stats = strata::caching_allocator::instance().stats();
    CHECK(stats.bytes_cached >= strata::caching_allocator::round_size(plan->work_bytes));
  }
  const auto expected = strata::to_host(want);
  // Four threads on the legacy stream share one plan (and its work area): each gets the same spectrum.
  std::vector<Tensor<float, 4, gpu>> got;
  for (int t = 0; t < 4; ++t) got.emplace_back(Shape{64, 96, 49, 2});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < 20; ++r) strata::kernels::cuda::rfft2<float>(x.view(), got[std::size_t(t)].view());
    });
  for (auto& th : threads) th.join();
  strata::synchronize();
  for (int t = 0; t < 4; ++t) {
    const auto h = strata::to_host(got[std::size_t(t)]);
    CHECK(std::memcmp(h.data(), expected.data(), std::size_t(h.bytes())) == 0);
  }
}
