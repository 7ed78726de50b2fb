#include "policy/model.h"

#include <cmath>

#include "robot/json_reader.h"
#include "robot/obs_layout.h"

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

std::vector<ImageInput> ImageInputsFromJson(const nlohmann::json& json, const std::string& where) {
  try {
    return robot::ImageInputsFromJson(json, where);
  } catch (const robot::BundleError& e) {
    throw PolicyError(e.what());
  }
}

NetImpl::NetImpl(const ModelConfig& config, std::vector<ImageInput> images)
    : config_(config), images_(std::move(images)) {
  config_.Validate();
  reset();
}

int NetImpl::ImageFeatureDim() const {
  int f = 0;
  for (const ImageInput& in : images_) f += in.encoder.feature_dim;
  return f;
}

void NetImpl::reset() {
  encoders_.clear();
  for (const ImageInput& in : images_)
    encoders_.push_back(register_module(in.key, ImageEncoder(in.encoder)));
  layers_.clear();
  int in = config_.InputDim() + ImageFeatureDim();
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

std::vector<torch::Tensor> NetImpl::CropImages(const std::vector<torch::Tensor>& images,
                                               c10::optional<torch::Generator> gen) const {
  if (images.size() != encoders_.size()) {
    throw PolicyError("policy network: " + std::to_string(images.size()) +
                      " image batches given, the policy reads " + std::to_string(encoders_.size()));
  }
  std::vector<torch::Tensor> out;
  for (size_t k = 0; k < images.size(); ++k) out.push_back(encoders_[k]->Crop(images[k], gen));
  return out;
}

torch::Tensor NetImpl::Condition(const torch::Tensor& obs,
                                 const std::vector<torch::Tensor>& cropped) {
  if (cropped.size() != encoders_.size()) {
    throw PolicyError("policy network: " + std::to_string(cropped.size()) +
                      " image batches given, the policy reads " + std::to_string(encoders_.size()));
  }
  if (encoders_.empty()) return obs;
  std::vector<torch::Tensor> parts = {obs};
  for (size_t k = 0; k < cropped.size(); ++k) parts.push_back(encoders_[k]->Encode(cropped[k]));
  return torch::cat(parts, 1);
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
