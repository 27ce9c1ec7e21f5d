// decode_psd (image/psd_decoder.hpp): PSD files written byte by byte decode to their pixels;
// where stb_image 2.27 is defined on a file (colours premultiplied against white) strata's
// pixels are stb's, to one step of rounding; where stb is not (the fuzz finding), they are the
// un-matted colours clamped to the pixel range. Refusals name what is not read.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "strata/image/image_io.hpp"
#include "support/files.hpp"
#include "support/psd_file.hpp"

using Catch::Matchers::Contains;
using strata::testing::psd_file;

namespace {

// h × w × 4 pixels whose colours are a white-premultiplied blend c = a·c' + (255 − a)·255 / 255
// (as Photoshop stores them); alpha runs through 0, 255 and values between.
strata::image<std::uint8_t> premultiplied_rgba(std::int64_t h, std::int64_t w) {
  strata::image<std::uint8_t> im(h, w, 4);
  for (std::int64_t y = 0; y < h; ++y)
    for (std::int64_t x = 0; x < w; ++x) {
      const int alpha = int((y * w + x) * 37 % 256);
      im(y, x, 3) = std::uint8_t(alpha);
      for (int c = 0; c < 3; ++c) {
        const int colour = int((y * 31 + x * 17 + c * 101) % 256);
        im(y, x, c) = std::uint8_t((alpha * colour + (255 - alpha) * 255 + 127) / 255);
      }
    }
  return im;
}

// stb_image's own decoding of the same bytes, `channels` as asked.
template <class T>
strata::image<T> stb_decoded(const std::vector<std::uint8_t>& file, int channels) {
  int w = 0, h = 0, stored = 0;
  T* pixels;
  if constexpr (sizeof(T) == 1)
    pixels = stbi_load_from_memory(file.data(), int(file.size()), &w, &h, &stored, channels);
  else
    pixels = stbi_load_16_from_memory(file.data(), int(file.size()), &w, &h, &stored, channels);
  REQUIRE(pixels != nullptr);
  const std::unique_ptr<T, void (*)(void*)> owned(pixels, stbi_image_free);
  strata::image<T> im(h, w, channels ? channels : stored);
  std::copy(pixels, pixels + im.values(), im.data());
  return im;
}

template <class T>
void check_matches_stb(const std::vector<std::uint8_t>& file, int tolerance) {
  for (int channels = 0; channels <= 4; ++channels) {
    INFO(channels << " channels asked for, " << 8 * sizeof(T) << "-bit pixels");
    const auto ours = strata::decode_image<T>(file, channels);
    const auto theirs = stb_decoded<T>(file, channels);
    REQUIRE(ours.height() == theirs.height());
    REQUIRE(ours.width() == theirs.width());
    REQUIRE(ours.channels() == theirs.channels());
    int worst = 0;
    for (std::int64_t i = 0; i < ours.values(); ++i) worst = std::max(worst, std::abs(int(ours.data()[i]) - int(theirs.data()[i])));
    CHECK(worst <= tolerance);
  }
}

}  // namespace

TEST_CASE("PSD: RGB pixels as written, raw and run-length encoded, 8 and 16 bits, equal to stb's", "[image][io]") {
  strata::image<std::uint8_t> rgb(5, 6, 3);
  for (std::int64_t i = 0; i < rgb.values(); ++i) rgb.data()[i] = std::uint8_t(i * 53 % 256);
  for (const bool run_length : {false, true}) {
    INFO("run-length " << run_length);
    const auto file = psd_file(rgb, run_length);
    CHECK(strata::decode_image(file, 3) == rgb);
    const auto rgba = strata::decode_image(file);
    REQUIRE(rgba.channels() == 4);
    CHECK(rgba(4, 5, 3) == 255);  // no alpha in the file: opaque
    check_matches_stb<std::uint8_t>(file, 0);
    check_matches_stb<std::uint16_t>(file, 0);
  }
  // 16 bits: uint16_t pixels keep all of them; uint8_t pixels the high byte.
  const auto deep = psd_file(rgb, false, 16);
  const auto wide = strata::decode_image<std::uint16_t>(deep, 3);
  for (std::int64_t i = 0; i < rgb.values(); ++i) REQUIRE(wide.data()[i] == rgb.data()[i] * 257);
  CHECK(strata::decode_image(deep, 3) == rgb);
  check_matches_stb<std::uint8_t>(deep, 0);
  check_matches_stb<std::uint16_t>(deep, 0);
}

