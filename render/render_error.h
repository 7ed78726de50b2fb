// render/'s error: no usable EGL/OpenGL, a bad camera description, or a scene that cannot
// be drawn. The message names the camera, the field or the missing package, e.g.
// "camera 'agentview': width: must be in [8, 2048], got 0".
#pragma once

#include "robot/error.h"

namespace dreamforge::render {

class RenderError : public Error {
 public:
  using Error::Error;
};

}  // namespace dreamforge::render
