#include "tools/scene_view.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include <opencv2/core.hpp>
#include <opencv2/highgui.hpp>
#include <opencv2/imgproc.hpp>

#include "render/frames.h"
#include "tools/cli_util.h"

namespace dreamforge::tools {
namespace {

namespace fs = std::filesystem;

struct TermSize {
  int cols = 0, rows = 0;
};

TermSize QueryTermSize(int fd) {
  winsize ws{};
  if (ioctl(fd, TIOCGWINSZ, &ws) != 0) return {};
  return {ws.ws_col, ws.ws_row};
}

// Connects to `addr` within `timeout_ms`; true if something accepted.
bool Connects(const sockaddr* addr, socklen_t len, int family, int timeout_ms) {
  const int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = connect(fd, addr, len) == 0;
  if (!ok && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t err_len = sizeof err;
    ok = poll(&p, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) == 0 && err == 0;
  }
  close(fd);
  return ok;
}

// Whether the X display `display` ("[host]:N[.S]") accepts connections. Checked before
// Qt is asked for a window: Qt aborts the process when it cannot reach its display.
bool XDisplayAnswers(const std::string& display, std::string* why) {
  const size_t colon = display.rfind(':');
  const int number = colon == std::string::npos ? -1 : std::atoi(display.c_str() + colon + 1);
  if (colon == std::string::npos || number < 0 || colon + 1 >= display.size() ||
      !std::isdigit(static_cast<unsigned char>(display[colon + 1]))) {
    *why = "DISPLAY '" + display + "' is not of the form [host]:N";
    return false;
  }
  const std::string host = display.substr(0, colon);
  if (host.empty() || host == "unix") {
    const std::string path = "/tmp/.X11-unix/X" + std::to_string(number);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    // Linux X servers listen on the abstract name too; either will do.
    for (const bool abstract : {false, true}) {
      std::memset(a.sun_path, 0, sizeof a.sun_path);
      std::strncpy(a.sun_path + (abstract ? 1 : 0), path.c_str(), sizeof a.sun_path - 2);
      const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + (abstract ? 1 : 0) + path.size() + (abstract ? 0 : 1));
      if (Connects(reinterpret_cast<const sockaddr*>(&a), len, AF_UNIX, 500)) return true;
    }
    *why = "no X server answers on DISPLAY " + display + " (" + path + ")";
    return false;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(6000 + number).c_str(), &hints, &res) == 0) {
    for (addrinfo* r = res; r; r = r->ai_next) {
      if (Connects(r->ai_addr, r->ai_addrlen, r->ai_family, 1000)) {
        freeaddrinfo(res);
        return true;
      }
    }
    freeaddrinfo(res);
  }
  *why = "no X server answers on DISPLAY " + display;
  return false;
}

// Whether a window can be asked for at all (see XDisplayAnswers); sets QT_QPA_PLATFORM for
// a Wayland-only session when Qt's Wayland plugin is installed.
bool DisplayAvailable(std::string* why) {
  const char* x = std::getenv("DISPLAY");
  if (x && *x) return XDisplayAnswers(x, why);
  const char* wl = std::getenv("WAYLAND_DISPLAY");
  if (wl && *wl) {
    const char* runtime = std::getenv("XDG_RUNTIME_DIR");
    const fs::path sock = fs::path(wl).is_absolute() ? fs::path(wl) : fs::path(runtime ? runtime : "") / wl;
    std::error_code ec;
    if (!fs::exists(sock, ec)) {
      *why = "WAYLAND_DISPLAY " + std::string(wl) + ": no socket at " + sock.string();
      return false;
    }
    bool plugin = false;
    for (const char* dir : {"/usr/lib/x86_64-linux-gnu/qt5/plugins/platforms", "/usr/lib/aarch64-linux-gnu/qt5/plugins/platforms"}) {
      for (const char* name : {"libqwayland-generic.so", "libqwayland-egl.so"}) {
        plugin = plugin || fs::exists(fs::path(dir) / name, ec);
      }
    }
    if (!plugin) {
      *why = "a Wayland session without DISPLAY needs Qt's Wayland plugin (apt-get install qtwayland5)";
      return false;
    }
    setenv("QT_QPA_PLATFORM", "wayland", 0);
    return true;
  }
  *why = "no display (DISPLAY and WAYLAND_DISPLAY are unset)";
  return false;
}

