// The policy bundle: its schema (reader and writer side by side) and its loader. A bundle
// is a directory with policy.json and weights.safetensors (policy.ts and policy.onnx are
// only hash-checked; every file policy.json lists must be present). Loading validates
// everything and throws
// BundleError (robot/bundle_error.h) whose message names the file and the field, e.g.
//   "bundle/policy.json: model.hidden: expected an array of positive integers".
//
// policy.json:
//   {"format": "dreamforge-bundle/1", "task": str, "control_hz": Hz in 1..1000,
//    "model": ModelSpec::ToJson() (robot/model_spec.h),
//    "obs_keys": [key, ...] (robot/obs_layout.h),
//    "normalization": {"obs_mode": "z_score", "action_mode": "min_max", "obs_keys": [...],
//                      "obs": {key: {"mean", "std", "min", "max"}}, "action": {...(7)}},
//    "action_scale": {"position": m, "rotation": rad},
//    "robot": RobotDescription (below),
//    "safety": SafetyLimits (below),
//    "images": robot::ImageInputsToJson (robot/image_encoder.h; image policies only: the
//              cameras whose encoders' features follow the normalized observation),
//    "files": {name: {"sha256": hex, "bytes": n}, ...},
//    "source": {"run": path, "checkpoint": name} (optional, informative)}
// weights.safetensors: "fc<i>.weight" [out, in] and "fc<i>.bias" [out], F32, for
// i = 0..hidden.size() (the last is the output layer); input width ModelSpec::InputDim()
// plus ImageFeatureDim(images), output width ModelSpec::OutputDim(); for each image input
// its encoder's tensors "<key>.conv0.weight", ... (robot/image_encoder.h). Nothing else may
// be in the file.
//
// An image policy's head reads [o_n, f_0, ..., f_{C-1}] (then, for flow, x and the time
// features): the D normalized values and each camera's C features in "images" order. The
// images are not normalized: the encoders scale them by 1 / 255.
//
// Nothing here is real-time safe: load once at start-up, then hand the immutable Bundle
// to the runner (robot/policy_runner.h) and the controller (robot/controller.h).

#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "robot/action_map.h"
#include "robot/bundle_error.h"
#include "robot/image_encoder.h"
#include "robot/kinematic_chain.h"
#include "robot/model_spec.h"
#include "robot/obs_layout.h"
#include "robot/types.h"

namespace dreamforge::robot {

inline constexpr char kBundleFormat[] = "dreamforge-bundle/1";
inline constexpr char kPolicyJson[] = "policy.json";
inline constexpr char kWeightsFile[] = "weights.safetensors";

// Per-dimension statistics of one feature (all four have the feature's width).
struct FeatureStats {
  std::vector<double> mean, std, min, max;
};

struct Normalization {
  std::vector<FeatureStats> obs;  // one per Bundle::obs_keys entry, same order
  FeatureStats action;            // width 7

  // The "normalization" object above, for `obs_keys` (their names and widths).
  nlohmann::json ToJson(const std::vector<ObsKey>& obs_keys) const;
  // Throws BundleError("<where>: normalization.<field>: ..."): modes, keys (must equal
  // obs_keys), widths, finite numbers, std > 0, min <= max.
  static Normalization FromJson(const nlohmann::json& json, const std::vector<ObsKey>& obs_keys,
                                const std::string& where);
};

// The arm a policy was trained for, or the hardware it runs on. JSON (the bundle's
// "robot" object; a hardware description file uses the same layout):
//   {"arm_joints": [7 names], "finger_joints": [2 names],
//    "chain": KinematicChain::ToJson() (base -> tip link, its "tool" = the TCP),
//    "tool": [16 numbers, row-major 4x4 TCP pose in the tip link frame, m],
//    "finger_open": m (opening of one finger when fully open)}
// arm_joints must name the chain's non-fixed joints in order (7 of them); "tool" must
// equal the chain's own tool within 1e-9.
struct RobotDescription {
  std::vector<std::string> arm_joints;
  std::vector<std::string> finger_joints;
  KinematicChain chain;
  double finger_open = 0.04;

