// sim/'s error: a bad URDF, task or script. The message names the file and the element,
// e.g. "arm.urdf: link 'hand': mass must be positive, got -1".
#pragma once

#include "robot/error.h"

namespace dreamforge::sim {

class SimError : public Error {
 public:
  using Error::Error;
};

}  // namespace dreamforge::sim