// Writes `s` to the terminal (a non-blocking descriptor) as it takes it. A terminal that stops reading
// (a stalled SSH link, a paused pane) blocks only this thread, until `stopping` is set:
// then one second without progress ends the attempt, so that Close() never hangs on it.
void WriteAll(int fd, const std::string& s, const std::atomic<bool>& stopping) {
  size_t done = 0;
  int idle = 0;  // polls in a row without room, while stopping
  while (done < s.size()) {
    pollfd p{fd, POLLOUT, 0};
    const int r = poll(&p, 1, 100);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      if (stopping.load() && ++idle >= 10) return;
      continue;
    }
    if (r < 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) return;  // the terminal is gone
    idle = 0;
    const ssize_t n = write(fd, s.data() + done, s.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR && errno != EAGAIN) {
      return;
    }
  }
}

// A waitKeyEx code (Qt or GTK backend) as the bytes a terminal sends for that key.
std::string KeyBytes(int code) {
  switch (code) {
    case 0x01000012: case 0xff51: return "\x1b[D";  // left
    case 0x01000013: case 0xff52: return "\x1b[A";  // up
    case 0x01000014: case 0xff53: return "\x1b[C";  // right
    case 0x01000015: case 0xff54: return "\x1b[B";  // down
    case 0x01000004: case 0x01000005: case 0xff0d: return "\r";
    default: break;
  }
  if (code >= 0 && code < 128) return std::string(1, static_cast<char>(code == '\n' ? '\r' : code));
  return "";
}

std::string Cut(const std::string& s, int width) {
  return static_cast<int>(s.size()) > width ? s.substr(0, static_cast<size_t>(std::max(0, width))) : s;
}

std::string Centered(const std::string& s, int width) {
  const std::string c = Cut(s, width);
  const int pad = (width - static_cast<int>(c.size())) / 2;
  return std::string(static_cast<size_t>(pad), ' ') + c + std::string(static_cast<size_t>(width - pad - static_cast<int>(c.size())), ' ');
}

constexpr int kGap = 2;  // px between cameras
// Terminal rows that are not picture: the camera labels, the panel (up to 7 lines), the
// keys line and at least 3 lines of messages.
constexpr int kTextRows = 1 + 7 + 1 + 3;
constexpr int kMaxMessages = 200;

}  // namespace

ViewMode ParseViewMode(const std::string& flag, const std::string& v) {
  if (v == "auto") return ViewMode::kAuto;
  if (v == "window") return ViewMode::kWindow;
  if (v == "terminal") return ViewMode::kTerminal;
  if (v == "none") return ViewMode::kNone;
  throw UsageError(flag + ": '" + v + "': expected auto, window, terminal or none");
}

const char* ViewModeName(ViewMode mode) {
  switch (mode) {
    case ViewMode::kAuto: return "auto";
    case ViewMode::kWindow: return "window";
    case ViewMode::kTerminal: return "terminal";
    case ViewMode::kNone: break;
  }
  return "none";
}

