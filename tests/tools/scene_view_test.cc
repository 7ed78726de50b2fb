// The scene view's pieces (tools/scene_view.h): half-block terminal text, the layout, the
// target marker against the rendered target, the wrist zoom, and the terminal view drawn
// into a pseudo-terminal.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <thread>

#include "render/camera.h"
#include "render/renderer.h"
#include "render/scene.h"
#include "sim/world.h"
#include "tools/cli_util.h"
#include "tools/scene_view.h"

namespace dreamforge::tools {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const sim::SceneModel> Scene(const std::string& task) {
  return std::make_shared<const sim::SceneModel>(task, sim::SceneModel::DefaultUrdf());
}

TEST(HalfBlockLines, TwoPixelRowsPerLineColoursSentOnlyWhenTheyChange) {
  // 3 x 3: rows 0/1 make line 0, row 2 is paired with black.
  const uint8_t rgb[] = {
      255, 0, 0,   255, 0, 0,   0, 0, 255,   //
      0, 255, 0,   0, 255, 0,   0, 255, 0,   //
      1, 2, 3,     1, 2, 3,     1, 2, 3,     //
  };
  const std::vector<std::string> lines = HalfBlockLines(rgb, 3, 3);
  ASSERT_EQ(lines.size(), 2u);
  const std::string block = "\xe2\x96\x80";
  EXPECT_EQ(lines[0], "\x1b[38;2;255;0;0m\x1b[48;2;0;255;0m" + block + block + "\x1b[38;2;0;0;255m" + block + "\x1b[0m");
  EXPECT_EQ(lines[1], "\x1b[38;2;1;2;3m\x1b[48;2;0;0;0m" + block + block + block + "\x1b[0m");
}

TEST(SideBySide, PlacesImagesWithAGap) {
  render::Image a, b;
  a.width = 2, a.height = 2, a.rgb.assign(12, 10);
  b.width = 3, b.height = 1, b.rgb.assign(9, 20);
  const render::Image s = SideBySide({&a, &b}, 1, 7);
  ASSERT_EQ(s.width, 6);
  ASSERT_EQ(s.height, 2);
  auto px = [&](int x, int y) { return s.rgb[(static_cast<size_t>(y) * s.width + x) * 3]; };
  EXPECT_EQ(px(0, 0), 10);
  EXPECT_EQ(px(1, 1), 10);
  EXPECT_EQ(px(2, 0), 7);  // the gap
  EXPECT_EQ(px(3, 0), 20);
  EXPECT_EQ(px(5, 0), 20);
  EXPECT_EQ(px(3, 1), 7);  // below the shorter image
}

TEST(Zoomed, HalvesTheTangentOfTheHalfAngle) {
  const render::CameraSpec c = render::DefaultCameras(84)[1];
  const render::CameraSpec z = Zoomed(c, 2.0);
  EXPECT_NEAR(std::tan(0.5 * z.fovy_deg * M_PI / 180), 0.5 * std::tan(0.5 * c.fovy_deg * M_PI / 180), 1e-12);
  EXPECT_EQ(z.width, c.width);
  EXPECT_EQ(z.name, c.name);
}

// The marker's centre lands on the rendered target (bottle_place's red zone, cube_stack's
// lower cube), and the marker only adds its own yellow pixels.
class MarkTargetTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MarkTargetTest, CentreOnTheRenderedTargetRingAddsOnlyYellow) {
  auto scene = Scene(GetParam());
  auto visual = std::make_shared<const render::VisualModel>(scene);
  const sim::SceneParams params = scene->Nominal();
  sim::World world(scene, params);
  render::Renderer renderer(visual);
  render::ScenePose pose;
  render::ComputePose(*visual, params, world.GetState(), &pose);
  const sim::Appearance look = sim::AppearanceOf(params, scene->task());
  render::CameraSpec cam = render::DefaultCameras(128)[0];
  render::Image plain;
  renderer.Render(pose, cam, look, &plain);
  render::Image marked = plain;
  const Eigen::Vector2d c = MarkTarget(*visual, pose, cam, look, &marked);
  ASSERT_GE(c.x(), 0);
  ASSERT_LT(c.x(), 128);
  ASSERT_GE(c.y(), 0);
  ASSERT_LT(c.y(), 128);
  const uint8_t* p = &plain.rgb[(static_cast<size_t>(c.y()) * 128 + static_cast<size_t>(c.x())) * 3];
  const Eigen::Vector3f target = look.look(sim::Surface::kTarget).color;
  const Eigen::Vector3f table = look.look(sim::Surface::kTable).color;
  const Eigen::Vector3f seen(p[0] / 255.f, p[1] / 255.f, p[2] / 255.f);
  // Shading changes the brightness, not the hue much: nearer the target's colour direction
  // than the table's.
  EXPECT_GT(seen.normalized().dot(target.normalized()), seen.normalized().dot(table.normalized()))
      << "pixel " << c.transpose() << " is " << seen.transpose();
  int changed = 0;
  for (size_t i = 0; i < plain.rgb.size(); i += 3) {
    if (std::equal(&plain.rgb[i], &plain.rgb[i] + 3, &marked.rgb[i])) continue;
    ++changed;
    EXPECT_EQ(marked.rgb[i], 255);
    EXPECT_EQ(marked.rgb[i + 1], 220);
    EXPECT_EQ(marked.rgb[i + 2], 0);
  }
  EXPECT_GT(changed, 20);   // a ring, not a dot
  EXPECT_LT(changed, 600);  // an outline, not a fill
}

