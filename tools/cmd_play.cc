// `play`: a demo or a dream of an episode file, step by step in the scene view (window or
// terminal, tools/scene_view.h), with a panel of its stored perturbation and the task's
// success conditions at each step.
//
// The pictures are rendered from the stored states and appearance (the bytes `render`
// would make, at the view's size). The success conditions need contacts and velocities
// that a state alone does not settle, so the episode's actions are replayed in a fresh
// world of its scene first (as `eval` of a replay would); if the replay leaves the stored
// states, play says at which step.
#include <poll.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "datasets/episode_store.h"
#include "render/dataset_render.h"
#include "robot/teleop/terminal.h"
#include "sim/rollout.h"
#include "sim/sim_error.h"
#include "tools/cli_util.h"
#include "tools/commands.h"
#include "tools/scene_view.h"

namespace dreamforge::tools {
namespace {

namespace fs = std::filesystem;
namespace rt = robot::teleop;

struct PlayArgs {
  std::string in;
  int episode = 0;
  std::string camera = "both";
  double speed = 1.0;
  std::string view = "auto";
  bool paused = false;
  bool exit_at_end = false;
};

// The task's conditions at one step of the replay.
struct StepStatus {
  sim::TaskStatus task;
  bool success = false;  // held for the task's hold time
};

// Records the world's task status before each replayed action (at state t), and where
// the replay first leaves the stored states.
class StatusProbe : public sim::Controller {
 public:
  StatusProbe(const datasets::Episode& ep, std::vector<StepStatus>* out)
      : replay_(ep.actions), states_(ep.states), out_(*out) {}
  sim::Action Act(const sim::World& world, const sim::Observation& obs) override {
    const int t = static_cast<int>(out_.size());
    out_.push_back({world.status(), world.succeeded()});
    if (diverged_ < 0 && t < states_.rows()) {
      const double d = (world.GetState() - states_.row(t).transpose()).cwiseAbs().maxCoeff();
      if (!(d <= 1e-6)) {
        diverged_ = t;
        divergence_ = d;
      }
    }
    return replay_.Act(world, obs);
  }
  bool Finished() const override { return replay_.Finished(); }
  int diverged() const { return diverged_; }
  double divergence() const { return divergence_; }

