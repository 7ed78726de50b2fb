#include "robot/teleop/teleop.h"

#include <algorithm>
#include <cmath>

namespace dreamforge::robot::teleop {

bool TeleopCommand::Active() const {
  return Moving() || gripper != GripperRequest::kNone || speed_change != 0 || save || discard ||
         reset || pause || quit || view_layout || view_zoom;
}

void TeleopConfig::Validate() const {
  auto require = [](bool ok, const char* field, const char* what) {
    if (!ok) throw DeviceError(std::string("teleop config: ") + field + ": " + what);
  };
  require(std::isfinite(linear_speed) && linear_speed > 0, "linear_speed", "must be > 0");
  require(std::isfinite(angular_speed) && angular_speed > 0, "angular_speed", "must be > 0");
  require(deadzone >= 0 && deadzone < 1, "deadzone", "must be in [0, 1)");
  require(std::isfinite(speed_step) && speed_step > 1, "speed_step", "must be > 1");
  require(
      min_speed_scale > 0 && min_speed_scale <= max_speed_scale && std::isfinite(max_speed_scale),
      "min_speed_scale", "must be > 0 and <= max_speed_scale");
  require(speed_scale >= min_speed_scale && speed_scale <= max_speed_scale, "speed_scale",
          "must be within [min_speed_scale, max_speed_scale]");
  require(std::isfinite(key_hold_s) && key_hold_s > 0, "key_hold_s", "must be > 0");
  require(std::isfinite(spacemouse_full_scale) && spacemouse_full_scale > 0,
          "spacemouse_full_scale", "must be > 0");
}

double ApplyDeadzone(double v, double deadzone) {
  if (!std::isfinite(v)) return 0.0;
  v = std::clamp(v, -1.0, 1.0);
  const double a = std::abs(v);
  if (a <= deadzone) return 0.0;
  return std::copysign((a - deadzone) / (1.0 - deadzone), v);
}

SpeedControl::SpeedControl(const TeleopConfig& config)
    : config_(config), scale_(config.speed_scale) {}

void SpeedControl::Apply(TeleopCommand* cmd) {
  if (cmd->reset) scale_ = config_.speed_scale;
  if (cmd->speed_change != 0) {
    scale_ *= std::pow(config_.speed_step, cmd->speed_change);
    scale_ = std::clamp(scale_, config_.min_speed_scale, config_.max_speed_scale);
  }
  cmd->linear *= scale_;
  cmd->angular *= scale_;
}

std::string DescribeMotion(const TeleopCommand& cmd) {
  static constexpr const char* kNames[6] = {"x", "y", "z", "roll", "pitch", "yaw"};
  std::string s;
  for (int k = 0; k < 6; ++k) {
    const double v = k < 3 ? cmd.linear[k] : cmd.angular[k - 3];
    if (v == 0.0) continue;
    if (!s.empty()) s += " ";
    s += (v > 0 ? "+" : "-") + std::string(kNames[k]);
  }
  return s.empty() ? "idle" : s;
}

double NextGripper(GripperRequest request, double current) {
  switch (request) {
    case GripperRequest::kToggle:
      return current > 0.0 ? -1.0 : 1.0;
    case GripperRequest::kOpen:
      return -1.0;
    case GripperRequest::kClose:
      return 1.0;
    case GripperRequest::kNone:
      break;
  }
  return current;
}

Eigen::Matrix<double, 7, 1> TwistToAction(const TeleopCommand& cmd, double gripper, double dt,
                                          double position_scale, double rotation_scale) {
  Eigen::Matrix<double, 7, 1> a;
  a.head<3>() = cmd.linear * (dt / position_scale);
  a.segment<3>(3) = cmd.angular * (dt / rotation_scale);
  if (!a.head<6>().allFinite()) a.head<6>().setZero();
  a.head<6>() = a.head<6>().cwiseMax(-1.0).cwiseMin(1.0);
  a[6] = gripper > 0.0 ? 1.0 : -1.0;
  return a;
}

MergedDevice::MergedDevice(std::vector<std::unique_ptr<Device>> devices)
    : devices_(std::move(devices)) {}

std::string MergedDevice::name() const {
  std::string n;
  for (const auto& d : devices_) n += (n.empty() ? "" : " + ") + d->name();
  return n;
}

long MergedDevice::inputs() const {
  long n = 0;
  for (const auto& d : devices_) n += d->inputs();
  return n;
}

bool MergedDevice::Poll(double now, TeleopCommand* cmd) {
  *cmd = TeleopCommand();
  for (const auto& d : devices_) {
    TeleopCommand c;
    if (!d->Poll(now, &c)) return Fail(d->error());
    cmd->linear += c.linear;
    cmd->angular += c.angular;
    if (c.gripper != GripperRequest::kNone) cmd->gripper = c.gripper;
    cmd->speed_change += c.speed_change;
    cmd->save |= c.save;
    cmd->discard |= c.discard;
    cmd->reset |= c.reset;
    cmd->pause |= c.pause;
    cmd->quit |= c.quit;
    cmd->view_layout |= c.view_layout;
    cmd->view_zoom |= c.view_zoom;
  }
  return true;
}

}  // namespace dreamforge::robot::teleop
