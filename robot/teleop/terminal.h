// Terminal raw mode and interrupt signals for interactive tools, restored on every exit
// path: RAII restores on return and on exceptions; signals (Ctrl-C, kill, a closed
// terminal) only set a flag that the tool's loop checks, so it unwinds normally.

#pragma once

#include <signal.h>
#include <termios.h>

namespace dreamforge::robot::teleop {

// Puts the terminal `fd` into key-at-a-time input: no line buffering, no echo. Signals
// stay on (Ctrl-C still sends SIGINT, see SignalFlag); suspend (Ctrl-Z) and flow control
// (Ctrl-S / Ctrl-Q) are switched off, so that a stopped process cannot leave the terminal
// in this mode. Output processing is unchanged. The saved settings are restored by
// Restore() or the destructor.
class RawTerminal {
 public:
  // Throws DeviceError if `fd` is not a terminal or its settings cannot be changed.
  explicit RawTerminal(int fd);
  ~RawTerminal() { Restore(); }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  // Restores the saved settings (once; later calls do nothing).
  void Restore();

 private:
  int fd_;
  termios saved_;
  bool active_ = false;
};

// While alive, SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGPIPE (output closed) are caught by
// a handler that only records the signal number (async-signal-safe), so blocking calls return EINTR
// and the caller's loop ends cleanly. The previous handlers are restored on destruction. Signal
// dispositions are process-wide: at most one SignalFlag may exist at a time (checked).
class SignalFlag {
 public:
  SignalFlag();
  ~SignalFlag();
  SignalFlag(const SignalFlag&) = delete;
  SignalFlag& operator=(const SignalFlag&) = delete;
  // The first signal received, or 0.
  int received() const;
  // "SIGINT", ... for received().
  const char* name() const;

 private:
  struct ::sigaction saved_[5];
};

}  // namespace dreamforge::robot::teleop
