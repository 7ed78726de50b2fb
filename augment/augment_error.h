// augment/'s error: bad input to the generator or the evaluation (a demo without the
// expected signals or poses, a bad perturbation spec, ...). The message names the file and
// the field.
#pragma once

#include "robot/error.h"

namespace dreamforge::augment {

class AugmentError : public Error {
 public:
  using Error::Error;
};

}  // namespace dreamforge::augment
