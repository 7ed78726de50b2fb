#include "robot/bundle.h"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "robot/safetensors.h"
#include "robot/sha256.h"

namespace dreamforge::robot {

namespace {

using nlohmann::json;

constexpr double kMatchTolerance = 1e-9;     // bundle robot vs hardware
constexpr double kRotationTolerance = 1e-6;  // orthonormality of the tool rotation

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.12g", v);
  return buf;
}

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// Reads fields of one JSON document; every failure names `where` (the file) and the path.
class Reader {
 public:
  explicit Reader(std::string where) : where_(std::move(where)) {}

  [[noreturn]] void Fail(const std::string& path, const std::string& what) const {
    throw BundleError(where_ + ": " + (path.empty() ? "(root)" : path) + ": " + what);
  }

  const json& Get(const json& obj, const std::string& path, const std::string& key) const {
    if (!obj.is_object()) Fail(path, "expected an object");
    const auto it = obj.find(key);
    if (it == obj.end()) Fail(Join(path, key), "missing");
    return *it;
  }

  const json& Object(const json& obj, const std::string& path, const std::string& key) const {
    const json& v = Get(obj, path, key);
    if (!v.is_object()) Fail(Join(path, key), "expected an object");
    return v;
  }

  std::string String(const json& obj, const std::string& path, const std::string& key) const {
    const json& v = Get(obj, path, key);
    if (!v.is_string() || v.get<std::string>().empty()) {
      Fail(Join(path, key), "expected a non-empty string");
    }
    return v.get<std::string>();
  }

  // An integer >= min (JSON integers only: 16.0 is refused).
  int Int(const json& obj, const std::string& path, const std::string& key, int min) const {
    const json& v = Get(obj, path, key);
    if (!v.is_number_integer() || v.get<std::int64_t>() < min || v.get<std::int64_t>() > 1 << 30) {
      Fail(Join(path, key), min == 1   ? "expected a positive integer"
                            : min == 0 ? "expected a non-negative integer"
                                       : "expected an integer >= " + std::to_string(min));
    }
    return static_cast<int>(v.get<std::int64_t>());
  }

  double Number(const json& v, const std::string& field) const {
    if (!v.is_number()) Fail(field, "expected a number");
    const double d = v.get<double>();
    if (!std::isfinite(d)) Fail(field, "not a finite number");
    return d;
  }

  double Positive(const json& obj, const std::string& path, const std::string& key) const {
    const double d = Number(Get(obj, path, key), Join(path, key));
    if (d <= 0) Fail(Join(path, key), "expected a positive number, got " + Num(d));
    return d;
  }

  // An array of exactly n finite numbers (n < 0: any length).
  std::vector<double> Numbers(const json& v, const std::string& field, int n) const {
    if (!v.is_array() || (n >= 0 && v.size() != static_cast<size_t>(n))) {
      Fail(field, n >= 0 ? "expected an array of " + std::to_string(n) + " numbers"
                         : "expected an array of numbers");
    }
    std::vector<double> out;
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_number()) Fail(field, "expected an array of numbers");
      out.push_back(Number(v[i], field + "[" + std::to_string(i) + "]"));
    }
    return out;
  }

  std::vector<std::string> Strings(const json& obj, const std::string& path, const std::string& key,
                                   int n) const {
    const std::string field = Join(path, key);
    const json& v = Get(obj, path, key);
    const std::string expected =
        "expected an array of " + std::to_string(n) + " distinct non-empty strings";
    if (!v.is_array() || v.size() != static_cast<size_t>(n)) Fail(field, expected);
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const json& s : v) {
      if (!s.is_string() || s.get<std::string>().empty()) Fail(field, expected);
      if (!seen.insert(s.get<std::string>()).second) {
        Fail(field, "duplicate name '" + s.get<std::string>() + "'");
      }
      out.push_back(s.get<std::string>());
    }
    return out;
  }

 private:
  std::string where_;
};

const char* const kObsKeyNames[] = {"robot0_eef_pos",   "robot0_eef_quat",  "robot0_gripper_qpos",
                                    "robot0_joint_pos", "robot0_joint_vel", "object"};
