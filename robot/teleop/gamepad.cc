#include "robot/teleop/gamepad.h"

#include <fcntl.h>
#include <linux/joystick.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dreamforge::robot::teleop {
namespace {

constexpr std::size_t kMaxIndex = 64;  // axes / buttons beyond this are ignored

}  // namespace

std::string GamepadHelp(const std::string& indent) {
  const char* lines[] = {
      "left stick  up / down      move +x / -x (axis 1)",
      "left stick  left / right   move +y / -y (axis 0)",
      "right stick up / down      move +z / -z (axis 4)",
      "right stick left / right   yaw + / - (axis 3)",
      "d-pad       left / right   roll - / + (axis 6)",
      "d-pad       up / down      pitch + / - (axis 7)",
      "A (button 0)      gripper toggle     B (1)     pause / resume",
      "LB (4) / RB (5)   speed down / up    Start (7) save the attempt",
      "Back (6)          discard the attempt, retry in a fresh scene",
      "Y (3)             reset (discard, speed back to default)",
      "Guide (8)         quit (an unsaved attempt is dropped)",
  };
  std::string out;
  for (const char* l : lines) out += indent + l + "\n";
  return out;
}

GamepadDevice::GamepadDevice(int fd, std::string name, const TeleopConfig& config,
                             const GamepadMapping& mapping)
    : fd_(fd), name_(std::move(name)), config_(config), mapping_(mapping) {
  config_.Validate();
}

GamepadDevice::~GamepadDevice() {
  if (fd_ >= 0) ::close(fd_);
}

double GamepadDevice::axis(int index) const {
  return index >= 0 && static_cast<std::size_t>(index) < axes_.size() ? axes_[index] : 0.0;
}

void GamepadDevice::Handle(uint8_t type, uint8_t number, int16_t value) {
  const bool init = (type & JS_EVENT_INIT) != 0;  // the driver's initial state on open
  type &= static_cast<uint8_t>(~JS_EVENT_INIT);
  if (number >= kMaxIndex) return;
  if (type == JS_EVENT_AXIS) {
    if (axes_.size() <= number) axes_.resize(number + 1, 0.0);
    axes_[number] = std::max(-1.0, value / 32767.0);
    if (!init) ++inputs_;
  } else if (type == JS_EVENT_BUTTON) {
    if (buttons_.size() <= number) buttons_.resize(number + 1, false);
    const bool pressed = value != 0;
    const bool edge = pressed && !buttons_[number] && !init;
    buttons_[number] = pressed;
    if (!edge) return;
    ++inputs_;
    const int b = number;
    if (b == mapping_.gripper_toggle) requests_.gripper = GripperRequest::kToggle;
    if (b == mapping_.pause) requests_.pause = !requests_.pause;
    if (b == mapping_.reset) requests_.reset = true;
    if (b == mapping_.speed_down) --requests_.speed_change;
    if (b == mapping_.speed_up) ++requests_.speed_change;
    if (b == mapping_.discard) requests_.discard = true;
    if (b == mapping_.save) requests_.save = true;
    if (b == mapping_.quit) requests_.quit = true;
  }
}

void GamepadDevice::Feed(const char* bytes, std::size_t n) {
  partial_.insert(partial_.end(), bytes, bytes + n);
  const std::size_t whole = partial_.size() / sizeof(js_event) * sizeof(js_event);
  for (std::size_t off = 0; off < whole; off += sizeof(js_event)) {
    js_event e;
    std::memcpy(&e, partial_.data() + off, sizeof e);
    Handle(e.type, e.number, e.value);
  }
  partial_.erase(partial_.begin(), partial_.begin() + static_cast<std::ptrdiff_t>(whole));
}

bool GamepadDevice::Poll(double /*now*/, TeleopCommand* cmd) {
  char buf[64 * sizeof(js_event)];
  for (int reads = 0; reads < 64; ++reads) {
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Fail(name_ + ": poll: " + std::strerror(errno));
    }
    if (r == 0) break;
    if ((p.revents & POLLIN) == 0) {
      return Fail(name_ + ": disconnected (the device was closed or unplugged)");
    }
    const ssize_t got = ::read(fd_, buf, sizeof buf);
    if (got > 0) {
      Feed(buf, static_cast<std::size_t>(got));
    } else if (got == 0) {
      return Fail(name_ + ": disconnected (end of stream)");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    } else if (errno == ENODEV || errno == EIO) {
      return Fail(name_ + ": disconnected (unplugged: " + std::strerror(errno) + ")");
    } else if (errno != EINTR) {
      return Fail(name_ + ": read: " + std::strerror(errno));
    }
  }
  *cmd = requests_;
  requests_ = TeleopCommand();
  for (int k = 0; k < 6; ++k) {
    const GamepadMapping::Axis& a = mapping_.axes[k];
    const double v = a.sign * ApplyDeadzone(axis(a.index), config_.deadzone);
    if (k < 3) {
      cmd->linear[k] = v * config_.linear_speed;
    } else {
      cmd->angular[k - 3] = v * config_.angular_speed;
    }
  }
  return true;
}

std::unique_ptr<Device> OpenGamepad(const std::string& path, const TeleopConfig& config) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string hint;
    if (err == ENOENT) hint = " (is the gamepad plugged in? see ls /dev/input/js*)";
    if (err == EACCES) hint = " (add yourself to the 'input' group, or check the udev rules)";
    throw DeviceError("gamepad " + path + ": cannot open: " + std::strerror(err) + hint);
  }
  std::string name = "gamepad " + path;
  char model[128] = {0};
  if (::ioctl(fd, JSIOCGNAME(sizeof model - 1), model) >= 0 && model[0] != '\0') {
    name += " (" + std::string(model) + ")";
  }
  return std::make_unique<GamepadDevice>(fd, name, config);
}

}  // namespace dreamforge::robot::teleop
