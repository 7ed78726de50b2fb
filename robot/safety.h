// The safety filter between the policy and the hardware (DESIGN.md "Reliability": a NaN,
// an out-of-limit command or a missed deadline never reaches the hardware).
//
// It works on the sequence of commands actually sent (Commit), one control period dt
// apart, and enforces, in this order:
//   1. finiteness of the observation, the policy output and the command (else hold); the
//      measured joints within the chain's limits (+- kJointLimitTolerance): a state beyond
//      them is a glitch or in the wrong units (JointsPlausible; Reset refuses it, the
//      control loop holds on it);
//   2. joint position limits shrunk by joint_margin (clamp; a target already outside
//      that band, e.g. at start-up, may not move further out);
//   3. joint velocity |q_k - q_{k-1}| / dt <= max_joint_velocity and acceleration
//      |v_k - v_{k-1}| / dt <= max_joint_acceleration (clamp; v after a hold is 0);
//      the velocity limit is the smaller of the bundle's and the chain's joint velocity;
//   4. TCP speed |p(q_k) - p(q_{k-1})| / dt <= max_eef_speed (the joint step is scaled
//      down);
//   5. the workspace box on the commanded TCP position: the controller clamps its
//      Cartesian target into the box before IK (ClampWorkspace); a joint command whose TCP
//      still ends more than kWorkspaceTolerance outside the box, and not closer to it than
//      the previous command, is replaced by a hold.
// Where rules conflict, position limits, TCP speed and the workspace win over the
// acceleration limit (a step scaled down for them may decelerate harder than allowed).
// Every clamp and hold is counted by kind (SafetyReport). A hold command repeats the last
// sent target with hold = true, so it is always finite.
//
// Real-time safety: after construction every method is allocation-free and never throws.

#pragma once

#include <array>
#include <cstdint>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "robot/bundle.h"
#include "robot/hardware.h"
#include "robot/kinematics.h"
#include "robot/types.h"

namespace dreamforge::robot {

enum class SafetyEvent {
  kNonFiniteObservation,    // hold: the hardware state had a NaN/Inf (or a zero quaternion)
  kNonFinitePolicy,         // hold: the policy output had a NaN/Inf
  kNonFiniteCommand,        // hold: the joint target or gripper command was not finite
  kJointPosition,           // clamp: a target beyond the joint limits (minus the margin)
  kJointVelocity,           // clamp: a joint step faster than max_joint_velocity
  kJointAcceleration,       // clamp: a joint velocity change above max_joint_acceleration
  kEefSpeed,                // clamp: a TCP step faster than max_eef_speed
  kWorkspaceClamp,          // clamp: a Cartesian target outside the workspace box
  kWorkspaceHold,           // hold: a command whose TCP leaves the workspace box
  kDeadlineMiss,            // hold: the step finished after its deadline (control loop)
  kHardwareTimeout,         // hold: the hardware did not answer in time (control loop)
  kHardwareError,           // hold: the hardware reported an error (control loop)
  kImplausibleObservation,  // hold: measured joints beyond the chain's limits (control loop)
  kCameraFrame,             // hold: an image policy's camera gave no frame or a wrong-sized one
  kStaleFrame,              // hold: a camera frame older than the controller's max frame age
  kCount
};
inline constexpr int kSafetyEventCount = static_cast<int>(SafetyEvent::kCount);
// "non_finite_observation", "joint_position", ...
const char* SafetyEventName(SafetyEvent event);

struct SafetyReport {
  std::array<std::uint64_t, kSafetyEventCount> counts{};  // steps with each event
  std::uint64_t holds = 0;                                // hold commands produced
  std::uint64_t clamped_steps = 0;                        // commands changed by any clamp
  std::uint64_t count(SafetyEvent e) const { return counts[static_cast<int>(e)]; }
  // {"holds": n, "clamped_steps": n, "events": {"joint_position": n, ...}}. Allocates.
  nlohmann::json ToJson() const;
};

// The tighter of two sets of limits, field by field: the intersection of the workspace
// boxes, the smaller TCP speed, joint velocities and accelerations, the larger joint
// margin. Bounds a bundle's limits by the robot's own (`control --robot-limits`), so a
// bundle that asks for more than the robot allows gets the robot's limits. Throws
// std::invalid_argument naming the axis when the boxes do not intersect. Not real-time
// safe (call before the controller is built).
SafetyLimits TighterLimits(const SafetyLimits& a, const SafetyLimits& b);

class SafetyFilter {
 public:
  // Distance outside the workspace box tolerated on the commanded TCP (IK residuals), m.
  static constexpr double kWorkspaceTolerance = 1e-3;
  // How far measured joints may lie beyond the chain's limits (sensor overshoot), rad.
  static constexpr double kJointLimitTolerance = 0.02;

  // dt: control period, s. Allocates; not real-time safe.
  SafetyFilter(const SafetyLimits& limits, const KinematicChain& chain, double dt);

  // Starts from the measured joints (taken as the last sent target, at rest) and the
  // measured gripper opening. Returns false (and leaves the filter unstarted) if either is
  // not finite or the joints are not plausible (JointsPlausible): a target it would hold
  // there could be far outside the robot's limits.
  bool Reset(const Vector7d& q, double gripper);
  bool started() const { return started_; }

  // Finiteness (and a non-degenerate object quaternion) of a hardware state; the caller
  // holds with kNonFiniteObservation when it fails.
  static bool CheckObservation(const RobotState& state);
  // Whether measured joints lie within the chain's limits widened by kJointLimitTolerance
  // (false for NaN). Real-time safe.
  bool JointsPlausible(const Vector7d& q) const;
  // Clamps a Cartesian TCP target position (base frame, m) into the workspace box;
  // counts kWorkspaceClamp when it changes. NaN is left for Filter to catch.
  void ClampWorkspace(Eigen::Vector3d* position);

  // Turns a desired joint target (rad) and gripper command into a safe command (steps 1-5
  // above). Returns false when *command is a hold. command->seq is left to the caller.
  bool Filter(const Vector7d& q_desired, double gripper, Command* command);
  // Makes *command a hold at the last sent target and counts `reason`.
  void MakeHold(SafetyEvent reason, Command* command);
  // Records what was actually sent; the next Filter limits rates relative to it.
  void Commit(const Command& sent);

  // Counts an event detected elsewhere (e.g. by the control loop).
  void Count(SafetyEvent event) { ++report_.counts[static_cast<int>(event)]; }

  const SafetyReport& report() const { return report_; }
  const SafetyLimits& limits() const { return limits_; }
  const Vector7d& last_target() const { return last_q_; }
  // The joint band the filter keeps targets in: limits shrunk by the margin.
  const Vector7d& lower() const { return lower_; }
  const Vector7d& upper() const { return upper_; }
  const Vector7d& max_velocity() const { return max_velocity_; }

 private:
  Eigen::Vector3d ToolPosition(const Vector7d& q);
  double OutsideBox(const Eigen::Vector3d& p) const;

  SafetyLimits limits_;
  Kinematics kinematics_;
  double dt_;
  Vector7d lower_, upper_, max_velocity_;
  Eigen::VectorXd q_dyn_;  // (7) scratch for Kinematics

  bool started_ = false;
  Vector7d last_q_ = Vector7d::Zero();                // last sent target
  Vector7d last_v_ = Vector7d::Zero();                // its velocity, rad/s
  Eigen::Vector3d last_p_ = Eigen::Vector3d::Zero();  // its TCP position
  double last_gripper_ = -1;
  SafetyReport report_;
};

}  // namespace dreamforge::robot
