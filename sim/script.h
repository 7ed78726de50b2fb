// Scripted demonstrations: object-relative waypoints (tool pose + gripper), interpolated at
// the control rate and tracked closed-loop. Used by `dreamforge record --device script:FILE`.
//
// YAML layout (see datasets/demos/*.script.yaml):
//   task: bottle_place
//   speed: 0.25            # default tool speed, m/s
//   rotation_speed: 1.0    # default tool rotation speed, rad/s
//   waypoints:
//     - frame: object      # required: object | target | world | relative (offsets along
//                          # world axes)
//       pos: [0, 0, 0.1]   # required: m, in the frame
//       rpy: [3.14159, 0, 0]  # tool orientation in the frame (default: pointing down;
//                             # for `relative`: unchanged)
//       gripper: open      # open | close, applied on arrival (default: unchanged)
//       hold: 0.5          # s to wait after arrival (default 0, at most kMaxHoldSeconds)
//       speed: 0.2         # optional, m/s
// Frames are taken when a waypoint starts: `object` is the manipulated object (its centre,
// yaw only; cylinders have no yaw, box yaw is folded into [-45, 45] degrees), `target` the
// task's target frame, `world` the robot base, `relative` the tool pose at that moment.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "sim/rollout.h"

namespace dreamforge::sim {

// The longest `hold` a waypoint may ask for, s (longer than any task's episode).
constexpr double kMaxHoldSeconds = 60.0;

struct Waypoint {
  enum class Frame { kObject, kTarget, kWorld, kRelative };
  Frame frame = Frame::kObject;
  Eigen::Vector3d pos = Eigen::Vector3d::Zero();
  Eigen::Vector3d rpy = Eigen::Vector3d::Zero();  // tool orientation in the frame
  bool has_rpy = false;  // without one: pointing down, or unchanged for `relative`
  int gripper = 0;  // -1 open, +1 close, 0 keep the current command
  double hold = 0.0;   // s
  double speed = 0.0;  // m/s; 0: the script's default
};

struct WaypointScript {
  std::string task;
  double speed = 0.25;          // m/s
  double rotation_speed = 1.0;  // rad/s
  std::vector<Waypoint> waypoints;
};

// Parses a script file. Throws SimError naming the file and the field
// (e.g. "demo.yaml: waypoints[2].frame: expected object, target, world or relative");
// a waypoint without frame or pos, or a key given twice, is refused.
WaypointScript LoadScript(const std::filesystem::path& path);
WaypointScript ParseScript(const std::string& yaml, const std::string& source);

class ScriptController : public Controller {
 public:
  explicit ScriptController(WaypointScript script) : script_(std::move(script)) {}
  void Reset(const World& world) override;
  Action Act(const World& world, const Observation& obs) override;
  bool Finished() const override { return index_ >= script_.waypoints.size(); }

 private:
  void StartSegment(const World& world);

  WaypointScript script_;
  size_t index_ = 0;
  int step_ = 0;        // control steps into the current segment
  int move_steps_ = 0;  // steps of motion in the current segment
  int hold_steps_ = 0;  // steps of waiting after arrival
  bool started_ = false;
  double gripper_ = -1.0;
  Eigen::Isometry3d start_ = Eigen::Isometry3d::Identity();
  Eigen::Isometry3d goal_ = Eigen::Isometry3d::Identity();
  Eigen::Isometry3d desired_ = Eigen::Isometry3d::Identity();
};

}  // namespace dreamforge::sim
