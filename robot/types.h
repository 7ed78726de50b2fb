// Sizes and small fixed-size types shared by the edge controller (robot/).
//
// The controller drives a 7-DoF arm with a two-finger parallel gripper (DESIGN.md "The
// default world"); its actions are 7-vectors (delta TCP position, delta TCP rotation as
// axis-angle, gripper). Fixed sizes keep the real-time path free of heap allocation.

#pragma once

#include <Eigen/Core>

namespace dreamforge::robot {

constexpr int kArmDof = 7;       // arm joints
constexpr int kFingerCount = 2;  // prismatic finger joints
constexpr int kActionDim = 7;    // dx dy dz (m, scaled), rx ry rz (rad, scaled), gripper

using Vector7d = Eigen::Matrix<double, kArmDof, 1>;
using Vector7f = Eigen::Matrix<float, kActionDim, 1>;

}  // namespace dreamforge::robot
