#include "robot/safety.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "robot/panda_chain.h"
#include "tests/robot/alloc_counter.h"
#include "tests/robot/edge_test_util.h"

namespace dreamforge::robot {
namespace {

constexpr double kDt = 0.05;

Vector7d Home() { return PandaHomeJoints(); }

// The tiny bundles' limits: velocity 2.175/2.61 rad/s, acceleration 15 rad/s^2, margin
// 0.01 rad, workspace [-0.2, 0.9] x [-0.6, 0.6] x [0, 1] m, TCP speed 1 m/s.
SafetyLimits TinyLimits() { return test::LoadTiny("tiny_mlp")->safety; }

// Limits that do not interfere, to test one rule at a time.
SafetyLimits Loose() {
  SafetyLimits l = TinyLimits();
  l.max_joint_velocity.setConstant(100);
  l.max_joint_acceleration.setConstant(1e6);
  l.max_eef_speed = 100;
  l.workspace_min = Eigen::Vector3d::Constant(-10);
  l.workspace_max = Eigen::Vector3d::Constant(10);
  return l;
}

Eigen::Vector3d Tcp(const Vector7d& q) {
  Kinematics k(PandaChain());
  return k.ToolPose(Eigen::VectorXd(q)).translation();
}

TEST(SafetyFilterTest, SmallStepsPassUnchanged) {
  SafetyFilter f(TinyLimits(), PandaChain(), kDt);
  ASSERT_TRUE(f.Reset(Home(), -1));
  Vector7d q = Home();
  Command cmd;
  for (int k = 0; k < 20; ++k) {
    q[0] += 0.002;
    ASSERT_TRUE(f.Filter(q, 0.3, &cmd));
    EXPECT_EQ(cmd.q_target, q);
    EXPECT_EQ(cmd.gripper, 0.3);
    EXPECT_FALSE(cmd.hold);
    f.Commit(cmd);
  }
  EXPECT_EQ(f.report().clamped_steps, 0u);
  EXPECT_EQ(f.report().holds, 0u);
  EXPECT_EQ(f.last_target(), q);
}

TEST(SafetyFilterTest, ClampsToTheJointBand) {
  SafetyFilter f(Loose(), PandaChain(), kDt);
  Vector7d start = Home();
  start[3] = -0.1;
  start[5] = 0.05;  // near the limits, so that the chain's velocity limits do not bind
  ASSERT_TRUE(f.Reset(start, -1));
  Vector7d want = start;
  want[3] = 0.5;   // beyond the upper limit -0.0698
  want[5] = -1.0;  // below the lower limit -0.0175
  Command cmd;
  ASSERT_TRUE(f.Filter(want, 2.0, &cmd));
  EXPECT_NEAR(cmd.q_target[3], -0.0698 - 0.01, 1e-12);
  EXPECT_NEAR(cmd.q_target[5], -0.0175 + 0.01, 1e-12);
  EXPECT_EQ(cmd.gripper, 1.0);  // clamped to [-1, 1]
  EXPECT_EQ(f.report().count(SafetyEvent::kJointPosition), 1u);
  EXPECT_EQ(f.report().clamped_steps, 1u);
}

TEST(SafetyFilterTest, ATargetOutsideTheBandMayNotMoveFurtherOut) {
  SafetyFilter f(Loose(), PandaChain(), kDt);
  Vector7d start = Home();
  start[3] = -0.072;  // inside the limit, outside the 0.01 rad band
  ASSERT_TRUE(f.Reset(start, -1));
  Command cmd;
  Vector7d want = start;
  want[3] = -0.070;
  ASSERT_TRUE(f.Filter(want, -1, &cmd));
  EXPECT_NEAR(cmd.q_target[3], -0.0798, 1e-12);  // pulled into the band, not further out
  f.Commit(cmd);
  EXPECT_GE(f.report().count(SafetyEvent::kJointPosition), 1u);
}

TEST(SafetyFilterTest, LimitsJointVelocityAndAcceleration) {
  SafetyLimits l = Loose();
  l.max_joint_velocity = TinyLimits().max_joint_velocity;
  SafetyFilter f(l, PandaChain(), kDt);
  ASSERT_TRUE(f.Reset(Home(), -1));
  Vector7d want = Home();
  want[0] += 0.5;  // 10 rad/s
  Command cmd;
  ASSERT_TRUE(f.Filter(want, -1, &cmd));
  EXPECT_NEAR(cmd.q_target[0] - Home()[0], 2.175 * kDt, 1e-12);
  EXPECT_EQ(f.report().count(SafetyEvent::kJointVelocity), 1u);

  // Acceleration: from rest at most 15 rad/s^2 * dt per step of velocity.
  l.max_joint_acceleration = TinyLimits().max_joint_acceleration;
  SafetyFilter g(l, PandaChain(), kDt);
  ASSERT_TRUE(g.Reset(Home(), -1));
  Vector7d last = Home();
  double v_last = 0;
  for (int k = 0; k < 10; ++k) {
    ASSERT_TRUE(g.Filter(want, -1, &cmd));
    const double v = (cmd.q_target[0] - last[0]) / kDt;
    EXPECT_LE(std::abs(v - v_last), 15 * kDt + 1e-9) << k;
    EXPECT_LE(std::abs(v), 2.175 + 1e-9) << k;
    v_last = v;
    last = cmd.q_target;
    g.Commit(cmd);
  }
  EXPECT_GT(g.report().count(SafetyEvent::kJointAcceleration), 0u);
  EXPECT_NEAR(last[0], want[0], 0.2);  // it got most of the way
  // Holding resets the velocity to zero: the next step starts from rest again.
  g.MakeHold(SafetyEvent::kDeadlineMiss, &cmd);
  g.Commit(cmd);
  Vector7d back = last;
  back[0] -= 0.5;
  ASSERT_TRUE(g.Filter(back, -1, &cmd));
  EXPECT_NEAR(cmd.q_target[0] - last[0], -15 * kDt * kDt, 1e-12);
}

TEST(SafetyFilterTest, LimitsTheTcpSpeed) {
  SafetyLimits l = Loose();
  l.max_eef_speed = 0.5;  // 0.025 m per step
  SafetyFilter f(l, PandaChain(), kDt);
  ASSERT_TRUE(f.Reset(Home(), -1));
  Vector7d want = Home();
  want[1] += 0.4;  // the shoulder: a large TCP motion
  Command cmd;
  Eigen::Vector3d p_last = Tcp(Home());
  for (int k = 0; k < 10; ++k) {
    ASSERT_TRUE(f.Filter(want, -1, &cmd));
    const Eigen::Vector3d p = Tcp(cmd.q_target);
    EXPECT_LE((p - p_last).norm(), 0.5 * kDt + 1e-9) << k;
    p_last = p;
    f.Commit(cmd);
  }
  EXPECT_GT(f.report().count(SafetyEvent::kEefSpeed), 0u);
  EXPECT_GT((p_last - Tcp(Home())).norm(), 0.1);  // moving, just not too fast
}

TEST(SafetyFilterTest, HoldsWhenTheTcpWouldLeaveTheWorkspace) {
  SafetyLimits l = Loose();
  const Eigen::Vector3d home = Tcp(Home());
  l.workspace_max.z() = home.z() + 0.02;
  SafetyFilter f(l, PandaChain(), kDt);
  ASSERT_TRUE(f.Reset(Home(), -1));
  Vector7d up = Home();
  up[3] += 0.3;  // the elbow opens: the TCP rises more than 2 cm
  ASSERT_GT(Tcp(up).z(), l.workspace_max.z() + SafetyFilter::kWorkspaceTolerance);
  Command cmd;
  EXPECT_FALSE(f.Filter(up, 0.5, &cmd));
  EXPECT_TRUE(cmd.hold);
  EXPECT_EQ(cmd.q_target, Home());
  EXPECT_EQ(cmd.gripper, -1);  // the held gripper
  EXPECT_EQ(f.report().count(SafetyEvent::kWorkspaceHold), 1u);

  // Already outside (e.g. after start-up): moving back towards the box is allowed.
  l.workspace_max.z() = home.z() - 0.05;
  SafetyFilter g(l, PandaChain(), kDt);
  ASSERT_TRUE(g.Reset(Home(), -1));
  Vector7d down = Home();
  down[3] -= 0.1;
  ASSERT_LT(Tcp(down).z(), home.z());
  EXPECT_TRUE(g.Filter(down, -1, &cmd));
  EXPECT_FALSE(g.Filter(up, -1, &cmd));

  SafetyFilter tight(TinyLimits(), PandaChain(), kDt);
  Eigen::Vector3d p(0.5, 0.1, 0.5);
  tight.ClampWorkspace(&p);
  EXPECT_EQ(p, Eigen::Vector3d(0.5, 0.1, 0.5));
  EXPECT_EQ(tight.report().count(SafetyEvent::kWorkspaceClamp), 0u);
  p = Eigen::Vector3d(2.0, -1.0, 0.5);
  tight.ClampWorkspace(&p);
  EXPECT_EQ(p, Eigen::Vector3d(0.9, -0.6, 0.5));
  EXPECT_EQ(tight.report().count(SafetyEvent::kWorkspaceClamp), 1u);
}

TEST(SafetyFilterTest, NonFiniteCommandsBecomeHolds) {
  SafetyFilter f(TinyLimits(), PandaChain(), kDt);
  Command cmd;
  EXPECT_FALSE(f.Reset(Vector7d::Constant(std::nan("")), -1));
  EXPECT_FALSE(f.Filter(Home(), -1, &cmd));  // not started: hold
  EXPECT_TRUE(cmd.hold);
  ASSERT_TRUE(f.Reset(Home(), 1.0));
  Vector7d bad = Home();
  bad[2] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(f.Filter(bad, -1, &cmd));
  EXPECT_TRUE(cmd.hold);
  EXPECT_TRUE(cmd.q_target.allFinite());
  EXPECT_EQ(cmd.q_target, Home());
  EXPECT_EQ(cmd.gripper, 1.0);
  EXPECT_FALSE(f.Filter(Home(), std::numeric_limits<double>::infinity(), &cmd));
  EXPECT_EQ(f.report().count(SafetyEvent::kNonFiniteCommand), 3u);
  EXPECT_EQ(f.report().holds, 3u);
}

TEST(SafetyFilterTest, ObservationCheck) {
  RobotState s;
  EXPECT_TRUE(SafetyFilter::CheckObservation(s));
  s.qd[4] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(SafetyFilter::CheckObservation(s));
  s = RobotState();
  s.object_quaternion.setZero();
  EXPECT_FALSE(SafetyFilter::CheckObservation(s));
  s = RobotState();
  s.target_position.x() = -std::numeric_limits<double>::infinity();
  EXPECT_FALSE(SafetyFilter::CheckObservation(s));
}

TEST(SafetyFilterTest, ReportJsonAndNoAllocation) {
  SafetyFilter f(TinyLimits(), PandaChain(), kDt);
  ASSERT_TRUE(f.Reset(Home(), -1));
  Command cmd;
  Vector7d want = Home();
  {
    test::AllocCounter counter;
    for (int k = 0; k < 20; ++k) {
      want[1] += 0.05;
      f.Filter(want, 0, &cmd);
      f.Commit(cmd);
    }
    f.MakeHold(SafetyEvent::kHardwareTimeout, &cmd);
    EXPECT_EQ(counter.new_calls(), 0);
    EXPECT_EQ(counter.malloc_calls(), 0);
  }
  const nlohmann::json j = f.report().ToJson();
  EXPECT_EQ(j["holds"], 1);
  EXPECT_EQ(j["events"]["hardware_timeout"], 1);
  EXPECT_TRUE(j["events"].contains("joint_acceleration"));
  EXPECT_EQ(j["events"].size(), static_cast<size_t>(kSafetyEventCount));
  EXPECT_STREQ(SafetyEventName(SafetyEvent::kWorkspaceHold), "workspace_hold");
}

}  // namespace
}  // namespace dreamforge::robot
