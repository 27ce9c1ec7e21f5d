// Geometric augmentations: flips undo themselves; crops have their size and stay inside over many
// seeds; warps by known matrices match hand-computed pixels (shift, 90° turn, half-pixel blend);
// border modes; resize keeps constants and averages areas; lens distortion's identity and round
// trip; every augmentation moves a bright blob to where map() sends its centre; seeds reproduce;
// bad arguments name themselves.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "support/images.hpp"
#include "strata/augment/affine.hpp"  // first: it also stands alone
#include "strata/augment/crop.hpp"
#include "strata/augment/flip.hpp"
#include "strata/augment/lens_distortion.hpp"
#include "strata/augment/resize.hpp"
#include "strata/augment/warp.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::random_image;
using namespace strata::augment;

namespace {

// A dark float image with a Gaussian blob (σ = 1.2 px, peak 1) centred on `centre`, in every channel.
image<float> blob_image(image_size s, std::int64_t channels, point centre) {
  image<float> im(s.height, s.width, channels, 0.0f);
  for (std::int64_t y = 0; y < s.height; ++y)
    for (std::int64_t x = 0; x < s.width; ++x) {
      const double d2 = (double(x) - centre.x) * (double(x) - centre.x) + (double(y) - centre.y) * (double(y) - centre.y);
      for (std::int64_t c = 0; c < channels; ++c) im(y, x, c) = float(std::exp(-d2 / (2 * 1.2 * 1.2)));
    }
  return im;
}

// Intensity-weighted centroid of channel 0.
point centroid(const image<float>& im) {
  double sum = 0, sx = 0, sy = 0;
  for (std::int64_t y = 0; y < im.height(); ++y)
    for (std::int64_t x = 0; x < im.width(); ++x) {
      const double v = im(y, x, 0);
      sum += v, sx += v * double(x), sy += v * double(y);
    }
  REQUIRE(sum > 0);
  return {sx / sum, sy / sum};
}

template <class T>
point brightest_pixel(const image<T>& im) {
  point best{};
  T top = im(0, 0, 0);
  for (std::int64_t y = 0; y < im.height(); ++y)
    for (std::int64_t x = 0; x < im.width(); ++x)
      if (im(y, x, 0) > top) top = im(y, x, 0), best = {double(x), double(y)};
  return best;
}

double distance(point a, point b) { return std::hypot(a.x - b.x, a.y - b.y); }

// The input pixel whose image under map() lies nearest the output point at `fraction` of the
// output's width and height — a blob there lands well inside the output.
template <class A>
point source_landing_near(const A& a, const typename A::params& p, image_size in, point fraction) {
  const image_size out = a.output_size(p, in);
  const point goal{fraction.x * double(out.width - 1), fraction.y * double(out.height - 1)};
  point best{};
  double best_distance = INFINITY;
  for (std::int64_t y = 4; y < in.height - 4; ++y)
    for (std::int64_t x = 4; x < in.width - 4; ++x) {
      const double d = distance(a.map(p, in, {double(x), double(y)}), goal);
      if (d < best_distance) best_distance = d, best = {double(x), double(y)};
    }
  return best;
}

// The property that makes targets usable: a blob drawn at input point q ends up, after apply,
// centred where map(q) says. Checked at `fraction` of the output and near its four corners
// (a quarter of the way in), so an error in the scale, the centre or a half-pixel offset shows
// as a distance that grows towards the corners. The centroid of a symmetric σ = 1.2 px blob after
// bilinear or area resampling is accurate to a few hundredths of a pixel, so 0.2 px is room for
// that and for the curvature of non-affine maps, while the classic half-pixel-centre bug in a
// resize (a shift of ½(s − 1) px) and an off-by-½ centre in a rotation are larger.
template <class A>
void check_pixels_follow_points(const A& a, const typename A::params& p, image_size in, point fraction = {0.35, 0.6},
                                double tolerance = 0.2) {
  for (const point f : {fraction, point{0.25, 0.25}, point{0.75, 0.25}, point{0.25, 0.75}, point{0.75, 0.75}}) {
    const point q = source_landing_near(a, p, in, f);
    const image<float> source = blob_image(in, 2, q);
    image<float> out;
    a.apply(p, source.view(), out);
    REQUIRE(out.size() == a.output_size(p, in));
    REQUIRE(out.channels() == 2);
    const point expected = a.map(p, in, q), seen = centroid(out);
    INFO("output fraction (" << f.x << ", " << f.y << "): source (" << q.x << ", " << q.y << ") expected ("
                             << expected.x << ", " << expected.y << ") centroid (" << seen.x << ", " << seen.y << ")");
    CHECK(distance(seen, expected) < tolerance);
  }
}

template <class A, class T>
image<T> run(const A& a, const image<T>& in, std::uint64_t seed) {
  random_engine rng(seed);
  image<T> out;
  strata::augment::augment(a, in.view(), out, rng);
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE("flipping twice is the identity, flipping once mirrors", "[augment][flip]", std::uint8_t,
                   std::uint16_t, float) {
  for (std::int64_t channels : {1, 3, 5}) {
    const auto in = random_image<TestType>(7, 10, channels, 11 + std::uint64_t(channels));
    image<TestType> once, twice;
    horizontal_flip h{1.0};
    h.apply({true}, in.view(), once);
    h.apply({true}, once.view(), twice);
    CHECK(twice == in);
    CHECK(once(2, 0, channels - 1) == in(2, 9, channels - 1));
    vertical_flip v{1.0};
    v.apply({true}, in.view(), once);
    v.apply({true}, once.view(), twice);
    CHECK(twice == in);
    CHECK(once(0, 3, 0) == in(6, 3, 0));
    v.apply({false}, in.view(), once);
    CHECK(once == in);
  }
}

TEST_CASE("flips read planar (CHW) views like interleaved ones", "[augment][flip]") {
  const auto in = random_image<std::uint8_t>(5, 6, 3, 3);
  std::vector<std::uint8_t> planar(5 * 6 * 3);
  image_view<std::uint8_t> chw(planar.data(), 5, 6, 3, pixel_layout::chw);
  copy_pixels(in.view(), chw);
  image<std::uint8_t> a, b;
  horizontal_flip{}.apply({true}, in.view(), a);
  horizontal_flip{}.apply({true}, image_view<const std::uint8_t>(chw), b);
  CHECK(a == b);
}

TEST_CASE("flip probability: p = 0 never flips, p = 1 always, p = 0.5 both", "[augment][flip]") {
  int flipped = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    random_engine rng(seed);
    CHECK_FALSE(horizontal_flip{0.0}.sample(rng, {4, 4}).flipped);
    CHECK(vertical_flip{1.0}.sample(rng, {4, 4}).flipped);
    flipped += horizontal_flip{0.5}.sample(rng, {4, 4}).flipped;
  }
  CHECK(flipped > 60);
  CHECK(flipped < 140);
}

TEST_CASE("crops have the requested size and stay inside the image, over many seeds", "[augment][crop]") {
  const image_size in{45, 70};
  const auto pixels = random_image<std::uint8_t>(in.height, in.width, 3, 5);

  SECTION("center_crop") {
    const center_crop c{20, 31};
    random_engine rng(1);
    const auto p = c.sample(rng, in);
    CHECK(p.y0 == 12);
    CHECK(p.x0 == 19);
    image<std::uint8_t> out;
    c.apply(p, pixels.view(), out);
    CHECK(out.size() == image_size{20, 31});
    CHECK(out == image<std::uint8_t>(pixels.view().crop(12, 19, 20, 31)));
  }
  SECTION("random_crop without padding is a window of the input") {
    const random_crop c{32, 32};
    for (std::uint64_t seed = 0; seed < 300; ++seed) {
      random_engine rng(seed);
      const auto p = c.sample(rng, in);
      REQUIRE(p.y0 >= 0);
      REQUIRE(p.x0 >= 0);
      REQUIRE(p.y0 + 32 <= in.height);
      REQUIRE(p.x0 + 32 <= in.width);
      if (seed % 30 == 0) {
        image<std::uint8_t> out;
        c.apply(p, pixels.view(), out);
        REQUIRE(out == image<std::uint8_t>(pixels.view().crop(p.y0, p.x0, 32, 32)));
      }
    }
  }
  SECTION("random_crop with padding reaches every offset of the padded image and no further") {
    const random_crop c{40, 60, 4};
    std::int64_t lo_y = 99, hi_y = -99, lo_x = 99, hi_x = -99;
    for (std::uint64_t seed = 0; seed < 600; ++seed) {
      random_engine rng(seed);
      const auto p = c.sample(rng, in);
      lo_y = std::min(lo_y, p.y0), hi_y = std::max(hi_y, p.y0), lo_x = std::min(lo_x, p.x0), hi_x = std::max(hi_x, p.x0);
      REQUIRE(c.output_size(p, in) == image_size{40, 60});
    }
    CHECK(lo_y == -4);
    CHECK(hi_y == in.height + 4 - 40);
    CHECK(lo_x == -4);
    CHECK(hi_x == in.width + 4 - 60);
  }
  SECTION("resnet_scale_crop: L in [min, max], the patch inside the resized image") {
    const resnet_scale_crop c{36, 90, 32};
    std::int64_t lo = 999, hi = 0;
    for (std::uint64_t seed = 0; seed < 400; ++seed) {
      random_engine rng(seed);
      const auto p = c.sample(rng, in);
      const std::int64_t L = std::min(p.resized.height, p.resized.width);
      lo = std::min(lo, L), hi = std::max(hi, L);
      REQUIRE(L >= 36);
      REQUIRE(L <= 90);
      REQUIRE(p.resized == short_side_size(in, L));
      REQUIRE(p.y0 >= 0);
      REQUIRE(p.x0 >= 0);
      REQUIRE(p.y0 + 32 <= p.resized.height);
      REQUIRE(p.x0 + 32 <= p.resized.width);
      // map is exact: the patch's corners are the output's corners.
      const point corner = c.map(p, in, {double(p.x0) * 70.0 / double(p.resized.width) - 0.5,
                                         double(p.y0) * 45.0 / double(p.resized.height) - 0.5});
      REQUIRE(std::abs(corner.x + 0.5) < 1e-9);
      REQUIRE(std::abs(corner.y + 0.5) < 1e-9);
      if (seed % 50 == 0) {
        image<std::uint8_t> out;
        c.apply(p, pixels.view(), out);
        REQUIRE(out.size() == image_size{32, 32});
      }
    }
    CHECK(lo <= 40);
    CHECK(hi >= 86);
  }
  SECTION("random_resized_crop: window inside, area and aspect in range, output size × size") {
    const random_resized_crop c{24, {0.1, 0.9}, {0.5, 2.0}};
    for (std::uint64_t seed = 0; seed < 400; ++seed) {
      random_engine rng(seed);
      const auto p = c.sample(rng, in);
      REQUIRE(p.y0 >= 0);
      REQUIRE(p.x0 >= 0);
      REQUIRE(p.height > 0);
      REQUIRE(p.width > 0);
      REQUIRE(p.y0 + p.height <= in.height);
      REQUIRE(p.x0 + p.width <= in.width);
      const double area = double(p.height * p.width) / double(in.height * in.width);
      const double aspect = double(p.width) / double(p.height);
      REQUIRE(area > 0.1 * 0.8);  // rounding the sides to whole pixels moves both a little
      REQUIRE(area < 0.9 * 1.2);
      REQUIRE(aspect > 0.5 * 0.8);
      REQUIRE(aspect < 2.0 * 1.25);
      // map is exact: the window's outer edges are the output's.
      const point a = c.map(p, in, {double(p.x0) - 0.5, double(p.y0) - 0.5});
      const point b = c.map(p, in, {double(p.x0 + p.width) - 0.5, double(p.y0 + p.height) - 0.5});
      REQUIRE(std::abs(a.x + 0.5) < 1e-9);
      REQUIRE(std::abs(a.y + 0.5) < 1e-9);
      REQUIRE(std::abs(b.x - 23.5) < 1e-9);
      REQUIRE(std::abs(b.y - 23.5) < 1e-9);
      if (seed % 50 == 0) {
        image<std::uint8_t> out;
        c.apply(p, pixels.view(), out);
        REQUIRE(out.size() == image_size{24, 24});
      }
    }
  }
  SECTION("random_resized_crop falls back to the largest central window with an allowed aspect") {
    // Aspect 3–4 cannot cover 90 % of a 45×70 image: every draw fails.
    const random_resized_crop c{16, {0.9, 1.0}, {3.0, 4.0}};
    random_engine rng(3);
    const auto p = c.sample(rng, in);
    CHECK(p.width == 70);
    CHECK(p.height == 23);  // round(70 / 3)
    CHECK(p.y0 == 11);
    CHECK(p.x0 == 0);
  }
}

TEST_CASE("an integer translation is an exact shift", "[augment][affine]") {
  const auto in = random_image<std::uint8_t>(12, 15, 3, 7);
  image<std::uint8_t> out;
  warp_affine(in.view(), out, translation(3, -2));
  for (std::int64_t y = 0; y < 12; ++y)
    for (std::int64_t x = 0; x < 15; ++x)
      for (std::int64_t c = 0; c < 3; ++c) {
        const std::int64_t sy = y + 2, sx = x - 3;
        const std::uint8_t expected = (sy < 12 && sx >= 0) ? in(sy, sx, c) : 0;
        REQUIRE(out(y, x, c) == expected);
      }
}

TEMPLATE_TEST_CASE("a 90° rotation with nearest is an exact transpose-and-flip", "[augment][affine]", std::uint8_t,
                   float) {
  const std::int64_t n = 9;
  const auto in = random_image<TestType>(n, n, 2, 8);
  image<TestType> out;
  warp_affine(in.view(), out, rotation(90, image_centre({n, n})), interpolation::nearest);
  // Counter-clockwise on screen: input (x, y) goes to (y, n − 1 − x).
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t c = 0; c < 2; ++c) REQUIRE(out(i, j, c) == in(j, n - 1 - i, c));
  const point top_right = rotation(90, image_centre({n, n}))({double(n - 1), 0});
  CHECK(std::abs(top_right.x - 0) < 1e-12);
  CHECK(std::abs(top_right.y - 0) < 1e-12);
}

