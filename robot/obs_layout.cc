#include "robot/obs_layout.h"

#include "robot/types.h"

namespace dreamforge::robot {

int ObsKeySpec::Size() const {
  int n = 1;
  for (int d : shape) n *= d;
  return n;
}

const std::vector<ObsKeySpec>& LowDimObsKeys() {
  static const std::vector<ObsKeySpec> keys = {
      {"robot0_eef_pos", ObsDtype::kFloat32, {3}},
      {"robot0_eef_quat", ObsDtype::kFloat32, {4}},
      {"robot0_gripper_qpos", ObsDtype::kFloat32, {kFingerCount}},
      {"robot0_joint_pos", ObsDtype::kFloat32, {kArmDof}},
      {"robot0_joint_vel", ObsDtype::kFloat32, {kArmDof}},
      {"object", ObsDtype::kFloat32, {kObjectFeatureDim}},
  };
  return keys;
}

const ObsKeySpec& Spec(ObsKey key) { return LowDimObsKeys()[static_cast<int>(key)]; }
const char* ObsKeyName(ObsKey key) { return Spec(key).name.c_str(); }
int ObsKeyWidth(ObsKey key) { return Spec(key).Size(); }

bool ParseObsKey(const std::string& name, ObsKey* key) {
  for (int i = 0; i < kNumObsKeys; ++i) {
    if (name == LowDimObsKeys()[i].name) {
      *key = static_cast<ObsKey>(i);
      return true;
    }
  }
  return false;
}

std::string LowDimObsKeyList() {
  std::string s;
  for (const ObsKeySpec& k : LowDimObsKeys()) s += (s.empty() ? "" : ", ") + k.name;
  return s;
}

namespace {

constexpr char kImageSuffix[] = "_image";
constexpr char kDepthSuffix[] = "_depth";

// True if `name` is a non-empty camera name followed by `suffix` (camera -> *camera).
bool SplitCameraKey(const std::string& name, const std::string& suffix, std::string* camera) {
  if (name.size() <= suffix.size() ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return false;
  }
  if (camera) *camera = name.substr(0, name.size() - suffix.size());
  return true;
}

}  // namespace

std::string ImageKeyName(const std::string& camera) { return camera + kImageSuffix; }

bool IsImageKeyName(const std::string& name, std::string* camera) {
  return SplitCameraKey(name, kImageSuffix, camera);
}

std::string DepthKeyName(const std::string& camera) { return camera + kDepthSuffix; }

bool IsDepthKeyName(const std::string& name, std::string* camera) {
  return SplitCameraKey(name, kDepthSuffix, camera);
}

ObsKeySpec ImageKeySpec(const std::string& camera, int height, int width) {
  return {ImageKeyName(camera), ObsDtype::kUint8, {height, width, 3}};
}

const std::vector<std::string>& DefaultPolicyObsKeys() {
  static const std::vector<std::string> keys = {
      ObsKeyName(ObsKey::kEefPos), ObsKeyName(ObsKey::kGripperQpos),
      ObsKeyName(ObsKey::kJointPos), ObsKeyName(ObsKey::kObject)};
  return keys;
}

Eigen::Vector4d QuatXyzw(const Eigen::Matrix3d& r) {
  Eigen::Quaterniond q(r);
  q.normalize();
  if (q.w() < 0) q.coeffs() *= -1.0;  // one sign for the same rotation
  return Eigen::Vector4d(q.x(), q.y(), q.z(), q.w());
}

void ObjectFeature(const Eigen::Vector3d& object_position, const Eigen::Vector4d& object_quat,
                   const Eigen::Vector3d& eef_position, const Eigen::Vector3d& target_position,
                   Eigen::Ref<Eigen::Matrix<double, kObjectFeatureDim, 1>> out) {
  out.segment<3>(0) = object_position;
  out.segment<4>(3) = object_quat;
  out.segment<3>(7) = object_position - eef_position;
  out.segment<3>(10) = target_position;
}

}  // namespace dreamforge::robot
