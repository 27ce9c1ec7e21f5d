// Photometric augmentations: color_jitter against a step-by-step fp64 reference of torchvision's
// semantics (factors, order, clamping, HSV hue), its special cases (identity, grey, red → green)
// and errors; pca_lighting's statistics, eigenbasis and the covariance of its offsets against
// P·diag(σ²λ²)·Pᵀ; gaussian_noise's moments and salt_and_pepper's fractions; reproducibility.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <type_traits>
#include <vector>

#include "support/images.hpp"
#include "strata/augment/color_jitter.hpp"  // first: each header also stands alone
#include "strata/augment/noise.hpp"
#include "strata/augment/pca_lighting.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::random_image;
using strata::testing::sigmas;
using strata::testing::worse_of;
using namespace strata::augment;

namespace {

double luma(double r, double g, double b) { return 0.299 * r + 0.587 * g + 0.114 * b; }

// Textbook RGB → HSV → RGB with the hue moved by `shift` turns, in double, by cases (values in [0, 1]).
std::array<double, 3> reference_hue(double r, double g, double b, double shift) {
  const double hi = std::max({r, g, b}), lo = std::min({r, g, b}), chroma = hi - lo;
  double h = 0;  // degrees / 60
  if (chroma > 0) {
    if (hi == r) h = std::fmod((g - b) / chroma + 6, 6.0);
    else if (hi == g) h = (b - r) / chroma + 2;
    else h = (r - g) / chroma + 4;
  }
  h = std::fmod(h + 6 * shift + 12, 6.0);
  const int sector = int(h);
  const double f = h - sector, s = hi > 0 ? chroma / hi : 0, v = hi;
  const double p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  switch (sector % 6) {
    case 0: return {v, t, p};
    case 1: return {q, v, p};
    case 2: return {p, v, t};
    case 3: return {p, q, v};
    case 4: return {t, p, v};
    default: return {v, p, q};
  }
}

// torchvision's ColorJitter on a float image in [0, 1], step by step over the whole image, in
// double, clamping after each step.
image<double> reference_jitter(const color_jitter::params& p, const image<float>& in) {
  const std::int64_t h = in.height(), w = in.width(), ch = in.channels();
  image<double> img(h, w, ch);
  for (std::int64_t i = 0; i < in.values(); ++i) img.data()[i] = in.data()[i];
  auto clamp01 = [](double v) { return std::clamp(v, 0.0, 1.0); };
  for (auto s : p.order) {
    if (s == color_jitter::step::brightness) {
      for (std::int64_t i = 0; i < img.values(); ++i) img.data()[i] = clamp01(img.data()[i] * p.brightness);
    } else if (s == color_jitter::step::contrast) {
      double mean = 0;
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
          if (ch == 3) mean += luma(img(y, x, 0), img(y, x, 1), img(y, x, 2));
          else for (std::int64_t c = 0; c < ch; ++c) mean += img(y, x, c);
        }
      mean /= double(h * w * (ch == 3 ? 1 : ch));
      for (std::int64_t i = 0; i < img.values(); ++i)
        img.data()[i] = clamp01(p.contrast * img.data()[i] + (1 - p.contrast) * mean);
    } else if (s == color_jitter::step::saturation) {
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
          const double grey = luma(img(y, x, 0), img(y, x, 1), img(y, x, 2));
          for (int c = 0; c < 3; ++c) img(y, x, c) = clamp01(p.saturation * img(y, x, c) + (1 - p.saturation) * grey);
        }
    } else if (p.hue != 0) {
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
          const auto rgb = reference_hue(img(y, x, 0), img(y, x, 1), img(y, x, 2), p.hue);
          for (int c = 0; c < 3; ++c) img(y, x, c) = rgb[std::size_t(c)];
        }
    }
  }
  return img;
}

template <class T, class U>
double max_abs_difference(const image<T>& a, const image<U>& b) {
  REQUIRE(a.size() == b.size());
  REQUIRE(a.channels() == b.channels());
  double worst = 0;
  for (std::int64_t i = 0; i < a.values(); ++i) worst = worse_of(worst, strata::testing::abs_error(double(a.data()[i]), double(b.data()[i])));
  return worst;
}

}  // namespace

