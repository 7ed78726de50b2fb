// `dreamforge record` by teleoperation, end to end: the real binary driven through a
// pseudo-terminal (keyboard) or a FIFO of js_event records (gamepad). Import: see
// record_import_test.cc.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/joystick.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "datasets/episode_store.h"
#include "sim/rollout.h"
#include "sim/world.h"
#include "tests/common/child_process.h"
#include "tests/common/replay.h"
#include "tests/common/test_util.h"

namespace dreamforge {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using test::Child;
using test::Now;

// One status panel, parsed from the terminal output (see tools/teleop_display.cc).
struct Frame {
  std::string text;  // the panel as drawn: a redraw happens only when it changes
  double t = 0;
  Eigen::Vector3d tool = Eigen::Vector3d::Zero();
  bool success = false;
  std::string motion, speed;
  long inputs = 0;
};

// The output's last 6000 bytes as lines, without ANSI escape sequences and CRs; the last
// line (maybe incomplete) is dropped.
std::vector<std::string> TailLines(const std::string& out) {
  std::vector<std::string> lines(1);
  for (size_t i = out.size() > 6000 ? out.size() - 6000 : 0; i < out.size(); ++i) {
    const char c = out[i];
    if (c == '\x1b' && i + 1 < out.size() && out[i + 1] == '[') {
      for (i += 2; i < out.size() && !std::isalpha(static_cast<unsigned char>(out[i]));) ++i;
    } else if (c == '\n') {
      lines.emplace_back();
    } else if (c != '\r') {
      lines.back() += c;
    }
  }
  lines.pop_back();
  return lines;
}

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

std::optional<Frame> LastFrame(const std::string& out) {
  const std::vector<std::string> l = TailLines(out);
  for (size_t k = l.size(); k-- >= 5;) {
    const std::string* p = &l[k - 4];  // state, tool, gripper, task, input
    if (!StartsWith(p[4], "input ") || !StartsWith(p[1], "tool  x ") ||
        !StartsWith(p[2], "gripper ") || !StartsWith(p[3], "task ")) {
      continue;
    }
    Frame f;
    const size_t t = p[0].find(" t "), speed = p[4].find("  speed x"),
                 inputs = p[4].find("inputs ");
    if (t == std::string::npos || speed == std::string::npos || inputs == std::string::npos ||
        std::sscanf(p[0].c_str() + t, " t %lf", &f.t) != 1 ||
        std::sscanf(p[1].c_str(), "tool  x %lf y %lf z %lf", &f.tool.x(), &f.tool.y(),
                    &f.tool.z()) != 3 ||
        std::sscanf(p[4].c_str() + inputs, "inputs %ld", &f.inputs) != 1) {
      continue;
    }
    f.success = p[3].find("success YES") != std::string::npos;
    f.motion = p[4].substr(6, speed - 6);
    f.speed = p[4].substr(speed + 8, p[4].find(' ', speed + 8) - (speed + 8));
    for (int i = 0; i < 5; ++i) f.text += p[i] + "\n";
    return f;
  }
  return std::nullopt;
}

// A closed-loop operator: watches the status panel, presses keys, like a person would.
class Operator {
 public:
  explicit Operator(Child* c) : c_(*c) {}
  Frame Next() {
    const double end = Now() + 20.0;
    while (Now() < end) {
      c_.Pump(0.05);
      std::optional<Frame> f = LastFrame(c_.output());
      if (f && f->text != last_.text) {
        last_ = *f;
        return *f;
      }
    }
    ADD_FAILURE() << "no new status frame; output tail:\n" << Tail();
    throw std::runtime_error("no frame");
  }
  // The latest frame (it may have been returned before).
  Frame Current() { return last_.text.empty() ? Next() : last_; }
  void Key(char k) { c_.Send(std::string(1, k)); }
  // Waits until `seconds` of simulated time have passed.
  void Wait(double seconds) {
    const double until = Next().t + seconds;
    while (Next().t < until) {
    }
  }
  // Waits until no motion is commanded and the tool stopped (< 0.3 mm per frame).
  Frame Settle() {
    Frame prev = Next();
    for (;;) {
      Frame f = Next();
      if (f.motion == "idle" && (f.tool - prev.tool).norm() < 3e-4) return f;
      prev = f;
    }
  }
  // Moves the tool to `goal` along the axes given (0 x, 1 y, 2 z; NaN: leave alone): holds
  // the keys (one byte per frame, like auto-repeat) while far, then taps at low speed
  // until each axis is within `tol`. Coarse moves run at x1.50, taps at x0.30.
  void MoveTo(const Eigen::Vector3d& goal, double tol) {
    auto keys = [&](const Frame& f, double band) {
      std::string k;
      for (int a = 0; a < 3; ++a) {
        const double err = goal[a] - f.tool[a];
        if (!std::isnan(err) && std::abs(err) > band) k += err > 0 ? "war"[a] : "sdf"[a];
      }
      return k;
    };
    for (Frame f = Current(); !keys(f, 0.05).empty(); f = Next()) c_.Send(keys(f, 0.05));
    Frame f = Settle();
    if (keys(f, tol).empty()) return;
    Speed('-', 4, "x0.30");
    for (int i = 0; i < 400; ++i) {
      if (const std::string hold = keys(f, 0.012); !hold.empty()) {
        c_.Send(hold);  // still a centimetre off: hold at low speed
        f = Next();
        continue;
      }
      f = Settle();
      const std::string tap = keys(f, tol);
      if (tap.empty()) break;
      c_.Send(tap.substr(0, 1));  // one axis at a time
      while (Next().inputs <= f.inputs) {
      }
      f = Settle();
    }
    Speed('+', 4, "x1.50");
    EXPECT_TRUE(keys(f, tol + 2e-3).empty())
        << "goal " << goal.transpose() << ", tool " << f.tool.transpose();
  }
  // Presses `key` `n` times at once and waits until the panel shows speed `target`.
  void Speed(char key, int n, const std::string& target) {
    Current();
    c_.Send(std::string(n, key));
    while (last_.speed != target) Next();
  }
  std::string Tail() const {
    const std::string& o = c_.output();
    return o.substr(o.size() > 3000 ? o.size() - 3000 : 0);
  }

