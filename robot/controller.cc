#include "robot/controller.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "robot/geometry.h"

namespace dreamforge::robot {

namespace {

const Bundle& Checked(const std::shared_ptr<const Bundle>& bundle) {
  if (!bundle) throw std::invalid_argument("Controller: null bundle");
  return *bundle;
}

}  // namespace

Controller::Controller(std::shared_ptr<const Bundle> bundle, std::uint64_t seed)
    : bundle_(std::move(bundle)),
      kinematics_(Checked(bundle_).robot.chain),
      runner_(bundle_, seed),
      safety_(bundle_->safety, bundle_->robot.chain, 1.0 / bundle_->control_hz),
      obs_(Eigen::VectorXf::Zero(bundle_->model.obs_dim)),
      q_seed_(Eigen::VectorXd::Zero(kArmDof)),
      q_ik_(Eigen::VectorXd::Zero(kArmDof)) {
  if (kinematics_.dof() != kArmDof) {
    throw std::invalid_argument("Controller: the bundle's chain has " +
                                std::to_string(kinematics_.dof()) + " moving joints, expected 7");
  }
  ik_options_ = ActionIkOptions();
  frames_.assign(bundle_->images.size(), nullptr);
  frame_ages_.assign(bundle_->images.size(), 0.0);
}

void Controller::SetCameras(CameraSource* cameras, double max_frame_age_s) {
  if (!(max_frame_age_s > 0)) throw std::invalid_argument("Controller: max frame age must be > 0");
  cameras_ = cameras;
  max_frame_age_s_ = max_frame_age_s;
}

bool Controller::Start(const RobotState& state) {
  const double open = bundle_->robot.finger_open;
  // Invert FingerTarget with the mean finger opening: the held gripper stays as it is.
  if (!SafetyFilter::CheckObservation(state)) return false;
  const double gripper = std::clamp(1.0 - 2.0 * state.fingers.mean() / open, -1.0, 1.0);
  if (!safety_.Reset(state.q, gripper)) return false;
  q_desired_ = state.q;
  return true;
}

void Controller::Reset(std::uint64_t seed) { runner_.Reset(seed); }

void Controller::BuildObservation(const RobotState& s, Eigen::VectorXf* obs) {
  if (obs->size() != bundle_->model.obs_dim) obs->resize(bundle_->model.obs_dim);
  q_seed_ = s.q;
  const Eigen::Isometry3d tool = kinematics_.ToolPose(q_seed_);
  const Eigen::Vector3d eef = tool.translation();
  int o = 0;
  auto put = [&](double v) { (*obs)[o++] = static_cast<float>(v); };
  for (ObsKey key : bundle_->obs_keys) {
    switch (key) {
      case ObsKey::kEefPos:
        for (int i = 0; i < 3; ++i) put(eef[i]);
        break;
      case ObsKey::kEefQuat: {
        const Eigen::Vector4d q = QuatXyzw(tool.linear());
        for (int i = 0; i < 4; ++i) put(q[i]);
        break;
      }
      case ObsKey::kGripperQpos:
        for (int i = 0; i < kFingerCount; ++i) put(s.fingers[i]);
        break;
      case ObsKey::kJointPos:
        for (int i = 0; i < kArmDof; ++i) put(s.q[i]);
        break;
      case ObsKey::kJointVel:
        for (int i = 0; i < kArmDof; ++i) put(s.qd[i]);
        break;
      case ObsKey::kObject: {
        Eigen::Vector4d q = s.object_quaternion.normalized();
        if (q[3] < 0) q = -q;
        ObjectFeature(s.object_position, q, eef, s.target_position, object_);
        for (int i = 0; i < kObjectFeatureDim; ++i) put(object_[i]);
        break;
      }
    }
  }
}

void Controller::ActionToJointTarget(const Vector7d& q, const Vector7f& action,
                                     Vector7d* q_target) {
  // The map of robot/action_map.h, as the simulator applies it: clamp to [-1, 1], apply in
  // double; the target is kept inside the safety filter's workspace box.
  Eigen::Matrix<double, kActionDim, 1> a = action.cast<double>().cwiseMax(-1.0).cwiseMin(1.0);
  q_seed_ = q;
  if (ActionMoves(a)) {
    Eigen::Isometry3d target = ActionToolTarget(kinematics_.ToolPose(q_seed_), a, bundle_->action_scale);
    Eigen::Vector3d p = target.translation();
    safety_.ClampWorkspace(&p);
    target.translation() = p;
    last_ik_ = kinematics_.SolveIk(target, q_seed_, ik_options_, &q_ik_);
    if (!IkConverged(last_ik_)) ++ik_failures_;
    q_desired_ = q_ik_;
  }
  *q_target = q_desired_;
}

StepOutcome Controller::Compute(const RobotState& state, Command* command) {
  command->seq = seq_ + 1;
  if (!safety_.CheckObservation(state)) {
    safety_.MakeHold(SafetyEvent::kNonFiniteObservation, command);
    return StepOutcome::kHold;
  }
  BuildObservation(state, &obs_);
  if (!frames_.empty()) {
    if (cameras_ == nullptr) {
      safety_.MakeHold(SafetyEvent::kCameraFrame, command);
      return StepOutcome::kHold;
    }
    for (size_t k = 0; k < frames_.size(); ++k) {
      CameraFrame frame;
      const int side = bundle_->images[k].encoder.image_size;
      if (cameras_->Latest(static_cast<int>(k), &frame) != CameraStatus::kOk || frame.pixels == nullptr ||
          frame.width != side || frame.height != side) {
        safety_.MakeHold(SafetyEvent::kCameraFrame, command);
        return StepOutcome::kHold;
      }
      frame_ages_[k] = state.time - frame.time;
      if (!(std::abs(frame_ages_[k]) <= max_frame_age_s_)) {
        safety_.MakeHold(SafetyEvent::kStaleFrame, command);
        return StepOutcome::kHold;
      }
      frames_[k] = frame.pixels;
    }
    runner_.SetImages(frames_.data());
  }
  const RunnerStatus status = runner_.Act(obs_.data(), &action_);
  if (status != RunnerStatus::kOk || !action_.allFinite()) {
    safety_.MakeHold(SafetyEvent::kNonFinitePolicy, command);
    return StepOutcome::kHold;
  }
  Vector7d q_target;
  ActionToJointTarget(state.q, action_, &q_target);
  return safety_.Filter(q_target, action_[kActionDim - 1], command) ? StepOutcome::kCommand
                                                                    : StepOutcome::kHold;
}

void Controller::Hold(SafetyEvent reason, Command* command) {
  command->seq = seq_ + 1;
  safety_.MakeHold(reason, command);
}

void Controller::Commit(const Command& sent) {
  seq_ = sent.seq;
  safety_.Commit(sent);
}

StepOutcome Controller::Step(const RobotState& state, Command* command) {
  const StepOutcome outcome = Compute(state, command);
  Commit(*command);
  return outcome;
}

}  // namespace dreamforge::robot