TEST_CASE("color_jitter with all-zero strengths is the identity, for every pixel type and layout", "[augment][color_jitter]") {
  const color_jitter jitter;
  random_engine rng(7);
  auto check = [&](auto tag) {
    using T = decltype(tag);
    const auto img = random_image<T>(13, 300, 3, 11);  // 300 columns: more than one chunk per row
    image<T> out;
    jitter.apply(jitter.sample(rng, img.size()), img.view(), out);
    CHECK(out == img);
    auto planar = strata::testing::planar_copy(img);
    jitter.apply(jitter.sample(rng, img.size()), image_view<const T>(planar.data(), 13, 300, 3, pixel_layout::chw), out);
    CHECK(out == img);
  };
  check(std::uint8_t{});
  check(std::uint16_t{});
  check(float{});
}

TEST_CASE("color_jitter draws factors from torchvision's ranges and every order of the four steps", "[augment][color_jitter]") {
  const color_jitter jitter(0.4, 1.5, 0.2, 0.1);
  random_engine rng(3);
  float lo[4] = {9, 9, 9, 9}, hi[4] = {-9, -9, -9, -9};
  std::map<std::array<color_jitter::step, 4>, int> orders;
  const int draws = 24000;
  for (int i = 0; i < draws; ++i) {
    const auto p = jitter.sample(rng, {4, 4});
    const float v[4] = {p.brightness, p.contrast, p.saturation, p.hue};
    for (int k = 0; k < 4; ++k) lo[k] = std::min(lo[k], v[k]), hi[k] = std::max(hi[k], v[k]);
    ++orders[p.order];
  }
  CHECK(lo[0] >= 0.6f);
  CHECK(lo[0] < 0.61f);
  CHECK(hi[0] <= 1.4f);
  CHECK(hi[0] > 1.39f);
  CHECK(lo[1] >= 0.0f);  // max(0, 1 − 1.5)
  CHECK(lo[1] < 0.01f);
  CHECK(hi[1] > 2.49f);
  CHECK(lo[2] >= 0.8f);
  CHECK(hi[2] <= 1.2f);
  CHECK(lo[3] >= -0.1f);
  CHECK(lo[3] < -0.099f);
  CHECK(hi[3] <= 0.1f);
  CHECK(hi[3] > 0.099f);
  REQUIRE(orders.size() == 24);
  for (const auto& [order, n] : orders) CHECK(sigmas(n, draws / 24.0, std::sqrt(draws * (1.0 / 24) * (23.0 / 24))) <= 5);  // sd ≈ 31
}

TEST_CASE("color_jitter matches a step-by-step fp64 reference of torchvision's semantics", "[augment][color_jitter]") {
  const color_jitter jitter(0.5, 0.5, 0.5, 0.5);
  random_engine rng(21);
  double worst = 0;
  for (int trial = 0; trial < 24; ++trial) {
    const auto img = random_image<float>(9, 270, 3, 100 + std::uint64_t(trial));
    const auto p = jitter.sample(rng, img.size());
    image<float> out;
    jitter.apply(p, img.view(), out);
    worst = worse_of(worst, max_abs_difference(out, reference_jitter(p, img)));
  }
  CHECK(worst < 2e-5);

  SECTION("contrast sees the image as the steps before it left it (brightness first, then contrast)") {
    color_jitter::params p;
    p.brightness = 1.8f, p.contrast = 0.3f;  // brightness clamps many values, so the mean is not 1.8× the input's
    p.order = {color_jitter::step::brightness, color_jitter::step::contrast, color_jitter::step::saturation,
               color_jitter::step::hue};
    const auto img = random_image<float>(16, 16, 3, 5);
    image<float> out;
    jitter.apply(p, img.view(), out);
    CHECK(max_abs_difference(out, reference_jitter(p, img)) < 2e-6);
    std::swap(p.order[0], p.order[1]);
    jitter.apply(p, img.view(), out);
    CHECK(max_abs_difference(out, reference_jitter(p, img)) < 2e-6);
  }
}

TEST_CASE("color_jitter's brightness factor f scales values by f, clamped to the range", "[augment][color_jitter]") {
  const color_jitter jitter(0.9);
  color_jitter::params p;
  const auto img = random_image<std::uint8_t>(20, 20, 3, 8);
  image<std::uint8_t> out;
  for (float f : {1.5f, 0.25f, 0.0f}) {
    p.brightness = f;
    jitter.apply(p, img.view(), out);
    int mismatches = 0;
    for (std::int64_t i = 0; i < img.values(); ++i)
      mismatches += out.data()[i] != pixel_traits<std::uint8_t>::from(std::min(255.0f, f * float(img.data()[i])));
    CHECK(mismatches == 0);
  }
  // Floating-point pixels clamp at 1, as torchvision does.
  const auto fimg = random_image<float>(20, 20, 1, 9);  // any channel count
  image<float> fout;
  p.brightness = 1.7f;
  jitter.apply(p, fimg.view(), fout);
  double worst = 0;
  for (std::int64_t i = 0; i < fimg.values(); ++i) worst = worse_of(worst, std::abs(fout.data()[i] - std::min(1.0, 1.7 * double(fimg.data()[i]))));
  CHECK(worst < 1e-6);
}