INSTANTIATE_TEST_SUITE_P(Tasks, MarkTargetTest, ::testing::Values("bottle_place", "cube_stack"));

TEST(SceneView, ParseAndNone) {
  EXPECT_EQ(ParseViewMode("--view", "terminal"), ViewMode::kTerminal);
  try {
    ParseViewMode("record: --view", "tv");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("record: --view: 'tv': expected auto, window, terminal or none"));
  }
  SceneView::Options o;
  o.mode = ViewMode::kNone;
  SceneView v(Scene("bottle_place"), o);
  EXPECT_EQ(v.mode(), ViewMode::kNone);
  v.Post(Scene("bottle_place")->Nominal(), Eigen::VectorXd::Zero(31), 0);  // ignored
  EXPECT_EQ(v.posted(), 0);
}

// A pseudo-terminal of a given size for the view to draw on, in a process with no display.
struct Pty {
  Pty(int cols, int rows) {
    winsize ws{};
    ws.ws_col = static_cast<unsigned short>(cols);
    ws.ws_row = static_cast<unsigned short>(rows);
    EXPECT_EQ(openpty(&master, &slave, nullptr, nullptr, &ws), 0);
    unsetenv("DISPLAY");
    unsetenv("WAYLAND_DISPLAY");
  }
  ~Pty() {
    close(master);
    close(slave);
  }
  int master = -1, slave = -1;
};

// Reads what the view wrote to the pseudo-terminal until `done` holds or 10 s pass.
template <typename Pred>
std::string Drain(int master, std::string* out, Pred done) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  char buf[65536];
  while (!done(*out) && std::chrono::steady_clock::now() < end) {
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, 50) == 1) {
      const ssize_t n = read(master, buf, sizeof buf);
      if (n > 0) out->append(buf, static_cast<size_t>(n));
    }
  }
  return *out;
}

