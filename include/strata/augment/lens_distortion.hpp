// strata/augment/lens_distortion.hpp — radial lens distortion about the image centre (the
// polynomial Brown–Conrady model, k1 and k2): radial_distortion, the point-mapping functor both
// ways, and lens_distortion, the augmentation that warps by it with random k1, k2.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "strata/augment/augmentation.hpp"
#include "strata/augment/warp.hpp"
#include "strata/core/error.hpp"

namespace strata::augment {

// With c the image centre, R its half-diagonal (√(W² + H²) / 2, so r ≤ 1 over the whole image)
// and r = |d − c| / R for an output point d, the output shows the input at
//     s = c + (d − c)·(1 + k1·r² + k2·r⁴).
// k > 0 reads further out the further from the centre: content is squeezed towards the edges,
// barrel distortion (straight lines bow outwards); k < 0 gives pincushion distortion.
struct radial_distortion {
  point centre;
  double radius = 1;  // the half-diagonal R
  double k1 = 0, k2 = 0;

  static radial_distortion for_image(image_size s, double k1, double k2) noexcept {
    return {{double(s.width - 1) / 2, double(s.height - 1) / 2},
            std::sqrt(double(s.width) * double(s.width) + double(s.height) * double(s.height)) / 2, k1, k2};
  }

  // Output point → the input point it shows (the warp's inverse map).
  point source_of(point d) const noexcept {
    const double dx = d.x - centre.x, dy = d.y - centre.y;
    const double r2 = (dx * dx + dy * dy) / (radius * radius);
    const double f = 1 + k1 * r2 + k2 * r2 * r2;
    return {centre.x + dx * f, centre.y + dy * f};
  }
  point operator()(point d) const noexcept { return source_of(d); }

  // Input point → where it lands in the output: solves ρ_s = ρ·(1 + k1·ρ² + k2·ρ⁴) for the output
  // radius ρ by Newton's method from ρ = ρ_s, inside the bracket its own steps establish, bisecting
  // when a step would leave it. Where the radial function is increasing (lens_distortion checks
  // this over the image) that converges to ~1e-15 relative (1e-12 px) in under 10 steps for
  // moderate k; the loop stops after 60. With k < 0 some input points are shown by no output
  // pixel (ρ_s beyond the function's maximum): they get an approximate point, not an error.
  point destination_of(point s) const noexcept {
    const double sx = s.x - centre.x, sy = s.y - centre.y;
    const double rho_s = std::sqrt(sx * sx + sy * sy) / radius;
    if (rho_s == 0 || (k1 == 0 && k2 == 0)) return s;
    auto excess = [&](double rho) { return rho * (1 + k1 * rho * rho + k2 * rho * rho * rho * rho) - rho_s; };
    auto slope = [&](double rho) { return 1 + 3 * k1 * rho * rho + 5 * k2 * rho * rho * rho * rho; };
    double lo = 0, hi = INFINITY, rho = rho_s;
    for (int i = 0; i < 60; ++i) {
      const double f = excess(rho);
      if (f == 0) break;
      (f < 0 ? lo : hi) = rho;
      const double d = slope(rho);
      double next = d > 0 ? rho - f / d : NAN;
      if (!(next > lo && next < hi)) {
        if (hi == INFINITY) break;  // past the function's maximum with no bracket: ρ_s is out of reach
        next = (lo + hi) / 2;
      }
      const bool converged = std::abs(next - rho) <= 1e-15 * rho;
      rho = next;
      if (converged) break;
    }
    const double scale = rho / rho_s;
    return {centre.x + sx * scale, centre.y + sy * scale};
  }
};

// Random radial distortion: k1 and k2 drawn uniformly from their ranges (e.g. k1 ∈ [−0.2, 0.2]);
// output size = input size. Both ranges must keep the radial function increasing over the image
// (1 + 3·k1·r² + 5·k2·r⁴ > 0 for r ≤ 1), or the warp would fold the image over itself.
struct lens_distortion {
  uniform_range k1{0, 0}, k2{0, 0};
  interpolation interp = interpolation::bilinear;
  border_mode border = border_mode::constant;
  double fill = 0;  // the constant border's value, in pixel units

  struct params {
    double k1 = 0, k2 = 0;
  };

  params sample(random_engine& rng, image_size) const {
    validate();
    const double a = k1.sample(rng);
    return {a, k2.sample(rng)};
  }
  image_size output_size(const params&, image_size in) const { return in; }
  template <class T>
  void apply(const params& p, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    warp(in, out, in.size(), radial_distortion::for_image(in.size(), p.k1, p.k2), interp, border, fill);
  }
  point map(const params& p, image_size in, point a) const {
    return radial_distortion::for_image(in, p.k1, p.k2).destination_of(a);
  }

  void validate() const {
    if (!(k1.min <= k1.max) || !(k2.min <= k2.max))
      throw error("lens_distortion: ranges k1 [" + std::to_string(k1.min) + ", " + std::to_string(k1.max) + "], k2 [" +
                  std::to_string(k2.min) + ", " + std::to_string(k2.max) + "] need min ≤ max");
    // The slope 1 + 3·k1·u + 5·k2·u² (u = r² ∈ [0, 1]) is linear in (k1, k2): its minimum over the
    // ranges is at a corner, and over u at an end or the vertex.
    for (double a : {k1.min, k1.max})
      for (double b : {k2.min, k2.max}) {
        double worst = std::min(1.0, 1 + 3 * a + 5 * b);
        if (b > 0) {
          const double u = -3 * a / (10 * b);
          if (u > 0 && u < 1) worst = std::min(worst, 1 + 3 * a * u + 5 * b * u * u);
        }
        if (!(worst > 0))
          throw error("lens_distortion: k1 = " + std::to_string(a) + ", k2 = " + std::to_string(b) +
                      " fold the image (the radial map 1 + k1·r² + k2·r⁴ must keep r·(…) increasing for r ≤ 1)");
      }
  }
};

static_assert(Augmentation<lens_distortion>);

}  // namespace strata::augment
