// libFuzzer harness: the URDF loader (sim/urdf.cc: capsule rewriting, urdfdom, the joint
// tree). Input: the bytes of a URDF file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "sim/urdf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string xml(reinterpret_cast<const char*>(data), size);
  const std::string file = "fuzz_robot.urdf";
  dreamforge::fuzz::ExpectContract(file, [&] { (void)dreamforge::sim::ParseUrdf(xml, file); });
  return 0;
}
