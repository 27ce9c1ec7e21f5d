// strata/io/atomic_file.hpp — replacing a file so that a reader, or a crash at any moment, finds
// either its old contents or its new ones, never a mix: write a temporary file beside it, flush it
// to disk, rename it over the destination, flush the directory. Every model and checkpoint goes so.
//
// The temporary file is "<destination's name>.tmp.<writer's pid>.<8 hex digits>" in the
// destination's directory (the same file system, so the rename is atomic). One that is left
// behind was being written when its process died (kill -9, a power cut); it is never read, and
// may be deleted once no process with that pid is saving.
#pragma once

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "strata/core/error.hpp"

#if defined(_WIN32)
#include <fcntl.h>
#include <io.h>
#include <process.h>
#include <sys/stat.h>
#else
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace strata::io {

// One file being replaced. The constructor creates the temporary file; write() appends to it;
// commit() puts it in place. Destroyed without a successful commit() (an exception while the
// contents were produced), it removes the temporary file and the destination keeps its old
// contents. Every failure throws strata::error naming the destination, the step and the system's
// reason: "cannot write 'model.strata': fsync of 'model.strata.tmp.41.09af33c1' failed: No space
// left on device"; the temporary file is removed first.
class atomic_file {
 public:
  explicit atomic_file(std::filesystem::path destination);
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  ~atomic_file() { abandon(); }

  void write(std::span<const std::byte> bytes);

  // Flushes the file to disk, closes it, renames it over the destination and flushes the
  // directory, so the new name survives a power cut too. Call it once.
  void commit();

 private:
  // Small pieces (an archive's record headers) are gathered into writes of this size.
  static constexpr std::size_t buffer_bytes = std::size_t{1} << 16;

  [[noreturn]] void fail(const std::string& step, int err) {
    fail(step, std::error_code(err, std::generic_category()).message());
  }
  [[noreturn]] void fail(const std::string& step, const std::string& reason);
  void write_all(const std::byte* p, std::size_t n);
  void abandon() noexcept;

  std::filesystem::path destination_, temporary_;
  int fd_ = -1;
  bool renamed_ = false;
  std::vector<std::byte> buffer_;
};

// The whole file in one call.
inline void write_file_atomically(const std::filesystem::path& destination, std::span<const std::byte> bytes) {
  atomic_file file(destination);
  file.write(bytes);
  file.commit();
}

// ---------------------------------------------------------------------------------------------

namespace detail {

inline std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

// "<pid>.<8 hex>": the pid says whose it is; the rest, mixed from a clock, a counter and an
// address, keeps two writers in one process apart (the exclusive create settles any collision).
inline std::string temporary_tag(unsigned attempt) {
#if defined(_WIN32)
  const auto pid = static_cast<std::uint64_t>(::_getpid());
#else
  const auto pid = static_cast<std::uint64_t>(::getpid());
#endif
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t x = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                    reinterpret_cast<std::uintptr_t>(&attempt) ^ (++counter * 0x9E3779B97F4A7C15ull);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  static constexpr char hex[] = "0123456789abcdef";
  std::string s = std::to_string(pid) + ".";
  for (int i = 0; i < 8; ++i, x >>= 4) s += hex[x & 15];
  return s;
}

}  // namespace detail

inline atomic_file::atomic_file(std::filesystem::path destination) : destination_(std::move(destination)) {
  if (destination_.filename().empty() || destination_.filename() == "." || destination_.filename() == "..")
    throw error("cannot write " + detail::quoted(destination_) + ": the path names a directory, not a file");
  std::filesystem::path candidate;
  int err = 0;
  for (unsigned attempt = 0; attempt < 16 && fd_ < 0; ++attempt) {
    candidate = destination_;
    candidate += ".tmp." + detail::temporary_tag(attempt);
    // Exclusive, so two writers never share a temporary file; 0644 less the umask, as a new file
    // from any other program.
#if defined(_WIN32)
    fd_ = ::_wopen(candidate.c_str(), _O_WRONLY | _O_CREAT | _O_EXCL | _O_BINARY | _O_NOINHERIT, _S_IREAD | _S_IWRITE);
#else
    fd_ = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, S_IRUSR | S_IWUSR | S_IRGRP | S_IROTH);
#endif
    err = errno;
    if (fd_ < 0 && err != EEXIST && err != EINTR) break;
  }
  if (fd_ < 0) fail("creating the temporary file " + detail::quoted(candidate), err);  // nothing of ours to remove
  temporary_ = std::move(candidate);
  buffer_.reserve(buffer_bytes);
}

