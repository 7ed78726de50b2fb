// The libspnav side of the spacemouse: synthetic spnav_event records, as spacenavd
// delivers them, converted by FromSpnav and fed into the real device. Built only when
// libspnav is found (see tests/robot/CMakeLists.txt).
#include <gtest/gtest.h>

#include <deque>

#include "robot/teleop/spnav_source.h"

// Last: see the header.
#include "robot/teleop/spnav_wrap.h"

namespace dreamforge::robot::teleop {
namespace {

spnav_event SpnavMotion(int x, int y, int z, int rx, int ry, int rz) {
  spnav_event e{};
  e.motion.type = SPNAV_EVENT_MOTION;
  e.motion.x = x;
  e.motion.y = y;
  e.motion.z = z;
  e.motion.rx = rx;
  e.motion.ry = ry;
  e.motion.rz = rz;
  e.motion.period = 16;
  return e;
}

spnav_event SpnavButton(int bnum, bool press) {
  spnav_event e{};
  e.button.type = SPNAV_EVENT_BUTTON;
  e.button.press = press ? 1 : 0;
  e.button.bnum = bnum;
  return e;
}

// Replays spnav_event records through FromSpnav, as the libspnav source does.
class RecordedSpnav : public SpaceMouseSource {
 public:
  explicit RecordedSpnav(std::deque<spnav_event> events) : events_(std::move(events)) {}
  int Next(SpaceMouseEvent* out) override {
    while (!events_.empty()) {
      const spnav_event e = events_.front();
      events_.pop_front();
      if (FromSpnav(e, out)) return 1;
    }
    return 0;
  }
  std::string error() const override { return ""; }

 private:
  std::deque<spnav_event> events_;
};

TEST(SpnavTest, ConvertsMotionAndButtonsAndSkipsOtherEvents) {
  SpaceMouseEvent out;
  ASSERT_TRUE(FromSpnav(SpnavMotion(1, -2, 3, -4, 5, -6), &out));
  EXPECT_EQ(out.type, SpaceMouseEvent::Type::kMotion);
  EXPECT_EQ(out.motion, (std::array<int, 6>{1, -2, 3, -4, 5, -6}));
  ASSERT_TRUE(FromSpnav(SpnavButton(1, true), &out));
  EXPECT_EQ(out.type, SpaceMouseEvent::Type::kButton);
  EXPECT_EQ(out.button, 1);
  EXPECT_TRUE(out.press);
  spnav_event dev{};
  dev.dev.type = SPNAV_EVENT_DEV;
  dev.dev.op = SPNAV_DEV_ADD;
  EXPECT_FALSE(FromSpnav(dev, &out));
}

TEST(SpnavTest, RecordedStreamDrivesTheDevice) {
  TeleopConfig cfg;
  std::deque<spnav_event> events = {
      {},
      SpnavMotion(0, 0, -350, 0, 0, 0),  // an empty (type 0) record, then pull back: -x
      SpnavButton(0, true),
      SpnavButton(0, false),
      SpnavButton(1, true)};
  events.front().type = SPNAV_EVENT_CFG;
  SpaceMouseDevice mouse(std::make_unique<RecordedSpnav>(std::move(events)), cfg);
  TeleopCommand c;
  ASSERT_TRUE(mouse.Poll(0.0, &c));
  EXPECT_NEAR(c.linear.x(), -0.15, 1e-9);
  EXPECT_EQ(c.linear.y(), 0.0);
  EXPECT_EQ(c.gripper, GripperRequest::kToggle);
  EXPECT_TRUE(c.save);
}

}  // namespace
}  // namespace dreamforge::robot::teleop