TEMPLATE_TEST_CASE("a bilinear half-pixel shift averages neighbours", "[augment][affine]", std::uint8_t, std::uint16_t,
                   float) {
  const auto in = random_image<TestType>(6, 11, 3, 9);
  image<TestType> out;
  warp_affine(in.view(), out, translation(0.5, 0));
  for (std::int64_t y = 0; y < 6; ++y)
    for (std::int64_t x = 1; x < 11; ++x)
      for (std::int64_t c = 0; c < 3; ++c) {
        const TestType expected = pixel_traits<TestType>::from((double(in(y, x - 1, c)) + double(in(y, x, c))) / 2);
        if constexpr (std::is_floating_point_v<TestType>)
          REQUIRE(std::abs(out(y, x, c) - expected) < 1e-6);
        else
          REQUIRE(out(y, x, c) == expected);
      }
}

TEST_CASE("affine matrices compose, invert, and rotate about their point", "[augment][affine]") {
  const point c{4.5, 3};
  const affine_matrix m = translation(2, -1) * rotation(30, c) * shearing(10, -5, c) * scaling(1.5, 0.75, c);
  const affine_matrix round_trip = inverse(m) * m;
  CHECK(std::abs(round_trip.xx - 1) < 1e-12);
  CHECK(std::abs(round_trip.xy) < 1e-12);
  CHECK(std::abs(round_trip.tx) < 1e-12);
  CHECK(std::abs(round_trip.ty) < 1e-12);
  const point p = rotation(37, c)(c);
  CHECK(std::abs(p.x - c.x) < 1e-12);
  CHECK(std::abs(p.y - c.y) < 1e-12);
  // Composition order: (a * b)(p) = a(b(p)).
  const point q{1, 2};
  const point composed = (translation(5, 0) * scaling(2, 2))(q), stepwise = translation(5, 0)(scaling(2, 2)(q));
  CHECK(composed == stepwise);
  CHECK(composed == point{7, 4});
}

