// The edge controller's step: hardware state -> observation -> policy -> IK -> safety
// filter -> joint command, computed with the rules the simulator applies.
//
// Observation (float, the bundle's obs_keys order; the layout of robot/obs_layout.h),
// from a RobotState:
//   robot0_eef_pos       TCP position by forward kinematics of the bundle's chain and tool
//                        at the measured q (base frame, m)
//   robot0_eef_quat      TCP orientation, QuatXyzw
//   robot0_gripper_qpos  the two finger positions (m)
//   robot0_joint_pos     q (rad);  robot0_joint_vel  qd (rad/s)
//   object               ObjectFeature of the measured object pose (its quaternion
//                        normalized, w >= 0), the TCP position and the target position
// Image policies (bundle "images"): every step also reads each camera's newest frame from
// the CameraSource given to SetCameras (robot/camera.h) and hands them to the policy. A
// camera that gives no frame, a frame of another size than the bundle's, or a frame whose
// capture time is more than max_frame_age before (or after) the state's time holds the
// robot (SafetyEvent::kCameraFrame / kStaleFrame); so does an image bundle without a
// camera source.
// Action (7, in [-1, 1]) -> joint target: the map of robot/action_map.h at the measured q,
// with the TCP target clamped into the safety filter's workspace box before the IK; a
// zero motion part keeps the previous joint target. Gripper command = a[6] (each finger
// at finger_open * (1 - a[6]) / 2). The safety filter (robot/safety.h) then clamps or
// holds.
//
// Real-time safety: after construction, Start, Reset, Compute, Hold, Commit and Step
// never allocate and never throw. Not thread-safe (one controller per loop).

#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <Eigen/Core>
#include <Eigen/Geometry>

#include "robot/bundle.h"
#include "robot/camera.h"
#include "robot/hardware.h"
#include "robot/kinematics.h"
#include "robot/policy_runner.h"
#include "robot/safety.h"
#include "robot/types.h"

namespace dreamforge::robot {

enum class StepOutcome {
  kCommand,  // a (possibly clamped) command
  kHold,     // a hold command; the reason is counted in safety().report()
};

class Controller {
 public:
  // Builds the kinematics, the policy runner (generator seeded with `seed`) and the
  // safety filter (period 1 / control_hz). Allocates; throws std::invalid_argument on an
  // inconsistent bundle. Not real-time safe.
  Controller(std::shared_ptr<const Bundle> bundle, std::uint64_t seed);

  // Starts (or restarts) from a measured state: the held joint target becomes q, the held
  // gripper command follows the fingers' opening. Returns false, and stays unstarted, if
  // the state is not finite (SafetyFilter::CheckObservation; the loop then refuses to
  // start).
  bool Start(const RobotState& state);
  // The camera source of an image bundle (not owned; null: none) and the oldest frame it
  // accepts, s, relative to RobotState::time. Not real-time safe.
  void SetCameras(CameraSource* cameras, double max_frame_age_s);
  int image_count() const { return static_cast<int>(bundle_->images.size()); }
  // The age of each camera's frame at the last step that read them, s.
  const std::vector<double>& frame_ages() const { return frame_ages_; }

  // Re-seeds the policy's generator and drops its current chunk (a new episode).
  void Reset(std::uint64_t seed);
  bool started() const { return safety_.started(); }

  // Computes the command for a state without committing it: the caller sends it (or a
  // hold from Hold) and then calls Commit with what was sent. *command is always finite;
  // its seq is the next command number.
  StepOutcome Compute(const RobotState& state, Command* command);
  // Replaces *command by a hold at the last sent target, counting `reason` (the loop's
  // watchdog: kDeadlineMiss, kHardwareTimeout, kHardwareError).
  void Hold(SafetyEvent reason, Command* command);
  // Records the command that was sent.
  void Commit(const Command& sent);
  // Compute + Commit.
  StepOutcome Step(const RobotState& state, Command* command);

  // The observation of a state (obs_keys order, D floats). Real-time safe if *obs already
  // has D entries.
  void BuildObservation(const RobotState& state, Eigen::VectorXf* obs);
  // The joint target for an action at measured joints q, before the safety filter (the map
  // of robot/action_map.h); updates the held IK target. Real-time safe.
  void ActionToJointTarget(const Vector7d& q, const Vector7f& action, Vector7d* q_target);

  const Bundle& bundle() const { return *bundle_; }
  const SafetyFilter& safety() const { return safety_; }
  SafetyFilter& safety() { return safety_; }
  const PolicyRunner& runner() const { return runner_; }
  // Last step's observation (D), policy action (7) and IK result.
  const Eigen::VectorXf& observation() const { return obs_; }
  const Vector7f& action() const { return action_; }
  const IkResult& last_ik() const { return last_ik_; }
  std::uint64_t ik_failures() const { return ik_failures_; }

 private:
  std::shared_ptr<const Bundle> bundle_;
  Kinematics kinematics_;
  PolicyRunner runner_;
  SafetyFilter safety_;
  IkOptions ik_options_;

  Eigen::VectorXf obs_;  // (D)
  Eigen::Matrix<double, kObjectFeatureDim, 1> object_ = Eigen::Matrix<double, kObjectFeatureDim, 1>::Zero();
  Vector7f action_ = Vector7f::Zero();
  Vector7d q_desired_ = Vector7d::Zero();  // held IK target
  Eigen::VectorXd q_seed_, q_ik_;          // (7) scratch for Kinematics
  IkResult last_ik_;
  std::uint64_t ik_failures_ = 0;  // IK residual above 2 mm / 0.02 rad (as the simulator)
  std::uint64_t seq_ = 0;          // last command number handed out
  CameraSource* cameras_ = nullptr;
  double max_frame_age_s_ = 0;
  std::vector<const std::uint8_t*> frames_;  // (cameras) this step's pixels
  std::vector<double> frame_ages_;           // (cameras)
};

}  // namespace dreamforge::robot
