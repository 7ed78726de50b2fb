#include "robot/control_loop.h"

#include <atomic>
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "robot/mock_hardware.h"
#include "robot/panda_chain.h"
#include "tests/robot/alloc_counter.h"
#include "tests/robot/edge_test_util.h"

namespace dreamforge::robot {
namespace {

MockHardwareConfig Mock() {
  MockHardwareConfig cfg;
  cfg.q0 = PandaHomeJoints();
  cfg.object_position = Eigen::Vector3d(0.5, 0.0, 0.02);
  cfg.target_position = Eigen::Vector3d(0.4, 0.2, 0.0);
  return cfg;
}

TEST(ControlLoopTest, RunsAsFastAsPossibleWithoutAllocating) {
  for (const char* name : {"tiny_mlp", "tiny_flow"}) {
    Controller controller(test::LoadTiny(name), 1);
    MockHardware hw(Mock());
    LoopOptions opt;
    opt.mode = LoopMode::kAsFastAsPossible;
    opt.max_steps = 200;
    ControlLoop loop(controller, hw, opt);
    LoopExit exit;
    {
      test::AllocCounter counter;
      exit = loop.Run();
      EXPECT_EQ(counter.new_calls(), 0) << name;
      EXPECT_EQ(counter.malloc_calls(), 0) << name;
    }
    EXPECT_EQ(exit, LoopExit::kStepLimit);
    const LoopStats& s = loop.stats();
    EXPECT_EQ(s.steps, 200u);
    EXPECT_EQ(s.commands, 200u);
    EXPECT_EQ(hw.commands().size(), 200u);
    EXPECT_EQ(hw.reads(), 200u);  // the start state serves the first step
    EXPECT_EQ(s.deadline_misses, 0u);
    EXPECT_LE(s.step_p50_us, s.step_p99_us);
    EXPECT_LE(s.step_p99_us, s.step_max_us);
    EXPECT_GT(s.step_max_us, 0);
    EXPECT_GT(s.step_mean_us, 0);
    EXPECT_FALSE(s.sched_fifo);  // not attempted in this mode
    for (const Command& c : hw.commands()) EXPECT_TRUE(c.q_target.allFinite());
    std::printf("%s: loop step p50 %.1f us, p99 %.1f us, max %.1f us (mock hardware)\n", name,
                s.step_p50_us, s.step_p99_us, s.step_max_us);
  }
}

TEST(ControlLoopTest, FixedRateOnAbsoluteDeadlines) {
  Controller controller(test::LoadTiny("tiny_mlp"), 1);
  MockHardware hw(Mock());
  LoopOptions opt;
  opt.mode = LoopMode::kRealtime;
  opt.rate_hz = 100;
  opt.step_budget_s = 1.0;  // a loaded test machine may wake late; no holds wanted here
  opt.max_steps = 10;
  ControlLoop loop(controller, hw, opt);
  EXPECT_DOUBLE_EQ(loop.period_s(), 0.01);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(loop.Run(), LoopExit::kStepLimit);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(elapsed, 9 * 0.01 - 1e-3);  // steps start at t, t + 10 ms, ..., t + 90 ms
  EXPECT_EQ(loop.stats().commands, 10u);
  EXPECT_GE(loop.stats().max_wake_jitter_us, 0);
  const nlohmann::json j = loop.stats().ToJson();
  EXPECT_EQ(j["exit"], "step_limit");
  EXPECT_EQ(j["steps"], 10);
  for (const char* key : {"p50", "p99", "max", "mean"})
    EXPECT_TRUE(j["step_time_us"].contains(key));
  EXPECT_TRUE(j.contains("sched_fifo"));
  EXPECT_TRUE(j["safety"]["events"].contains("deadline_miss"));
  const nlohmann::json& h = j["step_time_histogram"];
  ASSERT_EQ(h["edges_us"].size(), static_cast<size_t>(StepTimeHistogram::kBins + 1));
  ASSERT_EQ(h["counts"].size(), static_cast<size_t>(StepTimeHistogram::kBins + 2));
  uint64_t total = 0;
  for (const auto& c : h["counts"]) total += c.get<uint64_t>();
  EXPECT_EQ(total, 10u);  // every step counted once
  // Runs again from where the robot is.
  EXPECT_EQ(loop.Run(), LoopExit::kStepLimit);
  EXPECT_EQ(hw.commands().size(), 20u);
}

TEST(ControlLoopTest, StepTimeHistogramBinsLogSpaced) {
  StepTimeHistogram h;
  EXPECT_DOUBLE_EQ(StepTimeHistogram::Edge(0), 1.0);
  EXPECT_NEAR(StepTimeHistogram::Edge(StepTimeHistogram::kBins), 1e5, 1e-6);
  EXPECT_NEAR(StepTimeHistogram::Edge(8), 10.0, 1e-9);  // 8 bins per decade
  h.Add(0.5);                                           // underflow
  h.Add(1.0);                                           // first bin
  h.Add(10.5);                                          // [10, 13.3): bin 9
  h.Add(99999);                                         // last bin
  h.Add(2e5);                                           // overflow
  EXPECT_EQ(h.counts[0], 1u);
  EXPECT_EQ(h.counts[1], 1u);
  EXPECT_EQ(h.counts[9], 1u);
  EXPECT_EQ(h.counts[StepTimeHistogram::kBins], 1u);
  EXPECT_EQ(h.counts[StepTimeHistogram::kBins + 1], 1u);
}

TEST(ControlLoopTest, WarnsOnceWhenRealtimeSchedulingIsRefused) {
  Controller controller(test::LoadTiny("tiny_mlp"), 1);
  MockHardware hw(Mock());
  LoopOptions opt;
  opt.mode = LoopMode::kRealtime;
  opt.rate_hz = 200;
  opt.step_budget_s = 1.0;
  opt.max_steps = 3;
  opt.fifo_priority = 1000;  // invalid for SCHED_FIFO, even for root: always refused
  ControlLoop loop(controller, hw, opt);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(loop.Run(), LoopExit::kStepLimit);
  EXPECT_EQ(loop.Run(), LoopExit::kStepLimit);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("control loop: warning: running without full real-time support"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("SCHED_FIFO 1000"), std::string::npos) << err;
  EXPECT_EQ(err.find("warning", err.find("warning") + 1), std::string::npos) << "warned twice";
  EXPECT_FALSE(loop.stats().sched_fifo);
  EXPECT_EQ(hw.commands().size(), 6u);
}

TEST(ControlLoopTest, DefaultRateIsTheBundlesAndOptionsAreChecked) {
  Controller controller(test::LoadTiny("tiny_mlp"), 1);
  MockHardware hw(Mock());
  ControlLoop loop(controller, hw, LoopOptions());
  EXPECT_DOUBLE_EQ(loop.period_s(), 1.0 / 20);
  LoopOptions bad;
  bad.max_consecutive_misses = 0;
  EXPECT_THROW(ControlLoop(controller, hw, bad), std::invalid_argument);
  bad = LoopOptions();
  bad.rate_hz = -5;
  EXPECT_THROW(ControlLoop(controller, hw, bad), std::invalid_argument);
}

TEST(ControlLoopTest, StopsOnRequest) {
  Controller controller(test::LoadTiny("tiny_mlp"), 1);
  MockHardware hw(Mock());
  std::atomic<bool> stop{false};
  hw.SetPerturbation([&stop](std::uint64_t read, RobotState*) {
    if (read == 5) stop = true;
  });
  LoopOptions opt;
  opt.mode = LoopMode::kAsFastAsPossible;
  opt.stop = &stop;
  ControlLoop loop(controller, hw, opt);
  EXPECT_EQ(loop.Run(), LoopExit::kStopRequested);
  EXPECT_EQ(loop.stats().steps, 6u);  // the step that read 5 finishes
  EXPECT_EQ(hw.commands().size(), 6u);
  EXPECT_STREQ(LoopExitName(LoopExit::kStopRequested), "stop_requested");
}

}  // namespace
}  // namespace dreamforge::robot