 private:
  Child& c_;
  Frame last_;
};

using test::ReplayDemo;

class RecordTeleopTest : public test::TempDirTest {
 protected:
  std::vector<std::string> Teleop(const std::string& device, const fs::path& out) {
    return {"record", "--task",     "bottle_place", "--device", device,
            "--out",  out.string(), "--time-scale", "4"};
  }
};

TEST_F(RecordTeleopTest, KeyboardThroughAPtyCompletesBottlePlaceAndTheDemoReplays) {
  const fs::path out = dir_ / "demo.hdf5";
  const auto start = Now();
  Child child(Teleop("keyboard", out), /*pty=*/true);
  Operator op(&child);
  const double kKeep = std::nan("");
  op.Speed('+', 1, "x1.50");
  op.MoveTo({0.50, -0.15, kKeep}, 0.005);  // over the bottle (x 0.5, y -0.15)
  op.MoveTo({0.50, -0.15, 0.13}, 0.006);   // tool centre 5 cm above the bottle centre
  op.Key(' ');                             // close
  op.Wait(0.6);
  op.MoveTo({kKeep, kKeep, 0.25}, 0.02);  // lift
  op.MoveTo({0.50, 0.15, kKeep}, 0.01);   // carry over the target zone (x 0.5, y 0.15)
  op.MoveTo({0.50, 0.15, 0.135}, 0.006);  // set it down
  op.Key(' ');                            // open
  op.Wait(0.5);
  op.MoveTo({kKeep, kKeep, 0.23}, 0.03);  // retract
  for (Frame f = op.Next(); !f.success; f = op.Next()) {
    ASSERT_LT(f.t, 120.0) << op.Tail();
  }
  op.Key('\r');
  while (child.output().find("saved demo_0") == std::string::npos) op.Next();
  op.Key('q');
  ASSERT_EQ(child.Wait(20), 0) << op.Tail();
  const size_t saved = child.output().find("saved demo_0");
  std::printf("keyboard teleop session: %.1f s wall; %s\n", Now() - start,
              child.output().substr(saved, child.output().find('\n', saved) - saved).c_str());
  EXPECT_THAT(child.output(), HasSubstr("saved demo_0"));
  EXPECT_THAT(child.output(), HasSubstr("success"));
  EXPECT_FALSE(fs::exists(out.string() + ".tmp"));

  const datasets::EpisodeReader reader(out);
  ASSERT_EQ(reader.num_episodes(), 1);
  EXPECT_TRUE(reader.episode_success(0));
  const datasets::Episode ep = reader.ReadEpisode(0);
  // Subtask signals from the gripper: grasp at the close, place at the open.
  for (const char* sig : {"grasp", "place"}) {
    const auto& s = ep.subtask_term_signals.at(sig);
    EXPECT_EQ(s.front(), 0) << sig;
    EXPECT_EQ(s.back(), 1) << sig;
  }
  EXPECT_EQ(ReplayDemo(out, 0), sim::Outcome::kSuccess);
}

// Save one demo, start a second, then Ctrl-C (typed on the terminal) or SIGTERM.
class InterruptTest : public RecordTeleopTest, public ::testing::WithParamInterface<bool> {};

TEST_P(InterruptTest, KeepsTheSavedDemosAndRestoresTheTerminal) {
  const bool ctrl_c = GetParam();
  const fs::path out = dir_ / "demos.hdf5";
  int before = 0;
  if (!ctrl_c) {  // appending to an existing file: its demo is kept
    Child rec({"record", "--device",
               "script:" + std::string(DF_SOURCE_DIR) + "/datasets/demos/bottle_place.script.yaml",
               "--out", out.string()},
              false);
    ASSERT_EQ(rec.Wait(60), 0) << rec.output();
    before = 1;
  }
  Child child(Teleop("keyboard", out), true);
  termios initial;
  ASSERT_EQ(tcgetattr(child.slave(), &initial), 0);
  Operator op(&child);
  op.Next();
  termios raw;
  ASSERT_EQ(tcgetattr(child.slave(), &raw), 0);
  EXPECT_FALSE(raw.c_lflag & ICANON) << "not in raw mode while recording";
  for (int i = 0; i < 5; ++i) op.Key('r');
  op.Key(' ');
  op.Wait(0.5);
  op.Key('\r');
  while (child.output().find("saved demo_" + std::to_string(before)) == std::string::npos)
    op.Next();
  op.Key('w');
  op.Wait(0.3);  // the second attempt is recording
  if (ctrl_c) {
    op.Key('\x03');  // Ctrl-C on the terminal: SIGINT to its foreground process group
  } else {
    kill(child.pid(), SIGTERM);
  }
  const int code = child.Wait(20);
  EXPECT_EQ(code, ctrl_c ? 128 + SIGINT : 128 + SIGTERM) << op.Tail();
  EXPECT_THAT(child.output(), HasSubstr(ctrl_c ? "interrupted (SIGINT)" : "interrupted (SIGTERM)"));
  EXPECT_THAT(child.output(), HasSubstr("was dropped"));
  termios after;
  ASSERT_EQ(tcgetattr(child.slave(), &after), 0);
  EXPECT_EQ(after.c_lflag, initial.c_lflag);
  EXPECT_EQ(after.c_iflag, initial.c_iflag);
  EXPECT_EQ(after.c_cc[VMIN], initial.c_cc[VMIN]);
  EXPECT_FALSE(fs::exists(out.string() + ".tmp"));
  const datasets::EpisodeReader reader(out);
  EXPECT_EQ(reader.num_episodes(), before + 1);
  EXPECT_EQ(reader.Mask("train").size(), static_cast<size_t>(before + 1));
}

INSTANTIATE_TEST_SUITE_P(CtrlCOrSigterm, InterruptTest, ::testing::Bool());

std::string Js(uint8_t type, uint8_t number, int16_t value) {
  js_event e{0, value, type, number};
  return std::string(reinterpret_cast<const char*>(&e), sizeof e);
}

TEST_F(RecordTeleopTest, GamepadFromAFifoSavesAndAnUnplugKeepsTheDemo) {
  const fs::path fifo = dir_ / "js0";
  const fs::path out = dir_ / "pad.hdf5";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // Opened read-write, the FIFO has a writer until we close it: the "device" is plugged in.
  const int pad = open(fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(pad, 0);
  auto send = [&](const std::string& s) {
    ASSERT_EQ(write(pad, s.data(), s.size()), (ssize_t)s.size());
  };
  send(Js(JS_EVENT_AXIS | JS_EVENT_INIT, 1, 0) + Js(JS_EVENT_BUTTON | JS_EVENT_INIT, 7, 0));
  Child child(Teleop("gamepad:" + fifo.string(), out), /*pty=*/false);
  // Events sent before the recorder reads the device would arrive in one batch (the stick
  // released before any step moved): wait for its banner first.
  for (double end = Now() + 20;
       Now() < end && child.output().find("Recording starts") == std::string::npos;) {
    child.Pump(0.05);
  }
  // The pauses are long enough for a few 20 Hz steps even when other jobs load the cores
  // (300 ms and 200 ms failed once while a training run used both).
  send(Js(JS_EVENT_AXIS, 1, -32767));  // left stick up: +x, recording starts
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  send(Js(JS_EVENT_AXIS, 1, 0) + Js(JS_EVENT_BUTTON, 0, 1) + Js(JS_EVENT_BUTTON, 0, 0));
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  send(Js(JS_EVENT_BUTTON, 7, 1) + Js(JS_EVENT_BUTTON, 7, 0));  // Start: save
  for (double end = Now() + 20;
       Now() < end && child.output().find("saved demo_0") == std::string::npos;) {
    child.Pump(0.05);
  }
  close(pad);  // unplugged
  EXPECT_EQ(child.Wait(20), 1);
  EXPECT_THAT(child.output(), HasSubstr("saved demo_0"));
  EXPECT_THAT(child.output(), HasSubstr("gamepad " + fifo.string() + ": disconnected"));
  EXPECT_FALSE(fs::exists(out.string() + ".tmp"));
  const datasets::EpisodeReader reader(out);
  ASSERT_EQ(reader.num_episodes(), 1);
  const datasets::Episode ep = reader.ReadEpisode(0);
  EXPECT_GT(ep.actions.col(0).maxCoeff(), 0.1f);         // it moved along +x
  EXPECT_EQ(ep.actions(ep.num_samples() - 1, 6), 1.0f);  // the gripper was closed by A
  EXPECT_EQ(ep.subtask_term_signals.at("grasp").back(), 1);
}

TEST_F(RecordTeleopTest, MissingDevicesAndNoTerminalGiveOneLineAndNoFile) {
  const fs::path out = dir_ / "x.hdf5";
  Child kb(Teleop("keyboard", out), false);
  EXPECT_EQ(kb.Wait(30), 2);
  EXPECT_THAT(kb.output(), HasSubstr("standard input is not a terminal"));
  Child pad(Teleop("gamepad:" + (dir_ / "js9").string(), out), false);
  EXPECT_EQ(pad.Wait(30), 1);
  EXPECT_THAT(pad.output(), HasSubstr("js9: cannot open: No such file or directory"));
  if (!fs::exists("/var/run/spnav.sock") && !fs::exists("/run/spnav.sock")) {
    Child mouse(Teleop("spacemouse", out), false);
    EXPECT_EQ(mouse.Wait(30), 1);
    EXPECT_THAT(mouse.output(), HasSubstr("dreamforge: record: spacemouse: "));
  }
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(RecordTeleopTest, HelpDocumentsDevicesAndKeys) {
  Child help({"record", "--help"}, false);
  ASSERT_EQ(help.Wait(30), 0);
  for (const char* s :
       {"keyboard", "gamepad[:/dev/input/jsN]", "spacemouse", "--import", "--time-scale", "w / s",
        "r / f", "j / l", "space", "Enter", "Ctrl-C", "Start (7)", "left button (0)"}) {
    EXPECT_THAT(help.output(), HasSubstr(s));
  }
}

}  // namespace
}  // namespace dreamforge
