#include "robot/policy_runtime.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

namespace dreamforge::robot {

namespace {

constexpr double kPi = 3.14159265358979323846;

const Bundle& Checked(const std::shared_ptr<const Bundle>& bundle) {
  if (!bundle) throw std::invalid_argument("PolicyRuntime: null bundle");
  return *bundle;
}

}  // namespace

PolicyRuntime::PolicyRuntime(std::shared_ptr<const Bundle> bundle)
    : bundle_(std::move(bundle)),
      normalization_(Checked(bundle_).normalization, bundle_->model.obs_dim) {
  const ModelSpec& m = bundle_->model;
  if (bundle_->layers.size() != m.hidden.size() + 1) {
    throw std::invalid_argument("PolicyRuntime: the bundle has " +
                                std::to_string(bundle_->layers.size()) + " layers, expected " +
                                std::to_string(m.hidden.size() + 1) + " (load it with LoadBundle)");
  }
  if (bundle_->encoders.size() != bundle_->images.size()) {
    throw std::invalid_argument("PolicyRuntime: the bundle has " +
                                std::to_string(bundle_->encoders.size()) + " encoders for " +
                                std::to_string(bundle_->images.size()) +
                                " image inputs (load it with LoadBundle)");
  }
  const int features = ImageFeatureDim(bundle_->images);
  cond_dim_ = m.obs_dim + features;
  int offset = m.obs_dim;
  for (size_t k = 0; k < bundle_->images.size(); ++k) {
    encoders_.push_back(std::make_unique<ImageEncoder>(bundle_->encoders[k]));
    const int side = bundle_->images[k].encoder.image_size;
    frames_.emplace_back(static_cast<size_t>(side) * side * kImageChannels, std::uint8_t{0});
    feature_offset_.push_back(offset);
    offset += bundle_->images[k].encoder.feature_dim;
  }
  input_ = Eigen::VectorXf::Zero(m.InputDim() + features);
  x_ = Eigen::VectorXf::Zero(m.OutputDim());
  int in = m.InputDim() + features;
  for (const DenseLayer& layer : bundle_->layers) {
    if (layer.weight.cols() != in || layer.bias.size() != layer.weight.rows()) {
      throw std::invalid_argument("PolicyRuntime: layer shapes do not chain");
    }
    acts_.push_back(Eigen::VectorXf::Zero(layer.weight.rows()));
    in = static_cast<int>(layer.weight.rows());
  }
  if (in != m.OutputDim()) throw std::invalid_argument("PolicyRuntime: output width");
}

const Eigen::VectorXf& PolicyRuntime::Forward() {
  const std::vector<DenseLayer>& layers = bundle_->layers;
  const size_t last = layers.size() - 1;
  for (size_t i = 0; i < layers.size(); ++i) {
    Eigen::VectorXf& out = acts_[i];
    out.noalias() = layers[i].weight * (i == 0 ? input_ : acts_[i - 1]);
    out += layers[i].bias;
    if (i < last) {
      // ReLU that keeps NaN (as torch.relu does), so a blow-up stays visible.
      for (Eigen::Index k = 0; k < out.size(); ++k) {
        if (out[k] < 0.0f) out[k] = 0.0f;
      }
    }
  }
  return acts_[last];
}

void PolicyRuntime::SetImages(const std::uint8_t* const* frames) {
  for (size_t k = 0; k < frames_.size(); ++k) {
    std::copy(frames[k], frames[k] + frames_[k].size(), frames_[k].begin());
  }
  frames_set_ = true;
}

void PolicyRuntime::Predict(const float* normalized_obs, const float* noise, float* chunk) {
  const ModelSpec& m = bundle_->model;
  const int n = m.OutputDim();
  for (int i = 0; i < m.obs_dim; ++i) input_[i] = normalized_obs[i];
  for (size_t k = 0; k < encoders_.size(); ++k) {
    encoders_[k]->Encode(frames_[k].data(), input_.data() + feature_offset_[k]);
  }
  const int d = cond_dim_;  // the conditioning: o_n and the image features
  if (m.type == ModelType::kMlp) {
    const Eigen::VectorXf& y = Forward();
    for (int i = 0; i < n; ++i) chunk[i] = y[i];
    return;
  }
  for (int i = 0; i < n; ++i) x_[i] = noise[i];
  const float dt = 1.0f / static_cast<float>(m.flow_steps);
  float* tf = input_.data() + d + n;
  for (int k = 0; k < m.flow_steps; ++k) {
    const float t = static_cast<float>(k) * dt;
    input_.segment(d, n) = x_;
    tf[0] = t;
    for (int j = 1; j <= 4; ++j) {
      // k pi in double, the product in float (as LibTorch's tensor * double scalar).
      const float arg = t * static_cast<float>(j * kPi);
      tf[2 * j - 1] = std::sin(arg);
      tf[2 * j] = std::cos(arg);
    }
    const Eigen::VectorXf& a_hat = Forward();
    const float step = dt / (1.0f - static_cast<float>(k) * dt);
    for (int i = 0; i < n; ++i) x_[i] = x_[i] + step * (a_hat[i] - x_[i]);
  }
  for (int i = 0; i < n; ++i) chunk[i] = x_[i];
}

bool PolicyRuntime::Predict(const Eigen::Ref<const Eigen::VectorXf>& normalized_obs,
                            const Eigen::Ref<const Eigen::VectorXf>& noise,
                            Eigen::Ref<Eigen::VectorXf> chunk) {
  const ModelSpec& m = bundle_->model;
  if (normalized_obs.size() != m.obs_dim || chunk.size() != m.OutputDim()) return false;
  if (m.type == ModelType::kFlow && noise.size() != m.OutputDim()) return false;
  Predict(normalized_obs.data(), m.type == ModelType::kFlow ? noise.data() : nullptr, chunk.data());
  return true;
}

}  // namespace dreamforge::robot
