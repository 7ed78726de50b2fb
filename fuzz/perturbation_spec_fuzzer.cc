// libFuzzer harness: the perturbation spec reader (augment/perturbation.cc, YAML).
// Input: the bytes of a spec file. A parsed spec is also written back as JSON (what
// env_args stores).
#include <cstddef>
#include <cstdint>
#include <string>

#include "augment/perturbation.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string file = "fuzz_spec.yaml";
  dreamforge::fuzz::ExpectContract(file, [&] {
    const dreamforge::augment::PerturbationSpec spec = dreamforge::augment::ParseSpec(text, file);
    (void)spec.ToJson().dump();
    (void)dreamforge::augment::HasVisualFields(spec);
  });
  return 0;
}
