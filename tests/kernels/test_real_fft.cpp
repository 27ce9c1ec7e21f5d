// strata's own FFTs against a naive DFT in double: complex transforms of every supported length
// up to 288 (forward and inverse), real transforms of every supported even length up to 288
// (forward, inverse, round trip), each lane of the SIMD vector a different signal, fp32 and fp64;
// and the 2-D plane transform against a naive 2-D DFT, including a plane smaller than the grid.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <complex>
#include <cstdint>
#include <random>
#include <vector>

#include "strata/kernels/cpu/fft/plane_transform.hpp"
#include "strata/kernels/cpu/fft/real_fft.hpp"

namespace fft = strata::kernels::cpu::fft;
namespace simd = strata::kernels::cpu::simd;
using cd = std::complex<double>;

namespace {

constexpr double pi = 3.14159265358979323846;

std::vector<double> random_values(std::int64_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (auto& e : v) e = u(gen);
  return v;
}

// Σ_j x[j]·e^{∓2πijk/n}, in double.
std::vector<cd> dft(const std::vector<cd>& x, bool inverse) {
  const auto n = x.size();
  std::vector<cd> X(n);
  for (std::size_t k = 0; k < n; ++k) {
    cd acc = 0;
    for (std::size_t j = 0; j < n; ++j) acc += x[j] * std::polar(1.0, (inverse ? 2 : -2) * pi * double(j * k % n) / double(n));
    X[k] = acc;
  }
  return X;
}

// A tolerance per precision: relative to the largest magnitude, a few ulps times log2(n).
template <class T>
double tolerance(std::int64_t n) {
  return (std::is_same_v<T, float> ? 4e-7 : 1e-15) * 4 * std::log2(double(n) + 1);
}

template <class T>
void check_complex(std::int64_t n, bool inverse) {
  using V = simd::vec<T>;
  constexpr int B = simd::lanes<T>;
  const auto& plan = fft::plan_of<fft::complex_plan<T>>(n);
  std::vector<V> re(static_cast<std::size_t>(n)), im(re.size()), sr(re.size()), si(re.size());
  std::vector<std::vector<cd>> in(B, std::vector<cd>(static_cast<std::size_t>(n)));
  for (int l = 0; l < B; ++l) {
    const auto a = random_values(2 * n, std::uint32_t(n * 31 + l));
    for (std::int64_t i = 0; i < n; ++i) {
      re[std::size_t(i)][l] = T(a[2 * i]), im[std::size_t(i)][l] = T(a[2 * i + 1]);
      in[l][std::size_t(i)] = cd(double(T(a[2 * i])), double(T(a[2 * i + 1])));
    }
  }
  const int where = inverse ? plan.template run<true>(re.data(), im.data(), sr.data(), si.data())
                            : plan.template run<false>(re.data(), im.data(), sr.data(), si.data());
  const auto& outr = where ? sr : re;
  const auto& outi = where ? si : im;
  double err = 0, mag = 0;
  for (int l = 0; l < B; ++l) {
    const auto ref = dft(in[l], inverse);
    for (std::int64_t k = 0; k < n; ++k) {
      err = std::max(err, std::abs(cd(outr[std::size_t(k)][l], outi[std::size_t(k)][l]) - ref[std::size_t(k)]));
      mag = std::max(mag, std::abs(ref[std::size_t(k)]));
    }
  }
  INFO("complex length " << n << (inverse ? " inverse" : " forward") << ", error " << err / mag);
  CHECK(err / mag <= tolerance<T>(n));
}

template <class T>
void check_real(std::int64_t n) {
  using V = simd::vec<T>;
  constexpr int B = simd::lanes<T>;
  const auto& plan = fft::plan_of<fft::real_plan<T>>(n);
  REQUIRE(plan.bins() == n / 2 + 1);
  std::vector<T> x(std::size_t(n * B)), re(std::size_t((n / 2 + 1) * B)), im(re.size()), back(x.size());
  std::vector<V> scratch(std::size_t(plan.scratch_vectors()));
  const auto a = random_values(n * B, std::uint32_t(n));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = T(a[i]);
  // Only the first `count` samples given (the rest are zero), as the convolution's planes are.
  const std::int64_t count = n > 4 ? n - 3 : n;
  plan.forward(x.data(), B, count, re.data(), im.data(), B, scratch.data());
  double err = 0, mag = 0;
  for (int l = 0; l < B; ++l) {
    std::vector<cd> s(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < count; ++i) s[std::size_t(i)] = double(x[std::size_t(i * B + l)]);
    const auto ref = dft(s, false);
    for (std::int64_t k = 0; k <= n / 2; ++k) {
      const cd got(re[std::size_t(k * B + l)], im[std::size_t(k * B + l)]);
      err = std::max(err, std::abs(got - ref[std::size_t(k)]));
      mag = std::max(mag, std::abs(ref[std::size_t(k)]));
    }
  }
  INFO("real length " << n << " forward, error " << err / mag);
  CHECK(err / mag <= tolerance<T>(n));

  // The inverse of that spectrum against the naive inverse DFT of the full Hermitian spectrum,
  // which is n·x: a round trip.
  plan.inverse(re.data(), im.data(), B, back.data(), B, scratch.data());
  double rerr = 0, rmag = 0;
  for (int l = 0; l < B; ++l)
    for (std::int64_t i = 0; i < n; ++i) {
      const double want = i < count ? double(n) * double(x[std::size_t(i * B + l)]) : 0.0;
      rerr = std::max(rerr, std::abs(double(back[std::size_t(i * B + l)]) - want));
      rmag = std::max(rmag, std::abs(want));
    }
  INFO("real length " << n << " round trip, error " << rerr / rmag);
  CHECK(rerr / rmag <= tolerance<T>(n));
}

template <class T>
void check_plane(std::int64_t Fy, std::int64_t Fx, std::int64_t rows, std::int64_t cols) {
  const std::int64_t ldr = (Fx + 15) / 16 * 16, Fyh = Fy / 2 + 1;
  const fft::plane_fft<T> t(Fy, Fx, ldr);
  std::vector<T> real(std::size_t(Fy * ldr), T(0));
  using V = simd::vec<T>;  // the transform's scratch is aligned to the vector
  std::vector<V> scratch_vectors(std::size_t(t.scratch_scalars() / simd::lanes<T> + 1), simd::zero<V>());
  T* scratch = reinterpret_cast<T*>(scratch_vectors.data());
  std::vector<T> re(std::size_t(Fx * Fyh)), im(re.size()), back(real.size());
  const auto a = random_values(rows * cols, std::uint32_t(Fy * 1000 + Fx));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) real[std::size_t(r * ldr + c)] = T(a[std::size_t(r * cols + c)]);
  t.forward(real.data(), rows, cols, re.data(), im.data(), scratch);
  double err = 0, mag = 0;
  for (std::int64_t kx = 0; kx < Fx; ++kx)
    for (std::int64_t ky = 0; ky < Fyh; ++ky) {
      cd ref = 0;
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < cols; ++c)
          ref += double(real[std::size_t(r * ldr + c)]) *
                 std::polar(1.0, -2 * pi * (double(ky * r % Fy) / double(Fy) + double(kx * c % Fx) / double(Fx)));
      const cd got(re[std::size_t(kx * Fyh + ky)], im[std::size_t(kx * Fyh + ky)]);
      err = std::max(err, std::abs(got - ref));
      mag = std::max(mag, std::abs(ref));
    }
  INFO("plane " << Fy << "x" << Fx << " holding " << rows << "x" << cols << ", forward error " << err / mag);
  CHECK(err / mag <= tolerance<T>(Fy * Fx));

  t.inverse(re.data(), im.data(), back.data(), 0, Fx, scratch);
  double rerr = 0, rmag = 0;
  for (std::int64_t r = 0; r < Fy; ++r)
    for (std::int64_t c = 0; c < Fx; ++c) {
      const double want = r < rows && c < cols ? double(Fy * Fx) * double(real[std::size_t(r * ldr + c)]) : 0.0;
      rerr = std::max(rerr, std::abs(double(back[std::size_t(r * ldr + c)]) - want));
      rmag = std::max(rmag, std::abs(want));
    }
  INFO("plane " << Fy << "x" << Fx << ", round trip error " << rerr / rmag);
  CHECK(rerr / rmag <= tolerance<T>(Fy * Fx));
}

}  // namespace

