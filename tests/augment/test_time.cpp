// Test-time augmentation: ten_crop's windows and mirrors, multi_scale's sizes, and
// evaluate_tta, which with a single identity view must agree with plain evaluate().
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "strata/augment/noise.hpp"
#include "strata/augment/resize.hpp"
#include "strata/image/convert.hpp"
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
  // Distinct values per position and channel, so a wrong scale, window or mirror shows.
  image<float> im(30, 40, 3);
  for (std::int64_t y = 0; y < 30; ++y)
    for (std::int64_t x = 0; x < 40; ++x)
      for (std::int64_t c = 0; c < 3; ++c) im(y, x, c) = float(y * 40 + x) / 1200.0f + float(c);
  const std::vector<std::int64_t> sides{24, 32};
  const auto v = augment::multi_scale<float>(im.view(), sides, 24, 24);
  REQUIRE(v.size() == 20);
  for (std::size_t k = 0; k < sides.size(); ++k) {
    image<float> scaled;
    augment::resize_short_side(im.view(), scaled, sides[k]);
    CHECK(scaled.height() == sides[k]);
    const auto crops = augment::ten_crop<float>(scaled.view(), 24, 24);
    REQUIRE(crops.size() == 10);
    for (std::size_t i = 0; i < 10; ++i) {
      const auto& got = v[10 * k + i];
      INFO("scale " << sides[k] << ", view " << i);
      REQUIRE((got.height() == 24 && got.width() == 24 && got.channels() == 3));
      bool same = true;
      for (std::int64_t j = 0; j < got.values(); ++j) same = same && got.data()[j] == crops[i].data()[j];
      CHECK(same);
    }
  }
  // The two scales give different pixels for the same window (the centre crop, say).
  bool differ = false;
  for (std::int64_t j = 0; j < v[4].values(); ++j) differ = differ || v[4].data()[j] != v[14].data()[j];
  CHECK(differ);
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

namespace {
image<float> mirrored(image_view<const float> v) {
  image<float> m(v.height(), v.width(), v.channels());
  for (std::int64_t y = 0; y < v.height(); ++y)
    for (std::int64_t x = 0; x < v.width(); ++x)
      for (std::int64_t c = 0; c < v.channels(); ++c) m(y, x, c) = v(y, v.width() - 1 - x, c);
  return m;
}
}  // namespace

TEST_CASE("evaluate_tta averages each image's view probabilities, across batch boundaries", "[augment][tta][train]") {
  const std::int64_t n = 13;
  data::labelled_images set{Tensor<float, 4>(Shape{n, 1, 3, 3}), Tensor<std::int32_t, 1>(Shape<1>{n}), 3};
  fill_uniform(set.images, 0, 1, 19);
  for (std::int64_t i = 0; i < n; ++i) set.labels(i) = std::int32_t(i % 3);
  data::idx_dataset<float> dataset(data::labelled_images{set.images.clone(), set.labels.clone(), 3});
  using Net = Sequential<Input<1, 3, 3>, Dense<6>, ReLU, Dense<3>>;
  Model<Net> model(5);
  const std::vector<float> mean{0.25f}, sd{0.5f};
  const normalization norm{std::span<const float>(mean), std::span<const float>(sd)};
  auto two_views = [](image_view<const float> v) { return std::vector<image<float>>{image<float>(v), mirrored(v)}; };

  // By hand: each view through the model on its own, softmax in double, averaged per image.
  double loss = 0;
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto s = dataset.get(i);
    std::vector<double> p(3, 0.0);
    for (const auto& view : two_views(s.image.view())) {
      Tensor<float, 2> x(1, 9);
      to_chw(view.view(), x.data(), norm);
      const auto out = model.forward(x, false);
      double top = -INFINITY, total = 0;
      for (int k = 0; k < 3; ++k) top = std::max(top, double(out(0, k)));
      for (int k = 0; k < 3; ++k) total += std::exp(double(out(0, k)) - top);
      for (int k = 0; k < 3; ++k) p[std::size_t(k)] += std::exp(double(out(0, k)) - top) / total / 2;
    }
    const auto best = std::max_element(p.begin(), p.end()) - p.begin();
    correct += best == s.label;
    loss -= std::log(p[std::size_t(s.label)]);
  }
  // 5 views per batch: two whole images (4 views) per forward pass, the 13th image alone.
  for (std::int64_t batch : {5, 2, 256}) {
    INFO("batch_size " << batch);
    const auto tta = train::evaluate_tta(model, dataset, two_views, {.mean = mean, .stddev = sd, .batch_size = batch});
    CHECK(tta.samples == n);
    CHECK(tta.loss == Approx(loss / double(n)).epsilon(1e-5));
    CHECK(tta.accuracy == Approx(double(correct) / double(n)));
  }
  // The mirror really is a different view here: identity alone gives another loss.
  const auto identity = train::evaluate_tta(model, dataset, [](image_view<const float> v) {
    return std::vector<image<float>>{image<float>(v)};
  }, {.mean = mean, .stddev = sd});
  CHECK(identity.loss != Approx(loss / double(n)).epsilon(1e-6));
}

TEST_CASE("evaluate_tta rejects no views and views of different sizes", "[augment][tta][train]") {
  data::labelled_images set{Tensor<float, 4>(Shape{3, 1, 3, 3}), Tensor<std::int32_t, 1>(Shape<1>{3}), 3};
  data::idx_dataset<float> dataset(std::move(set));
  using Net = Sequential<Input<1, 3, 3>, Dense<6>, ReLU, Dense<3>>;
  Model<Net> model(6);
  CHECK_THROWS_WITH(train::evaluate_tta(model, dataset, [](image_view<const float>) { return std::vector<image<float>>{}; }),
                    Catch::Contains("no views"));
  CHECK_THROWS_WITH(train::evaluate_tta(model, dataset,
                                        [](image_view<const float> v) {
                                          return std::vector<image<float>>{image<float>(v), image<float>(2, 2, 1)};
                                        }),
                    Catch::Contains("different sizes"));
}
