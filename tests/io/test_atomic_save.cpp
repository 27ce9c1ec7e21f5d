// Saving survives a crash: io::atomic_file leaves the destination with its old bytes or its new
// ones, never a mix, and no temporary file after a success or a failure; a saver killed (SIGKILL)
// at random points always leaves a complete archive that read_archive accepts.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <random>
#include <regex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strata/io/archive.hpp"
#include "strata/io/atomic_file.hpp"
#include "support/errors.hpp"
#include "support/files.hpp"

using namespace strata;
using namespace strata::io;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

std::vector<std::byte> bytes_of(const std::string& s) {
  std::vector<std::byte> b(s.size());
  std::transform(s.begin(), s.end(), b.begin(), [](char c) { return static_cast<std::byte>(c); });
  return b;
}

std::vector<std::byte> file_bytes(const fs::path& p) { return strata::testing::read_raw_bytes(p); }

std::string error_of(auto&& f) { return strata::testing::message_of<strata::error>(f); }

// An archive of about `megabytes` MB whose every byte of data says which one it is.
archive large_archive(const std::string& which, float fill, std::int64_t megabytes) {
  Tensor<float, 1> bulk(Shape<1>{megabytes * 1024 * 256}, fill);
  Tensor<std::int32_t, 1> tag(Shape<1>{3}, static_cast<std::int32_t>(fill));
  return archive{"strata.checkpoint", which, 1, {make_entry("bulk", bulk), make_entry("tag", tag)}, {}};
}

// Kills and reaps the child when a REQUIRE leaves the test early.
struct child_process {
  pid_t pid = -1;
  ~child_process() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

}  // namespace

