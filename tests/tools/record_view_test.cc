// The scene view end to end: `record --view terminal` inside tmux (keys sent and the
// screen read back as a person sees it), `record --view window` under Xvfb with a
// screenshot, and `play` of a demo in both views.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "datasets/episode_store.h"
#include "sim/world.h"
#include "tests/common/child_process.h"
#include "tests/common/test_util.h"

namespace dreamforge {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using test::Child;
using test::Now;
using test::Shell;

bool Have(const char* program) { return Shell(std::string("command -v ") + program + " >/dev/null").status == 0; }

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// Largest difference between the stored states of demo `i` and a replay of its actions in
// a fresh world of its scene: 0 when the recording is what the inputs alone produce.
double ReplayDifference(const fs::path& path, int i) {
  const datasets::EpisodeReader reader(path);
  const datasets::Episode ep = reader.ReadEpisode(i);
  auto model = std::make_shared<const sim::SceneModel>(reader.env_args()["env_name"].get<std::string>(),
                                                       sim::SceneModel::DefaultUrdf());
  sim::World world(model, sim::SceneParamsFromJson(ep.perturbation));
  double worst = 0;
  for (int t = 0; t < ep.num_samples(); ++t) {
    worst = std::max(worst, (world.GetState() - ep.states.row(t).transpose()).cwiseAbs().maxCoeff());
    world.Observe();
    world.Step(ep.actions.row(t).transpose().cast<double>());
  }
  return worst;
}

// The screen without the picture's lines (for failure messages).
std::string Text(const std::string& screen) {
  std::string out;
  size_t begin = 0;
  while (begin < screen.size()) {
    size_t end = screen.find('\n', begin);
    if (end == std::string::npos) end = screen.size();
    const std::string line = screen.substr(begin, end - begin);
    if (line.find("\xe2\x96\x80") == std::string::npos) out += line + "\n";
    begin = end + 1;
  }
  return out;
}

// A tmux server of our own (its own socket) running one command in a pane of fixed size.
class Tmux {
 public:
  Tmux(const std::string& command, int cols, int rows)
      : socket_("df_view_" + std::to_string(getpid())) {
    const test::CmdResult r = Shell(Base() + " new-session -d -s view -x " + std::to_string(cols) + " -y " +
                                    std::to_string(rows) + " " + Quote(command));
    EXPECT_EQ(r.status, 0) << r.output;
    Shell(Base() + " set-option -t view remain-on-exit on");
  }
  ~Tmux() { Shell(Base() + " kill-server"); }
  // The screen as text (escapes: with colours as SGR sequences).
  std::string Screen(bool escapes = false) const {
    return Shell(Base() + " capture-pane -p -t view" + (escapes ? " -e" : "")).output;
  }
  void Keys(const std::string& keys) const { Shell(Base() + " send-keys -t view " + keys); }
  // Waits up to `seconds` for `text` on the screen; returns the screen.
  std::string WaitFor(const std::string& text, double seconds = 30) const {
    std::string s;
    for (const double end = Now() + seconds; Now() < end;) {
      s = Screen();
      if (s.find(text) != std::string::npos) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "'" << text << "' did not appear; the screen's text:\n" << Text(s);
    return s;
  }

 private:
  std::string Base() const { return "tmux -L " + socket_ + " -f /dev/null"; }
  std::string socket_;
};

// The picture's lines (those with half blocks) of a screen captured with escapes.
std::vector<std::string> PictureLines(const std::string& screen) {
  std::vector<std::string> lines;
  size_t begin = 0;
  while (begin < screen.size()) {
    size_t end = screen.find('\n', begin);
    if (end == std::string::npos) end = screen.size();
    const std::string line = screen.substr(begin, end - begin);
    if (line.find("\xe2\x96\x80") != std::string::npos) lines.push_back(line);
    begin = end + 1;
  }
  return lines;
}

double ToolZ(const std::string& screen) {
  const size_t p = screen.find("tool  x ");
  double x = 0, y = 0, z = NAN;
  if (p != std::string::npos) std::sscanf(screen.c_str() + p, "tool  x %lf y %lf z %lf", &x, &y, &z);
  return z;
}

class RecordViewTest : public test::TempDirTest {};

TEST_F(RecordViewTest, TerminalViewInTmuxShowsTheSceneMovingAndTheDemoIsWhatTheKeysMade) {
  if (!Have("tmux")) GTEST_SKIP() << "tmux is not installed (tools/setup.sh installs it)";
  const fs::path out = dir_ / "demo.hdf5", rc = dir_ / "rc";
  const std::string cmd = "env -u DISPLAY -u WAYLAND_DISPLAY " + std::string(DF_DREAMFORGE_BIN) +
                          " record --task bottle_place --device keyboard --view terminal --out " + out.string() +
                          "; echo $? > " + rc.string();
  Tmux tmux(cmd, 120, 40);
  std::string screen = tmux.WaitFor("READY (move to start)");
  EXPECT_THAT(screen, HasSubstr("view: terminal (120x40; --view terminal)"));
  EXPECT_THAT(screen, HasSubstr("agentview"));
  EXPECT_THAT(screen, HasSubstr("robot0_eye_in_hand"));
  EXPECT_THAT(screen, HasSubstr("keys: w/s a/d r/f move"));
  const std::vector<std::string> before = PictureLines(tmux.Screen(true));
  // 40 rows: 1 label row, 28 picture rows (56 x 56 px per camera), then the panel.
  ASSERT_EQ(before.size(), 28u) << Text(tmux.Screen());
  const double z0 = ToolZ(screen);
  ASSERT_FALSE(std::isnan(z0)) << Text(screen);

  for (int i = 0; i < 12; ++i) {  // hold r (up) for about 1.2 s, as auto-repeat would
    tmux.Keys("r");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // Until every press was read and the motion is over (keys can arrive late on a busy machine).
  for (const double end = Now() + 30; Now() < end; std::this_thread::sleep_for(std::chrono::milliseconds(100))) {
    screen = tmux.Screen();
    const size_t at = screen.find("inputs ");
    if (screen.find("input idle") != std::string::npos && at != std::string::npos &&
        std::atoi(screen.c_str() + at + 7) >= 12) {
      break;
    }
  }
  EXPECT_THAT(screen, HasSubstr("RECORDING"));
  const double z1 = ToolZ(screen);
  EXPECT_GT(z1, z0 + 0.05) << Text(screen);  // the panel shows the motion
  const std::vector<std::string> after = PictureLines(tmux.Screen(true));
  ASSERT_EQ(after.size(), before.size());
  int changed = 0;
  for (size_t r = 0; r < after.size(); ++r) changed += after[r] != before[r];
  EXPECT_GT(changed, 10) << "the picture barely changed after the hand moved 5 cm up";

  tmux.Keys("v");  // the agentview alone, larger
  tmux.WaitFor("input idle");
  tmux.Keys("Enter");
  tmux.WaitFor("saved demo_0");
  tmux.Keys("q");
  for (const double end = Now() + 30; Now() < end && !fs::exists(rc);) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  screen = tmux.Screen();
  ASSERT_TRUE(fs::exists(rc)) << Text(screen);
  EXPECT_EQ(test::ReadBytes(rc), "0\n") << Text(screen);
  // Back on the normal screen: the session's messages and the last panel.
  EXPECT_THAT(screen, HasSubstr("saved demo_0"));
  EXPECT_THAT(screen, HasSubstr("recorded bottle_place with keyboard"));
  const size_t late = screen.find(" late ");
  ASSERT_NE(late, std::string::npos) << Text(screen);
  std::printf("terminal view session: panel says '%s'\n", screen.substr(late + 1, screen.find('\n', late) - late - 1).c_str());

  const datasets::EpisodeReader reader(out);
  ASSERT_EQ(reader.num_episodes(), 1);
  // The view reads the state and changes nothing: the stored states are exactly what the
  // recorded actions produce in a fresh world without a view.
  EXPECT_EQ(ReplayDifference(out, 0), 0.0);
  const datasets::Episode ep = reader.ReadEpisode(0);
  EXPECT_GT(ep.actions.col(2).maxCoeff(), 0.1f);  // it moved up
}

// An X server of our own for the window view; skipped where Xvfb is missing.
class Xvfb {
 public:
  Xvfb() {
    for (int n = 90 + getpid() % 300; n < 1000 && display_.empty(); ++n) {
      if (fs::exists("/tmp/.X11-unix/X" + std::to_string(n)) || fs::exists("/tmp/.X" + std::to_string(n) + "-lock")) {
        continue;
      }
      display_ = ":" + std::to_string(n);
    }
    pid_ = fork();
    if (pid_ == 0) {
      const int null = open("/dev/null", O_RDWR);
      dup2(null, 1), dup2(null, 2);
      execlp("Xvfb", "Xvfb", display_.c_str(), "-screen", "0", "1280x1024x24", "-nolisten", "tcp", nullptr);
      _exit(127);
    }
    const std::string sock = "/tmp/.X11-unix/X" + display_.substr(1);
    for (const double end = Now() + 20; Now() < end && !fs::exists(sock);) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(fs::exists(sock)) << "Xvfb " << display_ << " did not start";
  }
  ~Xvfb() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  const std::string& display() const { return display_; }
  // Closes the window whose title contains `title` the way a window manager does (the
  // WM_DELETE_WINDOW message, python3-xlib); false if there is no such window.
  bool CloseWindow(const std::string& title) const {
    const std::string script = R"(
import sys
from Xlib import display, X, protocol
d = display.Display(sys.argv[1])
def find(w):
    name = w.get_wm_name()
    if isinstance(name, str) and sys.argv[2] in name:
        return w
    for c in w.query_tree().children:
        f = find(c)
        if f: return f
found = find(d.screen().root)
if not found: sys.exit(1)
protocols, delete = d.intern_atom('WM_PROTOCOLS'), d.intern_atom('WM_DELETE_WINDOW')
found.send_event(protocol.event.ClientMessage(window=found, client_type=protocols,
                                              data=(32, [delete, X.CurrentTime, 0, 0, 0])))
d.flush()
)";
    return Shell("/usr/bin/python3 -c \"" + script + "\" " + display_ + " " + Quote(title)).status == 0;
  }
  // A PNG of the whole screen (ImageMagick import).
  void Screenshot(const fs::path& png) const {
    const test::CmdResult r = Shell("import -display " + display_ + " -window root " + png.string());
    EXPECT_EQ(r.status, 0) << r.output;
  }

 private:
  std::string display_;
  pid_t pid_ = -1;
};

// Columns of the screenshot holding the marker's yellow (255, 220, 0).
std::vector<int> YellowColumns(const cv::Mat& bgr) {
  std::vector<int> cols;
  for (int x = 0; x < bgr.cols; ++x) {
    for (int y = 0; y < bgr.rows; ++y) {
      const cv::Vec3b p = bgr.at<cv::Vec3b>(y, x);
      if (p[2] == 255 && p[1] == 220 && p[0] == 0) {
        cols.push_back(x);
        break;
      }
    }
  }
  return cols;
}

TEST_F(RecordViewTest, WindowViewUnderXvfbShowsBothCamerasWithTheTargetMarked) {
  if (!Have("Xvfb") || !Have("import")) GTEST_SKIP() << "Xvfb or ImageMagick is missing (tools/setup.sh installs them)";
  Xvfb x;
  const fs::path out = dir_ / "demo.hdf5";
  setenv("DISPLAY", x.display().c_str(), 1);
  Child child({"record", "--task", "bottle_place", "--device", "keyboard", "--view", "window", "--out", out.string()},
              /*pty=*/true);
  unsetenv("DISPLAY");
  for (const double end = Now() + 30; Now() < end && child.output().find("Recording starts") == std::string::npos;) {
    child.Pump(0.05);
  }
  EXPECT_THAT(child.output(), HasSubstr("view: window (display " + x.display() + ")"));
  for (int i = 0; i < 8; ++i) {
    child.Send("r");
    child.Pump(0.1);
  }
  child.Pump(1.0);
  // Kept in the build folder to look at.
  const fs::path shot = fs::path(DF_BINARY_DIR) / "tests" / "tools" / "record_window.png";
  x.Screenshot(shot);
  child.Send("\r");
  for (const double end = Now() + 20; Now() < end && child.output().find("saved demo_0") == std::string::npos;) {
    child.Pump(0.05);
  }
  // Closing the window ends the session as q does, keeping the saved demo.
  if (Shell("/usr/bin/python3 -c 'import Xlib'").status == 0) {
    EXPECT_TRUE(x.CloseWindow("dreamforge record"));
  } else {
    std::printf("python3-xlib is missing (tools/setup.sh installs it): q instead of closing the window\n");
    child.Send("q");
  }
  EXPECT_EQ(child.Wait(30), 0) << child.output();
  EXPECT_THAT(child.output(), HasSubstr("1 demo(s) saved this session"));
  const cv::Mat img = cv::imread(shot.string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(img.empty()) << shot;
  // Two pictures of 320 px side by side, each with the target's yellow ring: two groups
  // of yellow columns, one per camera, with a stretch free of yellow between them.
  const std::vector<int> yellow = YellowColumns(img);
  ASSERT_FALSE(yellow.empty()) << "no target marker on the screenshot " << shot;
  int widest_gap = 0;
  for (size_t i = 1; i < yellow.size(); ++i) widest_gap = std::max(widest_gap, yellow[i] - yellow[i - 1]);
  EXPECT_GT(widest_gap, 60) << "one camera's marker only: " << shot;
  EXPECT_LT(yellow.back() - yellow.front(), 2 * 320 + 2) << shot;
  EXPECT_EQ(ReplayDifference(out, 0), 0.0);
}

TEST_F(RecordViewTest, PlayShowsAStoredDemoInBothViews) {
  const fs::path demo = fs::path(DF_SOURCE_DIR) / "datasets" / "demos" / "bottle_place.hdf5";
  if (Have("tmux")) {
    const fs::path rc = dir_ / "rc";
    Tmux tmux("env -u DISPLAY -u WAYLAND_DISPLAY " + std::string(DF_DREAMFORGE_BIN) + " play " + demo.string() +
                  " --speed 4; echo $? > " + rc.string(),
              100, 32);
    std::string screen = tmux.WaitFor("PLAYING x4.00  demo_0 (episode 1 of 1)");
    EXPECT_THAT(screen, HasSubstr("perturbation:"));
    EXPECT_THAT(screen, HasSubstr("task  placed"));
    screen = tmux.WaitFor("end of demo_0", 60);
    EXPECT_THAT(screen, HasSubstr("success YES"));  // the replayed conditions at the last step
    EXPECT_THAT(screen, HasSubstr("stored success yes"));
    tmux.Keys("Left");
    screen = tmux.WaitFor("PAUSED");
    tmux.Keys("q");
    for (const double end = Now() + 30; Now() < end && !fs::exists(rc);) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(test::ReadBytes(rc), "0\n") << Text(tmux.Screen());
  }
  // Without a terminal or display there is nothing to show: one line, exit 2.
  const test::CmdResult none = Shell("env -u DISPLAY -u WAYLAND_DISPLAY " + std::string(DF_DREAMFORGE_BIN) + " play " +
                                     demo.string() + " </dev/null");
  EXPECT_EQ(none.status, 2);
  EXPECT_THAT(none.output, HasSubstr("play: nothing to show the episode on: no display"));
  const test::CmdResult bad = Shell(std::string(DF_DREAMFORGE_BIN) + " play " + demo.string() + " --episode 3");
  EXPECT_EQ(bad.status, 2);
  EXPECT_THAT(bad.output, HasSubstr("play: --episode 3: " + demo.string() + " has episodes 0..0"));
  if (Have("Xvfb") && Have("import")) {  // the window, played to the end without keys
    Xvfb x;
    const test::CmdResult r = Shell("DISPLAY=" + x.display() + " " + std::string(DF_DREAMFORGE_BIN) + " play " +
                                    demo.string() + " --speed 8 --view window --exit-at-end </dev/null");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("view: window"));
    EXPECT_THAT(r.output, HasSubstr("steps shown"));
  }
}

}  // namespace
}  // namespace dreamforge