const int kObsKeyWidths[] = {3, 4, 2, kArmDof, kArmDof, 13};

FeatureStats ReadStats(const Reader& r, const json& obj, const std::string& path, int width) {
  if (!obj.is_object()) r.Fail(path, "expected an object with mean, std, min, max");
  FeatureStats s;
  s.mean = r.Numbers(r.Get(obj, path, "mean"), path + ".mean", width);
  s.std = r.Numbers(r.Get(obj, path, "std"), path + ".std", width);
  s.min = r.Numbers(r.Get(obj, path, "min"), path + ".min", width);
  s.max = r.Numbers(r.Get(obj, path, "max"), path + ".max", width);
  for (int i = 0; i < width; ++i) {
    if (s.std[i] <= 0) {
      r.Fail(path + ".std[" + std::to_string(i) + "]", "expected > 0, got " + Num(s.std[i]));
    }
    if (s.min[i] > s.max[i]) {
      r.Fail(path + ".min[" + std::to_string(i) + "]",
             "min " + Num(s.min[i]) + " > max " + Num(s.max[i]));
    }
  }
  return s;
}

Eigen::Isometry3d ReadTool(const Reader& r, const json& v, const std::string& field) {
  const std::vector<double> m = r.Numbers(v, field, 16);
  Eigen::Matrix4d t;
  for (int i = 0; i < 16; ++i) t(i / 4, i % 4) = m[i];
  if (std::abs(t(3, 0)) + std::abs(t(3, 1)) + std::abs(t(3, 2)) + std::abs(t(3, 3) - 1) > 1e-12) {
    r.Fail(field, "the last row of the 4x4 pose must be [0, 0, 0, 1]");
  }
  const Eigen::Matrix3d rot = t.topLeftCorner<3, 3>();
  const double err = (rot.transpose() * rot - Eigen::Matrix3d::Identity()).cwiseAbs().maxCoeff();
  if (err > kRotationTolerance || rot.determinant() <= 0) {
    r.Fail(field, "the rotation is not a proper orthonormal matrix");
  }
  Eigen::Isometry3d iso;
  iso.matrix() = t;
  return iso;
}