TEST_CASE("color_jitter's saturation factor 0 gives grey: R = G = B = luma", "[augment][color_jitter]") {
  const color_jitter jitter(0, 0, 1);
  color_jitter::params p;
  p.saturation = 0;
  const auto img = random_image<std::uint16_t>(17, 19, 3, 12);
  image<std::uint16_t> out;
  jitter.apply(p, img.view(), out);
  bool grey = true;
  double worst = 0;
  for (std::int64_t y = 0; y < img.height(); ++y)
    for (std::int64_t x = 0; x < img.width(); ++x) {
      grey = grey && out(y, x, 0) == out(y, x, 1) && out(y, x, 1) == out(y, x, 2);
      worst = worse_of(worst, std::abs(out(y, x, 0) - luma(img(y, x, 0), img(y, x, 1), img(y, x, 2))));
    }
  CHECK(grey);
  CHECK(worst <= 0.51);  // one rounding (plus float's ~0.004 on values up to 65535)
}

TEST_CASE("color_jitter's hue shift by a third of the circle maps red to green, green to blue", "[augment][color_jitter]") {
  const color_jitter jitter(0, 0, 0, 0.5);
  color_jitter::params p;
  p.hue = 1.0f / 3;
  image<std::uint8_t> img(1, 3, 3, 0), out;
  img(0, 0, 0) = 255, img(0, 1, 1) = 255, img(0, 2, 2) = 200;  // red, green, darker blue
  jitter.apply(p, img.view(), out);
  CHECK((out(0, 0, 0) == 0 && out(0, 0, 1) == 255 && out(0, 0, 2) == 0));
  CHECK((out(0, 1, 0) == 0 && out(0, 1, 1) == 0 && out(0, 1, 2) == 255));
  CHECK((out(0, 2, 0) == 200 && out(0, 2, 1) == 0 && out(0, 2, 2) == 0));
  p.hue = -0.5f;  // half a turn either way: red becomes cyan
  image<float> f(1, 1, 3, 0.0f), fout;
  f(0, 0, 0) = 0.8f;
  jitter.apply(p, f.view(), fout);
  CHECK(std::abs(fout(0, 0, 0)) < 1e-6);
  CHECK(std::abs(fout(0, 0, 1) - 0.8f) < 1e-6);
  CHECK(std::abs(fout(0, 0, 2) - 0.8f) < 1e-6);
}

TEST_CASE("color_jitter is reproducible by seed and needs RGB for saturation and hue", "[augment][color_jitter]") {
  const color_jitter jitter(0.4, 0.4, 0.4, 0.1);
  const auto img = random_image<std::uint8_t>(32, 32, 3, 1);
  image<std::uint8_t> a, b, c;
  random_engine r1(99), r2(99), r3(100);
  augment::augment(jitter, img.view(), a, r1);
  augment::augment(jitter, img.view(), b, r2);
  augment::augment(jitter, img.view(), c, r3);
  CHECK(a == b);
  CHECK(!(a == c));

  const auto grey = random_image<std::uint8_t>(8, 8, 1, 2);
  random_engine rng(1);
  image<std::uint8_t> out;
  CHECK_THROWS_AS(color_jitter(0, 0, 0.3).apply(color_jitter(0, 0, 0.3).sample(rng, grey.size()), grey.view(), out), shape_error);
  CHECK_THROWS_AS(color_jitter(0, 0, 0, 0.1).apply(color_jitter::params{}, grey.view(), out), shape_error);
  CHECK_THROWS_WITH(color_jitter(0, 0, 0, 0.1).apply(color_jitter::params{}, grey.view(), out),
                    Catch::Contains("3 (RGB) channels") && Catch::Contains("has 1"));
  const color_jitter bc(0.5, 0.5);  // brightness and contrast: any channel count
  const auto rgba = random_image<std::uint8_t>(8, 8, 4, 3);
  CHECK_NOTHROW(bc.apply(bc.sample(rng, grey.size()), grey.view(), out));
  CHECK_NOTHROW(bc.apply(bc.sample(rng, rgba.size()), rgba.view(), out));
  CHECK(out.channels() == 4);
  CHECK_THROWS_AS(color_jitter(-0.1), error);
  CHECK_THROWS_AS(color_jitter(0, 0, 0, 0.6), error);
}