 private:
  sim::ReplayController replay_;
  const datasets::MatrixRXd& states_;
  std::vector<StepStatus>& out_;
  int diverged_ = -1;
  double divergence_ = 0.0;
};

// One episode, ready to play.
struct Loaded {
  std::string name;
  datasets::Episode ep;
  sim::SceneParams params;
  std::vector<StepStatus> status;  // per step
  std::vector<std::string> perturbation;  // "key value" items
  std::string replay_note;
};

// "key value" items of a perturbation JSON, nested keys joined by '.', numbers short.
void Flatten(const nlohmann::json& j, const std::string& prefix, std::vector<std::string>* out) {
  auto number = [](const nlohmann::json& v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3g", v.get<double>());
    return std::string(b);
  };
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) Flatten(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
    return;
  }
  std::string v;
  if (j.is_array()) {
    for (const auto& x : j) {
      if (!v.empty()) v += ",";
      if (x.is_array()) {  // e.g. object_start: one (x, y, yaw) per object
        std::string inner;
        for (const auto& y : x) inner += (inner.empty() ? "" : ",") + (y.is_number() ? number(y) : std::string(".."));
        v += "(" + inner + ")";
      } else {
        v += x.is_number() ? number(x) : (x.is_object() ? std::string("{..}") : x.dump());
      }
    }
    v = "[" + v + "]";
  } else if (j.is_number()) {
    v = number(j);
  } else if (j.is_string()) {
    v = j.get<std::string>();
  } else {
    v = j.dump();
  }
  out->push_back(prefix + " " + v);
}

Loaded Load(const datasets::EpisodeReader& reader, const std::shared_ptr<const sim::SceneModel>& model, int k) {
  Loaded l;
  l.name = reader.demo_names().at(static_cast<size_t>(k));
  l.ep = reader.ReadEpisode(k, false);
  const int need = 18 + 13 * static_cast<int>(model->task().objects().size());
  if (l.ep.states.cols() != need || l.ep.states.rows() == 0) {
    throw UsageError("play: " + reader.path().string() + ": /data/" + l.name + "/states: has " +
                     std::to_string(l.ep.states.cols()) + " values per step; playing needs the full physics state (" +
                     std::to_string(need) + ")");
  }
  try {
    l.params = render::EpisodeScene(*model, l.ep, reader.path().string(), l.name);
  } catch (const datasets::DatasetError& e) {
    throw UsageError(std::string("play: ") + e.what());
  }
  const nlohmann::json& p = l.ep.perturbation;
  if (p.is_object() && !p.empty()) {
    Flatten(p, "", &l.perturbation);
  } else {
    l.perturbation.push_back("none (the task's nominal scene)");
  }
  sim::World world(model, l.params);
  StatusProbe probe(l.ep, &l.status);
  sim::RolloutOptions opt;
  opt.max_steps = l.ep.num_samples();
  opt.stop_on_success = false;
  opt.stop_when_finished = true;
  opt.record = false;
  sim::Rollout(world, probe, opt);
  const int n = l.ep.num_samples();
  if (static_cast<int>(l.status.size()) < n) {
    l.replay_note = "the replay ended at step " + std::to_string(l.status.size()) + " of " + std::to_string(n) +
                    "; later steps show its last conditions";
    const StepStatus last = l.status.empty() ? StepStatus{} : l.status.back();
    l.status.resize(static_cast<size_t>(n), last);
  }
  if (probe.diverged() >= 0) {
    char b[160];
    std::snprintf(b, sizeof b, "the replay leaves the stored states at step %d (by %.2g); the conditions after it are the replay's",
                  probe.diverged(), probe.divergence());
    l.replay_note = b;
  }
  return l;
}

const char* YesNo(bool b) { return b ? "yes" : "no"; }

std::vector<std::string> PanelLines(const Loaded& l, int t, double hz, int episodes, int index, bool playing, double speed,
                                    int cols) {
  std::vector<std::string> lines;
  const int n = l.ep.num_samples();
  char b[512];
  std::snprintf(b, sizeof b, "%s x%.2f  %s (episode %d of %d)  step %d/%d  t %.2f s  stored success %s",
                playing ? "PLAYING" : "PAUSED", speed, l.name.c_str(), index + 1, episodes, t, n - 1, t / hz,
                YesNo(l.ep.success));
  lines.emplace_back(b);
  const StepStatus& s = l.status[static_cast<size_t>(t)];
  std::snprintf(b, sizeof b, "task  placed %s  at_rest %s  released %s  err %.1f cm  tilt %.1f deg  success %s",
                YesNo(s.task.placed), YesNo(s.task.at_rest), YesNo(s.task.released), s.task.position_error * 100.0,
                s.task.tilt * 180.0 / M_PI, s.success ? "YES" : "no");
  lines.emplace_back(b);
  const bool closed = l.ep.actions(t, 6) > 0;
  if (l.ep.eef_pose.rows() > t) {
    std::snprintf(b, sizeof b, "tool  x %+.3f y %+.3f z %+.3f m  gripper command %s", l.ep.eef_pose(t, 3),
                  l.ep.eef_pose(t, 7), l.ep.eef_pose(t, 11), closed ? "closed" : "open");
  } else {
    std::snprintf(b, sizeof b, "gripper command %s", closed ? "closed" : "open");
  }
  lines.emplace_back(b);
  // The perturbation, wrapped to the width, at most 4 lines.
  std::string line = "perturbation:";
  int wrapped = 0;
  for (const std::string& item : l.perturbation) {
    if (static_cast<int>(line.size() + 2 + item.size()) > cols && line.size() > 2) {
      if (++wrapped == 4) {
        line += " ...";
        break;
      }
      lines.push_back(line);
      line = " ";
    }
    line += "  " + item;
  }
  lines.push_back(line);
  if (!l.replay_note.empty()) lines.push_back("note: " + l.replay_note);
  return lines;
}

// Keys of play, from a terminal or the window (as a terminal sends them).
enum class Key { kNone, kPause, kLeft, kRight, kFaster, kSlower, kNext, kPrevious, kLayout, kZoom, kStart, kQuit };

class KeyParser {
 public:
  void Feed(const char* bytes, size_t n, std::vector<Key>* out) {
    for (size_t i = 0; i < n; ++i) {
      const unsigned char c = static_cast<unsigned char>(bytes[i]);
      if (escape_ == 1) {
        escape_ = (c == '[' || c == 'O') ? 2 : 0;
        if (escape_ == 2) continue;  // else an Alt+key: the key alone
      }
      if (escape_ == 2) {
        if (c >= 0x40 && c <= 0x7e) {
          escape_ = 0;
          if (c == 'C') out->push_back(Key::kRight);
          if (c == 'D') out->push_back(Key::kLeft);
          if (c == 'H') out->push_back(Key::kStart);
        }
        continue;
      }
      switch (c) {
        case 0x1b: escape_ = 1; break;
        case ' ': out->push_back(Key::kPause); break;
        case '+': case '=': out->push_back(Key::kFaster); break;
        case '-': case '_': out->push_back(Key::kSlower); break;
        case 'n': case 'N': out->push_back(Key::kNext); break;
        case 'b': case 'B': out->push_back(Key::kPrevious); break;
        case 'v': case 'V': out->push_back(Key::kLayout); break;
        case 'z': case 'Z': out->push_back(Key::kZoom); break;
        case '0': out->push_back(Key::kStart); break;
        case '.': out->push_back(Key::kRight); break;
        case ',': out->push_back(Key::kLeft); break;
        case 'q': case 'Q': case 0x03: case 0x04: out->push_back(Key::kQuit); break;
        default: break;
      }
    }
  }

