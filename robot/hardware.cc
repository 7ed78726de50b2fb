#include "robot/hardware.h"

namespace dreamforge::robot {

const char* HardwareStatusName(HardwareStatus status) {
  switch (status) {
    case HardwareStatus::kOk:
      return "ok";
    case HardwareStatus::kTimeout:
      return "timeout";
    case HardwareStatus::kError:
      return "error";
  }
  return "unknown";
}

}  // namespace dreamforge::robot
