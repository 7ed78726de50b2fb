#include "robot/model_spec.h"

#include <cstdint>

#include "robot/json_reader.h"

namespace dreamforge::robot {

const char* ModelTypeName(ModelType type) { return type == ModelType::kMlp ? "mlp" : "flow"; }

bool ParseModelType(const std::string& name, ModelType* type) {
  if (name == "mlp") {
    *type = ModelType::kMlp;
  } else if (name == "flow") {
    *type = ModelType::kFlow;
  } else {
    return false;
  }
  return true;
}

const char* GripperModeName(GripperMode mode) {
  switch (mode) {
    case GripperMode::kRaw:
      return "raw";
    case GripperMode::kSign:
      return "sign";
    case GripperMode::kSample:
      return "sample";
    case GripperMode::kLatch:
      return "latch";
  }
  return "?";
}

bool ParseGripperMode(const std::string& name, GripperMode* mode) {
  for (GripperMode m : {GripperMode::kRaw, GripperMode::kSign, GripperMode::kSample, GripperMode::kLatch}) {
    if (name == GripperModeName(m)) {
      *mode = m;
      return true;
    }
  }
  return false;
}

ModelSpec ModelSpec::Default(ModelType type, int obs_dim) {
  ModelSpec c;
  c.type = type;
  c.obs_dim = obs_dim;
  if (type == ModelType::kMlp) {
    c.hidden = {256, 256};
  } else {
    c.hidden = {256, 256, 256};
    c.horizon = 16;
    c.execute = 2;
    c.flow_steps = 10;
  }
  return c;
}

int ModelSpec::InputDim() const {
  return type == ModelType::kMlp ? obs_dim : obs_dim + horizon * action_dim + kFlowTimeFeatures;
}

int ModelSpec::OutputDim() const { return horizon * action_dim; }

int ModelSpec::TimeFeatures() const { return type == ModelType::kFlow ? kFlowTimeFeatures : 0; }

void ModelSpec::Validate(const std::string& where) const {
  const JsonReader r(where);
  if (obs_dim < 1) r.Fail("model.obs_dim", "expected a positive integer, got " + std::to_string(obs_dim));
  if (action_dim != kActionDim) {
    r.Fail("model.action_dim",
           "expected " + std::to_string(kActionDim) + ", got " + std::to_string(action_dim));
  }
  if (hidden.empty()) r.Fail("model.hidden", "needs at least one layer");
  for (int w : hidden) {
    if (w < 1 || w > kMaxHiddenWidth) {
      r.Fail("model.hidden", "widths must be in 1.." + std::to_string(kMaxHiddenWidth) + ", got " +
                                 std::to_string(w));
    }
  }
  if (horizon < 1) r.Fail("model.horizon", "expected a positive integer");
  if (execute < 1) r.Fail("model.execute", "expected a positive integer");
  if (flow_steps < 0) r.Fail("model.flow_steps", "expected a non-negative integer");
  if (type == ModelType::kMlp) {
    if (horizon != 1) r.Fail("model.horizon", "must be 1 for an mlp");
    if (execute != 1) r.Fail("model.execute", "must be 1 for an mlp");
    if (flow_steps != 0) r.Fail("model.flow_steps", "must be 0 for an mlp");
  } else {
    if (execute > horizon) {
      r.Fail("model.execute", std::to_string(execute) + " exceeds model.horizon " + std::to_string(horizon));
    }
    if (flow_steps < 1) r.Fail("model.flow_steps", "must be >= 1 for a flow policy");
  }
  if (!(gripper_switch > 0.0 && gripper_switch < 1.0)) {
    r.Fail("model.gripper_switch", "expected a probability in (0, 1), got " + JsonNumber(gripper_switch));
  }
  if (gripper_hold < 0) r.Fail("model.gripper_hold", "expected a non-negative integer");
}

nlohmann::json ModelSpec::ToJson() const {
  return {{"type", ModelTypeName(type)},
          {"obs_dim", obs_dim},
          {"action_dim", action_dim},
          {"hidden", hidden},
          {"horizon", horizon},
          {"execute", execute},
          {"flow_steps", flow_steps},
          {"time_features", TimeFeatures()},
          {"gripper", GripperModeName(gripper)},
          {"gripper_switch", gripper_switch},
          {"gripper_hold", gripper_hold}};
}

ModelSpec ModelSpec::FromJson(const nlohmann::json& m, const std::string& where) {
  const JsonReader r(where);
  if (!m.is_object()) r.Fail("model", "expected an object");
  ModelSpec spec;
  const std::string type = r.String(m, "model", "type");
  if (!ParseModelType(type, &spec.type)) {
    r.Fail("model.type", "expected \"mlp\" or \"flow\", got \"" + type + "\"");
  }
  spec.obs_dim = r.Int(m, "model", "obs_dim", 1);
  spec.action_dim = r.Int(m, "model", "action_dim", 1);
  if (spec.action_dim != kActionDim) {
    r.Fail("model.action_dim",
           "expected " + std::to_string(kActionDim) + ", got " + std::to_string(spec.action_dim));
  }
  const nlohmann::json& hidden = r.Get(m, "model", "hidden");
  if (!hidden.is_array()) r.Fail("model.hidden", "expected an array of positive integers");
  for (size_t i = 0; i < hidden.size(); ++i) {
    const nlohmann::json& w = hidden[i];
    if (!w.is_number_integer() || w.get<std::int64_t>() < 1 || w.get<std::int64_t>() > kMaxHiddenWidth) {
      r.Fail("model.hidden[" + std::to_string(i) + "]",
             "expected an integer width in 1.." + std::to_string(kMaxHiddenWidth) + ", got " + w.dump());
    }
    spec.hidden.push_back(static_cast<int>(w.get<std::int64_t>()));
  }
  spec.horizon = r.Int(m, "model", "horizon", 1);
  spec.execute = r.Int(m, "model", "execute", 1);
  spec.flow_steps = r.Int(m, "model", "flow_steps", 0);
  const int time_features = r.Int(m, "model", "time_features", 0);
  const std::string gripper = r.String(m, "model", "gripper");
  if (!ParseGripperMode(gripper, &spec.gripper)) {
    r.Fail("model.gripper",
           "expected \"raw\", \"sign\", \"sample\" or \"latch\", got \"" + gripper + "\"");
  }
  if (spec.gripper == GripperMode::kLatch) {
    spec.gripper_switch = r.Number(r.Get(m, "model", "gripper_switch"), "model.gripper_switch");
    spec.gripper_hold = r.Int(m, "model", "gripper_hold", 0);
  }
  spec.Validate(where);
  if (time_features != spec.TimeFeatures()) {
    r.Fail("model.time_features", spec.type == ModelType::kMlp
                                      ? "must be 0 for an mlp"
                                      : "must be " + std::to_string(kFlowTimeFeatures) +
                                            " for a flow policy, got " + std::to_string(time_features));
  }
  return spec;
}

}  // namespace dreamforge::robot
