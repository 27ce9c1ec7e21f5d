// strata/augment/affine.hpp — affine transforms: affine_matrix (dst = A·src + t) with builders for
// translation, rotation, scaling (stretching) and shearing about a point, composition and inverse;
// random_affine, one warp for all of them, and its single-purpose configurations random_translate,
// random_rotate, random_stretch and random_shear.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <type_traits>
#include <utility>

#include "strata/augment/augmentation.hpp"
#include "strata/augment/warp.hpp"
#include "strata/core/error.hpp"

namespace strata::augment {

// The forward map x' = xx·x + xy·y + tx, y' = yx·x + yy·y + ty, in image coordinates (x right,
// y down, pixel centres on integers). A functor: m(p) is where p goes.
struct affine_matrix {
  double xx = 1, xy = 0, tx = 0;
  double yx = 0, yy = 1, ty = 0;

  point operator()(point p) const noexcept { return {xx * p.x + xy * p.y + tx, yx * p.x + yy * p.y + ty}; }

  // (a * b)(p) = a(b(p)): b first, then a.
  friend affine_matrix operator*(const affine_matrix& a, const affine_matrix& b) noexcept {
    return {a.xx * b.xx + a.xy * b.yx, a.xx * b.xy + a.xy * b.yy, a.xx * b.tx + a.xy * b.ty + a.tx,
            a.yx * b.xx + a.yy * b.yx, a.yx * b.xy + a.yy * b.yy, a.yx * b.tx + a.yy * b.ty + a.ty};
  }
  friend bool operator==(const affine_matrix&, const affine_matrix&) = default;

  double determinant() const noexcept { return xx * yy - xy * yx; }
};

// The map that undoes m; throws for a singular (or nearly singular) matrix.
inline affine_matrix inverse(const affine_matrix& m) {
  const double det = m.determinant();
  const double scale = std::abs(m.xx) + std::abs(m.xy) + std::abs(m.yx) + std::abs(m.yy);
  if (!(std::abs(det) > 1e-12 * scale * scale))
    throw error("affine_matrix inverse: the matrix [[" + std::to_string(m.xx) + ", " + std::to_string(m.xy) + "], [" +
                std::to_string(m.yx) + ", " + std::to_string(m.yy) + "]] is singular (determinant " +
                std::to_string(det) + ")");
  const double xx = m.yy / det, xy = -m.xy / det, yx = -m.yx / det, yy = m.xx / det;
  return {xx, xy, -(xx * m.tx + xy * m.ty), yx, yy, -(yx * m.tx + yy * m.ty)};
}

// m conjugated by a translation, so that it acts about `about` instead of the origin.
inline affine_matrix about_point(const affine_matrix& m, point about) noexcept {
  const affine_matrix to_origin{1, 0, -about.x, 0, 1, -about.y}, back{1, 0, about.x, 0, 1, about.y};
  return back * m * to_origin;
}

inline affine_matrix translation(double dx, double dy) noexcept { return {1, 0, dx, 0, 1, dy}; }

// Rotation by `degrees` counter-clockwise as seen on screen (y points down, so this is the
// clockwise rotation of the y-up plane; the same sense as OpenCV's getRotationMatrix2D and
// torchvision's rotate).
inline affine_matrix rotation(double degrees, point about = {}) noexcept {
  const double r = degrees * std::numbers::pi / 180, c = std::cos(r), s = std::sin(r);
  return about_point({c, s, 0, -s, c, 0}, about);
}

// Scaling by sx along x and sy along y (sx ≠ sy stretches).
inline affine_matrix scaling(double sx, double sy, point about = {}) noexcept {
  return about_point({sx, 0, 0, 0, sy, 0}, about);
}

// Shearing: x' = x + tan(shx)·(y − about.y) and y' = y + tan(shy)·(x − about.x), angles in degrees.
inline affine_matrix shearing(double shx_degrees, double shy_degrees, point about = {}) noexcept {
  const double kx = std::tan(shx_degrees * std::numbers::pi / 180), ky = std::tan(shy_degrees * std::numbers::pi / 180);
  return about_point({1, kx, 0, ky, 1, 0}, about);
}

// The centre of an image: the point equidistant from its first and last pixel centres.
inline point image_centre(image_size s) noexcept { return {double(s.width - 1) / 2, double(s.height - 1) / 2}; }

// An affine warp by a fixed, known forward matrix (out has the input's size).
template <class T>
void warp_affine(image_view<const std::type_identity_t<T>> in, image<T>& out, const affine_matrix& forward,
                 interpolation interp = interpolation::bilinear, border_mode border = border_mode::constant,
                 double fill = 0) {
  warp(in, out, in.size(), inverse(forward), interp, border, fill);
}

// Random translate, rotate, stretch and shear in one warp; the output has the input's size. Draws,
// each uniform: a shift up to ±max_translate_fraction of the width (x) and height (y); an angle
// in ±max_rotate_degrees; scale factors from scale_x and scale_y (one draw for both when
// same_scale, i.e. zoom without stretch); x and y shear angles in ±max_shear_degrees. The forward
// map is translate · rotate · shear · scale, the last three about the image centre.
struct random_affine {
  double max_translate_fraction = 0;
  double max_rotate_degrees = 0;
  uniform_range scale_x{1, 1}, scale_y{1, 1};
  bool same_scale = false;
  double max_shear_degrees = 0;
  interpolation interp = interpolation::bilinear;
  border_mode border = border_mode::constant;
  double fill = 0;  // the constant border's value, in pixel units

