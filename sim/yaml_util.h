// Small helpers for the YAML inputs (demo scripts, perturbation specs): every error names
// the file and the field. `Error` is the exception type of the calling folder.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "robot/error.h"

namespace dreamforge::sim::yaml {

template <class Error>
[[noreturn]] void Fail(const std::string& source, const std::string& field, const std::string& what) {
  // Fields and values quoted from the file may hold any character (a quoted key with a
  // newline): keep the message one line.
  throw Error(source + ": " + OneLine(field) + ": " + OneLine(what));
}

// A finite number.
template <class Error>
double Number(const YAML::Node& n, const std::string& source, const std::string& field) {
  try {
    const double v = n.as<double>();
    if (!std::isfinite(v)) Fail<Error>(source, field, "must be finite");
    return v;
  } catch (const YAML::Exception&) {
    Fail<Error>(source, field, "expected a number");
  }
}

// A scalar (a string or anything written plainly); a list or a mapping is refused.
template <class Error>
std::string String(const YAML::Node& n, const std::string& source, const std::string& field) {
  if (!n.IsScalar()) Fail<Error>(source, field, "expected a string");
  return n.Scalar();
}

// Refuses a mapping that names a key twice: yaml-cpp keeps both entries, so a lookup sees
// the first and a walk sees both (the last wins). `field` is the mapping's path ("" for the
// root); the message names the file and the key.
template <class Error>
void CheckUniqueKeys(const YAML::Node& map, const std::string& source, const std::string& field) {
  std::set<std::string> seen;
  for (const auto& kv : map) {
    if (!kv.first.IsScalar()) Fail<Error>(source, field.empty() ? "(root)" : field, "expected plain keys");
    const std::string key = kv.first.Scalar();
    const std::string path = field.empty() ? key : field + "." + key;
    if (!seen.insert(key).second) Fail<Error>(source, path, "duplicated key (each key may appear once)");
  }
}

template <class Error>
YAML::Node Parse(const std::string& text, const std::string& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(source + ": YAML error at line " + std::to_string(e.mark.line + 1) + ": " + OneLine(e.msg));
  }
}

// The whole file; `what` names it in the error ("cannot open <what>").
template <class Error>
std::string ReadFile(const std::filesystem::path& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw Error(path.string() + ": cannot open " + what);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace dreamforge::sim::yaml