TEST_CASE("the destination holds the new bytes after a save, the old ones after a failure, and no temporary file",
          "[atomic_file]") {
  const strata::testing::temp_dir dir("strata_atomic_save_test");
  const fs::path file = dir.path / "model.strata";
  const auto first = bytes_of("the first contents");
  const auto second = bytes_of("the second, longer contents");

  write_file_atomically(file, first);
  CHECK(file_bytes(file) == first);
  CHECK(dir.files() == std::vector<std::string>{"model.strata"});
  write_file_atomically(file, second);
  CHECK(file_bytes(file) == second);
  CHECK(dir.files() == std::vector<std::string>{"model.strata"});

  // A new file gets 0644 less the umask, as from any other program.
  const mode_t mask = ::umask(022);
  ::umask(mask);
  CHECK((fs::status(file).permissions() & fs::perms::all) == static_cast<fs::perms>(0644 & ~mask));

  SECTION("contents produced in pieces, small ones gathered and large ones passed through, arrive in order") {
    std::vector<std::byte> all;
    {
      atomic_file out(file);
      std::mt19937 rng(7);
      for (const std::size_t n : {1, 100, 70000, 3, 65536, 65535, 1, 200000, 0, 17}) {
        std::vector<std::byte> piece(n);
        for (auto& b : piece) b = static_cast<std::byte>(rng());
        out.write(piece);
        all.insert(all.end(), piece.begin(), piece.end());
      }
      CHECK(file_bytes(file) == second);  // nothing visible before commit()
      out.commit();
    }
    CHECK(file_bytes(file) == all);
    CHECK(dir.files() == std::vector<std::string>{"model.strata"});
  }

  SECTION("an exception while the contents are produced keeps the old file and removes the temporary one") {
    try {
      atomic_file out(file);
      out.write(first);
      out.write(std::vector<std::byte>(1 << 20));
      throw std::runtime_error("the producer failed");
    } catch (const std::runtime_error&) {
    }
    CHECK(file_bytes(file) == second);
    CHECK(dir.files() == std::vector<std::string>{"model.strata"});
  }

  // The failures below happen as root too, where permission checks would not.
  SECTION("a parent that is a regular file: the create fails, naming the path and the step") {
    strata::testing::write_raw(dir.path / "plain", first.data(), first.size());
    const auto msg = error_of([&] { write_file_atomically(dir.path / "plain" / "m.strata", first); });
    CHECK_THAT(msg, Contains("cannot write '" + (dir.path / "plain" / "m.strata").string() + "'") &&
                        Contains("creating the temporary file") && Contains("failed: Not a directory"));
    CHECK(dir.files() == std::vector<std::string>{"model.strata", "plain"});
  }

  SECTION("a directory that was removed") {
    const fs::path gone = dir.path / "gone";
    fs::create_directory(gone);
    fs::remove(gone);
    CHECK_THAT(error_of([&] { write_file_atomically(gone / "m.strata", first); }),
               Contains("m.strata") && Contains("No such file or directory"));
  }

  SECTION("a destination that is a directory: the rename fails after the data is on disk, and the temporary "
          "file is removed") {
    fs::create_directory(dir.path / "blocked");
    strata::testing::write_raw(dir.path / "blocked" / "inside", first.data(), first.size());
    const auto msg = error_of([&] { write_file_atomically(dir.path / "blocked", second); });
    CHECK_THAT(msg, Contains("blocked") && Contains("renaming") && Contains("Is a directory"));
    CHECK(dir.files() == std::vector<std::string>{"blocked", "model.strata"});
    CHECK(file_bytes(dir.path / "blocked" / "inside") == first);
  }

  SECTION("a write that fails halfway (the file-size limit): the old file stays, the temporary file goes") {
    rlimit old_limit{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit small = old_limit;
    small.rlim_cur = 64 * 1024;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    const auto msg = error_of([&] { write_file_atomically(file, std::vector<std::byte>(1 << 20)); });
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    std::signal(SIGXFSZ, old_handler);
    CHECK_THAT(msg, Contains("cannot write '" + file.string() + "': writing '" + file.string() + ".tmp.") &&
                        Contains("failed: File too large"));
    CHECK(file_bytes(file) == second);
    CHECK(dir.files() == std::vector<std::string>{"model.strata"});
  }

  SECTION("a path that names a directory is refused before anything is created") {
    CHECK_THAT(error_of([&] { write_file_atomically(dir.path / "", first); }), Contains("names a directory"));
    CHECK(dir.files() == std::vector<std::string>{"model.strata"});
  }

  SECTION("a bare file name is saved in the working directory, whose directory entry is flushed too") {
    const fs::path old_cwd = fs::current_path();
    fs::current_path(dir.path);
    std::string msg;
    try {
      write_file_atomically("relative.strata", first);
    } catch (const std::exception& e) {
      msg = e.what();
    }
    fs::current_path(old_cwd);
    CHECK(msg.empty());
    CHECK(file_bytes(dir.path / "relative.strata") == first);
  }

  SECTION("write_archive reports the same failures as archive_error") {
    const archive a = large_archive("A", 1.0f, 1);
    CHECK_THAT(strata::testing::message_of<archive_error>([&] { write_archive(dir.path / "blocked_by" / "m.strata", a); }),
               Contains("m.strata") && Contains("No such file or directory"));
    write_archive(file, a);
    CHECK(file_bytes(file) == encode_archive(a));
    CHECK(dir.files() == std::vector<std::string>{"model.strata"});
  }
}

// The crash test. A child process saves two large archives over one file, alternately (first the
// one the file does not hold), as fast as it can; the parent kills it (SIGKILL: no handler, no
// cleanup) after a random delay of up to about two saves, up to 100 times in at most 6 s. After
// every kill the file must be one of the two archives, whole, and read_archive must accept it. A
// kill while the temporary file exists leaves it behind, named as atomic_file.hpp says; such
// leftovers must appear, as they show the kills landed inside saves, not only between them.
TEST_CASE("a saver killed at random points leaves the previous or the next checkpoint, never a partial one",
          "[atomic_file][crash]") {
  const strata::testing::temp_dir dir("strata_atomic_save_test");
  const fs::path file = dir.path / "checkpoint.strata";
  const archive a = large_archive("A", 1.0f, 6), b = large_archive("B", 2.0f, 6);
  const std::vector<std::byte> bytes_a = encode_archive(a), bytes_b = encode_archive(b);
  REQUIRE(bytes_a.size() > 6u << 20);
  REQUIRE(bytes_a.size() == bytes_b.size());  // only the bytes tell them apart, not the file's size

  // How long one save takes here (fsync makes it the disk's speed), to scale the delays.
  const auto t0 = std::chrono::steady_clock::now();
  write_archive(file, a);
  const auto save_time = std::chrono::steady_clock::now() - t0;
  const auto max_delay_us = std::clamp<std::int64_t>(
      2 * std::chrono::duration_cast<std::chrono::microseconds>(save_time).count(), 2000, 500000);

  const std::uint32_t seed = 20240516;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::int64_t> delay_us(0, max_delay_us);
  const std::regex leftover_name("checkpoint\\.strata\\.tmp\\.([0-9]+)\\.[0-9a-f]{8}");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  int kills = 0, found_a = 0, found_b = 0, leftovers = 0;
  bool last_was_a = true;  // what the file holds; the child saves the other one first
  const double save_ms = std::chrono::duration<double, std::milli>(save_time).count();
  INFO("seed " << seed << ", one save " << save_ms << " ms, delays up to " << max_delay_us << " us");

  // At least 20 kills however slow a round is here (a sanitizer build checks a 6 MB file slowly),
  // and up to 100 while the 6 s last.
  while (kills < 100 && (kills < 20 || std::chrono::steady_clock::now() < deadline)) {
    child_process child;
    child.pid = ::fork();
    REQUIRE(child.pid >= 0);
    if (child.pid == 0) {
      try {
        for (bool next_is_a = !last_was_a;; next_is_a = !next_is_a) write_archive(file, next_is_a ? a : b);
      } catch (...) {
      }
      ::_exit(3);  // only a failed save gets here
    }
    ::usleep(static_cast<useconds_t>(delay_us(rng)));
    REQUIRE(::kill(child.pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(child.pid, &status, 0) == child.pid);
    const pid_t killed = child.pid;
    child.pid = -1;
    REQUIRE(WIFSIGNALED(status));  // not an exit: every save in the child succeeded
    ++kills;

    INFO("after kill " << kills);
    const std::vector<std::byte> now = file_bytes(file);
    const bool is_a = now == bytes_a, is_b = now == bytes_b;
    REQUIRE((is_a || is_b));
    found_a += is_a;
    found_b += is_b;
    last_was_a = is_a;
    const archive read = read_archive(file, "strata.checkpoint", is_a ? "A" : "B");
    REQUIRE(read.entries.size() == 2);

    for (const auto& name : dir.files()) {
      if (name == "checkpoint.strata") continue;
      std::smatch m;
      INFO("leftover " << name);
      REQUIRE(std::regex_match(name, m, leftover_name));
      CHECK(std::stol(m[1].str()) == killed);
      ++leftovers;
      fs::remove(dir.path / name);
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  WARN(kills << " kills in " << seconds << " s (one save " << save_ms << " ms): the file was A " << found_a
             << " times, B " << found_b << " times; " << leftovers << " kills inside a save");
  CHECK(found_a > 0);
  CHECK(found_b > 0);  // the child replaced the file; it was A when the test began
  CHECK(leftovers > 0);

  // The next save works, over whatever the last kill left.
  write_archive(file, b);
  CHECK(file_bytes(file) == bytes_b);
  CHECK(dir.files() == std::vector<std::string>{"checkpoint.strata"});
}
