// Shared by the image tests: PSD files written byte by byte (Pillow cannot write PSD), RGB or
// RGBA, 8 bits raw or run-length encoded, or 16 bits raw.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "strata/image/image.hpp"

namespace strata::testing {

inline void put_big_endian(std::vector<std::uint8_t>& out, std::uint64_t value, int n) {
  for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

// A PSD of `im`'s channels (3 or 4) as planes. Run-length encoded: one literal packet per row,
// after the table of row lengths. 16 bits: each value ×257. Its image resources are 4 bytes
// that the decoder skips.
inline std::vector<std::uint8_t> psd_file(const image<std::uint8_t>& im, bool run_length, int depth = 8) {
  std::vector<std::uint8_t> out = {'8', 'B', 'P', 'S', 0, 1, 0, 0, 0, 0, 0, 0};
  const auto h = im.height(), w = im.width(), c = im.channels();
  put_big_endian(out, std::uint64_t(c), 2);
  put_big_endian(out, std::uint64_t(h), 4);
  put_big_endian(out, std::uint64_t(w), 4);
  put_big_endian(out, std::uint64_t(depth), 2);
  put_big_endian(out, 3, 2);                                  // RGB
  put_big_endian(out, 0, 4);                                  // colour mode data
  put_big_endian(out, 4, 4), out.insert(out.end(), 4, 0xEE);  // image resources
  put_big_endian(out, 0, 4);                                  // layers
  put_big_endian(out, run_length ? 1 : 0, 2);
  if (run_length) {
    REQUIRE(w <= 128);
    for (std::int64_t i = 0; i < c * h; ++i) put_big_endian(out, std::uint64_t(1 + w), 2);
    for (std::int64_t k = 0; k < c; ++k)
      for (std::int64_t y = 0; y < h; ++y) {
        out.push_back(static_cast<std::uint8_t>(w - 1));
        for (std::int64_t x = 0; x < w; ++x) out.push_back(im(y, x, k));
      }
  } else {
    for (std::int64_t k = 0; k < c; ++k)
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) put_big_endian(out, depth == 16 ? im(y, x, k) * 257u : im(y, x, k), depth / 8);
  }
  return out;
}

}  // namespace strata::testing
