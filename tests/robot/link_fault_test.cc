// The UDP robot link under faults (tests/common/fault_bridge.h): the controller drives a
// checking fake robot through a bridge that drops, delays, duplicates, reorders, corrupts
// and poisons packets and goes silent, at seeded rates, over many short real-time episodes.
// Whatever the link does, every command the robot executes is within the robot's own
// limits, no command is computed from a non-finite state, a stale state never yields a
// second command, and every fault the bridge injects is accounted for by the controller's
// or the robot's counters. Also bad policies and a bundle whose limits are looser than the
// robot's. Timing is measured and reported; pass/fail bounds on it are generous.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "robot/control_loop.h"
#include "robot/controller.h"
#include "robot/mock_hardware.h"
#include "robot/panda_chain.h"
#include "robot/udp_hardware.h"
#include "tests/common/fault_bridge.h"
#include "tests/robot/edge_test_util.h"

namespace dreamforge::robot {
namespace {

using test::CheckingRobot;
using test::Fault;
using test::FaultBridge;
using test::FaultRates;
using test::LinkStats;
using test::RobotLimits;
using test::RobotStats;
using test::Violation;

constexpr double kRateHz = 100;         // control rate of the episodes (the bundle's)
constexpr double kRobotPeriod = 0.002;  // the robot streams at 500 Hz
constexpr double kReadTimeout = 0.004;  // the controller waits at most 4 ms for a state
constexpr int kMaxMisses = 5;           // reads failing in a row before hardware_lost

RobotState InitialState() {
  RobotState s;
  s.q = PandaHomeJoints();
  s.fingers.setConstant(0.04);
  s.object_position = Eigen::Vector3d(0.5, 0.0, 0.02);
  s.target_position = Eigen::Vector3d(0.4, 0.2, 0.0);
  return s;
}

// A bundle at kRateHz (so the filter's rates are per 10 ms step).
std::shared_ptr<const Bundle> AtRate(const Bundle& b) {
  Bundle copy = b;
  copy.control_hz = kRateHz;
  return std::make_shared<const Bundle>(copy);
}

// The robot of the tiny bundles: the chain's joint limits and velocities, and the tiny
// bundles' TCP box and speed as the robot's own.
RobotLimits TrueLimits(const Bundle& tiny) {
  RobotLimits l = test::ChainLimits(tiny.robot.chain, 1.0 / kRateHz);
  l.workspace_min = tiny.safety.workspace_min;
  l.workspace_max = tiny.safety.workspace_max;
  l.max_eef_speed = tiny.safety.max_eef_speed;
  return l;
}

FaultRates StateFaults() {
  FaultRates r;
  r.drop = 0.05;
  r.delay = 0.04;
  r.max_delay_s = 0.02;
  r.duplicate = 0.04;
  r.reorder = 0.04;
  r.corrupt = 0.04;
  r.poison = 0.02;
  r.silence = 0.002;
  r.min_silence = 5;   // 10 ms
  r.max_silence = 50;  // 100 ms: longer than kMaxMisses periods, the controller gives up
  return r;
}

FaultRates CommandFaults() {
  FaultRates r;
  r.drop = 0.03;
  r.delay = 0.03;
  r.max_delay_s = 0.02;
  r.duplicate = 0.03;
  r.reorder = 0.03;
  r.corrupt = 0.03;
  return r;
}

struct Episode {
  LoopExit exit = LoopExit::kStepLimit;
  LoopStats loop;
  UdpStats udp;                     // after the final drain
  std::uint64_t loop_timeouts = 0;  // UdpHardware timeouts during the loop
  LinkStats states, commands;
  RobotStats robot;
  std::vector<test::ReceivedCommand> received;
  std::set<std::uint64_t> non_finite, absurd;
  std::map<std::uint64_t, double> delayed;
  double wall_s = 0;
};

// One real-time episode of `steps` steps through the bridge.
Episode RunEpisode(const std::shared_ptr<const Bundle>& bundle, const RobotLimits& limits,
                   const FaultRates& state_faults, const FaultRates& command_faults,
                   std::uint32_t seed, std::uint64_t steps) {
  Episode e;
  CheckingRobot robot(bundle->robot.chain, limits, InitialState(), kRobotPeriod);
  FaultBridge bridge(state_faults, command_faults, seed);
  UdpHardwareConfig cfg;
  cfg.local_address = "127.0.0.1";
  cfg.robot_address = "127.0.0.1";
  cfg.robot_port = bridge.controller_side_port();
  cfg.read_timeout_s = kReadTimeout;
  UdpHardware hw(cfg);
  bridge.Start(hw.local_port(), robot.port());
  robot.Start(bridge.robot_side_port());
  Controller controller(bundle, seed);
  LoopOptions opt;
  opt.mode = LoopMode::kRealtime;
  opt.realtime_scheduling = false;
  opt.max_steps = steps;
  opt.max_consecutive_misses = kMaxMisses;
  ControlLoop loop(controller, hw, opt);
  const double t0 = test::MonotonicSeconds();
  e.exit = loop.Run();
  e.wall_s = test::MonotonicSeconds() - t0;
  e.loop = loop.stats();
  e.loop_timeouts = hw.stats().timeouts;
  // Let everything in flight arrive and be counted: the bridge delivers what it holds, the
  // robot reads its queue once more, the controller's socket is drained.
  bridge.Stop();
  test::LoopbackSocket().Wait(0.02);
  robot.Stop();
  RobotState s;
  while (hw.Read(&s) == HardwareStatus::kOk) {
  }
  e.udp = hw.stats();
  e.states = bridge.state_stats();
  e.commands = bridge.command_stats();
  e.robot = robot.stats();
  e.received = robot.commands();
  e.non_finite = bridge.non_finite_seqs();
  e.absurd = bridge.absurd_seqs();
  e.delayed = bridge.delayed_seqs();
  return e;
}

// What must hold for every episode, whatever the faults.
void CheckEpisode(const Episode& e) {
  // Nothing unsafe reached the robot.
  for (int v = 0; v < test::kViolationCount; ++v) {
    EXPECT_EQ(e.robot.violations[v], 0u)
        << "robot-side violation " << test::ViolationName(static_cast<Violation>(v));
  }
  // No command from a non-finite state, and no state used twice (no stale command): the
  // states acknowledged by executed commands strictly increase.
  std::uint64_t last_ack = 0;
  for (const test::ReceivedCommand& r : e.received) {
    EXPECT_TRUE(r.command.q_target.allFinite() && std::isfinite(r.command.gripper))
        << r.command.seq;
    if (r.command.hold) continue;
    EXPECT_EQ(e.non_finite.count(r.state_seq), 0u)
        << "command " << r.command.seq << " from poisoned state " << r.state_seq;
    EXPECT_GT(r.state_seq, last_ack)
        << "command " << r.command.seq << " reuses state " << r.state_seq;
    last_ack = r.state_seq;
  }
  // Every fault on the way to the controller is accounted for by UdpHardware.
  EXPECT_EQ(e.udp.received, e.states.delivered);
  EXPECT_EQ(e.udp.dropped_checksum + e.udp.dropped_malformed, e.states.corrupt_delivered);
  EXPECT_GE(e.udp.dropped_stale, e.states.count(Fault::kDuplicate));
  EXPECT_LE(e.udp.dropped_stale, e.states.count(Fault::kDuplicate) +
                                     e.states.count(Fault::kReorder) +
                                     e.states.count(Fault::kDelay));
  // ... and on the way to the robot by the robot's receiving rules.
  EXPECT_EQ(e.commands.received, e.udp.sent);
  EXPECT_EQ(e.robot.received, e.commands.delivered);
  EXPECT_EQ(e.robot.dropped_checksum + e.robot.dropped_malformed, e.commands.corrupt_delivered);
  EXPECT_GE(e.robot.dropped_stale, e.commands.count(Fault::kDuplicate));
  EXPECT_LE(e.robot.dropped_stale, e.commands.count(Fault::kDuplicate) +
                                       e.commands.count(Fault::kReorder) +
                                       e.commands.count(Fault::kDelay));
  // The loop: one command per step, every missed read and late step held.
  EXPECT_EQ(e.loop.commands, e.loop.steps);
  EXPECT_EQ(e.udp.sent + e.loop.write_errors, e.loop.commands);
  EXPECT_EQ(e.loop.hardware_timeouts, e.loop_timeouts);
  // Timeouts before the first state send nothing; after it, each one sends a hold.
  const std::uint64_t held_timeouts = e.loop.safety.count(SafetyEvent::kHardwareTimeout);
  EXPECT_LE(held_timeouts, e.loop.hardware_timeouts);
  if (e.loop.commands == 0) {
    EXPECT_EQ(held_timeouts, 0u);
  } else {
    EXPECT_LT(e.loop.hardware_timeouts - held_timeouts, static_cast<std::uint64_t>(kMaxMisses));
  }
  EXPECT_EQ(e.loop.safety.count(SafetyEvent::kDeadlineMiss), e.loop.deadline_misses);
  EXPECT_EQ(e.loop.holds, e.loop.safety.holds);
  if (e.exit == LoopExit::kHardwareLost) {
    EXPECT_GE(e.loop.hardware_timeouts + e.loop.hardware_errors,
              static_cast<std::uint64_t>(kMaxMisses));
  }
  if (e.exit == LoopExit::kStartRefused) {
    EXPECT_EQ(e.loop.commands, 0u);
  }
  // Never blocked: a step waits at most the read timeout plus its computation. Generous
  // bound (loaded machines, qemu); the measured values are reported.
  EXPECT_LT(e.loop.step_max_us, 500e3);
}

struct Totals {
  int episodes = 0;
  std::array<int, 4> exits{};
  std::array<std::uint64_t, test::kFaultCount> state_faults{}, command_faults{};
  std::array<std::uint64_t, test::kPoisonCount> poisons{};
  std::uint64_t silenced = 0, steps = 0, holds = 0, executed = 0;
  UdpStats udp;
  RobotStats robot;
  std::array<std::uint64_t, kSafetyEventCount> safety{};
  std::uint64_t absurd_commands = 0;   // executed commands computed from an absurd (finite) state
  std::uint64_t delayed_commands = 0;  // executed commands computed from a delayed state
  double max_delay_used_s = 0;         // the longest delay of such a state
  std::uint64_t poison_used = 0;       // poisoned states acknowledged by a command the robot got
  double max_step_us = 0, max_p99_us = 0, wall_s = 0;

