// Fuzz target: the IDX reader's gzip path with meaningful payloads — the input is the
// decompressed IDX content, compressed here, so mutations reach the IDX parser behind zlib (raw
// gzip bytes reach it through the idx target). The last input byte picks how the stream is cut.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <zlib.h>

#include "fuzz_support.hpp"
#include "strata/data/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace strata;
  if (size == 0) return 0;
  const std::uint8_t how = data[size - 1];
  const std::span<const std::uint8_t> content(data, size - 1);
  // A gzip stream of the content (deflate with a gzip wrapper: windowBits 15 + 16).
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::vector<std::uint8_t> gz(deflateBound(&z, static_cast<uLong>(content.size())) + 64);
  z.next_in = const_cast<Bytef*>(content.data());
  z.avail_in = static_cast<uInt>(content.size());
  z.next_out = gz.data();
  z.avail_out = static_cast<uInt>(gz.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  gz.resize(gz.size() - z.avail_out);
  deflateEnd(&z);
  // Mostly whole streams; sometimes cut short, or with a byte of the trailer or data flipped.
  if (how % 8 == 1 && gz.size() > 1) gz.resize(gz.size() - 1 - (how / 8) % (gz.size() - 1));
  if (how % 8 == 2 && gz.size() > 18) gz[10 + (how / 8) % (gz.size() - 10)] ^= 0x5a;
  const auto file = fuzz::scratch_file("input.idx.gz", gz);
  fuzz::expect_clean([&] { data::read_idx(file); });
  return 0;
}