TEST_CASE("border modes read the expected value out of range", "[augment][warp]") {
  // One row 10 20 30 40 50; sample (nearest) at x = −2 and x = 6.
  image<std::uint8_t> row(1, 5, 1);
  for (int x = 0; x < 5; ++x) row(0, x) = std::uint8_t(10 * (x + 1));
  auto sample_at = [&](double sx, border_mode mode, interpolation interp = interpolation::nearest) {
    image<std::uint8_t> out;
    warp(row.view(), out, {1, 1}, [sx](point) { return point{sx, 0}; }, interp, mode, 7);
    return int(out(0, 0));
  };
  CHECK(sample_at(-2, border_mode::constant) == 7);
  CHECK(sample_at(-2, border_mode::replicate) == 10);
  CHECK(sample_at(-2, border_mode::reflect) == 30);  // … 30 20 | 10 20 30 …
  CHECK(sample_at(6, border_mode::constant) == 7);
  CHECK(sample_at(6, border_mode::replicate) == 50);
  CHECK(sample_at(6, border_mode::reflect) == 30);  // … 40 50 | 40 30 …
  CHECK(sample_at(-13, border_mode::reflect) == 40);  // period 8: −13 ≡ 3
  // Bilinear half a pixel outside blends the edge pixel with the border's value.
  CHECK(sample_at(-0.5, border_mode::constant, interpolation::bilinear) == 9);  // (7 + 10) / 2 = 8.5 → 9
  CHECK(sample_at(-0.5, border_mode::replicate, interpolation::bilinear) == 10);
  CHECK(sample_at(-0.5, border_mode::reflect, interpolation::bilinear) == 15);  // (20 + 10) / 2

  SECTION("random_crop pads through the same modes") {
    const random_crop c{1, 5, 2, border_mode::reflect};
    image<std::uint8_t> out;
    c.apply({0, -2}, row.view(), out);  // window x ∈ [−2, 2]
    CHECK(int(out(0, 0)) == 30);
    CHECK(int(out(0, 1)) == 20);
    CHECK(int(out(0, 2)) == 10);
    const random_crop zero{1, 5, 2};
    zero.apply({0, -2}, row.view(), out);
    CHECK(int(out(0, 0)) == 0);
    CHECK(int(out(0, 4)) == 30);
  }
}

