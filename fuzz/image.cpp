// Fuzz target: image decoding through stb_image (image/image_io.hpp), PNG, JPEG, BMP and the
// other formats stb reads, with the dimension and pixel limits enforced before decoding. The
// first input byte picks the channels asked for (0–4) and 8- or 16-bit pixels; the rest is the
// file.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_support.hpp"
#include "strata/image/image_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace strata;
  if (size == 0) return 0;
  const std::int64_t channels = data[0] % 5;
  const std::span<const std::uint8_t> file(data + 1, size - 1);
  // Small limits here, so the fuzzer spends its time on the decoders rather than on allocating.
  const image_limits limits{.max_width = 4096, .max_height = 4096, .max_pixels = std::int64_t{1} << 22};
  fuzz::expect_clean([&] {
    if (data[0] & 0x80) {
      const auto im = decode_image<std::uint16_t>(file, channels, "<fuzz input>", limits);
      if (im.width() > limits.max_width || im.height() > limits.max_height) std::abort();
    } else {
      const auto im = decode_image<std::uint8_t>(file, channels, "<fuzz input>", limits);
      if (im.width() > limits.max_width || im.height() > limits.max_height) std::abort();
    }
  });
  return 0;
}
