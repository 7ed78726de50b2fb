// A main for the harnesses outside libFuzzer (the gcc release build): runs
// LLVMFuzzerTestOneInput once on every file named on the command line or found in a named
// folder (recursively, in sorted order); `--optional DIR` names a folder that may be
// missing (fuzz/regressions/<name> before the first crash of that harness). A reader that breaks its contract aborts (see
// fuzz_util.h), so a reintroduced crash fails the ctest that replays the seed corpus and
// the checked-in regression inputs.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    const bool optional = std::string(argv[i]) == "--optional" && i + 1 < argc;
    if (optional) ++i;
    const fs::path arg = argv[i];
    if (optional && !fs::exists(arg)) continue;
    if (fs::is_directory(arg)) {
      for (const auto& e : fs::recursive_directory_iterator(arg)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
    } else if (fs::is_regular_file(arg)) {
      files.push_back(arg);
    } else {
      std::fprintf(stderr, "replay: %s: no such file or folder\n", argv[i]);
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "replay: no inputs\n");
    return 2;
  }
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", f.c_str(), bytes.size());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("replay: %zu inputs, every one within the contract\n", files.size());
  return 0;
}
