// OpenSpaceMouse() for builds without libspnav (see robot/CMakeLists.txt).
#include "robot/teleop/spacemouse.h"

namespace dreamforge::robot::teleop {

std::unique_ptr<Device> OpenSpaceMouse(const TeleopConfig& /*config*/) {
  throw DeviceError(
      "spacemouse: this build has no libspnav (install libspnav-dev, e.g. with "
      "tools/setup.sh, then reconfigure and rebuild)");
}

}  // namespace dreamforge::robot::teleop
