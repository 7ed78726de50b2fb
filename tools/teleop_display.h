// The status panel of interactive recording: a few lines redrawn in place on a terminal
// (ANSI cursor movement), with messages scrolling above it. On a non-terminal (a log), a
// one-line summary every `plain_every` updates instead.
#pragma once

#include <Eigen/Geometry>
#include <cstdio>
#include <string>
#include <vector>

#include "sim/task.h"

namespace dreamforge::tools {

struct TeleopStatus {
  enum class State { kReady, kRecording, kPaused };
  State state = State::kReady;
  int attempt = 1;
  double time = 0.0;  // s simulated in this attempt
  int steps = 0;      // control steps recorded in this attempt
  int max_steps = 0;  // the task's step budget (dreams and evaluation use it)
  int saved = 0;      // demos in the output file
  std::string out;
  Eigen::Isometry3d tool = Eigen::Isometry3d::Identity();  // TCP, base frame
  double gripper_command = -1.0;                           // -1 open, +1 closed
  double gripper_width = 0.0;                              // m, between the fingers
  bool contact = false;  // a finger touches the manipulated object
  sim::TaskStatus task;
  bool success = false;  // the task's success predicate held long enough
  std::string motion;    // commanded motion, e.g. "+x -z" or "idle"
  double speed_scale = 1.0;
  double linear_speed = 0.0;  // m/s at this scale
  long inputs = 0;            // input events received
  long late = 0;              // control steps that missed their real-time deadline
  long view_drawn = -1;       // scene view: frames drawn, of states posted (-1: no view)
  long view_posted = 0;
};

// Where the panel and messages go instead of the output while a picture shares the
// terminal (the terminal scene view, tools/scene_view.h, draws all three).
class PanelSink {
 public:
  virtual ~PanelSink() = default;
  virtual void Panel(const std::vector<std::string>& lines) = 0;
  virtual void Message(const std::string& line) = 0;
};

class StatusDisplay {
 public:
  StatusDisplay(std::FILE* out, bool terminal, int plain_every = 20);
  // Prints a line above the panel (redrawing the panel below it).
  void Message(const std::string& line);
  void Show(const TeleopStatus& status);
  // Leaves the last panel on screen and the cursor below it.
  void Close();
  // From now on the panel and messages go to `sink` (not owned; nullptr: the output again).
  void Redirect(PanelSink* sink) { sink_ = sink; }

  static std::vector<std::string> Format(const TeleopStatus& status);

 private:
  void Draw();

  std::FILE* out_;
  bool terminal_;
  int plain_every_;
  long shows_ = 0;
  int drawn_lines_ = 0;  // panel lines on screen, 0: none
  std::vector<std::string> panel_;
  PanelSink* sink_ = nullptr;
};

}  // namespace dreamforge::tools
