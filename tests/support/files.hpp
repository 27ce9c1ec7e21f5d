// Shared by the data and io tests: a scratch directory that removes itself, raw bytes written
// to and read from a file (for hand-made valid and corrupted inputs), and deterministic noise.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

namespace strata::testing {

// A fresh directory under the system temp directory, removed with everything in it.
struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(const std::string& prefix = "strata_test") {
    static std::atomic<int> counter{0};
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    path = std::filesystem::temp_directory_path() /
           (prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(stamp) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::filesystem::path operator/(const std::string& name) const { return path / name; }
  // The names of what is in it, sorted (to see that nothing was left behind).
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

using bytes = std::vector<std::uint8_t>;

// Writes (truncating) the bytes to the file; REQUIREs success.
inline void write_raw(const std::filesystem::path& file, const void* data, std::size_t n) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  REQUIRE(out.good());
}
inline void write_raw(const std::filesystem::path& file, const bytes& b) { write_raw(file, b.data(), b.size()); }
inline void write_raw_bytes(const std::filesystem::path& file, const std::vector<std::byte>& b) {
  write_raw(file, b.data(), b.size());
}

// The whole file as bytes (empty if it cannot be opened).
inline bytes read_raw(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
// The same as std::byte.
inline std::vector<std::byte> read_raw_bytes(const std::filesystem::path& file) {
  const bytes b = read_raw(file);
  std::vector<std::byte> out(b.size());
  if (!b.empty()) std::memcpy(out.data(), b.data(), b.size());
  return out;
}

// Deterministic bytes that deflate cannot shrink much (a 32-bit LCG's top byte), so a cut in
// the middle of a compressed file is a cut in the middle of its data.
inline bytes lcg_bytes(std::size_t n, std::uint32_t seed = 12345) {
  bytes b(n);
  for (auto& x : b) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<std::uint8_t>(seed >> 24);
  }
  return b;
}

}  // namespace strata::testing
