// Fuzz target: the CIFAR binary reader (data/cifar.hpp). The first input byte picks CIFAR-10 or
// CIFAR-100 and, for CIFAR-100, which label; the rest is the batch file.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz_support.hpp"
#include "strata/data/cifar.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace strata;
  if (size == 0) return 0;
  const auto kind = data[0] & 1 ? data::cifar_kind::cifar100 : data::cifar_kind::cifar10;
  const auto label = data[0] & 2 ? data::cifar100_label::coarse : data::cifar100_label::fine;
  const auto file = fuzz::scratch_file("data_batch.bin", std::span<const std::uint8_t>(data + 1, size - 1));
  fuzz::expect_clean([&] {
    const data::cifar_dataset d({file}, kind, label);
    for (std::int64_t i = 0; i < d.size(); ++i) {
      const auto s = d.get(i);
      if (s.label < 0 || s.label >= d.classes()) std::abort();  // a label past the classes must be an error at load
    }
  });
  return 0;
}
