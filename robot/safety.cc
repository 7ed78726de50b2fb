#include "robot/safety.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace dreamforge::robot {

namespace {

// The TCP speed limit is met by scaling the joint step; the map is nonlinear, so a few
// rounds may be needed.
constexpr int kSpeedRounds = 8;

const char* const kEventNames[kSafetyEventCount] = {
    "non_finite_observation", "non_finite_policy",  "non_finite_command", "joint_position",
    "joint_velocity",         "joint_acceleration", "eef_speed",          "workspace_clamp",
    "workspace_hold",         "deadline_miss",      "hardware_timeout",   "hardware_error",
    "implausible_observation", "camera_frame",       "stale_frame"};

}  // namespace

const char* SafetyEventName(SafetyEvent event) {
  const int i = static_cast<int>(event);
  return i >= 0 && i < kSafetyEventCount ? kEventNames[i] : "unknown";
}

nlohmann::json SafetyReport::ToJson() const {
  nlohmann::json events = nlohmann::json::object();
  for (int i = 0; i < kSafetyEventCount; ++i) events[kEventNames[i]] = counts[i];
  return {{"holds", holds}, {"clamped_steps", clamped_steps}, {"events", events}};
}

SafetyLimits TighterLimits(const SafetyLimits& a, const SafetyLimits& b) {
  SafetyLimits t;
  t.workspace_min = a.workspace_min.cwiseMax(b.workspace_min);
  t.workspace_max = a.workspace_max.cwiseMin(b.workspace_max);
  for (int i = 0; i < 3; ++i) {
    if (!(t.workspace_min[i] < t.workspace_max[i])) {
      throw std::invalid_argument("safety limits: the workspace boxes do not overlap on axis " +
                                  std::string(1, "xyz"[i]));
    }
  }
  t.max_eef_speed = std::min(a.max_eef_speed, b.max_eef_speed);
  t.max_joint_velocity = a.max_joint_velocity.cwiseMin(b.max_joint_velocity);
  t.max_joint_acceleration = a.max_joint_acceleration.cwiseMin(b.max_joint_acceleration);
  t.joint_margin = std::max(a.joint_margin, b.joint_margin);
  return t;
}

SafetyFilter::SafetyFilter(const SafetyLimits& limits, const KinematicChain& chain, double dt)
    : limits_(limits), kinematics_(chain), dt_(dt), q_dyn_(Eigen::VectorXd::Zero(kArmDof)) {
  if (kinematics_.dof() != kArmDof) {
    throw std::invalid_argument("SafetyFilter: the chain has " + std::to_string(kinematics_.dof()) +
                                " moving joints, expected 7");
  }
  if (!(dt > 0) || !std::isfinite(dt)) throw std::invalid_argument("SafetyFilter: dt must be > 0");
  for (int i = 0; i < kArmDof; ++i) {
    lower_[i] = kinematics_.lower()[i] + limits.joint_margin;
    upper_[i] = kinematics_.upper()[i] - limits.joint_margin;
    if (lower_[i] > upper_[i]) {
      throw std::invalid_argument("SafetyFilter: joint_margin leaves no range for joint " +
                                  std::to_string(i));
    }
    max_velocity_[i] = limits.max_joint_velocity[i];
  }
  // The chain's own velocity limits (URDF <limit velocity>) bound the bundle's, where set.
  int index = 0;
  for (const JointSpec& j : kinematics_.chain().joints) {
    if (j.type == JointType::kFixed) continue;
    if (j.velocity > 0) max_velocity_[index] = std::min(max_velocity_[index], j.velocity);
    ++index;
  }
}

Eigen::Vector3d SafetyFilter::ToolPosition(const Vector7d& q) {
  q_dyn_ = q;
  return kinematics_.ToolPose(q_dyn_).translation();
}

double SafetyFilter::OutsideBox(const Eigen::Vector3d& p) const {
  const Eigen::Vector3d below = (limits_.workspace_min - p).cwiseMax(0.0);
  const Eigen::Vector3d above = (p - limits_.workspace_max).cwiseMax(0.0);
  return (below + above).norm();
}

bool SafetyFilter::JointsPlausible(const Vector7d& q) const {
  for (int i = 0; i < kArmDof; ++i) {
    if (!(q[i] >= kinematics_.lower()[i] - kJointLimitTolerance &&
          q[i] <= kinematics_.upper()[i] + kJointLimitTolerance)) {
      return false;
    }
  }
  return true;
}

bool SafetyFilter::Reset(const Vector7d& q, double gripper) {
  if (!q.allFinite() || !std::isfinite(gripper) || !JointsPlausible(q)) {
    started_ = false;
    return false;
  }
  last_q_ = q;
  last_v_.setZero();
  last_p_ = ToolPosition(q);
  last_gripper_ = std::clamp(gripper, -1.0, 1.0);
  started_ = true;
  return true;
}

