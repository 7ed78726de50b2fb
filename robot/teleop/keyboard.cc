#include "robot/teleop/keyboard.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

namespace dreamforge::robot::teleop {
namespace {

enum class KeyAction {
  kMove, kGripper, kSpeed, kSave, kDiscard, kReset, kPause, kQuit, kViewLayout, kViewZoom
};

// One line of the key map: a key, or a pair (plus, minus) acting in opposite directions.
struct KeyRow {
  char plus;
  char minus;  // 0: a single key
  KeyAction action;
  int axis;  // kMove: twist component 0-5 (x, y, z, roll, pitch, yaw)
  const char* what;
};

constexpr KeyRow kKeys[] = {
    {'w', 's', KeyAction::kMove, 0, "move +x / -x (away from / towards the robot base)"},
    {'a', 'd', KeyAction::kMove, 1, "move +y / -y (left / right, seen from behind the robot)"},
    {'r', 'f', KeyAction::kMove, 2, "move +z / -z (up / down)"},
    {'u', 'o', KeyAction::kMove, 3, "roll  + / - (about the base x axis)"},
    {'i', 'k', KeyAction::kMove, 4, "pitch + / - (about the base y axis)"},
    {'j', 'l', KeyAction::kMove, 5, "yaw   + / - (about the base z axis)"},
    {' ', 0, KeyAction::kGripper, 0, "gripper: toggle open / closed"},
    {'+', '-', KeyAction::kSpeed, 0, "speed up / down (x1.5 per press; '=' also speeds up)"},
    {'\r', 0, KeyAction::kSave, 0, "save the attempt as the next demo_<k>, start a new one"},
    {'x', 0, KeyAction::kDiscard, 0, "discard the attempt and retry in a fresh scene"},
    {'0', 0, KeyAction::kReset, 0, "reset: discard the attempt, speed back to default"},
    {'p', 0, KeyAction::kPause, 0, "pause / resume (nothing is simulated or recorded)"},
    {'q', 0, KeyAction::kQuit, 0, "quit (Ctrl-D too); an unsaved attempt is dropped"},
    {'v', 0, KeyAction::kViewLayout, 0, "view: next camera layout (both, agentview, wrist)"},
    {'z', 0, KeyAction::kViewZoom, 0, "view: zoom the wrist camera in / out"},
};

std::string KeyLabel(char c) {
  if (c == ' ') return "space";
  if (c == '\r') return "Enter";
  return std::string(1, c);
}

// Maps aliases to the canonical key of kKeys.
char Canonical(char c) {
  if (c == '\n') return '\r';
  if (c == '=') return '+';
  if (c == '_') return '-';
  if (c == 0x03 || c == 0x04) return 'q';  // Ctrl-C (without ISIG), Ctrl-D
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

}  // namespace

std::string KeyMapHelp(const std::string& indent) {
  std::string out;
  for (const KeyRow& k : kKeys) {
    std::string keys = KeyLabel(k.plus);
    if (k.minus != 0) keys += " / " + KeyLabel(k.minus);
    keys.resize(std::max<std::size_t>(keys.size(), 8), ' ');
    out += indent + keys + "  " + k.what + "\n";
  }
  return out;
}

KeyboardDevice::KeyboardDevice(int fd, const TeleopConfig& config, std::string name)
    : fd_(fd), config_(config), name_(std::move(name)) {
  config_.Validate();
  for (auto& axis : until_) axis[0] = axis[1] = -std::numeric_limits<double>::infinity();
}

void KeyboardDevice::Press(char c, double now) {
  c = Canonical(c);
  for (const KeyRow& k : kKeys) {
    const int dir = c == k.plus ? 0 : (k.minus != 0 && c == k.minus ? 1 : -1);
    if (dir < 0) continue;
    ++presses_;
    switch (k.action) {
      case KeyAction::kMove: {
        double& until = until_[k.axis][dir];
        until = std::max(until, now + config_.key_hold_s);
        until_[k.axis][1 - dir] = -std::numeric_limits<double>::infinity();
        break;
      }
      case KeyAction::kGripper:
        requests_.gripper = GripperRequest::kToggle;
        break;
      case KeyAction::kSpeed:
        requests_.speed_change += dir == 0 ? 1 : -1;
        break;
      case KeyAction::kSave:
        requests_.save = true;
        break;
      case KeyAction::kDiscard:
        requests_.discard = true;
        break;
      case KeyAction::kReset:
        requests_.reset = true;
        break;
      case KeyAction::kPause:
        requests_.pause = !requests_.pause;
        break;
      case KeyAction::kQuit:
        requests_.quit = true;
        break;
      case KeyAction::kViewLayout:
        requests_.view_layout = true;
        break;
      case KeyAction::kViewZoom:
        requests_.view_zoom = true;
        break;
    }
    return;
  }
}

void KeyboardDevice::Feed(const char* bytes, std::size_t n, double now) {
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    // Escape sequences: ESC [ params final (CSI), ESC O x (SS3), ESC x (Alt+x): skipped.
    switch (escape_) {
      case 1:
        escape_ = c == '[' ? 2 : (c == 'O' ? 3 : 0);
        continue;
      case 2:
        if (c >= 0x40 && c <= 0x7e) escape_ = 0;
        continue;
      case 3:
        escape_ = 0;
        continue;
      default:
        break;
    }
    if (c == 0x1b) {
      escape_ = 1;
      continue;
    }
    Press(static_cast<char>(c), now);
  }
}

bool KeyboardDevice::Poll(double now, TeleopCommand* cmd) {
  char buf[256];
  for (int reads = 0; reads < 64; ++reads) {
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Fail(std::string("keyboard: poll: ") + std::strerror(errno));
    }
    if (r == 0) break;
    if ((p.revents & POLLIN) == 0) {
      if (p.revents & POLLNVAL) return Fail("keyboard: input descriptor is not open");
      return Fail("keyboard: end of input (the terminal was closed)");
    }
    const ssize_t got = ::read(fd_, buf, sizeof buf);
    if (got > 0) {
      Feed(buf, static_cast<std::size_t>(got), now);
    } else if (got == 0) {
      return Fail("keyboard: end of input (the terminal was closed)");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    } else if (errno != EINTR) {
      return Fail(std::string("keyboard: read: ") + std::strerror(errno));
    }
  }
  *cmd = requests_;
  requests_ = TeleopCommand();
  constexpr double kEps = 1e-9;  // a press at t with hold h is over at exactly t + h
  for (int k = 0; k < 6; ++k) {
    const int dir = (now < until_[k][0] - kEps ? 1 : 0) - (now < until_[k][1] - kEps ? 1 : 0);
    if (k < 3) {
      cmd->linear[k] = dir * config_.linear_speed;
    } else {
      cmd->angular[k - 3] = dir * config_.angular_speed;
    }
  }
  return true;
}

}  // namespace dreamforge::robot::teleop