SafetyLimits ReadSafety(const Reader& r, const json& j, const RobotDescription& robot) {
  const std::string p = "safety";
  SafetyLimits s;
  const std::vector<double> lo = r.Numbers(r.Get(j, p, "workspace_min"), p + ".workspace_min", 3);
  const std::vector<double> hi = r.Numbers(r.Get(j, p, "workspace_max"), p + ".workspace_max", 3);
  for (int i = 0; i < 3; ++i) {
    s.workspace_min[i] = lo[i];
    s.workspace_max[i] = hi[i];
    if (lo[i] >= hi[i]) {
      r.Fail(p + ".workspace_min[" + std::to_string(i) + "]",
             Num(lo[i]) + " is not below workspace_max " + Num(hi[i]));
    }
  }
  s.max_eef_speed = r.Positive(j, p, "max_eef_speed");
  const std::vector<double> v =
      r.Numbers(r.Get(j, p, "max_joint_velocity"), p + ".max_joint_velocity", kArmDof);
  const std::vector<double> a =
      r.Numbers(r.Get(j, p, "max_joint_acceleration"), p + ".max_joint_acceleration", kArmDof);
  for (int i = 0; i < kArmDof; ++i) {
    if (v[i] <= 0) {
      r.Fail(p + ".max_joint_velocity[" + std::to_string(i) + "]",
             "expected > 0, got " + Num(v[i]));
    }
    if (a[i] <= 0) {
      r.Fail(p + ".max_joint_acceleration[" + std::to_string(i) + "]",
             "expected > 0, got " + Num(a[i]));
    }
    s.max_joint_velocity[i] = v[i];
    s.max_joint_acceleration[i] = a[i];
  }
  s.joint_margin = r.Number(r.Get(j, p, "joint_margin"), p + ".joint_margin");
  if (s.joint_margin < 0) r.Fail(p + ".joint_margin", "expected >= 0, got " + Num(s.joint_margin));
  for (const JointSpec& joint : robot.chain.joints) {
    if (joint.type == JointType::kFixed) continue;
    if (joint.upper - joint.lower <= 2 * s.joint_margin) {
      r.Fail(p + ".joint_margin", Num(s.joint_margin) + " rad leaves no range for joint " +
                                      joint.name + " [" + Num(joint.lower) + ", " +
                                      Num(joint.upper) + "]");
    }
  }
  return s;
}

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string ShapeString(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Compares two numbers for CheckRobotMatches.
void MatchNumber(const std::string& where, const std::string& field, double bundle,
                 double hardware) {
  if (!(std::abs(bundle - hardware) <= kMatchTolerance)) {
    throw BundleError(where + ": " + field + ": the bundle has " + Num(bundle) + ", the hardware " +
                      Num(hardware) +
                      " (tolerance 1e-9): the bundle was made for a different robot");
  }
}

void MatchMatrix(const std::string& where, const std::string& field, const Eigen::MatrixXd& bundle,
                 const Eigen::MatrixXd& hardware) {
  const double diff = (bundle - hardware).cwiseAbs().maxCoeff();
  if (!(diff <= kMatchTolerance)) {
    throw BundleError(where + ": " + field + ": differs from the hardware by " + Num(diff) +
                      " (tolerance 1e-9): the bundle was made for a different robot");
  }
}

void MatchString(const std::string& where, const std::string& field, const std::string& bundle,
                 const std::string& hardware) {
  if (bundle != hardware) {
    throw BundleError(where + ": " + field + ": the bundle has '" + bundle + "', the hardware '" +
                      hardware + "': the bundle was made for a different robot");
  }
}

}  // namespace

const char* ObsKeyName(ObsKey key) { return kObsKeyNames[static_cast<int>(key)]; }
int ObsKeyWidth(ObsKey key) { return kObsKeyWidths[static_cast<int>(key)]; }

bool ParseObsKey(const std::string& name, ObsKey* key) {
  for (int i = 0; i < 6; ++i) {
    if (name == kObsKeyNames[i]) {
      *key = static_cast<ObsKey>(i);
      return true;
    }
  }
  return false;
}

int ModelSpec::InputDim() const {
  return type == ModelType::kMlp ? obs_dim : obs_dim + horizon * action_dim + kFlowTimeFeatures;
}

int ModelSpec::OutputDim() const { return horizon * action_dim; }

RobotDescription RobotDescription::FromJson(const nlohmann::json& j, const std::string& where,
                                            const std::string& path) {
  const Reader r(where);
  if (!j.is_object()) r.Fail(path, "expected an object");
  RobotDescription d;
  d.arm_joints = r.Strings(j, path, "arm_joints", kArmDof);
  d.finger_joints = r.Strings(j, path, "finger_joints", kFingerCount);
  const json& chain = r.Get(j, path, "chain");
  try {
    d.chain = KinematicChain::FromJson(chain);
  } catch (const std::invalid_argument& e) {
    std::string what = e.what();
    const std::string prefix = "KinematicChain: ";
    if (what.compare(0, prefix.size(), prefix) == 0) what = what.substr(prefix.size());
    throw BundleError(where + ": " + path + ".chain." + what);
  }
  std::vector<std::string> moving;
  for (const JointSpec& joint : d.chain.joints) {
    if (joint.type != JointType::kFixed) moving.push_back(joint.name);
  }
  if (moving.size() != static_cast<size_t>(kArmDof)) {
    r.Fail(path + ".chain", "has " + std::to_string(moving.size()) + " moving joints, expected " +
                                std::to_string(kArmDof));
  }
  for (int i = 0; i < kArmDof; ++i) {
    if (d.arm_joints[i] != moving[i]) {
      r.Fail(path + ".arm_joints[" + std::to_string(i) + "]",
             "'" + d.arm_joints[i] + "' but moving joint " + std::to_string(i) +
                 " of the chain is '" + moving[i] + "'");
    }
  }
  const Eigen::Isometry3d tool = ReadTool(r, r.Get(j, path, "tool"), path + ".tool");
  const double diff = (tool.matrix() - d.chain.tool.matrix()).cwiseAbs().maxCoeff();
  if (diff > kMatchTolerance) {
    r.Fail(path + ".tool", "differs from " + path + ".chain.tool by " + Num(diff));
  }
  d.finger_open = r.Positive(j, path, "finger_open");
  return d;
}

