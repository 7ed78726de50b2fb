// Cameras as data: intrinsics (size, vertical field of view, clip planes) and extrinsics
// (a pose in the world or on a robot link). Camera frames use OpenCV's axes: x right,
// y down, z forward (the optical axis); depth is the distance along z, in metres.
//
// Two defaults per task, named as robomimic names them: `agentview` (fixed, in front of
// the robot, looking back at the table) and `robot0_eye_in_hand` (on panda_hand, beside
// the fingers, looking along the approach direction).
#pragma once

#include <Eigen/Geometry>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dreamforge::render {

struct Intrinsics {
  double fx = 0, fy = 0;  // px
  double cx = 0, cy = 0;  // px; pixel (u, v) covers [u, u + 1) x [v, v + 1)
};

struct CameraSpec {
  std::string name;
  int width = 84, height = 84;  // px
  double fovy_deg = 45.0;       // vertical field of view
  double near = 0.01, far = 5.0;  // m, clip planes
  std::string mount = "world";  // "world" or the name of a robot link the camera rides on
  Eigen::Isometry3d pose = Eigen::Isometry3d::Identity();  // mount frame -> camera frame

  Intrinsics intrinsics() const;  // of a pinhole with square pixels and a centred axis
  nlohmann::json ToJson() const;  // as stored in env_args["cameras"]
  // Throws RenderError naming the camera and the field.
  static CameraSpec FromJson(const nlohmann::json& j);
  // Size in [8, 2048], fovy in (1, 170), 0 < near < far, finite pose. Throws RenderError.
  void Validate() const;
};

// A world camera at `eye` looking at `target` (image up towards `up`).
CameraSpec LookAtCamera(const std::string& name, const Eigen::Vector3d& eye,
                        const Eigen::Vector3d& target, const Eigen::Vector3d& up = Eigen::Vector3d::UnitZ());
// agentview and robot0_eye_in_hand at size x size.
std::vector<CameraSpec> DefaultCameras(int size = 84);
// The cameras named in a comma-separated list (e.g. "agentview,robot0_eye_in_hand"), from
// `available`, resized to size x size when size > 0. Throws RenderError naming an unknown
// camera and listing the known ones, or an empty list.
std::vector<CameraSpec> SelectCameras(const std::string& names, const std::vector<CameraSpec>& available,
                                      int size = 0);
// env_args["cameras"] of a file, or an empty list. Throws RenderError on a malformed one.
std::vector<CameraSpec> CamerasFromEnvArgs(const nlohmann::json& env_args);

}  // namespace dreamforge::render
