// Gamepad and spacemouse: recorded event streams fed through fake devices (a pipe of
// js_event records, a source of spacenavd events) into the real device code.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/joystick.h>
#include <unistd.h>

#include <deque>
#include <string>
#include <vector>

#include "robot/teleop/gamepad.h"
#include "robot/teleop/spacemouse.h"

namespace dreamforge::robot::teleop {
namespace {

using ::testing::HasSubstr;

js_event Js(uint32_t ms, uint8_t type, uint8_t number, int16_t value) {
  js_event e;
  e.time = ms;
  e.type = type;
  e.number = number;
  e.value = value;
  return e;
}

std::string Bytes(const std::vector<js_event>& events) {
  return std::string(reinterpret_cast<const char*>(events.data()),
                     events.size() * sizeof(js_event));
}

// A gamepad reading the read end of a pipe; the test writes recorded events into it.
struct FakeGamepad {
  int write_fd = -1;
  std::unique_ptr<GamepadDevice> pad;
  explicit FakeGamepad(const TeleopConfig& cfg = {}) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    write_fd = fds[1];
    pad = std::make_unique<GamepadDevice>(fds[0], "gamepad fake", cfg);
  }
  ~FakeGamepad() { Unplug(); }
  void Send(const std::string& bytes) const {
    ASSERT_EQ(::write(write_fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  void Unplug() {
    if (write_fd >= 0) ::close(write_fd);
    write_fd = -1;
  }
  TeleopCommand Poll() {
    TeleopCommand c;
    EXPECT_TRUE(pad->Poll(0.0, &c)) << pad->error();
    return c;
  }
};

TEST(GamepadTest, InitialStateIsReadWithoutTriggeringButtons) {
  FakeGamepad g;
  const uint8_t kInitAxis = JS_EVENT_AXIS | JS_EVENT_INIT;
  const uint8_t kInitButton = JS_EVENT_BUTTON | JS_EVENT_INIT;
  // What the driver sends on open: every axis and button, flagged JS_EVENT_INIT. A button
  // already held (Start) must not count as a press.
  std::vector<js_event> init;
  for (uint8_t a = 0; a < 8; ++a) init.push_back(Js(0, kInitAxis, a, 0));
  for (uint8_t b = 0; b < 11; ++b) init.push_back(Js(0, kInitButton, b, b == 7 ? 1 : 0));
  g.Send(Bytes(init));
  const TeleopCommand c = g.Poll();
  EXPECT_FALSE(c.Active());
  EXPECT_EQ(g.pad->inputs(), 0);
}

TEST(GamepadTest, SticksMapToTheTwistThroughTheDeadzone) {
  TeleopConfig cfg;  // 0.15 m/s, 0.6 rad/s, deadzone 0.1
  FakeGamepad g(cfg);
  g.Send(Bytes({
      Js(10, JS_EVENT_AXIS, 1, -32767),  // left stick fully up: +x
      Js(11, JS_EVENT_AXIS, 0, 2000),    // left stick slightly right: inside the deadzone
      Js(12, JS_EVENT_AXIS, 4, 16384),   // right stick half down: -z
      Js(13, JS_EVENT_AXIS, 3, -32767),  // right stick left: yaw +
      Js(14, JS_EVENT_AXIS, 6, 32767),   // d-pad right: roll +
      Js(15, JS_EVENT_AXIS, 7, -32767),  // d-pad up: pitch +
  }));
  TeleopCommand c = g.Poll();
  EXPECT_NEAR(c.linear.x(), 0.15, 1e-9);
  EXPECT_EQ(c.linear.y(), 0.0);
  const double half = (16384.0 / 32767.0 - 0.1) / 0.9;
  EXPECT_NEAR(c.linear.z(), -0.15 * half, 1e-9);
  EXPECT_NEAR(c.angular.x(), 0.6, 1e-9);
  EXPECT_NEAR(c.angular.y(), 0.6, 1e-9);
  EXPECT_NEAR(c.angular.z(), 0.6, 1e-9);
  // Axes hold their value until the next event; releasing the stick stops the motion.
  c = g.Poll();
  EXPECT_NEAR(c.linear.x(), 0.15, 1e-9);
  g.Send(Bytes({Js(20, JS_EVENT_AXIS, 1, 0)}));
  c = g.Poll();
  EXPECT_EQ(c.linear.x(), 0.0);
  EXPECT_EQ(g.pad->inputs(), 7);
}

TEST(GamepadTest, ButtonPressesAreOneShotRequests) {
  FakeGamepad g;
  g.Send(Bytes({
      Js(1, JS_EVENT_BUTTON, 0, 1), Js(2, JS_EVENT_BUTTON, 0, 0),  // A: gripper toggle
      Js(3, JS_EVENT_BUTTON, 5, 1), Js(4, JS_EVENT_BUTTON, 5, 0),  // RB: faster
      Js(5, JS_EVENT_BUTTON, 5, 1), Js(6, JS_EVENT_BUTTON, 5, 0),  // RB again
      Js(7, JS_EVENT_BUTTON, 4, 1),                                // LB: slower (held)
      Js(8, JS_EVENT_BUTTON, 7, 1),                                // Start: save
  }));
  TeleopCommand c = g.Poll();
  EXPECT_EQ(c.gripper, GripperRequest::kToggle);
  EXPECT_EQ(c.speed_change, 1);
  EXPECT_TRUE(c.save);
  EXPECT_FALSE(c.discard);
  c = g.Poll();  // held buttons do not repeat
  EXPECT_FALSE(c.Active());
  g.Send(Bytes({Js(9, JS_EVENT_BUTTON, 6, 1), Js(10, JS_EVENT_BUTTON, 3, 1),
                Js(11, JS_EVENT_BUTTON, 1, 1), Js(12, JS_EVENT_BUTTON, 8, 1)}));
  c = g.Poll();
  EXPECT_TRUE(c.discard);  // Back
  EXPECT_TRUE(c.reset);    // Y
  EXPECT_TRUE(c.pause);    // B
  EXPECT_TRUE(c.quit);     // Guide
}

TEST(GamepadTest, PartialRecordsAreKeptUntilComplete) {
  FakeGamepad g;
  const std::string bytes = Bytes({Js(1, JS_EVENT_AXIS, 0, 32767), Js(2, JS_EVENT_BUTTON, 7, 1)});
  g.Send(bytes.substr(0, 5));
  TeleopCommand c = g.Poll();
  EXPECT_FALSE(c.Active());
  g.Send(bytes.substr(5, 6));
  c = g.Poll();
  EXPECT_NEAR(c.linear.y(), -0.15, 1e-9);  // stick right: -y
  EXPECT_FALSE(c.save);
  g.Send(bytes.substr(11));
  c = g.Poll();
  EXPECT_TRUE(c.save);
}

TEST(GamepadTest, UnpluggedOrMissingDeviceIsReported) {
  FakeGamepad g;
  g.Send(Bytes({Js(1, JS_EVENT_BUTTON, 7, 1)}));
  g.Unplug();
  TeleopCommand c;
  EXPECT_FALSE(g.pad->Poll(0.0, &c));
  EXPECT_THAT(g.pad->error(), HasSubstr("gamepad fake: disconnected"));

  TeleopConfig cfg;
  try {
    OpenGamepad("/dev/input/js_does_not_exist", cfg);
    FAIL() << "opened a missing device";
  } catch (const DeviceError& e) {
    EXPECT_THAT(e.what(), HasSubstr("gamepad /dev/input/js_does_not_exist: cannot open"));
  }
}

// A recorded stream of spacenavd events.
class FakeSpaceMouse : public SpaceMouseSource {
 public:
  explicit FakeSpaceMouse(std::deque<SpaceMouseEvent>* events) : events_(*events) {}
  int Next(SpaceMouseEvent* e) override {
    if (events_.empty()) return lost_ ? -1 : 0;
    *e = events_.front();
    events_.pop_front();
    return 1;
  }
  std::string error() const override { return "disconnected (spacenavd closed the connection)"; }
  void Lose() { lost_ = true; }

 private:
  std::deque<SpaceMouseEvent>& events_;
  bool lost_ = false;
};

SpaceMouseEvent Motion(int x, int y, int z, int rx, int ry, int rz) {
  SpaceMouseEvent e;
  e.type = SpaceMouseEvent::Type::kMotion;
  e.motion = {x, y, z, rx, ry, rz};
  return e;
}

SpaceMouseEvent Button(int b, bool press) {
  SpaceMouseEvent e;
  e.type = SpaceMouseEvent::Type::kButton;
  e.button = b;
  e.press = press;
  return e;
}

TEST(SpaceMouseTest, MotionMapsToTheBaseFrameAndButtonsToRequests) {
  TeleopConfig cfg;  // full scale 350, deadzone 0.1
  std::deque<SpaceMouseEvent> events;
  auto source = std::make_unique<FakeSpaceMouse>(&events);
  FakeSpaceMouse* fake = source.get();
  SpaceMouseDevice mouse(std::move(source), cfg);
  // Cap pushed forward (z), slid right (x), lifted (y); tilted and twisted.
  events = {Motion(350, 175, 350, -350, 700, 20), Button(0, true), Button(0, false)};
  TeleopCommand c;
  ASSERT_TRUE(mouse.Poll(0.0, &c));
  EXPECT_NEAR(c.linear.x(), 0.15, 1e-9);                      // forward: +x
  EXPECT_NEAR(c.linear.y(), -0.15, 1e-9);                     // right: -y
  EXPECT_NEAR(c.linear.z(), 0.15 * (0.5 - 0.1) / 0.9, 1e-9);  // half lift: +z
  EXPECT_EQ(c.angular.x(), 0.0);                              // rz 20: deadzone
  EXPECT_NEAR(c.angular.y(), 0.6, 1e-9);                      // -rx
  EXPECT_NEAR(c.angular.z(), 0.6, 1e-9);                      // ry (clamped)
  EXPECT_EQ(c.gripper, GripperRequest::kToggle);
  EXPECT_FALSE(c.save);
  // The displacement holds until the next motion event.
  ASSERT_TRUE(mouse.Poll(0.05, &c));
  EXPECT_NEAR(c.linear.x(), 0.15, 1e-9);
  EXPECT_EQ(c.gripper, GripperRequest::kNone);
  events = {Motion(0, 0, 0, 0, 0, 0), Button(1, true)};
  ASSERT_TRUE(mouse.Poll(0.1, &c));
  EXPECT_FALSE(c.Moving());
  EXPECT_TRUE(c.save);
  EXPECT_EQ(mouse.inputs(), 5);
  fake->Lose();
  EXPECT_FALSE(mouse.Poll(0.15, &c));
  EXPECT_THAT(mouse.error(), HasSubstr("spacemouse: disconnected"));
}

}  // namespace
}  // namespace dreamforge::robot::teleop