TEST(SceneView, TerminalViewDrawsThePictureAndPanelAndGivesTheScreenBack) {
  Pty pty(100, 30);
  const int master = pty.master;
  auto scene = Scene("bottle_place");
  SceneView::Options o;
  o.terminal_fd = pty.slave;
  o.keys_hint = "keys: q quit";
  {
    SceneView view(scene, o);
    ASSERT_EQ(view.mode(), ViewMode::kTerminal) << view.choice();
    EXPECT_THAT(view.choice(), HasSubstr("view: terminal (100x30; no display"));
    sim::World world(scene, scene->Nominal());
    view.Message("hello from the session");
    view.Panel({"PANEL LINE one", "PANEL LINE two"});
    view.Post(scene->Nominal(), world.GetState(), 0);
    // 30 rows: 1 label row, 18 picture rows (36 x 36 px per camera), then 11 rows for the
    // panel, keys and messages.
    const size_t kBlocks = (2u * 36u + 2u) * 18u;
    auto blocks = [](const std::string& s) {
      size_t n = 0;
      for (size_t i = s.find("\xe2\x96\x80"); i != std::string::npos; i = s.find("\xe2\x96\x80", i + 1)) ++n;
      return n;
    };
    std::string out;
    Drain(master, &out, [&](const std::string& s) {
      return s.find("PANEL LINE two") != std::string::npos && blocks(s) >= kBlocks;
    });
    EXPECT_THAT(out, HasSubstr("\x1b[?1049h"));  // the alternate screen
    EXPECT_THAT(out, HasSubstr("agentview"));
    EXPECT_THAT(out, HasSubstr("robot0_eye_in_hand"));
    EXPECT_THAT(out, HasSubstr("keys: q quit"));
    EXPECT_THAT(out, HasSubstr("hello from the session"));
    EXPECT_EQ(blocks(out), kBlocks);  // one picture, drawn once
    EXPECT_EQ(view.drawn(), 1);
    out.clear();
    std::thread reader([&] {  // the terminal goes on reading while the view closes
      Drain(master, &out, [](const std::string& s) { return s.find("PANEL LINE two\r\n") != std::string::npos; });
    });
    view.Close();
    reader.join();
    EXPECT_THAT(out, HasSubstr("\x1b[?1049l"));  // the normal screen back, then the messages
    EXPECT_THAT(out, HasSubstr("hello from the session\r\n"));
  }
}

// A terminal that stops reading (a stalled SSH link) must not keep the session from ending.
TEST(SceneView, CloseReturnsWhenTheTerminalStopsReading) {
  Pty pty(200, 60);
  auto scene = Scene("bottle_place");
  SceneView::Options o;
  o.terminal_fd = pty.slave;
  SceneView view(scene, o);
  ASSERT_EQ(view.mode(), ViewMode::kTerminal);
  sim::World world(scene, scene->Nominal());
  for (int i = 0; i < 20; ++i) {  // far more than the pseudo-terminal buffers, never read
    view.Post(scene->Nominal(), world.GetState(), i);
    world.Step(sim::Action::Zero());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto t0 = std::chrono::steady_clock::now();
  view.Close();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
}

TEST(SceneView, ExplicitTerminalOnATinyTerminalIsAUsageErrorAutoFallsBackToNone) {
  Pty pty(60, 20);
  SceneView::Options o;
  o.terminal_fd = pty.slave;
  o.mode = ViewMode::kTerminal;
  try {
    SceneView view(Scene("bottle_place"), o);
    FAIL() << "a 60x20 terminal was accepted";
  } catch (const UsageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--view terminal: the terminal is 60x20, the view needs at least 80x24"));
  }
  o.mode = ViewMode::kAuto;
  SceneView view(Scene("bottle_place"), o);
  EXPECT_EQ(view.mode(), ViewMode::kNone);
  EXPECT_THAT(view.choice(), HasSubstr("view: none (no display (DISPLAY and WAYLAND_DISPLAY are unset); the terminal is 60x20"));
  o.mode = ViewMode::kWindow;
  setenv("DISPLAY", ":97", 1);  // nothing listens there
  try {
    SceneView window(Scene("bottle_place"), o);
    FAIL() << "a window on a display nobody serves";
  } catch (const UsageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--view window: no X server answers on DISPLAY :97"));
  }
  unsetenv("DISPLAY");
}

}  // namespace
}  // namespace dreamforge::tools
