#include "sim/task.h"

#include <cmath>
#include <map>
#include <memory>

#include "sim/urdf.h"
#include "sim/world.h"

namespace dreamforge::sim {
namespace {

constexpr double kMaxTilt = 10.0 * M_PI / 180.0;  // rad
constexpr double kRestLinear = 0.02;              // m/s
constexpr double kRestAngular = 0.25;             // rad/s

bool AtRest(const World& w, int i) {
  return w.ObjectLinearVelocity(i).norm() < kRestLinear &&
         w.ObjectAngularVelocity(i).norm() < kRestAngular;
}

bool Released(const World& w, int i) { return w.gripper_command() < 0.0 && !w.FingersTouch(i); }

// Angle between the object's z axis and world z (cylinders: their axis).
double AxisTilt(const Eigen::Matrix3d& r) {
  return std::acos(std::clamp(r(2, 2), -1.0, 1.0));
}

// Angle between world z and the box axis closest to it (any face may end up on top).
double BoxTilt(const Eigen::Matrix3d& r) {
  const double best = r.row(2).cwiseAbs().maxCoeff();
  return std::acos(std::clamp(best, -1.0, 1.0));
}

class BottlePlace : public Task {
 public:
  BottlePlace() {
    ObjectSpec bottle;
    bottle.name = "bottle";
    bottle.shape = ObjectSpec::Shape::kCylinder;
    bottle.size = Eigen::Vector3d(0.03, 0.16, 0.0);  // radius, height
    bottle.mass = 0.3;
    bottle.friction = 0.8;
    bottle.start = Eigen::Vector3d(0.5, -0.15, 0.0);
    objects_ = {bottle};
  }
  std::string name() const override { return "bottle_place"; }
  const std::vector<ObjectSpec>& objects() const override { return objects_; }
  Eigen::Vector3d target_start() const override { return Eigen::Vector3d(0.5, 0.15, 0.0); }
  std::vector<std::string> subtask_signals() const override { return {"grasp", "place"}; }
  std::vector<std::string> subtask_frames() const override { return {"object", "target"}; }
  int max_steps() const override { return 400; }
  double target_yaw_symmetry() const override { return 0.0; }  // a round zone
  double target_zone_radius() const override { return kZoneRadius; }
  Eigen::Isometry3d TargetFrame(const World& w) const override {
    const Eigen::Vector3d& t = w.params().target;
    return PlanarFrame(Eigen::Vector3d(t.x(), t.y(), w.TableTop()), t.z());
  }
  TaskStatus Evaluate(const World& w) const override {
    TaskStatus s;
    const Eigen::Isometry3d pose = w.ObjectPose(0);
    const Eigen::Vector3d target = TargetFrame(w).translation();
    const double height = w.ObjectSize(0).y();
    s.position_error = (pose.translation().head<2>() - target.head<2>()).norm();
    s.tilt = AxisTilt(pose.linear());
    const bool standing = std::abs(pose.translation().z() - (w.TableTop() + height / 2)) < 0.01;
    s.placed = s.position_error < kZoneRadius && s.tilt < kMaxTilt && standing;
    s.at_rest = AtRest(w, 0);
    s.released = Released(w, 0);
    return s;
  }

 private:
  static constexpr double kZoneRadius = 0.03;  // m
  std::vector<ObjectSpec> objects_;
};

class CubeStack : public Task {
 public:
  CubeStack() {
    ObjectSpec a;
    a.name = "cube_a";
    a.shape = ObjectSpec::Shape::kBox;
    a.size = Eigen::Vector3d(0.05, 0.05, 0.05);
    a.mass = 0.1;
    a.friction = 0.8;
    a.start = Eigen::Vector3d(0.5, -0.12, 0.0);
    ObjectSpec b = a;
    b.name = "cube_b";
    b.size = Eigen::Vector3d(0.065, 0.065, 0.065);
    b.mass = 0.3;
    b.start = Eigen::Vector3d(0.5, 0.12, 0.0);
    objects_ = {a, b};
  }
  std::string name() const override { return "cube_stack"; }
  const std::vector<ObjectSpec>& objects() const override { return objects_; }
  Eigen::Vector3d target_start() const override { return objects_[1].start; }
  std::vector<std::string> subtask_signals() const override { return {"grasp", "place"}; }
  std::vector<std::string> subtask_frames() const override { return {"object", "target"}; }
  int max_steps() const override { return 400; }
  double target_yaw_symmetry() const override { return objects_[1].YawSymmetry(); }
  // The top face of cube B, with B's yaw folded into [-45, 45] degrees.
  Eigen::Isometry3d TargetFrame(const World& w) const override {
    const Eigen::Isometry3d b = w.ObjectPose(1);
    double yaw = Yaw(b.linear());
    yaw = std::remainder(yaw, M_PI / 2);
    return PlanarFrame(b.translation() + Eigen::Vector3d(0, 0, w.ObjectSize(1).z() / 2), yaw);
  }
  TaskStatus Evaluate(const World& w) const override {
    TaskStatus s;
    const Eigen::Isometry3d a = w.ObjectPose(0);
    const Eigen::Isometry3d b = w.ObjectPose(1);
    const double stacked_dz = (w.ObjectSize(0).z() + w.ObjectSize(1).z()) / 2;
    const Eigen::Vector3d d = a.translation() - b.translation();
    s.position_error = d.head<2>().norm();
    s.tilt = BoxTilt(a.linear());
    s.placed = s.position_error < kXyTolerance && std::abs(d.z() - stacked_dz) < 0.005 &&
               s.tilt < kMaxTilt && BoxTilt(b.linear()) < kMaxTilt;
    s.at_rest = AtRest(w, 0) && AtRest(w, 1);
    s.released = Released(w, 0);
    return s;
  }

 private:
  static constexpr double kXyTolerance = 0.02;  // m
  std::vector<ObjectSpec> objects_;
};

const std::map<std::string, std::unique_ptr<Task>>& Registry() {
  static const auto* registry = [] {
    auto* r = new std::map<std::string, std::unique_ptr<Task>>();
    (*r)["bottle_place"] = std::make_unique<BottlePlace>();
    (*r)["cube_stack"] = std::make_unique<CubeStack>();
    return r;
  }();
  return *registry;
}

}  // namespace

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kRunning: return "running";
    case Outcome::kSuccess: return "success";
    case Outcome::kTimeout: return "timeout";
    case Outcome::kUnstable: return "unstable";
    case Outcome::kDropped: return "dropped";
    case Outcome::kIkFailure: return "ik_failure";
  }
  return "unknown";
}

const Task& GetTask(const std::string& name) {
  const auto& r = Registry();
  auto it = r.find(name);
  if (it == r.end()) {
    std::string known;
    for (const auto& [n, t] : r) known += (known.empty() ? "" : ", ") + n;
    throw SimError("unknown task '" + name + "' (known: " + known + ")");
  }
  return *it->second;
}

std::vector<std::string> TaskNames() {
  std::vector<std::string> names;
  for (const auto& [n, t] : Registry()) names.push_back(n);
  return names;
}

}  // namespace dreamforge::sim
