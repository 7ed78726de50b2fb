// 6-DoF teleoperation with a 3Dconnexion SpaceMouse through spacenavd and libspnav.
//
// Mapping (as ROS's spacenav_node maps spacenavd axes; the operator stands behind the
// robot): push the cap forward / pull it back: +x / -x; slide it left / right: +y / -y;
// lift / press: +z / -z; tilt and twist rotate the tool the same way about the base axes.
// In spacenavd units: linear = (z, -x, y), angular = (rz, -rx, ry), divided by
// TeleopConfig::spacemouse_full_scale, through the deadzone, times the speeds.
// Buttons: left (0) gripper toggle, right (1) save the attempt. Discard, reset and quit
// come from the keyboard.
//
// The libspnav calls live in spnav_source.cc alone (built when libspnav is found); this
// file parses events, so it is tested with synthetic events and no daemon.

#pragma once

#include <array>
#include <memory>
#include <string>

#include "robot/teleop/teleop.h"

namespace dreamforge::robot::teleop {

// One spacenavd event, free of libspnav types.
struct SpaceMouseEvent {
  enum class Type { kMotion, kButton };
  Type type = Type::kMotion;
  std::array<int, 6> motion = {0, 0, 0, 0, 0, 0};  // x, y, z, rx, ry, rz (spacenavd units)
  int button = 0;
  bool press = false;
};

// Where events come from: spacenavd (OpenSpaceMouse) or, in tests, a recorded stream.
class SpaceMouseSource {
 public:
  virtual ~SpaceMouseSource() = default;
  // 1: *event filled; 0: nothing pending; -1: the connection is lost (see error()).
  virtual int Next(SpaceMouseEvent* event) = 0;
  virtual std::string error() const = 0;
};

class SpaceMouseDevice : public Device {
 public:
  SpaceMouseDevice(std::unique_ptr<SpaceMouseSource> source, const TeleopConfig& config);
  std::string name() const override { return "spacemouse"; }
  // Applies every pending event; motion holds the latest displacement. Fails when the
  // connection to spacenavd is lost.
  bool Poll(double now, TeleopCommand* cmd) override;
  long inputs() const override { return inputs_; }
  // Applies one event (Poll() does this for each pending one).
  void Handle(const SpaceMouseEvent& event);

 private:
  std::unique_ptr<SpaceMouseSource> source_;
  TeleopConfig config_;
  std::array<int, 6> motion_ = {0, 0, 0, 0, 0, 0};
  TeleopCommand requests_;
  long inputs_ = 0;
};

std::string SpaceMouseHelp(const std::string& indent = "  ");

// Connects to spacenavd through libspnav. Throws DeviceError when the daemon cannot be
// reached, or when this build has no libspnav (the message says how to get it).
std::unique_ptr<Device> OpenSpaceMouse(const TeleopConfig& config);

}  // namespace dreamforge::robot::teleop
