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

#include "robot/fuzz_plant.h"
#include "robot/json_reader.h"
#include "robot/safetensors.h"
#include "robot/sha256.h"

namespace dreamforge::robot {

namespace {

using nlohmann::json;

constexpr double kMatchTolerance = 1e-9;     // bundle robot vs hardware
constexpr double kRotationTolerance = 1e-6;  // orthonormality of the tool rotation

FeatureStats ReadStats(const JsonReader& r, const json& obj, const std::string& path, int width) {
  if (!obj.is_object()) r.Fail(path, "expected an object with mean, std, min, max");
  FeatureStats s;
  s.mean = r.Numbers(r.Get(obj, path, "mean"), path + ".mean", width);
  s.std = r.Numbers(r.Get(obj, path, "std"), path + ".std", width);
  s.min = r.Numbers(r.Get(obj, path, "min"), path + ".min", width);
  s.max = r.Numbers(r.Get(obj, path, "max"), path + ".max", width);
  for (int i = 0; i < width; ++i) {
    if (s.std[i] <= 0) {
      r.Fail(path + ".std[" + std::to_string(i) + "]", "expected > 0, got " + JsonNumber(s.std[i]));
    }
    if (s.min[i] > s.max[i]) {
      r.Fail(path + ".min[" + std::to_string(i) + "]",
             "min " + JsonNumber(s.min[i]) + " > max " + JsonNumber(s.max[i]));
    }
  }
  return s;
}

json StatsToJson(const FeatureStats& s) {
  return {{"mean", s.mean}, {"std", s.std}, {"min", s.min}, {"max", s.max}};
}

Eigen::Isometry3d ReadTool(const JsonReader& r, const json& v, const std::string& field) {
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
    throw BundleError(where + ": " + field + ": the bundle has " + JsonNumber(bundle) + ", the hardware " +
                      JsonNumber(hardware) +
                      " (tolerance 1e-9): the bundle was made for a different robot");
  }
}

void MatchMatrix(const std::string& where, const std::string& field, const Eigen::MatrixXd& bundle,
                 const Eigen::MatrixXd& hardware) {
  const double diff = (bundle - hardware).cwiseAbs().maxCoeff();
  if (!(diff <= kMatchTolerance)) {
    throw BundleError(where + ": " + field + ": differs from the hardware by " + JsonNumber(diff) +
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

RobotDescription RobotDescription::FromJson(const nlohmann::json& j, const std::string& where,
                                            const std::string& path) {
  const JsonReader r(where);
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
    r.Fail(path + ".tool", "differs from " + path + ".chain.tool by " + JsonNumber(diff));
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

nlohmann::json Normalization::ToJson(const std::vector<ObsKey>& obs_keys) const {
  json names = json::array();
  json per_key = json::object();
  for (size_t i = 0; i < obs_keys.size() && i < obs.size(); ++i) {
    names.push_back(ObsKeyName(obs_keys[i]));
    per_key[ObsKeyName(obs_keys[i])] = StatsToJson(obs[i]);
  }
  return {{"obs_mode", "z_score"},
          {"action_mode", "min_max"},
          {"obs_keys", names},
          {"obs", per_key},
          {"action", StatsToJson(action)}};
}

Normalization Normalization::FromJson(const json& n, const std::vector<ObsKey>& obs_keys,
                                      const std::string& where) {
  const JsonReader r(where);
  const std::string p = "normalization";
  if (!n.is_object()) r.Fail(p, "expected an object");
  const json& obs_mode = r.Get(n, p, "obs_mode");
  if (obs_mode != "z_score") r.Fail(p + ".obs_mode", "expected \"z_score\", got " + obs_mode.dump());
  const json& action_mode = r.Get(n, p, "action_mode");
  if (action_mode != "min_max") {
    r.Fail(p + ".action_mode", "expected \"min_max\", got " + action_mode.dump());
  }
  std::vector<std::string> key_names;
  for (ObsKey k : obs_keys) key_names.push_back(ObsKeyName(k));
  const json& n_keys = r.Get(n, p, "obs_keys");
  if (n_keys != json(key_names)) r.Fail(p + ".obs_keys", "differs from obs_keys " + json(key_names).dump());
  const json& n_obs = r.Object(n, p, "obs");
  Normalization out;
  for (size_t i = 0; i < key_names.size(); ++i) {
    out.obs.push_back(ReadStats(r, r.Get(n_obs, p + ".obs", key_names[i]), p + ".obs." + key_names[i],
                                ObsKeyWidth(obs_keys[i])));
  }
  out.action = ReadStats(r, r.Get(n, p, "action"), p + ".action", kActionDim);
  return out;
}

SafetyLimits SafetyLimits::FromJson(const json& j, const RobotDescription& robot,
                                   const std::string& where) {
  const JsonReader r(where);
  const std::string p = "safety";
  if (!j.is_object()) r.Fail(p, "expected an object");
  SafetyLimits s;
  const std::vector<double> lo = r.Numbers(r.Get(j, p, "workspace_min"), p + ".workspace_min", 3);
  const std::vector<double> hi = r.Numbers(r.Get(j, p, "workspace_max"), p + ".workspace_max", 3);
  for (int i = 0; i < 3; ++i) {
    s.workspace_min[i] = lo[i];
    s.workspace_max[i] = hi[i];
    if (lo[i] >= hi[i]) {
      r.Fail(p + ".workspace_min[" + std::to_string(i) + "]",
             JsonNumber(lo[i]) + " is not below workspace_max " + JsonNumber(hi[i]));
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
             "expected > 0, got " + JsonNumber(v[i]));
    }
    if (a[i] <= 0) {
      r.Fail(p + ".max_joint_acceleration[" + std::to_string(i) + "]",
             "expected > 0, got " + JsonNumber(a[i]));
    }
    s.max_joint_velocity[i] = v[i];
    s.max_joint_acceleration[i] = a[i];
  }
  s.joint_margin = r.Number(r.Get(j, p, "joint_margin"), p + ".joint_margin");
  if (s.joint_margin < 0) r.Fail(p + ".joint_margin", "expected >= 0, got " + JsonNumber(s.joint_margin));
  for (const JointSpec& joint : robot.chain.joints) {
    if (joint.type == JointType::kFixed) continue;
    if (joint.upper - joint.lower <= 2 * s.joint_margin) {
      r.Fail(p + ".joint_margin", JsonNumber(s.joint_margin) + " rad leaves no range for joint " +
                                      joint.name + " [" + JsonNumber(joint.lower) + ", " +
                                      JsonNumber(joint.upper) + "]");
    }
  }
  return s;
}

json SafetyLimits::ToJson() const {
  const auto vec = [](const auto& v) {
    json a = json::array();
    for (Eigen::Index i = 0; i < v.size(); ++i) a.push_back(v[i]);
    return a;
  };
  return {{"workspace_min", vec(workspace_min)},
          {"workspace_max", vec(workspace_max)},
          {"max_eef_speed", max_eef_speed},
          {"max_joint_velocity", vec(max_joint_velocity)},
          {"max_joint_acceleration", vec(max_joint_acceleration)},
          {"joint_margin", joint_margin}};
}

SafetyLimits DefaultSafetyLimits(const RobotDescription& robot) {
  SafetyLimits s;
  s.workspace_min = Eigen::Vector3d(-0.3, -0.9, -0.02);
  s.workspace_max = Eigen::Vector3d(1.0, 0.9, 1.2);
  s.max_eef_speed = 1.5;
  int i = 0;
  for (const JointSpec& joint : robot.chain.joints) {
    if (joint.type != JointType::kFixed && i < kArmDof) s.max_joint_velocity[i++] = joint.velocity;
  }
  s.max_joint_acceleration.setConstant(200.0);
  s.joint_margin = 0.0;
  return s;
}

json PolicyJson(const Bundle& b) {
  json files = json::object();
  for (const auto& [name, hash] : b.files) files[name] = {{"sha256", hash.sha256}, {"bytes", hash.bytes}};
  json keys = json::array();
  for (ObsKey k : b.obs_keys) keys.push_back(ObsKeyName(k));
  json j = {{"format", kBundleFormat},
            {"task", b.task},
            {"control_hz", b.control_hz},
            {"model", b.model.ToJson()},
            {"obs_keys", keys},
            {"normalization", b.normalization.ToJson(b.obs_keys)},
            {"action_scale", {{"position", b.action_scale.position}, {"rotation", b.action_scale.rotation}}},
            {"robot", b.robot.ToJson()},
            {"safety", b.safety.ToJson()},
            {"files", files}};
  if (!b.source.is_null()) j["source"] = b.source;
  if (!b.images.empty()) j["images"] = ImageInputsToJson(b.images);
  return j;
}

Bundle ParsePolicyJson(const nlohmann::json& j, const std::string& where) {
  const JsonReader r(where);
  if (!j.is_object()) r.Fail("", "expected a JSON object");
  Bundle b;
  const json& format = r.Get(j, "", "format");
  if (!format.is_string() || format.get<std::string>() != kBundleFormat) {
    r.Fail("format", std::string("expected \"") + kBundleFormat + "\", got " + format.dump());
  }
  b.task = r.String(j, "", "task");
  b.control_hz = r.Positive(j, "", "control_hz");
  if (b.control_hz < kMinControlHz || b.control_hz > kMaxControlHz) {
    r.Fail("control_hz", "expected " + JsonNumber(kMinControlHz) + ".." + JsonNumber(kMaxControlHz) +
                             " Hz, got " + JsonNumber(b.control_hz));
  }

  b.model = ModelSpec::FromJson(r.Get(j, "", "model"), where);
  const ModelSpec& spec = b.model;

  // obs_keys
  const json& keys = r.Get(j, "", "obs_keys");
  if (!keys.is_array() || keys.empty()) r.Fail("obs_keys", "expected a non-empty array of keys");
  int width = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string field = "obs_keys[" + std::to_string(i) + "]";
    ObsKey key;
    if (!keys[i].is_string() || !ParseObsKey(keys[i].get<std::string>(), &key)) {
      r.Fail(field, "expected one of " + LowDimObsKeyList() + "; got " + keys[i].dump());
    }
    for (ObsKey k : b.obs_keys) {
      if (k == key) r.Fail(field, "duplicate key " + keys[i].dump());
    }
    b.obs_keys.push_back(key);
    width += ObsKeyWidth(key);
  }
  if (width != spec.obs_dim) {
    r.Fail("model.obs_dim",
           std::to_string(spec.obs_dim) + " but obs_keys add up to " + std::to_string(width));
  }
  b.normalization = Normalization::FromJson(r.Object(j, "", "normalization"), b.obs_keys, where);

  // action_scale
  const json& scale = r.Object(j, "", "action_scale");
  b.action_scale.position = r.Positive(scale, "action_scale", "position");
  b.action_scale.rotation = r.Positive(scale, "action_scale", "rotation");

  b.robot = RobotDescription::FromJson(r.Get(j, "", "robot"), where, "robot");
  b.safety = SafetyLimits::FromJson(r.Object(j, "", "safety"), b.robot, where);

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
  if (j.contains("source")) b.source = j.at("source");
  if (j.contains("images")) b.images = ImageInputsFromJson(j.at("images"), where);
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

  // Hashes: every listed file must be present and match (a listed file that is missing is
  // a tampered or incomplete bundle, as a changed one is).
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
      if (!FileExists(path)) {
        throw BundleError(path + ": missing, but " + field +
                          " lists it (incomplete or tampered bundle)");
      }
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
  std::string layout = "model.hidden has " + std::to_string(spec.hidden.size()) +
                       " hidden layers, so the file must hold fc0..fc" +
                       std::to_string(num_layers - 1);
  for (const ImageInput& in : b.images) layout += " and " + in.key + ".*";
  std::set<std::string> expected_names;
  int in_dim = spec.InputDim() + ImageFeatureDim(b.images);
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
  // Planted: a subnormal weight, which the finite check above lets through (a missing check:
  // subnormal arithmetic can be ~100x slower, enough to miss the control deadline).
  DF_FUZZ_PLANT_IF(std::any_of(b.layers.begin(), b.layers.end(), [](const DenseLayer& l) {
    return l.weight.unaryExpr([](float w) { return std::fpclassify(w) == FP_SUBNORMAL; }).any();
  }));
  // The encoders: every tensor's shape from the image's config, F32, finite.
  for (const ImageInput& in : b.images) {
    b.encoders.push_back(std::make_shared<const ImageEncoderWeights>(
        ImageEncoderWeights::FromSafeTensors(in.encoder, st, in.key, weights_path)));
    for (const auto& [name, shape] : ImageEncoderTensorShapes(in.encoder)) {
      expected_names.insert(in.key + "." + name);
    }
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
