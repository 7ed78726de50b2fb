// The narrow interface between the edge controller and a robot (ros2_control style:
// read() the state, write() the command). Implementations: MockHardware (robot/
// mock_hardware.h, mirrors commands back), UdpHardware (robot/udp_hardware.h, a real robot
// behind robot/PROTOCOL.md), and the Bullet simulator adapter in tools/.
//
// Frames and units: joint positions rad, velocities rad/s; positions in the robot base
// frame (the base_link of the bundle's kinematic chain), m; quaternions (x, y, z, w).
//
// Real-time contract for implementations: Read and Write are called from the control
// loop's thread, must not allocate or throw, and must return within a bounded time
// (Read: its configured timeout). Read may block until fresh state arrives; a Read that
// returns kTimeout or kError leaves *state unspecified; the loop then holds.

#pragma once

#include <cstdint>

#include <Eigen/Core>

#include "robot/types.h"

namespace dreamforge::robot {

struct RobotState {
  std::uint64_t seq = 0;           // increases with every new state the hardware produces
  double time = 0;                 // hardware clock, s
  Vector7d q = Vector7d::Zero();   // arm joint positions, rad (chain order)
  Vector7d qd = Vector7d::Zero();  // arm joint velocities, rad/s
  Eigen::Vector2d fingers = Eigen::Vector2d::Zero();  // finger joint positions, m
  // The manipulated object and the task's target, from the hardware's perception.
  Eigen::Vector3d object_position = Eigen::Vector3d::Zero();  // base frame, m
  Eigen::Vector4d object_quaternion{0, 0, 0, 1};              // (x, y, z, w), base frame
  Eigen::Vector3d target_position = Eigen::Vector3d::Zero();  // base frame, m
};

struct Command {
  std::uint64_t seq = 0;                 // increases with every command the controller sends
  Vector7d q_target = Vector7d::Zero();  // arm joint position targets, rad
  // -1 open .. +1 closed; each finger's target is finger_open * (1 - gripper) / 2 (m).
  double gripper = -1;
  // Hold: stop and keep the current position (q_target is then the last safe target).
  bool hold = false;
};

// Each finger's position target (m) for a gripper command in [-1, 1], as the simulator:
// finger_open * (1 - gripper) / 2. Real-time safe.
inline double FingerTarget(double gripper, double finger_open) {
  return finger_open * (1.0 - gripper) / 2.0;
}

enum class HardwareStatus { kOk, kTimeout, kError };
const char* HardwareStatusName(HardwareStatus status);  // "ok", "timeout", "error"

class HardwareInterface {
 public:
  virtual ~HardwareInterface() = default;
  // Fills *state with the newest state. Real-time safe, bounded time.
  virtual HardwareStatus Read(RobotState* state) = 0;
  // Sends one command. Real-time safe, bounded time.
  virtual HardwareStatus Write(const Command& command) = 0;
};

}  // namespace dreamforge::robot