TEST_CASE("warp: a user functor, planar input and odd channel counts agree with the fast path", "[augment][warp]") {
  const auto in = random_image<std::uint8_t>(20, 24, 3, 10);
  std::vector<std::uint8_t> planar(20 * 24 * 3);
  image_view<std::uint8_t> chw(planar.data(), 20, 24, 3, pixel_layout::chw);
  copy_pixels(in.view(), chw);
  const affine_matrix back = inverse(rotation(17, {11, 9.5}) * scaling(1.2, 0.9, {11, 9.5}));
  auto user_map = [&back](point p) { return back(p); };
  for (auto mode : {border_mode::constant, border_mode::reflect, border_mode::replicate})
    for (auto interp : {interpolation::nearest, interpolation::bilinear}) {
      image<std::uint8_t> fast, strided;
      warp(in.view(), fast, {18, 26}, user_map, interp, mode, 3);
      warp(image_view<const std::uint8_t>(chw), strided, {18, 26}, user_map, interp, mode, 3);
      REQUIRE(fast == strided);
    }
  // Five channels (the generic loop) against channel 0 alone (the one-channel fast path).
  const auto five = random_image<float>(10, 12, 5, 12);
  const image<float> channel0(five.view().channel(0));
  image<float> all, first;
  warp(five.view(), all, {10, 12}, back);
  warp(channel0.view(), first, {10, 12}, back);
  for (std::int64_t y = 0; y < 10; ++y)
    for (std::int64_t x = 0; x < 12; ++x) REQUIRE(all(y, x, 0) == first(y, x, 0));
}

