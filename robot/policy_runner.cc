#include "robot/policy_runner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

#include "robot/policy_runtime.h"

namespace dreamforge::robot {

namespace {
constexpr double kConstantRange = 1e-4;  // policy::Normalizer::kConstantRange
}  // namespace

PolicyNormalization::PolicyNormalization(const Normalization& stats, int obs_dim)
    : obs_mean_(obs_dim), obs_std_(obs_dim), action_(stats.action) {
  int offset = 0;
  for (const FeatureStats& s : stats.obs) {
    if (s.std.size() != s.mean.size() || offset + static_cast<int>(s.mean.size()) > obs_dim) {
      throw std::invalid_argument("PolicyNormalization: normalization width");
    }
    for (size_t i = 0; i < s.mean.size(); ++i, ++offset) {
      obs_mean_[offset] = s.mean[i];
      obs_std_[offset] = s.std[i];
    }
  }
  if (offset != obs_dim) throw std::invalid_argument("PolicyNormalization: normalization width");
  if (action_.min.size() != kActionDim || action_.max.size() != kActionDim) {
    throw std::invalid_argument("PolicyNormalization: action statistics must have 7 entries");
  }
}

void PolicyNormalization::NormalizeObs(const float* raw, float* normalized) const {
  for (Eigen::Index i = 0; i < obs_mean_.size(); ++i) {
    normalized[i] = static_cast<float>((static_cast<double>(raw[i]) - obs_mean_[i]) / obs_std_[i]);
  }
}

void PolicyNormalization::DenormalizeAction(const float* y, float* a) const {
  for (int i = 0; i < kActionDim; ++i) {
    const double range = action_.max[i] - action_.min[i];
    const double yi = y[i];
    a[i] = static_cast<float>(action_.min[i] + (range < kConstantRange ? yi : (yi + 1.0) * 0.5 * range));
  }
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

PolicyRunner::PolicyRunner(const ModelSpec& model, const Normalization& stats,
                           std::unique_ptr<ChunkPredictor> predictor, std::uint64_t seed)
    : model_(model),
      normalization_(stats, model.obs_dim),
      predictor_(std::move(predictor)),
      rng_(seed) {
  if (!predictor_) throw std::invalid_argument("PolicyRunner: null predictor");
  obs_n_ = Eigen::VectorXf::Zero(model_.obs_dim);
  noise_ = Eigen::VectorXf::Zero(model_.OutputDim());
  y_ = Eigen::VectorXf::Zero(model_.OutputDim());
  chunk_ = Eigen::Matrix<float, Eigen::Dynamic, kActionDim, Eigen::RowMajor>::Zero(model_.horizon,
                                                                                   kActionDim);
}

namespace {
const Bundle& NonNull(const std::shared_ptr<const Bundle>& bundle) {
  if (!bundle) throw std::invalid_argument("PolicyRunner: null bundle");
  return *bundle;
}
}  // namespace

PolicyRunner::PolicyRunner(std::shared_ptr<const Bundle> bundle, std::uint64_t seed)
    : PolicyRunner(NonNull(bundle).model, NonNull(bundle).normalization,
                   std::make_unique<PolicyRuntime>(bundle), seed) {}

void PolicyRunner::Reset(std::uint64_t seed) {
  rng_.seed(seed);
  have_chunk_ = false;
  next_ = 0;
  planned_last_step_ = false;
  latch_.Reset();
}

RunnerStatus PolicyRunner::Act(const float* raw_obs, Vector7f* action) {
  const ModelSpec& m = model_;
  planned_last_step_ = false;
  if (!have_chunk_ || next_ >= m.execute) {
    have_chunk_ = false;
    for (int i = 0; i < m.obs_dim; ++i) {
      if (!std::isfinite(raw_obs[i])) {
        action->setConstant(std::numeric_limits<float>::quiet_NaN());
        return RunnerStatus::kBadInput;
      }
    }
    normalization_.NormalizeObs(raw_obs, obs_n_.data());
    if (m.type == ModelType::kFlow) {
      std::normal_distribution<float> normal(0.0f, 1.0f);
      for (Eigen::Index i = 0; i < noise_.size(); ++i) noise_[i] = normal(rng_);
    }
    predictor_->Predict(obs_n_.data(), m.type == ModelType::kFlow ? noise_.data() : nullptr,
                        y_.data());
    ++plans_;
    if (!y_.allFinite()) {
      action->setConstant(std::numeric_limits<float>::quiet_NaN());
      return RunnerStatus::kNonFinite;
    }
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    for (int h = 0; h < m.horizon; ++h) {
      float* row = chunk_.row(h).data();
      normalization_.DenormalizeAction(y_.data() + kActionDim * h, row);
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
