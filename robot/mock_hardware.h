// A mock robot for controller tests (ros2_control's mock components): every command is
// mirrored back as the next state (q = q_target unless hold, qd = the implied velocity,
// fingers at their gripper target); the object and target stay where the config puts
// them. Every command received is logged so tests can check what reached the "hardware".
// Faults can be injected: read timeouts (a silent robot), a slow read, a state perturbation.

#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "robot/hardware.h"

namespace dreamforge::robot {

struct MockHardwareConfig {
  Vector7d q0 = Vector7d::Zero();  // initial joints, rad
  double finger_open = 0.04;       // m, finger position when the gripper is open
  double initial_gripper = -1;     // initial fingers = FingerTarget(initial_gripper)
  Eigen::Vector3d object_position = Eigen::Vector3d::Zero();  // m
  Eigen::Vector4d object_quaternion{0, 0, 0, 1};              // (x, y, z, w)
  Eigen::Vector3d target_position = Eigen::Vector3d::Zero();  // m
  double dt = 0.05;                   // s per state (time stamp and velocity)
  std::size_t log_capacity = 100000;  // commands kept (preallocated); later ones are counted only
};

class MockHardware : public HardwareInterface {
 public:
  explicit MockHardware(const MockHardwareConfig& config);  // allocates the log

  // Real-time safe (the perturbation callback must be too).
  HardwareStatus Read(RobotState* state) override;
  HardwareStatus Write(const Command& command) override;

  // Fault injection (call before the loop starts).
  // Reads with index first_read .. first_read + count - 1 (0-based, counting all reads)
  // time out; a count of UINT64_MAX makes the robot fall silent for good.
  void InjectTimeouts(std::uint64_t first_read, std::uint64_t count) {
    timeout_first_ = first_read;
    timeout_count_ = count;
  }
  // The read with index `read_index` (0-based, counting all reads) sleeps `seconds` first.
  void SetReadDelay(std::uint64_t read_index, double seconds) {
    delay_read_ = read_index;
    delay_seconds_ = seconds;
  }
  // Called on every state before it is returned (e.g. to inject a NaN).
  void SetPerturbation(std::function<void(std::uint64_t read_index, RobotState*)> f) {
    perturb_ = std::move(f);
  }

  const std::vector<Command>& commands() const { return log_; }
  std::uint64_t commands_received() const { return received_; }
  std::uint64_t reads() const { return reads_; }
  const RobotState& state() const { return state_; }

 private:
  MockHardwareConfig config_;
  RobotState state_;
  std::vector<Command> log_;
  std::uint64_t received_ = 0;
  std::uint64_t reads_ = 0;
  std::uint64_t timeout_first_ = 0;
  std::uint64_t timeout_count_ = 0;
  std::uint64_t delay_read_ = UINT64_MAX;
  double delay_seconds_ = 0;
  std::function<void(std::uint64_t, RobotState*)> perturb_;
};

}  // namespace dreamforge::robot