  void Add(const Episode& e) {
    ++episodes;
    ++exits[static_cast<int>(e.exit)];
    for (int k = 0; k < test::kFaultCount; ++k) {
      state_faults[k] += e.states.injected[k];
      command_faults[k] += e.commands.injected[k];
    }
    for (int k = 0; k < test::kPoisonCount; ++k) poisons[k] += e.states.poisons[k];
    silenced += e.states.silenced;
    steps += e.loop.steps;
    holds += e.loop.holds;
    executed += e.robot.executed;
    udp.received += e.udp.received;
    udp.accepted += e.udp.accepted;
    udp.dropped_checksum += e.udp.dropped_checksum;
    udp.dropped_malformed += e.udp.dropped_malformed;
    udp.dropped_stale += e.udp.dropped_stale;
    udp.timeouts += e.loop_timeouts;
    robot.received += e.robot.received;
    robot.dropped_checksum += e.robot.dropped_checksum;
    robot.dropped_malformed += e.robot.dropped_malformed;
    robot.dropped_stale += e.robot.dropped_stale;
    for (int v = 0; v < test::kViolationCount; ++v) robot.violations[v] += e.robot.violations[v];
    for (int k = 0; k < kSafetyEventCount; ++k) safety[k] += e.loop.safety.counts[k];
    std::set<std::uint64_t> used;
    for (const test::ReceivedCommand& r : e.received) {
      if (!r.command.hold && e.absurd.count(r.state_seq)) ++absurd_commands;
      if (e.absurd.count(r.state_seq) || e.non_finite.count(r.state_seq)) used.insert(r.state_seq);
      const auto late = e.delayed.find(r.state_seq);
      if (!r.command.hold && late != e.delayed.end()) {
        ++delayed_commands;
        max_delay_used_s = std::max(max_delay_used_s, late->second);
      }
    }
    poison_used += used.size();
    max_step_us = std::max(max_step_us, e.loop.step_max_us);
    max_p99_us = std::max(max_p99_us, e.loop.step_p99_us);
    wall_s += e.wall_s;
  }
  std::uint64_t Safety(SafetyEvent e) const { return safety[static_cast<int>(e)]; }
};

// Prints the fault table and records every number as a test property (ctest's XML).
void Report(const Totals& t) {
  auto sf = [&](Fault f) { return t.state_faults[static_cast<int>(f)]; };
  auto cf = [&](Fault f) { return t.command_faults[static_cast<int>(f)]; };
  std::printf(
      "link faults over %d episodes (%llu steps, %.1f s; exits: %d step_limit, %d hardware_lost, "
      "%d start_refused)\n",
      t.episodes, static_cast<unsigned long long>(t.steps), t.wall_s, t.exits[0], t.exits[2],
      t.exits[3]);
  std::printf("  %-28s %9s   %s\n", "fault (direction)", "injected", "seen -> handled");
  const auto row = [](const char* what, std::uint64_t injected, const std::string& seen) {
    std::printf("  %-28s %9llu   %s\n", what, static_cast<unsigned long long>(injected),
                seen.c_str());
  };
  const auto n = [](std::uint64_t v) { return std::to_string(v); };
  row("state drop", sf(Fault::kDrop),
      "read timeouts " + n(t.udp.timeouts) + " (with silence) -> holds " +
          n(t.Safety(SafetyEvent::kHardwareTimeout)));
  row("state silence (stretches)", sf(Fault::kSilence),
      n(t.silenced) + " states not forwarded; hardware_lost " +
          n(static_cast<std::uint64_t>(t.exits[2])));
  row("state delay", sf(Fault::kDelay),
      "overtaken ones dropped as stale (below); " + n(t.delayed_commands) +
          " executed commands came from a delayed state that was still the newest (delay up to " +
          std::to_string(static_cast<int>(1000 * t.max_delay_used_s)) + " ms)");
  row("state duplicate", sf(Fault::kDuplicate),
      "stale drops " + n(t.udp.dropped_stale) + " (dup+reorder+late)");
  row("state reorder", sf(Fault::kReorder), "in the stale drops");
  row("state corrupt", sf(Fault::kCorrupt),
      "checksum " + n(t.udp.dropped_checksum) + " + malformed " + n(t.udp.dropped_malformed) +
          " -> dropped");
  row("state poison", sf(Fault::kPoison),
      "non_finite_observation " + n(t.Safety(SafetyEvent::kNonFiniteObservation)) +
          " + non_finite_policy " + n(t.Safety(SafetyEvent::kNonFinitePolicy)) +
          " + implausible_observation " + n(t.Safety(SafetyEvent::kImplausibleObservation)) +
          " -> holds (" + n(t.poison_used) +
          " poisoned states were a step's newest); executed from absurd ones " +
          n(t.absurd_commands) + " (within limits)");
  row("command drop", cf(Fault::kDrop), "robot: never arrives (rates checked per period)");
  row("command delay", cf(Fault::kDelay), "robot: late ones dropped as stale");
  row("command duplicate", cf(Fault::kDuplicate), "robot stale drops " + n(t.robot.dropped_stale));
  row("command reorder", cf(Fault::kReorder), "in the robot's stale drops");
  row("command corrupt", cf(Fault::kCorrupt),
      "robot checksum " + n(t.robot.dropped_checksum) + " + malformed " +
          n(t.robot.dropped_malformed) + " -> dropped");
  std::printf(
      "  deadline misses %llu -> holds; holds %llu of %llu commands; executed by the robot %llu\n",
      static_cast<unsigned long long>(t.Safety(SafetyEvent::kDeadlineMiss)),
      static_cast<unsigned long long>(t.holds), static_cast<unsigned long long>(t.steps),
      static_cast<unsigned long long>(t.executed));
  std::printf("  robot-side violations %llu; step time max %.0f us (worst episode p99 %.0f us)\n",
              static_cast<unsigned long long>(t.robot.total_violations()), t.max_step_us,
              t.max_p99_us);

  using ::testing::Test;
  Test::RecordProperty("episodes", t.episodes);
  Test::RecordProperty("steps", std::to_string(t.steps));
  Test::RecordProperty("exit_hardware_lost", t.exits[2]);
  Test::RecordProperty("exit_start_refused", t.exits[3]);
  for (int k = 1; k < test::kFaultCount; ++k) {
    const std::string name = test::FaultName(static_cast<Fault>(k));
    Test::RecordProperty("injected_state_" + name, std::to_string(t.state_faults[k]));
    if (k != static_cast<int>(Fault::kPoison) && k != static_cast<int>(Fault::kSilence)) {
      Test::RecordProperty("injected_command_" + name, std::to_string(t.command_faults[k]));
    }
  }
  Test::RecordProperty("seen_controller_read_timeouts", std::to_string(t.udp.timeouts));
  Test::RecordProperty("seen_controller_dropped_checksum", std::to_string(t.udp.dropped_checksum));
  Test::RecordProperty("seen_controller_dropped_malformed",
                       std::to_string(t.udp.dropped_malformed));
  Test::RecordProperty("seen_controller_dropped_stale", std::to_string(t.udp.dropped_stale));
  Test::RecordProperty("seen_robot_dropped_checksum", std::to_string(t.robot.dropped_checksum));
  Test::RecordProperty("seen_robot_dropped_malformed", std::to_string(t.robot.dropped_malformed));
  Test::RecordProperty("seen_robot_dropped_stale", std::to_string(t.robot.dropped_stale));
  for (int k = 0; k < kSafetyEventCount; ++k) {
    Test::RecordProperty(std::string("handled_") + SafetyEventName(static_cast<SafetyEvent>(k)),
                         std::to_string(t.safety[k]));
  }
  Test::RecordProperty("poisoned_states_used", std::to_string(t.poison_used));
  Test::RecordProperty("commands_from_delayed_states", std::to_string(t.delayed_commands));
  Test::RecordProperty("holds", std::to_string(t.holds));
  Test::RecordProperty("robot_executed", std::to_string(t.executed));
  Test::RecordProperty("robot_violations", std::to_string(t.robot.total_violations()));
  Test::RecordProperty("step_max_us", std::to_string(static_cast<long>(t.max_step_us)));
  Test::RecordProperty("step_p99_us_worst_episode",
                       std::to_string(static_cast<long>(t.max_p99_us)));
}

TEST(FaultScheduleTest, SeededAndAtTheConfiguredRates) {
  const FaultRates rates = StateFaults();
  test::FaultSchedule a(rates, 7, kStatePacketSize), b(rates, 7, kStatePacketSize),
      c(rates, 8, kStatePacketSize);
  std::array<int, test::kFaultCount> counts{};
  int differ = 0;
  constexpr int kDraws = 100000;
  for (int i = 0; i < kDraws; ++i) {
    const test::FaultDecision x = a.Next(), y = b.Next(), z = c.Next();
    ASSERT_EQ(x.fault, y.fault) << i;
    ASSERT_EQ(x.delay_s, y.delay_s) << i;
    ASSERT_EQ(x.corrupt_at, y.corrupt_at) << i;
    ASSERT_EQ(x.corrupt_mask, y.corrupt_mask) << i;
    ASSERT_EQ(x.poison, y.poison) << i;
    ASSERT_EQ(x.silence, y.silence) << i;
    differ += x.fault != z.fault;
    if (x.silence >= 0) ++counts[static_cast<int>(x.fault)];
  }
  EXPECT_GT(differ, 1000);  // another seed, another schedule
  // Packets outside silent stretches draw their fault at the configured rate (5 sigma).
  int drawn = 0;
  for (int k = 0; k < test::kFaultCount; ++k) drawn += counts[k];
  const auto expect_rate = [&](Fault f, double p) {
    const double sigma = std::sqrt(p * (1 - p) / drawn);
    EXPECT_NEAR(static_cast<double>(counts[static_cast<int>(f)]) / drawn, p, 5 * sigma)
        << test::FaultName(f);
  };
  expect_rate(Fault::kDrop, rates.drop);
  expect_rate(Fault::kDelay, rates.delay);
  expect_rate(Fault::kDuplicate, rates.duplicate);
  expect_rate(Fault::kReorder, rates.reorder);
  expect_rate(Fault::kCorrupt, rates.corrupt);
  expect_rate(Fault::kPoison, rates.poison);
  expect_rate(Fault::kSilence, rates.silence);
}

// Many episodes of both tiny policies through the faulty link.
TEST(LinkFaultTest, EveryFaultIsCountedAndNothingUnsafeReachesTheRobot) {
  const Bundle mlp = *test::LoadTiny("tiny_mlp");
  const Bundle flow = *test::LoadTiny("tiny_flow");
  const RobotLimits limits = TrueLimits(mlp);
  Totals t;
  constexpr int kEpisodes = 12;
  for (int k = 0; k < kEpisodes; ++k) {
    SCOPED_TRACE("episode " + std::to_string(k) + " (seed " + std::to_string(1000 + k) + ")");
    const Episode e = RunEpisode(AtRate(k % 2 ? flow : mlp), limits, StateFaults(), CommandFaults(),
                                 static_cast<std::uint32_t>(1000 + k), 60);
    CheckEpisode(e);
    t.Add(e);
  }
  Report(t);
  // The faults happened and were seen (else this test proves nothing).
  for (const Fault f : {Fault::kDrop, Fault::kDelay, Fault::kDuplicate, Fault::kReorder,
                        Fault::kCorrupt, Fault::kPoison, Fault::kSilence}) {
    EXPECT_GT(t.state_faults[static_cast<int>(f)], 0u) << test::FaultName(f);
    if (f != Fault::kPoison && f != Fault::kSilence) {
      EXPECT_GT(t.command_faults[static_cast<int>(f)], 0u) << test::FaultName(f);
    }
  }
  EXPECT_GT(t.udp.dropped_checksum, 0u);
  EXPECT_GT(t.udp.dropped_malformed, 0u);
  EXPECT_GT(t.udp.dropped_stale, 0u);
  EXPECT_GT(t.robot.dropped_checksum + t.robot.dropped_malformed, 0u);
  EXPECT_GT(t.robot.dropped_stale, 0u);
  EXPECT_GT(t.Safety(SafetyEvent::kHardwareTimeout), 0u);
  EXPECT_GT(t.Safety(SafetyEvent::kNonFiniteObservation), 0u);
  // ... and the controller still drove the robot (loose bounds: a starved machine makes
  // more reads time out, which is handled, not wrong).
  EXPECT_GE(t.exits[0], 1);
  EXPECT_GT(t.executed, t.steps / 4);
}

// Policies gone wrong, through the same faulty link: the filter's counts show each was
// caught, and the robot executed nothing outside its limits.
TEST(LinkFaultTest, BadPoliciesNeverReachTheRobot) {
  const Bundle tiny = *test::LoadTiny("tiny_mlp");
  const RobotLimits limits = TrueLimits(tiny);
  FaultRates mild = StateFaults();
  mild.silence = 0;  // whole episodes, so each policy runs its 60 steps
  mild.poison = 0;

  Bundle nan = tiny;
  nan.layers.back().bias[3] = std::numeric_limits<float>::quiet_NaN();
  Bundle huge = tiny;
  huge.layers.back().bias.setConstant(1e30f);
  Vector7f at_limit;  // down and turning as fast as the action allows, gripper closed
  at_limit << 0, 0, -1, 0, 0, 1, 1;
  struct Case {
    const char* name;
    Bundle bundle;
  };
  for (const Case& c : {Case{"nan", nan}, Case{"huge", huge},
                        Case{"constant_at_limit", *test::ConstantPolicy(at_limit)}}) {
    SCOPED_TRACE(c.name);
    const Episode e = RunEpisode(AtRate(c.bundle), limits, mild, CommandFaults(), 77, 60);
    CheckEpisode(e);
    EXPECT_EQ(e.exit, LoopExit::kStepLimit);
    const SafetyReport& s = e.loop.safety;
    std::printf(
        "policy %-17s: %llu steps, %llu holds, %llu clamped; executed %llu; events:", c.name,
        static_cast<unsigned long long>(e.loop.steps), static_cast<unsigned long long>(s.holds),
        static_cast<unsigned long long>(s.clamped_steps),
        static_cast<unsigned long long>(e.robot.executed));
    for (int k = 0; k < kSafetyEventCount; ++k) {
      if (s.counts[k] > 0)
        std::printf(" %s=%llu", SafetyEventName(static_cast<SafetyEvent>(k)),
                    static_cast<unsigned long long>(s.counts[k]));
    }
    std::printf("; robot violations %llu\n",
                static_cast<unsigned long long>(e.robot.total_violations()));
    ::testing::Test::RecordProperty(std::string("policy_") + c.name + "_holds",
                                    std::to_string(s.holds));
    ::testing::Test::RecordProperty(std::string("policy_") + c.name + "_clamped",
                                    std::to_string(s.clamped_steps));
    ::testing::Test::RecordProperty(std::string("policy_") + c.name + "_robot_violations",
                                    std::to_string(e.robot.total_violations()));
    if (std::string(c.name) == "nan") {
      // Every step was held: for the policy's NaN, or because its state came late or not at
      // all (one late step can count as both a deadline miss and a hardware timeout, as under
      // qemu on a loaded machine: 58 + 2 + 2 events in 60 steps); nothing executed.
      EXPECT_EQ(s.holds, e.loop.steps);
      EXPECT_GE(s.count(SafetyEvent::kNonFinitePolicy) + e.loop.hardware_timeouts +
                    e.loop.deadline_misses,
                e.loop.steps);
      EXPECT_LE(s.count(SafetyEvent::kNonFinitePolicy), e.loop.steps);
      EXPECT_EQ(e.robot.executed, 0u);
    } else {
      EXPECT_GT(s.clamped_steps + s.count(SafetyEvent::kWorkspaceClamp) +
                    s.count(SafetyEvent::kWorkspaceHold),
                0u);
      EXPECT_GT(e.robot.executed, 0u);
    }
  }
}

// A bundle that allows more than the robot does (a TCP box through the table, 100 m/s, no
// joint margin, joint speeds above the motors'): joint limits and speeds come from the
// chain, so those stay safe anyway; the robot's own box and TCP speed hold only when the
// controller is told them (TighterLimits, `control --robot-limits`).
TEST(LinkFaultTest, ABundleLooserThanTheRobotIsBoundByTheRobotsLimits) {
  const Bundle tiny = *test::LoadTiny("tiny_mlp");
  // This robot's own TCP floor is 10 cm below where it starts, its TCP speed 0.5 m/s.
  SafetyLimits robot_limits = tiny.safety;
  robot_limits.workspace_min.z() =
      Kinematics(tiny.robot.chain).ToolPose(Eigen::VectorXd(InitialState().q)).translation().z() -
      0.1;
  robot_limits.max_eef_speed = 0.5;
  RobotLimits limits = TrueLimits(tiny);
  limits.workspace_min = robot_limits.workspace_min;
  limits.max_eef_speed = robot_limits.max_eef_speed;
  Vector7f down = Vector7f::Zero();  // straight down, into the table
  down[2] = -1.0f;
  down[6] = -1.0f;
  Bundle loose = *test::ConstantPolicy(down);
  loose.safety.workspace_min = Eigen::Vector3d::Constant(-10);
  loose.safety.workspace_max = Eigen::Vector3d::Constant(10);
  loose.safety.max_eef_speed = 100;
  loose.safety.max_joint_velocity.setConstant(100);
  loose.safety.max_joint_acceleration.setConstant(1e6);
  loose.safety.joint_margin = 0;
  FaultRates mild = StateFaults();
  mild.silence = 0;
  mild.poison = 0;

  // The bundle alone: the robot's checks catch the commands below its floor and too fast
  // for it (this is what the robot side would have to refuse), never its joint limits.
  const Episode unbounded = RunEpisode(AtRate(loose), limits, mild, CommandFaults(), 5, 60);
  EXPECT_GT(unbounded.robot.violation(Violation::kWorkspace) +
                unbounded.robot.violation(Violation::kEefSpeed),
            0u)
      << "the checking robot did not notice a bundle looser than its limits";
  EXPECT_EQ(unbounded.robot.violation(Violation::kJointPosition), 0u);
  EXPECT_EQ(unbounded.robot.violation(Violation::kJointVelocity), 0u);
  EXPECT_EQ(unbounded.robot.violation(Violation::kNonFinite), 0u);

  // Bound by the robot's limits: nothing unsafe, and the filter's counts show the work.
  Bundle bounded = loose;
  bounded.safety = TighterLimits(loose.safety, robot_limits);
  EXPECT_EQ(bounded.safety.workspace_min, robot_limits.workspace_min);
  EXPECT_EQ(bounded.safety.max_eef_speed, robot_limits.max_eef_speed);
  EXPECT_EQ(bounded.safety.joint_margin, tiny.safety.joint_margin);
  const Episode e = RunEpisode(AtRate(bounded), limits, mild, CommandFaults(), 5, 60);
  CheckEpisode(e);
  EXPECT_GT(e.loop.safety.count(SafetyEvent::kWorkspaceClamp), 0u);
  EXPECT_GT(e.robot.executed, 0u);
  std::printf(
      "loose bundle: robot violations %llu (workspace %llu, eef_speed %llu) alone, %llu bound by "
      "the robot's "
      "limits (workspace clamps %llu, holds %llu)\n",
      static_cast<unsigned long long>(unbounded.robot.total_violations()),
      static_cast<unsigned long long>(unbounded.robot.violation(Violation::kWorkspace)),
      static_cast<unsigned long long>(unbounded.robot.violation(Violation::kEefSpeed)),
      static_cast<unsigned long long>(e.robot.total_violations()),
      static_cast<unsigned long long>(e.loop.safety.count(SafetyEvent::kWorkspaceClamp)),
      static_cast<unsigned long long>(e.loop.safety.holds));
  ::testing::Test::RecordProperty("loose_bundle_violations_unbounded",
                                  std::to_string(unbounded.robot.total_violations()));
  ::testing::Test::RecordProperty("loose_bundle_violations_bounded",
                                  std::to_string(e.robot.total_violations()));

  robot_limits.workspace_min = Eigen::Vector3d::Constant(20);
  robot_limits.workspace_max = Eigen::Vector3d::Constant(21);
  EXPECT_THROW(TighterLimits(loose.safety, robot_limits), std::invalid_argument);
}

}  // namespace
}  // namespace dreamforge::robot