  struct params {
    affine_matrix forward;  // input point → output point
  };

  params sample(random_engine& rng, image_size in) const {
    validate();
    const double dx = uniform_range{-max_translate_fraction, max_translate_fraction}.sample(rng) * double(in.width);
    const double dy = uniform_range{-max_translate_fraction, max_translate_fraction}.sample(rng) * double(in.height);
    const double angle = uniform_range{-max_rotate_degrees, max_rotate_degrees}.sample(rng);
    const double sx = scale_x.sample(rng);
    const double sy_draw = scale_y.sample(rng);  // drawn even when unused: the stream stays aligned
    const double sy = same_scale ? sx : sy_draw;
    const double shx = uniform_range{-max_shear_degrees, max_shear_degrees}.sample(rng);
    const double shy = uniform_range{-max_shear_degrees, max_shear_degrees}.sample(rng);
    const point c = image_centre(in);
    return {translation(dx, dy) * rotation(angle, c) * shearing(shx, shy, c) * scaling(sx, sy, c)};
  }
  image_size output_size(const params&, image_size in) const { return in; }
  template <class T>
  void apply(const params& p, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    warp_affine(in, out, p.forward, interp, border, fill);
  }
  point map(const params& p, image_size, point a) const { return p.forward(a); }

  void validate() const {
    if (!(max_translate_fraction >= 0 && max_translate_fraction <= 1))
      throw error("random_affine: max_translate_fraction = " + std::to_string(max_translate_fraction) +
                  " must be in [0, 1]");
    if (!(max_rotate_degrees >= 0 && max_rotate_degrees <= 360))
      throw error("random_affine: max_rotate_degrees = " + std::to_string(max_rotate_degrees) + " must be in [0, 360]");
    for (const auto& [r, name] : {std::pair{scale_x, "scale_x"}, std::pair{scale_y, "scale_y"}})
      if (!(r.min > 0 && r.min <= r.max))
        throw error(std::string("random_affine: ") + name + " range [" + std::to_string(r.min) + ", " +
                    std::to_string(r.max) + "] must satisfy 0 < min ≤ max");
    if (!(max_shear_degrees >= 0 && max_shear_degrees < 90))
      throw error("random_affine: max_shear_degrees = " + std::to_string(max_shear_degrees) + " must be in [0, 90)");
  }
};

// Single-purpose configurations of random_affine.
inline random_affine random_translate(double max_fraction, border_mode border = border_mode::constant) {
  random_affine a;
  a.max_translate_fraction = max_fraction, a.border = border;
  return a;
}
inline random_affine random_rotate(double max_degrees, border_mode border = border_mode::constant) {
  random_affine a;
  a.max_rotate_degrees = max_degrees, a.border = border;
  return a;
}
// Independent x and y scale factors from [min_factor, max_factor]: changes the aspect ratio.
inline random_affine random_stretch(double min_factor, double max_factor, border_mode border = border_mode::constant) {
  random_affine a;
  a.scale_x = a.scale_y = {min_factor, max_factor}, a.border = border;
  return a;
}
inline random_affine random_shear(double max_degrees, border_mode border = border_mode::constant) {
  random_affine a;
  a.max_shear_degrees = max_degrees, a.border = border;
  return a;
}

static_assert(Augmentation<random_affine>);

}  // namespace strata::augment
