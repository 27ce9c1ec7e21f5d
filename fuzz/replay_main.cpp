// fuzz/replay_main.cpp — runs a fuzz target over files and folders of inputs without libFuzzer
// (the seed corpus and every input a campaign found and fixed), so the normal build and CTest
// keep checking them: `fuzz_replay_idx fuzz/corpus/idx fuzz/regressions/idx`.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {
int replay(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) {
    std::fprintf(stderr, "replay: cannot read %s\n", file.c_str());
    return 1;
  }
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  std::int64_t inputs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path p = argv[i];
    if (std::filesystem::is_directory(p)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        if (replay(f)) return 1;
        ++inputs;
      }
    } else if (std::filesystem::is_regular_file(p)) {
      if (replay(p)) return 1;
      ++inputs;
    } else if (std::filesystem::exists(p)) {
      std::fprintf(stderr, "replay: %s is neither a file nor a folder\n", argv[i]);
      return 1;
    }  // a folder that does not exist (no regressions yet) holds no inputs
  }
  std::printf("replay: %lld inputs, each read or rejected with a strata::error\n", static_cast<long long>(inputs));
  return 0;
}