TEST_CASE("rgb_statistics recovers the mean and covariance of a synthetic data set", "[augment][pca_lighting]") {
  // x = μ + L z with z ~ N(0, I): covariance L Lᵀ, spread over 4 images of 128×128 pixels.
  Eigen::Matrix3d L;
  L << 0.10, 0.00, 0.00,  //
      0.06, 0.05, 0.00,   //
      0.03, -0.02, 0.04;
  const Eigen::Vector3d mu(0.45, 0.42, 0.38);
  const Eigen::Matrix3d sigma = L * L.transpose();
  rgb_statistics all, first, second;
  random_engine rng(2024);
  for (int i = 0; i < 4; ++i) {
    image<float> img(128, 128, 3);
    for (std::int64_t y = 0; y < 128; ++y)
      for (std::int64_t x = 0; x < 128; ++x) {
        const Eigen::Vector3d z(rng.normal(), rng.normal(), rng.normal());
        const Eigen::Vector3d v = mu + L * z;
        for (int c = 0; c < 3; ++c) img(y, x, c) = float(v[c]);
      }
    all.add(img);
    (i < 1 ? first : second).add(img.view());
  }
  REQUIRE(all.count() == 4 * 128 * 128);
  CHECK((all.mean() - mu).cwiseAbs().maxCoeff() < 4 * 0.1 / std::sqrt(double(all.count())));
  // Each covariance entry's standard error is about √((σᵢᵢσⱼⱼ + σᵢⱼ²)/n) ≤ 0.6% of √(σᵢᵢσⱼⱼ).
  const Eigen::Matrix3d got = all.covariance();
  double worst = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) worst = worse_of(worst, std::abs(got(i, j) - sigma(i, j)) / std::sqrt(sigma(i, i) * sigma(j, j)));
  CHECK(worst < 0.025);

  // Merging accumulators filled separately gives the same statistics as one accumulator.
  first.merge(second);
  CHECK(first.count() == all.count());
  CHECK((first.mean() - all.mean()).cwiseAbs().maxCoeff() < 1e-14);
  CHECK((first.covariance() - all.covariance()).cwiseAbs().maxCoeff() < 1e-14);

  // Integer pixels are scaled to [0, 1].
  rgb_statistics full;
  full.add(image<std::uint8_t>(4, 4, 3, 255));
  full.add(image<std::uint16_t>(4, 4, 3, 0));
  CHECK((full.mean() - Eigen::Vector3d::Constant(0.5)).cwiseAbs().maxCoeff() < 1e-15);
  CHECK(std::abs(full.covariance()(0, 1) - 0.25 * 32 / 31) < 1e-12);
  CHECK_THROWS_AS(full.add(image<float>(2, 2, 1)), shape_error);

  SECTION("pca_of gives a descending eigenbasis that reconstructs the covariance") {
    const pca_basis b = pca_of(all);
    CHECK(b.eigenvalues[0] >= b.eigenvalues[1]);
    CHECK(b.eigenvalues[1] >= b.eigenvalues[2]);
    CHECK((b.eigenvectors.transpose() * b.eigenvectors - Eigen::Matrix3d::Identity()).cwiseAbs().maxCoeff() < 1e-12);
    const Eigen::Matrix3d rebuilt = b.eigenvectors * b.eigenvalues.asDiagonal() * b.eigenvectors.transpose();
    CHECK((rebuilt - got).cwiseAbs().maxCoeff() < 1e-15);
    CHECK_THROWS_AS(pca_of(rgb_statistics{}), error);
  }
}

