// A deliberately planted bug per reader, compiled in only with DF_FUZZ_PLANT (CMake option,
// fuzz builds only: tools/fuzz.sh --plant), to show that each libFuzzer harness reaches
// deep enough into its reader to find one (fuzz/README.md). Each condition is one specific
// property of a well-formed input that no shipped file has. In every other build the macro
// is empty.
#pragma once

#ifdef DF_FUZZ_PLANT
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace dreamforge::fuzz_plant {

// A reader that runs in a forked probe process first (datasets/h5_probe.h) would reach its
// plant there, where libFuzzer does not look: the probe's child sets this to its reply pipe,
// and a plant reached in the child reports its condition there and exits with
// kProbeChildExit, so that the parent aborts with the same message.
inline int probe_child_fd = -1;
inline constexpr int kProbeChildExit = 86;

// `what`: the condition and where it is ("cond [file:line]"), which tools/fuzz.sh --plant
// matches against the harness's own reader.
[[noreturn]] inline void Reached(const char* what) {
  std::fprintf(stderr, "DF_FUZZ_PLANT: planted bug reached: %s\n", what);
  if (probe_child_fd >= 0) {
    const std::string reply = std::string("P") + what;
    (void)!write(probe_child_fd, reply.data(), reply.size());
    _exit(kProbeChildExit);
  }
  std::abort();
}

}  // namespace dreamforge::fuzz_plant

#define DF_FUZZ_PLANT_STR2(x) #x
#define DF_FUZZ_PLANT_STR(x) DF_FUZZ_PLANT_STR2(x)
#define DF_FUZZ_PLANT_WHAT(cond) #cond " [" __FILE__ ":" DF_FUZZ_PLANT_STR(__LINE__) "]"
#define DF_FUZZ_PLANT_IF(cond)                                             \
  do {                                                                     \
    if (cond) ::dreamforge::fuzz_plant::Reached(DF_FUZZ_PLANT_WHAT(cond)); \
  } while (0)
#else
#define DF_FUZZ_PLANT_IF(cond) \
  do {                         \
  } while (0)
#endif
