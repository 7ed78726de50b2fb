// robot/teleop: command helpers, the keyboard parser and its hold windows, terminal raw
// mode and signals. Devices read from real descriptors (pipes, pseudo-terminals).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <string>

#include "robot/teleop/keyboard.h"
#include "robot/teleop/teleop.h"
#include "robot/teleop/terminal.h"

namespace dreamforge::robot::teleop {
namespace {

using ::testing::HasSubstr;

// A pipe whose ends close on destruction.
struct Pipe {
  int read = -1, write = -1;
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    read = fds[0];
    write = fds[1];
  }
  ~Pipe() {
    if (read >= 0) ::close(read);
    CloseWrite();
  }
  void Send(const std::string& s) const {
    ASSERT_EQ(::write(write, s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  void CloseWrite() {
    if (write >= 0) ::close(write);
    write = -1;
  }
};

TEST(TeleopTest, DeadzoneIsContinuousAndRescaled) {
  EXPECT_EQ(ApplyDeadzone(0.05, 0.1), 0.0);
  EXPECT_EQ(ApplyDeadzone(-0.1, 0.1), 0.0);
  EXPECT_NEAR(ApplyDeadzone(0.55, 0.1), 0.5, 1e-12);
  EXPECT_NEAR(ApplyDeadzone(-1.0, 0.1), -1.0, 1e-12);
  EXPECT_NEAR(ApplyDeadzone(3.0, 0.1), 1.0, 1e-12);  // clamped
  EXPECT_NEAR(ApplyDeadzone(0.1 + 1e-9, 0.1), 0.0, 1e-8);
  EXPECT_EQ(ApplyDeadzone(std::nan(""), 0.1), 0.0);
}

TEST(TeleopTest, TwistBecomesANormalizedClampedAction) {
  TeleopCommand c;
  c.linear = Eigen::Vector3d(0.2, -0.1, 0.0);  // m/s
  c.angular = Eigen::Vector3d(0.0, 0.0, 0.6);  // rad/s
  const auto a = TwistToAction(c, 1.0, 0.05, 0.05, 0.3);
  EXPECT_NEAR(a[0], 0.2, 1e-12);  // 0.2 m/s * 0.05 s / 0.05 m
  EXPECT_NEAR(a[1], -0.1, 1e-12);
  EXPECT_NEAR(a[5], 0.1, 1e-12);  // 0.6 rad/s * 0.05 s / 0.3 rad
  EXPECT_EQ(a[6], 1.0);
  c.linear.x() = 50.0;
  c.angular.y() = std::nan("");
  const auto b = TwistToAction(c, -1.0, 0.05, 0.05, 0.3);
  EXPECT_TRUE(b.allFinite());
  EXPECT_EQ(b.head<6>().cwiseAbs().maxCoeff(), 0.0);  // a NaN twist holds still
  c.angular.y() = 0.0;
  EXPECT_EQ(TwistToAction(c, -1.0, 0.05, 0.05, 0.3)[0], 1.0);
  EXPECT_EQ(TwistToAction(c, -1.0, 0.05, 0.05, 0.3)[6], -1.0);
}

TEST(TeleopTest, SpeedNotchesScaleTheTwistWithinLimits) {
  TeleopConfig cfg;
  SpeedControl speed(cfg);
  TeleopCommand c;
  c.linear.x() = 0.15;
  c.speed_change = 2;
  speed.Apply(&c);
  EXPECT_NEAR(speed.scale(), 2.25, 1e-12);
  EXPECT_NEAR(c.linear.x(), 0.15 * 2.25, 1e-12);
  TeleopCommand up;
  up.speed_change = 20;
  speed.Apply(&up);
  EXPECT_EQ(speed.scale(), cfg.max_speed_scale);
  TeleopCommand reset;
  reset.reset = true;
  speed.Apply(&reset);
  EXPECT_EQ(speed.scale(), cfg.speed_scale);
}

TEST(TeleopTest, GripperRequestsAndMotionText) {
  EXPECT_EQ(NextGripper(GripperRequest::kToggle, -1.0), 1.0);
  EXPECT_EQ(NextGripper(GripperRequest::kToggle, 1.0), -1.0);
  EXPECT_EQ(NextGripper(GripperRequest::kNone, 1.0), 1.0);
  EXPECT_EQ(NextGripper(GripperRequest::kOpen, 1.0), -1.0);
  EXPECT_EQ(NextGripper(GripperRequest::kClose, -1.0), 1.0);
  TeleopCommand c;
  EXPECT_EQ(DescribeMotion(c), "idle");
  c.linear.x() = 0.1;
  c.angular.z() = -0.2;
  EXPECT_EQ(DescribeMotion(c), "+x -yaw");
}

TEST(TeleopTest, ConfigValidationNamesTheField) {
  TeleopConfig c;
  c.deadzone = 1.0;
  try {
    c.Validate();
    FAIL() << "accepted deadzone 1";
  } catch (const DeviceError& e) {
    EXPECT_THAT(e.what(), HasSubstr("deadzone"));
  }
  c = TeleopConfig();
  c.speed_scale = 10.0;
  EXPECT_THROW(c.Validate(), DeviceError);
}

TEST(KeyboardTest, KeyPressMovesForTheHoldWindowAndRepeatsExtendIt) {
  TeleopConfig cfg;  // 0.15 m/s, 0.15 s hold
  Pipe pipe;
  KeyboardDevice kb(pipe.read, cfg);
  TeleopCommand c;
  ASSERT_TRUE(kb.Poll(0.0, &c));
  EXPECT_FALSE(c.Active());
  pipe.Send("w");
  // At 20 Hz a tap moves for exactly 3 control steps: t = 1.00, 1.05, 1.10.
  int moving = 0;
  for (int k = 0; k < 8; ++k) {
    ASSERT_TRUE(kb.Poll(1.0 + 0.05 * k, &c));
    if (c.linear.x() > 0) {
      EXPECT_DOUBLE_EQ(c.linear.x(), 0.15);
      ++moving;
    }
  }
  EXPECT_EQ(moving, 3);
  // Auto-repeat every 0.04 s keeps it moving until 0.15 s after the last press.
  for (int k = 0; k < 5; ++k) kb.Feed("a", 1, 2.0 + 0.04 * k);
  ASSERT_TRUE(kb.Poll(2.30, &c));
  EXPECT_DOUBLE_EQ(c.linear.y(), 0.15);
  ASSERT_TRUE(kb.Poll(2.31, &c));
  EXPECT_EQ(c.linear.y(), 0.0);
  EXPECT_EQ(kb.inputs(), 6);
}

TEST(KeyboardTest, OppositeKeyCancelsAndAxesCombine) {
  TeleopConfig cfg;
  Pipe pipe;
  KeyboardDevice kb(pipe.read, cfg);
  TeleopCommand c;
  kb.Feed("r", 1, 0.0);
  kb.Feed("fj", 2, 0.01);
  ASSERT_TRUE(kb.Poll(0.02, &c));
  EXPECT_DOUBLE_EQ(c.linear.z(), -0.15);  // f replaced r
  EXPECT_DOUBLE_EQ(c.angular.z(), 0.6);   // j: yaw +
  kb.Feed("UIO", 3, 1.0);                 // capitals work too: roll +, pitch +, roll -
  ASSERT_TRUE(kb.Poll(1.0, &c));
  EXPECT_DOUBLE_EQ(c.angular.x(), -0.6);
  EXPECT_DOUBLE_EQ(c.angular.y(), 0.6);
}

TEST(KeyboardTest, RequestsAreReportedOnceAndEscapeSequencesIgnored) {
  TeleopConfig cfg;
  Pipe pipe;
  KeyboardDevice kb(pipe.read, cfg);
  // Up arrow (ESC [ A), F5 (ESC [ 1 5 ~), Alt+w (ESC w), SS3 F1 (ESC O P): all ignored.
  pipe.Send("\x1b[A\x1b[15~\x1bw\x1bOP");
  pipe.Send(" +=-\r0xpq");
  TeleopCommand c;
  ASSERT_TRUE(kb.Poll(0.0, &c));
  EXPECT_FALSE(c.Moving());
  EXPECT_EQ(c.gripper, GripperRequest::kToggle);
  EXPECT_EQ(c.speed_change, 1);  // + and = up, - down
  EXPECT_TRUE(c.save);
  EXPECT_TRUE(c.reset);
  EXPECT_TRUE(c.discard);
  EXPECT_TRUE(c.pause);
  EXPECT_TRUE(c.quit);
  ASSERT_TRUE(kb.Poll(0.05, &c));
  EXPECT_FALSE(c.Active());
  // An escape sequence split across reads is still skipped.
  pipe.Send("\x1b[");
  ASSERT_TRUE(kb.Poll(0.1, &c));
  pipe.Send("Bd");
  ASSERT_TRUE(kb.Poll(0.1, &c));
  EXPECT_DOUBLE_EQ(c.linear.y(), -0.15);
  EXPECT_EQ(c.linear.x(), 0.0);
}

TEST(KeyboardTest, EndOfInputFailsWithAMessage) {
  TeleopConfig cfg;
  Pipe pipe;
  KeyboardDevice kb(pipe.read, cfg);
  pipe.Send("w");
  pipe.CloseWrite();
  TeleopCommand c;
  EXPECT_FALSE(kb.Poll(0.0, &c));  // the byte is read, then end of input
  EXPECT_THAT(kb.error(), HasSubstr("keyboard: end of input"));
}

TEST(KeyboardTest, KeyMapListsEveryKey) {
  const std::string help = KeyMapHelp();
  for (const char* k : {"w / s", "a / d", "r / f", "u / o", "i / k", "j / l", "space", "+ / -",
                        "Enter", "x ", "0 ", "p ", "q "}) {
    EXPECT_THAT(help, HasSubstr(k));
  }
}

TEST(TerminalTest, RawModeIsRestoredAndNotATerminalIsRefused) {
  int master = -1, slave = -1;
  ASSERT_EQ(openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  termios before;
  ASSERT_EQ(tcgetattr(slave, &before), 0);
  ASSERT_TRUE(before.c_lflag & ICANON);
  {
    RawTerminal raw(slave);
    termios during;
    ASSERT_EQ(tcgetattr(slave, &during), 0);
    EXPECT_FALSE(during.c_lflag & ICANON);
    EXPECT_FALSE(during.c_lflag & ECHO);
    EXPECT_TRUE(during.c_lflag & ISIG);  // Ctrl-C still signals
    EXPECT_EQ(during.c_cc[VSUSP], _POSIX_VDISABLE);
    // Keys typed on the terminal arrive one at a time.
    TeleopConfig cfg;
    KeyboardDevice kb(slave, cfg);
    ASSERT_EQ(::write(master, "d", 1), 1);
    TeleopCommand c;
    for (int i = 0; i < 100 && c.linear.y() == 0.0; ++i) {
      ASSERT_TRUE(kb.Poll(0.0, &c));
      if (c.linear.y() == 0.0) usleep(1000);
    }
    EXPECT_DOUBLE_EQ(c.linear.y(), -0.15);
  }
  termios after;
  ASSERT_EQ(tcgetattr(slave, &after), 0);
  EXPECT_EQ(after.c_lflag, before.c_lflag);
  EXPECT_EQ(after.c_iflag, before.c_iflag);
  EXPECT_EQ(after.c_cc[VMIN], before.c_cc[VMIN]);
  EXPECT_EQ(after.c_cc[VSUSP], before.c_cc[VSUSP]);
  ::close(master);
  ::close(slave);

  Pipe pipe;
  try {
    RawTerminal raw(pipe.read);
    FAIL() << "a pipe was accepted as a terminal";
  } catch (const DeviceError& e) {
    EXPECT_THAT(e.what(), HasSubstr("not a terminal"));
  }
}

TEST(TerminalTest, SignalFlagRecordsTheSignalAndRestoresTheHandler) {
  {
    SignalFlag flag;
    EXPECT_EQ(flag.received(), 0);
    EXPECT_THROW(SignalFlag second, std::logic_error);
    ASSERT_EQ(raise(SIGINT), 0);  // would kill the test without the handler
    EXPECT_EQ(flag.received(), SIGINT);
    EXPECT_STREQ(flag.name(), "SIGINT");
    raise(SIGTERM);
    EXPECT_EQ(flag.received(), SIGINT);  // the first one counts
  }
  struct sigaction now;
  ASSERT_EQ(sigaction(SIGINT, nullptr, &now), 0);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
}

TEST(MergedDeviceTest, TwistsAddAndFailuresPropagate) {
  TeleopConfig cfg;
  Pipe a, b;
  std::vector<std::unique_ptr<Device>> devices;
  devices.push_back(std::make_unique<KeyboardDevice>(a.read, cfg));
  devices.push_back(std::make_unique<KeyboardDevice>(b.read, cfg));
  MergedDevice merged(std::move(devices));
  EXPECT_EQ(merged.name(), "keyboard + keyboard");
  a.Send("w");
  b.Send("w\r");
  TeleopCommand c;
  ASSERT_TRUE(merged.Poll(0.0, &c));
  EXPECT_DOUBLE_EQ(c.linear.x(), 0.3);
  EXPECT_TRUE(c.save);
  EXPECT_EQ(merged.inputs(), 3);
  b.CloseWrite();
  EXPECT_FALSE(merged.Poll(0.05, &c));
  EXPECT_THAT(merged.error(), HasSubstr("end of input"));
}

}  // namespace
}  // namespace dreamforge::robot::teleop
