// strata/data/idx.hpp — IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed: read_idx gives
// the dimensions and payload of any IDX file; load_idx_images pairs an image file with a label file
// as N×1×H×W floats in [0, 1] and int32 labels; load_fashion_mnist finds the four standard files.
//
// Every malformed file is an error that names the file (and the record, for a bad label): a
// truncated download or a stray byte must never turn into silently zeroed or shifted images.
// Needs zlib (link ZLIB::ZLIB, or -lz).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "strata/config.hpp"
#include "strata/core/error.hpp"
#include "strata/core/parallel.hpp"
#include "strata/core/shape.hpp"
#include "strata/core/tensor.hpp"
#include "strata/data/data_error.hpp"
#include "strata/data/labelled_images.hpp"

namespace strata::data {


// IDX element type codes (the third magic byte). MNIST and Fashion-MNIST use only idx_ubyte.
inline constexpr std::uint8_t idx_ubyte = 0x08;
inline constexpr std::uint8_t idx_sbyte = 0x09;
inline constexpr std::uint8_t idx_int16 = 0x0B;
inline constexpr std::uint8_t idx_int32 = 0x0C;
inline constexpr std::uint8_t idx_float32 = 0x0D;
inline constexpr std::uint8_t idx_float64 = 0x0E;

// Bytes per element for a type code; 0 for a code the format does not define.
constexpr std::int64_t idx_element_size(std::uint8_t type_code) noexcept {
  switch (type_code) {
    case idx_ubyte:
    case idx_sbyte: return 1;
    case idx_int16: return 2;
    case idx_int32:
    case idx_float32: return 4;
    case idx_float64: return 8;
    default: return 0;
  }
}

constexpr std::string_view idx_type_name(std::uint8_t type_code) noexcept {
  switch (type_code) {
    case idx_ubyte: return "unsigned byte";
    case idx_sbyte: return "signed byte";
    case idx_int16: return "int16";
    case idx_int32: return "int32";
    case idx_float32: return "float32";
    case idx_float64: return "float64";
    default: return "unknown";
  }
}

// The contents of one IDX file. `bytes` holds product(dims) elements of the type, row-major;
// multi-byte elements are already converted from the file's big-endian order to the host's, so
// the buffer can be reinterpreted as int16/int32/float/double directly.
struct idx_array {
  std::uint8_t type_code = idx_ubyte;
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> bytes;

  std::int64_t elements() const noexcept {
    std::int64_t n = 1;
    for (const auto d : dims) n *= d;
    return n;
  }
  std::int64_t element_size() const noexcept { return idx_element_size(type_code); }
};

// Reads a whole IDX file: magic 00 00 <type> <rank>, rank big-endian uint32 dimensions, then
// exactly product(dims) elements. Anything else (bad magic, unknown type, a zero dimension, a
// payload shorter or longer than the header says, a gzip stream cut short) throws data_error.
STRATA_FUNC idx_array read_idx(const std::filesystem::path& file);

// Loads an image file (unsigned bytes, N×H×W) and its label file (unsigned bytes, N). Pixels are
// scaled as torchvision's ToTensor does, x / 255.0f, so models and statistics carry over exactly.
// Throws data_error for a wrong type or rank, differing counts (naming both files and counts) or
// a label not below `classes` (naming the label file and the record).
STRATA_FUNC labelled_images load_idx_images(const std::filesystem::path& images, const std::filesystem::path& labels,
                                            std::int64_t classes = 10);

enum class split { train, test };

// Where Debian's dataset-fashion-mnist package installs the four .gz files.
inline const std::filesystem::path default_fashion_mnist_dir{"/usr/share/datasets/fashion-mnist"};

// The ten Fashion-MNIST classes, indexed by label.
inline constexpr std::array<std::string_view, 10> fashion_mnist_classes{
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

// Loads the Fashion-MNIST training (60000) or test (10000) set from `dir`, which holds the
// original file names, gzip-compressed or not.
STRATA_FUNC labelled_images load_fashion_mnist(const std::filesystem::path& dir, split which);

}  // namespace strata::data

// Header-only mode: the definitions follow. Precompiled mode (config.hpp): strata_precompiled
// compiles them once (src/data.cpp).
#if !defined(STRATA_PRECOMPILED)
#include "strata/data/idx_impl.hpp"
#endif