std::vector<std::string> HalfBlockLines(const uint8_t* rgb, int width, int height) {
  std::vector<std::string> lines;
  char code[48];
  for (int y = 0; y < height; y += 2) {
    std::string line;
    line.reserve(static_cast<size_t>(width) * 20);
    int fg = -1, bg = -1;
    for (int x = 0; x < width; ++x) {
      const uint8_t* top = rgb + (static_cast<size_t>(y) * width + x) * 3;
      static const uint8_t kBlack[3] = {0, 0, 0};
      const uint8_t* bottom = y + 1 < height ? rgb + (static_cast<size_t>(y + 1) * width + x) * 3 : kBlack;
      const int f = (top[0] << 16) | (top[1] << 8) | top[2];
      const int b = (bottom[0] << 16) | (bottom[1] << 8) | bottom[2];
      if (f != fg) {
        std::snprintf(code, sizeof code, "\x1b[38;2;%d;%d;%dm", top[0], top[1], top[2]);
        line += code;
        fg = f;
      }
      if (b != bg) {
        std::snprintf(code, sizeof code, "\x1b[48;2;%d;%d;%dm", bottom[0], bottom[1], bottom[2]);
        line += code;
        bg = b;
      }
      line += "\xe2\x96\x80";  // U+2580 upper half block
    }
    line += "\x1b[0m";
    lines.push_back(std::move(line));
  }
  return lines;
}

render::Image SideBySide(const std::vector<const render::Image*>& images, int gap, uint8_t gap_grey) {
  render::Image out;
  for (const render::Image* im : images) {
    out.width += im->width;
    out.height = std::max(out.height, im->height);
  }
  out.width += gap * std::max(0, static_cast<int>(images.size()) - 1);
  out.rgb.assign(static_cast<size_t>(out.width) * out.height * 3, gap_grey);
  int x0 = 0;
  for (const render::Image* im : images) {
    for (int y = 0; y < im->height; ++y) {
      std::memcpy(&out.rgb[(static_cast<size_t>(y) * out.width + x0) * 3], &im->rgb[static_cast<size_t>(y) * im->width * 3],
                  static_cast<size_t>(im->width) * 3);
    }
    x0 += im->width + gap;
  }
  return out;
}

Eigen::Vector2d MarkTarget(const render::VisualModel& model, const render::ScenePose& pose,
                           const render::CameraSpec& camera, const sim::Appearance& look, render::Image* image) {
  const sim::Task& task = model.scene().task();
  // The target part: the zone marker, or the object the manipulated one is placed on.
  int part = -1;
  for (size_t k = 0; k < model.parts().size(); ++k) {
    if (model.parts()[k].surface == sim::Surface::kTarget) {
      part = static_cast<int>(k);
      break;
    }
  }
  if (part < 0) return {-1, -1};
  const Eigen::Isometry3d frame = pose.parts[part];
  const Eigen::Vector3d scale = pose.part_scale[part];
  Eigen::Vector3d centre = frame.translation();
  double radius = task.target_zone_radius();
  if (radius <= 0) {  // a box (edge 1, scaled): a ring just outside its top face
    centre += frame.linear().col(2) * (0.5 * scale.z());
    radius = 0.75 * std::max(scale.x(), scale.y());
  }
  double fovy = camera.fovy_deg;
  const Eigen::Isometry3d cam = render::CameraWorldPose(model, pose, camera, look, &fovy);
  render::CameraSpec c = camera;
  c.fovy_deg = fovy;
  const render::Intrinsics k = c.intrinsics();
  const Eigen::Isometry3d to_cam = cam.inverse();
  auto project = [&](const Eigen::Vector3d& p, cv::Point2d* px) {
    const Eigen::Vector3d q = to_cam * p;
    if (q.z() <= camera.near) return false;
    *px = cv::Point2d(k.fx * q.x() / q.z() + k.cx, k.fy * q.y() / q.z() + k.cy);
    return true;
  };
  cv::Mat img(image->height, image->width, CV_8UC3, image->rgb.data());
  const cv::Scalar yellow(255, 220, 0);  // RGB order: the image is RGB
  constexpr int kPoints = 32;
  std::vector<cv::Point> ring;
  for (int i = 0; i <= kPoints; ++i) {
    const double a = 2 * M_PI * i / kPoints;
    cv::Point2d px;
    const Eigen::Vector3d p = centre + radius * (frame.linear().col(0) * std::cos(a) + frame.linear().col(1) * std::sin(a));
    if (!project(p, &px)) {
      ring.clear();
      continue;
    }
    ring.emplace_back(static_cast<int>(std::lround(px.x - 0.5)), static_cast<int>(std::lround(px.y - 0.5)));
    if (ring.size() >= 2) cv::line(img, ring[ring.size() - 2], ring.back(), yellow, 1, cv::LINE_8);
  }
  cv::Point2d c_px;
  if (!project(centre, &c_px)) return {-1, -1};
  return {c_px.x, c_px.y};
}

