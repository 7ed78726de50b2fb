#include "tools/sim_hardware.h"

namespace dreamforge::tools {

robot::HardwareStatus SimHardware::Read(robot::RobotState* state) {
  const sim::Observation obs = world_->Observe();
  state->seq = ++seq_;
  state->time = world_->time();
  state->q = obs.joint_pos;
  state->qd = obs.joint_vel;
  state->fingers = obs.gripper_qpos;
  state->object_position = obs.object.segment<3>(0);
  state->object_quaternion = obs.object.segment<4>(3);
  state->target_position = obs.object.segment<3>(10);
  return robot::HardwareStatus::kOk;
}

robot::HardwareStatus SimHardware::Write(const robot::Command& command) {
  last_ = world_->StepJointTargets(command.q_target, command.gripper);
  return last_.stable ? robot::HardwareStatus::kOk : robot::HardwareStatus::kError;
}

robot::RobotDescription DescribeRobot(const sim::SceneModel& model) {
  robot::RobotDescription d;
  for (int j : model.arm_joint_indices()) d.arm_joints.push_back(model.robot().joints[j].name);
  for (int j : model.finger_joint_indices()) d.finger_joints.push_back(model.robot().joints[j].name);
  d.chain = model.arm_chain();
  d.finger_open = model.robot_config().finger_open;
  return d;
}

}  // namespace dreamforge::tools
