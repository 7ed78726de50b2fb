// The one exception type of policy-bundle loading (robot/bundle.h, robot/safetensors.h).
// Its message names the file and the field, e.g.
//   "bundle/policy.json: model.hidden: expected an array of positive integers".

#ifndef DREAMFORGE_ROBOT_BUNDLE_ERROR_H_
#define DREAMFORGE_ROBOT_BUNDLE_ERROR_H_

#include <stdexcept>
#include <string>

namespace dreamforge::robot {

class BundleError : public std::runtime_error {
 public:
  explicit BundleError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace dreamforge::robot

#endif  // DREAMFORGE_ROBOT_BUNDLE_ERROR_H_
