// Faults end in a hold or a clamp with a report, or in a refusal to start; none reaches
// the hardware command (DESIGN.md "Reliability"). Each test checks what the mock robot
// actually received.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "robot/control_loop.h"
#include "robot/controller.h"
#include "robot/mock_hardware.h"
#include "robot/panda_chain.h"
#include "tests/common/test_util.h"
#include "tests/robot/edge_test_util.h"

namespace dreamforge::robot {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

MockHardwareConfig Mock() {
  MockHardwareConfig cfg;
  cfg.q0 = PandaHomeJoints();
  cfg.object_position = Eigen::Vector3d(0.5, 0.0, 0.02);
  cfg.target_position = Eigen::Vector3d(0.4, 0.2, 0.0);
  return cfg;
}

LoopOptions Fast(std::uint64_t steps) {
  LoopOptions opt;
  opt.mode = LoopMode::kAsFastAsPossible;
  opt.max_steps = steps;
  opt.step_budget_s = 1.0;  // holds only from the injected faults
  return opt;
}

// Every command the mock received is finite.
void ExpectAllFinite(const MockHardware& hw) {
  for (const Command& c : hw.commands()) {
    EXPECT_TRUE(c.q_target.allFinite()) << "command " << c.seq;
    EXPECT_TRUE(std::isfinite(c.gripper)) << "command " << c.seq;
  }
}

TEST(FaultTest, NanFromThePolicyHoldsEveryStep) {
  Bundle b = *test::LoadTiny("tiny_mlp");
  b.layers[1].bias[5] = std::numeric_limits<float>::quiet_NaN();
  Controller controller(std::make_shared<const Bundle>(b), 1);
  MockHardware hw(Mock());
  ControlLoop loop(controller, hw, Fast(10));
  EXPECT_EQ(loop.Run(), LoopExit::kStepLimit);
  ASSERT_EQ(hw.commands().size(), 10u);
  ExpectAllFinite(hw);
  for (const Command& c : hw.commands()) {
    EXPECT_TRUE(c.hold);
    EXPECT_EQ(c.q_target, PandaHomeJoints());
  }
  EXPECT_EQ(loop.stats().safety.count(SafetyEvent::kNonFinitePolicy), 10u);
  EXPECT_EQ(loop.stats().holds, 10u);
  EXPECT_EQ(loop.stats().ToJson()["safety"]["events"]["non_finite_policy"], 10);
}

TEST(FaultTest, NanInTheObservationHoldsThatStep) {
  Controller controller(test::LoadTiny("tiny_mlp"), 1);
  MockHardware hw(Mock());
  hw.SetPerturbation([](std::uint64_t read, RobotState* s) {
    if (read == 3) s->q[2] = std::numeric_limits<double>::quiet_NaN();
    if (read == 6) s->object_quaternion.setZero();
  });
  ControlLoop loop(controller, hw, Fast(10));
  EXPECT_EQ(loop.Run(), LoopExit::kStepLimit);
  ASSERT_EQ(hw.commands().size(), 10u);
  ExpectAllFinite(hw);
  for (size_t k = 0; k < 10; ++k) EXPECT_EQ(hw.commands()[k].hold, k == 3 || k == 6) << k;
  EXPECT_EQ(hw.commands()[3].q_target, hw.commands()[2].q_target);
  EXPECT_EQ(loop.stats().safety.count(SafetyEvent::kNonFiniteObservation), 2u);
}

TEST(FaultTest, JointLimitBreachIsClamped) {
  // Turn the hand about the vertical, 0.3 rad per step, until the last joint hits its limit.
  Vector7f out = Vector7f::Zero();
  out[5] = 1.0f;
  out[6] = -1.0f;
  Bundle b = *test::ConstantPolicy(out);
  b.safety.workspace_min = Eigen::Vector3d::Constant(-5);
  b.safety.workspace_max = Eigen::Vector3d::Constant(5);
  Controller controller(std::make_shared<const Bundle>(b), 1);
  MockHardware hw(Mock());
  ControlLoop loop(controller, hw, Fast(60));
  EXPECT_EQ(loop.Run(), LoopExit::kStepLimit);
  ExpectAllFinite(hw);
  const SafetyFilter& f = controller.safety();
  for (const Command& c : hw.commands()) {
    EXPECT_TRUE((c.q_target.array() >= f.lower().array() - 1e-12).all()) << c.seq;
    EXPECT_TRUE((c.q_target.array() <= f.upper().array() + 1e-12).all()) << c.seq;
  }
  EXPECT_GT(loop.stats().safety.count(SafetyEvent::kJointPosition), 0u);
  // The arm ended pressed against the band: some joint sits exactly at limit -+ margin.
  const Vector7d q = hw.state().q;
  EXPECT_LT(std::min((q - f.lower()).minCoeff(), (f.upper() - q).minCoeff()), 1e-9);
}

TEST(FaultTest, WorkspaceBreachIsClampedAtTheBoxFace) {
  // Straight down: the box floor is z = 0 in the tiny bundles.
  Vector7f down = Vector7f::Zero();
  down[2] = -1.0f;
  Controller controller(test::ConstantPolicy(down), 1);
  MockHardware hw(Mock());
  ControlLoop loop(controller, hw, Fast(40));
  EXPECT_EQ(loop.Run(), LoopExit::kStepLimit);
  ExpectAllFinite(hw);
  Kinematics k(PandaChain());
  for (const Command& c : hw.commands()) {
    EXPECT_GE(k.ToolPose(Eigen::VectorXd(c.q_target)).translation().z(),
              -SafetyFilter::kWorkspaceTolerance);
  }
  EXPECT_GT(loop.stats().safety.count(SafetyEvent::kWorkspaceClamp), 0u);
  EXPECT_NEAR(k.ToolPose(Eigen::VectorXd(hw.state().q)).translation().z(), 0.0, 2e-3);
}

TEST(FaultTest, LateStepHolds) {
  Controller controller(test::LoadTiny("tiny_mlp"), 1);
  MockHardware hw(Mock());
  hw.SetReadDelay(4, 0.15);  // the read of step 4 takes 150 ms
  LoopOptions opt = Fast(8);
  opt.step_budget_s = 0.08;
  ControlLoop loop(controller, hw, opt);
  EXPECT_EQ(loop.Run(), LoopExit::kStepLimit);
  ASSERT_EQ(hw.commands().size(), 8u);
  ExpectAllFinite(hw);
  for (size_t k = 0; k < 8; ++k) EXPECT_EQ(hw.commands()[k].hold, k == 4) << k;
  EXPECT_EQ(hw.commands()[4].q_target, hw.commands()[3].q_target);
  EXPECT_EQ(loop.stats().deadline_misses, 1u);
  EXPECT_EQ(loop.stats().safety.count(SafetyEvent::kDeadlineMiss), 1u);
  EXPECT_GE(loop.stats().step_max_us, 150000);
}

TEST(FaultTest, HardwareTimeoutsHoldThenStop) {
  {
    Controller controller(test::LoadTiny("tiny_mlp"), 1);
    MockHardware hw(Mock());
    hw.InjectTimeouts(5, 2);  // two missed answers, then it recovers
    ControlLoop loop(controller, hw, Fast(10));
    EXPECT_EQ(loop.Run(), LoopExit::kStepLimit);
    ASSERT_EQ(hw.commands().size(), 10u);
    for (size_t k = 0; k < 10; ++k) EXPECT_EQ(hw.commands()[k].hold, k == 5 || k == 6) << k;
    EXPECT_EQ(loop.stats().hardware_timeouts, 2u);
    ExpectAllFinite(hw);
  }
  {
    Controller controller(test::LoadTiny("tiny_mlp"), 1);
    MockHardware hw(Mock());
    hw.InjectTimeouts(5, UINT64_MAX);  // silent from read 5 on
    LoopOptions opt = Fast(0);
    opt.max_consecutive_misses = 3;
    ControlLoop loop(controller, hw, opt);
    EXPECT_EQ(loop.Run(), LoopExit::kHardwareLost);
    ASSERT_EQ(hw.commands().size(), 8u);  // 5 commands, then 3 holds
    for (size_t k = 5; k < 8; ++k) EXPECT_TRUE(hw.commands()[k].hold) << k;
    EXPECT_EQ(loop.stats().safety.count(SafetyEvent::kHardwareTimeout), 3u);
    ExpectAllFinite(hw);
  }
}

TEST(FaultTest, NonFiniteOrMissingFirstStateRefusesToStart) {
  Controller controller(test::LoadTiny("tiny_mlp"), 1);
  MockHardware hw(Mock());
  hw.SetPerturbation([](std::uint64_t, RobotState* s) { s->fingers[0] = std::nan(""); });
  ControlLoop loop(controller, hw, Fast(10));
  EXPECT_EQ(loop.Run(), LoopExit::kStartRefused);
  EXPECT_EQ(hw.commands_received(), 0u);

  MockHardware silent(Mock());
  silent.InjectTimeouts(0, UINT64_MAX);
  ControlLoop never(controller, silent, Fast(10));
  EXPECT_EQ(never.Run(), LoopExit::kHardwareLost);
  EXPECT_EQ(silent.commands_received(), 0u);
  EXPECT_EQ(never.stats().hardware_timeouts, 5u);
}

class BundleFaultTest : public test::TempDirTest {
 protected:
  // Loads the bundle; returns the refusal's message ("" if it loaded).
  std::string Refusal() {
    try {
      LoadBundle((dir_ / "b").string(), test::PandaHardware());
    } catch (const BundleError& e) {
      return e.what();
    }
    return "";
  }
};

TEST_F(BundleFaultTest, TamperedTruncatedOrIncompleteBundlesNeverStart) {
  const std::string b = (dir_ / "b").string();
  test::CopyBundle("tiny_flow", dir_ / "b");
  ASSERT_EQ(Refusal(), "");
  // Bad hash.
  test::EditPolicyJson(dir_ / "b", [](nlohmann::json& j) {
    std::string& h = j["files"]["weights.safetensors"]["sha256"].get_ref<std::string&>();
    h[0] = h[0] == '0' ? '1' : '0';
  });
  EXPECT_THAT(Refusal(),
              AllOf(StartsWith(b + "/weights.safetensors: sha256"), HasSubstr("tampered")));
  // Truncated safetensors (hash updated to match, so the parser must catch it).
  test::CopyBundle("tiny_flow", dir_ / "b");
  std::filesystem::resize_file(dir_ / "b" / "weights.safetensors", 100);
  test::RehashFile(dir_ / "b", "weights.safetensors");
  EXPECT_THAT(Refusal(), AllOf(StartsWith(b + "/weights.safetensors: "), HasSubstr("truncated")));
  // Missing field.
  test::CopyBundle("tiny_flow", dir_ / "b");
  test::EditPolicyJson(dir_ / "b", [](nlohmann::json& j) { j["model"].erase("flow_steps"); });
  EXPECT_EQ(Refusal(), b + "/policy.json: model.flow_steps: missing");
}

}  // namespace
}  // namespace dreamforge::robot
