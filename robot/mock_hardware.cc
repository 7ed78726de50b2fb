#include "robot/mock_hardware.h"

#include <time.h>

#include <cerrno>
#include <cmath>

namespace dreamforge::robot {

MockHardware::MockHardware(const MockHardwareConfig& config) : config_(config) {
  log_.reserve(config_.log_capacity);
  state_.q = config_.q0;
  state_.qd.setZero();
  state_.fingers.setConstant(FingerTarget(config_.initial_gripper, config_.finger_open));
  state_.object_position = config_.object_position;
  state_.object_quaternion = config_.object_quaternion;
  state_.target_position = config_.target_position;
}

HardwareStatus MockHardware::Read(RobotState* state) {
  const std::uint64_t index = reads_++;
  if (index == delay_read_ && delay_seconds_ > 0) {
    timespec ts;
    ts.tv_sec = static_cast<time_t>(delay_seconds_);
    ts.tv_nsec = static_cast<long>((delay_seconds_ - static_cast<double>(ts.tv_sec)) * 1e9);
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
    }
  }
  if (index >= timeout_first_ && index - timeout_first_ < timeout_count_) {
    return HardwareStatus::kTimeout;
  }
  ++state_.seq;
  state_.time += config_.dt;
  *state = state_;
  if (perturb_) perturb_(index, state);
  return HardwareStatus::kOk;
}

HardwareStatus MockHardware::Write(const Command& command) {
  ++received_;
  if (log_.size() < log_.capacity()) log_.push_back(command);
  if (command.hold) {
    state_.qd.setZero();
    return HardwareStatus::kOk;
  }
  state_.qd = (command.q_target - state_.q) / config_.dt;
  state_.q = command.q_target;
  state_.fingers.setConstant(FingerTarget(command.gripper, config_.finger_open));
  return HardwareStatus::kOk;
}

}  // namespace dreamforge::robot