 private:
  int escape_ = 0;
};

void ReadKeys(int fd, KeyParser* parser, std::vector<Key>* out) {
  if (fd < 0) return;
  char buf[64];
  for (int i = 0; i < 16; ++i) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 0) != 1 || (p.revents & POLLIN) == 0) return;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return;
    parser->Feed(buf, static_cast<size_t>(n), out);
  }
}

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

void RunPlay(const PlayArgs& a) {
  const ViewMode mode = ParseViewMode("play: --view", a.view);
  if (mode == ViewMode::kNone) throw UsageError("play: --view none: play has nothing to show without a view");
  if (!(std::isfinite(a.speed) && a.speed >= 0.05 && a.speed <= 20)) {
    throw UsageError("play: --speed: must be in [0.05, 20]");
  }
  if (a.camera != "both" && a.camera != "agentview" && a.camera != "robot0_eye_in_hand") {
    throw UsageError("play: --camera '" + a.camera + "': expected both, agentview or robot0_eye_in_hand");
  }
  if (!fs::exists(a.in)) throw UsageError("play: " + a.in + ": no such file");
  datasets::EpisodeReader reader(a.in);
  const int episodes = reader.num_episodes();
  if (episodes == 0) throw UsageError("play: " + a.in + ": has no episodes");
  if (a.episode < 0 || a.episode >= episodes) {
    throw UsageError("play: --episode " + std::to_string(a.episode) + ": " + a.in + " has episodes 0.." +
                     std::to_string(episodes - 1));
  }
  const std::string task = reader.env_args().value("env_name", "");
  std::shared_ptr<const sim::SceneModel> model;
  try {
    model = std::make_shared<const sim::SceneModel>(task, sim::SceneModel::DefaultUrdf());
  } catch (const sim::SimError& e) {
    throw UsageError("play: " + a.in + ": /data env_args.env_name: " + e.what());
  }
  int index = a.episode;
  Loaded current = Load(reader, model, index);

  const bool terminal = isatty(STDIN_FILENO) != 0;
  rt::SignalFlag signals;
  std::optional<rt::RawTerminal> raw;
  if (terminal) raw.emplace(STDIN_FILENO);
  SceneView::Options vo;
  vo.mode = mode;
  vo.title = "dreamforge play: " + fs::path(a.in).filename().string();
  vo.keys_hint = "keys: space pause  <-/-> step  +/- speed  n/b next/prev episode  0 start  v layout  z zoom  q quit";
  SceneView view(model, vo);  // throws UsageError for an explicit mode it cannot open
  if (view.mode() == ViewMode::kNone) {
    throw UsageError("play: nothing to show the episode on: " + view.reason() +
                     " (run it in a terminal of at least 80x24, or with a display)");
  }
  if (a.camera == "agentview") view.NextLayout();
  if (a.camera == "robot0_eye_in_hand") view.NextLayout(), view.NextLayout();
  // Messages: the terminal view shows them under the panel; with a window, the terminal.
  auto message = [&](const std::string& m) {
    if (view.mode() == ViewMode::kTerminal) {
      view.Message(m);
    } else {
      std::printf("%s\n", m.c_str());
      std::fflush(stdout);
    }
  };
  message(view.choice());
  message("playing " + a.in + " (task " + task + ", episodes: " + std::to_string(episodes) + ")");
  if (view.mode() == ViewMode::kWindow) message(vo.keys_hint + " (in the window or here)");

  const double hz = model->physics().control_hz();
  double speed = a.speed;
  bool playing = !a.paused;
  int t = 0;
  KeyParser term_keys, window_keys;
  double deadline = Now();
  std::string end;
  long steps_shown = 0;
  int shown_t = -1, shown_index = -1;
  for (;;) {
    if (signals.received() != 0) {
      end = std::string("interrupted (") + signals.name() + ")";
      break;
    }
    if (view.closed()) break;
    std::vector<Key> keys;
    if (terminal) ReadKeys(STDIN_FILENO, &term_keys, &keys);
    ReadKeys(view.key_fd(), &window_keys, &keys);
    bool quit = false;
    int load = -1;
    const int n = current.ep.num_samples();
    for (Key k : keys) {
      switch (k) {
        case Key::kPause:
          if (!playing && t >= n - 1) t = 0;  // at the end: play again
          playing = !playing;
          break;
        case Key::kLeft: playing = false; t = std::max(0, t - 1); break;
        case Key::kRight: playing = false; t = std::min(n - 1, t + 1); break;
        case Key::kFaster: speed = std::min(20.0, speed * 1.5); break;
        case Key::kSlower: speed = std::max(0.05, speed / 1.5); break;
        case Key::kNext: load = (index + 1) % episodes; break;
        case Key::kPrevious: load = (index + episodes - 1) % episodes; break;
        case Key::kLayout: view.NextLayout(); break;
        case Key::kZoom: view.ToggleZoom(); break;
        case Key::kStart: t = 0; break;
        case Key::kQuit: quit = true; break;
        case Key::kNone: break;
      }
    }
    if (quit) break;
    if (load >= 0 && load != index) {
      index = load;
      current = Load(reader, model, index);
      t = 0;
      message("episode " + current.name);
    }
    if (t != shown_t || index != shown_index) {  // a paused view is not redrawn
      view.Post(current.params, current.ep.states.row(t).transpose(), t);
      shown_t = t;
      shown_index = index;
      ++steps_shown;
    }
    winsize ws{};
    const int cols = view.mode() == ViewMode::kTerminal && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0
                         ? ws.ws_col - 1
                         : 110;
    view.Panel(PanelLines(current, t, hz, episodes, index, playing, speed, cols));
    if (playing) {
      if (t + 1 < current.ep.num_samples()) {
        ++t;
      } else if (!a.exit_at_end && (terminal || view.key_fd() >= 0)) {
        playing = false;  // stay on the last step: keys step back, space plays again
        message("end of " + current.name + ": space plays it again, n the next episode, q quits");
      } else {
        break;  // nobody can press a key: done
      }
    }
    deadline += playing ? 1.0 / (hz * speed) : 0.05;
    const double now = Now();
    if (now > deadline + 0.1) deadline = now;
    if (deadline > now) {
      timespec ts;
      ts.tv_sec = static_cast<time_t>(deadline);
      ts.tv_nsec = static_cast<long>((deadline - static_cast<double>(ts.tv_sec)) * 1e9);
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    }
  }
  const long drawn = view.drawn();
  view.Close();
  if (raw) raw->Restore();
  std::printf("play: %s: %ld steps shown, %ld frames drawn%s\n", a.in.c_str(), steps_shown, drawn,
              end.empty() ? "" : ("; " + end).c_str());
  if (!end.empty()) {
    std::fflush(stdout);
    std::exit(128 + signals.received());
  }
}

}  // namespace