TEST_CASE("real_fft: the supported lengths are 2^a·3^b", "[kernels][fft]") {
  CHECK(fft::supported_length(1));
  CHECK(fft::supported_length(72));
  CHECK(fft::supported_length(81));
  CHECK_FALSE(fft::supported_length(10));
  CHECK_FALSE(fft::supported_length(0));
  CHECK(fft::supported_real_length(2));
  CHECK(fft::supported_real_length(54));
  CHECK_FALSE(fft::supported_real_length(27));
  CHECK_FALSE(fft::supported_real_length(20));
  CHECK_THROWS_AS(fft::complex_plan<float>(10), std::invalid_argument);
}

TEST_CASE("real_fft: complex transforms of every supported length match the DFT", "[kernels][fft]") {
  for (std::int64_t n = 1; n <= 288; ++n)
    if (fft::supported_length(n)) {
      check_complex<float>(n, false);
      check_complex<float>(n, true);
      check_complex<double>(n, false);
      check_complex<double>(n, true);
    }
}

TEST_CASE("real_fft: real transforms of every supported length match the DFT and invert", "[kernels][fft]") {
  for (std::int64_t n = 2; n <= 288; ++n)
    if (fft::supported_real_length(n)) {
      check_real<float>(n);
      check_real<double>(n);
    }
}

TEST_CASE("real_fft: 2-D plane transforms match the 2-D DFT and invert", "[kernels][fft]") {
  for (auto [Fy, Fx, rows, cols] : {std::array<std::int64_t, 4>{16, 16, 16, 16}, {18, 12, 7, 5}, {32, 6, 30, 6},
                                    {72, 72, 64, 64}, {36, 54, 1, 1}, {48, 2, 3, 1}}) {
    if (Fy / 2 + 1 >= simd::lanes<float>) check_plane<float>(Fy, Fx, rows, cols);
    if (Fy / 2 + 1 >= simd::lanes<double>) check_plane<double>(Fy, Fx, rows, cols);
  }
}
