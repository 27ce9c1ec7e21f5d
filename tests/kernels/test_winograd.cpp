// Winograd F(2×2,3×3) and F(4×4,3×3) against the fp64 direct convolution: forward, backward data
// and backward filter on random data, borders, odd sizes, pads 0–2, batch 1 and 3, fp32 and fp64;
// the filter cache's reuse and refresh; and the multiplications per tile (2.25× / 4× fewer).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "strata/kernels/cpu/winograd.hpp"  // first: it also stands alone
#include "strata/core/parallel.hpp"
#include "strata/kernels/cpu/conv_direct.hpp"
#include "support/testing.hpp"

using namespace strata;
using namespace strata::kernels;
using namespace strata::kernels::cpu;

namespace {

// ‖a − b‖ / ‖b‖ over all elements.
double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  REQUIRE(den > 0);
  return std::sqrt(num / den);
}

// Uniform in [-1, 1), rounded to T (the reference then sees exactly what the kernel sees).
template <class T>
std::vector<T> random_values(std::int64_t n, std::uint64_t seed) {
  auto t = testing::random_tensor<double>(Shape<1>{n}, seed);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<T>(t.data()[i]);
  return v;
}

template <class T>
std::vector<double> as_doubles(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// Worst relative error seen per (variant, precision, pass), printed by the last test case.
std::map<std::string, double>& worst() {
  static std::map<std::string, double> w;
  return w;
}
void record(const std::string& key, double e) {
  auto& w = worst()[key];
  w = std::max(w, e);
}

template <int M, class T>
double tolerance() {
  if constexpr (std::is_same_v<T, double>) return 1e-12;
  return M == 2 ? 1e-5 : 1e-4;
}

template <int M, class T>
std::string key(const char* pass) {
  return std::string("F(") + std::to_string(M) + "x" + std::to_string(M) + ",3x3) " +
         (std::is_same_v<T, float> ? "fp32 " : "fp64 ") + pass;
}

struct layer {
  std::int64_t N, C, H, W, K, pad_y, pad_x;
};

// Odd sizes, borders, pads 0–2 (one asymmetric), C not a multiple of 8, batch 1 and 3, tiny
// inputs (1×1 and 3×3 with pad 1), several images per block, and two layers big enough for
// a block per thread (67 → 61 channels) and for several blocks per thread (3 × 64×64).
const std::vector<layer>& layers() {
  static const std::vector<layer> l = {
      {1, 3, 7, 9, 5, 1, 1},   {3, 5, 5, 5, 7, 0, 0},  {3, 11, 7, 9, 6, 2, 2}, {1, 4, 3, 3, 3, 1, 1},
      {3, 2, 1, 1, 3, 1, 1},   {3, 13, 9, 7, 9, 1, 2}, {1, 9, 3, 5, 4, 0, 0},  {3, 6, 10, 6, 5, 0, 1},
      {2, 67, 33, 31, 61, 1, 1}, {3, 21, 63, 65, 10, 1, 1},
  };
  return l;
}

conv_geometry geometry(const layer& l) {
  conv_geometry g{l.C, l.H, l.W, l.K, 3, 3};
  g.pad_y = l.pad_y;
  g.pad_x = l.pad_x;
  return g;
}

template <int M, class T>
void check_forward(const layer& l, std::uint64_t seed) {
  const auto g = geometry(l);
  REQUIRE(winograd_supports<M>(g));
  const auto x = random_values<T>(l.N * g.input_elements(), seed);
  const auto w = random_values<T>(g.weight_elements(), seed + 1);
  const auto b = random_values<T>(g.K, seed + 2);
  std::vector<T> y(static_cast<std::size_t>(l.N * g.output_elements()));
  filter_cache<T> cache;
  winograd_forward<M>(g, l.N, x.data(), w.data(), b.data(), y.data(), cache);
  std::vector<double> ref(y.size());
  const auto xd = as_doubles(x), wd = as_doubles(w), bd = as_doubles(b);
  conv_direct_forward(g, l.N, xd.data(), wd.data(), bd.data(), ref.data());
  const double e = relative_error(as_doubles(y), ref);
  record(key<M, T>("forward"), e);
  INFO("N=" << l.N << " C=" << l.C << " H=" << l.H << " W=" << l.W << " K=" << l.K << " pad=" << l.pad_y << ","
            << l.pad_x << " error " << e);
  CHECK(e <= tolerance<M, T>());
}

template <int M, class T>
void check_backward_data(const layer& l, std::uint64_t seed) {
  const auto g = geometry(l);
  const auto w = random_values<T>(g.weight_elements(), seed);
  const auto dy = random_values<T>(l.N * g.output_elements(), seed + 1);
  std::vector<T> dx(static_cast<std::size_t>(l.N * g.input_elements()));
  filter_cache<T> cache;
  winograd_backward_data<M>(g, l.N, w.data(), dy.data(), dx.data(), cache);
  std::vector<double> ref(dx.size());
  const auto wd = as_doubles(w), dyd = as_doubles(dy);
  conv_direct_backward_data(g, l.N, wd.data(), dyd.data(), ref.data());
  const double e = relative_error(as_doubles(dx), ref);
  record(key<M, T>("backward data"), e);
  INFO("N=" << l.N << " C=" << l.C << " H=" << l.H << " W=" << l.W << " K=" << l.K << " pad=" << l.pad_y << ","
            << l.pad_x << " error " << e);
  CHECK(e <= tolerance<M, T>());
}

template <int M, class T>
void check_backward_filter(const layer& l, std::uint64_t seed) {
  const auto g = geometry(l);
  const auto x = random_values<T>(l.N * g.input_elements(), seed);
  const auto dy = random_values<T>(l.N * g.output_elements(), seed + 1);
  std::vector<T> dw(static_cast<std::size_t>(g.weight_elements())), db(static_cast<std::size_t>(g.K));
  winograd_backward_filter<M>(g, l.N, x.data(), dy.data(), dw.data(), db.data());
  std::vector<double> ref(dw.size()), ref_db(db.size());
  const auto xd = as_doubles(x), dyd = as_doubles(dy);
  conv_direct_backward_filter(g, l.N, xd.data(), dyd.data(), ref.data(), ref_db.data());
  const double e = relative_error(as_doubles(dw), ref), e_db = relative_error(as_doubles(db), ref_db);
  record(key<M, T>("backward filter"), e);
  INFO("N=" << l.N << " C=" << l.C << " H=" << l.H << " W=" << l.W << " K=" << l.K << " pad=" << l.pad_y << ","
            << l.pad_x << " error " << e << " bias error " << e_db);
  CHECK(e <= tolerance<M, T>());
  CHECK(e_db <= (std::is_same_v<T, float> ? 1e-6 : 1e-13));
}

template <int M, class T>
void check_all_passes() {
  std::uint64_t seed = 100 * M + sizeof(T);
  for (const auto& l : layers()) {
    check_forward<M, T>(l, seed += 10);
    check_backward_data<M, T>(l, seed += 10);
    check_backward_filter<M, T>(l, seed += 10);
  }
}

// A number that counts the multiplications whose operands both depend on data or filter values
// (multiplications by the transforms' constants are shifts and adds in hardware terms, and are
// not what the algorithm saves).
struct counted {
  double v = 0;
  bool variable = false;
  static inline std::int64_t products = 0;
  counted() = default;
  counted(double x) : v(x) {}  // constants
  static counted var(double x) {
    counted c(x);
    c.variable = true;
    return c;
  }
  friend counted operator+(counted a, counted b) { return join(a.v + b.v, a, b); }
  friend counted operator-(counted a, counted b) { return join(a.v - b.v, a, b); }
  friend counted operator/(counted a, counted b) { return join(a.v / b.v, a, b); }
  friend counted operator*(counted a, counted b) {
    if (a.variable && b.variable) ++products;
    return join(a.v * b.v, a, b);
  }
  counted operator-() const { return join(-v, *this, *this); }
  static counted join(double x, counted a, counted b) {
    counted c(x);
    c.variable = a.variable || b.variable;
    return c;
  }
};

template <int M>
void check_multiplications() {
  constexpr int A = M + 2;
  auto dv = testing::random_tensor<double>(Shape<1>{A * A}, 7 + M);
  auto gv = testing::random_tensor<double>(Shape<1>{9}, 8 + M);
  std::vector<counted> d(A * A), g(9), y(M * M);
  for (int i = 0; i < A * A; ++i) d[i] = counted::var(dv.data()[i]);
  for (int i = 0; i < 9; ++i) g[i] = counted::var(gv.data()[i]);

  counted::products = 0;
  winograd_tile<M>(d.data(), g.data(), y.data());
  const std::int64_t winograd = counted::products;

  counted::products = 0;
  std::vector<counted> ref(M * M);
  for (int p = 0; p < M; ++p)
    for (int q = 0; q < M; ++q) {
      counted acc = 0;
      for (int r = 0; r < 3; ++r)
        for (int s = 0; s < 3; ++s) acc = acc + g[r * 3 + s] * d[(p + r) * A + q + s];
      ref[p * M + q] = acc;
    }
  const std::int64_t direct = counted::products;

  for (int i = 0; i < M * M; ++i) CHECK(std::abs(y[i].v - ref[i].v) <= 1e-13 * (1 + std::abs(ref[i].v)));
  CHECK(winograd == winograd_multiplications_per_tile<M>());
  CHECK(winograd == A * A);
  CHECK(direct == 9 * M * M);
  const double saving = double(direct) / double(winograd);
  CHECK(saving == Approx(M == 2 ? 2.25 : 4.0));
  std::printf("F(%dx%d,3x3): %lld multiplications per %dx%d tile, direct %lld: %.2fx fewer\n", M, M,
              static_cast<long long>(winograd), M, M, static_cast<long long>(direct), saving);
}

template <int M>
void check_cache() {
  const layer l{2, 5, 8, 7, 4, 1, 1};
  const auto g = geometry(l);
  auto x = random_values<double>(l.N * g.input_elements(), 500);
  auto w = random_values<double>(g.weight_elements(), 501);
  const auto w2 = random_values<double>(g.weight_elements(), 502);
  auto dy = random_values<double>(l.N * g.output_elements(), 503);
  std::vector<double> y(static_cast<std::size_t>(l.N * g.output_elements())), ref1(y.size()), ref2(y.size());
  std::vector<double> dx(static_cast<std::size_t>(l.N * g.input_elements())), dref1(dx.size()), dref2(dx.size());
  conv_direct_forward(g, l.N, x.data(), w.data(), static_cast<const double*>(nullptr), ref1.data());
  conv_direct_forward(g, l.N, x.data(), w2.data(), static_cast<const double*>(nullptr), ref2.data());
  conv_direct_backward_data(g, l.N, w.data(), dy.data(), dref1.data());
  conv_direct_backward_data(g, l.N, w2.data(), dy.data(), dref2.data());

  filter_cache<double> fwd, bwd;  // one cache per pass, as a layer holds them
  winograd_forward<M>(g, l.N, x.data(), w.data(), nullptr, y.data(), fwd);
  winograd_backward_data<M>(g, l.N, w.data(), dy.data(), dx.data(), bwd);
  CHECK(relative_error(y, ref1) <= 1e-12);
  CHECK(relative_error(dx, dref1) <= 1e-12);

  // The same buffer rewritten in place (no version, no call to say so): the transform follows.
  w = w2;
  winograd_forward<M>(g, l.N, x.data(), w.data(), nullptr, y.data(), fwd);
  winograd_backward_data<M>(g, l.N, w.data(), dy.data(), dx.data(), bwd);
  CHECK(relative_error(y, ref2) <= 1e-12);
  CHECK(relative_error(dx, dref2) <= 1e-12);

  // One value changed through a raw pointer is enough.
  w[w.size() / 2] += 0.25;
  std::vector<double> ref3(y.size());
  conv_direct_forward(g, l.N, x.data(), w.data(), static_cast<const double*>(nullptr), ref3.data());
  winograd_forward<M>(g, l.N, x.data(), w.data(), nullptr, y.data(), fwd);
  CHECK(relative_error(y, ref3) <= 1e-12);
}

}  // namespace

