// compose, random_apply and one_of: chained sizes (each part samples for the size the previous
// ones produce), chained pixels equal to applying the parts by hand (2, 3, 4 parts and nested, so
// both buffer parities), chained point maps, p = 0 / p = 1 / p frequencies, one_of's uniform
// choice and dispatch, and the same seed giving the same output.
#include <array>
#include <cmath>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "support/images.hpp"
#include "strata/augment/compose.hpp"  // first: it also stands alone
#include "strata/augment/color_jitter.hpp"
#include "strata/augment/noise.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::random_image;
using strata::testing::sigmas;
using namespace strata::augment;

namespace {

// A crop of fixed offset and size: changes the image size and moves points.
struct fixed_crop {
  struct params {};
  std::int64_t y0, x0, h, w;
  params sample(random_engine&, image_size) const { return {}; }
  image_size output_size(const params&, image_size in) const {
    if (y0 + h > in.height || x0 + w > in.width) throw shape_error("fixed_crop: does not fit");
    return {h, w};
  }
  template <class T>
  void apply(const params&, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    const auto v = in.crop(y0, x0, h, w);
    out.reshape(h, w, in.channels());
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x)
        for (std::int64_t c = 0; c < in.channels(); ++c) out(y, x, c) = v(y, x, c);
  }
  point map(const params&, image_size, point q) const { return {q.x - double(x0), q.y - double(y0)}; }
};

// A crop of fixed size at a random offset, sampled from the size it is given.
struct random_crop {
  struct params {
    std::int64_t y0 = 0, x0 = 0;
  };
  std::int64_t h, w;
  params sample(random_engine& rng, image_size in) const {
    if (in.height < h || in.width < w) throw shape_error("random_crop: does not fit");
    return {std::int64_t(rng.below(std::uint32_t(in.height - h + 1))), std::int64_t(rng.below(std::uint32_t(in.width - w + 1)))};
  }
  image_size output_size(const params&, image_size) const { return {h, w}; }
  template <class T>
  void apply(const params& p, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    fixed_crop{p.y0, p.x0, h, w}.apply(fixed_crop::params{}, in, out);
  }
  point map(const params& p, image_size, point q) const { return {q.x - double(p.x0), q.y - double(p.y0)}; }
};

// A horizontal flip: its map needs the size it is given (x → W − 1 − x).
struct mirror {
  struct params {};
  params sample(random_engine&, image_size) const { return {}; }
  image_size output_size(const params&, image_size in) const { return in; }
  template <class T>
  void apply(const params&, image_view<const std::type_identity_t<T>> in, image<T>& out) const {
    out.reshape(in.height(), in.width(), in.channels());
    for (std::int64_t y = 0; y < in.height(); ++y)
      for (std::int64_t x = 0; x < in.width(); ++x)
        for (std::int64_t c = 0; c < in.channels(); ++c) out(y, in.width() - 1 - x, c) = in(y, x, c);
  }
  point map(const params&, image_size in, point q) const { return {double(in.width - 1) - q.x, q.y}; }
};

static_assert(Augmentation<fixed_crop> && Augmentation<random_crop> && Augmentation<mirror>);
static_assert(Augmentation<compose<fixed_crop, color_jitter>>);
static_assert(Augmentation<random_apply<gaussian_noise>>);
static_assert(Augmentation<one_of<fixed_crop, fixed_crop, salt_and_pepper>>);
static_assert(Augmentation<compose<compose<fixed_crop, random_crop>, one_of<color_jitter, random_apply<gaussian_noise>>>>);

// The parts of a compose applied one by one, by hand, with the params it sampled.
template <class... A, class T>
image<T> by_hand(const compose<A...>& c, const typename compose<A...>::params& p, const image<T>& in) {
  image<T> current = in;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((void)[&] {
      image<T> next;
      std::get<I>(c.parts()).apply(std::get<I>(p), current.view(), next);
      current = std::move(next);
    }(), ...);
  }(std::index_sequence_for<A...>{});
  return current;
}

}  // namespace

TEST_CASE("compose chains output sizes, and each part samples for the size before it", "[augment][compose]") {
  const compose chain(fixed_crop{2, 3, 20, 30}, random_crop{10, 10});
  random_engine rng(1);
  std::int64_t max_x0 = 0, max_y0 = 0;
  for (int i = 0; i < 2000; ++i) {
    const auto p = chain.sample(rng, {40, 50});
    max_y0 = std::max(max_y0, std::get<1>(p).y0), max_x0 = std::max(max_x0, std::get<1>(p).x0);
    REQUIRE(chain.output_size(p, {40, 50}) == image_size{10, 10});
  }
  // random_crop saw 20×30 (offsets up to 10 and 20), not 40×50 (up to 30 and 40).
  CHECK(max_y0 == 10);
  CHECK(max_x0 == 20);
  CHECK_THROWS_AS(chain.sample(rng, {10, 10}), shape_error);  // the parts' own checks still run
}

