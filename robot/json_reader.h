// Reads and validates the fields of one JSON document. Every failure throws BundleError
// "<where>: <path>: <what>", where `where` names the file and `path` the field
// ("model.hidden", "safety.max_joint_velocity[3]"). Used by every reader of the bundle
// schema (robot/bundle.h, robot/model_spec.h). Not real-time safe.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "robot/bundle_error.h"

namespace dreamforge::robot {

// `path` joined with `key` ("a.b" or "b" when `path` is empty).
std::string JsonPath(const std::string& path, const std::string& key);
// A number as messages print it (up to 12 significant digits).
std::string JsonNumber(double value);

class JsonReader {
 public:
  explicit JsonReader(std::string where) : where_(std::move(where)) {}
  const std::string& where() const { return where_; }

  [[noreturn]] void Fail(const std::string& path, const std::string& what) const;

  // obj[key]; fails if obj is not an object or has no `key`.
  const nlohmann::json& Get(const nlohmann::json& obj, const std::string& path,
                            const std::string& key) const;
  const nlohmann::json& Object(const nlohmann::json& obj, const std::string& path,
                               const std::string& key) const;
  std::string String(const nlohmann::json& obj, const std::string& path,
                     const std::string& key) const;  // non-empty
  // A JSON integer in [min, 2^30] (16.0 is refused).
  int Int(const nlohmann::json& obj, const std::string& path, const std::string& key,
          int min) const;
  // A finite number; `field` is the full path of `v`.
  double Number(const nlohmann::json& v, const std::string& field) const;
  double Positive(const nlohmann::json& obj, const std::string& path, const std::string& key) const;
  // An array of exactly n finite numbers (n < 0: any length).
  std::vector<double> Numbers(const nlohmann::json& v, const std::string& field, int n) const;
  // An array of exactly n distinct non-empty strings.
  std::vector<std::string> Strings(const nlohmann::json& obj, const std::string& path,
                                   const std::string& key, int n) const;

 private:
  std::string where_;
};

}  // namespace dreamforge::robot
