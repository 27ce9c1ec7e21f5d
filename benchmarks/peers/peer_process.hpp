// benchmarks/peers/peer_process.hpp — a peer (PyTorch, torchvision) as a Python coprocess that
// answers one request line with one reply line, so the peer's calls can alternate with strata's
// in the same timing rounds. The script's first line is "ready <version>" or "unavailable <why>".
#pragma once

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

class peer_process {
  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;

 public:
  std::string status;  // the script's first line, or why it did not start

  // Runs /usr/bin/python3 script args… (stderr to /dev/null).
  explicit peer_process(const std::string& script, const std::vector<std::string>& args = {}) {
    int down[2], up[2];
    if (pipe(down) != 0 || pipe(up) != 0) {
      status = "pipe() failed";
      return;
    }
    pid_ = fork();
    if (pid_ == 0) {
      dup2(down[0], 0);
      dup2(up[1], 1);
      if (int null = open("/dev/null", O_WRONLY); null >= 0) dup2(null, 2);
      close(down[1]);
      close(up[0]);
      std::vector<char*> argv{const_cast<char*>("python3"), const_cast<char*>(script.c_str())};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv("/usr/bin/python3", argv.data());
      _exit(127);
    }
    close(down[0]);
    close(up[1]);
    to_ = fdopen(down[1], "w");
    from_ = fdopen(up[0], "r");
    status = read_line();
    if (status.empty()) status = "/usr/bin/python3 could not run " + script;
  }
  ~peer_process() {
    if (to_) {
      std::fputs("quit\n", to_);
      std::fclose(to_);
    }
    if (from_) std::fclose(from_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }
  peer_process(const peer_process&) = delete;
  peer_process& operator=(const peer_process&) = delete;

  bool ready() const { return status.rfind("ready", 0) == 0; }
  std::string version() const { return ready() ? status.substr(6) : std::string(); }
  std::string read_line() {
    std::array<char, 512> buf{};
    if (!from_ || !std::fgets(buf.data(), int(buf.size()), from_)) return {};
    std::string line = buf.data();
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    return line;
  }
  std::string ask(const std::string& line) {
    std::fputs((line + "\n").c_str(), to_);
    std::fflush(to_);
    return read_line();
  }
};
