#include "robot/teleop/spnav_source.h"

#include <poll.h>

#include <string>

// Last: see the header.
#include "robot/teleop/spnav_wrap.h"

namespace dreamforge::robot::teleop {
namespace {

// spacenavd through libspnav's AF_UNIX connection (one per process: libspnav keeps its
// connection in a global).
class SpnavSource : public SpaceMouseSource {
 public:
  SpnavSource() = default;
  ~SpnavSource() override { spnav_close(); }
  SpnavSource(const SpnavSource&) = delete;
  SpnavSource& operator=(const SpnavSource&) = delete;

  int Next(SpaceMouseEvent* event) override {
    // A dead daemon shows as a hang-up on the socket; spnav_poll_event would just say 0.
    const int fd = spnav_fd();
    if (fd < 0) {
      error_ = "the connection to spacenavd is closed";
      return -1;
    }
    pollfd p{fd, POLLIN, 0};
    const bool hangup = ::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
    spnav_event ev;
    while (spnav_poll_event(&ev) != 0) {
      if (FromSpnav(ev, event)) return 1;
    }
    if (hangup) {
      error_ = "disconnected (spacenavd closed the connection)";
      return -1;
    }
    return 0;
  }
  std::string error() const override { return error_; }

 private:
  std::string error_;
};

}  // namespace

bool FromSpnav(const spnav_event& in, SpaceMouseEvent* out) {
  if (in.type == SPNAV_EVENT_MOTION) {
    out->type = SpaceMouseEvent::Type::kMotion;
    out->motion = {in.motion.x, in.motion.y, in.motion.z, in.motion.rx, in.motion.ry, in.motion.rz};
    return true;
  }
  if (in.type == SPNAV_EVENT_BUTTON) {
    out->type = SpaceMouseEvent::Type::kButton;
    out->button = in.button.bnum;
    out->press = in.button.press != 0;
    return true;
  }
  return false;
}

std::unique_ptr<Device> OpenSpaceMouse(const TeleopConfig& config) {
  if (spnav_open() == -1) {
    throw DeviceError(
        "spacemouse: cannot connect to spacenavd (is it running? sudo apt-get install "
        "spacenavd; systemctl start spacenavd; is the SpaceMouse plugged in?)");
  }
  return std::make_unique<SpaceMouseDevice>(std::make_unique<SpnavSource>(), config);
}

}  // namespace dreamforge::robot::teleop
