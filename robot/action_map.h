// The action-to-joint-target map that the simulator (sim/world.h Step) and the edge
// controller (robot/controller.h) both apply, so a policy commands the same motion in
// `eval` and on the robot.
//
// Action (7, in [-1, 1]): delta TCP position in the base frame (x ActionScale::position,
// m), delta TCP rotation as an axis-angle vector in the base frame (x
// ActionScale::rotation, rad), gripper (-1 open .. +1 closed). From the TCP pose T at the
// measured joints q:
//   target position = p(T) + a[0:3] * position
//   target rotation = AxisAngleToMatrix(a[3:6] * rotation) * R(T)
// and the joint target is SolveIk(target, seed = q, ActionIkOptions()). An action whose
// motion part a[0:6] is all zero keeps the previous joint target (no IK). A solve counts
// as converged below kIkPositionMiss and kIkRotationMiss.
#pragma once

#include <Eigen/Geometry>

#include "robot/kinematics.h"

namespace dreamforge::robot {

struct ActionScale {
  double position = 0.05;  // m per control step at |a| = 1
  double rotation = 0.3;   // rad per control step at |a| = 1
};

inline constexpr double kIkPositionMiss = 2e-3;  // m
inline constexpr double kIkRotationMiss = 2e-2;  // rad

// The IK settings of the map: 30 iterations from the measured joints (Rest::kSeed), no
// null-space motion.
IkOptions ActionIkOptions();

// The TCP target of an action's motion part at `current` (the TCP pose at the measured
// joints); `action` must already be clamped to [-1, 1]. Real-time safe.
Eigen::Isometry3d ActionToolTarget(const Eigen::Isometry3d& current,
                                   const Eigen::Matrix<double, 7, 1>& action, const ActionScale& scale);

// True when an action moves the arm (a[0:6] not all zero).
inline bool ActionMoves(const Eigen::Matrix<double, 7, 1>& action) {
  return action.head<6>().squaredNorm() > 0.0;
}

// Sub-millimetre residuals are well below what the motors track; only real misses count.
inline bool IkConverged(const IkResult& result) {
  return result.position_error < kIkPositionMiss && result.rotation_error < kIkRotationMiss;
}

}  // namespace dreamforge::robot
