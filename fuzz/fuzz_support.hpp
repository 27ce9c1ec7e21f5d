// fuzz/fuzz_support.hpp — what every fuzz target shares: a private scratch directory for the
// readers that take paths, and the one rule a target checks, that a hostile input ends in a
// strata::error (or is read) and in nothing else — any other exception, crash, leak or sanitizer
// report is a bug libFuzzer (or the replay driver) reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <system_error>

#include <unistd.h>

#include "strata/core/error.hpp"

namespace strata::fuzz {

// A directory of this process's own under /dev/shm (memory, so writing an input per execution
// costs microseconds) or the system's temporary directory, made once and removed at exit.
inline const std::filesystem::path& scratch_directory() {
  static const std::filesystem::path dir = [] {
    std::error_code ec;
    const std::filesystem::path base = std::filesystem::is_directory("/dev/shm", ec) ? std::filesystem::path("/dev/shm")
                                                                                      : std::filesystem::temp_directory_path();
    auto d = base / ("strata-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  static const struct remover {
    ~remover() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } remove_at_exit;
  return dir;
}

// Writes `bytes` to `name` in the scratch directory and returns its path.
inline std::filesystem::path scratch_file(const std::string& name, std::span<const std::uint8_t> bytes) {
  const auto path = scratch_directory() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write the scratch file %s\n", path.c_str());
    std::abort();
  }
  return path;
}

// Runs `read`; a strata::error is the clean rejection every reader owes a bad input. Anything
// else escapes and libFuzzer reports it as a crash, with the input.
template <class F>
void expect_clean(F&& read) {
  try {
    read();
  } catch (const strata::error&) {
  }
}

}  // namespace strata::fuzz
