#include "robot/policy_runtime.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

namespace dreamforge::robot {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kConstantRange = 1e-4;  // policy::Normalizer::kConstantRange

}  // namespace

PolicyRuntime::PolicyRuntime(std::shared_ptr<const Bundle> bundle) : bundle_(std::move(bundle)) {
  if (!bundle_) throw std::invalid_argument("PolicyRuntime: null bundle");
  const ModelSpec& m = bundle_->model;
  if (bundle_->layers.size() != m.hidden.size() + 1) {
    throw std::invalid_argument("PolicyRuntime: the bundle has " +
                                std::to_string(bundle_->layers.size()) + " layers, expected " +
                                std::to_string(m.hidden.size() + 1) + " (load it with LoadBundle)");
  }
  obs_mean_.resize(m.obs_dim);
  obs_std_.resize(m.obs_dim);
  int offset = 0;
  for (const FeatureStats& s : bundle_->normalization.obs) {
    for (size_t i = 0; i < s.mean.size(); ++i, ++offset) {
      obs_mean_[offset] = s.mean[i];
      obs_std_[offset] = s.std[i];
    }
  }
  if (offset != m.obs_dim) throw std::invalid_argument("PolicyRuntime: normalization width");
  input_ = Eigen::VectorXf::Zero(m.InputDim());
  x_ = Eigen::VectorXf::Zero(m.OutputDim());
  int in = m.InputDim();
  for (const DenseLayer& layer : bundle_->layers) {
    if (layer.weight.cols() != in || layer.bias.size() != layer.weight.rows()) {
      throw std::invalid_argument("PolicyRuntime: layer shapes do not chain");
    }
    acts_.push_back(Eigen::VectorXf::Zero(layer.weight.rows()));
    in = static_cast<int>(layer.weight.rows());
  }
  if (in != m.OutputDim()) throw std::invalid_argument("PolicyRuntime: output width");
}

void PolicyRuntime::NormalizeObs(const float* raw, float* normalized) const {
  for (Eigen::Index i = 0; i < obs_mean_.size(); ++i) {
    normalized[i] = static_cast<float>((static_cast<double>(raw[i]) - obs_mean_[i]) / obs_std_[i]);
  }
}

void PolicyRuntime::DenormalizeAction(const float* y, float* a) const {
  const FeatureStats& s = bundle_->normalization.action;
  for (int i = 0; i < kActionDim; ++i) {
    const double range = s.max[i] - s.min[i];
    const double yi = y[i];
    a[i] = static_cast<float>(s.min[i] + (range < kConstantRange ? yi : (yi + 1.0) * 0.5 * range));
  }
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

void PolicyRuntime::Predict(const float* normalized_obs, const float* noise, float* chunk) {
  const ModelSpec& m = bundle_->model;
  const int d = m.obs_dim;
  const int n = m.OutputDim();
  for (int i = 0; i < d; ++i) input_[i] = normalized_obs[i];
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

const char* RunnerStatusName(RunnerStatus status) {
  switch (status) {
    case RunnerStatus::kOk:
      return "ok";
    case RunnerStatus::kBadInput:
      return "bad_input";
    case RunnerStatus::kNonFinite:
      return "non_finite";
  }
  return "unknown";
}

PolicyRunner::PolicyRunner(std::shared_ptr<const Bundle> bundle, std::uint64_t seed)
    : runtime_(std::move(bundle)), rng_(seed) {
  const ModelSpec& m = runtime_.bundle().model;
  obs_n_ = Eigen::VectorXf::Zero(m.obs_dim);
  noise_ = Eigen::VectorXf::Zero(m.OutputDim());
  y_ = Eigen::VectorXf::Zero(m.OutputDim());
  chunk_ = Eigen::Matrix<float, Eigen::Dynamic, kActionDim, Eigen::RowMajor>::Zero(m.horizon,
                                                                                   kActionDim);
}

void PolicyRunner::Reset(std::uint64_t seed) {
  rng_.seed(seed);
  have_chunk_ = false;
  next_ = 0;
  planned_last_step_ = false;
  latch_.Reset();
}

RunnerStatus PolicyRunner::Act(const float* raw_obs, Vector7f* action) {
  const ModelSpec& m = runtime_.bundle().model;
  planned_last_step_ = false;
  if (!have_chunk_ || next_ >= m.execute) {
    have_chunk_ = false;
    for (int i = 0; i < m.obs_dim; ++i) {
      if (!std::isfinite(raw_obs[i])) {
        action->setConstant(std::numeric_limits<float>::quiet_NaN());
        return RunnerStatus::kBadInput;
      }
    }
    runtime_.NormalizeObs(raw_obs, obs_n_.data());
    if (m.type == ModelType::kFlow) {
      std::normal_distribution<float> normal(0.0f, 1.0f);
      for (Eigen::Index i = 0; i < noise_.size(); ++i) noise_[i] = normal(rng_);
    }
    runtime_.Predict(obs_n_.data(), noise_.data(), y_.data());
    ++plans_;
    if (!y_.allFinite()) {
      action->setConstant(std::numeric_limits<float>::quiet_NaN());
      return RunnerStatus::kNonFinite;
    }
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    for (int h = 0; h < m.horizon; ++h) {
      float* row = chunk_.row(h).data();
      runtime_.DenormalizeAction(y_.data() + kActionDim * h, row);
      for (int i = 0; i < kActionDim; ++i) row[i] = std::min(1.0f, std::max(-1.0f, row[i]));
      float& g = row[kActionDim - 1];
      if (m.gripper == GripperMode::kSign) {
        g = g > 0.0f ? 1.0f : -1.0f;
      } else if (m.gripper == GripperMode::kSample) {
        g = uniform(rng_) < 0.5f * (g + 1.0f) ? 1.0f : -1.0f;
      }
    }
    have_chunk_ = true;
    next_ = 0;
    planned_last_step_ = true;
  }
  *action = chunk_.row(next_++).transpose();
  if (m.gripper == GripperMode::kLatch) {
    (*action)[kActionDim - 1] = latch_.Step((*action)[kActionDim - 1], m.gripper_switch, m.gripper_hold);
  }
  return RunnerStatus::kOk;
}

}  // namespace dreamforge::robot
