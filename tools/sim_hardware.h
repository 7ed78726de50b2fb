// The Bullet world as the edge controller's hardware (software in the loop). Lives in
// tools/: robot/ knows nothing of Bullet.
#pragma once

#include "robot/bundle.h"
#include "robot/hardware.h"
#include "sim/world.h"

namespace dreamforge::tools {

class SimHardware : public robot::HardwareInterface {
 public:
  // `world` must outlive this adapter.
  explicit SimHardware(sim::World* world) : world_(world) {}
  // State from the world's observation (with the scene's observation noise, as a policy
  // sees it in `eval`): joints, finger positions, object pose and the task's target.
  robot::HardwareStatus Read(robot::RobotState* state) override;
  // One control step with the command's joint targets (a hold keeps the last target).
  robot::HardwareStatus Write(const robot::Command& command) override;
  const sim::StepInfo& last_step() const { return last_; }

 private:
  sim::World* world_;
  sim::StepInfo last_;
  uint64_t seq_ = 0;
};

// The simulated robot as a RobotDescription (what a bundle must match).
robot::RobotDescription DescribeRobot(const sim::SceneModel& model);

}  // namespace dreamforge::tools