TEST_CASE("compose applies the parts in order, as applying them by hand does", "[augment][compose]") {
  const auto img = random_image<std::uint8_t>(40, 50, 3, 2);
  random_engine rng(3);
  image<std::uint8_t> out;

  SECTION("two crops: pixels and points land where both offsets put them") {
    const compose chain(fixed_crop{2, 3, 20, 30}, random_crop{10, 12});
    const auto p = chain.sample(rng, img.size());
    chain.apply(p, img.view(), out);
    REQUIRE(out.size() == image_size{10, 12});
    const std::int64_t dy = 2 + std::get<1>(p).y0, dx = 3 + std::get<1>(p).x0;
    bool same = true;
    for (std::int64_t y = 0; y < 10; ++y)
      for (std::int64_t x = 0; x < 12; ++x)
        for (int c = 0; c < 3; ++c) same = same && out(y, x, c) == img(y + dy, x + dx, c);
    CHECK(same);
    const point q = chain.map(p, img.size(), {17.5, 9.25});
    CHECK(q.x == 17.5 - double(dx));
    CHECK(q.y == 9.25 - double(dy));
    const box b = map_box(chain, p, img.size(), {10, 10, 20, 12});
    CHECK(b == box{10.0 - double(dx), 10.0 - double(dy), 20.0 - double(dx), 12.0 - double(dy)});
  }
  SECTION("a crop then a flip: the flip maps with the cropped width, and a marked pixel lands where map says") {
    const compose chain(fixed_crop{2, 3, 20, 30}, mirror{});
    image<std::uint8_t> marked(40, 50, 1, 0);
    marked(9, 17) = 255;
    const auto p = chain.sample(rng, marked.size());
    chain.apply(p, std::as_const(marked).view(), out);
    const point q = chain.map(p, marked.size(), {17, 9});
    CHECK(q == point{29 - (17 - 3), 9 - 2});
    CHECK(out(std::int64_t(q.y), std::int64_t(q.x)) == 255);
  }
  SECTION("three and four parts, mixing photometric and geometric ones, and a nested compose") {
    const compose three(color_jitter(0.4, 0.4, 0.4, 0.1), fixed_crop{1, 1, 30, 30}, gaussian_noise(0.05));
    const auto p3 = three.sample(rng, img.size());
    three.apply(p3, img.view(), out);
    CHECK(out == by_hand(three, p3, img));

    const compose four(fixed_crop{0, 5, 35, 40}, salt_and_pepper(0.1), random_crop{20, 20}, color_jitter(0.5, 0.5));
    const auto p4 = four.sample(rng, img.size());
    four.apply(p4, img.view(), out);
    CHECK(out == by_hand(four, p4, img));
    CHECK(out.size() == image_size{20, 20});

    const compose nested(compose(fixed_crop{1, 2, 30, 30}, gaussian_noise(0.1)), random_crop{16, 16}, color_jitter(0.3));
    const auto pn = nested.sample(rng, img.size());
    nested.apply(pn, img.view(), out);
    CHECK(out == by_hand(nested, pn, img));
    const point q = nested.map(pn, img.size(), {10, 10});
    CHECK(q.x == 10.0 - 2 - double(std::get<1>(pn).x0));
    CHECK(q.y == 10.0 - 1 - double(std::get<1>(pn).y0));
  }
  SECTION("every pixel type; a one-part compose is its part") {
    const compose chain(fixed_crop{0, 0, 8, 8}, color_jitter(0.2, 0.2, 0.2, 0.05), gaussian_noise(0.02));
    const auto f = random_image<float>(12, 12, 3, 4);
    const auto u16 = random_image<std::uint16_t>(12, 12, 3, 5);
    image<float> fout;
    image<std::uint16_t> uout;
    const auto p = chain.sample(rng, {12, 12});
    chain.apply(p, f.view(), fout);
    chain.apply(p, u16.view(), uout);
    CHECK(fout == by_hand(chain, p, f));
    CHECK(uout == by_hand(chain, p, u16));
    const compose single(gaussian_noise(0.1));
    const auto ps = single.sample(rng, img.size());
    single.apply(ps, img.view(), out);
    image<std::uint8_t> direct;
    gaussian_noise(0.1).apply(std::get<0>(ps), img.view(), direct);
    CHECK(out == direct);
  }
}

