// strata/image/image_file_error.hpp — image_file_error: an image file that cannot be read,
// decoded or written, naming the file and the reason. Thrown by every image decoder and writer.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "strata/core/error.hpp"

namespace strata {

// what() is "file '<path>': <reason>"; reason() alone is for callers that re-wrap it (a dataset
// adds the record index).
class image_file_error : public error {
 public:
  image_file_error(const std::filesystem::path& file, const std::string& reason)
      : error("file '" + file.string() + "': " + reason),
        file_(std::make_shared<const std::filesystem::path>(file)),
        reason_(std::make_shared<const std::string>(reason)) {}

  const std::filesystem::path& file() const noexcept { return *file_; }
  const std::string& reason() const noexcept { return *reason_; }

 private:
  // Shared, so copying the exception cannot throw.
  std::shared_ptr<const std::filesystem::path> file_;
  std::shared_ptr<const std::string> reason_;
};

}  // namespace strata