nlohmann::json RobotDescription::ToJson() const {
  json tool = json::array();
  for (int i = 0; i < 16; ++i) tool.push_back(chain.tool.matrix()(i / 4, i % 4));
  return {{"arm_joints", arm_joints},
          {"finger_joints", finger_joints},
          {"chain", chain.ToJson()},
          {"tool", tool},
          {"finger_open", finger_open}};
}

void CheckRobotMatches(const RobotDescription& bundle, const RobotDescription& hardware,
                       const std::string& where) {
  auto match_names = [&](const std::string& field, const std::vector<std::string>& b,
                         const std::vector<std::string>& h) {
    if (b.size() != h.size()) {
      throw BundleError(where + ": " + field + ": the bundle has " + std::to_string(b.size()) +
                        " joints, the hardware " + std::to_string(h.size()));
    }
    for (size_t i = 0; i < b.size(); ++i) {
      MatchString(where, field + "[" + std::to_string(i) + "]", b[i], h[i]);
    }
  };
  match_names("robot.arm_joints", bundle.arm_joints, hardware.arm_joints);
  match_names("robot.finger_joints", bundle.finger_joints, hardware.finger_joints);
  MatchNumber(where, "robot.finger_open", bundle.finger_open, hardware.finger_open);
  const KinematicChain& b = bundle.chain;
  const KinematicChain& h = hardware.chain;
  MatchString(where, "robot.chain.base_link", b.base_link, h.base_link);
  if (b.joints.size() != h.joints.size()) {
    throw BundleError(where + ": robot.chain.joints: the bundle has " +
                      std::to_string(b.joints.size()) + " joints, the hardware " +
                      std::to_string(h.joints.size()) +
                      ": the bundle was made for a different robot");
  }
  for (size_t i = 0; i < b.joints.size(); ++i) {
    const JointSpec& bj = b.joints[i];
    const JointSpec& hj = h.joints[i];
    const std::string p = "robot.chain.joints[" + std::to_string(i) + "]";
    MatchString(where, p + ".name", bj.name, hj.name);
    MatchString(where, p + ".type", JointTypeName(bj.type), JointTypeName(hj.type));
    MatchString(where, p + ".child_link", bj.child_link, hj.child_link);
    MatchMatrix(where, p + ".origin", bj.origin.matrix(), hj.origin.matrix());
    if (bj.type == JointType::kFixed) continue;
    MatchMatrix(where, p + ".axis", bj.axis, hj.axis);
    MatchNumber(where, p + ".lower", bj.lower, hj.lower);
    MatchNumber(where, p + ".upper", bj.upper, hj.upper);
    MatchNumber(where, p + ".velocity", bj.velocity, hj.velocity);
    MatchNumber(where, p + ".effort", bj.effort, hj.effort);
  }
  MatchMatrix(where, "robot.chain.tool", b.tool.matrix(), h.tool.matrix());
}

