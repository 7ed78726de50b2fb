// The one base of dreamforge's user-facing errors. Each folder derives its own kind
// (robot::BundleError, sim::SimError, datasets::DatasetError, augment::AugmentError,
// policy::PolicyError, tools::UsageError); every message names the file and the field (or
// the option) at fault. tools/main.cc catches Error once: it prints the message and exits
// with status 2 (bad input); any other exception is a runtime failure (status 1).
#pragma once

#include <stdexcept>
#include <string>

namespace dreamforge {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace dreamforge
