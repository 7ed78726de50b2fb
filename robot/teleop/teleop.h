// Teleoperation input: every device (keyboard, gamepad, spacemouse) produces the same
// TeleopCommand, a tool twist in the robot base frame plus one-shot requests.
//
// Frames and units: the robot base frame (x away from the robot base, y to its left,
// z up; the operator is assumed to stand behind the robot, looking along +x). Linear
// velocity in m/s of the tool centre, angular velocity in rad/s about the base axes.
// Eigen, the C++ standard library and POSIX only (DESIGN.md, robot/).

#pragma once

#include <Eigen/Core>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "robot/error.h"

namespace dreamforge::robot::teleop {

// A device that cannot be opened, or bad teleop settings. The message names the device.
class DeviceError : public Error {
 public:
  using Error::Error;
};

enum class GripperRequest { kNone, kToggle, kOpen, kClose };

struct TeleopCommand {
  // Tool twist at speed scale 1 (SpeedControl multiplies it by the current scale).
  Eigen::Vector3d linear = Eigen::Vector3d::Zero();   // m/s, base frame
  Eigen::Vector3d angular = Eigen::Vector3d::Zero();  // rad/s, about the base axes
  // One-shot requests, reported by the one Poll() that saw them.
  GripperRequest gripper = GripperRequest::kNone;
  int speed_change = 0;  // speed notches: +n faster, -n slower
  bool save = false;     // save the current attempt as a demo, then start a new attempt
  bool discard = false;  // drop the current attempt, start a new one in a fresh scene
  bool reset = false;    // like discard, and the speed scale back to its default
  bool pause = false;    // toggle pause (the simulation stands still; nothing is recorded)
  bool quit = false;     // stop (an unsaved attempt is dropped, saved demos are kept)
  // Requests for the scene view (record --view), ignored without one; they change nothing
  // that is simulated or recorded.
  bool view_layout = false;  // next camera layout
  bool view_zoom = false;    // toggle the wrist camera's zoom

  bool Moving() const { return !linear.isZero() || !angular.isZero(); }
  // True when the command asks for anything at all (motion or a request).
  bool Active() const;
};

// Tunables shared by the devices. Defaults suit the simulated Panda at 20 Hz.
struct TeleopConfig {
  double linear_speed = 0.15;  // m/s at full deflection (a held key, a stick at its stop)
  double angular_speed = 0.6;  // rad/s at full deflection
  double deadzone = 0.1;       // fraction of full deflection ignored around neutral
  double speed_scale = 1.0;    // initial speed scale
  double speed_step = 1.5;     // factor per speed notch
  double min_speed_scale = 0.1;
  double max_speed_scale = 4.0;
  double key_hold_s = 0.15;              // s of motion per key press (keyboard; see keyboard.h)
  double spacemouse_full_scale = 350.0;  // spacenavd units at full deflection

  // Throws DeviceError naming the first bad field.
  void Validate() const;
};

// Deadzone with rescaling: |v| <= dz gives 0; beyond, the output rises linearly from 0 to
// +-1 at |v| = 1, so there is no jump at the edge. v is clamped to [-1, 1]. Real-time safe.
double ApplyDeadzone(double v, double deadzone);

// The current speed scale: notches multiply or divide it by speed_step, within
// [min_speed_scale, max_speed_scale]; reset restores the initial value.
class SpeedControl {
 public:
  explicit SpeedControl(const TeleopConfig& config);
  // Applies cmd's speed_change and reset, then scales cmd's twist in place.
  void Apply(TeleopCommand* cmd);
  double scale() const { return scale_; }

 private:
  TeleopConfig config_;
  double scale_;
};

// The twist's direction as text, e.g. "+x -z +yaw", or "idle".
std::string DescribeMotion(const TeleopCommand& cmd);

// Next gripper command (-1 open, +1 closed) after `request`, from `current`.
double NextGripper(GripperRequest request, double current);

// One control step's normalized action (7 x 1): twist * dt divided by the action scales
// (m and rad per step at |a| = 1), clamped to [-1, 1], then the gripper command.
// Rotation: the axis-angle vector angular * dt. Real-time safe.
Eigen::Matrix<double, 7, 1> TwistToAction(const TeleopCommand& cmd, double gripper, double dt,
                                          double position_scale, double rotation_scale);

// A teleop input device.
class Device {
 public:
  virtual ~Device() = default;
  // "keyboard", "gamepad /dev/input/js0", ...
  virtual std::string name() const = 0;
  // Non-blocking: reads everything pending and returns, in *cmd, the command in effect at
  // `now` (s on any monotonic clock; the keyboard measures its hold windows on it).
  // Returns false when the device is gone (unplugged, end of stream, read error); error()
  // then says why, naming the device. Never throws.
  virtual bool Poll(double now, TeleopCommand* cmd) = 0;
  // Input events handled so far (key presses, button presses, stick moves): lets a status
  // display show that input arrives.
  virtual long inputs() const = 0;
  const std::string& error() const { return error_; }

 protected:
  bool Fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

 private:
  std::string error_;
};

// Several devices as one (e.g. a gamepad plus the keyboard for save and quit): twists add,
// requests combine. Fails as soon as one of them fails.
class MergedDevice : public Device {
 public:
  explicit MergedDevice(std::vector<std::unique_ptr<Device>> devices);
  std::string name() const override;
  bool Poll(double now, TeleopCommand* cmd) override;
  long inputs() const override;

 private:
  std::vector<std::unique_ptr<Device>> devices_;
};

}  // namespace dreamforge::robot::teleop
