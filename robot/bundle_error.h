// The exception type of the bundle schema (robot/bundle.h, robot/model_spec.h,
// robot/safetensors.h, robot/json_reader.h). Its message names the file and the field, e.g.
//   "bundle/policy.json: model.hidden: expected an array of positive integers".
#pragma once

#include <string>

#include "robot/error.h"

namespace dreamforge::robot {

class BundleError : public Error {
 public:
  explicit BundleError(const std::string& message) : Error(message) {}
};

}  // namespace dreamforge::robot