TEMPLATE_TEST_CASE("resizing a constant image keeps it constant", "[augment][resize]", std::uint8_t, std::uint16_t,
                   float) {
  const TestType value = pixel_traits<TestType>::from(0.7 * pixel_traits<TestType>::max);
  const image<TestType> in(37, 53, 3, value);
  for (image_size size : {image_size{37, 53}, image_size{80, 111}, image_size{20, 30}, image_size{9, 11},
                          image_size{5, 200}, image_size{1, 1}})
    for (auto interp : {interpolation::bilinear, interpolation::nearest}) {
      image<TestType> out;
      resize(in.view(), out, size, interp);
      REQUIRE(out.size() == size);
      for (std::int64_t i = 0; i < out.values(); ++i) {
        if constexpr (std::is_floating_point_v<TestType>)
          REQUIRE(std::abs(out.data()[i] - value) < 1e-6);
        else
          REQUIRE(out.data()[i] == value);
      }
    }
}

TEST_CASE("resize values: half-pixel bilinear upscaling, area averaging beyond 2× down", "[augment][resize]") {
  image<float> row(1, 2, 1);
  row(0, 0) = 0, row(0, 1) = 100;
  image<float> out;
  resize(row.view(), out, {1, 4});  // centres at −0.25, 0.25, 0.75, 1.25
  CHECK(out(0, 0) == Approx(0));
  CHECK(out(0, 1) == Approx(25));
  CHECK(out(0, 2) == Approx(75));
  CHECK(out(0, 3) == Approx(100));

  image<float> six(1, 6, 1);
  for (int x = 0; x < 6; ++x) six(0, x) = float(x * x);
  resize(six.view(), out, {1, 2});  // 3× down: means of (0, 1, 4) and (9, 16, 25)
  CHECK(out(0, 0) == Approx(5.0 / 3));
  CHECK(out(0, 1) == Approx(50.0 / 3));
  resize(six.view(), out, {1, 3});  // 2× down: bilinear between pixel pairs
  CHECK(out(0, 0) == Approx(0.5));
  CHECK(out(0, 2) == Approx(20.5));
  resize(six.view(), out, {1, 3}, interpolation::nearest);  // centres 1, 3, 5 of the edges → pixels 1, 3, 5
  CHECK(out(0, 1) == Approx(9));

  CHECK(short_side_size({375, 500}, 256) == image_size{256, 341});
  CHECK(short_side_size({500, 375}, 256) == image_size{341, 256});
  image<std::uint8_t> wide(30, 50, 1, 9), small;
  resize_short_side(wide.view(), small, 12);
  CHECK(small.size() == image_size{12, 20});
}

