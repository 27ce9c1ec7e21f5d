// matmul through the dispatch (Eigen or OpenBLAS) and through Eigen directly, against an fp64
// triple loop: every transpose combination, accumulation, aliasing, views.
#include <cstdint>
#include <vector>

#include "strata/kernels/cpu/eigen_gemm.hpp"
#include "strata/strata.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::max_relative_error;
using strata::testing::random_tensor;
using strata::testing::to_doubles;

namespace {

// C = op(A) op(B) in double from row-major A (ar × ac) and B (br × bc).
std::vector<double> reference(const std::vector<double>& a, std::int64_t ar, std::int64_t ac, bool ta,
                              const std::vector<double>& b, std::int64_t br, std::int64_t bc, bool tb) {
  const std::int64_t m = ta ? ac : ar, k = ta ? ar : ac, n = tb ? br : bc;
  std::vector<double> c(static_cast<std::size_t>(m * n), 0.0);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (std::int64_t p = 0; p < k; ++p) {
        const double x = ta ? a[p * ac + i] : a[i * ac + p];
        const double y = tb ? b[j * bc + p] : b[p * bc + j];
        s += x * y;
      }
      c[i * n + j] = s;
    }
  return c;
}

// fp32 dot products of length k with values in [-1, 1]: error grows like sqrt(k)·eps.
template <class T>
double tolerance(std::int64_t) {
  return std::is_same_v<T, float> ? 2e-5 : 1e-13;
}

template <class T>
void check_all_transposes(std::int64_t m, std::int64_t n, std::int64_t k) {
  INFO("m=" << m << " n=" << n << " k=" << k);
  auto a = random_tensor<T>(Shape{m, k}, 1), at = random_tensor<T>(Shape{k, m}, 2);
  auto b = random_tensor<T>(Shape{k, n}, 3), bt = random_tensor<T>(Shape{n, k}, 4);
  Tensor<T, 2> c(m, n);
  const double tol = tolerance<T>(k);
  c = matmul(a, b);
  CHECK(max_relative_error(to_doubles(c), reference(to_doubles(a), m, k, false, to_doubles(b), k, n, false), 1.0) <= tol);
  c = matmul(transpose(at), b);
  CHECK(max_relative_error(to_doubles(c), reference(to_doubles(at), k, m, true, to_doubles(b), k, n, false), 1.0) <= tol);
  c = matmul(a, transpose(bt));
  CHECK(max_relative_error(to_doubles(c), reference(to_doubles(a), m, k, false, to_doubles(bt), n, k, true), 1.0) <= tol);
  c = matmul(transpose(at), transpose(bt));
  CHECK(max_relative_error(to_doubles(c), reference(to_doubles(at), k, m, true, to_doubles(bt), n, k, true), 1.0) <= tol);
  // Eigen's own kernel, whichever backend the dispatch uses.
  Tensor<T, 2> e(m, n, T(7));
  kernels::cpu::eigen_gemm<T>(true, false, m, n, k, T(1), at.data(), m, b.data(), n, T(0), e.data(), n);
  CHECK(max_relative_error(to_doubles(e), reference(to_doubles(at), k, m, true, to_doubles(b), k, n, false), 1.0) <= tol);
}

}  // namespace

TEST_CASE("matmul matches an fp64 loop for every transpose combination", "[matmul]") {
  check_all_transposes<float>(1, 1, 1);
  check_all_transposes<float>(7, 5, 3);
  check_all_transposes<float>(64, 48, 200);
  check_all_transposes<float>(129, 67, 257);
  check_all_transposes<double>(33, 65, 17);
}

TEST_CASE("c += matmul and c -= matmul accumulate with one GEMM", "[matmul]") {
  auto a = random_tensor<float>(Shape{20, 30}, 5), b = random_tensor<float>(Shape{30, 10}, 6);
  auto c = random_tensor<float>(Shape{20, 10}, 7);
  const auto c0 = to_doubles(c);
  const auto ab = reference(to_doubles(a), 20, 30, false, to_doubles(b), 30, 10, false);
  c += matmul(a, b);
  auto expected = c0;
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] += ab[i];
  CHECK(max_relative_error(to_doubles(c), expected, 1.0) <= 2e-6);
  c -= matmul(a, b);
  CHECK(max_relative_error(to_doubles(c), c0, 1.0) <= 2e-6);
}

TEST_CASE("a product that overwrites its own operand is computed through a temporary", "[matmul]") {
  auto a = random_tensor<double>(Shape{16, 16}, 8), b = random_tensor<double>(Shape{16, 16}, 9);
  const auto expected = reference(to_doubles(a), 16, 16, false, to_doubles(b), 16, 16, false);
  a = matmul(a, b);
  CHECK(max_relative_error(to_doubles(a), expected, 1.0) <= 1e-13);
}

TEST_CASE("matmul reads batch slices and writes into views", "[matmul][view]") {
  auto x = random_tensor<float>(Shape{10, 8}, 10);  // a batch of 10 rows of 8 features
  auto w = random_tensor<float>(Shape{4, 8}, 11);   // 4 outputs
  Tensor<float, 2> y(10, 4);
  y.slice(2, 5) = matmul(x.slice(2, 5), transpose(w));
  const auto full = reference(to_doubles(x), 10, 8, false, to_doubles(w), 4, 8, true);
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 4; ++j) CHECK(y(i, j) == Approx((i >= 2 && i < 7) ? full[i * 4 + j] : 0.0).margin(1e-5));
}

TEST_CASE("an empty inner extent gives zeros, and += leaves the destination as it was", "[matmul]") {
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      INFO((ta ? "Aᵀ" : "A") << (tb ? " Bᵀ" : " B"));
      const Tensor<float, 2> a(ta ? Shape{0, 4} : Shape{4, 0}), b(tb ? Shape{3, 0} : Shape{0, 3});
      Tensor<float, 2> c(4, 3, 7.0f);
      auto product = [&](auto&& x, auto&& y) { c += matmul(x, y); };
      if (!ta && !tb) product(a, b);
      if (ta && !tb) product(transpose(a), b);
      if (!ta && tb) product(a, transpose(b));
      if (ta && tb) product(transpose(a), transpose(b));
      CHECK(c(3, 2) == 7.0f);
      if (!ta && !tb) c = matmul(a, b);
      if (ta && !tb) c = matmul(transpose(a), b);
      if (!ta && tb) c = matmul(a, transpose(b));
      if (ta && tb) c = matmul(transpose(a), transpose(b));
      CHECK(c(3, 2) == 0.0f);
      CHECK(c(0, 0) == 0.0f);
    }
}

TEST_CASE("the GEMM backend is reported", "[matmul]") {
  const std::string backend = kernels::cpu::gemm_backend();
  CHECK((backend == "eigen" || backend == "openblas"));
}
