// Fuzz target: the IDX reader (data/idx.hpp) on a file of arbitrary bytes — plain, or gzip when
// the bytes start with gzip's magic — then, as the data set loader does, as an image file paired
// with a label file cut from the same input.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_support.hpp"
#include "strata/data/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace strata;
  const std::span<const std::uint8_t> bytes(data, size);
  const auto file = fuzz::scratch_file("input.idx", bytes);
  fuzz::expect_clean([&] {
    const data::idx_array a = data::read_idx(file);
    if (a.elements() * a.element_size() != static_cast<std::int64_t>(a.bytes.size())) std::abort();  // the promise read() makes
  });
  // The same bytes as images, their last 64 bytes (or fewer) as a label file of their own.
  const std::size_t cut = size > 64 ? size - 64 : size / 2;
  const auto labels = fuzz::scratch_file("labels.idx", bytes.subspan(cut));
  fuzz::expect_clean([&] { data::load_idx_images(file, labels, 10); });
  return 0;
}
