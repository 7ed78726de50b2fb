// dreamforge control --hardware udp through the fault-injecting bridge
// (tests/common/fault_bridge.h): the real binary, a checking fake robot in this process,
// a few short runs. Exit codes, the counts it prints and writes (--stats), and the
// robot's own checks: nothing it executed was outside its limits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "robot/kinematics.h"
#include "robot/panda_chain.h"
#include "tests/common/fault_bridge.h"
#include "tests/common/test_util.h"

namespace dreamforge {
namespace {

namespace fs = std::filesystem;
using test::Fault;
using test::FaultRates;
using ::testing::HasSubstr;

const std::string kTinyBundle = std::string(DF_SOURCE_DIR) + "/tests/robot/data/tiny_mlp";

robot::RobotState InitialState() {
  robot::RobotState s;
  s.q = robot::PandaHomeJoints();
  s.fingers.setConstant(0.04);
  s.object_position = Eigen::Vector3d(0.5, 0.0, 0.02);
  s.target_position = Eigen::Vector3d(0.4, 0.2, 0.0);
  return s;
}

Eigen::Vector3d StartTcp() {
  return robot::Kinematics(robot::PandaChain())
      .ToolPose(Eigen::VectorXd(InitialState().q))
      .translation();
}

FaultRates StateFaults() {
  FaultRates r;
  r.drop = 0.05;
  r.delay = 0.04;
  r.duplicate = 0.04;
  r.reorder = 0.04;
  r.corrupt = 0.04;
  r.poison = 0.02;
  return r;
}

// The same without poison, for runs that must start (a poisoned first state refuses it).
FaultRates CleanStart() {
  FaultRates r = StateFaults();
  r.poison = 0;
  return r;
}

FaultRates CommandFaults() {
  FaultRates r;
  r.drop = 0.05;
  r.delay = 0.05;
  r.duplicate = 0.05;
  r.reorder = 0.05;
  r.corrupt = 0.05;
  return r;
}

struct ControlRun {
  test::CmdResult result;
  nlohmann::json stats;
  test::LinkStats states, commands;
  test::RobotStats robot;
  std::vector<test::ReceivedCommand> received;
  std::set<std::uint64_t> non_finite;
};

class ControlFaultTest : public test::TempDirTest {
 protected:
  // One `control --hardware udp` run of `duration` s (tiny bundles: 20 Hz) through the
  // bridge, against a robot that checks `limits`.
  // silent_after: commands after which the bridge passes no more states.
  ControlRun Control(const std::string& bundle, const FaultRates& states,
                     const FaultRates& commands, std::uint32_t seed,
                     const test::RobotLimits& limits, const std::string& duration,
                     const std::string& extra = "", std::uint64_t silent_after = UINT64_MAX) {
    ControlRun run;
    test::CheckingRobot robot(robot::PandaChain(), limits, InitialState(), 0.002);
    test::FaultBridge bridge(states, commands, seed);
    bridge.SilenceStatesAfterCommands(silent_after);
    int listen_port;
    {
      test::LoopbackSocket probe;  // a free port for the controller, released for it
      listen_port = probe.port();
    }
    bridge.Start(static_cast<std::uint16_t>(listen_port), robot.port());
    robot.Start(bridge.robot_side_port());
    const std::string stats = (dir_ / ("stats" + std::to_string(seed) + ".json")).string();
    run.result = test::Shell(std::string(DF_DREAMFORGE_BIN) + " control --bundle " + bundle +
                             " --hardware udp --robot-address 127.0.0.1:" +
                             std::to_string(bridge.controller_side_port()) + " --listen-port " +
                             std::to_string(listen_port) + " --duration " + duration + " --stats " +
                             stats + " " + extra);
    bridge.Stop();
    test::LoopbackSocket().Wait(0.02);
    robot.Stop();
    run.states = bridge.state_stats();
    run.commands = bridge.command_stats();
    run.robot = robot.stats();
    run.received = robot.commands();
    run.non_finite = bridge.non_finite_seqs();
    std::ifstream in(stats);
    run.stats = nlohmann::json::parse(in, nullptr, false);
    return run;
  }

  static test::RobotLimits Limits() { return test::ChainLimits(robot::PandaChain(), 1.0 / 20); }

