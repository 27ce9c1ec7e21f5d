// strata/augment/pca_lighting.hpp — AlexNet's lighting noise (Krizhevsky et al., 2012): a
// streaming accumulator of RGB statistics over a data set, the principal components of its colour
// covariance, and pca_lighting, which adds Σ αᵢ λᵢ pᵢ (αᵢ ~ N(0, σ)) to every pixel.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include <Eigen/Dense>

#include "strata/augment/augmentation.hpp"
#include "strata/core/error.hpp"
#include "strata/image/image.hpp"

namespace strata::augment {

// Mean and covariance of RGB pixel values, scaled to [0, 1] whatever the pixel type, over any
// number of images. Each image is reduced to its own mean and centred co-moments (two passes, in
// double) and merged with Chan et al.'s pairwise update, so a data set of billions of pixels does
// not lose the covariance to cancellation, and accumulators filled by different threads merge.
class rgb_statistics {
 public:
  template <class T>
  void add(image_view<T> img) {
    using P = std::remove_const_t<T>;
    if (img.channels() != 3)
      throw shape_error("rgb_statistics::add: needs 3 (RGB) channels, the image has " + std::to_string(img.channels()));
    const std::int64_t n = img.height() * img.width();
    if (n == 0) return;
    const double scale = 1.0 / pixel_traits<P>::max;
    Eigen::Vector3d sum = Eigen::Vector3d::Zero();
    for (std::int64_t y = 0; y < img.height(); ++y)
      for (std::int64_t x = 0; x < img.width(); ++x)
        for (int c = 0; c < 3; ++c) sum[c] += double(img(y, x, c));
    const Eigen::Vector3d mean = sum * (scale / double(n));
    Eigen::Matrix3d m = Eigen::Matrix3d::Zero();
    for (std::int64_t y = 0; y < img.height(); ++y)
      for (std::int64_t x = 0; x < img.width(); ++x) {
        const Eigen::Vector3d d(double(img(y, x, 0)) * scale - mean[0], double(img(y, x, 1)) * scale - mean[1],
                                double(img(y, x, 2)) * scale - mean[2]);
        m.noalias() += d * d.transpose();
      }
    merge(n, mean, m);
  }
  template <class T>
  void add(const image<T>& img) {
    add(img.view());
  }
  void merge(const rgb_statistics& other) { merge(other.count_, other.mean_, other.comoment_); }

  std::int64_t count() const noexcept { return count_; }
  Eigen::Vector3d mean() const noexcept { return mean_; }
  // The sample covariance (divided by count − 1); zero below two pixels.
  Eigen::Matrix3d covariance() const noexcept {
    return count_ > 1 ? Eigen::Matrix3d(comoment_ / double(count_ - 1)) : Eigen::Matrix3d::Zero();
  }

 private:
  void merge(std::int64_t n, const Eigen::Vector3d& mean, const Eigen::Matrix3d& comoment) {
    if (n == 0) return;
    const double na = double(count_), nb = double(n), total = na + nb;
    const Eigen::Vector3d delta = mean - mean_;
    comoment_ += comoment + delta * delta.transpose() * (na * nb / total);
    mean_ += delta * (nb / total);
    count_ += n;
  }

