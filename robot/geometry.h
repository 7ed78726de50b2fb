// Rigid-body geometry helpers shared by the kinematics and the controller.
//
// Conventions: rotations are proper 3x3 rotation matrices; an axis-angle vector is
// angle (rad) times unit axis; URDF rpy is R = Rz(yaw) * Ry(pitch) * Rx(roll), angles in
// rad. Every function here is real-time safe: no heap allocation, no exceptions.

#pragma once

#include <Eigen/Geometry>

namespace dreamforge::robot {

// URDF <origin xyz rpy>: translation (m) and roll, pitch, yaw (rad), applied as
// R = Rz(yaw) * Ry(pitch) * Rx(roll). Real-time safe.
Eigen::Isometry3d FromXyzRpy(const Eigen::Vector3d& xyz, const Eigen::Vector3d& rpy);

// Inverse of the rotation part of FromXyzRpy: (roll, pitch, yaw), rad, pitch in
// [-pi/2, pi/2]. At gimbal lock (|pitch| = pi/2) roll is set to 0. Real-time safe.
Eigen::Vector3d MatrixToRpy(const Eigen::Matrix3d& r);

// Exponential map: axis-angle vector (rad * unit axis) -> rotation matrix. Exact near
// zero (series expansion). Real-time safe.
Eigen::Matrix3d AxisAngleToMatrix(const Eigen::Vector3d& axis_angle);

// Log map: rotation matrix -> axis-angle vector with angle in [0, pi]. Robust near 0
// (series) and near pi (via the quaternion with w >= 0; at exactly pi either sign of
// the axis is a valid answer). Real-time safe.
Eigen::Vector3d MatrixToAxisAngle(const Eigen::Matrix3d& r);

// Orientation error as the axis-angle vector of target * current^T, expressed in the
// frame both rotations are expressed in (the base frame for the IK): rotating `current`
// about this vector by its norm (rad) gives `target`. Real-time safe.
Eigen::Vector3d RotationError(const Eigen::Matrix3d& target, const Eigen::Matrix3d& current);

}  // namespace dreamforge::robot