  // What holds for every run: the robot executed nothing outside its limits, nothing from
  // a non-finite state, no state twice; the controller's counts match what the bridge did.
  static void CheckRun(const ControlRun& r) {
    ASSERT_TRUE(r.stats.is_object()) << r.result.output;
    for (int v = 0; v < test::kViolationCount; ++v) {
      EXPECT_EQ(r.robot.violations[v], 0u)
          << test::ViolationName(static_cast<test::Violation>(v)) << "\n"
          << r.result.output;
    }
    std::uint64_t last_ack = 0;
    for (const test::ReceivedCommand& c : r.received) {
      if (c.command.hold) continue;
      EXPECT_EQ(r.non_finite.count(c.state_seq), 0u) << "command " << c.command.seq;
      EXPECT_GT(c.state_seq, last_ack) << "command " << c.command.seq;
      last_ack = c.state_seq;
    }
    const nlohmann::json& t = r.stats["timing"];
    const nlohmann::json& link = r.stats["link"];
    EXPECT_EQ(t["commands"], t["steps"]);
    EXPECT_EQ(link["sent"].get<std::uint64_t>(),
              r.commands.received);  // each command reached the bridge
    EXPECT_EQ(r.robot.received, r.commands.delivered);
    EXPECT_EQ(r.robot.dropped_checksum + r.robot.dropped_malformed, r.commands.corrupt_delivered);
    // The controller read some of what the bridge delivered (the rest came before it
    // listened or after it stopped): never more, and every corrupt one it read it dropped.
    EXPECT_LE(link["received"].get<std::uint64_t>(), r.states.delivered);
    EXPECT_LE(link["dropped_checksum"].get<std::uint64_t>() +
                  link["dropped_malformed"].get<std::uint64_t>(),
              r.states.corrupt_delivered);
    EXPECT_LE(t["safety_events"]["hardware_timeout"].get<std::uint64_t>(),
              t["hardware_timeouts"].get<std::uint64_t>());
    EXPECT_LT(t["step_time_us"]["max"].get<double>(), 1e6);  // generous: the read timeout is 10 ms
  }
};

TEST_F(ControlFaultTest, RunsThroughAFaultyLinkAndReportsWhatItSaw) {
  std::uint64_t dropped_checksum = 0, dropped_malformed = 0, dropped_stale = 0, timeouts = 0,
                holds = 0, steps = 0, executed = 0, robot_dropped = 0, corrupt_injected = 0,
                poison_injected = 0;
  int refused = 0;
  constexpr int kRuns = 3;
  for (std::uint32_t seed = 1; seed <= kRuns; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const ControlRun r =
        Control(kTinyBundle, StateFaults(), CommandFaults(), seed, Limits(), "1.5");
    EXPECT_THAT(r.result.output, HasSubstr("control udp link: "));
    if (r.stats.value("exit", std::string()) == "start_refused") {
      // The first state it read was poisoned: refused, exit 1, nothing sent.
      EXPECT_EQ(r.result.status, 1) << r.result.output;
      EXPECT_THAT(r.result.output,
                  HasSubstr("control: --hardware udp: start_refused after 0 steps"));
      EXPECT_EQ(r.robot.received, 0u);
      ++refused;
      continue;
    }
    ASSERT_EQ(r.result.status, 0) << r.result.output;
    EXPECT_THAT(r.result.output, HasSubstr("control udp: step_limit after 30 steps"));
    CheckRun(r);
    const nlohmann::json& link = r.stats["link"];
    dropped_checksum += link["dropped_checksum"].get<std::uint64_t>();
    dropped_malformed += link["dropped_malformed"].get<std::uint64_t>();
    dropped_stale += link["dropped_stale"].get<std::uint64_t>();
    timeouts += link["timeouts"].get<std::uint64_t>();
    holds += r.stats["timing"]["holds"].get<std::uint64_t>();
    steps += r.stats["timing"]["steps"].get<std::uint64_t>();
    executed += r.robot.executed;
    robot_dropped += r.robot.dropped_checksum + r.robot.dropped_malformed + r.robot.dropped_stale;
    corrupt_injected += r.states.count(Fault::kCorrupt);
    poison_injected += r.states.count(Fault::kPoison);
  }
  std::printf(
      "control --hardware udp, %d runs through the bridge: %llu steps, %llu holds, %llu executed "
      "by the robot; "
      "controller dropped %llu checksum, %llu malformed, %llu stale, %llu read timeouts; robot "
      "dropped %llu; "
      "states corrupted %llu, poisoned %llu\n",
      kRuns, static_cast<unsigned long long>(steps), static_cast<unsigned long long>(holds),
      static_cast<unsigned long long>(executed), static_cast<unsigned long long>(dropped_checksum),
      static_cast<unsigned long long>(dropped_malformed),
      static_cast<unsigned long long>(dropped_stale), static_cast<unsigned long long>(timeouts),
      static_cast<unsigned long long>(robot_dropped),
      static_cast<unsigned long long>(corrupt_injected),
      static_cast<unsigned long long>(poison_injected));
  RecordProperty("runs", kRuns);
  RecordProperty("steps", std::to_string(steps));
  RecordProperty("holds", std::to_string(holds));
  RecordProperty("controller_dropped_checksum", std::to_string(dropped_checksum));
  RecordProperty("controller_dropped_malformed", std::to_string(dropped_malformed));
  RecordProperty("controller_dropped_stale", std::to_string(dropped_stale));
  RecordProperty("controller_read_timeouts", std::to_string(timeouts));
  RecordProperty("robot_dropped", std::to_string(robot_dropped));
  // The faults reached the controller (else this proves nothing), and it still drove.
  EXPECT_LT(refused, kRuns);
  EXPECT_GT(dropped_checksum + dropped_malformed, 0u);
  EXPECT_GT(dropped_stale, 0u);
  EXPECT_GT(robot_dropped, 0u);
  EXPECT_GT(executed, steps / 4);
}

// At 200 Hz, through the faulty link, until the robot falls silent after 100 commands:
// the controller holds for its 5 missed reads, then gives up with exit 1. Its read timeout
// fits in the 5 ms period, so those holds go out on time.
TEST_F(ControlFaultTest, ASilentLinkIsAFailureExitWithHoldsUntilThen) {
  const fs::path fast = dir_ / "fast";
  fs::create_directories(fast);
  for (const auto& e : fs::directory_iterator(kTinyBundle))
    fs::copy_file(e.path(), fast / e.path().filename());
  {
    std::ifstream in(fast / "policy.json");
    nlohmann::json j = nlohmann::json::parse(in);
    j["control_hz"] = 200;
    std::ofstream(fast / "policy.json") << j.dump(1);
  }
  test::RobotLimits limits = Limits();
  limits.dt = 1.0 / 200;
  const ControlRun r = Control(fast.string(), CleanStart(), FaultRates(), 9, limits, "5", "", 100);
  EXPECT_EQ(r.result.status, 1) << r.result.output;
  EXPECT_THAT(r.result.output, HasSubstr("control: --hardware udp: hardware_lost after"));
  ASSERT_EQ(r.stats["exit"], "hardware_lost") << r.result.output;
  CheckRun(r);
  const nlohmann::json& t = r.stats["timing"];
  EXPECT_LE(r.stats["link"]["read_timeout_s"].get<double>(), 0.5 / 200);
  // Lost soon after the 100th command (or before it, on a machine so loaded that the robot's
  // thread missed 5 periods: the same outcome), after holding for the 5 misses.
  EXPECT_LT(t["steps"].get<std::uint64_t>(), 200u);
  EXPECT_GE(t["safety_events"]["hardware_timeout"].get<std::uint64_t>(), 5u);
  ASSERT_GE(r.received.size(), 5u);
  for (std::size_t k = r.received.size() - 5; k < r.received.size(); ++k) {
    EXPECT_TRUE(r.received[k].command.hold) << k;
  }
  std::printf(
      "silent link at 200 Hz: %s after %llu steps; read timeout %.4f s; step max %.0f us; overruns "
      "%llu\n",
      r.stats.value("exit", std::string("?")).c_str(),
      static_cast<unsigned long long>(t.value("steps", std::uint64_t{0})),
      r.stats["link"].value("read_timeout_s", 0.0), t["step_time_us"].value("max", 0.0),
      static_cast<unsigned long long>(t.value("overruns", std::uint64_t{0})));
}

// A bundle whose limits are looser than the robot's (a 20 m box, 100 m/s): alone it lets
// the policy leave the robot's box; with --robot-limits the robot's own apply.
TEST_F(ControlFaultTest, RobotLimitsBoundALooserBundle) {
  const fs::path loose = dir_ / "loose";
  fs::create_directories(loose);
  for (const auto& e : fs::directory_iterator(kTinyBundle))
    fs::copy_file(e.path(), loose / e.path().filename());
  {
    std::ifstream in(loose / "policy.json");
    nlohmann::json j = nlohmann::json::parse(in);
    j["safety"]["workspace_min"] = {-10, -10, -10};
    j["safety"]["workspace_max"] = {10, 10, 10};
    j["safety"]["max_eef_speed"] = 100;
    j["safety"]["max_joint_velocity"] = std::vector<double>(7, 100.0);
    j["safety"]["max_joint_acceleration"] = std::vector<double>(7, 1e6);
    j["safety"]["joint_margin"] = 0;
    std::ofstream(loose / "policy.json") << j.dump(1);
  }
  // This robot allows its TCP 5 mm around where it starts, at 0.05 m/s.
  const Eigen::Vector3d p = StartTcp();
  test::RobotLimits limits = Limits();
  limits.workspace_min = p - Eigen::Vector3d::Constant(0.005);
  limits.workspace_max = p + Eigen::Vector3d::Constant(0.005);
  limits.max_eef_speed = 0.05;
  const fs::path robot_limits = dir_ / "robot_limits.json";
  std::ofstream(robot_limits) << nlohmann::json{
      {"workspace_min",
       {limits.workspace_min.x(), limits.workspace_min.y(), limits.workspace_min.z()}},
      {"workspace_max",
       {limits.workspace_max.x(), limits.workspace_max.y(), limits.workspace_max.z()}},
      {"max_eef_speed", 0.05}}.dump();
  const ControlRun alone =
      Control(loose.string(), CleanStart(), CommandFaults(), 21, limits, "1.5");
  ASSERT_EQ(alone.result.status, 0) << alone.result.output;
  EXPECT_GT(alone.robot.violation(test::Violation::kWorkspace) +
                alone.robot.violation(test::Violation::kEefSpeed),
            0u)
      << "the policy never left the robot's box: this test shows nothing";
  EXPECT_EQ(alone.robot.violation(test::Violation::kJointPosition) +
                alone.robot.violation(test::Violation::kJointVelocity),
            0u);

  const ControlRun bound = Control(loose.string(), CleanStart(), CommandFaults(), 21, limits, "1.5",
                                   "--robot-limits " + robot_limits.string());
  ASSERT_EQ(bound.result.status, 0) << bound.result.output;
  CheckRun(bound);
  EXPECT_EQ(bound.stats["robot_limits"], robot_limits.string());
  EXPECT_EQ(bound.stats["safety_limits"]["max_eef_speed"], 0.05);
  EXPECT_EQ(bound.stats["safety_limits"]["max_joint_acceleration"][0],
            1e6);  // not in the file: the bundle's
  std::printf("loose bundle over udp: robot violations %llu alone, %llu with --robot-limits (%s)\n",
              static_cast<unsigned long long>(alone.robot.total_violations()),
              static_cast<unsigned long long>(bound.robot.total_violations()),
              bound.stats["timing"]["safety_events"].dump().c_str());
  RecordProperty("loose_bundle_violations_alone", std::to_string(alone.robot.total_violations()));
  RecordProperty("loose_bundle_violations_with_robot_limits",
                 std::to_string(bound.robot.total_violations()));

  // Bad files are refused before anything runs, naming the file and field.
  const fs::path bad = dir_ / "bad.json";
  for (const auto& [text, message] : std::vector<std::pair<std::string, std::string>>{
           {"[1]", "not a JSON object"},
           {"{\"max_speed\": 1}", "max_speed: unknown safety field"},
           {"{\"max_eef_speed\": -1}", "safety.max_eef_speed"},
           {"{\"workspace_min\": [20, 20, 20], \"workspace_max\": [21, 21, 21]}",
            "do not overlap"}}) {
    std::ofstream(bad) << text;
    const test::CmdResult r =
        test::Shell(std::string(DF_DREAMFORGE_BIN) + " control --bundle " + loose.string() +
                    " --hardware mock --duration 0.1 --robot-limits " + bad.string());
    EXPECT_EQ(r.status, 2) << text << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("--robot-limits")) << text;
    EXPECT_THAT(r.output, HasSubstr(message)) << text;
  }
}

}  // namespace
}  // namespace dreamforge
