// URDF -> robot description (urdfdom), the immutable input to the Bullet builder.
#pragma once

#include <Eigen/Geometry>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "robot/kinematics.h"
#include "sim/sim_error.h"

namespace dreamforge::sim {

struct CollisionShape {
  enum class Kind { kBox, kCylinder, kSphere, kCapsule };
  Kind kind = Kind::kBox;
  Eigen::Isometry3d origin = Eigen::Isometry3d::Identity();  // link frame -> shape frame
  // box: full extents (x, y, z), m; cylinder and capsule: (radius, length, 0) along the
  // shape's z axis (capsule length excludes the end caps, as in SDF/PyBullet); sphere: (radius, 0, 0).
  Eigen::Vector3d size = Eigen::Vector3d::Zero();
};

struct LinkDesc {
  std::string name;
  double mass = 0.0;  // kg; > 0 for every link
  // Link frame -> principal inertial frame (origin at the centre of mass, axes along the
  // principal axes of inertia). Bullet simulates each link in this frame.
  Eigen::Isometry3d inertial = Eigen::Isometry3d::Identity();
  Eigen::Vector3d inertia_diagonal = Eigen::Vector3d::Zero();  // kg m^2, principal moments
  std::vector<CollisionShape> collisions;
};

struct JointDesc {
  std::string name;
  robot::JointType type = robot::JointType::kFixed;
  int parent = -1;  // index into RobotDesc::links
  int child = -1;   // index into RobotDesc::links; always joint index + 1
  Eigen::Isometry3d origin = Eigen::Isometry3d::Identity();  // parent link -> child link at q = 0
  Eigen::Vector3d axis = Eigen::Vector3d::UnitZ();           // unit, child frame
  double lower = 0.0, upper = 0.0;   // rad or m
  double velocity = 0.0;             // rad/s or m/s
  double effort = 0.0;               // N m or N
  double damping = 0.0, friction = 0.0;
};

// A tree of links in depth-first order: links[0] is the root, joints[i] connects
// links[joints[i].parent] to links[i + 1].
struct RobotDesc {
  std::string name;
  std::string source;  // file the description came from (for messages)
  std::vector<LinkDesc> links;
  std::vector<JointDesc> joints;

  int LinkIndex(const std::string& name) const;    // -1 when absent
  int JointIndex(const std::string& name) const;   // -1 when absent
  // The serial chain from the root to `tip_link` (for kinematics), with `tool` appended.
  // Throws SimError when the link does not exist.
  robot::KinematicChain ChainTo(const std::string& tip_link,
                                const Eigen::Isometry3d& tool) const;
};

// Parses a URDF file. Throws SimError naming the file and the offending element for: a
// missing file, malformed XML, unknown joint type, a link without a positive mass or with
// a non-positive-definite inertia, a missing root, unsupported geometry (meshes), and
// limits with lower > upper. Supports revolute, continuous, prismatic and fixed joints;
// box, cylinder, sphere and capsule (the common <capsule radius length/> extension)
// collision shapes.
RobotDesc LoadUrdf(const std::filesystem::path& path);
// Same, from a string; `source` names it in messages.
RobotDesc ParseUrdf(const std::string& xml, const std::string& source);

}  // namespace dreamforge::sim