TEST_CASE("PSD with alpha: colours un-matted from white as stb does, and clamped where stb's are undefined", "[image][io][fuzz]") {
  const auto im = premultiplied_rgba(9, 13);
  for (const bool run_length : {false, true}) {
    INFO("run-length " << run_length);
    const auto file = psd_file(im, run_length);
    // stb truncates a float; strata rounds the exact value: at most one step apart.
    check_matches_stb<std::uint8_t>(file, 1);
    check_matches_stb<std::uint16_t>(file, 257);
    const auto rgba = strata::decode_image(file);
    for (std::int64_t y = 0; y < 9; ++y)
      for (std::int64_t x = 0; x < 13; ++x) {
        const int alpha = im(y, x, 3);
        REQUIRE(rgba(y, x, 3) == alpha);
        if (alpha == 0 || alpha == 255) {
          for (int c = 0; c < 3; ++c) REQUIRE(rgba(y, x, c) == im(y, x, c));
        } else if (alpha >= 64) {  // the blend lost little: the colour comes back within a step or two
          for (int c = 0; c < 3; ++c) REQUIRE(std::abs(int(rgba(y, x, c)) - int((y * 31 + x * 17 + c * 101) % 256)) <= 2);
        }
      }
  }
  // A colour darker than white-premultiplied allows: 255 − (255 − 0)·255/128 = −253. stb 2.27
  // converted that float to a byte (undefined; fuzz/image found it); strata clamps it to 0.
  strata::image<std::uint8_t> dark(1, 2, 4);
  const std::uint8_t pixels[] = {0, 100, 250, 128, 10, 20, 30, 1};
  std::copy(std::begin(pixels), std::end(pixels), dark.data());
  const auto unmatted = strata::decode_image(psd_file(dark, false));
  CHECK((unmatted(0, 0, 0) == 0 && unmatted(0, 0, 1) == 0 && unmatted(0, 0, 2) == 245 && unmatted(0, 0, 3) == 128));
  CHECK((unmatted(0, 1, 0) == 0 && unmatted(0, 1, 1) == 0 && unmatted(0, 1, 2) == 0 && unmatted(0, 1, 3) == 1));
  const auto finding =
      strata::testing::read_raw(std::filesystem::path(STRATA_SOURCE_TEST_DIR) / "../fuzz/regressions/image/psd-4-channels-unmatte-float-to-byte-overflow");
  REQUIRE(finding.size() > 1);
  CHECK(strata::decode_image(std::span(finding).subspan(1)).channels() == 4);
}

TEST_CASE("PSD: what is not read is refused by name", "[image][io]") {
  strata::image<std::uint8_t> rgb(2, 3, 3);
  std::fill(rgb.data(), rgb.data() + rgb.values(), std::uint8_t{7});
  const auto good = psd_file(rgb, false);
  const auto with = [&](std::size_t at, std::uint8_t value) {
    auto b = good;
    b[at] = value;
    return b;
  };
  CHECK_THROWS_WITH(strata::decode_image(with(5, 2), 0, "big.psb"), Contains("big.psb") && Contains("PSD version 2 is not read"));
  CHECK_THROWS_WITH(strata::decode_image(with(23, 32)), Contains("PSD of 32 bits a channel is not read"));
  CHECK_THROWS_WITH(strata::decode_image(with(25, 1)), Contains("PSD colour mode 1 is not read (only RGB"));
  CHECK_THROWS_WITH(strata::decode_image(with(13, 17)), Contains("corrupt PSD: 17 channels"));
  CHECK_THROWS_WITH(strata::decode_image(with(43, 2)), Contains("PSD compression 2 is not read"));
  // A run-length packet longer than the pixels left: 6 pixels, a literal packet of 7.
  auto packed = psd_file(rgb, true);
  packed[44 + 2 * 3 * 2] = 6;
  CHECK_THROWS_WITH(strata::decode_image(packed), Contains("corrupt PSD: a run-length packet of channel 0 runs past the image's 6 pixels"));
  const strata::image_limits small{.max_width = 2, .max_height = 2, .max_pixels = 4};
  CHECK_THROWS_WITH(strata::decode_image(good, 0, "wide.psd", small), Contains("wide.psd") && Contains("3"));
}
