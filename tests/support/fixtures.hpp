// Reader for the PyTorch reference fixtures in tests/reference/fixtures (written by
// tests/reference/make_reference.py; the format is described in tests/reference/README.md).
//
//   strata::testing::fixture f("conv_3x3_pad1");
//   const auto& w = f.at("weight");   // w.dims == {4, 3, 3, 3}, w.values row-major
//
// Header-only, standard library only. The build defines STRATA_FIXTURE_DIR (a string literal).
#pragma once

#ifndef STRATA_FIXTURE_DIR
#error "STRATA_FIXTURE_DIR must be defined (the directory holding the reference *.bin fixtures), e.g. -DSTRATA_FIXTURE_DIR=\"/path/to/tests/reference/fixtures\""
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace strata::testing {

// One stored tensor: its shape and its float32 values in row-major order.
struct fixture_tensor {
  std::vector<std::int64_t> dims;
  std::vector<float> values;

  std::int64_t size() const {
    std::int64_t n = 1;
    for (auto d : dims) n *= d;
    return n;
  }
};

// All tensors of one reference case, read and validated on construction.
class fixture {
 public:
  explicit fixture(const std::string& case_name) : fixture(case_name, std::string(STRATA_FIXTURE_DIR) + "/" + case_name + ".bin") {}

  // A file of the same format elsewhere (fixtures generated at test time).
  fixture(const std::string& case_name, const std::string& path) : case_name_(case_name), path_(path) {
    std::ifstream in(path_, std::ios::binary);
    if (!in) fail("cannot open the file (regenerate with tests/reference/make_reference.py?)");
    const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) fail("read error");
    parse(bytes);
  }

  const std::string& case_name() const noexcept { return case_name_; }
  const std::string& path() const noexcept { return path_; }

  bool has(const std::string& name) const { return tensors_.count(name) != 0; }

  const fixture_tensor& at(const std::string& name) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) {
      std::string msg = "fixture '" + case_name_ + "' has no tensor '" + name + "'; it has:";
      for (const auto& n : order_) msg += " " + n;
      throw std::runtime_error(msg);
    }
    return it->second;
  }

  // Tensor names in file order.
  std::vector<std::string> names() const { return order_; }

 private:
  static constexpr std::uint32_t kVersion = 1;

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("fixture '" + case_name_ + "' (" + path_ + "): " + what);
  }

  void parse(const std::vector<unsigned char>& b) {
    std::size_t pos = 0;
    auto need = [&](std::size_t n, const char* what) {
      if (b.size() - pos < n)
        fail("truncated while reading " + std::string(what) + " at byte " + std::to_string(pos) + " (file has " +
             std::to_string(b.size()) + " bytes, " + std::to_string(n) + " more needed)");
    };
    auto u32 = [&](const char* what) {
      need(4, what);
      std::uint32_t v = 0;
      for (int i = 0; i < 4; ++i) v |= std::uint32_t(b[pos + i]) << (8 * i);
      pos += 4;
      return v;
    };
    auto i64 = [&](const char* what) {
      need(8, what);
      std::uint64_t v = 0;
      for (int i = 0; i < 8; ++i) v |= std::uint64_t(b[pos + i]) << (8 * i);
      pos += 8;
      return static_cast<std::int64_t>(v);
    };

    need(4, "the magic bytes");
    if (std::memcmp(b.data(), "SFIX", 4) != 0) fail("not a strata fixture (magic bytes are not \"SFIX\")");
    pos = 4;
    const std::uint32_t version = u32("the version");
    if (version != kVersion)
      fail("unsupported version " + std::to_string(version) + " (this reader knows " + std::to_string(kVersion) + ")");
    const std::uint32_t count = u32("the tensor count");

    for (std::uint32_t t = 0; t < count; ++t) {
      const std::string which = "tensor #" + std::to_string(t);
      const std::uint32_t name_len = u32("a name length");
      need(name_len, "a tensor name");
      std::string name(reinterpret_cast<const char*>(b.data() + pos), name_len);
      pos += name_len;
      if (name.empty()) fail(which + " has an empty name");
      if (tensors_.count(name)) fail("duplicate tensor name '" + name + "'");

      const std::uint32_t rank = u32("a rank");
      if (rank > 16) fail("tensor '" + name + "' has implausible rank " + std::to_string(rank));
      fixture_tensor tensor;
      tensor.dims.reserve(rank);
      std::uint64_t count_values = 1;
      for (std::uint32_t d = 0; d < rank; ++d) {
        const std::int64_t dim = i64("a dimension");
        if (dim < 0) fail("tensor '" + name + "' has negative dimension " + std::to_string(dim));
        if (dim != 0 && count_values > (std::numeric_limits<std::uint64_t>::max() / 4) / std::uint64_t(dim))
          fail("tensor '" + name + "' is implausibly large");
        count_values *= std::uint64_t(dim);
        tensor.dims.push_back(dim);
      }
      if (count_values > (b.size() - pos) / 4)
        fail("truncated: tensor '" + name + "' needs " + std::to_string(count_values * 4) + " bytes of values at byte " +
             std::to_string(pos) + " but only " + std::to_string(b.size() - pos) + " remain");
      tensor.values.resize(static_cast<std::size_t>(count_values));
      for (std::size_t i = 0; i < tensor.values.size(); ++i) {
        std::uint32_t bits = 0;
        for (int k = 0; k < 4; ++k) bits |= std::uint32_t(b[pos + k]) << (8 * k);
        pos += 4;
        std::memcpy(&tensor.values[i], &bits, 4);
      }
      order_.push_back(name);
      tensors_.emplace(std::move(name), std::move(tensor));
    }
    if (pos != b.size())
      fail(std::to_string(b.size() - pos) + " unexpected trailing bytes after " + std::to_string(count) + " tensors");
  }

  std::string case_name_;
  std::string path_;
  std::map<std::string, fixture_tensor> tensors_;
  std::vector<std::string> order_;
};

}  // namespace strata::testing