TEST_CASE("lens distortion with k1 = k2 = 0 is the identity", "[augment][lens]") {
  const auto in = random_image<std::uint8_t>(17, 23, 3, 13);
  image<std::uint8_t> out;
  const lens_distortion lens{};
  lens.apply({0, 0}, in.view(), out);
  CHECK(out == in);
  const point p = lens.map({0, 0}, in.size(), {3.25, 7.5});
  CHECK(p == point{3.25, 7.5});
}

TEST_CASE("lens distortion: map() inverts the warp's radial function to 1e-6", "[augment][lens]") {
  const image_size s{120, 160};
  for (auto [k1, k2] : {std::pair{0.3, -0.1}, std::pair{-0.2, 0.05}, std::pair{0.1, 0.1}, std::pair{-0.2, -0.05},
                        std::pair{0.5, 0.2}}) {
    const auto d = radial_distortion::for_image(s, k1, k2);
    for (double y = -0.5; y <= 119.5; y += 7.25)
      for (double x = -0.5; x <= 159.5; x += 9.5) {
        const point q{x, y};
        // With k < 0 the output shows only input radii up to 1 + k1 + k2: beyond, no output
        // point shows q and destination_of has nothing to find.
        const double rho = distance(q, d.centre) / d.radius;
        if (rho < 0.99 * (1 + k1 + k2)) {
          const point there = d.destination_of(q), back = d.source_of(there);
          REQUIRE(distance(back, q) < 1e-6);
        }
        const point src = d.source_of(q), forward = d.destination_of(src);
        REQUIRE(distance(forward, q) < 1e-6);
      }
    // The augmentation's map is the same function.
    const lens_distortion lens{{k1, k1}, {k2, k2}};
    const point m = lens.map({k1, k2}, s, {10, 20});
    REQUIRE(distance(m, d.destination_of({10, 20})) < 1e-12);
  }
  // k > 0 is barrel: output pixels near the corners read from further out, so content moves inwards.
  const auto barrel = radial_distortion::for_image(s, 0.2, 0);
  CHECK(barrel.destination_of({0, 0}).x > 0);
  CHECK(barrel.source_of({0, 0}).x < 0);
}

