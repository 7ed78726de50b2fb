#include "policy/model.h"

#include <cmath>

namespace dreamforge::policy {

std::string ToString(PolicyType type) { return robot::ModelTypeName(type); }

std::string ToString(GripperMode mode) { return robot::GripperModeName(mode); }

PolicyType ParsePolicyType(const std::string& name) {
  PolicyType type;
  if (!robot::ParseModelType(name, &type)) throw PolicyError("policy type '" + name + "': expected mlp or flow");
  return type;
}

GripperMode ParseGripperMode(const std::string& name) {
  GripperMode mode;
  if (!robot::ParseGripperMode(name, &mode)) {
    throw PolicyError("gripper mode '" + name + "': expected raw, sign, sample or latch");
  }
  return mode;
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
