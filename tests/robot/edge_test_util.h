// Helpers shared by the edge-controller suites: the tiny bundles of tests/robot/data (made
// by make_reference.py), the Panda as hardware description, and bundle copies to tamper
// with.
#pragma once

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "robot/bundle.h"
#include "robot/panda_chain.h"
#include "robot/sha256.h"

namespace dreamforge::test {

inline std::filesystem::path RobotDataDir() {
  return std::filesystem::path(DF_SOURCE_DIR) / "tests" / "robot" / "data";
}

// "tiny_mlp" or "tiny_flow".
inline std::string TinyBundleDir(const std::string& name) {
  return (RobotDataDir() / name).string();
}

// The hardware the tiny bundles were made for.
inline robot::RobotDescription PandaHardware() {
  robot::RobotDescription d;
  for (int i = 1; i <= 7; ++i) d.arm_joints.push_back("panda_joint" + std::to_string(i));
  d.finger_joints = {"panda_finger_joint1", "panda_finger_joint2"};
  d.chain = robot::PandaChain();
  d.finger_open = 0.04;
  return d;
}

inline std::shared_ptr<const robot::Bundle> LoadTiny(const std::string& name) {
  return std::make_shared<const robot::Bundle>(
      robot::LoadBundle(TinyBundleDir(name), PandaHardware()));
}

inline nlohmann::json ReadJson(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

inline void WriteJson(const std::filesystem::path& path, const nlohmann::json& j) {
  std::ofstream(path) << j.dump(1) << "\n";
}

// The tiny mlp turned into a constant policy: every step executes `action` (raw gripper).
inline std::shared_ptr<const robot::Bundle> ConstantPolicy(const robot::Vector7f& action) {
  robot::Bundle b = *LoadTiny("tiny_mlp");
  for (robot::DenseLayer& l : b.layers) {
    l.weight.setZero();
    l.bias.setZero();
  }
  const robot::FeatureStats& s = b.normalization.action;
  for (int i = 0; i < 7; ++i) {
    const double range = s.max[i] - s.min[i];
    b.layers.back().bias[i] = static_cast<float>(
        range < 1e-4 ? action[i] - s.min[i] : 2.0 * (action[i] - s.min[i]) / range - 1.0);
  }
  b.model.gripper = robot::GripperMode::kRaw;
  return std::make_shared<const robot::Bundle>(b);
}

// Copies a tiny bundle into dst (created).
inline void CopyBundle(const std::string& name, const std::filesystem::path& dst) {
  std::filesystem::create_directories(dst);
  for (const auto& entry : std::filesystem::directory_iterator(TinyBundleDir(name))) {
    std::filesystem::copy_file(entry.path(), dst / entry.path().filename(),
                               std::filesystem::copy_options::overwrite_existing);
  }
}

// Edits dst/policy.json in place.
inline void EditPolicyJson(const std::filesystem::path& dir,
                           const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json j = ReadJson(dir / "policy.json");
  edit(j);
  WriteJson(dir / "policy.json", j);
}

// Lists `file` in dst/policy.json "files" with its current hash and size.
inline void RehashFile(const std::filesystem::path& dir, const std::string& file) {
  std::string hex, error;
  std::uint64_t bytes = 0;
  if (!robot::Sha256File((dir / file).string(), &hex, &bytes, &error))
    throw std::runtime_error(error);
  EditPolicyJson(dir, [&](nlohmann::json& j) {
    j["files"][file] = {{"sha256", hex}, {"bytes", bytes}};
  });
}

}  // namespace dreamforge::test
