#include "robot/kinematic_chain.h"

#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>

namespace dreamforge::robot {

namespace {

using nlohmann::json;

constexpr double kUnitTolerance = 1e-6;      // |norm(axis) - 1|
constexpr double kRotationTolerance = 1e-6;  // max |R^T R - I|

[[noreturn]] void Fail(const std::string& field, const std::string& what) {
  throw std::invalid_argument("KinematicChain: " + field + ": " + what);
}

void CheckFinite(double v, const std::string& field) {
  if (!std::isfinite(v)) Fail(field, "not a finite number");
}

void CheckFrame(const Eigen::Isometry3d& t, const std::string& field) {
  if (!t.matrix().allFinite()) Fail(field, "not finite");
  const Eigen::Matrix3d r = t.linear();
  const double err = (r.transpose() * r - Eigen::Matrix3d::Identity()).cwiseAbs().maxCoeff();
  if (err > kRotationTolerance || r.determinant() <= 0) {
    Fail(field, "rotation is not a proper orthonormal matrix");
  }
}

const json& Get(const json& j, const char* key, const std::string& path) {
  if (!j.is_object()) Fail(path.empty() ? "(root)" : path, "expected an object");
  const auto it = j.find(key);
  const std::string field = path.empty() ? key : path + "." + key;
  if (it == j.end()) Fail(field, "missing");
  return *it;
}

std::string ReadString(const json& j, const char* key, const std::string& path) {
  const json& v = Get(j, key, path);
  if (!v.is_string()) Fail(path.empty() ? key : path + "." + key, "expected a string");
  return v.get<std::string>();
}

double ReadNumber(const json& v, const std::string& field) {
  if (!v.is_number()) Fail(field, "expected a number");
  const double d = v.get<double>();
  CheckFinite(d, field);
  return d;
}

double ReadNumber(const json& j, const char* key, const std::string& path) {
  return ReadNumber(Get(j, key, path), path + "." + key);
}

Eigen::Vector3d ReadVec3(const json& v, const std::string& field) {
  if (!v.is_array() || v.size() != 3) Fail(field, "expected an array of 3 numbers");
  return {ReadNumber(v[0], field + "[0]"), ReadNumber(v[1], field + "[1]"),
          ReadNumber(v[2], field + "[2]")};
}

Eigen::Isometry3d ReadFrame(const json& j, const std::string& path) {
  if (!j.is_object()) Fail(path, "expected an object with xyz and rotation or rpy");
  const Eigen::Vector3d xyz = ReadVec3(Get(j, "xyz", path), path + ".xyz");
  const bool has_rotation = j.contains("rotation");
  const bool has_rpy = j.contains("rpy");
  if (has_rotation == has_rpy) Fail(path, "expected exactly one of rotation or rpy");
  if (has_rpy) return FromXyzRpy(xyz, ReadVec3(j.at("rpy"), path + ".rpy"));
  const json& rows = j.at("rotation");
  const std::string field = path + ".rotation";
  if (!rows.is_array() || rows.size() != 3) Fail(field, "expected 3 rows of 3 numbers");
  Eigen::Isometry3d t = Eigen::Isometry3d::Identity();
  for (int i = 0; i < 3; ++i) {
    t.linear().row(i) = ReadVec3(rows[i], field + "[" + std::to_string(i) + "]").transpose();
  }
  t.translation() = xyz;
  CheckFrame(t, field);
  return t;
}

json WriteFrame(const Eigen::Isometry3d& t) {
  const Eigen::Matrix3d r = t.linear();
  const Eigen::Vector3d p = t.translation();
  json rows = json::array();
  for (int i = 0; i < 3; ++i) rows.push_back({r(i, 0), r(i, 1), r(i, 2)});
  return {{"xyz", {p.x(), p.y(), p.z()}}, {"rotation", rows}};
}

JointType ParseJointType(const std::string& s, const std::string& field) {
  if (s == "revolute") return JointType::kRevolute;
  if (s == "prismatic") return JointType::kPrismatic;
  if (s == "fixed") return JointType::kFixed;
  Fail(field, "unknown joint type '" + s + "' (expected revolute, prismatic or fixed)");
}

}  // namespace

const char* JointTypeName(JointType type) {
  switch (type) {
    case JointType::kRevolute:
      return "revolute";
    case JointType::kPrismatic:
      return "prismatic";
    case JointType::kFixed:
      return "fixed";
  }
  return "unknown";
}

int KinematicChain::dof() const {
  int n = 0;
  for (const JointSpec& j : joints) n += j.type != JointType::kFixed ? 1 : 0;
  return n;
}

void KinematicChain::Validate() const {
  if (base_link.empty()) Fail("base_link", "empty");
  CheckFrame(tool, "tool");
  std::set<std::string> links = {base_link};
  std::set<std::string> names;
  for (size_t i = 0; i < joints.size(); ++i) {
    const JointSpec& j = joints[i];
    const std::string path = "joints[" + std::to_string(i) + "]";
    if (j.name.empty()) Fail(path + ".name", "empty");
    if (!names.insert(j.name).second) Fail(path + ".name", "duplicate joint '" + j.name + "'");
    if (j.child_link.empty()) Fail(path + ".child_link", "empty");
    if (!links.insert(j.child_link).second) {
      Fail(path + ".child_link", "duplicate link '" + j.child_link + "'");
    }
    CheckFrame(j.origin, path + ".origin");
    if (j.type == JointType::kFixed) continue;
    if (!j.axis.allFinite()) Fail(path + ".axis", "not finite");
    if (std::abs(j.axis.norm() - 1.0) > kUnitTolerance) {
      std::ostringstream os;
      os << "not a unit vector (norm " << j.axis.norm() << ")";
      Fail(path + ".axis", os.str());
    }
    CheckFinite(j.lower, path + ".lower");
    CheckFinite(j.upper, path + ".upper");
    if (j.lower > j.upper) {
      std::ostringstream os;
      os << "lower " << j.lower << " > upper " << j.upper;
      Fail(path + ".lower", os.str());
    }
    CheckFinite(j.velocity, path + ".velocity");
    if (j.velocity < 0) Fail(path + ".velocity", "negative");
    CheckFinite(j.effort, path + ".effort");
    if (j.effort < 0) Fail(path + ".effort", "negative");
  }
}

nlohmann::json KinematicChain::ToJson() const {
  json js = json::array();
  for (const JointSpec& j : joints) {
    js.push_back({{"name", j.name},
                  {"type", JointTypeName(j.type)},
                  {"child_link", j.child_link},
                  {"origin", WriteFrame(j.origin)},
                  {"axis", {j.axis.x(), j.axis.y(), j.axis.z()}},
                  {"lower", j.lower},
                  {"upper", j.upper},
                  {"velocity", j.velocity},
                  {"effort", j.effort}});
  }
  return {{"base_link", base_link}, {"tool", WriteFrame(tool)}, {"joints", js}};
}

KinematicChain KinematicChain::FromJson(const nlohmann::json& json) {
  KinematicChain chain;
  chain.base_link = ReadString(json, "base_link", "");
  chain.tool = ReadFrame(Get(json, "tool", ""), "tool");
  const nlohmann::json& js = Get(json, "joints", "");
  if (!js.is_array()) Fail("joints", "expected an array");
  for (size_t i = 0; i < js.size(); ++i) {
    const nlohmann::json& j = js[i];
    const std::string path = "joints[" + std::to_string(i) + "]";
    JointSpec spec;
    spec.name = ReadString(j, "name", path);
    spec.type = ParseJointType(ReadString(j, "type", path), path + ".type");
    spec.child_link = ReadString(j, "child_link", path);
    spec.origin = ReadFrame(Get(j, "origin", path), path + ".origin");
    // Axis and limits are optional for fixed joints only.
    const bool fixed = spec.type == JointType::kFixed;
    if (!fixed || j.contains("axis")) spec.axis = ReadVec3(Get(j, "axis", path), path + ".axis");
    if (!fixed || j.contains("lower")) spec.lower = ReadNumber(j, "lower", path);
    if (!fixed || j.contains("upper")) spec.upper = ReadNumber(j, "upper", path);
    if (!fixed || j.contains("velocity")) spec.velocity = ReadNumber(j, "velocity", path);
    if (!fixed || j.contains("effort")) spec.effort = ReadNumber(j, "effort", path);
    chain.joints.push_back(spec);
  }
  chain.Validate();
  return chain;
}

}  // namespace dreamforge::robot
