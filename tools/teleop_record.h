// Interactive recording: `dreamforge record --device keyboard|gamepad[:PATH]|spacemouse`.
//
// The simulation runs at the control rate (20 Hz), paced in real time against absolute
// deadlines (or faster, --time-scale). Each control step polls the device, turns its
// twist into a normalized action (TwistToAction), steps the World and records the step
// with EpisodeRecorder, which also derives the subtask signals from the gripper command
// as the scripted recorder does. Nothing is simulated before the first input, so a saved
// demo starts in the task's nominal scene and replays exactly. Save (demo appended to
// --out, rewritten atomically), discard or reset start a fresh attempt in a new World.
#pragma once

#include <string>

#include "robot/teleop/teleop.h"
#include "tools/scene_view.h"

namespace dreamforge::tools {

struct TeleopOptions {
  std::string task = "bottle_place";
  std::string device;  // keyboard | gamepad[:PATH] | spacemouse
  std::string out;
  std::string urdf;         // empty: the default robot
  double time_scale = 1.0;  // simulated s per wall-clock s; 0: as fast as possible
  ViewMode view = ViewMode::kAuto;  // the scene view (tools/scene_view.h)
  robot::teleop::TeleopConfig config;
};

// True for the devices RunTeleop handles (keyboard, gamepad, gamepad:PATH, spacemouse).
bool IsTeleopDevice(const std::string& device);

// Runs an interactive session; returns the process exit code: 0 after quitting with at
// least one demo saved in this session, 1 if nothing was saved or the device was lost or
// failed, 128 + N after signal N (Ctrl-C: 130). Demos saved before any of these stay in
// --out; an unsaved attempt is dropped; the terminal is restored on every path. Throws
// UsageError for bad options (unknown device, keyboard without a terminal, bad --out)
// before anything starts.
int RunTeleop(const TeleopOptions& options);

// Devices, keys and buttons, for `record --help`.
std::string TeleopHelp();

}  // namespace dreamforge::tools