void AddPlayCommand(CLI::App& app) {
  auto a = std::make_shared<PlayArgs>();
  auto* cmd = app.add_subcommand(
      "play",
      "Play a demo or a dream of an episode file in the scene view (window or terminal), step by step,\n"
      "with its stored perturbation and the task's success conditions at each step.");
  cmd->add_option("file", a->in, "Episode file with states (a demo, dreams)")->required();
  cmd->add_option("--episode", a->episode, "Episode index to start with (n / b switch while playing)")
      ->capture_default_str();
  cmd->add_option("--camera", a->camera, "both | agentview | robot0_eye_in_hand (v switches while playing)")
      ->capture_default_str();
  cmd->add_option("--speed", a->speed, "Playback speed, 1: real time at the control rate (+ / - change it)")
      ->capture_default_str();
  cmd->add_option("--view", a->view,
                  "auto | window | terminal. auto: a window when a display answers, else the terminal\n"
                  "(at least 80x24)")
      ->capture_default_str();
  cmd->add_flag("--paused", a->paused, "Start paused on the first step");
  cmd->add_flag("--exit-at-end", a->exit_at_end,
                "Exit after the last step instead of staying on it (scripts; without a terminal or\n"
                "window it always does)");
  cmd->footer(
      "Keys (in the terminal, or in the window): space pause / play, left / right arrow (or , / .)\n"
      "step one control step (pauses), + / - speed, n / b next / previous episode, 0 back to the\n"
      "first step, v camera layout, z zoom the wrist camera, q quit. At the end of an\n"
      "episode play stays on its last step; without a terminal or window keys it exits there.");
  cmd->callback([a] { RunPlay(*a); });
}

}  // namespace dreamforge::tools