render::CameraSpec Zoomed(const render::CameraSpec& camera, double zoom) {
  render::CameraSpec c = camera;
  c.fovy_deg = 2.0 * std::atan(std::tan(0.5 * camera.fovy_deg * M_PI / 180.0) / zoom) * 180.0 / M_PI;
  return c;
}

struct SceneView::Shared {
  std::mutex m;
  std::condition_variable cv;
  bool started = false;    // the thread's renderer (and window) came up, or failed:
  std::string start_error;  // why, when it failed
  bool stop = false;
  // The latest posted scene.
  bool have = false, fresh = false;
  sim::SceneParams params;
  Eigen::VectorXd state;
  int step = 0;
  long posted = 0, drawn = 0;
  // Text (terminal view) and view settings.
  std::vector<std::string> panel;
  std::deque<std::string> messages;
  bool text_dirty = true;
  ViewLayout layout = ViewLayout::kBoth;
  double zoom = 1.0;
  bool settings_dirty = false;
  std::atomic<bool> closed{false};
  std::atomic<bool> stopping{false};  // Close() waits for the thread: no terminal write may block it
  bool closed_down = false;
  std::thread thread;
};

SceneView::SceneView(std::shared_ptr<const sim::SceneModel> model, const Options& options)
    : model_(std::move(model)), options_(options), shared_(std::make_unique<Shared>()) {
  const ViewMode want = options.mode;
  if (want == ViewMode::kNone) {
    reason_ = "--view none";
    choice_ = "view: none (--view none)";
    return;
  }
  std::string why_not_window, why_not_terminal;
  if (want == ViewMode::kAuto || want == ViewMode::kWindow) {
    if (DisplayAvailable(&why_not_window) && Start(ViewMode::kWindow, &why_not_window)) {
      const char* d = std::getenv("DISPLAY");
      choice_ = std::string("view: window (display ") + (d && *d ? d : std::getenv("WAYLAND_DISPLAY")) + ")";
      return;
    }
    if (want == ViewMode::kWindow) throw UsageError("--view window: " + why_not_window);
  }
  const TermSize size = QueryTermSize(options.terminal_fd);
  if (!isatty(options.terminal_fd)) {
    why_not_terminal = "standard output is not a terminal";
  } else if (size.cols < kMinViewCols || size.rows < kMinViewRows) {
    why_not_terminal = "the terminal is " + std::to_string(size.cols) + "x" + std::to_string(size.rows) +
                       ", the view needs at least " + std::to_string(kMinViewCols) + "x" + std::to_string(kMinViewRows);
  }
  if (why_not_terminal.empty() && Start(ViewMode::kTerminal, &why_not_terminal)) {
    choice_ = "view: terminal (" + std::to_string(size.cols) + "x" + std::to_string(size.rows) + "; " +
              (want == ViewMode::kTerminal ? "--view terminal" : why_not_window) + ")";
    return;
  }
  if (want == ViewMode::kTerminal) throw UsageError("--view terminal: " + why_not_terminal);
  reason_ = why_not_window + "; " + why_not_terminal;
  choice_ = "view: none (" + reason_ + ")";
}

SceneView::~SceneView() { Close(); }

