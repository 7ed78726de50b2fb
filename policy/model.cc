#include "policy/model.h"

#include <cmath>

namespace dreamforge::policy {

namespace {

[[noreturn]] void ConfigFail(const std::string& where, const std::string& field,
                             const std::string& what) {
  throw PolicyError(where + (where.empty() ? "" : ": ") + "model." + field + ": " + what);
}

int IntField(const nlohmann::json& j, const std::string& name, const std::string& where) {
  const auto it = j.find(name);
  if (it == j.end()) ConfigFail(where, name, "missing");
  if (!it->is_number_integer()) ConfigFail(where, name, "expected an integer");
  return it->get<int>();
}

}  // namespace

std::string ToString(PolicyType type) { return type == PolicyType::kMlp ? "mlp" : "flow"; }

PolicyType ParsePolicyType(const std::string& name) {
  if (name == "mlp") return PolicyType::kMlp;
  if (name == "flow") return PolicyType::kFlow;
  throw PolicyError("policy type '" + name + "': expected mlp or flow");
}

std::string ToString(GripperMode mode) {
  switch (mode) {
    case GripperMode::kRaw: return "raw";
    case GripperMode::kSign: return "sign";
    case GripperMode::kSample: return "sample";
    case GripperMode::kLatch: return "latch";
  }
  return "?";
}

GripperMode ParseGripperMode(const std::string& name) {
  if (name == "raw") return GripperMode::kRaw;
  if (name == "sign") return GripperMode::kSign;
  if (name == "sample") return GripperMode::kSample;
  if (name == "latch") return GripperMode::kLatch;
  throw PolicyError("gripper mode '" + name + "': expected raw, sign, sample or latch");
}

ModelConfig ModelConfig::Default(PolicyType type, int obs_dim) {
  ModelConfig c;
  c.type = type;
  c.obs_dim = obs_dim;
  if (type == PolicyType::kMlp) {
    c.hidden = {256, 256};
  } else {
    c.hidden = {256, 256, 256};
    c.horizon = 16;
    c.execute = 2;
    c.flow_steps = 10;
  }
  return c;
}

int ModelConfig::InputDim() const {
  return type == PolicyType::kMlp ? obs_dim : obs_dim + horizon * action_dim + kTimeFeatures;
}

int ModelConfig::OutputDim() const { return horizon * action_dim; }

void ModelConfig::Validate() const {
  if (obs_dim < 1) ConfigFail("", "obs_dim", "must be >= 1");
  if (action_dim != 7) ConfigFail("", "action_dim", "must be 7");
  if (hidden.empty()) ConfigFail("", "hidden", "needs at least one layer");
  for (int h : hidden) {
    if (h < 1) ConfigFail("", "hidden", "widths must be >= 1");
  }
  if (horizon < 1) ConfigFail("", "horizon", "must be >= 1");
  if (execute < 1 || execute > horizon) ConfigFail("", "execute", "must be in 1..horizon");
  if (type == PolicyType::kMlp && horizon != 1) ConfigFail("", "horizon", "must be 1 for mlp");
  if (type == PolicyType::kFlow && flow_steps < 1) ConfigFail("", "flow_steps", "must be >= 1");
  if (!(gripper_switch > 0.0 && gripper_switch < 1.0)) ConfigFail("", "gripper_switch", "must be in (0, 1)");
  if (gripper_hold < 0) ConfigFail("", "gripper_hold", "must be >= 0");
}

nlohmann::json ModelConfig::ToJson() const {
  return {{"type", ToString(type)}, {"obs_dim", obs_dim},       {"action_dim", action_dim},
          {"hidden", hidden},       {"horizon", horizon},       {"execute", execute},
          {"flow_steps", flow_steps}, {"time_features", type == PolicyType::kFlow ? kTimeFeatures : 0},
          {"gripper", ToString(gripper)}, {"gripper_switch", gripper_switch},
          {"gripper_hold", gripper_hold}};
}

ModelConfig ModelConfig::FromJson(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw PolicyError(where + ": model: expected an object");
  ModelConfig c;
  const auto type = j.find("type");
  if (type == j.end() || !type->is_string()) ConfigFail(where, "type", "expected \"mlp\" or \"flow\"");
  try {
    c.type = ParsePolicyType(type->get<std::string>());
  } catch (const PolicyError& e) {
    ConfigFail(where, "type", e.what());
  }
  c.obs_dim = IntField(j, "obs_dim", where);
  c.action_dim = IntField(j, "action_dim", where);
  c.horizon = IntField(j, "horizon", where);
  c.execute = IntField(j, "execute", where);
  c.flow_steps = IntField(j, "flow_steps", where);
  const auto gripper = j.find("gripper");
  if (gripper == j.end() || !gripper->is_string()) ConfigFail(where, "gripper", "expected \"raw\", \"sign\", \"sample\" or \"latch\"");
  try {
    c.gripper = ParseGripperMode(gripper->get<std::string>());
  } catch (const PolicyError& e) {
    ConfigFail(where, "gripper", e.what());
  }
  // Runs written before the latch existed carry neither field; the defaults then apply.
  if (j.contains("gripper_switch")) {
    if (!j["gripper_switch"].is_number()) ConfigFail(where, "gripper_switch", "expected a number");
    c.gripper_switch = j["gripper_switch"].get<double>();
  }
  if (j.contains("gripper_hold")) c.gripper_hold = IntField(j, "gripper_hold", where);
  const auto hidden = j.find("hidden");
  if (hidden == j.end() || !hidden->is_array()) ConfigFail(where, "hidden", "expected an array of widths");
  for (const auto& h : *hidden) {
    if (!h.is_number_integer()) ConfigFail(where, "hidden", "expected integers");
    c.hidden.push_back(h.get<int>());
  }
  try {
    c.Validate();
  } catch (const PolicyError& e) {
    throw PolicyError(where + ": " + e.what());
  }
  return c;
}

torch::Tensor TimeFeatures(const torch::Tensor& t) {
  const torch::Tensor tc = t.reshape({-1, 1});
  std::vector<torch::Tensor> parts = {tc};
  for (int k = 1; k <= 4; ++k) {
    const torch::Tensor arg = tc * (k * M_PI);
    parts.push_back(torch::sin(arg));
    parts.push_back(torch::cos(arg));
  }
  return torch::cat(parts, 1);
}

NetImpl::NetImpl(const ModelConfig& config) : config_(config) {
  config_.Validate();
  reset();
}

void NetImpl::reset() {
  layers_.clear();
  int in = config_.InputDim();
  std::vector<int> widths = config_.hidden;
  widths.push_back(config_.OutputDim());
  for (size_t i = 0; i < widths.size(); ++i) {
    layers_.push_back(register_module("fc" + std::to_string(i), torch::nn::Linear(in, widths[i])));
    in = widths[i];
  }
}

torch::Tensor NetImpl::forward(torch::Tensor x) {
  for (size_t i = 0; i < layers_.size(); ++i) {
    x = layers_[i]->forward(x);
    if (i + 1 < layers_.size()) x = torch::relu(x);
  }
  return x;
}

torch::Tensor PolicyLoss(Net& net, const torch::Tensor& obs, const torch::Tensor& target,
                         const torch::Tensor& noise, const torch::Tensor& t) {
  const ModelConfig& c = net->config();
  if (c.type == PolicyType::kMlp) return torch::mse_loss(net->forward(obs), target);
  const torch::Tensor tc = t.reshape({-1, 1});
  const torch::Tensor x_t = (1 - tc) * noise + tc * target;
  const torch::Tensor a_hat = net->forward(torch::cat({obs, x_t, TimeFeatures(t)}, 1));
  return torch::mse_loss(a_hat, target);
}

torch::Tensor PolicyPredict(Net& net, const torch::Tensor& obs, const torch::Tensor& noise) {
  const ModelConfig& c = net->config();
  if (c.type == PolicyType::kMlp) return net->forward(obs);
  torch::Tensor x = noise;
  const float dt = 1.0f / static_cast<float>(c.flow_steps);
  for (int k = 0; k < c.flow_steps; ++k) {
    const torch::Tensor t = torch::full({obs.size(0)}, k * dt, obs.options());
    const torch::Tensor a_hat = net->forward(torch::cat({obs, x, TimeFeatures(t)}, 1));
    x = x + (dt / (1.0f - k * dt)) * (a_hat - x);  // v = (a_hat - x_t) / (1 - t)
  }
  return x;
}

}  // namespace dreamforge::policy