Bundle ParsePolicyJson(const nlohmann::json& j, const std::string& where) {
  const Reader r(where);
  if (!j.is_object()) r.Fail("", "expected a JSON object");
  Bundle b;
  const json& format = r.Get(j, "", "format");
  if (!format.is_string() || format.get<std::string>() != kBundleFormat) {
    r.Fail("format", std::string("expected \"") + kBundleFormat + "\", got " + format.dump());
  }
  b.task = r.String(j, "", "task");
  b.control_hz = r.Positive(j, "", "control_hz");

  // model
  const json& m = r.Object(j, "", "model");
  ModelSpec& spec = b.model;
  const std::string type = r.String(m, "model", "type");
  if (type == "mlp") {
    spec.type = ModelType::kMlp;
  } else if (type == "flow") {
    spec.type = ModelType::kFlow;
  } else {
    r.Fail("model.type", "expected \"mlp\" or \"flow\", got \"" + type + "\"");
  }
  spec.obs_dim = r.Int(m, "model", "obs_dim", 1);
  spec.action_dim = r.Int(m, "model", "action_dim", 1);
  if (spec.action_dim != kActionDim) {
    r.Fail("model.action_dim",
           "expected " + std::to_string(kActionDim) + ", got " + std::to_string(spec.action_dim));
  }
  const json& hidden = r.Get(m, "model", "hidden");
  if (!hidden.is_array()) r.Fail("model.hidden", "expected an array of positive integers");
  for (const json& w : hidden) {
    if (!w.is_number_integer() || w.get<std::int64_t>() < 1 || w.get<std::int64_t>() > 1 << 20) {
      r.Fail("model.hidden", "expected an array of positive integers");
    }
    spec.hidden.push_back(static_cast<int>(w.get<std::int64_t>()));
  }
  spec.horizon = r.Int(m, "model", "horizon", 1);
  spec.execute = r.Int(m, "model", "execute", 1);
  spec.flow_steps = r.Int(m, "model", "flow_steps", 0);
  spec.time_features = r.Int(m, "model", "time_features", 0);
  const std::string gripper = r.String(m, "model", "gripper");
  if (gripper == "raw") {
    spec.gripper = GripperMode::kRaw;
  } else if (gripper == "sign") {
    spec.gripper = GripperMode::kSign;
  } else if (gripper == "sample") {
    spec.gripper = GripperMode::kSample;
  } else if (gripper == "latch") {
    spec.gripper = GripperMode::kLatch;
    spec.gripper_switch = r.Number(r.Get(m, "model", "gripper_switch"), "model.gripper_switch");
    if (!(spec.gripper_switch > 0.0 && spec.gripper_switch < 1.0)) {
      r.Fail("model.gripper_switch", "expected a probability in (0, 1), got " + Num(spec.gripper_switch));
    }
    spec.gripper_hold = r.Int(m, "model", "gripper_hold", 0);
  } else {
    r.Fail("model.gripper",
           "expected \"raw\", \"sign\", \"sample\" or \"latch\", got \"" + gripper + "\"");
  }
  if (spec.type == ModelType::kMlp) {
    if (spec.horizon != 1) r.Fail("model.horizon", "must be 1 for an mlp");
    if (spec.execute != 1) r.Fail("model.execute", "must be 1 for an mlp");
    if (spec.flow_steps != 0) r.Fail("model.flow_steps", "must be 0 for an mlp");
    if (spec.time_features != 0) r.Fail("model.time_features", "must be 0 for an mlp");
  } else {
    if (spec.execute > spec.horizon) {
      r.Fail("model.execute", std::to_string(spec.execute) + " exceeds model.horizon " +
                                  std::to_string(spec.horizon));
    }
    if (spec.flow_steps < 1) r.Fail("model.flow_steps", "must be >= 1 for a flow policy");
    if (spec.time_features != kFlowTimeFeatures) {
      r.Fail("model.time_features", "must be " + std::to_string(kFlowTimeFeatures) +
                                        " for a flow policy, got " +
                                        std::to_string(spec.time_features));
    }
  }

  // obs_keys
  const json& keys = r.Get(j, "", "obs_keys");
  if (!keys.is_array() || keys.empty()) r.Fail("obs_keys", "expected a non-empty array of keys");
  std::vector<std::string> key_names;
  int width = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string field = "obs_keys[" + std::to_string(i) + "]";
    ObsKey key;
    if (!keys[i].is_string() || !ParseObsKey(keys[i].get<std::string>(), &key)) {
      r.Fail(field,
             "expected one of robot0_eef_pos, robot0_eef_quat, robot0_gripper_qpos, "
             "robot0_joint_pos, robot0_joint_vel, object; got " +
                 keys[i].dump());
    }
    for (ObsKey k : b.obs_keys) {
      if (k == key) r.Fail(field, "duplicate key " + keys[i].dump());
    }
    b.obs_keys.push_back(key);
    key_names.push_back(keys[i].get<std::string>());
    width += ObsKeyWidth(key);
  }
  if (width != spec.obs_dim) {
    r.Fail("model.obs_dim",
           std::to_string(spec.obs_dim) + " but obs_keys add up to " + std::to_string(width));
  }

  // normalization
  const json& n = r.Object(j, "", "normalization");
  const json& obs_mode = r.Get(n, "normalization", "obs_mode");
  if (obs_mode != "z_score") {
    r.Fail("normalization.obs_mode", "expected \"z_score\", got " + obs_mode.dump());
  }
  const json& action_mode = r.Get(n, "normalization", "action_mode");
  if (action_mode != "min_max") {
    r.Fail("normalization.action_mode", "expected \"min_max\", got " + action_mode.dump());
  }
  const json& n_keys = r.Get(n, "normalization", "obs_keys");
  if (n_keys != json(key_names)) {
    r.Fail("normalization.obs_keys", "differs from obs_keys " + json(key_names).dump());
  }
  const json& n_obs = r.Object(n, "normalization", "obs");
  for (size_t i = 0; i < key_names.size(); ++i) {
    const std::string path = "normalization.obs." + key_names[i];
    b.normalization.obs.push_back(ReadStats(r, r.Get(n_obs, "normalization.obs", key_names[i]),
                                            path, ObsKeyWidth(b.obs_keys[i])));
  }
  b.normalization.action =
      ReadStats(r, r.Get(n, "normalization", "action"), "normalization.action", kActionDim);

  // action_scale
  const json& scale = r.Object(j, "", "action_scale");
  b.action_scale.position = r.Positive(scale, "action_scale", "position");
  b.action_scale.rotation = r.Positive(scale, "action_scale", "rotation");

  b.robot = RobotDescription::FromJson(r.Get(j, "", "robot"), where, "robot");
  b.safety = ReadSafety(r, r.Object(j, "", "safety"), b.robot);

  // files
  const json& files = r.Object(j, "", "files");
  for (auto it = files.begin(); it != files.end(); ++it) {
    const std::string& name = it.key();
    const std::string path = "files." + name;
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
      r.Fail(path, "expected a plain file name inside the bundle directory");
    }
    const json& entry = it.value();
    if (!entry.is_object()) r.Fail(path, "expected an object with sha256 and bytes");
    const json& sha = r.Get(entry, path, "sha256");
    if (!sha.is_string() || !IsHex64(sha.get<std::string>())) {
      r.Fail(path + ".sha256", "expected 64 hexadecimal digits");
    }
    const json& bytes = r.Get(entry, path, "bytes");
    if (!bytes.is_number_unsigned()) r.Fail(path + ".bytes", "expected a non-negative integer");
    b.files[name] = FileHash{Lower(sha.get<std::string>()), bytes.get<std::uint64_t>()};
  }
  if (b.files.count(kWeightsFile) == 0) {
    r.Fail(std::string("files.") + kWeightsFile, "missing (the weights must be hashed)");
  }
  return b;
}