TEST_CASE("winograd: multiplications per output tile, 2.25x and 4x fewer than direct", "[winograd]") {
  check_multiplications<2>();
  check_multiplications<4>();
}

TEST_CASE("winograd: supports 3x3 stride 1 with pad 0..2 only", "[winograd]") {
  conv_geometry g{8, 10, 10, 8, 3, 3};
  g.pad_y = g.pad_x = 1;
  CHECK(winograd_supports<2>(g));
  CHECK(winograd_supports<4>(g));
  auto s2 = g;
  s2.stride_x = 2;
  CHECK_FALSE(winograd_supports<4>(s2));
  auto k5 = g;
  k5.R = k5.S = 5;
  CHECK_FALSE(winograd_supports<2>(k5));
  auto p3 = g;
  p3.pad_y = 3;
  CHECK_FALSE(winograd_supports<4>(p3));
  auto tiny = g;
  tiny.H = tiny.W = 1;
  tiny.pad_y = tiny.pad_x = 0;  // no output
  CHECK_FALSE(winograd_supports<2>(tiny));
}

TEST_CASE("winograd F(2x2,3x3) fp64 against direct", "[winograd]") { check_all_passes<2, double>(); }
TEST_CASE("winograd F(4x4,3x3) fp64 against direct", "[winograd]") { check_all_passes<4, double>(); }
TEST_CASE("winograd F(2x2,3x3) fp32 against direct", "[winograd]") { check_all_passes<2, float>(); }
TEST_CASE("winograd F(4x4,3x3) fp32 against direct", "[winograd]") { check_all_passes<4, float>(); }

TEST_CASE("winograd: one thread gives the same answers", "[winograd]") {
  const int before = num_threads();
  set_num_threads(1);
  const layer l{3, 6, 10, 11, 5, 1, 1};
  check_forward<4, float>(l, 900);
  check_backward_data<4, float>(l, 910);
  check_backward_filter<4, float>(l, 920);
  check_forward<2, double>(l, 930);
  set_num_threads(before);
}

TEST_CASE("winograd: the cached filter transform follows the weights, however they were written", "[winograd]") {
  check_cache<2>();
  check_cache<4>();
}

TEST_CASE("winograd: measured errors", "[winograd]") {
  for (const auto& [k, e] : worst()) std::printf("%-36s max relative error %.2e\n", k.c_str(), e);
}