  std::int64_t count_ = 0;
  Eigen::Vector3d mean_ = Eigen::Vector3d::Zero();
  Eigen::Matrix3d comoment_ = Eigen::Matrix3d::Zero();  // Σ (x − mean)(x − mean)ᵀ
};

// The principal components of an RGB covariance: eigenvalues λ (variances along each component,
// largest first, in units of the pixel range squared) and the unit eigenvectors pᵢ as columns.
struct pca_basis {
  Eigen::Vector3d eigenvalues = Eigen::Vector3d::Zero();
  Eigen::Matrix3d eigenvectors = Eigen::Matrix3d::Identity();
};

inline pca_basis pca_of(const rgb_statistics& stats) {
  if (stats.count() < 2)
    throw error("pca_of: the statistics hold " + std::to_string(stats.count()) + " pixels; a covariance needs at least 2");
  const Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> solver(stats.covariance());
  if (solver.info() != Eigen::Success) throw error("pca_of: the eigen-decomposition of the RGB covariance failed");
  // Eigen sorts ascending; AlexNet's convention (and the usual printed tables) list the
  // principal component first. Rounding can leave a tiny negative variance: it is zero.
  pca_basis b;
  for (int i = 0; i < 3; ++i) {
    b.eigenvalues[i] = std::max(0.0, solver.eigenvalues()[2 - i]);
    b.eigenvectors.col(i) = solver.eigenvectors().col(2 - i);
  }
  return b;
}

class pca_lighting {
 public:
  struct params {
    std::array<double, 3> alpha{};  // one N(0, σ) weight per principal component
  };

  explicit pca_lighting(pca_basis basis, double sigma = 0.1) : basis_(std::move(basis)), sigma_(sigma) {
    if (!(sigma >= 0)) throw error("pca_lighting: sigma must be ≥ 0, got " + std::to_string(sigma));
    if (!(basis_.eigenvalues.array() >= 0).all()) throw error("pca_lighting: eigenvalues (variances) must be ≥ 0");
  }

  const pca_basis& basis() const noexcept { return basis_; }
  double sigma() const noexcept { return sigma_; }

  params sample(random_engine& rng, image_size) const {
    params p;
    for (double& a : p.alpha) a = sigma_ * double(rng.normal());
    return p;
  }
  image_size output_size(const params&, image_size in) const noexcept { return in; }
  point map(const params&, image_size, point q) const noexcept { return q; }

  // The RGB offset Σ αᵢ λᵢ pᵢ, in units of the pixel range (1 = full intensity).
  Eigen::Vector3d offset(const params& p) const {
    const Eigen::Vector3d weights(p.alpha[0] * basis_.eigenvalues[0], p.alpha[1] * basis_.eigenvalues[1],
                                  p.alpha[2] * basis_.eigenvalues[2]);
    return basis_.eigenvectors * weights;
  }

  // Integer pixels are rounded and clamped; floating-point ones are not clamped, so the
  // perturbation stays zero-mean (AlexNet applies it before normalisation, unclamped).
  template <class T>
  void apply(const params& p, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    if (in.channels() != 3)
      throw shape_error("pca_lighting: needs 3 (RGB) channels, the image has " + std::to_string(in.channels()));
    out.reshape(in.height(), in.width(), 3);
    if (in.empty()) return;
    const Eigen::Vector3d shift = offset(p) * pixel_traits<T>::max;
    const double add[3] = {shift[0], shift[1], shift[2]};
    if constexpr (std::is_same_v<T, std::uint8_t>) {  // 768 table entries replace a rounding per value
      std::array<std::array<std::uint8_t, 256>, 3> table;
      for (int c = 0; c < 3; ++c)
        for (int v = 0; v < 256; ++v) table[c][v] = pixel_traits<T>::from(v + add[c]);
      for (std::int64_t y = 0; y < in.height(); ++y) {
        T* dst = &out(y, 0, 0);
        for (std::int64_t x = 0; x < in.width(); ++x)
          for (int c = 0; c < 3; ++c) dst[3 * x + c] = table[c][in(y, x, c)];
      }
      return;
    }
    for (std::int64_t y = 0; y < in.height(); ++y) {
      T* dst = &out(y, 0, 0);
      for (std::int64_t x = 0; x < in.width(); ++x)
        for (int c = 0; c < 3; ++c) dst[3 * x + c] = pixel_traits<T>::from(double(in(y, x, c)) + add[c]);
    }
  }

 private:
  pca_basis basis_;
  double sigma_;
};

static_assert(Augmentation<pca_lighting>, "pca_lighting must satisfy strata::augment::Augmentation");

}  // namespace strata::augment
