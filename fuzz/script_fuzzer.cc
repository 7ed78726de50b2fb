// libFuzzer harness: the demo script reader (sim/script.cc, YAML). Input: the bytes of a
// script file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "sim/script.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string file = "fuzz_script.yaml";
  dreamforge::fuzz::ExpectContract(file, [&] { (void)dreamforge::sim::ParseScript(text, file); });
  return 0;
}
