// A deliberately planted bug per reader, compiled in only with DF_FUZZ_PLANT (CMake option,
// fuzz builds only: tools/fuzz.sh --plant), to show that each libFuzzer harness reaches
// deep enough into its reader to find one (fuzz/README.md). Each condition is one specific
// property of a well-formed input that no shipped file has. In every other build the macro
// is empty.
#pragma once

#ifdef DF_FUZZ_PLANT
#include <cstdio>
#include <cstdlib>
#define DF_FUZZ_PLANT_IF(cond)                                                   \
  do {                                                                           \
    if (cond) {                                                                  \
      std::fprintf(stderr, "DF_FUZZ_PLANT: planted bug reached: %s\n", #cond); \
      std::abort();                                                              \
    }                                                                            \
  } while (0)
#else
#define DF_FUZZ_PLANT_IF(cond) \
  do {                         \
  } while (0)
#endif
