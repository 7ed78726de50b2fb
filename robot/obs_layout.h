// The observation layout: one table of the observation keys that the simulator records
// (sim/world.h), the trainer reads (policy/training_data.h) and the edge controller builds
// (robot/controller.h), with their widths, dtypes and per-step shapes. Robomimic names.
//
//   key                  dtype    shape      contents
//   robot0_eef_pos       float32  (3)        TCP position, base frame, m
//   robot0_eef_quat      float32  (4)        TCP orientation (x, y, z, w), w >= 0
//   robot0_gripper_qpos  float32  (2)        finger positions, m
//   robot0_joint_pos     float32  (7)        arm joints, rad
//   robot0_joint_vel     float32  (7)        arm joint velocities, rad/s
//   object               float32  (13)       ObjectFeature below
//   <camera>_image       uint8    (H, W, 3)  RGB image of a named camera, row 0 at the top
//   <camera>_depth       float32  (H, W, 1)  its depth map, metres along the optical axis
//
// The low-dimensional keys are fixed (ObsKey, in the order above); image keys are made
// per camera (ImageKeySpec). The flat observation a policy reads is its keys concatenated
// in its own order.
#pragma once

#include <string>
#include <vector>

#include <Eigen/Core>
#include <Eigen/Geometry>

namespace dreamforge::robot {

enum class ObsKey { kEefPos, kEefQuat, kGripperQpos, kJointPos, kJointVel, kObject };
inline constexpr int kNumObsKeys = 6;
inline constexpr int kObjectFeatureDim = 13;

enum class ObsDtype { kFloat32, kUint8 };

struct ObsKeySpec {
  std::string name;
  ObsDtype dtype = ObsDtype::kFloat32;
  std::vector<int> shape;  // per step: (width) for low-dimensional keys, (H, W, C) for images
  int Size() const;        // product of shape: floats (or bytes) per step
  bool IsImage() const { return shape.size() == 3; }
};

// The low-dimensional keys in ObsKey order.
const std::vector<ObsKeySpec>& LowDimObsKeys();
const ObsKeySpec& Spec(ObsKey key);
const char* ObsKeyName(ObsKey key);  // "robot0_eef_pos", ...
int ObsKeyWidth(ObsKey key);         // 3, 4, 2, 7, 7, 13
bool ParseObsKey(const std::string& name, ObsKey* key);
// "robot0_eef_pos, robot0_eef_quat, ..., object" (for messages).
std::string LowDimObsKeyList();

// Image keys: "<camera>_image", uint8 (height, width, 3).
std::string ImageKeyName(const std::string& camera);
// True if `name` ends in "_image" after a non-empty camera name (stored in *camera).
bool IsImageKeyName(const std::string& name, std::string* camera = nullptr);
ObsKeySpec ImageKeySpec(const std::string& camera, int height, int width);
// Depth keys: "<camera>_depth", float32 (height, width, 1).
std::string DepthKeyName(const std::string& camera);
// True if `name` ends in "_depth" after a non-empty camera name (stored in *camera).
bool IsDepthKeyName(const std::string& name, std::string* camera = nullptr);

// The keys policies read by default (train --obs-keys). robot0_eef_quat is left out on
// purpose: with the tool pointing down its w component is ~0, and the w >= 0 sign
// convention flips x between -1 and +1 from one step to the next, a discontinuity a
// network cannot fit; the joint positions carry the same orientation continuously.
const std::vector<std::string>& DefaultPolicyObsKeys();

// (x, y, z, w) with w >= 0 of a rotation matrix: the quaternion convention of every
// observation. Real-time safe.
Eigen::Vector4d QuatXyzw(const Eigen::Matrix3d& rotation);

// The `object` key: [object position (3), object quaternion xyzw with w >= 0 (4), object
// position - eef position (3), target position (3)], base frame, m. `object_position` is
// the measured one (noise included), so the relative part follows what was measured.
// Real-time safe.
void ObjectFeature(const Eigen::Vector3d& object_position, const Eigen::Vector4d& object_quat_xyzw,
                   const Eigen::Vector3d& eef_position, const Eigen::Vector3d& target_position,
                   Eigen::Ref<Eigen::Matrix<double, kObjectFeatureDim, 1>> out);

}  // namespace dreamforge::robot