inline void atomic_file::write(std::span<const std::byte> bytes) {
  if (fd_ < 0) throw error("cannot write " + detail::quoted(destination_) + ": write() after commit()");
  if (buffer_.size() + bytes.size() <= buffer_bytes) {
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
    return;
  }
  write_all(buffer_.data(), buffer_.size());
  buffer_.clear();
  if (bytes.size() < buffer_bytes) buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  else write_all(bytes.data(), bytes.size());  // large tensors go straight through, uncopied
}

inline void atomic_file::write_all(const std::byte* p, std::size_t n) {
  while (n > 0) {
    // A write may be short (a signal, a quota nearly reached): go on from where it stopped.
    const std::size_t chunk = n < (std::size_t{1} << 30) ? n : std::size_t{1} << 30;
#if defined(_WIN32)
    const auto done = ::_write(fd_, p, static_cast<unsigned>(chunk));
#else
    const auto done = ::write(fd_, p, chunk);
#endif
    const int err = errno;  // before building a message, which may allocate and change errno
    if (done < 0 && err == EINTR) continue;
    if (done < 0) fail("writing " + detail::quoted(temporary_), err);
    if (done == 0) fail("writing " + detail::quoted(temporary_), EIO);  // no progress and no reason: give up
    p += done;
    n -= static_cast<std::size_t>(done);
  }
}

inline void atomic_file::commit() {
  if (fd_ < 0) throw error("cannot write " + detail::quoted(destination_) + ": commit() called twice");
  write_all(buffer_.data(), buffer_.size());
  buffer_.clear();
  // The data on disk before the rename, or a power cut could leave the new name on an empty file.
#if defined(_WIN32)
  if (::_commit(fd_) != 0) {
    const int err = errno;
    fail("flushing " + detail::quoted(temporary_) + " to disk", err);
  }
  const int closed = ::_close(fd_);
  const int close_err = errno;
  fd_ = -1;
  if (closed != 0) fail("closing " + detail::quoted(temporary_), close_err);
  std::error_code ec;  // MoveFileEx with MOVEFILE_REPLACE_EXISTING
  std::filesystem::rename(temporary_, destination_, ec);
  if (ec) fail("renaming " + detail::quoted(temporary_) + " to it", ec.message());
  renamed_ = true;
#else
  int r;
  do r = ::fsync(fd_);
  while (r != 0 && errno == EINTR);
  if (r != 0) {
    const int err = errno;
    fail("fsync of " + detail::quoted(temporary_), err);
  }
  // Linux releases the descriptor even when close reports EINTR, and the data is already on
  // disk, so only other errors (a network file system's late write error) count.
  const int closed = ::close(fd_);
  const int close_err = errno;
  fd_ = -1;
  if (closed != 0 && close_err != EINTR) fail("closing " + detail::quoted(temporary_), close_err);
  if (::rename(temporary_.c_str(), destination_.c_str()) != 0) {
    const int err = errno;
    fail("renaming " + detail::quoted(temporary_) + " to it", err);
  }
  renamed_ = true;

  // The rename is a change to the directory; until the directory is on disk a power cut can
  // bring back the old name (or none). From here on there is no temporary file to remove.
  std::filesystem::path dir = destination_.parent_path();
  if (dir.empty()) dir = ".";
  int dfd;
  do dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  while (dfd < 0 && errno == EINTR);
  if (dfd < 0) {
    const int err = errno;
    fail("opening its directory " + detail::quoted(dir) + " to flush it", err);
  }
  do r = ::fsync(dfd);
  while (r != 0 && errno == EINTR);
  const int sync_err = errno;
  ::close(dfd);
  // EINVAL: this file system cannot flush a directory (some network and FUSE ones); there is
  // nothing more a program can do, and the file itself is complete.
  if (r != 0 && sync_err != EINVAL) fail("fsync of its directory " + detail::quoted(dir), sync_err);
#endif
}

inline void atomic_file::fail(const std::string& step, const std::string& reason) {
  abandon();
  throw error("cannot write " + detail::quoted(destination_) + ": " + step + " failed: " + reason);
}

inline void atomic_file::abandon() noexcept {
  if (fd_ >= 0) {
#if defined(_WIN32)
    ::_close(fd_);
#else
    ::close(fd_);
#endif
    fd_ = -1;
  }
  if (!renamed_ && !temporary_.empty()) {
    std::error_code ignored;
    std::filesystem::remove(temporary_, ignored);
    temporary_.clear();
  }
}

}  // namespace strata::io