bool SceneView::Start(ViewMode mode, std::string* why) {
  if (mode == ViewMode::kWindow) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      *why = std::string("pipe: ") + std::strerror(errno);
      return false;
    }
    key_read_fd_ = fds[0];
    key_write_fd_ = fds[1];
  }
  mode_ = mode;
  shared_->started = false;
  shared_->start_error.clear();
  shared_->thread = std::thread([this] { Run(); });
  std::unique_lock<std::mutex> lock(shared_->m);
  shared_->cv.wait(lock, [&] { return shared_->started; });
  if (shared_->start_error.empty()) return true;
  *why = shared_->start_error;
  lock.unlock();
  shared_->thread.join();
  if (key_read_fd_ >= 0) close(key_read_fd_);
  if (key_write_fd_ >= 0) close(key_write_fd_);
  key_read_fd_ = key_write_fd_ = -1;
  mode_ = ViewMode::kNone;
  return false;
}

void SceneView::Post(const sim::SceneParams& params, const Eigen::VectorXd& state, int step) {
  if (mode_ == ViewMode::kNone) return;
  Shared& s = *shared_;
  {
    std::lock_guard<std::mutex> lock(s.m);
    s.params = params;
    s.state = state;
    s.step = step;
    s.have = s.fresh = true;
    ++s.posted;
  }
  s.cv.notify_one();
}

void SceneView::Panel(const std::vector<std::string>& lines) {
  Shared& s = *shared_;
  {
    std::lock_guard<std::mutex> lock(s.m);
    if (s.panel == lines) return;
    s.panel = lines;
    s.text_dirty = true;
  }
  s.cv.notify_one();
}

