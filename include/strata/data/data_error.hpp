// strata/data/data_error.hpp — the error every reader throws for a file that cannot be read or
// does not hold what it should: the message names the file (and the record, when it is one
// record's fault), so a user never has to guess which of a thousand files was bad.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "strata/core/error.hpp"

namespace strata::data {

// A data file that cannot be read or does not hold what it should. The message always starts
// with the file ("file '/d/train-labels-idx1-ubyte', record 17: …"); file() and record() give
// the same facts to code that wants to skip or report a record. record() is -1 when the problem
// is not one record's.
class data_error : public error {
 public:
  data_error(const std::filesystem::path& file, const std::string& what, std::int64_t record = -1)
      : error(compose(file, what, record)),
        file_(std::make_shared<const std::filesystem::path>(file)),
        record_(record) {}

  const std::filesystem::path& file() const noexcept { return *file_; }
  std::int64_t record() const noexcept { return record_; }

 private:
  static std::string compose(const std::filesystem::path& file, const std::string& what, std::int64_t record) {
    std::string s = "file '" + file.string() + "'";
    if (record >= 0) s += ", record " + std::to_string(record);
    return s + ": " + what;
  }

  // Shared, so copying the exception (catch by value, std::exception_ptr) cannot throw.
  std::shared_ptr<const std::filesystem::path> file_;
  std::int64_t record_;
};

namespace detail {
// Where a missing file was looked for: its directory, made absolute so a relative path run from
// an unexpected working directory is obvious in the message.
inline std::string searched_directory(const std::filesystem::path& file) {
  std::error_code ec;
  auto dir = std::filesystem::absolute(file, ec).parent_path();
  if (ec) dir = file.parent_path();
  std::string s = "'" + dir.string() + "'";
  if (!std::filesystem::is_directory(dir, ec)) s += " (which does not exist)";
  return s;
}
}  // namespace detail

}  // namespace strata::data
