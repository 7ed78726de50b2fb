#include "robot/controller.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "robot/geometry.h"
#include "robot/mock_hardware.h"
#include "robot/panda_chain.h"
#include "tests/robot/alloc_counter.h"
#include "tests/robot/edge_test_util.h"

namespace dreamforge::robot {
namespace {

RobotState HomeState() {
  RobotState s;
  s.seq = 1;
  s.q = PandaHomeJoints();
  s.qd.setConstant(0.01);
  s.fingers.setConstant(0.04);
  s.object_position = Eigen::Vector3d(0.5, 0.1, 0.02);
  s.object_quaternion = Eigen::Vector4d(0, 0, std::sin(0.3), std::cos(0.3));
  s.target_position = Eigen::Vector3d(0.4, -0.2, 0.0);
  return s;
}

TEST(ControllerTest, BuildsTheObservationAsTheSimulator) {
  Controller c(test::LoadTiny("tiny_mlp"), 1);
  RobotState s = HomeState();
  // A quaternion with w < 0 and not unit: normalized and flipped.
  s.object_quaternion = -2.0 * Eigen::Vector4d(0, 0, std::sin(0.3), std::cos(0.3));
  Eigen::VectorXf obs;
  c.BuildObservation(s, &obs);
  ASSERT_EQ(obs.size(), 25);
  const Kinematics k(PandaChain());
  const Eigen::Vector3d eef = k.ToolPose(Eigen::VectorXd(s.q)).translation();
  // obs_keys: eef_pos (3), gripper_qpos (2), joint_pos (7), object (13).
  // The bundle's chain came through JSON: the same numbers up to rounding.
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(obs[i], eef[i], 1e-6);
  EXPECT_EQ(obs[3], 0.04f);
  EXPECT_EQ(obs[4], 0.04f);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(obs[5 + i], static_cast<float>(s.q[i]));
  const int o = 12;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(obs[o + i], static_cast<float>(s.object_position[i]));
  EXPECT_FLOAT_EQ(obs[o + 5], static_cast<float>(std::sin(0.3)));
  EXPECT_FLOAT_EQ(obs[o + 6], static_cast<float>(std::cos(0.3)));
  EXPECT_GT(obs[o + 6], 0);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(obs[o + 7 + i], s.object_position[i] - eef[i], 1e-6);
    EXPECT_EQ(obs[o + 10 + i], static_cast<float>(s.target_position[i]));
  }
  // The home TCP is where the Panda's published figures put it (about 0.31 m ahead, 0.49 up).
  EXPECT_NEAR(eef.x(), 0.307, 0.01);
  EXPECT_NEAR(eef.z(), 0.487, 0.01);
}

TEST(ControllerTest, ObservationOfOtherKeys) {
  Bundle b = *test::LoadTiny("tiny_mlp");
  b.obs_keys = {ObsKey::kEefQuat, ObsKey::kJointVel};
  b.model.obs_dim = 11;
  // The runtime needs statistics and a first layer of the new widths.
  b.normalization.obs = {FeatureStats{std::vector<double>(4, 0), std::vector<double>(4, 1),
                                      std::vector<double>(4, -1), std::vector<double>(4, 1)},
                         FeatureStats{std::vector<double>(7, 0), std::vector<double>(7, 1),
                                      std::vector<double>(7, -1), std::vector<double>(7, 1)}};
  b.layers.front().weight = Eigen::MatrixXf::Zero(16, 11);
  Controller other(std::make_shared<const Bundle>(b), 1);
  RobotState s = HomeState();
  Eigen::VectorXf obs(11);
  other.BuildObservation(s, &obs);
  const Kinematics k(PandaChain());
  Eigen::Quaterniond q(k.ToolPose(Eigen::VectorXd(s.q)).linear());
  if (q.w() < 0) q.coeffs() *= -1;
  EXPECT_NEAR(obs[0], q.x(), 1e-6);
  EXPECT_NEAR(obs[3], q.w(), 1e-6);
  EXPECT_GE(obs[3], 0);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(obs[4 + i], 0.01f);
}

TEST(ControllerTest, ActionToJointTargetFollowsTheSimulator) {
  auto bundle = test::LoadTiny("tiny_mlp");
  Controller c(bundle, 1);
  const RobotState s = HomeState();
  ASSERT_TRUE(c.Start(s));
  Vector7d target;
  // Zero motion: the held target (the start joints).
  Vector7f a = Vector7f::Zero();
  a[6] = 1;
  c.ActionToJointTarget(s.q, a, &target);
  EXPECT_EQ(target, s.q);
  // A motion: IK from the measured joints towards p + a * 0.05 m, R = exp(a * 0.3) R.
  a << 0.4f, -0.2f, 0.6f, 0.1f, 0.0f, -0.3f, 1.0f;
  c.ActionToJointTarget(s.q, a, &target);
  const Kinematics k(PandaChain());
  const Eigen::Isometry3d current = k.ToolPose(Eigen::VectorXd(s.q));
  const Eigen::Isometry3d reached = k.ToolPose(Eigen::VectorXd(target));
  const Eigen::Vector3d dp = a.head<3>().cast<double>() * 0.05;
  EXPECT_NEAR((reached.translation() - current.translation() - dp).norm(), 0, 2e-4);
  const Eigen::Matrix3d r =
      AxisAngleToMatrix(a.segment<3>(3).cast<double>() * 0.3) * current.linear();
  EXPECT_NEAR(RotationError(r, reached.linear()).norm(), 0, 2e-3);
  EXPECT_TRUE(c.last_ik().converged);
  // The same IK call as sim/world.cc, run here directly, gives the same joints (up to the
  // rounding of the chain's trip through JSON).
  Kinematics sim(PandaChain());
  IkOptions opt;
  opt.max_iterations = 30;
  opt.rest = IkOptions::Rest::kSeed;
  opt.nullspace_gain = 0.0;
  Eigen::Isometry3d t = current;
  t.translation() += dp;
  t.linear() = r;
  Eigen::VectorXd q_sim(7);
  sim.SolveIk(t, Eigen::VectorXd(s.q), opt, &q_sim);
  EXPECT_NEAR((Vector7d(q_sim) - target).cwiseAbs().maxCoeff(), 0, 1e-9);
  // Then a zero action keeps that new target.
  Vector7d again;
  c.ActionToJointTarget(s.q, Vector7f::Zero(), &again);
  EXPECT_EQ(again, target);
  // Actions beyond [-1, 1] are clamped as in the simulator.
  Vector7f big = a * 5;
  Vector7d clamped;
  c.ActionToJointTarget(s.q, big, &clamped);
  Vector7f unit = big.cwiseMax(-1).cwiseMin(1);
  Vector7d expect;
  c.ActionToJointTarget(s.q, unit, &expect);
  EXPECT_EQ(clamped, expect);
}

TEST(ControllerTest, StepsProduceFiniteBoundedCommandsWithoutAllocating) {
  auto bundle = test::LoadTiny("tiny_flow");
  Controller c(bundle, 3);
  MockHardwareConfig cfg;
  cfg.q0 = PandaHomeJoints();
  cfg.object_position = Eigen::Vector3d(0.5, 0.0, 0.02);
  cfg.target_position = Eigen::Vector3d(0.4, 0.2, 0.0);
  MockHardware hw(cfg);
  RobotState s;
  ASSERT_EQ(hw.Read(&s), HardwareStatus::kOk);
  ASSERT_TRUE(c.Start(s));
  Command cmd;
  cmd.seq = 0;
  {
    test::AllocCounter counter;
    for (int k = 0; k < 40; ++k) {
      ASSERT_EQ(hw.Read(&s), HardwareStatus::kOk);
      c.Step(s, &cmd);
      ASSERT_EQ(hw.Write(cmd), HardwareStatus::kOk);
    }
    EXPECT_EQ(counter.new_calls(), 0);
    EXPECT_EQ(counter.malloc_calls(), 0);
  }
  ASSERT_EQ(hw.commands().size(), 40u);
  const SafetyFilter& f = c.safety();
  for (size_t k = 0; k < hw.commands().size(); ++k) {
    const Command& sent = hw.commands()[k];
    EXPECT_EQ(sent.seq, k + 1);
    EXPECT_TRUE(sent.q_target.allFinite());
    EXPECT_TRUE((sent.q_target.array() >= f.lower().array() - 1e-12).all() || sent.hold);
    EXPECT_TRUE((sent.q_target.array() <= f.upper().array() + 1e-12).all() || sent.hold);
    EXPECT_TRUE(sent.gripper == 1.0 || sent.gripper == -1.0);  // the sign rule
  }
  EXPECT_NE(hw.state().q, PandaHomeJoints());  // the policy moved the arm
  EXPECT_EQ(c.runner().plans(), 20u);          // execute 2 of each chunk
}

TEST(ControllerTest, NonFiniteObservationOrPolicyHolds) {
  auto bundle = test::LoadTiny("tiny_mlp");
  Controller c(bundle, 3);
  RobotState s = HomeState();
  ASSERT_TRUE(c.Start(s));
  Command cmd;
  ASSERT_EQ(c.Step(s, &cmd), StepOutcome::kCommand);
  const Vector7d sent = cmd.q_target;
  RobotState bad = s;
  bad.object_position.y() = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(c.Step(bad, &cmd), StepOutcome::kHold);
  EXPECT_TRUE(cmd.hold);
  EXPECT_EQ(cmd.q_target, sent);
  EXPECT_EQ(c.safety().report().count(SafetyEvent::kNonFiniteObservation), 1u);

  Bundle broken = *bundle;
  broken.layers[1].bias[0] = std::numeric_limits<float>::infinity();
  Controller d(std::make_shared<const Bundle>(broken), 3);
  ASSERT_TRUE(d.Start(s));
  EXPECT_EQ(d.Step(s, &cmd), StepOutcome::kHold);
  EXPECT_TRUE(cmd.hold);
  EXPECT_EQ(cmd.q_target, s.q);
  EXPECT_EQ(d.safety().report().count(SafetyEvent::kNonFinitePolicy), 1u);

  // A non-finite start state is refused.
  Controller e(bundle, 3);
  EXPECT_FALSE(e.Start(bad));
  EXPECT_FALSE(e.started());
}

TEST(ControllerTest, StartKeepsTheGripperAsItIs) {
  Controller c(test::LoadTiny("tiny_mlp"), 3);
  RobotState s = HomeState();
  s.fingers.setConstant(0.0);  // closed on an object
  ASSERT_TRUE(c.Start(s));
  Command cmd;
  c.Hold(SafetyEvent::kDeadlineMiss, &cmd);
  EXPECT_EQ(cmd.gripper, 1.0);
  EXPECT_TRUE(cmd.hold);
  EXPECT_EQ(cmd.seq, 1u);
}

}  // namespace
}  // namespace dreamforge::robot
