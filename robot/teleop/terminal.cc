#include "robot/teleop/terminal.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "robot/teleop/teleop.h"

namespace dreamforge::robot::teleop {
namespace {

constexpr int kSignals[5] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE};

// Signal state is process-wide by nature; these are the only globals of the teleop code.
volatile sig_atomic_t g_received = 0;
volatile sig_atomic_t g_installed = 0;

extern "C" void RecordSignal(int sig) {
  if (g_received == 0) g_received = sig;
}

}  // namespace

RawTerminal::RawTerminal(int fd) : fd_(fd) {
  if (!isatty(fd)) throw DeviceError("keyboard: input is not a terminal");
  if (tcgetattr(fd, &saved_) != 0) {
    throw DeviceError(std::string("keyboard: cannot read the terminal settings: ") +
                      std::strerror(errno));
  }
  termios raw = saved_;
  raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | ECHONL | IEXTEN);
  raw.c_iflag &= ~static_cast<tcflag_t>(IXON | ICRNL | INLCR | IGNCR);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  raw.c_cc[VSUSP] = _POSIX_VDISABLE;
#ifdef VDSUSP
  raw.c_cc[VDSUSP] = _POSIX_VDISABLE;
#endif
  if (tcsetattr(fd, TCSANOW, &raw) != 0) {
    throw DeviceError(std::string("keyboard: cannot set the terminal to raw mode: ") +
                      std::strerror(errno));
  }
  active_ = true;
}

void RawTerminal::Restore() {
  if (!active_) return;
  active_ = false;
  tcsetattr(fd_, TCSANOW, &saved_);  // nothing more to do if the terminal is gone
}

SignalFlag::SignalFlag() {
  if (g_installed) throw std::logic_error("SignalFlag: only one may exist at a time");
  g_installed = 1;
  g_received = 0;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = RecordSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: sleeps and reads return EINTR at once
  for (int i = 0; i < 5; ++i) sigaction(kSignals[i], &sa, &saved_[i]);
}

SignalFlag::~SignalFlag() {
  for (int i = 0; i < 5; ++i) sigaction(kSignals[i], &saved_[i], nullptr);
  g_installed = 0;
}

int SignalFlag::received() const { return g_received; }

const char* SignalFlag::name() const {
  switch (g_received) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    case SIGQUIT:
      return "SIGQUIT";
    case SIGPIPE:
      return "SIGPIPE";
    default:
      return "none";
  }
}

}  // namespace dreamforge::robot::teleop