namespace dreamforge::robot {
namespace {

// A state whose joints are finite but beyond the chain's limits (a glitched packet, wrong
// units): as the first state it would have become the filter's "last safe target" (the
// commands then went out at q[3] = 999999.97 rad); later, the policy would have computed
// from it. Refused at the start, held on afterwards.
TEST(LinkFaultTest, AnAbsurdStateIsNeitherTheStartNorAPolicyInput) {
  const RobotLimits limits = test::ChainLimits(PandaChain(), 0.05);
  const auto within = [&](const Command& c) {
    return (c.q_target.array() >= limits.lower.array()).all() &&
           (c.q_target.array() <= limits.upper.array()).all();
  };
  MockHardwareConfig cfg;
  cfg.q0 = PandaHomeJoints();
  cfg.object_position = Eigen::Vector3d(0.5, 0.0, 0.02);
  LoopOptions opt;
  opt.mode = LoopMode::kAsFastAsPossible;
  opt.max_steps = 6;
  opt.step_budget_s = 1.0;
  // joint 4 (index 3) has limits [-3.0718, -0.0698]; 0.02 rad of overshoot is tolerated.
  for (const double bad : {1e6, 4.0, -3.5, -0.0698 + 0.021}) {
    SCOPED_TRACE(bad);
    for (const std::uint64_t when : {0, 3}) {
      Controller controller(test::LoadTiny("tiny_mlp"), 1);
      MockHardware hw(cfg);
      hw.SetPerturbation([bad, when](std::uint64_t read, RobotState* s) {
        if (read == when) s->q[3] = bad;
      });
      ControlLoop loop(controller, hw, opt);
      const LoopExit exit = loop.Run();
      for (const Command& c : hw.commands())
        EXPECT_TRUE(within(c)) << "command " << c.seq << ": " << c.q_target.transpose();
      if (when == 0) {
        EXPECT_EQ(exit, LoopExit::kStartRefused);
        EXPECT_EQ(hw.commands_received(), 0u);
      } else {
        EXPECT_EQ(exit, LoopExit::kStepLimit);
        ASSERT_EQ(hw.commands().size(), 6u);
        for (std::size_t k = 0; k < 6; ++k) EXPECT_EQ(hw.commands()[k].hold, k == when) << k;
        EXPECT_EQ(loop.stats().safety.count(SafetyEvent::kImplausibleObservation), 1u);
        EXPECT_EQ(loop.stats().holds, 1u);
      }
    }
  }
  // Within the tolerance: a robot a little past its limit still starts, and is not pushed
  // further out.
  Controller controller(test::LoadTiny("tiny_mlp"), 1);
  MockHardware hw(cfg);
  hw.SetPerturbation([](std::uint64_t read, RobotState* s) {
    if (read == 0) s->q[3] = -0.0698 + 0.015;
  });
  ControlLoop loop(controller, hw, opt);
  EXPECT_EQ(loop.Run(), LoopExit::kStepLimit);
  for (const Command& c : hw.commands()) EXPECT_LE(c.q_target[3], -0.0698 + 0.015) << c.seq;
}

}  // namespace
}  // namespace dreamforge::robot
