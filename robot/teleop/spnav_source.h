// The libspnav side of the spacemouse (the only code that includes spnav.h). Built only
// when CMake finds libspnav; otherwise spnav_missing.cc provides OpenSpaceMouse().

#pragma once

#include "robot/teleop/spacemouse.h"

union spnav_event;  // <spnav.h>

namespace dreamforge::robot::teleop {

// Converts a libspnav event. Returns false for event types the spacemouse ignores
// (device and configuration changes, raw axes).
bool FromSpnav(const spnav_event& in, SpaceMouseEvent* out);

}  // namespace dreamforge::robot::teleop