TEST_CASE("transforms applied to points land where the pixels went", "[augment][map]") {
  const image_size in{48, 64};
  SECTION("flips") {
    check_pixels_follow_points(horizontal_flip{}, {true}, in);
    check_pixels_follow_points(vertical_flip{}, {true}, in);
    // Exactly: the brightest pixel is the mapped one.
    const image<float> blob = blob_image(in, 1, {10, 30});
    image<float> out;
    horizontal_flip{}.apply({true}, blob.view(), out);
    CHECK(brightest_pixel(out) == horizontal_flip{}.map({true}, in, {10, 30}));
  }
  SECTION("crops") {
    check_pixels_follow_points(center_crop{30, 40}, center_crop{30, 40}.window(in), in);
    const random_crop rc{32, 32, 4};
    for (std::uint64_t seed = 0; seed < 4; ++seed) {
      random_engine rng(seed);
      const auto p = rc.sample(rng, in);
      check_pixels_follow_points(rc, p, in);
      const image<float> blob = blob_image(in, 1, {20, 20});
      image<float> out;
      rc.apply(p, blob.view(), out);
      const point m = rc.map(p, in, {20, 20});
      if (m.x >= 0 && m.y >= 0 && m.x < 32 && m.y < 32) CHECK(brightest_pixel(out) == m);
    }
    const resnet_scale_crop up{56, 90, 32};  // enlarges a 48-pixel short side
    const resnet_scale_crop down{12, 16, 12};  // shrinks 3–4× (the area path)
    const random_resized_crop rrc{40, {0.1, 0.5}, {0.6, 1.6}};
    for (std::uint64_t seed = 0; seed < 4; ++seed) {
      random_engine rng(100 + seed);
      check_pixels_follow_points(up, up.sample(rng, in), in);
      check_pixels_follow_points(down, down.sample(rng, in), in, {0.5, 0.5});
      check_pixels_follow_points(rrc, rrc.sample(rng, in), in);
    }
  }
  SECTION("resize") {
    check_pixels_follow_points(resize_to{{100, 90}}, {}, in);
    check_pixels_follow_points(resize_to{{30, 40}}, {}, in);
    check_pixels_follow_points(resize_to{{12, 14}}, {}, in, {0.5, 0.5});  // 4× down: area averaging
    // And exactly: with half-pixel centres the outer edges of the first and last pixels map onto
    // each other, and the centre onto the centre.
    for (const image_size to : {image_size{100, 90}, image_size{30, 40}, image_size{12, 14}}) {
      const resize_to r{to};
      INFO(to.height << "×" << to.width << " from " << in.height << "×" << in.width);
      const point lo = r.map({}, in, {-0.5, -0.5});
      const point hi = r.map({}, in, {double(in.width) - 0.5, double(in.height) - 0.5});
      const point mid = r.map({}, in, {double(in.width) / 2 - 0.5, double(in.height) / 2 - 0.5});
      CHECK(lo.x == Approx(-0.5).margin(1e-12));
      CHECK(lo.y == Approx(-0.5).margin(1e-12));
      CHECK(hi.x == Approx(double(to.width) - 0.5).margin(1e-12));
      CHECK(hi.y == Approx(double(to.height) - 0.5).margin(1e-12));
      CHECK(mid.x == Approx(double(to.width) / 2 - 0.5).margin(1e-12));
      CHECK(mid.y == Approx(double(to.height) / 2 - 0.5).margin(1e-12));
      // Pixel centre 0 lands at (0 + ½)·s − ½, not at 0·s.
      const point first = r.map({}, in, {0, 0});
      CHECK(first.x == Approx(0.5 * double(to.width) / double(in.width) - 0.5).margin(1e-12));
      CHECK(first.y == Approx(0.5 * double(to.height) / double(in.height) - 0.5).margin(1e-12));
    }
  }
  SECTION("affine") {
    random_affine a;
    a.max_translate_fraction = 0.1, a.max_rotate_degrees = 30, a.scale_x = {0.8, 1.3}, a.scale_y = {0.8, 1.3};
    a.max_shear_degrees = 15;
    for (std::uint64_t seed = 0; seed < 6; ++seed) {
      random_engine rng(seed);
      check_pixels_follow_points(a, a.sample(rng, in), in);
    }
    for (const random_affine& one : {random_translate(0.2), random_rotate(45), random_stretch(0.7, 1.4), random_shear(20)}) {
      random_engine rng(9);
      check_pixels_follow_points(one, one.sample(rng, in), in, {0.7, 0.3});
    }
  }
  SECTION("lens distortion") {
    const lens_distortion barrel{{0.3, 0.3}, {-0.05, -0.05}}, pincushion{{-0.25, -0.25}, {0, 0}};
    // Not affine: a warped blob's centroid moves off the image of its centre by about
    // ½·σ²·(the map's second derivative), ~0.2 px near the corners for these strong distortions,
    // so 0.3 px here (still below the ½-pixel errors the check is for).
    check_pixels_follow_points(barrel, {0.3, -0.05}, in, {0.2, 0.8}, 0.3);
    check_pixels_follow_points(pincushion, {-0.25, 0}, in, {0.8, 0.15}, 0.3);
  }
}

