// The policy bundle as the edge controller reads it (DESIGN.md "Formats" -> Policy bundle):
// a directory with policy.json and weights.safetensors (policy.ts and policy.onnx are
// only hash-checked, when present). Loading validates everything and throws BundleError
// (robot/bundle_error.h) whose message names the file and the field, e.g.
//   "bundle/policy.json: model.hidden: expected an array of positive integers".
//
// policy.json:
//   {"format": "dreamforge-bundle/1", "task": str, "control_hz": number > 0,
//    "model": {"type": "mlp"|"flow", "obs_dim": D, "action_dim": 7, "hidden": [w, ...],
//              "horizon": H, "execute": E, "flow_steps": K, "time_features": 0|9,
//              "gripper": "raw"|"sign"|"sample"|"latch",
//              "gripper_switch": p in (0, 1), "gripper_hold": steps >= 0 (both: latch only)},
//    "obs_keys": [key, ...],
//    "normalization": {"obs_mode": "z_score", "action_mode": "min_max", "obs_keys": [...],
//                      "obs": {key: {"mean", "std", "min", "max"}}, "action": {...(7)}},
//    "action_scale": {"position": m, "rotation": rad},
//    "robot": RobotDescription (below),
//    "safety": {"workspace_min": [3] m, "workspace_max": [3] m, "max_eef_speed": m/s,
//               "max_joint_velocity": [7] rad/s, "max_joint_acceleration": [7] rad/s^2,
//               "joint_margin": rad},
//    "files": {name: {"sha256": hex, "bytes": n}, ...}}
// mlp: H = E = 1, K = 0, time_features 0. flow: 1 <= E <= H, K >= 1, time_features 9.
// weights.safetensors: "fc<i>.weight" [out, in] and "fc<i>.bias" [out], F32, for
// i = 0..hidden.size() (the last is the output layer); input width D (mlp) or
// D + 7 H + 9 (flow), output width 7 H. Nothing else may be in the file.
//
// Nothing here is real-time safe: load once at start-up, then hand the immutable Bundle
// to the runtime (robot/policy_runtime.h) and the controller (robot/controller.h).

#ifndef DREAMFORGE_ROBOT_BUNDLE_H_
#define DREAMFORGE_ROBOT_BUNDLE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "robot/bundle_error.h"
#include "robot/kinematic_chain.h"
#include "robot/types.h"

namespace dreamforge::robot {

inline constexpr char kBundleFormat[] = "dreamforge-bundle/1";
inline constexpr char kPolicyJson[] = "policy.json";
inline constexpr char kWeightsFile[] = "weights.safetensors";
// Number of flow time features: t, then sin(k pi t), cos(k pi t) for k = 1..4.
inline constexpr int kFlowTimeFeatures = 9;

enum class ModelType { kMlp, kFlow };
// How the runner executes the gripper column of an action (see policy/model.h):
// kRaw the value, kSign +1 if > 0 else -1, kSample +1 with probability (value + 1) / 2,
// kLatch a held state switched when the other state's probability exceeds gripper_switch,
// then kept gripper_hold steps (robot/policy_runtime.h).
enum class GripperMode { kRaw, kSign, kSample, kLatch };

// Robomimic observation keys the controller can produce (robot/controller.h says how).
enum class ObsKey { kEefPos, kEefQuat, kGripperQpos, kJointPos, kJointVel, kObject };
const char* ObsKeyName(ObsKey key);  // "robot0_eef_pos", ...
// Widths: eef_pos 3, eef_quat 4, gripper_qpos 2, joint_pos 7, joint_vel 7, object 13.
int ObsKeyWidth(ObsKey key);
bool ParseObsKey(const std::string& name, ObsKey* key);

struct ModelSpec {
  ModelType type = ModelType::kMlp;
  int obs_dim = 0;  // D: width of the normalized observation
  int action_dim = kActionDim;
  std::vector<int> hidden;  // widths of the hidden (ReLU) layers
  int horizon = 1;          // H: actions per plan
  int execute = 1;          // E: actions executed before re-planning, 1..H
  int flow_steps = 0;       // K: Euler steps of the flow integration (mlp: 0)
  int time_features = 0;
  GripperMode gripper = GripperMode::kRaw;
  double gripper_switch = 0.5;  // latch only
  int gripper_hold = 0;         // latch only

  int InputDim() const;   // mlp: D; flow: D + 7 H + 9
  int OutputDim() const;  // 7 H
};

// Per-dimension statistics of one feature (all four have the feature's width).
struct FeatureStats {
  std::vector<double> mean, std, min, max;
};

struct Normalization {
  std::vector<FeatureStats> obs;  // one per Bundle::obs_keys entry, same order
  FeatureStats action;            // width 7
};

struct ActionScale {
  double position = 0;  // m per unit action
  double rotation = 0;  // rad per unit action
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
};

// One Linear layer: y = weight * x + bias.
struct DenseLayer {
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> weight;  // (out x in)
  Eigen::VectorXf bias;                                                          // (out)
};

struct FileHash {
  std::string sha256;  // lower-case hex
  std::uint64_t bytes = 0;
};

struct Bundle {
  std::string dir;
  std::string task;
  double control_hz = 0;
  ModelSpec model;
  std::vector<ObsKey> obs_keys;  // order of the flattened observation
  Normalization normalization;
  ActionScale action_scale;
  RobotDescription robot;
  SafetyLimits safety;
  std::map<std::string, FileHash> files;
  std::vector<DenseLayer> layers;  // hidden.size() + 1 layers (empty from ParsePolicyJson)
};

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

#endif  // DREAMFORGE_ROBOT_BUNDLE_H_
