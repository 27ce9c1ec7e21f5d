// strata/data/cifar.hpp — CIFAR-10 and CIFAR-100 in their binary formats: cifar_dataset loads
// batch files into memory as 32×32 RGB uint8 images (interleaved) with labels and class names;
// load_cifar10 / load_cifar100 find the standard files of a split in a directory.
//
// Record layout (https://www.cs.toronto.edu/~kriz/cifar.html): CIFAR-10 is 1 label byte then
// 3072 pixel bytes; CIFAR-100 is 2 label bytes (coarse, then fine) then 3072 pixel bytes. The
// pixels are three 32×32 row-major planes, red, green, blue. There is no header and no count:
// the file size alone says how many records there are, so it is checked exactly.
#pragma once

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/data/dataset.hpp"
#include "strata/data/data_error.hpp"
#include "strata/data/labelled_images.hpp"
#include "strata/image/image.hpp"

namespace strata::data {

enum class cifar_kind { cifar10, cifar100 };
// CIFAR-100 records carry two labels: one of 20 superclasses and one of 100 classes.
enum class cifar100_label { coarse, fine };

// Class names indexed by label, as in the archives' batches.meta.txt, fine_label_names.txt and
// coarse_label_names.txt.
inline constexpr std::array<std::string_view, 10> cifar10_classes{
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

inline constexpr std::array<std::string_view, 100> cifar100_fine_classes{
    "apple",        "aquarium_fish", "baby",       "bear",        "beaver",      "bed",         "bee",
    "beetle",       "bicycle",       "bottle",     "bowl",        "boy",         "bridge",      "bus",
    "butterfly",    "camel",         "can",        "castle",      "caterpillar", "cattle",      "chair",
    "chimpanzee",   "clock",         "cloud",      "cockroach",   "couch",       "crab",        "crocodile",
    "cup",          "dinosaur",      "dolphin",    "elephant",    "flatfish",    "forest",      "fox",
    "girl",         "hamster",       "house",      "kangaroo",    "keyboard",    "lamp",        "lawn_mower",
    "leopard",      "lion",          "lizard",     "lobster",     "man",         "maple_tree",  "motorcycle",
    "mountain",     "mouse",         "mushroom",   "oak_tree",    "orange",      "orchid",      "otter",
    "palm_tree",    "pear",          "pickup_truck", "pine_tree", "plain",       "plate",       "poppy",
    "porcupine",    "possum",        "rabbit",     "raccoon",     "ray",         "road",        "rocket",
    "rose",         "sea",           "seal",       "shark",       "shrew",       "skunk",       "skyscraper",
    "snail",        "snake",         "spider",     "squirrel",    "streetcar",   "sunflower",   "sweet_pepper",
    "table",        "tank",          "telephone",  "television",  "tiger",       "tractor",     "train",
    "trout",        "tulip",         "turtle",     "wardrobe",    "whale",       "willow_tree", "wolf",
    "woman",        "worm"};

inline constexpr std::array<std::string_view, 20> cifar100_coarse_classes{
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2"};

// CIFAR images held in memory, interleaved (32×32×3) once at load so that get(i) is one copy.
class cifar_dataset {
 public:
  using pixel_type = std::uint8_t;
  static constexpr std::int64_t height = 32, width = 32, channels = 3;
  static constexpr std::int64_t pixel_bytes = height * width * channels;

  // Loads every record of `files`, in order. For CIFAR-100, `label` picks which of the two
  // labels becomes the sample's (both are checked). Throws data_error for a missing or empty
  // file, a size that is not a whole number of records (naming the record cut short), or a
  // label out of range (naming the record).
  cifar_dataset(const std::vector<std::filesystem::path>& files, cifar_kind kind,
                cifar100_label label = cifar100_label::fine)
      : kind_(kind), label_(label) {
    if (files.empty()) throw error("cifar_dataset: no files given");
    const std::int64_t record = record_bytes();
    std::int64_t total = 0;
    std::vector<std::int64_t> sizes;
    // Every size first, so that a bad last batch fails before minutes of reading the others.
    for (const auto& file : files) {
      sizes.push_back(checked_size(file));
      total += sizes.back() / record;
    }
    pixels_.resize(static_cast<std::size_t>(total * pixel_bytes));
    labels_.reserve(static_cast<std::size_t>(total));
    for (std::size_t f = 0; f < files.size(); ++f) read_file(files[f], sizes[f]);
    if (kind_ == cifar_kind::cifar10)
      names_.assign(cifar10_classes.begin(), cifar10_classes.end());
    else if (label_ == cifar100_label::fine)
      names_.assign(cifar100_fine_classes.begin(), cifar100_fine_classes.end());
    else
      names_.assign(cifar100_coarse_classes.begin(), cifar100_coarse_classes.end());
  }

  cifar_kind kind() const noexcept { return kind_; }
  std::int64_t size() const noexcept { return static_cast<std::int64_t>(labels_.size()); }
  std::int64_t classes() const noexcept {
    return kind_ == cifar_kind::cifar10 ? 10 : label_ == cifar100_label::fine ? 100 : 20;
  }
  const std::vector<std::string>& class_names() const noexcept { return names_; }

  std::int32_t label(std::int64_t i) const {
    detail::check_sample_index(i, size(), "cifar_dataset::label");
    return labels_[static_cast<std::size_t>(i)];
  }
  // The pixels of sample i without copying; valid while the dataset lives.
  image_view<const std::uint8_t> view(std::int64_t i) const {
    detail::check_sample_index(i, size(), "cifar_dataset::view");
    return {pixels_.data() + i * pixel_bytes, height, width, channels};
  }
  sample<std::uint8_t> get(std::int64_t i) const {
    detail::check_sample_index(i, size(), "cifar_dataset::get");
    return {::strata::image<std::uint8_t>(view(i)), labels_[static_cast<std::size_t>(i)]};
  }

 private:
  std::int64_t label_bytes() const noexcept { return kind_ == cifar_kind::cifar10 ? 1 : 2; }
  std::int64_t record_bytes() const noexcept { return label_bytes() + pixel_bytes; }
  std::string format_name() const { return kind_ == cifar_kind::cifar10 ? "CIFAR-10" : "CIFAR-100"; }
  std::string record_description() const {
    return std::to_string(record_bytes()) + "-byte " + format_name() + " records (" +
           (kind_ == cifar_kind::cifar10 ? "1 label byte" : "2 label bytes") + " + 3072 pixel bytes)";
  }

  std::int64_t checked_size(const std::filesystem::path& file) const {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec))
      throw data_error(file, "cannot open: no such file in directory " + detail::searched_directory(file));
    if (std::filesystem::is_directory(file, ec)) throw data_error(file, "cannot open: it is a directory");
    const auto bytes = std::filesystem::file_size(file, ec);
    if (ec) throw data_error(file, "cannot read its size: " + ec.message());
    const auto size = static_cast<std::int64_t>(bytes);
    const std::int64_t record = record_bytes();
    if (size == 0) throw data_error(file, "empty: no " + format_name() + " records");
    if (size % record != 0)
      throw data_error(file,
                       "truncated: " + std::to_string(size) + " bytes is not a whole number of " + record_description() +
                           "; record " + std::to_string(size / record) + " has only " + std::to_string(size % record) +
                           " of its " + std::to_string(record) + " bytes",
                       size / record);
    return size;
  }

  void read_file(const std::filesystem::path& file, std::int64_t size) {
    std::FILE* in = std::fopen(file.string().c_str(), "rb");
    if (!in) throw data_error(file, std::string("cannot open: ") + std::strerror(errno));
    struct closer {
      std::FILE* f;
      ~closer() { std::fclose(f); }
    } close_at_exit{in};

    const std::int64_t record = record_bytes(), records = size / record;
    // A few thousand records at a time: large reads, bounded memory beside the dataset.
    constexpr std::int64_t chunk_records = 1024;
    std::vector<std::uint8_t> buffer(static_cast<std::size_t>(std::min(records, chunk_records) * record));
    for (std::int64_t first = 0; first < records; first += chunk_records) {
      const std::int64_t n = std::min(chunk_records, records - first);
      const auto want = static_cast<std::size_t>(n * record);
      if (std::fread(buffer.data(), 1, want, in) != want)
        throw data_error(file, std::ferror(in) ? std::string("read failed: ") + std::strerror(errno)
                                               : std::string("truncated: the file shrank while it was read"),
                         first);
      for (std::int64_t r = 0; r < n; ++r) add_record(file, first + r, buffer.data() + r * record);
    }
  }

  void add_record(const std::filesystem::path& file, std::int64_t index, const std::uint8_t* rec) {
    std::int32_t label;
    if (kind_ == cifar_kind::cifar10) {
      label = rec[0];
      if (label >= 10) throw data_error(file, "label " + std::to_string(label) + " is not below CIFAR-10's 10 classes", index);
    } else {
      const std::int32_t coarse = rec[0], fine = rec[1];
      if (coarse >= 20)
        throw data_error(file, "coarse label " + std::to_string(coarse) + " is not below CIFAR-100's 20 superclasses",
                         index);
      if (fine >= 100)
        throw data_error(file, "fine label " + std::to_string(fine) + " is not below CIFAR-100's 100 classes", index);
      label = label_ == cifar100_label::fine ? fine : coarse;
    }
    // Planes R, G, B of 1024 bytes each become RGB triples.
    const std::uint8_t* planes = rec + label_bytes();
    std::uint8_t* out = pixels_.data() + static_cast<std::int64_t>(labels_.size()) * pixel_bytes;
    constexpr std::int64_t plane = height * width;
    for (std::int64_t p = 0; p < plane; ++p)
      for (std::int64_t c = 0; c < channels; ++c) out[p * channels + c] = planes[c * plane + p];
    labels_.push_back(label);
  }

  cifar_kind kind_;
  cifar100_label label_;
  std::vector<std::uint8_t> pixels_;
  std::vector<std::int32_t> labels_;
  std::vector<std::string> names_;
};

static_assert(check_dataset<cifar_dataset>());

namespace detail {

// The split's files in `dir`, or in the folder the archive unpacks to inside `dir`. A missing
// file is an error naming it, with every expected name, so a wrong directory is obvious.
inline std::vector<std::filesystem::path> find_cifar_files(const std::filesystem::path& dir,
                                                           const std::vector<std::string>& names,
                                                           const std::string& archive_folder, const std::string& set) {
  std::error_code ec;
  std::filesystem::path base = dir;
  const bool in_dir = std::filesystem::exists(dir / names.front(), ec);
  const bool has_archive_folder = std::filesystem::is_directory(dir / archive_folder, ec);
  if (!in_dir && has_archive_folder) base = dir / archive_folder;
  std::vector<std::filesystem::path> files;
  for (const auto& name : names) {
    const auto file = base / name;
    if (!std::filesystem::is_regular_file(file, ec)) {
      std::string expected;
      for (const auto& n : names) expected += (expected.empty() ? "'" : ", '") + n + "'";
      throw data_error(file, "not found: the " + set + " is " + expected + " in directory " +
                                 searched_directory(file) +
                                 (!in_dir && !has_archive_folder
                                      ? " (nor is there a subfolder '" + archive_folder + "' as the archive unpacks)"
                                      : ""));
    }
    files.push_back(file);
  }
  return files;
}

}  // namespace detail

// CIFAR-10's training set (data_batch_1.bin … data_batch_5.bin, 50000 images) or test set
// (test_batch.bin, 10000), from `dir` or its subfolder cifar-10-batches-bin.
inline cifar_dataset load_cifar10(const std::filesystem::path& dir, split which) {
  std::vector<std::string> names;
  if (which == split::train)
    for (int b = 1; b <= 5; ++b) names.push_back("data_batch_" + std::to_string(b) + ".bin");
  else
    names.push_back("test_batch.bin");
  const std::string set = which == split::train ? "CIFAR-10 training set" : "CIFAR-10 test set";
  return cifar_dataset(detail::find_cifar_files(dir, names, "cifar-10-batches-bin", set), cifar_kind::cifar10);
}

// CIFAR-100's training set (train.bin, 50000 images) or test set (test.bin, 10000), from `dir`
// or its subfolder cifar-100-binary, labelled by fine class (100) or superclass (20).
inline cifar_dataset load_cifar100(const std::filesystem::path& dir, split which,
                                   cifar100_label label = cifar100_label::fine) {
  const std::vector<std::string> names{which == split::train ? "train.bin" : "test.bin"};
  const std::string set = which == split::train ? "CIFAR-100 training set" : "CIFAR-100 test set";
  return cifar_dataset(detail::find_cifar_files(dir, names, "cifar-100-binary", set), cifar_kind::cifar100, label);
}

}  // namespace strata::data
