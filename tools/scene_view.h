// The scene view of `record` and `play`: the task's cameras (agentview and the wrist
// camera, render/) drawn from the physics state at the control rate, with the task's
// target marked, in an OpenCV HighGUI window or in the terminal.
//
// The terminal view draws each character cell as two pixels stacked (the upper half block
// U+2580 with a 24-bit foreground and background colour), so a square picture of N x N
// pixels takes N columns and N/2 rows, and it works over SSH and inside tmux. It takes the
// whole screen (the terminal's alternate screen): the picture, then the status panel and
// the latest messages below it; on close the normal screen returns with the messages.
//
// Rendering and drawing run in a thread of their own with its own GL context. The control
// loop only hands over the latest state (Post: a copy under a lock, never a wait on the
// view), so a slow terminal or window never delays a control step; a state that arrives
// before the previous one was drawn replaces it (counted as dropped). The view reads the
// state and scene parameters it is given and nothing else: physics and the recorded data
// are the same with or without it.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "render/camera.h"
#include "render/renderer.h"
#include "render/scene.h"
#include "sim/world.h"
#include "tools/teleop_display.h"

namespace dreamforge::tools {

enum class ViewMode { kAuto, kWindow, kTerminal, kNone };
// "auto", "window", "terminal", "none"; throws UsageError naming `flag` otherwise.
ViewMode ParseViewMode(const std::string& flag, const std::string& value);
const char* ViewModeName(ViewMode mode);

// Camera layouts, cycled by NextLayout (key v).
enum class ViewLayout { kBoth, kAgentview, kWrist };

// The smallest terminal the terminal view uses (columns x rows).
constexpr int kMinViewCols = 80;
constexpr int kMinViewRows = 24;

// The rows of an RGB image (row-major, top row first) as terminal text: one line per two
// pixel rows, each cell the upper half block with the upper pixel as foreground and the
// lower as background colour (24-bit SGR; a colour is only re-sent when it changes), each
// line ending in an attribute reset. An odd last row is paired with black.
std::vector<std::string> HalfBlockLines(const uint8_t* rgb, int width, int height);

// Images side by side, top-aligned, `gap` px of `gap_rgb` between them.
render::Image SideBySide(const std::vector<const render::Image*>& images, int gap, uint8_t gap_grey = 40);

// Outlines the task's target on a camera image: the target zone's rim (bottle_place) or a
// ring around the top of the object the manipulated one goes on (cube_stack), drawn in
// yellow, 1 px. Points behind the camera are skipped. Returns the pixel of the target's
// centre (x, y), or (-1, -1) when it is behind the camera.
Eigen::Vector2d MarkTarget(const render::VisualModel& model, const render::ScenePose& pose,
                           const render::CameraSpec& camera, const sim::Appearance& look, render::Image* image);

// The wrist camera with its field of view narrowed `zoom` times (tan of the half angle).
render::CameraSpec Zoomed(const render::CameraSpec& camera, double zoom);

class SceneView : public PanelSink {
 public:
  struct Options {
    ViewMode mode = ViewMode::kAuto;
    std::string title = "dreamforge";  // window title
    int window_px = 320;               // each camera's picture in the window, px
    int terminal_fd = 1;               // where the terminal view draws (a terminal)
    std::string keys_hint;             // one line of keys, shown under the terminal view
  };

  // Chooses and opens the view. kAuto: the window when DISPLAY (or WAYLAND_DISPLAY) names
  // a display that answers and the window opens, else the terminal when terminal_fd is a
  // terminal of at least kMinViewCols x kMinViewRows, else none; choice() says which and
  // why. An explicit kWindow or kTerminal that cannot open throws UsageError saying why.
  SceneView(std::shared_ptr<const sim::SceneModel> model, const Options& options);
  ~SceneView() override;
  SceneView(const SceneView&) = delete;
  SceneView& operator=(const SceneView&) = delete;

  ViewMode mode() const { return mode_; }
  // "view: terminal (160x48 terminal, no display)" and the like.
  const std::string& choice() const { return choice_; }
  // Why there is no view (mode() kNone), e.g. "no display (...); the terminal is 60x20, ...".
  const std::string& reason() const { return reason_; }

  // The control loop's side; each returns at once.
  // The scene to draw: its parameters (appearance included) and a physics state
  // (World::GetState layout) at `step`.
  void Post(const sim::SceneParams& params, const Eigen::VectorXd& state, int step);
  void Panel(const std::vector<std::string>& lines) override;  // terminal view: below the picture
  void Message(const std::string& line) override;              // terminal view: under the panel
  void NextLayout();
  void ToggleZoom();
  // True once the window was closed by its user (window view).
  bool closed() const;
  // Keys typed into the window, as a terminal would send them (arrows as ESC [ A..D):
  // a descriptor to read them from (-1 without a window), e.g. for a KeyboardDevice.
  int key_fd() const { return key_read_fd_; }
  // States posted, drawn, and replaced before they were drawn.
  long posted() const;
  long drawn() const;
  // Stops the thread; the terminal view leaves the alternate screen and prints the
  // session's messages. Idempotent; the destructor calls it.
  void Close();

 private:
  struct Shared;
  void Run();
  // Starts the thread in `mode`; false (and why) when its renderer or window fails.
  bool Start(ViewMode mode, std::string* why);

  std::shared_ptr<const sim::SceneModel> model_;
  Options options_;
  ViewMode mode_ = ViewMode::kNone;
  std::string choice_, reason_;
  std::unique_ptr<Shared> shared_;
  int key_read_fd_ = -1, key_write_fd_ = -1;
};

}  // namespace dreamforge::tools
