#include "tools/teleop_display.h"

#include <cmath>
#include <cstdarg>

#include <sys/ioctl.h>
#include <unistd.h>

#include <filesystem>

#include "robot/geometry.h"

namespace dreamforge::tools {
namespace {

std::string Printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Printf(const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  return buf;
}

const char* YesNo(bool b) { return b ? "yes" : "no"; }

}  // namespace

StatusDisplay::StatusDisplay(std::FILE* out, bool terminal, int plain_every)
    : out_(out), terminal_(terminal), plain_every_(plain_every) {}

std::vector<std::string> StatusDisplay::Format(const TeleopStatus& s) {
  const char* state = s.state == TeleopStatus::State::kReady
                          ? "READY (move to start)"
                          : (s.state == TeleopStatus::State::kPaused ? "PAUSED" : "RECORDING");
  const Eigen::Vector3d p = s.tool.translation();
  const Eigen::Vector3d rpy = robot::MatrixToRpy(s.tool.linear()) * 180.0 / M_PI;
  std::vector<std::string> lines;
  lines.push_back(Printf("%s  attempt %d  t %.2f s  step %d%s  saved %d -> %s", state, s.attempt,
                         s.time, s.steps, s.steps > s.max_steps ? " (over the task budget)" : "",
                         s.saved, std::filesystem::path(s.out).filename().c_str()));
  lines.push_back(Printf("tool  x %+.3f y %+.3f z %+.3f m  roll %+.1f pitch %+.1f yaw %+.1f deg",
                         p.x(), p.y(), p.z(), rpy.x(), rpy.y(), rpy.z()));
  lines.push_back(Printf("gripper %s  width %.3f m  contact %s",
                         s.gripper_command > 0 ? "closed" : "open", s.gripper_width,
                         YesNo(s.contact)));
  lines.push_back(
      Printf("task  placed %s  at_rest %s  released %s  err %.1f cm  tilt %.1f deg  "
             "success %s",
             YesNo(s.task.placed), YesNo(s.task.at_rest), YesNo(s.task.released),
             s.task.position_error * 100.0, s.task.tilt * 180.0 / M_PI, s.success ? "YES" : "no"));
  std::string input = Printf("input %s  speed x%.2f (%.3f m/s)  inputs %ld  late %ld", s.motion.c_str(),
                             s.speed_scale, s.linear_speed, s.inputs, s.late);
  if (s.view_drawn >= 0) input += Printf("  view %ld/%ld frames", s.view_drawn, s.view_posted);
  lines.push_back(input);
  return lines;
}

void StatusDisplay::Draw() {
  // Lines that wrap would break the cursor-up redraw: cut them to the terminal width.
  winsize ws{};
  const std::size_t width =
      ioctl(fileno(out_), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col - 1 : 1000;
  if (drawn_lines_ > 0) std::fprintf(out_, "\033[%dA", drawn_lines_);
  for (const std::string& l : panel_) {
    std::fprintf(out_, "\r\033[K%s\n", l.substr(0, width).c_str());
  }
  drawn_lines_ = static_cast<int>(panel_.size());
  std::fflush(out_);
}

void StatusDisplay::Message(const std::string& line) {
  if (sink_) {
    sink_->Message(line);
    return;
  }
  if (terminal_ && drawn_lines_ > 0) {
    std::fprintf(out_, "\033[%dA\r\033[J", drawn_lines_);  // up to the panel, clear below
    drawn_lines_ = 0;
  }
  std::fprintf(out_, "%s\n", line.c_str());
  if (terminal_ && !panel_.empty()) {
    Draw();
  } else {
    std::fflush(out_);
  }
}

void StatusDisplay::Show(const TeleopStatus& status) {
  std::vector<std::string> panel = Format(status);
  const bool same = panel == panel_;
  panel_ = std::move(panel);
  if (sink_) {
    if (!same) sink_->Panel(panel_);
  } else if (terminal_) {
    if (!same || drawn_lines_ == 0) Draw();
  } else if (!same && shows_ % plain_every_ == 0) {
    std::fprintf(out_, "%s | %s | %s\n", panel_[0].c_str(), panel_[1].c_str(), panel_[3].c_str());
    std::fflush(out_);
  }
  ++shows_;
}

void StatusDisplay::Close() {
  if (terminal_ && drawn_lines_ > 0) std::fflush(out_);
  drawn_lines_ = 0;
  panel_.clear();
}

}  // namespace dreamforge::tools
