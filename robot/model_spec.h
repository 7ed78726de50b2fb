// The policy network's description, shared by the trainer (policy/, run.json "model"),
// the exporters and the edge runtime (robot/policy_runner.h, the bundle's "model"):
//
//   {"type": "mlp"|"flow", "obs_dim": D, "action_dim": 7, "hidden": [w, ...],
//    "horizon": H, "execute": E, "flow_steps": K, "time_features": 0|9,
//    "gripper": "raw"|"sign"|"sample"|"latch",
//    "gripper_switch": p in (0, 1), "gripper_hold": steps >= 0}
//
// mlp: H = E = 1, K = 0, time_features 0. flow: 1 <= E <= H, K >= 1, time_features 9.
// The network is a stack of Linear layers fc0..fcL (L = hidden.size()) with ReLU between
// them; input width InputDim(), output width OutputDim() (H normalized actions of 7).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "robot/bundle_error.h"
#include "robot/types.h"

namespace dreamforge::robot {

enum class ModelType { kMlp, kFlow };
const char* ModelTypeName(ModelType type);  // "mlp" | "flow"
// "mlp" | "flow"; false otherwise.
bool ParseModelType(const std::string& name, ModelType* type);

// Number of flow time features: t, then sin(k pi t), cos(k pi t) for k = 1..4.
inline constexpr int kFlowTimeFeatures = 9;

// How the runner executes the gripper column of a predicted action (robot/policy_runner.h
// has the arithmetic; the README's "Policies" section the measurements behind the choice):
enum class GripperMode {
  kRaw,     // the predicted value
  kSign,    // +1 if the value > 0, else -1
  kSample,  // +1 with probability (value + 1) / 2, from the runner's seeded generator
  kLatch,   // a held state, switched when the other state's probability exceeds
            // gripper_switch, then kept gripper_hold steps (robot/gripper_latch.h)
};
const char* GripperModeName(GripperMode mode);  // "raw" | "sign" | "sample" | "latch"
bool ParseGripperMode(const std::string& name, GripperMode* mode);

// The widest hidden layer a model may have (a 16384 x 16384 layer is 1 GiB of float32).
inline constexpr int kMaxHiddenWidth = 16384;

struct ModelSpec {
  ModelType type = ModelType::kMlp;
  int obs_dim = 0;  // D: width of the normalized observation
  int action_dim = kActionDim;
  std::vector<int> hidden;  // widths of the hidden (ReLU) layers
  int horizon = 1;          // H: actions per plan
  int execute = 1;          // E: actions executed before re-planning, 1..H
  int flow_steps = 0;       // K: Euler steps of the flow integration (mlp: 0)
  GripperMode gripper = GripperMode::kLatch;
  double gripper_switch = 0.2;  // latch: probability of the other state that switches
  int gripper_hold = 4;         // latch: control steps a new state is kept at least

  // Defaults for a type: mlp {256, 256}; flow {256, 256, 256}, H = 16, E = 2, K = 10;
  // both with the latch (0.2, 4 steps).
  static ModelSpec Default(ModelType type, int obs_dim);

  int InputDim() const;      // mlp: D; flow: D + 7 H + kFlowTimeFeatures
  int OutputDim() const;     // 7 H
  int TimeFeatures() const;  // mlp: 0; flow: kFlowTimeFeatures

  // Throws BundleError("<where>: model.<field>: ...") when inconsistent (the rules in the
  // file comment; widths in 1..kMaxHiddenWidth).
  void Validate(const std::string& where = "model") const;
  nlohmann::json ToJson() const;
  // Parses and validates the JSON above; every field is required (gripper_switch and
  // gripper_hold only for the latch). Throws BundleError("<where>: model.<field>: ...").
  static ModelSpec FromJson(const nlohmann::json& json, const std::string& where);
};

}  // namespace dreamforge::robot
