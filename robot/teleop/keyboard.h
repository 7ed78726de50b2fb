// Keyboard teleoperation from a terminal.
//
// A terminal reports key presses, not key holds. So each press of a motion key commands
// motion along its axis for TeleopConfig::key_hold_s (0.15 s by default) from the moment
// it is read; another press of the same key within that window (a second tap, or the
// terminal's auto-repeat while the key is held down) extends the window. A tap thus moves
// the tool by about speed x 0.15 s (2.25 cm at the default 0.15 m/s); holding the key
// moves it continuously once the terminal's auto-repeat starts (after its repeat delay,
// typically 0.25 to 0.6 s). Pressing the opposite key cancels the motion at once. Keys of
// different axes combine. Letters are case-insensitive; escape sequences (arrow and
// function keys) are ignored.
//
// The key map (KeyMapHelp() prints it):
//   w / s    move +x / -x        u / o    roll  + / -  (about x)
//   a / d    move +y / -y        i / k    pitch + / -  (about y)
//   r / f    move +z / -z        j / l    yaw   + / -  (about z)
//   space    gripper toggle      + / -    speed up / down ('=' also speeds up)
//   Enter    save the attempt    x        discard the attempt, retry in a fresh scene
//   0        reset (discard, and the speed back to default)
//   p        pause / resume      q        quit (Ctrl-D too; Ctrl-C interrupts)
//   v        view: next layout   z        view: zoom the wrist camera (record --view)

#pragma once

#include <cstddef>
#include <string>

#include "robot/teleop/teleop.h"

namespace dreamforge::robot::teleop {

// The key map as text, one line per key or key pair, each line starting with `indent`.
std::string KeyMapHelp(const std::string& indent = "  ");

class KeyboardDevice : public Device {
 public:
  // Reads key presses from `fd` (not owned): a terminal in raw mode (see terminal.h), or
  // any readable descriptor (a pipe or pseudo-terminal in tests). Blocking descriptors are
  // fine: Poll() reads only what poll(2) says is there.
  // `name` as name() reports it (e.g. the keys of a view window).
  KeyboardDevice(int fd, const TeleopConfig& config, std::string name = "keyboard");
  std::string name() const override { return name_; }
  // Fails on end of input (the terminal or pipe was closed) or a read error.
  bool Poll(double now, TeleopCommand* cmd) override;

  // Interprets `n` bytes as typed at `now` (s). Poll() feeds what it reads through here.
  void Feed(const char* bytes, std::size_t n, double now);
  // Mapped key presses so far.
  long inputs() const override { return presses_; }

 private:
  void Press(char c, double now);

  int fd_;
  TeleopConfig config_;
  std::string name_;
  // Per twist component (x, y, z, roll, pitch, yaw) and direction (+, -): the time until
  // which that motion is commanded.
  double until_[6][2];
  TeleopCommand requests_;  // one-shot requests since the last Poll
  int escape_ = 0;          // escape-sequence parser state
  long presses_ = 0;
};

}  // namespace dreamforge::robot::teleop
