// Fuzz target: the ONNX reader (io/onnx): the protobuf parser and the graph it builds, then the
// import into a small network (graph matching, shapes, weights), which must leave the network as
// it was when it fails. Clang before 18 cannot compile the layers whose float template
// parameters the importer's patterns name (BatchNorm, Dropout, LeakyReLU), so a build with such
// a clang (Debian 12's clang 14 runs the campaigns) fuzzes the reader alone; the import then
// runs over the same inputs in the replay build (g++), fuzz.replay.onnx.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz_support.hpp"
#include "strata/io/onnx/model.hpp"

#if !defined(__clang__) || __clang_major__ >= 18
#define STRATA_FUZZ_ONNX_IMPORT 1
#include "small_network.hpp"
#include "strata/io/onnx/import.hpp"
#else
#define STRATA_FUZZ_ONNX_IMPORT 0
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace strata;
#if STRATA_FUZZ_ONNX_IMPORT
  static Model<fuzz::small_network> model(7);
  static const std::vector<float> before = fuzz::weights_of(model);
  bool loaded = false;
  fuzz::expect_clean([&] {
    const onnx::model m = onnx::parse_model(std::span<const std::uint8_t>(data, size), "<fuzz input>");
    onnx::import_model(model, m, "<fuzz input>");
    loaded = true;
  });
  fuzz::check_untouched_unless_loaded(model, before, loaded);
#else
  fuzz::expect_clean([&] { (void)onnx::parse_model(std::span<const std::uint8_t>(data, size), "<fuzz input>"); });
#endif
  return 0;
}
