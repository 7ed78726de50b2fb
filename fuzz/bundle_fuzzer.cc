// libFuzzer harness: the bundle loader (robot/bundle.cc LoadBundle: policy.json, the
// listed files' sizes and hashes, robot/safetensors.cc, the weights' shapes). Input:
// policy.json, the line "#DFSPLIT#", then weights.safetensors. Both are written to a
// bundle folder on tmpfs and loaded by path, as the controller does.
//
// Before writing, files.weights.safetensors in policy.json (when the JSON parses and has
// it) is rewritten to the weights' real size and SHA-256: otherwise nearly every mutation
// of the weights stops at the hash check and the safetensors reader behind it is never
// reached. The weights are also parsed alone (SafeTensors::Parse), and a bundle that
// loads is run once by the native runtime on a zero observation.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "fuzz/fuzz_util.h"
#include "robot/bundle.h"
#include "robot/policy_runtime.h"
#include "robot/safetensors.h"
#include "robot/sha256.h"

namespace {

namespace rb = dreamforge::robot;

std::string FixWeightsHash(const std::string& policy_json, const std::string& weights) {
  nlohmann::json j = nlohmann::json::parse(policy_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("files") || !j["files"].is_object() ||
      !j["files"].contains("weights.safetensors") || !j["files"]["weights.safetensors"].is_object()) {
    return policy_json;
  }
  j["files"]["weights.safetensors"]["sha256"] =
      rb::Sha256::HexOf(reinterpret_cast<const uint8_t*>(weights.data()), weights.size());
  j["files"]["weights.safetensors"]["bytes"] = weights.size();
  return j.dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> parts = dreamforge::fuzz::SplitInput(data, size, 2);
  const std::string& weights = parts.size() > 1 ? parts[1] : std::string();

  dreamforge::fuzz::ExpectContract("fuzz.safetensors", [&] {
    (void)rb::SafeTensors::Parse(std::vector<uint8_t>(weights.begin(), weights.end()),
                                 "fuzz.safetensors");
  });

  const std::filesystem::path dir = dreamforge::fuzz::ScratchDir() / "bundle";
  std::filesystem::create_directories(dir);
  dreamforge::fuzz::WriteFile(dir / "policy.json", FixWeightsHash(parts[0], weights));
  dreamforge::fuzz::WriteFile(dir / "weights.safetensors", weights);
  dreamforge::fuzz::ExpectContract(dir.string(), [&] {
    auto bundle = std::make_shared<const rb::Bundle>(rb::LoadBundle(dir.string()));
    (void)rb::LoadBundle(dir.string(), bundle->robot);
    rb::PolicyRuntime runtime(bundle);
    const Eigen::VectorXf obs = Eigen::VectorXf::Zero(runtime.obs_dim());
    const Eigen::VectorXf noise = Eigen::VectorXf::Zero(runtime.chunk_size());
    Eigen::VectorXf chunk(runtime.chunk_size());
    if (!runtime.Predict(obs, noise, chunk)) {
      dreamforge::fuzz::Finding("PolicyRuntime::Predict refused the bundle's own sizes");
    }
  });
  return 0;
}
