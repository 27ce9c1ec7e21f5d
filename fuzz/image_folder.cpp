// Fuzz target: the image-folder scanner (data/image_folder.hpp) on a folder tree the input
// describes, then every sample's decoding. Input: one byte of options (channels), then records
// of [name length][name][content length, 2 bytes][content]; a name is a relative path of up to
// three parts (class folder, file), its bytes mapped onto a small alphabet with '.' and '/'.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "fuzz_support.hpp"
#include "strata/data/image_folder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace strata;
  if (size == 0) return 0;
  static const std::string alphabet = "abc.png/jpgbmpABC_0-";
  const auto root = fuzz::scratch_directory() / "folder";
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  std::filesystem::create_directories(root);
  const std::int64_t channels = data[0] % 5;
  std::size_t at = 1;
  for (int files = 0; at < size && files < 64; ++files) {
    const std::size_t wanted = data[at] % 24;
    ++at;
    const std::size_t name_length = std::min(wanted, size - at);
    std::string name;
    for (std::size_t i = 0; i < name_length; ++i) name += alphabet[data[at + i] % alphabet.size()];
    at += name_length;
    std::size_t content_length = 0;
    if (at + 2 <= size) content_length = std::min<std::size_t>(std::size_t(data[at]) << 8 | data[at + 1], size - at - 2), at += 2;
    const std::string content(reinterpret_cast<const char*>(data + at), content_length);
    at += content_length;
    // Only paths inside the root: no empty, absolute, '.' or '..' parts, at most three parts.
    std::filesystem::path relative;
    int parts = 0;
    bool ok = !name.empty();
    for (const auto& part : std::filesystem::path(name)) {
      const std::string p = part.string();
      if (p.empty() || p == "." || p == ".." || p == "/" || ++parts > 3) ok = false;
      relative /= part;
    }
    if (!ok) continue;
    const auto path = root / relative;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec || std::filesystem::is_directory(path, ec)) continue;
    std::ofstream(path, std::ios::binary) << content;
  }
  fuzz::expect_clean([&] {
    const data::image_folder_dataset d(root, {.channels = channels});
    for (std::int64_t i = 0; i < d.size(); ++i) {
      fuzz::expect_clean([&] {
        const auto s = d.get(i);
        if (s.label < 0 || s.label >= d.classes()) std::abort();
      });
    }
  });
  return 0;
}
