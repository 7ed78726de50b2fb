#include "robot/json_reader.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <set>

namespace dreamforge::robot {

using nlohmann::json;

std::string JsonPath(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string JsonNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.12g", v);
  return buf;
}

void JsonReader::Fail(const std::string& path, const std::string& what) const {
  throw BundleError(where_ + ": " + (path.empty() ? "(root)" : path) + ": " + what);
}

const json& JsonReader::Get(const json& obj, const std::string& path, const std::string& key) const {
  if (!obj.is_object()) Fail(path, "expected an object");
  const auto it = obj.find(key);
  if (it == obj.end()) Fail(JsonPath(path, key), "missing");
  return *it;
}

const json& JsonReader::Object(const json& obj, const std::string& path, const std::string& key) const {
  const json& v = Get(obj, path, key);
  if (!v.is_object()) Fail(JsonPath(path, key), "expected an object");
  return v;
}

std::string JsonReader::String(const json& obj, const std::string& path, const std::string& key) const {
  const json& v = Get(obj, path, key);
  if (!v.is_string() || v.get<std::string>().empty()) {
    Fail(JsonPath(path, key), "expected a non-empty string");
  }
  return v.get<std::string>();
}

int JsonReader::Int(const json& obj, const std::string& path, const std::string& key, int min) const {
  const json& v = Get(obj, path, key);
  if (!v.is_number_integer() || v.get<std::int64_t>() < min || v.get<std::int64_t>() > 1 << 30) {
    Fail(JsonPath(path, key), min == 1   ? "expected a positive integer"
                              : min == 0 ? "expected a non-negative integer"
                                         : "expected an integer >= " + std::to_string(min));
  }
  return static_cast<int>(v.get<std::int64_t>());
}

double JsonReader::Number(const json& v, const std::string& field) const {
  if (!v.is_number()) Fail(field, "expected a number");
  const double d = v.get<double>();
  if (!std::isfinite(d)) Fail(field, "not a finite number");
  return d;
}

double JsonReader::Positive(const json& obj, const std::string& path, const std::string& key) const {
  const double d = Number(Get(obj, path, key), JsonPath(path, key));
  if (d <= 0) Fail(JsonPath(path, key), "expected a positive number, got " + JsonNumber(d));
  return d;
}

std::vector<double> JsonReader::Numbers(const json& v, const std::string& field, int n) const {
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

std::vector<std::string> JsonReader::Strings(const json& obj, const std::string& path,
                                             const std::string& key, int n) const {
  const std::string field = JsonPath(path, key);
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

}  // namespace dreamforge::robot
