// image/convert.hpp: to_chw scales to [0, 1] and normalises per channel, (v/max − mean)/sd, into
// C×H×W order; from_chw inverts it (rounded and clamped for integer pixels), so a round trip
// gives back every pixel of u8, u16 and float images; mismatched normalisations are errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "strata/image/convert.hpp"
#include "support/images.hpp"
#include "support/testing.hpp"

using namespace strata;
using strata::testing::random_image;

namespace {

template <class T>
void check_round_trip(std::int64_t channels, std::uint64_t seed) {
  const auto img = random_image<T>(7, 9, channels, seed);
  std::vector<float> mean, sd;
  for (std::int64_t c = 0; c < channels; ++c) mean.push_back(0.1f + 0.2f * float(c)), sd.push_back(0.15f + 0.1f * float(c));
  const normalization norm{std::span<const float>(mean), std::span<const float>(sd)};
  std::vector<float> chw(static_cast<std::size_t>(img.values()));
  to_chw(img.view(), chw.data(), norm);
  // Layout and values: element c·H·W + y·W + x is (pixel/max − mean[c]) / sd[c].
  std::vector<double> got, want, scale;
  for (std::int64_t c = 0; c < channels; ++c)
    for (std::int64_t y = 0; y < 7; ++y)
      for (std::int64_t x = 0; x < 9; ++x) {
        const double v = double(img(y, x, c)) / pixel_traits<T>::max;
        got.push_back(chw[std::size_t((c * 7 + y) * 9 + x)]);
        want.push_back((v - mean[std::size_t(c)]) / sd[std::size_t(c)]);
        scale.push_back(8 * 0x1.0p-24 * (v + mean[std::size_t(c)]) / sd[std::size_t(c)]);  // a few fp32 roundings
      }
  CHECK(strata::testing::conditioned_error(got, want, scale) <= 1.0);
  image<T> back(7, 9, channels);
  from_chw(chw.data(), back.view(), norm);
  if constexpr (std::is_floating_point_v<T>) {
    std::vector<double> a, b;
    for (std::int64_t i = 0; i < img.values(); ++i) a.push_back(back.data()[i]), b.push_back(img.data()[i]);
    CHECK(strata::testing::max_abs_error(a, b) <= 1e-6);
  } else {
    CHECK(back == img);  // rounding to the nearest level undoes the fp32 error exactly
  }
  // Without normalisation too.
  to_chw(img.view(), chw.data());
  image<T> plain(7, 9, channels);
  from_chw(chw.data(), plain.view());
  if constexpr (!std::is_floating_point_v<T>) CHECK(plain == img);
}

}  // namespace

TEST_CASE("to_chw then from_chw gives back every pixel, for u8, u16 and float", "[image][convert]") {
  for (std::int64_t channels : {1, 3}) {
    check_round_trip<std::uint8_t>(channels, 1 + std::uint64_t(channels));
    check_round_trip<std::uint16_t>(channels, 11 + std::uint64_t(channels));
    check_round_trip<float>(channels, 21 + std::uint64_t(channels));
  }
}

TEST_CASE("from_chw rounds and clamps out-of-range values for integer pixels", "[image][convert]") {
  const std::vector<float> values{-0.5f, 0.0f, 0.6f / 255, 1.49f / 255, 1.51f / 255, 1.0f, 2.0f, 254.6f / 255};
  image<std::uint8_t> out(1, 8, 1);
  from_chw(values.data(), out.view());
  const std::vector<int> want{0, 0, 1, 1, 2, 255, 255, 255};
  for (std::int64_t x = 0; x < 8; ++x) CHECK(int(out(0, x, 0)) == want[std::size_t(x)]);
}

TEST_CASE("to_chw reads strided (planar) views", "[image][convert]") {
  const auto img = random_image<std::uint8_t>(5, 6, 3, 4);
  const auto planar = strata::testing::planar_copy(img);
  std::vector<float> a(90), b(90);
  to_chw(img.view(), a.data());
  to_chw(image_view<const std::uint8_t>(planar.data(), 5, 6, 3, pixel_layout::chw), b.data());
  CHECK(a == b);
}

TEST_CASE("a normalisation that does not fit the image is an error naming the function", "[image][convert]") {
  const image<std::uint8_t> img(2, 2, 3);
  std::vector<float> out(12);
  const std::vector<float> two{0.5f, 0.5f}, three{0.5f, 0.5f, 0.5f}, bad_sd{0.5f, 0.0f, 0.5f}, nan_sd{0.5f, NAN, 0.5f};
  CHECK_THROWS_WITH(to_chw(img.view(), out.data(), {std::span<const float>(two), {}}),
                    Catch::Contains("to_chw") && Catch::Contains("2 means") && Catch::Contains("3 channels"));
  CHECK_THROWS_AS(to_chw(img.view(), out.data(), {{}, std::span<const float>(two)}), shape_error);
  CHECK_THROWS_WITH(to_chw(img.view(), out.data(), {std::span<const float>(three), std::span<const float>(bad_sd)}),
                    Catch::Contains("to_chw") && Catch::Contains("not positive"));
  CHECK_THROWS_WITH(to_chw(img.view(), out.data(), {{}, std::span<const float>(nan_sd)}), Catch::Contains("not positive"));
  image<std::uint8_t> back(2, 2, 3);
  CHECK_THROWS_WITH(from_chw(out.data(), back.view(), {std::span<const float>(two), {}}),
                    Catch::Contains("from_chw") && Catch::Contains("3 channels"));
  CHECK_THROWS_WITH(from_chw(out.data(), back.view(), {{}, std::span<const float>(bad_sd)}), Catch::Contains("from_chw"));
}
