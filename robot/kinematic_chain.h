// The kinematic description of a serial robot arm: immutable data, built once (from a
// URDF by sim/, from the policy bundle's JSON on the controller) and shared read-only.

#pragma once

#include <string>
#include <vector>

#include <Eigen/Geometry>
#include <nlohmann/json.hpp>

#include "robot/geometry.h"

namespace dreamforge::robot {

enum class JointType { kRevolute, kPrismatic, kFixed };

// "revolute", "prismatic", "fixed".
const char* JointTypeName(JointType type);

// One URDF joint and the link it moves.
struct JointSpec {
  std::string name;
  JointType type = JointType::kFixed;
  // Parent link frame -> this joint's frame (= its child link frame) at q = 0, as the
  // URDF <origin>. Translation in m.
  Eigen::Isometry3d origin = Eigen::Isometry3d::Identity();
  // Unit joint axis in the joint/child frame (URDF <axis>); ignored for fixed joints.
  Eigen::Vector3d axis = Eigen::Vector3d::UnitX();
  // Position limits, rad (revolute) or m (prismatic); ignored for fixed joints.
  double lower = 0, upper = 0;
  // Velocity limit (rad/s or m/s) and effort limit (N*m or N); >= 0.
  double velocity = 0, effort = 0;
  std::string child_link;
};

// A serial chain base -> tip: joints[i]'s parent link is joints[i-1].child_link (or
// base_link for i = 0). Fixed joints may appear anywhere; the chain's joint vector q
// (dof x 1) lists the non-fixed joints in chain order.
struct KinematicChain {
  std::string base_link;
  std::vector<JointSpec> joints;
  // Tip link frame (last joint's child link) -> tool centre point (TCP).
  Eigen::Isometry3d tool = Eigen::Isometry3d::Identity();

  // Number of non-fixed joints.
  int dof() const;

  // Throws std::invalid_argument naming the offending field (e.g.
  // "joints[3].axis: not a unit vector") for: an empty name or link, a non-unit or
  // non-finite axis, lower > upper, negative velocity or effort, non-finite numbers, a
  // non-rigid origin or tool. Not real-time safe.
  void Validate() const;

  // JSON round trip for the policy bundle. Layout:
  //   {"base_link": str, "tool": FRAME, "joints": [{"name": str, "type":
  //    "revolute"|"prismatic"|"fixed", "child_link": str, "origin": FRAME,
  //    "axis": [x,y,z], "lower": num, "upper": num, "velocity": num, "effort": num}]}
  // FRAME = {"xyz": [x,y,z], "rotation": [[3],[3],[3]]} (row-major, exact round trip).
  // FromJson also accepts {"xyz", "rpy"} (URDF convention); for fixed joints axis and
  // limits are optional. FromJson throws std::invalid_argument naming the field
  // (e.g. "joints[2].lower") on a missing key, wrong type, unknown joint type or any
  // Validate() failure. Neither is real-time safe.
  nlohmann::json ToJson() const;
  static KinematicChain FromJson(const nlohmann::json& json);
};

}  // namespace dreamforge::robot
