// strata/data/image_folder.hpp — image_folder_dataset: a Dataset over root/<class>/…/<file>
// (.png, .jpg, .jpeg, .bmp), classes sorted by folder name, files sorted by path. Only the file
// list is built up front; get(i) reads and decodes one file, so loader threads decode in parallel.
// Needs stb (strata/image/image_io.hpp; link -lstb).
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/data/dataset.hpp"
#include "strata/data/data_error.hpp"
#include "strata/data/labelled_images.hpp"
#include "strata/image/image.hpp"
#include "strata/image/image_io.hpp"

namespace strata::data {

struct image_folder_options {
  // 0 keeps each file's own channel count; 1 (grey), 3 (RGB) or 4 (RGBA) converts every image,
  // which a batch needs when a folder mixes greyscale and colour files.
  std::int64_t channels = 0;
  // The largest image a file may hold (checked from its header before decoding).
  image_limits limits = {};
};

class image_folder_dataset {
 public:
  using pixel_type = std::uint8_t;

  // Lists root's class folders and their image files. Names starting with '.' are skipped
  // (.git, .ipynb_checkpoints, editor and OS droppings would otherwise become classes or
  // samples). Throws data_error when root is not a directory, holds no class folders, or a
  // class folder holds no images: a class with no samples is almost always a wrong path.
  explicit image_folder_dataset(const std::filesystem::path& root, image_folder_options options = {})
      : root_(root), options_(options) {
    if (options_.channels < 0 || options_.channels > 4)
      throw error("image_folder_dataset: channels must be 0 (as stored) or 1 to 4, got " +
                  std::to_string(options_.channels));
    std::error_code ec;
    if (!std::filesystem::exists(root, ec))
      throw data_error(root, "not found: no such directory in " + detail::searched_directory(root));
    if (!std::filesystem::is_directory(root, ec))
      throw data_error(root, "not a directory: an image folder dataset needs a directory with one subfolder per class");

    for (const auto& entry : std::filesystem::directory_iterator(root)) {
      const auto name = entry.path().filename().string();
      if (!name.empty() && name[0] != '.' && entry.is_directory()) names_.push_back(name);
    }
    // Byte order, not the locale's: the same folder gives the same labels on every machine.
    std::sort(names_.begin(), names_.end());
    if (names_.empty())
      throw data_error(root, "no class folders: expected one subfolder per class, each holding image files (" +
                                 std::string(extensions_text) + ")");

    std::vector<std::string> empty;
    for (std::size_t c = 0; c < names_.size(); ++c) {
      const auto files = list_images(root / names_[c]);
      if (files.empty()) empty.push_back(names_[c]);
      for (const auto& f : files) {
        files_.push_back(f);
        labels_.push_back(static_cast<std::int32_t>(c));
      }
    }
    if (!empty.empty()) {
      std::string list;
      for (const auto& e : empty) list += (list.empty() ? "'" : ", '") + e + "'";
      throw data_error(root / empty.front(), "no images (" + std::string(extensions_text) + ") in class folder" +
                                                 (empty.size() > 1 ? "s " : " ") + list + " of " +
                                                 std::to_string(names_.size()) + " under '" + root.string() + "'");
    }
  }

  std::int64_t size() const noexcept { return static_cast<std::int64_t>(files_.size()); }
  std::int64_t classes() const noexcept { return static_cast<std::int64_t>(names_.size()); }
  // The class folder names, indexed by label.
  const std::vector<std::string>& class_names() const noexcept { return names_; }
  const std::filesystem::path& root() const noexcept { return root_; }

  const std::filesystem::path& file(std::int64_t i) const {
    detail::check_sample_index(i, size(), "image_folder_dataset::file");
    return files_[static_cast<std::size_t>(i)];
  }
  std::int32_t label(std::int64_t i) const {
    detail::check_sample_index(i, size(), "image_folder_dataset::label");
    return labels_[static_cast<std::size_t>(i)];
  }

  // Reads and decodes file i. A file that is not an image, or is corrupt or truncated, throws
  // data_error naming the file and i (record i), so a loader can report or skip it.
#if STRATA_HAS_STB_IMAGE
  sample<std::uint8_t> get(std::int64_t i) const {
    detail::check_sample_index(i, size(), "image_folder_dataset::get");
    const auto& path = files_[static_cast<std::size_t>(i)];
    try {
      return {read_image<std::uint8_t>(path, options_.channels, options_.limits), labels_[static_cast<std::size_t>(i)]};
    } catch (const image_file_error& e) {
      throw data_error(path, e.reason(), i);
    }
  }
#else
  // Without stb the listing still works; decoding fails to compile where get is called.
  template <class Unused = void>
  sample<std::uint8_t> get(std::int64_t) const {
    static_assert(strata::detail::stb_missing<Unused>,
                  "image_folder_dataset::get needs stb_image: install libstb-dev (stb/stb_image.h) and link -lstb");
    return {};
  }
#endif

  // Whether a path names a file this dataset reads, by extension, in any letter case.
  static bool is_image_file(const std::filesystem::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
  }

 private:
  static constexpr const char* extensions_text = ".png, .jpg, .jpeg, .bmp";

  // Image files anywhere below `dir`, sorted by path. Directory symlinks are not followed, so a
  // link loop cannot make the walk endless.
  static std::vector<std::filesystem::path> list_images(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> files;
    auto it = std::filesystem::recursive_directory_iterator(dir, std::filesystem::directory_options::skip_permission_denied);
    for (; it != std::filesystem::recursive_directory_iterator(); ++it) {
      const auto name = it->path().filename().string();
      if (!name.empty() && name[0] == '.') {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file() && is_image_file(it->path())) files.push_back(it->path());
    }
    std::sort(files.begin(), files.end(),
              [](const auto& a, const auto& b) { return a.generic_string() < b.generic_string(); });
    return files;
  }

  std::filesystem::path root_;
  image_folder_options options_;
  std::vector<std::string> names_;
  std::vector<std::filesystem::path> files_;
  std::vector<std::int32_t> labels_;
};

static_assert(check_dataset<image_folder_dataset>());

}  // namespace strata::data
