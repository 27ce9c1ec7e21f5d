// Fuzz target: the model archive (io/archive.hpp) and the model file on top of it
// (io/model_file.hpp). The bytes are decoded as an archive of any kind, then loaded as a model
// file into a small network, which must be left exactly as it was when loading fails.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz_support.hpp"
#include "small_network.hpp"
#include "strata/io/archive.hpp"
#include "strata/io/model_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace strata;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  fuzz::expect_clean([&] {
    (void)io::decode_archive(bytes, "<fuzz input>");
  });
  static Model<fuzz::small_network> model(7);
  static const std::vector<float> before = fuzz::weights_of(model);
  const auto file = fuzz::scratch_file("model.strata", std::span<const std::uint8_t>(data, size));
  bool loaded = false;
  fuzz::expect_clean([&] {
    load_model(model, file);
    loaded = true;
  });
  fuzz::check_untouched_unless_loaded(model, before, loaded);
  return 0;
}
