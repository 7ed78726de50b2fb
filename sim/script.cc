#include "sim/script.h"

#include <cmath>
#include <sstream>

#include "robot/fuzz_plant.h"
#include "robot/geometry.h"
#include "sim/yaml_util.h"

namespace dreamforge::sim {
namespace {

[[noreturn]] void Fail(const std::string& source, const std::string& field, const std::string& what) {
  yaml::Fail<SimError>(source, field, what);
}

double Number(const YAML::Node& n, const std::string& source, const std::string& field) {
  return yaml::Number<SimError>(n, source, field);
}

Eigen::Vector3d Vec3(const YAML::Node& n, const std::string& source, const std::string& field) {
  if (!n.IsSequence() || n.size() != 3) Fail(source, field, "expected a list of 3 numbers");
  Eigen::Vector3d v;
  for (int i = 0; i < 3; ++i) v[i] = Number(n[i], source, field + "[" + std::to_string(i) + "]");
  return v;
}

Eigen::Matrix3d Rpy(const Eigen::Vector3d& rpy) {
  return robot::FromXyzRpy(Eigen::Vector3d::Zero(), rpy).linear();
}

}  // namespace

WaypointScript ParseScript(const std::string& text, const std::string& source) {
  const YAML::Node root = yaml::Parse<SimError>(text, source);
  if (!root.IsMap()) throw SimError(source + ": expected a mapping with 'task' and 'waypoints'");
  yaml::CheckUniqueKeys<SimError>(root, source, "");
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    if (key != "task" && key != "speed" && key != "rotation_speed" && key != "waypoints") {
      Fail(source, key, "unknown field (expected task, speed, rotation_speed, waypoints)");
    }
  }
  WaypointScript s;
  if (!root["task"]) Fail(source, "task", "missing");
  s.task = yaml::String<SimError>(root["task"], source, "task");
  if (root["speed"]) s.speed = Number(root["speed"], source, "speed");
  if (root["rotation_speed"]) s.rotation_speed = Number(root["rotation_speed"], source, "rotation_speed");
  if (!(s.speed > 0)) Fail(source, "speed", "must be positive");
  if (!(s.rotation_speed > 0)) Fail(source, "rotation_speed", "must be positive");
  const YAML::Node wps = root["waypoints"];
  if (!wps || !wps.IsSequence() || wps.size() == 0) {
    Fail(source, "waypoints", "expected a non-empty list");
  }
  for (size_t i = 0; i < wps.size(); ++i) {
    const std::string f = "waypoints[" + std::to_string(i) + "]";
    const YAML::Node w = wps[i];
    if (!w.IsMap()) Fail(source, f, "expected a mapping");
    yaml::CheckUniqueKeys<SimError>(w, source, f);
    Waypoint wp;
    bool has_frame = false, has_pos = false;
    for (const auto& kv : w) {
      const std::string key = kv.first.as<std::string>();
      has_frame = has_frame || key == "frame";
      has_pos = has_pos || key == "pos";
      if (key == "frame") {
        const std::string v = yaml::String<SimError>(kv.second, source, f + ".frame");
        if (v == "object") wp.frame = Waypoint::Frame::kObject;
        else if (v == "target") wp.frame = Waypoint::Frame::kTarget;
        else if (v == "world") wp.frame = Waypoint::Frame::kWorld;
        else if (v == "relative") wp.frame = Waypoint::Frame::kRelative;
        else Fail(source, f + ".frame", "expected object, target, world or relative, got '" + v + "'");
      } else if (key == "pos") {
        wp.pos = Vec3(kv.second, source, f + ".pos");
      } else if (key == "rpy") {
        wp.rpy = Vec3(kv.second, source, f + ".rpy");
        wp.has_rpy = true;
      } else if (key == "gripper") {
        const std::string v = yaml::String<SimError>(kv.second, source, f + ".gripper");
        if (v != "open" && v != "close") Fail(source, f + ".gripper", "expected open or close");
        wp.gripper = v == "close" ? 1 : -1;
      } else if (key == "hold") {
        wp.hold = Number(kv.second, source, f + ".hold");
        if (!(wp.hold >= 0 && wp.hold <= kMaxHoldSeconds)) {
          std::ostringstream msg;
          msg << "must be in 0.." << kMaxHoldSeconds << " s, got " << wp.hold;
          Fail(source, f + ".hold", msg.str());
        }
      } else if (key == "speed") {
        wp.speed = Number(kv.second, source, f + ".speed");
        if (!(wp.speed > 0)) Fail(source, f + ".speed", "must be positive");
      } else {
        Fail(source, f + "." + key, "unknown field (expected frame, pos, rpy, gripper, hold, speed)");
      }
    }
    // Planted: a close with hold 0 (a missing lower bound: the fingers never get time to close).
    DF_FUZZ_PLANT_IF(wp.gripper == 1 && wp.hold == 0.0);
    if (!has_frame) Fail(source, f + ".frame", "missing (object, target, world or relative)");
    if (!has_pos) Fail(source, f + ".pos", "missing (a position [x, y, z] in m in the frame)");
    s.waypoints.push_back(wp);
  }
  return s;
}