TEST_CASE("the same seed gives the same output, another seed another", "[augment][random]") {
  const auto in = random_image<std::uint8_t>(40, 50, 3, 21);
  random_affine a;
  a.max_translate_fraction = 0.1, a.max_rotate_degrees = 20, a.scale_x = a.scale_y = {0.9, 1.1}, a.max_shear_degrees = 5;
  a.same_scale = true;
  auto check = [&](const auto& aug) {
    CHECK(run(aug, in, 1) == run(aug, in, 1));
    CHECK_FALSE(run(aug, in, 1) == run(aug, in, 2));
  };
  check(a);
  check(random_crop{32, 32, 4, border_mode::reflect});
  check(resnet_scale_crop{30, 60, 24});
  check(random_resized_crop{24});
  check(lens_distortion{{-0.2, 0.2}, {-0.05, 0.05}});
  // A flip has only two outcomes: some seeds flip, some do not, each reproducibly.
  bool seen[2] = {false, false};
  for (std::uint64_t seed = 0; seed < 16; ++seed) {
    const auto out = run(horizontal_flip{}, in, seed);
    REQUIRE(out == run(horizontal_flip{}, in, seed));
    seen[out == in] = true;
  }
  CHECK(seen[0]);
  CHECK(seen[1]);
}

TEST_CASE("bad arguments throw and name the bad value", "[augment][errors]") {
  random_engine rng(0);
  using Catch::Matchers::Contains;
  REQUIRE_THROWS_WITH(center_crop(50, 20).sample(rng, {40, 40}), Contains("50×20") && Contains("40×40"));
  REQUIRE_THROWS_WITH(center_crop(0, 20).sample(rng, {40, 40}), Contains("height = 0"));
  REQUIRE_THROWS_WITH((random_crop{32, 32, -1}.sample(rng, {40, 40})), Contains("pad = -1"));
  REQUIRE_THROWS_WITH((random_crop{50, 32, 2}.sample(rng, {40, 40})), Contains("padded by 2"));
  REQUIRE_THROWS_WITH((resnet_scale_crop{256, 480, 300}.sample(rng, {500, 500})), Contains("crop = 300"));
  REQUIRE_THROWS_WITH((resnet_scale_crop{300, 280, 224}.sample(rng, {500, 500})), Contains("max_short = 280"));
  REQUIRE_THROWS_WITH((random_resized_crop{224, {0.0, 1.0}}.sample(rng, {50, 50})), Contains("area"));
  REQUIRE_THROWS_WITH((random_resized_crop{224, {0.08, 1.0}, {2.0, 1.0}}.sample(rng, {50, 50})), Contains("aspect"));
  REQUIRE_THROWS_WITH((random_resized_crop{0}.sample(rng, {50, 50})), Contains("size = 0"));
  REQUIRE_THROWS_WITH(horizontal_flip{1.5}.sample(rng, {4, 4}), Contains("1.5"));
  REQUIRE_THROWS_WITH(inverse(scaling(0, 1)), Contains("singular"));
  REQUIRE_THROWS_WITH((lens_distortion{{-1.0, 0.0}}.sample(rng, {40, 40})), Contains("k1 = -1") && Contains("fold"));
  random_affine bad;
  bad.scale_y = {0, 1};
  REQUIRE_THROWS_WITH(bad.sample(rng, {40, 40}), Contains("scale_y"));
  bad = random_affine{};
  bad.max_shear_degrees = 90;
  REQUIRE_THROWS_WITH(bad.sample(rng, {40, 40}), Contains("max_shear_degrees = 90"));
  image<std::uint8_t> in(10, 10, 1), out;
  REQUIRE_THROWS_WITH(resize(in.view(), out, {0, 5}), Contains("0×5"));
  REQUIRE_THROWS_WITH(resize_short_side(in.view(), out, -3), Contains("-3"));
  REQUIRE_THROWS_WITH(center_crop(8, 8).apply({4, 4}, in.view(), out), Contains("does not fit"));
  REQUIRE_THROWS_WITH((random_resized_crop{8}.apply({5, 5, 6, 6}, in.view(), out)), Contains("does not fit"));
}