TEST_CASE("compose gives the same output for the same seed", "[augment][compose]") {
  const compose chain(random_crop{24, 24}, color_jitter(0.4, 0.4, 0.4, 0.1), random_apply(0.5, salt_and_pepper(0.05)));
  const auto img = random_image<std::uint8_t>(32, 32, 3, 6);
  image<std::uint8_t> a, b, c;
  random_engine r1(42), r2(42), r3(43);
  for (int i = 0; i < 5; ++i) {
    augment::augment(chain, img.view(), a, r1);
    augment::augment(chain, img.view(), b, r2);
    augment::augment(chain, img.view(), c, r3);
    CHECK(a == b);
    CHECK(!(a == c));
  }
}

TEST_CASE("random_apply: p = 0 is the identity, p = 1 always applies, else with frequency p", "[augment][compose]") {
  const auto img = random_image<std::uint8_t>(16, 20, 3, 7);
  random_engine rng(8);
  image<std::uint8_t> out;

  const random_apply never(0.0, fixed_crop{1, 1, 5, 5});
  for (int i = 0; i < 1000; ++i) {
    const auto p = never.sample(rng, img.size());
    REQUIRE(!p.applied);
    if (i == 0) {
      never.apply(p, img.view(), out);
      CHECK(out == img);
      CHECK(never.output_size(p, img.size()) == img.size());
      CHECK(never.map(p, img.size(), {3, 4}) == point{3, 4});
    }
  }
  const random_apply always(1.0, fixed_crop{1, 2, 5, 5});
  for (int i = 0; i < 1000; ++i) REQUIRE(always.sample(rng, img.size()).applied);
  const auto p = always.sample(rng, img.size());
  always.apply(p, img.view(), out);
  CHECK(out.size() == image_size{5, 5});
  CHECK(out(0, 0, 1) == img(1, 2, 1));
  CHECK(always.map(p, img.size(), {3, 4}) == point{1, 3});

  const random_apply sometimes(0.3, gaussian_noise(0.1));
  int applied = 0;
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) applied += sometimes.sample(rng, img.size()).applied;
  CHECK(sigmas(applied / double(draws), 0.3, std::sqrt(0.3 * 0.7 / draws)) <= 5);

  // A strided (planar) input is copied as it is when the part is skipped.
  const auto planar = strata::testing::planar_copy(img);
  never.apply(never.sample(rng, img.size()), image_view<const std::uint8_t>(planar.data(), 16, 20, 3, pixel_layout::chw), out);
  CHECK(out == img);
  CHECK_THROWS_AS(random_apply(1.5, gaussian_noise(0.1)), error);
}

TEST_CASE("one_of picks each part with equal frequency and dispatches to the one it picked", "[augment][compose]") {
  // Two parts of the same type stay distinct: the variant is indexed by position.
  const one_of choice(fixed_crop{0, 0, 4, 4}, fixed_crop{1, 1, 6, 6}, color_jitter(0.5));
  const auto img = random_image<std::uint8_t>(10, 10, 3, 9);
  random_engine rng(10);
  std::array<int, 3> picks{};
  const int draws = 30000;
  image<std::uint8_t> out;
  for (int i = 0; i < draws; ++i) {
    const auto p = choice.sample(rng, img.size());
    ++picks[p.which()];
    if (i < 30) {
      const image_size expected[3] = {{4, 4}, {6, 6}, {10, 10}};
      const point expected_point[3] = {{5, 5}, {4, 4}, {5, 5}};
      CHECK(choice.output_size(p, img.size()) == expected[p.which()]);
      CHECK(choice.map(p, img.size(), {5, 5}) == expected_point[p.which()]);
      choice.apply(p, img.view(), out);
      CHECK(out.size() == expected[p.which()]);
    }
  }
  for (int n : picks) CHECK(sigmas(n / double(draws), 1.0 / 3, std::sqrt(2.0 / 9 / draws)) <= 5);

  // Same seed, same choice and output.
  random_engine r1(5), r2(5);
  image<std::uint8_t> a, b;
  for (int i = 0; i < 10; ++i) {
    augment::augment(choice, img.view(), a, r1);
    augment::augment(choice, img.view(), b, r2);
    CHECK(a == b);
  }
}