TEST_CASE("pca_lighting offsets have the covariance P·diag(σ²λ²)·Pᵀ", "[augment][pca_lighting]") {
  // A colour basis like ImageNet's: one dominant (brightness) component, two weak chromatic ones.
  rgb_statistics stats;
  random_engine data(5);
  image<float> img(64, 64, 3);
  for (std::int64_t y = 0; y < 64; ++y)
    for (std::int64_t x = 0; x < 64; ++x) {
      const double l = 0.25 * data.normal(), u = 0.06 * data.normal(), v = 0.03 * data.normal();
      img(y, x, 0) = float(0.5 + l + u), img(y, x, 1) = float(0.5 + l - v), img(y, x, 2) = float(0.5 + l - u + v);
    }
  stats.add(img);
  const pca_lighting lighting(pca_of(stats), 0.1);
  const auto& b = lighting.basis();

  random_engine rng(77);
  const int draws = 10000;
  Eigen::Vector3d sum = Eigen::Vector3d::Zero();
  Eigen::Matrix3d sum_sq = Eigen::Matrix3d::Zero();
  for (int i = 0; i < draws; ++i) {
    const Eigen::Vector3d o = lighting.offset(lighting.sample(rng, {1, 1}));
    sum += o;
    sum_sq += o * o.transpose();
  }
  const Eigen::Vector3d mean = sum / draws;
  const Eigen::Matrix3d cov = (sum_sq - draws * mean * mean.transpose()) / (draws - 1);
  const Eigen::Vector3d predicted_var = (0.1 * b.eigenvalues).cwiseAbs2();  // σ²λ²
  const Eigen::Matrix3d predicted = b.eigenvectors * predicted_var.asDiagonal() * b.eigenvectors.transpose();

  // In the eigenbasis, each variance within 5% (its standard error is √(2/n) = 1.4%) and the
  // components uncorrelated; in RGB, the whole matrix within 5% (Frobenius).
  const Eigen::Matrix3d in_basis = b.eigenvectors.transpose() * cov * b.eigenvectors;
  for (int i = 0; i < 3; ++i) {
    CHECK(std::abs(in_basis(i, i) / predicted_var[i] - 1) < 0.05);
    for (int j = 0; j < i; ++j) CHECK(std::abs(in_basis(i, j)) / std::sqrt(in_basis(i, i) * in_basis(j, j)) < 0.05);
  }
  CHECK((cov - predicted).norm() / predicted.norm() < 0.05);
}

TEST_CASE("pca_lighting adds one offset uniformly to every pixel", "[augment][pca_lighting]") {
  pca_basis basis;
  basis.eigenvalues = Eigen::Vector3d(0.2175, 0.0188, 0.0045);
  basis.eigenvectors << -0.5675, 0.7192, 0.4009,  //
      -0.5808, -0.0045, -0.8140,                  //
      -0.5836, -0.6948, 0.4203;
  const pca_lighting lighting(basis, 0.1);
  const pca_lighting::params p{{0.8, -1.2, 2.0}};  // a few-σ draw, so the offset is several levels
  const Eigen::Vector3d o = lighting.offset(p);
  CHECK((o - basis.eigenvectors * Eigen::Vector3d(0.8 * 0.2175, -1.2 * 0.0188, 2.0 * 0.0045)).norm() < 1e-15);

  const auto f = random_image<float>(10, 11, 3, 4);
  image<float> fout;
  lighting.apply(p, f.view(), fout);
  double worst = 0;
  for (std::int64_t y = 0; y < 10; ++y)
    for (std::int64_t x = 0; x < 11; ++x)
      for (int c = 0; c < 3; ++c) worst = worse_of(worst, std::abs(fout(y, x, c) - f(y, x, c) - o[c]));
  CHECK(worst < 1e-6);

  const auto u8 = random_image<std::uint8_t>(10, 11, 3, 5);
  image<std::uint8_t> out8;
  lighting.apply(p, u8.view(), out8);
  int mismatches = 0;
  for (std::int64_t y = 0; y < 10; ++y)
    for (std::int64_t x = 0; x < 11; ++x)
      for (int c = 0; c < 3; ++c)
        mismatches += out8(y, x, c) != pixel_traits<std::uint8_t>::from(u8(y, x, c) + 255 * o[c]);
  CHECK(mismatches == 0);

  const auto u16 = random_image<std::uint16_t>(3, 3, 3, 6);
  image<std::uint16_t> out16;
  lighting.apply(p, u16.view(), out16);
  CHECK(out16(1, 2, 0) == pixel_traits<std::uint16_t>::from(u16(1, 2, 0) + 65535 * o[0]));
  CHECK_THROWS_AS(lighting.apply(p, image<std::uint8_t>(2, 2, 1).view(), out8), shape_error);
  CHECK_THROWS_AS(pca_lighting(basis, -1), error);
}

