// Test-time augmentation: ten_crop's windows and mirrors, multi_scale's sizes, and
// evaluate_tta, which with a single identity view must agree with plain evaluate().
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "strata/augment/noise.hpp"
#include "strata/augment/test_time.hpp"
#include "strata/data/dataset.hpp"
#include "strata/layers/dense.hpp"
#include "strata/layers/relu.hpp"
#include "strata/net/model.hpp"
#include "strata/train/evaluate_tta.hpp"

using namespace strata;

namespace {
image<std::uint8_t> numbered(std::int64_t h, std::int64_t w) {  // pixel (y, x) = y·w + x
  image<std::uint8_t> im(h, w, 1);
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x) im(y, x) = std::uint8_t(y * w + x);
  return im;
}
}  // namespace

TEST_CASE("ten_crop takes the corners and the centre, then their mirror images", "[augment][tta]") {
  const auto im = numbered(6, 8);
  const auto v = augment::ten_crop<std::uint8_t>(im.view(), 4, 4);
  REQUIRE(v.size() == 10);
  for (const auto& c : v) CHECK((c.height() == 4 && c.width() == 4));
  CHECK(v[0](0, 0) == im(0, 0));
  CHECK(v[1](0, 0) == im(0, 4));
  CHECK(v[2](0, 0) == im(2, 0));
  CHECK(v[3](3, 3) == im(5, 7));
  CHECK(v[4](0, 0) == im(1, 2));
  for (int i = 0; i < 5; ++i)
    for (std::int64_t y = 0; y < 4; ++y)
      for (std::int64_t x = 0; x < 4; ++x) CHECK(v[std::size_t(i + 5)](y, x) == v[std::size_t(i)](y, 3 - x));
  CHECK_THROWS_WITH(augment::ten_crop<std::uint8_t>(im.view(), 7, 4), Catch::Contains("does not fit"));
}

TEST_CASE("multi_scale gives ten crops per scale", "[augment][tta]") {
  image<float> im(30, 40, 3, 0.5f);
  const auto v = augment::multi_scale<float>(im.view(), {24, 32}, 24, 24);
  REQUIRE(v.size() == 20);
  for (const auto& c : v) {
    CHECK((c.height() == 24 && c.width() == 24 && c.channels() == 3));
    CHECK(c(12, 12, 1) == Approx(0.5f));
  }
  CHECK_THROWS_WITH(augment::multi_scale<float>(im.view(), {20}, 24, 24), Catch::Contains("smaller than"));
}

TEST_CASE("evaluate_tta with one identity view agrees with evaluate", "[augment][tta][train]") {
  data::labelled_images set{Tensor<float, 4>(Shape{40, 1, 3, 3}), Tensor<std::int32_t, 1>(Shape<1>{40}), 3};
  fill_uniform(set.images, 0, 1, 9);
  for (std::int64_t i = 0; i < 40; ++i) set.labels(i) = std::int32_t(i % 3);
  data::idx_dataset<float> dataset(data::labelled_images{set.images.clone(), set.labels.clone(), 3});
  using Net = Sequential<Input<1, 3, 3>, Dense<6>, ReLU, Dense<3>>;
  Model<Net> model(4);
  const auto plain = train::evaluate(model, set);
  const auto tta = train::evaluate_tta(model, dataset, [](image_view<const float> v) {
    return std::vector<image<float>>{image<float>(v)};
  }, {.batch_size = 7});
  CHECK(tta.samples == 40);
  CHECK(tta.accuracy == Approx(plain.accuracy));
  CHECK(tta.loss == Approx(plain.loss).epsilon(1e-5));
  // Several noisy views: a valid evaluation whose loss differs from the clean one.
  const auto noisy = train::evaluate_tta(model, dataset, [](image_view<const float> v) {
    return augment::noise_views(augment::gaussian_noise{0.2}, v, 4, 1);
  });
  CHECK(noisy.samples == 40);
  CHECK(noisy.loss != Approx(plain.loss).epsilon(1e-6));
}
