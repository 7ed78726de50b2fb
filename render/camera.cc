#include "render/camera.h"

#include <cmath>
#include <sstream>

#include "render/render_error.h"

namespace dreamforge::render {
namespace {

[[noreturn]] void Fail(const std::string& camera, const std::string& field, const std::string& what) {
  throw RenderError("camera '" + camera + "': " + field + ": " + what);
}

}  // namespace

Intrinsics CameraSpec::intrinsics() const {
  Intrinsics k;
  k.fy = 0.5 * height / std::tan(0.5 * fovy_deg * M_PI / 180.0);
  k.fx = k.fy;
  k.cx = 0.5 * width;
  k.cy = 0.5 * height;
  return k;
}

nlohmann::json CameraSpec::ToJson() const {
  const Eigen::Quaterniond q(pose.linear());
  const Eigen::Vector3d t = pose.translation();
  return {{"name", name},           {"width", width},  {"height", height},
          {"fovy", fovy_deg},       {"near", near},    {"far", far},
          {"mount", mount},         {"position", {t.x(), t.y(), t.z()}},
          {"quat_xyzw", {q.x(), q.y(), q.z(), q.w()}}};
}

CameraSpec CameraSpec::FromJson(const nlohmann::json& j) {
  CameraSpec c;
  if (!j.is_object()) throw RenderError("camera: expected an object with name, width, height, fovy, mount, ...");
  if (!j.contains("name") || !j["name"].is_string()) throw RenderError("camera: name: missing or not a string");
  c.name = j["name"].get<std::string>();
  auto number = [&](const char* key, double fallback) {
    if (!j.contains(key)) return fallback;
    if (!j[key].is_number()) Fail(c.name, key, "expected a number");
    return j[key].get<double>();
  };
  auto vec = [&](const char* key, int n) {
    std::vector<double> v;
    if (!j.contains(key)) return v;
    if (!j[key].is_array() || static_cast<int>(j[key].size()) != n) {
      Fail(c.name, key, "expected " + std::to_string(n) + " numbers");
    }
    for (const auto& x : j[key]) {
      if (!x.is_number()) Fail(c.name, key, "expected " + std::to_string(n) + " numbers");
      v.push_back(x.get<double>());
    }
    return v;
  };
  const double w = number("width", c.width), h = number("height", c.height);
  if (w != std::floor(w) || h != std::floor(h) || std::abs(w) > 1e6 || std::abs(h) > 1e6) {
    Fail(c.name, "width/height", "must be integers");
  }
  c.width = static_cast<int>(w);
  c.height = static_cast<int>(h);
  c.fovy_deg = number("fovy", c.fovy_deg);
  c.near = number("near", c.near);
  c.far = number("far", c.far);
  if (j.contains("mount")) {
    if (!j["mount"].is_string()) Fail(c.name, "mount", "expected \"world\" or a link name");
    c.mount = j["mount"].get<std::string>();
  }
  const std::vector<double> p = vec("position", 3), q = vec("quat_xyzw", 4);
  if (!p.empty()) c.pose.translation() = Eigen::Vector3d(p[0], p[1], p[2]);
  if (!q.empty()) {
    Eigen::Quaterniond quat(q[3], q[0], q[1], q[2]);
    if (!(quat.norm() > 1e-6)) Fail(c.name, "quat_xyzw", "must be a non-zero quaternion");
    c.pose.linear() = quat.normalized().toRotationMatrix();
  }
  c.Validate();
  return c;
}

void CameraSpec::Validate() const {
  if (name.empty()) throw RenderError("camera: name: must not be empty");
  if (width < 8 || width > 2048) Fail(name, "width", "must be in [8, 2048], got " + std::to_string(width));
  if (height < 8 || height > 2048) Fail(name, "height", "must be in [8, 2048], got " + std::to_string(height));
  if (!(fovy_deg > 1.0 && fovy_deg < 170.0)) {
    std::ostringstream s;
    s << "must be in (1, 170) degrees, got " << fovy_deg;
    Fail(name, "fovy", s.str());
  }
  if (!(near > 0 && far > near && far < 1e4)) Fail(name, "near/far", "need 0 < near < far < 1e4 m");
  if (mount.empty()) Fail(name, "mount", "must be \"world\" or a link name");
  if (!pose.matrix().allFinite()) Fail(name, "pose", "must be finite");
}

CameraSpec LookAtCamera(const std::string& name, const Eigen::Vector3d& eye,
                        const Eigen::Vector3d& target, const Eigen::Vector3d& up) {
  CameraSpec c;
  c.name = name;
  const Eigen::Vector3d z = (target - eye).normalized();
  const Eigen::Vector3d x = z.cross(up).normalized();  // right
  const Eigen::Vector3d y = z.cross(x);                // down
  c.pose.linear().col(0) = x;
  c.pose.linear().col(1) = y;
  c.pose.linear().col(2) = z;
  c.pose.translation() = eye;
  return c;
}

std::vector<CameraSpec> DefaultCameras(int size) {
  // agentview: in front of the table, looking back at the robot and the workspace.
  CameraSpec agent = LookAtCamera("agentview", Eigen::Vector3d(1.35, 0.0, 0.78),
                                  Eigen::Vector3d(0.36, 0.0, 0.14));
  agent.fovy_deg = 50.0;
  // robot0_eye_in_hand: on panda_hand, 4.5 cm off the hand's centre across the finger
  // travel, looking along the approach axis (hand z) tilted 20 deg towards the fingers,
  // so both fingertips and what lies between them are in view.
  CameraSpec hand;
  hand.name = "robot0_eye_in_hand";
  hand.mount = "panda_hand";
  hand.fovy_deg = 75.0;
  const double a = 20.0 * M_PI / 180.0;
  const Eigen::Vector3d z(-std::sin(a), 0.0, std::cos(a));
  const Eigen::Vector3d x(0.0, 1.0, 0.0);
  hand.pose.linear().col(0) = x;
  hand.pose.linear().col(1) = z.cross(x);
  hand.pose.linear().col(2) = z;
  hand.pose.translation() = Eigen::Vector3d(0.045, 0.0, 0.04);
  std::vector<CameraSpec> cams = {agent, hand};
  for (CameraSpec& c : cams) c.width = c.height = size;
  for (const CameraSpec& c : cams) c.Validate();
  return cams;
}

std::vector<CameraSpec> SelectCameras(const std::string& names, const std::vector<CameraSpec>& available,
                                      int size) {
  std::vector<CameraSpec> out;
  std::stringstream ss(names);
  std::string name;
  while (std::getline(ss, name, ',')) {
    if (name.empty()) continue;
    const CameraSpec* found = nullptr;
    for (const CameraSpec& c : available) {
      if (c.name == name) found = &c;
    }
    if (!found) {
      std::string known;
      for (const CameraSpec& c : available) known += (known.empty() ? "" : ", ") + c.name;
      throw RenderError("unknown camera '" + name + "' (known: " + known + ")");
    }
    for (const CameraSpec& c : out) {
      if (c.name == name) throw RenderError("camera '" + name + "' is listed twice");
    }
    out.push_back(*found);
    if (size > 0) {
      out.back().width = out.back().height = size;
      out.back().Validate();
    }
  }
  if (out.empty()) throw RenderError("no camera named (e.g. agentview,robot0_eye_in_hand)");
  return out;
}

std::vector<CameraSpec> CamerasFromEnvArgs(const nlohmann::json& env_args) {
  std::vector<CameraSpec> out;
  if (!env_args.is_object() || !env_args.contains("cameras")) return out;
  const nlohmann::json& cams = env_args["cameras"];
  if (!cams.is_array()) throw RenderError("env_args.cameras: expected a list of camera descriptions");
  for (const auto& c : cams) out.push_back(CameraSpec::FromJson(c));
  return out;
}

}  // namespace dreamforge::render