  // Throws BundleError("<where>: <path>.<field>: ..."). `path` is the JSON path of the
  // object ("robot" in a bundle).
  static RobotDescription FromJson(const nlohmann::json& json, const std::string& where,
                                   const std::string& path = "robot");
  nlohmann::json ToJson() const;
};

// Throws BundleError("<where>: robot.<field>: ...") unless `hardware` has the same joint
// names (arm and fingers), the same finger opening, and the same kinematic chain (links,
// joint types, origins, axes, limits, velocities, efforts and tool) within 1e-9.
void CheckRobotMatches(const RobotDescription& bundle, const RobotDescription& hardware,
                       const std::string& where);

struct SafetyLimits {
  Eigen::Vector3d workspace_min = Eigen::Vector3d::Zero();  // TCP box in the base frame, m
  Eigen::Vector3d workspace_max = Eigen::Vector3d::Zero();
  double max_eef_speed = 0;                            // commanded TCP speed, m/s
  Vector7d max_joint_velocity = Vector7d::Zero();      // rad/s
  Vector7d max_joint_acceleration = Vector7d::Zero();  // rad/s^2
  double joint_margin = 0;                             // rad kept away from each joint limit

  // {"workspace_min": [3] m, "workspace_max": [3] m, "max_eef_speed": m/s,
  //  "max_joint_velocity": [7] rad/s, "max_joint_acceleration": [7] rad/s^2,
  //  "joint_margin": rad}
  nlohmann::json ToJson() const;
  // Throws BundleError("<where>: safety.<field>: ...") unless every field is there, the box
  // is non-empty, speeds and accelerations are positive and the margin leaves every joint
  // of `robot` a range.
  static SafetyLimits FromJson(const nlohmann::json& json, const RobotDescription& robot,
                               const std::string& where);
};

// Limits for a robot that catch faults, not normal motion: joint speeds at the chain's
// velocity limits, 200 rad/s^2, a TCP box around the table (x -0.3..1.0, y -0.9..0.9,
// z -0.02..1.2 m) and a TCP speed of 1.5 m/s (the default action scale allows 1 m/s),
// no joint margin. `export --safety FILE` overrides single fields.
SafetyLimits DefaultSafetyLimits(const RobotDescription& robot);

// One Linear layer: y = weight * x + bias.
struct DenseLayer {
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> weight;  // (out x in)
  Eigen::VectorXf bias;                                                          // (out)
};

struct FileHash {
  std::string sha256;  // lower-case hex
  std::uint64_t bytes = 0;
};

// The control rates a bundle may ask for, Hz (policy.json control_hz).
constexpr double kMinControlHz = 1.0;
constexpr double kMaxControlHz = 1000.0;

struct Bundle {
  std::string dir;
  std::string task;
  double control_hz = 0;  // kMinControlHz..kMaxControlHz
  ModelSpec model;
  std::vector<ObsKey> obs_keys;  // order of the flattened observation
  Normalization normalization;
  ActionScale action_scale;
  RobotDescription robot;
  SafetyLimits safety;
  std::map<std::string, FileHash> files;
  nlohmann::json source;           // where it was exported from (null: not written)
  std::vector<ImageInput> images;  // image policies: the cameras, in the head's order
  std::vector<DenseLayer> layers;  // hidden.size() + 1 layers (empty from ParsePolicyJson)
  // One per image input, from weights.safetensors (empty from ParsePolicyJson).
  std::vector<std::shared_ptr<const ImageEncoderWeights>> encoders;
};

// The policy.json document of a bundle (everything but `dir` and `layers`).
nlohmann::json PolicyJson(const Bundle& bundle);
// Parses and validates a policy.json document (no file access, no weights). `where`
// prefixes messages (normally "<dir>/policy.json").
Bundle ParsePolicyJson(const nlohmann::json& json, const std::string& where);

// Loads a bundle directory: parses policy.json, checks the size and SHA-256 of every file
// listed in "files" that is present (weights.safetensors must be listed and present),
// reads the weights and checks every tensor's dtype, shape and finiteness.
Bundle LoadBundle(const std::string& dir);
// As above, then refuses a bundle whose robot does not match `hardware`
// (CheckRobotMatches).
Bundle LoadBundle(const std::string& dir, const RobotDescription& hardware);

}  // namespace dreamforge::robot