WaypointScript LoadScript(const std::filesystem::path& path) {
  return ParseScript(yaml::ReadFile<SimError>(path, "script file"), path.string());
}

void ScriptController::Reset(const World& world) {
  index_ = 0;
  started_ = false;
  gripper_ = -1.0;
  desired_ = world.ToolPose();
}

void ScriptController::StartSegment(const World& world) {
  const Waypoint& wp = script_.waypoints[index_];
  Eigen::Isometry3d frame = Eigen::Isometry3d::Identity();
  const Task& task = world.model().task();
  switch (wp.frame) {
    case Waypoint::Frame::kObject: {
      const Eigen::Isometry3d obj = world.ObjectPose(0);
      double yaw = 0.0;
      if (task.objects()[0].shape == ObjectSpec::Shape::kBox) {
        yaw = std::remainder(Yaw(obj.linear()), M_PI / 2);
      }
      frame = PlanarFrame(obj.translation(), yaw);
      break;
    }
    case Waypoint::Frame::kTarget: {
      frame = task.TargetFrame(world);
      // A target that looks the same at any yaw (a round zone) is approached world-aligned,
      // so the wrist never turns for nothing.
      if (task.target_yaw_symmetry() <= 0.0) frame = PlanarFrame(frame.translation(), 0.0);
      break;
    }
    case Waypoint::Frame::kWorld: break;
    case Waypoint::Frame::kRelative: frame = desired_; break;
  }
  goal_ = frame;
  // `relative` offsets are along the world axes (the tool's own z points down).
  goal_.translation() = wp.frame == Waypoint::Frame::kRelative
                            ? Eigen::Vector3d(frame.translation() + wp.pos)
                            : Eigen::Vector3d(frame * wp.pos);
  // Without an explicit rpy the tool points down, or keeps its orientation (relative).
  const Eigen::Vector3d rpy = wp.has_rpy ? wp.rpy
                              : wp.frame == Waypoint::Frame::kRelative ? Eigen::Vector3d::Zero()
                                                                       : Eigen::Vector3d(M_PI, 0, 0);
  goal_.linear() = frame.linear() * Rpy(rpy);
  start_ = desired_;
  const double speed = wp.speed > 0 ? wp.speed : script_.speed;
  const double dist = (goal_.translation() - start_.translation()).norm();
  const double angle =
      robot::MatrixToAxisAngle(goal_.linear() * start_.linear().transpose()).norm();
  const double seconds = std::max(dist / speed, angle / script_.rotation_speed);
  const double hz = world.model().physics().control_hz();
  move_steps_ = std::max(1, static_cast<int>(std::ceil(seconds * hz)));
  hold_steps_ = static_cast<int>(std::lround(wp.hold * hz));
  step_ = 0;
  started_ = true;
}

Action ScriptController::Act(const World& world, const Observation&) {
  if (!started_ && index_ < script_.waypoints.size()) StartSegment(world);
  const Eigen::Isometry3d previous = desired_;
  if (index_ < script_.waypoints.size()) {
    ++step_;
    if (step_ <= move_steps_) {
      // Smooth start and stop (minimum-jerk-like profile) along the segment.
      const double s = static_cast<double>(step_) / move_steps_;
      const double u = s * s * (3.0 - 2.0 * s);
      desired_.translation() = start_.translation() + u * (goal_.translation() - start_.translation());
      const Eigen::Quaterniond q0(start_.linear()), q1(goal_.linear());
      desired_.linear() = q0.slerp(u, q1).toRotationMatrix();
    } else {
      const int g = script_.waypoints[index_].gripper;
      if (g != 0) gripper_ = g;
      if (step_ >= move_steps_ + std::max(1, hold_steps_)) {
        ++index_;
        started_ = false;
      }
    }
  }
  return TrackingAction(world, desired_, previous, gripper_);
}

}  // namespace dreamforge::sim
