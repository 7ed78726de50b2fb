// The Franka Emika Panda arm (public franka_description figures) as a KinematicChain:
// panda_link0 (base) -> 7 revolute joints -> panda_link8 (flange) -> panda_hand, with
// the tool centre point between the fingertips. A convenience for tests and tools; the
// simulator builds its chain from the project's URDF, which carries the same numbers.

#pragma once

#include <Eigen/Core>

#include "robot/kinematic_chain.h"

namespace dreamforge::robot {

// 7 dof; joints panda_joint1..7, then fixed panda_joint8 (flange, +0.107 m along z) and
// panda_hand_joint (-pi/4 about z); tool = +0.1034 m along the hand's z.
KinematicChain PandaChain();

// The customary home configuration (7 x 1), rad: {0, -0.785, 0, -2.356, 0, 1.571, 0.785}.
Eigen::VectorXd PandaHomeJoints();

}  // namespace dreamforge::robot
