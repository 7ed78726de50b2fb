#include "robot/teleop/spacemouse.h"

namespace dreamforge::robot::teleop {

std::string SpaceMouseHelp(const std::string& indent) {
  const char* lines[] = {
      "push / pull the cap       move +x / -x",
      "slide left / right        move +y / -y",
      "lift / press              move +z / -z",
      "tilt and twist            roll, pitch, yaw about the base axes",
      "left button (0)           gripper toggle",
      "right button (1)          save the attempt",
  };
  std::string out;
  for (const char* l : lines) out += indent + l + "\n";
  return out;
}

SpaceMouseDevice::SpaceMouseDevice(std::unique_ptr<SpaceMouseSource> source,
                                   const TeleopConfig& config)
    : source_(std::move(source)), config_(config) {
  config_.Validate();
}

void SpaceMouseDevice::Handle(const SpaceMouseEvent& event) {
  ++inputs_;
  if (event.type == SpaceMouseEvent::Type::kMotion) {
    motion_ = event.motion;
    return;
  }
  if (!event.press) return;
  if (event.button == 0) requests_.gripper = GripperRequest::kToggle;
  if (event.button == 1) requests_.save = true;
}

bool SpaceMouseDevice::Poll(double /*now*/, TeleopCommand* cmd) {
  SpaceMouseEvent e;
  for (int n = 0; n < 1024; ++n) {
    const int r = source_->Next(&e);
    if (r < 0) return Fail("spacemouse: " + source_->error());
    if (r == 0) break;
    Handle(e);
  }
  *cmd = requests_;
  requests_ = TeleopCommand();
  auto axis = [&](int i, double sign) {
    return sign * ApplyDeadzone(motion_[i] / config_.spacemouse_full_scale, config_.deadzone);
  };
  // spacenavd (x right, y up, z forward) -> base frame, as ROS's spacenav_node.
  cmd->linear = Eigen::Vector3d(axis(2, 1), axis(0, -1), axis(1, 1)) * config_.linear_speed;
  cmd->angular = Eigen::Vector3d(axis(5, 1), axis(3, -1), axis(4, 1)) * config_.angular_speed;
  return true;
}

}  // namespace dreamforge::robot::teleop