bool SafetyFilter::CheckObservation(const RobotState& s) {
  return s.q.allFinite() && s.qd.allFinite() && s.fingers.allFinite() &&
         s.object_position.allFinite() && s.object_quaternion.allFinite() &&
         s.target_position.allFinite() && std::isfinite(s.time) &&
         s.object_quaternion.norm() > 1e-6;
}

void SafetyFilter::ClampWorkspace(Eigen::Vector3d* p) {
  const Eigen::Vector3d clamped =
      p->cwiseMax(limits_.workspace_min).cwiseMin(limits_.workspace_max);
  if (p->allFinite() && clamped != *p) {
    Count(SafetyEvent::kWorkspaceClamp);
    *p = clamped;
  }
}

void SafetyFilter::MakeHold(SafetyEvent reason, Command* command) {
  Count(reason);
  ++report_.holds;
  command->q_target = last_q_;
  command->gripper = last_gripper_;
  command->hold = true;
}

bool SafetyFilter::Filter(const Vector7d& q_desired, double gripper, Command* command) {
  if (!started_) {
    // Nothing safe to hold at either; callers must Reset first. A hold at the last target
    // (zero before any Reset) is still finite.
    MakeHold(SafetyEvent::kNonFiniteCommand, command);
    return false;
  }
  if (!q_desired.allFinite() || !std::isfinite(gripper)) {
    MakeHold(SafetyEvent::kNonFiniteCommand, command);
    return false;
  }
  bool clamped = false;
  bool position_event = false;
  // 2. Position band.
  Vector7d q = q_desired.cwiseMax(lower_).cwiseMin(upper_);
  if (q != q_desired) position_event = true;
  // 3. Velocity and acceleration from the last sent target.
  bool velocity_event = false, acceleration_event = false;
  for (int i = 0; i < kArmDof; ++i) {
    const double v = (q[i] - last_q_[i]) / dt_;
    const double a_step = limits_.max_joint_acceleration[i] * dt_;
    const double v_lo = std::max(-max_velocity_[i], last_v_[i] - a_step);
    const double v_hi = std::min(max_velocity_[i], last_v_[i] + a_step);
    double v_ok = v;
    if (v < -max_velocity_[i] || v > max_velocity_[i]) velocity_event = true;
    if (v < v_lo || v > v_hi) {
      if (v >= -max_velocity_[i] && v <= max_velocity_[i]) acceleration_event = true;
      v_ok = std::clamp(v, v_lo, v_hi);
    }
    q[i] = last_q_[i] + v_ok * dt_;
    // A target may not leave the band further than the last one did (position wins over
    // acceleration next to a limit).
    const double lo = std::min(lower_[i], last_q_[i]);
    const double hi = std::max(upper_[i], last_q_[i]);
    if (q[i] < lo || q[i] > hi) {
      q[i] = std::clamp(q[i], lo, hi);
      position_event = true;
    }
  }
  // 4. TCP speed.
  const double max_step = limits_.max_eef_speed * dt_;
  Eigen::Vector3d p = ToolPosition(q);
  double step = (p - last_p_).norm();
  if (step > max_step) {
    Count(SafetyEvent::kEefSpeed);
    clamped = true;
    for (int round = 0; round < kSpeedRounds && step > max_step; ++round) {
      // Slightly more than proportional, so the nonlinear map settles below the limit.
      const double s = round + 1 < kSpeedRounds ? 0.999 * max_step / step : 0.0;
      q = last_q_ + s * (q - last_q_);
      p = ToolPosition(q);
      step = (p - last_p_).norm();
    }
  }
  if (position_event) Count(SafetyEvent::kJointPosition);
  if (velocity_event) Count(SafetyEvent::kJointVelocity);
  if (acceleration_event) Count(SafetyEvent::kJointAcceleration);
  clamped = clamped || position_event || velocity_event || acceleration_event;
  // 5. Workspace: the commanded TCP may not leave the box (beyond the tolerance) unless it
  // is on its way back in.
  const double outside = OutsideBox(p);
  if (outside > kWorkspaceTolerance && outside > OutsideBox(last_p_) - 1e-12) {
    MakeHold(SafetyEvent::kWorkspaceHold, command);
    return false;
  }
  if (!q.allFinite()) {  // cannot happen with finite inputs; kept as the last guard
    MakeHold(SafetyEvent::kNonFiniteCommand, command);
    return false;
  }
  if (clamped) ++report_.clamped_steps;
  command->q_target = q;
  command->gripper = std::clamp(gripper, -1.0, 1.0);
  command->hold = false;
  return true;
}

void SafetyFilter::Commit(const Command& sent) {
  if (sent.hold || !sent.q_target.allFinite()) {
    last_v_.setZero();
    return;
  }
  last_v_ = (sent.q_target - last_q_) / dt_;
  last_q_ = sent.q_target;
  last_p_ = ToolPosition(last_q_);
  last_gripper_ = sent.gripper;
}

}  // namespace dreamforge::robot
