#include "robot/udp_hardware.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>
#include <memory>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "robot/control_loop.h"
#include "robot/controller.h"
#include "robot/panda_chain.h"
#include "robot/udp_protocol.h"
#include "tests/common/fault_bridge.h"
#include "tests/robot/alloc_counter.h"
#include "tests/robot/edge_test_util.h"

namespace dreamforge::robot {
namespace {

using ::testing::HasSubstr;

RobotState SampleState(std::uint64_t seq) {
  RobotState s;
  s.seq = seq;
  s.time = 0.125 * static_cast<double>(seq);
  s.q = PandaHomeJoints();
  s.qd = Vector7d::LinSpaced(-0.3, 0.3);
  s.fingers = Eigen::Vector2d(0.031, 0.032);
  s.object_position = Eigen::Vector3d(0.5, -0.1, 0.02);
  s.object_quaternion = Eigen::Vector4d(0, 0, 0.6, 0.8);
  s.target_position = Eigen::Vector3d(0.4, 0.2, 0.0);
  return s;
}

TEST(UdpProtocolTest, Crc32CheckValue) {
  const char* s = "123456789";
  EXPECT_EQ(Crc32(reinterpret_cast<const std::uint8_t*>(s), 9), 0xCBF43926u);
  EXPECT_EQ(Crc32(nullptr, 0), 0u);
}

TEST(UdpProtocolTest, StateRoundTripAndLayout) {
  std::uint8_t buf[kStatePacketSize];
  const RobotState s = SampleState(77);
  EncodeState(s, buf);
  // Header: "DFRB", version 1, type 1, seq 77, all little-endian.
  EXPECT_EQ(std::memcmp(buf, "DFRB", 4), 0);
  EXPECT_EQ(buf[4], 1);
  EXPECT_EQ(buf[5], 0);
  EXPECT_EQ(buf[6], 1);
  EXPECT_EQ(buf[8], 77);
  double time;
  std::memcpy(&time, buf + 16, 8);  // little-endian host (x86-64 and aarch64)
  EXPECT_EQ(time, s.time);
  RobotState back;
  ASSERT_EQ(DecodeState(buf, sizeof(buf), &back), DecodeStatus::kOk);
  EXPECT_EQ(back.seq, 77u);
  EXPECT_EQ(back.time, s.time);
  EXPECT_EQ(back.q, s.q);
  EXPECT_EQ(back.qd, s.qd);
  EXPECT_EQ(back.fingers, s.fingers);
  EXPECT_EQ(back.object_position, s.object_position);
  EXPECT_EQ(back.object_quaternion, s.object_quaternion);
  EXPECT_EQ(back.target_position, s.target_position);
}

TEST(UdpProtocolTest, CommandRoundTrip) {
  std::uint8_t buf[kCommandPacketSize];
  Command c;
  c.seq = 1234567890123ull;
  c.q_target = Vector7d::LinSpaced(-1, 1);
  c.gripper = 0.25;
  c.hold = true;
  EncodeCommand(c, 99, buf);
  Command back;
  std::uint64_t state_seq = 0;
  ASSERT_EQ(DecodeCommand(buf, sizeof(buf), &back, &state_seq), DecodeStatus::kOk);
  EXPECT_EQ(back.seq, c.seq);
  EXPECT_EQ(state_seq, 99u);
  EXPECT_EQ(back.q_target, c.q_target);
  EXPECT_EQ(back.gripper, 0.25);
  EXPECT_TRUE(back.hold);
}

TEST(UdpProtocolTest, RejectsCorruptPackets) {
  std::uint8_t buf[kStatePacketSize];
  EncodeState(SampleState(3), buf);
  RobotState s;
  for (size_t i : {20u, 100u, 231u, 235u}) {
    std::uint8_t copy[kStatePacketSize];
    std::memcpy(copy, buf, sizeof(copy));
    copy[i] ^= 0x10;
    EXPECT_EQ(DecodeState(copy, sizeof(copy), &s), DecodeStatus::kBadChecksum) << i;
  }
  EXPECT_EQ(DecodeState(buf, sizeof(buf) - 1, &s), DecodeStatus::kBadSize);
  std::uint8_t copy[kStatePacketSize];
  std::memcpy(copy, buf, sizeof(copy));
  copy[0] = 'X';
  EXPECT_EQ(DecodeState(copy, sizeof(copy), &s), DecodeStatus::kBadMagic);
  std::memcpy(copy, buf, sizeof(copy));
  copy[4] = 2;
  EXPECT_EQ(DecodeState(copy, sizeof(copy), &s), DecodeStatus::kBadVersion);
  std::uint8_t cmd[kCommandPacketSize];
  EncodeCommand(Command(), 0, cmd);
  EXPECT_EQ(DecodeState(cmd, sizeof(cmd), &s), DecodeStatus::kBadType);
  EXPECT_STREQ(DecodeStatusName(DecodeStatus::kBadChecksum), "bad_checksum");
}

// A robot on loopback (tests/common/fault_bridge.h) that streams SampleState every
// `period_s`, executes the commands it gets (checking them against the Panda's joint limits
// and speeds) and falls silent after `silent_after` states (-1: never).
std::unique_ptr<test::CheckingRobot> FakeRobot(double period_s, int silent_after) {
  return std::make_unique<test::CheckingRobot>(PandaChain(), test::ChainLimits(PandaChain(), 0.05), SampleState(0),
                                               period_s, 0.04, silent_after);
}

UdpHardwareConfig LoopbackConfig(std::uint16_t robot_port, double timeout_s) {
  UdpHardwareConfig cfg;
  cfg.local_address = "127.0.0.1";
  cfg.local_port = 0;
  cfg.robot_address = "127.0.0.1";
  cfg.robot_port = robot_port;
  cfg.read_timeout_s = timeout_s;
  return cfg;
}

TEST(UdpHardwareTest, BadAddressesAreNamed) {
  UdpHardwareConfig cfg = LoopbackConfig(1, 0.01);
  cfg.robot_address = "robot.local";
  try {
    UdpHardware hw(cfg);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("robot_address 'robot.local'"));
  }
  cfg = LoopbackConfig(1, 0.0);
  EXPECT_THROW(UdpHardware hw(cfg), std::runtime_error);
}

TEST(UdpHardwareTest, DropsStaleReorderedAndCorruptPackets) {
  test::LoopbackSocket robot;  // a robot address that never answers
  UdpHardware hw(LoopbackConfig(robot.port(), 0.05));
  const int tx = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(hw.local_port());
  auto send_state = [&](std::uint64_t seq, bool corrupt) {
    std::uint8_t buf[kStatePacketSize];
    EncodeState(SampleState(seq), buf);
    if (corrupt) buf[50] ^= 1;
    ::sendto(tx, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  };
  send_state(10, false);
  send_state(9, false);  // out of order: older than 10
  send_state(12, true);  // bad checksum
  send_state(11, false);
  const char junk[] = "hello";
  ::sendto(tx, junk, sizeof(junk), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  RobotState s;
  ASSERT_EQ(hw.Read(&s), HardwareStatus::kOk);
  EXPECT_EQ(s.seq, 11u);  // the newest valid one
  EXPECT_EQ(hw.stats().accepted, 2u);
  EXPECT_EQ(hw.stats().dropped_stale, 1u);
  EXPECT_EQ(hw.stats().dropped_checksum, 1u);
  EXPECT_EQ(hw.stats().dropped_malformed, 1u);
  // A duplicate of 11 is stale: nothing new, the read times out.
  send_state(11, false);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(hw.Read(&s), HardwareStatus::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(45));
  EXPECT_EQ(hw.stats().dropped_stale, 2u);
  EXPECT_EQ(hw.stats().timeouts, 1u);
  // Commands carry the seq of the newest accepted state.
  Command c;
  c.seq = 5;
  ASSERT_EQ(hw.Write(c), HardwareStatus::kOk);
  ::close(tx);
}

TEST(UdpHardwareTest, ControlsAFakeRobotOnLoopback) {
  const auto robot = FakeRobot(0.002, -1);
  UdpHardware hw(LoopbackConfig(robot->port(), 0.05));
  robot->Start(hw.local_port());
  Controller controller(test::LoadTiny("tiny_mlp"), 1);
  LoopOptions opt;
  opt.mode = LoopMode::kAsFastAsPossible;
  opt.max_steps = 30;
  ControlLoop loop(controller, hw, opt);
  {
    // The robot's thread allocates on its own; the controller's side must not.
    test::AllocCounter counter;
    EXPECT_EQ(loop.Run(), LoopExit::kStepLimit);
    EXPECT_EQ(counter.new_calls(), 0);
    EXPECT_EQ(counter.malloc_calls(), 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  robot->Stop();
  const std::vector<test::ReceivedCommand> got = robot->commands();
  ASSERT_EQ(got.size(), 30u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].command.seq, i + 1);
    EXPECT_TRUE(got[i].command.q_target.allFinite());
    EXPECT_GE(got[i].state_seq, i + 1);  // each from a newer state
  }
  EXPECT_EQ(robot->stats().total_violations(), 0u);
  EXPECT_EQ(robot->stats().executed, 30u);
  EXPECT_GE(hw.stats().accepted, 30u);
  EXPECT_EQ(hw.stats().dropped_checksum, 0u);
  EXPECT_EQ(loop.stats().hardware_timeouts, 0u);
  EXPECT_NE(got.back().command.q_target, PandaHomeJoints());
}

TEST(UdpHardwareTest, SilentRobotMakesTheControllerHoldThenStop) {
  const auto robot = FakeRobot(0.003, 15);  // 15 states, then silence
  UdpHardware hw(LoopbackConfig(robot->port(), 0.05));
  robot->Start(hw.local_port());
  Controller controller(test::LoadTiny("tiny_mlp"), 1);
  LoopOptions opt;
  opt.mode = LoopMode::kAsFastAsPossible;
  opt.max_consecutive_misses = 4;
  opt.step_budget_s = 1.0;  // only the silence may cause holds here
  ControlLoop loop(controller, hw, opt);
  EXPECT_EQ(loop.Run(), LoopExit::kHardwareLost);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  robot->Stop();
  EXPECT_EQ(loop.stats().hardware_timeouts, 4u);
  EXPECT_EQ(loop.stats().safety.count(SafetyEvent::kHardwareTimeout), 4u);
  std::vector<Command> got;
  for (const test::ReceivedCommand& r : robot->commands()) got.push_back(r.command);
  ASSERT_GE(got.size(), 5u);
  for (const Command& c : got) EXPECT_TRUE(c.q_target.allFinite());
  for (size_t i = got.size() - 4; i < got.size(); ++i) {
    EXPECT_TRUE(got[i].hold) << i;
    EXPECT_EQ(got[i].q_target, got[got.size() - 5].q_target) << i;  // the last sent target
  }
  EXPECT_FALSE(got[got.size() - 5].hold);
  EXPECT_EQ(loop.stats().holds, 4u);
  EXPECT_EQ(loop.stats().ToJson()["exit"], "hardware_lost");
}

}  // namespace
}  // namespace dreamforge::robot