Bundle LoadBundle(const std::string& dir) {
  const std::string json_path = dir + "/" + kPolicyJson;
  std::ifstream in(json_path, std::ios::binary);
  if (!in) throw BundleError(json_path + ": cannot open (" + std::strerror(errno) + ")");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw BundleError(json_path + ": not valid JSON (" + e.what() + ")");
  }
  Bundle b = ParsePolicyJson(j, json_path);
  b.dir = dir;

  // Hashes: every listed file that is present; the weights must be present.
  std::vector<std::uint8_t> weights;
  for (const auto& [name, expected] : b.files) {
    const std::string path = dir + "/" + name;
    const std::string field = json_path + " files." + name;
    std::string hex;
    std::uint64_t bytes = 0;
    if (name == kWeightsFile) {
      std::ifstream w(path, std::ios::binary);
      if (!w) throw BundleError(path + ": cannot open (" + std::strerror(errno) + ")");
      weights.assign(std::istreambuf_iterator<char>(w), std::istreambuf_iterator<char>());
      if (w.bad()) throw BundleError(path + ": read error");
      hex = Sha256::HexOf(weights.data(), weights.size());
      bytes = weights.size();
    } else {
      if (!FileExists(path)) continue;  // policy.ts / policy.onnx are optional on the board
      std::string error;
      if (!Sha256File(path, &hex, &bytes, &error)) throw BundleError(error);
    }
    if (bytes != expected.bytes) {
      throw BundleError(path + ": " + std::to_string(bytes) + " bytes, but " + field +
                        ".bytes says " + std::to_string(expected.bytes) +
                        " (truncated or replaced file)");
    }
    if (hex != expected.sha256) {
      throw BundleError(path + ": sha256 " + hex + " does not match " + field + ".sha256 " +
                        expected.sha256 + " (corrupted or tampered file)");
    }
  }

  // Weights: exactly fc0..fcL, F32, with the shapes the model spec implies, all finite.
  const std::string weights_path = dir + "/" + kWeightsFile;
  const SafeTensors st = SafeTensors::Parse(std::move(weights), weights_path);
  const ModelSpec& spec = b.model;
  const int num_layers = static_cast<int>(spec.hidden.size()) + 1;
  const std::string layout = "model.hidden has " + std::to_string(spec.hidden.size()) +
                             " hidden layers, so the file must hold fc0..fc" +
                             std::to_string(num_layers - 1);
  std::set<std::string> expected_names;
  int in_dim = spec.InputDim();
  for (int i = 0; i < num_layers; ++i) {
    const int out_dim = i + 1 < num_layers ? spec.hidden[i] : spec.OutputDim();
    const std::string w_name = "fc" + std::to_string(i) + ".weight";
    const std::string b_name = "fc" + std::to_string(i) + ".bias";
    expected_names.insert(w_name);
    expected_names.insert(b_name);
    DenseLayer layer;
    const auto check = [&](const std::string& name, const std::vector<std::int64_t>& shape) {
      const auto it = st.tensors().find(name);
      if (it == st.tensors().end()) {
        throw BundleError(weights_path + ": " + name + ": missing tensor (" + layout + ")");
      }
      if (it->second.dtype != "F32") {
        throw BundleError(weights_path + ": " + name + ".dtype: expected F32, got " +
                          it->second.dtype);
      }
      if (it->second.shape != shape) {
        throw BundleError(weights_path + ": " + name + ".shape: " + ShapeString(it->second.shape) +
                          ", expected " + ShapeString(shape) + " (from policy.json model)");
      }
      std::vector<float> values = st.ReadF32(name);
      for (size_t k = 0; k < values.size(); ++k) {
        if (!std::isfinite(values[k])) {
          throw BundleError(weights_path + ": " + name + ": element " + std::to_string(k) +
                            " is not finite");
        }
      }
      return values;
    };
    const std::vector<float> w = check(w_name, {out_dim, in_dim});
    const std::vector<float> bias = check(b_name, {out_dim});
    layer.weight =
        Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
            w.data(), out_dim, in_dim);
    layer.bias = Eigen::Map<const Eigen::VectorXf>(bias.data(), out_dim);
    b.layers.push_back(std::move(layer));
    in_dim = out_dim;
  }
  for (const auto& [name, tensor] : st.tensors()) {
    if (expected_names.count(name) == 0) {
      throw BundleError(weights_path + ": " + name + ": unexpected tensor (" + layout + ")");
    }
  }
  return b;
}

Bundle LoadBundle(const std::string& dir, const RobotDescription& hardware) {
  Bundle b = LoadBundle(dir);
  CheckRobotMatches(b.robot, hardware, dir + "/" + kPolicyJson);
  return b;
}

}  // namespace dreamforge::robot