void SceneView::Message(const std::string& line) {
  Shared& s = *shared_;
  {
    std::lock_guard<std::mutex> lock(s.m);
    size_t begin = 0;
    for (;;) {  // one entry per line
      const size_t end = line.find('\n', begin);
      s.messages.push_back(line.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
      if (s.messages.size() > kMaxMessages) s.messages.pop_front();
      if (end == std::string::npos) break;
      begin = end + 1;
    }
    s.text_dirty = true;
  }
  s.cv.notify_one();
}

void SceneView::NextLayout() {
  Shared& s = *shared_;
  std::lock_guard<std::mutex> lock(s.m);
  s.layout = s.layout == ViewLayout::kBoth ? ViewLayout::kAgentview
                                           : (s.layout == ViewLayout::kAgentview ? ViewLayout::kWrist : ViewLayout::kBoth);
  s.settings_dirty = true;
  s.cv.notify_one();
}

void SceneView::ToggleZoom() {
  Shared& s = *shared_;
  std::lock_guard<std::mutex> lock(s.m);
  s.zoom = s.zoom > 1.0 ? 1.0 : 2.0;
  s.settings_dirty = true;
  s.cv.notify_one();
}

bool SceneView::closed() const { return shared_->closed.load(); }

long SceneView::posted() const {
  std::lock_guard<std::mutex> lock(shared_->m);
  return shared_->posted;
}

long SceneView::drawn() const {
  std::lock_guard<std::mutex> lock(shared_->m);
  return shared_->drawn;
}

void SceneView::Close() {
  Shared& s = *shared_;
  {
    std::lock_guard<std::mutex> lock(s.m);
    if (s.closed_down) return;
    s.closed_down = true;
    s.stop = true;
    s.stopping = true;
  }
  s.cv.notify_all();
  if (s.thread.joinable()) s.thread.join();
  if (key_read_fd_ >= 0) close(key_read_fd_);
  if (key_write_fd_ >= 0) close(key_write_fd_);
  key_read_fd_ = key_write_fd_ = -1;
}

void SceneView::Run() {
  Shared& s = *shared_;
  const bool window = mode_ == ViewMode::kWindow;
  const std::string& title = options_.title;
  std::shared_ptr<const render::VisualModel> visual;
  std::unique_ptr<render::FrameRenderer> frames;
  {
    std::string error;
    try {
      visual = std::make_shared<const render::VisualModel>(model_);
      frames = std::make_unique<render::FrameRenderer>(visual, render::DefaultCameras());
      if (window) {
        cv::namedWindow(title, cv::WINDOW_AUTOSIZE | cv::WINDOW_GUI_NORMAL);  // no Qt toolbar
        cv::waitKey(1);
      }
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "the view could not start";
    }
    std::lock_guard<std::mutex> lock(s.m);
    s.started = true;
    s.start_error = error;
    s.cv.notify_all();
    if (!error.empty()) return;
  }
  // The terminal through a descriptor of our own, non-blocking (a write to a full terminal
  // must not block, see WriteAll), leaving the flags of the caller's stdout alone.
  int fd = options_.terminal_fd;
  int own_fd = -1;
  if (!window) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", options_.terminal_fd);
    own_fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (own_fd >= 0) fd = own_fd;
  }
  if (!window) WriteAll(fd, "\x1b[?1049h\x1b[?25l\x1b[2J", s.stopping);  // alternate screen, no cursor

  const std::vector<render::CameraSpec> defaults = render::DefaultCameras();
  render::Image picture;
  std::vector<std::string> labels;
  sim::SceneParams params;
  Eigen::VectorXd state;
  int step = 0;
  bool have = false;
  ViewLayout layout = ViewLayout::kBoth;
  double zoom = 1.0;
  std::vector<std::string> panel, messages;
  TermSize size;
  int side = 0;
  for (;;) {
    bool new_scene = false, new_text = false, new_settings = false;
    {
      std::unique_lock<std::mutex> lock(s.m);
      s.cv.wait_for(lock, std::chrono::milliseconds(window ? 15 : 100),
                    [&] { return s.stop || s.fresh || s.text_dirty || s.settings_dirty; });
      if (s.stop) break;
      if (s.fresh) {
        params = s.params;
        state = s.state;
        step = s.step;
        have = true;
        s.fresh = false;
        new_scene = true;
        ++s.drawn;
      }
      if (s.text_dirty) {
        panel = s.panel;
        messages.assign(s.messages.begin(), s.messages.end());
        s.text_dirty = false;
        new_text = true;
      }
      if (s.settings_dirty) {
        layout = s.layout;
        zoom = s.zoom;
        s.settings_dirty = false;
        new_settings = true;
      }
    }
    if (s.closed.load()) continue;  // the window is gone; wait for Close()
    const int n = layout == ViewLayout::kBoth ? 2 : 1;
    bool resized = false;
    if (window) {
      if (side != options_.window_px) resized = true;
      side = options_.window_px;
    } else {
      const TermSize now = QueryTermSize(fd);
      if (now.cols != size.cols || now.rows != size.rows) {
        size = now;
        resized = true;
        WriteAll(fd, "\x1b[0m\x1b[2J", s.stopping);
      }
      const int pic_rows = std::max(4, size.rows - kTextRows);
      side = std::min(2 * pic_rows, (size.cols - 1 - (n - 1) * kGap) / n);
      side = std::clamp(side & ~1, 8, 256);
    }
    if (have && (new_scene || new_settings || resized)) {
      const sim::Appearance look = sim::AppearanceOf(params, model_->task());
      std::vector<render::Image> images;
      labels.clear();
      for (int k = 0; k < 2; ++k) {
        if ((k == 0 && layout == ViewLayout::kWrist) || (k == 1 && layout == ViewLayout::kAgentview)) continue;
        render::CameraSpec cam = defaults[k];
        cam.width = cam.height = side;
        if (k == 1 && zoom > 1.0) cam = Zoomed(cam, zoom);
        images.emplace_back();
        frames->RenderState(params, state, step, cam, &images.back());  // as `render` draws a step
        MarkTarget(*visual, frames->pose(), cam, look, &images.back());
        labels.push_back(cam.name + (k == 1 && zoom > 1.0 ? " (zoom x2)" : ""));
      }
      std::vector<const render::Image*> ptrs;
      for (const render::Image& im : images) ptrs.push_back(&im);
      picture = SideBySide(ptrs, kGap);
    } else if (!window && !new_text && !resized) {
      continue;  // nothing new to draw (a window still needs its events handled below)
    }
    if (window) {
      if (!picture.rgb.empty() && (new_scene || new_text || new_settings || resized)) {
        const int line_h = 18;
        const int rows = static_cast<int>(panel.size());
        cv::Mat canvas(picture.height + 20 + line_h * rows, std::max(picture.width, 560), CV_8UC3, cv::Scalar(30, 30, 30));
        cv::Mat rgb(picture.height, picture.width, CV_8UC3, picture.rgb.data());
        cv::cvtColor(rgb, canvas(cv::Rect(0, 0, picture.width, picture.height)), cv::COLOR_RGB2BGR);
        int x = 0;
        for (const std::string& label : labels) {
          cv::putText(canvas, label, cv::Point(x + 4, 14), cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
          x += side + kGap;
        }
        for (int r = 0; r < rows; ++r) {
          cv::putText(canvas, panel[static_cast<size_t>(r)], cv::Point(6, picture.height + 16 + line_h * r),
                      cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(230, 230, 230), 1, cv::LINE_AA);
        }
        cv::imshow(title, canvas);
      }
      for (int i = 0; i < 8; ++i) {
        const int code = cv::waitKeyEx(1);
        if (code < 0) break;
        const std::string bytes = KeyBytes(code);
        if (!bytes.empty() && key_write_fd_ >= 0) {
          if (write(key_write_fd_, bytes.data(), bytes.size()) < 0) break;  // full: the key is dropped
        }
      }
      if (cv::getWindowProperty(title, cv::WND_PROP_VISIBLE) < 1) s.closed = true;
      continue;
    }
    // The terminal: labels, picture, panel, keys, messages, each line at its row.
    std::string out;
    auto at = [&](int row, const std::string& text) {
      if (row > size.rows) return;  // past the bottom the terminal would overwrite the last row
      out += "\x1b[" + std::to_string(row) + ";1H" + text + "\x1b[0m\x1b[K";
    };
    if (new_settings && !resized) out += "\x1b[0m\x1b[2J";  // another layout: everything moves
    const int pic_rows = (picture.height + 1) / 2;
    if (!picture.rgb.empty() && (new_scene || new_settings || resized)) {
      std::string label_line;
      for (const std::string& label : labels) label_line += Centered(label, side) + std::string(kGap, ' ');
      at(1, "\x1b[1m" + Cut(label_line, size.cols - 1));
      const std::vector<std::string> lines = HalfBlockLines(picture.rgb.data(), picture.width, picture.height);
      for (size_t r = 0; r < lines.size(); ++r) at(2 + static_cast<int>(r), lines[r]);
    }
    if (new_text || new_settings || resized) {
      int row = 2 + std::max(pic_rows, side / 2);
      for (const std::string& l : panel) at(row++, Cut(l, size.cols - 1));
      if (!options_.keys_hint.empty()) at(row++, "\x1b[2m" + Cut(options_.keys_hint, size.cols - 1));
      const int room = size.rows - row + 1;
      const size_t first = messages.size() > static_cast<size_t>(std::max(0, room)) ? messages.size() - room : 0;
      for (size_t i = first; i < messages.size() && row <= size.rows; ++i) at(row++, Cut(messages[i], size.cols - 1));
      while (row <= size.rows) at(row++, "");
    }
    if (!out.empty()) WriteAll(fd, out, s.stopping);
  }
  if (window) {
    cv::destroyWindow(title);
    cv::waitKey(1);
  } else {
    std::string out = "\x1b[0m\x1b[?25h\x1b[?1049l";  // cursor back, normal screen
    {
      std::lock_guard<std::mutex> lock(s.m);
      for (const std::string& m : s.messages) out += m + "\n";
      for (const std::string& l : s.panel) out += l + "\n";
    }
    WriteAll(fd, out, s.stopping);
    if (own_fd >= 0) close(own_fd);
  }
  frames->renderer().Release();
}

}  // namespace dreamforge::tools
