// Tasks are data plus a success predicate judged on physics state only, registered by name.
#pragma once

#include <Eigen/Geometry>
#include <cmath>
#include <string>
#include <vector>

namespace dreamforge::sim {

class World;

struct ObjectSpec {
  std::string name;
  enum class Shape { kBox, kCylinder };
  Shape shape = Shape::kBox;
  // box: full extents (x, y, z); cylinder: (radius, height, unused). m.
  Eigen::Vector3d size = Eigen::Vector3d::Zero();
  double mass = 0.1;         // kg
  double friction = 0.8;     // lateral friction coefficient
  double restitution = 0.0;
  Eigen::Vector3d start = Eigen::Vector3d::Zero();  // nominal (x, y, yaw) on the table
  double Height() const { return shape == Shape::kBox ? size.z() : size.y(); }
  // Yaw under which the object looks the same, rad: 0 for a cylinder (any yaw), pi/2 for a
  // box with a square footprint, pi for any other box.
  double YawSymmetry() const {
    if (shape == Shape::kCylinder) return 0.0;
    return size.x() == size.y() ? M_PI / 2 : M_PI;
  }
};

// Why an episode ended. Failures are counted by reason, never crash a batch.
enum class Outcome { kRunning, kSuccess, kTimeout, kUnstable, kDropped, kIkFailure };
const char* OutcomeName(Outcome o);

// The state of the task's success conditions at one control step.
struct TaskStatus {
  bool placed = false;    // position tolerance and upright tilt hold
  bool at_rest = false;   // object speeds below thresholds
  bool released = false;  // no finger touches the object and the gripper is open
  bool Satisfied() const { return placed && at_rest && released; }
  double position_error = 0.0;  // m, distance the success tolerance is judged on
  double tilt = 0.0;            // rad, object z axis from world z
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  // objects()[0] is the object the robot manipulates.
  virtual const std::vector<ObjectSpec>& objects() const = 0;
  // Nominal target (x, y, yaw) on the table; meaningful for tasks with a target zone.
  virtual Eigen::Vector3d target_start() const = 0;
  // Subtask end signals, in order (e.g. "grasp", "place"); segment k of a demo ends when
  // signal k first becomes 1.
  virtual std::vector<std::string> subtask_signals() const = 0;
  // Which frame each subtask acts on: "object" or "target".
  virtual std::vector<std::string> subtask_frames() const = 0;
  virtual int max_steps() const = 0;  // control steps before a timeout
  // Radius of the target zone drawn on the table (m); 0 when the target is an object.
  virtual double target_zone_radius() const { return 0.0; }
  // Yaw under which the target looks the same (see ObjectSpec::YawSymmetry).
  virtual double target_yaw_symmetry() const = 0;
  // The target frame in the world (position at the surface the object is set on, yaw).
  virtual Eigen::Isometry3d TargetFrame(const World& world) const = 0;
  // Evaluates the success conditions on the current physics state.
  virtual TaskStatus Evaluate(const World& world) const = 0;
  // Seconds the conditions must hold continuously to count as success.
  double hold_seconds() const { return 0.5; }
};

// The registry. Throws SimError listing the known names when `name` is unknown.
const Task& GetTask(const std::string& name);
std::vector<std::string> TaskNames();

}  // namespace dreamforge::sim
