// Gamepad teleoperation through the Linux joystick API (/dev/input/js*, struct js_event
// from <linux/joystick.h>).
//
// Default mapping (GamepadMapping), for the xpad layout of Xbox-style pads; check the
// numbers of other pads with `jstest /dev/input/js0`:
//   left stick  up / down      +x / -x        (axis 1)
//   left stick  left / right   +y / -y        (axis 0)
//   right stick up / down      +z / -z        (axis 4)
//   right stick left / right   yaw + / -      (axis 3)
//   d-pad       left / right   roll - / +     (axis 6)
//   d-pad       up / down      pitch + / -    (axis 7)
//   A (0)      gripper toggle      B (1)      pause / resume
//   LB (4)     speed down          RB (5)     speed up
//   Start (7)  save the attempt    Back (6)   discard the attempt
//   Y (3)      reset (discard, speed back to default)    Guide (8)  quit
// Stick deflections pass through TeleopConfig::deadzone and scale linearly to
// TeleopConfig::linear_speed / angular_speed.

#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "robot/teleop/teleop.h"

namespace dreamforge::robot::teleop {

struct GamepadMapping {
  struct Axis {
    int index;    // js_event axis number; -1: unused
    double sign;  // +1: positive axis value gives positive motion
  };
  // Twist components x, y, z, roll, pitch, yaw. Joystick axes are positive to the right
  // and down.
  std::array<Axis, 6> axes = {{{1, -1.0}, {0, -1.0}, {4, -1.0}, {6, 1.0}, {7, -1.0}, {3, -1.0}}};
  int gripper_toggle = 0;  // button numbers; -1: unused
  int pause = 1;
  int reset = 3;
  int speed_down = 4;
  int speed_up = 5;
  int discard = 6;
  int save = 7;
  int quit = 8;
};

// The default mapping as text, one line per control, each starting with `indent`.
std::string GamepadHelp(const std::string& indent = "  ");

class GamepadDevice : public Device {
 public:
  // Reads js_event records from `fd`, which it owns and closes: an opened /dev/input/js*,
  // or in tests a pipe or file of recorded events. `name` appears in messages.
  GamepadDevice(int fd, std::string name, const TeleopConfig& config,
                const GamepadMapping& mapping = {});
  ~GamepadDevice() override;
  GamepadDevice(const GamepadDevice&) = delete;
  GamepadDevice& operator=(const GamepadDevice&) = delete;

  std::string name() const override { return name_; }
  // Fails when the device is unplugged (ENODEV), on end of stream and on read errors.
  bool Poll(double now, TeleopCommand* cmd) override;
  long inputs() const override { return inputs_; }

  // Interprets raw bytes of js_event records (partial records are kept for the next call).
  // Poll() feeds what it reads through here.
  void Feed(const char* bytes, std::size_t n);
  // Latest axis value in [-1, 1] (0 for axes not seen yet).
  double axis(int index) const;

 private:
  void Handle(uint8_t type, uint8_t number, int16_t value);

  int fd_;
  std::string name_;
  TeleopConfig config_;
  GamepadMapping mapping_;
  std::vector<double> axes_;
  std::vector<bool> buttons_;
  std::vector<char> partial_;
  TeleopCommand requests_;
  long inputs_ = 0;
};

// Opens `path` (e.g. /dev/input/js0) read-only and non-blocking. Throws DeviceError with
// the path and the reason (missing, no permission, ...).
std::unique_ptr<Device> OpenGamepad(const std::string& path, const TeleopConfig& config);

}  // namespace dreamforge::robot::teleop
