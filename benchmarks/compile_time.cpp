// How long a user waits for the compiler, and how much memory it takes: the demo
// (examples/fashion_mnist.cpp) and a translation unit with Model<ResNet50> and one forward,
// compiled (to an object file) with the project's release flags (-O2 -march=native -fopenmp),
// in rounds that alternate the two; medians and the peak resident memory of the compiler.
// With STRATA_PRECOMPILED (the CMake default) the RESULT line is for what a strata::strata user
// compiles (-DSTRATA_PRECOMPILED: the kernels, archive, IDX and progress come from the library),
// and the same two files are also compiled header-only, as a user who only adds include/ does.
//   compile_time [--rounds N]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

struct measurement {
  double seconds = 0;
  double megabytes = 0;  // peak resident set of the compiler process (cc1plus)
};

// Runs the command through /bin/sh; wall time, and the peak resident memory of the largest
// process in its tree (wait4 reports the maximum over the waited-for descendants: cc1plus).
measurement run(const std::string& command) {
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "compile_time: the compiler failed:\n  %s\n", command.c_str());
    std::exit(1);
  }
  return {s, double(usage.ru_maxrss) / 1024.0};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: %s [--rounds N]\n", argv[0]);
      return 2;
    }
  }
  const std::string compile = STRATA_COMPILE_COMMAND;  // compiler, flags, include directories
  const std::string precompiled = STRATA_PRECOMPILED_FLAG;  // "-DSTRATA_PRECOMPILED", or empty without the option
  struct mode {
    const char* name;
    std::string flags;
    std::vector<double> demo_s, resnet_s, demo_mb, resnet_mb;
  };
  std::vector<mode> modes;
  if (!precompiled.empty()) modes.push_back({"precompiled", " " + precompiled, {}, {}, {}, {}});
  modes.push_back({"header-only", "", {}, {}, {}, {}});
  std::printf("compiler command: %s [%s]\n\n", compile.c_str(), precompiled.c_str());
  std::printf("%-8s %-12s %12s %12s %14s %14s\n", "round", "mode", "demo s", "demo MB", "resnet50 s", "resnet50 MB");
  for (int r = 0; r < rounds; ++r)
    for (auto& m : modes) {
      const measurement d = run(compile + m.flags + " -c " STRATA_SOURCE_DIR "/examples/fashion_mnist.cpp -o /tmp/strata_compile_time_demo.o");
      const measurement n = run(compile + m.flags + " -c " STRATA_SOURCE_DIR
                                "/benchmarks/compile_time/resnet50_forward.cpp -o /tmp/strata_compile_time_resnet.o");
      m.demo_s.push_back(d.seconds), m.demo_mb.push_back(d.megabytes);
      m.resnet_s.push_back(n.seconds), m.resnet_mb.push_back(n.megabytes);
      std::printf("%-8d %-12s %12.2f %12.0f %14.2f %14.0f\n", r + 1, m.name, d.seconds, d.megabytes, n.seconds, n.megabytes);
      std::fflush(stdout);
    }
  std::printf("\n");
  for (const auto& m : modes) {
    const double ds = median(m.demo_s), rs = median(m.resnet_s);
    const double dm = *std::max_element(m.demo_mb.begin(), m.demo_mb.end());
    const double rm = *std::max_element(m.resnet_mb.begin(), m.resnet_mb.end());
    std::printf("%s, median of %d rounds: demo %.2f s (target < 15), resnet50 TU %.2f s (target < 60), %.0f MB (target < 2048)\n",
                m.name, rounds, ds, rs, rm);
    if (&m == &modes.front())  // what strata::strata users compile
      std::printf("RESULT demo_compile_s=%.2f demo_compile_mb=%.0f resnet50_compile_s=%.2f resnet50_compile_mb=%.0f\n", ds, dm, rs,
                  rm);
    else
      std::printf("RESULT header_only_demo_compile_s=%.2f header_only_demo_compile_mb=%.0f header_only_resnet50_compile_s=%.2f "
                  "header_only_resnet50_compile_mb=%.0f\n",
                  ds, dm, rs, rm);
  }
  return 0;
}
