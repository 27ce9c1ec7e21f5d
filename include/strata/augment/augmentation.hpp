// strata/augment/augmentation.hpp — the contract every augmentation meets (concept
// Augmentation): parameters sampled once from a random engine and the input size, then applied
// to the pixels and, the same way, to target points and boxes; plus augment(), which does both
// steps for one image.
#pragma once

#include <algorithm>
#include <concepts>
#include <type_traits>
#include <cstdint>

#include "strata/core/random.hpp"
#include "strata/image/image.hpp"

namespace strata::augment {

// Image coordinates: x along a row, y down the columns, pixel centres on integers — pixel (row
// y, column x) is the point (x, y); the image covers [−½, W − ½] × [−½, H − ½].
struct point {
  double x = 0, y = 0;
  friend bool operator==(const point&, const point&) = default;
};
// An axis-aligned box by its corners (x0 ≤ x1, y0 ≤ y1), in the same coordinates.
struct box {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  friend bool operator==(const box&, const box&) = default;
};

// A: sample(rng, input size) → params (every random choice, made once); output_size(params,
// input size); apply(params, input view, output image) for any pixel type; map(params, input
// size, point) → where that point of the input lands in the output.
template <class A>
concept Augmentation = requires(const A& a, random_engine& rng, const typename A::params& p, image_size s, point q,
                                image_view<const float> in, image<float>& out) {
  { a.sample(rng, s) } -> std::same_as<typename A::params>;
  { a.output_size(p, s) } -> std::same_as<image_size>;
  a.apply(p, in, out);
  { a.map(p, s, q) } -> std::same_as<point>;
};

// Samples a's parameters for `in`, applies them into `out`, and returns them (to map targets).
template <Augmentation A, class T>
typename A::params augment(const A& a, image_view<const std::type_identity_t<T>> in, image<T>& out, random_engine& rng) {
  auto p = a.sample(rng, in.size());
  a.apply(p, in, out);
  return p;
}

// A box's image: the bounding box of its four mapped corners (exact for flips, crops, scales and
// translations; the enclosing box for rotations, shears and lens distortion).
template <Augmentation A>
box map_box(const A& a, const typename A::params& p, image_size in, const box& b) {
  const point c[4] = {a.map(p, in, {b.x0, b.y0}), a.map(p, in, {b.x1, b.y0}), a.map(p, in, {b.x0, b.y1}),
                      a.map(p, in, {b.x1, b.y1})};
  box r{c[0].x, c[0].y, c[0].x, c[0].y};
  for (const auto& q : c) {
    r.x0 = std::min(r.x0, q.x), r.x1 = std::max(r.x1, q.x);
    r.y0 = std::min(r.y0, q.y), r.y1 = std::max(r.y1, q.y);
  }
  return r;
}

}  // namespace strata::augment
