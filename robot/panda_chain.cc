#include "robot/panda_chain.h"

#include <string>

#include "robot/geometry.h"

namespace dreamforge::robot {

KinematicChain PandaChain() {
  constexpr double kPi = 3.14159265358979323846;
  struct Row {
    double x, y, z, roll, lower, upper, velocity, effort;
  };
  // franka_description: origins (xyz; rpy = (roll, 0, 0)), limits (rad, rad/s, N*m).
  const Row rows[7] = {
      {0, 0, 0.333, 0, -2.8973, 2.8973, 2.175, 87},
      {0, 0, 0, -kPi / 2, -1.7628, 1.7628, 2.175, 87},
      {0, -0.316, 0, kPi / 2, -2.8973, 2.8973, 2.175, 87},
      {0.0825, 0, 0, kPi / 2, -3.0718, -0.0698, 2.175, 87},
      {-0.0825, 0.384, 0, -kPi / 2, -2.8973, 2.8973, 2.61, 12},
      {0, 0, 0, kPi / 2, -0.0175, 3.7525, 2.61, 12},
      {0.088, 0, 0, kPi / 2, -2.8973, 2.8973, 2.61, 12},
  };
  KinematicChain chain;
  chain.base_link = "panda_link0";
  for (int i = 0; i < 7; ++i) {
    const Row& r = rows[i];
    JointSpec j;
    j.name = "panda_joint" + std::to_string(i + 1);
    j.type = JointType::kRevolute;
    j.origin = FromXyzRpy({r.x, r.y, r.z}, {r.roll, 0, 0});
    j.axis = Eigen::Vector3d::UnitZ();
    j.lower = r.lower;
    j.upper = r.upper;
    j.velocity = r.velocity;
    j.effort = r.effort;
    j.child_link = "panda_link" + std::to_string(i + 1);
    chain.joints.push_back(j);
  }
  JointSpec flange;
  flange.name = "panda_joint8";
  flange.type = JointType::kFixed;
  flange.origin = FromXyzRpy({0, 0, 0.107}, {0, 0, 0});
  flange.axis = Eigen::Vector3d::UnitZ();
  flange.child_link = "panda_link8";
  chain.joints.push_back(flange);
  JointSpec hand;
  hand.name = "panda_hand_joint";
  hand.type = JointType::kFixed;
  hand.origin = FromXyzRpy({0, 0, 0}, {0, 0, -kPi / 4});
  hand.axis = Eigen::Vector3d::UnitZ();
  hand.child_link = "panda_hand";
  chain.joints.push_back(hand);
  chain.tool = Eigen::Isometry3d::Identity();
  chain.tool.translation() = Eigen::Vector3d(0, 0, 0.1034);
  return chain;
}

Eigen::VectorXd PandaHomeJoints() {
  Eigen::VectorXd q(7);
  q << 0, -0.785, 0, -2.356, 0, 1.571, 0.785;
  return q;
}

}  // namespace dreamforge::robot
