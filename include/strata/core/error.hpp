// strata/core/error.hpp — the exceptions strata throws. Every message names what was wrong
// (the operation, both shapes, the file, the layer), so a user can act on it.
#pragma once

#include <stdexcept>
#include <string>

namespace strata {

// Base of every strata exception, so callers can catch the library's errors as one.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Runtime extents that do not fit together: "matmul: [2, 3] and [4, 5]: inner extents differ".
class shape_error : public error {
 public:
  using error::error;
};

// An index outside a tensor's extents (checked in element access when STRATA_CHECK_BOUNDS is on).
class index_error : public error {
 public:
  using error::error;
};

// The device could not do what was asked: allocation failed, a kernel failed to launch …
class device_error : public error {
 public:
  using error::error;
};

}  // namespace strata