TEST_CASE("gaussian_noise has mean 0 and standard deviation σ of the range, reproducibly", "[augment][noise]") {
  const double sigma = 0.05;
  const gaussian_noise noise(sigma);
  random_engine rng(8);
  const image<float> flat(512, 512, 1, 0.5f);
  image<float> out;
  const auto p = noise.sample(rng, flat.size());
  noise.apply(p, flat.view(), out);
  double sum = 0, sum_sq = 0;
  const double n = double(out.values());
  for (std::int64_t i = 0; i < out.values(); ++i) {
    const double d = out.data()[i] - 0.5;
    sum += d, sum_sq += d * d;
  }
  const double mean = sum / n, sd = std::sqrt(sum_sq / n - mean * mean);
  CHECK(sigmas(mean, 0, sigma / std::sqrt(n)) <= 5);
  CHECK(sigmas(sd / sigma, 1, 1 / std::sqrt(2 * n)) <= 5);

  // uint8: σ = 5% of 255, rounded (adding 1/12 level² of variance).
  const image<std::uint8_t> grey(256, 256, 3, 128);
  image<std::uint8_t> out8;
  noise.apply(noise.sample(rng, grey.size()), grey.view(), out8);
  double s8 = 0, q8 = 0;
  for (std::int64_t i = 0; i < out8.values(); ++i) s8 += out8.data()[i] - 128.0, q8 += (out8.data()[i] - 128.0) * (out8.data()[i] - 128.0);
  const double n8 = double(out8.values()), m8 = s8 / n8;
  CHECK(sigmas(m8, 0, 12.75 / std::sqrt(n8)) <= 5);
  CHECK(sigmas(std::sqrt(q8 / n8 - m8 * m8) / std::sqrt(12.75 * 12.75 + 1.0 / 12), 1, 1 / std::sqrt(2 * n8)) <= 5);

  // The params alone decide the noise: the same params again, or a planar view of the same
  // pixels, give the same output; another seed does not.
  const auto img = random_image<std::uint16_t>(20, 30, 3, 9);
  image<std::uint16_t> a, b, c;
  const auto q = noise.sample(rng, img.size());
  noise.apply(q, img.view(), a);
  auto planar = strata::testing::planar_copy(img);
  noise.apply(q, image_view<const std::uint16_t>(planar.data(), 20, 30, 3, pixel_layout::chw), b);
  CHECK(a == b);
  noise.apply(noise.sample(rng, img.size()), img.view(), c);
  CHECK(!(a == c));
  CHECK_THROWS_AS(gaussian_noise(-0.1), error);
}

TEST_CASE("salt_and_pepper changes the given fraction of pixels, salt_ratio of them to salt", "[augment][noise]") {
  const double fraction = 0.1, ratio = 0.3;
  const salt_and_pepper noise(fraction, ratio);
  random_engine rng(10);
  const image<std::uint8_t> grey(512, 512, 3, 128);
  image<std::uint8_t> out;
  noise.apply(noise.sample(rng, grey.size()), grey.view(), out);
  std::int64_t salt = 0, pepper = 0, mixed = 0;
  for (std::int64_t y = 0; y < 512; ++y)
    for (std::int64_t x = 0; x < 512; ++x) {
      const auto v = out(y, x, 0);
      mixed += out(y, x, 1) != v || out(y, x, 2) != v;
      salt += v == 255, pepper += v == 0;
    }
  const double n = 512.0 * 512, changed = double(salt + pepper);
  CHECK(mixed == 0);  // a pixel changes as a whole
  CHECK(salt + pepper + std::int64_t(std::count(out.data(), out.data() + out.values(), std::uint8_t{128})) / 3 == 512 * 512);
  CHECK(sigmas(changed / n, fraction, std::sqrt(fraction * (1 - fraction) / n)) <= 5);
  CHECK(sigmas(salt / changed, ratio, std::sqrt(ratio * (1 - ratio) / changed)) <= 5);

  const image<float> half(64, 64, 1, 0.5f);
  image<float> fout, again;
  const auto p = salt_and_pepper(1.0, 1.0).sample(rng, half.size());
  salt_and_pepper(1.0, 1.0).apply(p, half.view(), fout);
  CHECK(fout == image<float>(64, 64, 1, 1.0f));
  const auto q = noise.sample(rng, half.size());
  noise.apply(q, half.view(), fout);
  noise.apply(q, half.view(), again);
  CHECK(fout == again);
  CHECK_THROWS_AS(salt_and_pepper(1.5), error);
  CHECK_THROWS_AS(salt_and_pepper(0.1, -0.5), error);
}
