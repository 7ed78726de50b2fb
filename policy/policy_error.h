// The policy folder's error type, in a header without LibTorch (main.cc catches it).
#pragma once

#include <stdexcept>

#include "robot/error.h"

namespace dreamforge::policy {

// A bad run directory, checkpoint, bundle or model description, or a bad training option;
// the message names the file and field (or the option).
class PolicyError : public Error {
 public:
  using Error::Error;
};

}  // namespace dreamforge::policy
