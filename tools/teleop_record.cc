#include "tools/teleop_record.h"

#include <time.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "datasets/episode_store.h"
#include "robot/teleop/gamepad.h"
#include "robot/teleop/keyboard.h"
#include "robot/teleop/spacemouse.h"
#include "robot/teleop/terminal.h"
#include "sim/rollout.h"
#include "sim/world.h"
#include "tools/cli_util.h"
#include "tools/teleop_display.h"
#include "tools/teleop_store.h"

namespace dreamforge::tools {
namespace {

namespace fs = std::filesystem;
namespace rt = robot::teleop;

constexpr const char kDefaultGamepad[] = "/dev/input/js0";

double MonotonicSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Sleeps until `deadline` (MonotonicSeconds); returns early on a signal.
void SleepUntil(double deadline) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(deadline);
  ts.tv_nsec = static_cast<long>((deadline - static_cast<double>(ts.tv_sec)) * 1e9);
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

// The device for `spec`, plus the keyboard (for save, discard and quit) when standard
// input is a terminal. Throws UsageError or robot::teleop::DeviceError.
std::unique_ptr<rt::Device> OpenDevice(const std::string& spec, const rt::TeleopConfig& config,
                                       bool terminal) {
  if (spec == "keyboard") {
    // Keys come from the terminal and the status panel goes to it: both must be one.
    if (!terminal || isatty(STDOUT_FILENO) == 0) {
      throw UsageError(std::string("record: --device 'keyboard': standard ") +
                       (terminal ? "output" : "input") +
                       " is not a terminal; run it in a terminal (or use --device gamepad or "
                       "spacemouse)");
    }
    return std::make_unique<rt::KeyboardDevice>(STDIN_FILENO, config);
  }
  std::unique_ptr<rt::Device> device;
  const std::string kGamepad = "gamepad:";
  if (spec == "gamepad") {
    device = rt::OpenGamepad(kDefaultGamepad, config);
  } else if (spec.rfind(kGamepad, 0) == 0 && spec.size() > kGamepad.size()) {
    device = rt::OpenGamepad(spec.substr(kGamepad.size()), config);
  } else if (spec == "spacemouse") {
    device = rt::OpenSpaceMouse(config);
  } else {
    throw UsageError("record: --device '" + spec +
                     "': expected keyboard, gamepad, gamepad:/dev/input/jsN, spacemouse or "
                     "script:FILE");
  }
  if (!terminal) return device;
  std::vector<std::unique_ptr<rt::Device>> both;
  both.push_back(std::move(device));
  both.push_back(std::make_unique<rt::KeyboardDevice>(STDIN_FILENO, config));
  return std::make_unique<rt::MergedDevice>(std::move(both));
}

// One try at the task: a fresh World in the nominal scene and its recorder.
struct Attempt {
  std::unique_ptr<sim::World> world;
  std::optional<sim::EpisodeRecorder> recorder;
  sim::Observation obs;
  double gripper = -1.0;
  bool started = false;  // the first input arrived; from here on every tick is a step
  bool paused = false;
  bool announced_success = false;
  bool announced_drop = false;

  void Begin(const std::shared_ptr<const sim::SceneModel>& model, const sim::SceneParams& p) {
    recorder.reset();
    world = std::make_unique<sim::World>(model, p);
    recorder.emplace(*world, 1200);
    obs = world->Observe();
    gripper = -1.0;
    started = paused = announced_success = announced_drop = false;
  }
};

std::string Describe(const sim::TaskStatus& s) {
  return std::string("placed ") + (s.placed ? "yes" : "no") + ", at rest " +
         (s.at_rest ? "yes" : "no") + ", released " + (s.released ? "yes" : "no");
}

// The session: options, model, file, device and the attempt in progress.
class Session {
 public:
  Session(const TeleopOptions& o, std::shared_ptr<const sim::SceneModel> model, DemoFile* file,
          rt::Device* device, StatusDisplay* display, SceneView* view)
      : o_(o),
        model_(std::move(model)),
        params_(model_->Nominal()),
        file_(*file),
        device_(*device),
        display_(*display),
        view_(view),
        speed_(o.config) {
    attempt_.Begin(model_, params_);
  }

  // Runs until quit, a lost device or a signal; returns the exit code.
  int Run(const rt::SignalFlag& signals);

 private:
  void Save();
  void Restart(const std::string& why);
  TeleopStatus Status(const rt::TeleopCommand& cmd) const;

  const TeleopOptions& o_;
  std::shared_ptr<const sim::SceneModel> model_;
  sim::SceneParams params_;
  DemoFile& file_;
  rt::Device& device_;
  StatusDisplay& display_;
  SceneView* view_;  // null: no view
  rt::SpeedControl speed_;
  Attempt attempt_;
  int attempt_number_ = 1;
  int saved_ = 0;  // this session
  long late_ = 0;
};

void Session::Save() {
  Attempt& a = attempt_;
  if (a.recorder->steps() == 0) {
    display_.Message("nothing to save yet: the attempt has no steps (move first)");
    return;
  }
  const bool success = a.world->succeeded();
  const sim::TaskStatus status = a.world->status();
  datasets::Episode episode = a.recorder->Finish(success);
  episode.perturbation = sim::ToJson(params_);
  const int steps = episode.num_samples();
  try {
    const std::string name = file_.Append({episode}).front();
    ++saved_;
    char msg[256];
    std::snprintf(msg, sizeof msg, "saved %s: %d steps (%.1f s), %s -> %s (%d demos)", name.c_str(),
                  steps, steps / model_->physics().control_hz(),
                  success ? "success" : "NOT successful", file_.path().c_str(), file_.num_demos());
    display_.Message(msg);
    if (!success) {
      display_.Message("warning: " + name + " is stored with success=0: the task's success " +
                       "predicate did not hold (" + Describe(status) +
                       "); x discards, or keep it and record another");
    }
    if (steps > model_->task().max_steps()) {
      display_.Message("warning: " + name + " is longer than the task's step budget (" +
                       std::to_string(model_->task().max_steps()) +
                       " steps): dreams and evaluation that use the budget may time out");
    }
  } catch (const datasets::DatasetError& e) {
    display_.Message(std::string("could not save, the attempt is dropped: ") + e.what());
  }
  Restart("");
}

void Session::Restart(const std::string& why) {
  if (!why.empty()) display_.Message(why);
  ++attempt_number_;
  attempt_.Begin(model_, params_);
}

TeleopStatus Session::Status(const rt::TeleopCommand& cmd) const {
  const sim::World& w = *attempt_.world;
  TeleopStatus s;
  s.state = !attempt_.started ? TeleopStatus::State::kReady
                              : (attempt_.paused ? TeleopStatus::State::kPaused
                                                 : TeleopStatus::State::kRecording);
  s.attempt = attempt_number_;
  s.time = w.time();
  s.steps = attempt_.recorder->steps();
  s.max_steps = model_->task().max_steps();
  s.saved = file_.num_demos();
  s.out = file_.path().string();
  s.tool = w.ToolPose();
  s.gripper_command = attempt_.gripper;
  s.gripper_width = w.FingerJoints().sum();
  s.contact = w.FingersTouch(0);
  s.task = w.status();
  s.success = w.succeeded();
  s.motion = rt::DescribeMotion(cmd);
  s.speed_scale = speed_.scale();
  s.linear_speed = o_.config.linear_speed * speed_.scale();
  s.inputs = device_.inputs();
  s.late = late_;
  if (view_ && view_->mode() != ViewMode::kNone) {
    s.view_drawn = view_->drawn();
    s.view_posted = view_->posted();
  }
  return s;
}

int Session::Run(const rt::SignalFlag& signals) {
  const double dt = 1.0 / model_->physics().control_hz();
  const sim::ActionScale& scale = model_->action_scale();
  double clock = 0.0;  // session time, s: the devices' time base (keyboard hold windows)
  double deadline = MonotonicSeconds();
  std::string end;  // why the loop ended, if not a plain quit
  int code = 0;
  for (long tick = 0;; ++tick, clock += dt) {
    if (signals.received() != 0) {
      end = std::string("interrupted (") + signals.name() + ")";
      code = 128 + signals.received();
      break;
    }
    rt::TeleopCommand cmd;
    if (!device_.Poll(clock, &cmd)) {
      end = device_.error();
      code = 1;
      break;
    }
    speed_.Apply(&cmd);
    if (cmd.quit) break;
    if (view_ && view_->closed()) {
      display_.Message("the view window was closed");
      break;  // as q
    }
    if (view_ && cmd.view_layout) view_->NextLayout();
    if (view_ && cmd.view_zoom) view_->ToggleZoom();
    if (cmd.save) Save();
    if (cmd.discard || cmd.reset) {
      Restart(attempt_.recorder->steps() > 0
                  ? "attempt " + std::to_string(attempt_number_) + " discarded; a fresh scene"
                  : "a fresh scene");
    }
    Attempt& a = attempt_;
    a.gripper = rt::NextGripper(cmd.gripper, a.gripper);
    if (!a.started && (cmd.Moving() || cmd.gripper != rt::GripperRequest::kNone)) {
      a.started = true;
    }
    if (cmd.pause && a.started) {
      a.paused = !a.paused;
      display_.Message(a.paused ? "paused (p resumes)" : "resumed");
    }
    if (a.started && !a.paused) {
      const sim::Action action =
          rt::TwistToAction(cmd, a.gripper, dt, scale.position, scale.rotation);
      a.recorder->Before(*a.world, a.obs, action);
      const sim::StepInfo info = a.world->Step(action);
      a.obs = a.world->Observe();
      a.recorder->After(*a.world, a.obs);
      if (!info.stable) {
        Restart("the physics became unstable; attempt discarded, a fresh scene");
      } else if (a.world->succeeded() && !a.announced_success) {
        a.announced_success = true;
        display_.Message("success: the task's success predicate holds; Enter saves the demo");
      } else if (!a.announced_drop &&
                 sim::ObjectDropped(*a.world)) {
        a.announced_drop = true;
        display_.Message("the object fell off the table; x discards the attempt");
      }
    }
    if (view_) view_->Post(params_, a.world->GetState(), a.recorder->steps());
    if (tick % 2 == 0) {
      const TeleopStatus status = Status(cmd);
      display_.Show(status);
      if (view_ && view_->mode() == ViewMode::kWindow) view_->Panel(StatusDisplay::Format(status));
    }
    if (o_.time_scale > 0) {
      deadline += dt / o_.time_scale;
      const double now = MonotonicSeconds();
      if (now > deadline) {
        ++late_;
        if (now - deadline > 0.1) deadline = now;  // far behind: do not burst to catch up
      } else {
        SleepUntil(deadline);
      }
    }
  }
  if (view_) {
    view_->Close();  // the terminal view gives the screen back first
    display_.Redirect(nullptr);
  }
  display_.Close();
  const int dropped = attempt_.recorder->steps();
  std::string summary = std::to_string(saved_) + " demo(s) saved this session; " +
                        file_.path().string() + " holds " + std::to_string(file_.num_demos());
  if (dropped > 0)
    summary += "; the unsaved attempt (" + std::to_string(dropped) + " steps) was dropped";
  if (!end.empty()) {
    std::fprintf(stderr, "dreamforge: record: %s; %s\n", end.c_str(), summary.c_str());
    return code;
  }
  if (saved_ == 0) {
    std::fprintf(stderr, "dreamforge: record: quit without saving a demo; %s\n", summary.c_str());
    return 1;
  }
  std::printf("recorded %s with %s: %s\n", o_.task.c_str(), device_.name().c_str(),
              summary.c_str());
  return 0;
}

}  // namespace

bool IsTeleopDevice(const std::string& d) {
  return d == "keyboard" || d == "gamepad" || d.rfind("gamepad:", 0) == 0 || d == "spacemouse";
}

std::string TeleopHelp() {
  return "Devices:\n"
         "  keyboard               keys in this terminal (raw mode; a key press moves for a\n"
         "                         short hold window, auto-repeat keeps it moving)\n"
         "  gamepad[:/dev/input/jsN]  Linux joystick API (default /dev/input/js0)\n"
         "  spacemouse             3Dconnexion 6-DoF mouse through spacenavd (libspnav)\n"
         "  script:FILE            scripted waypoints (datasets/demos/*.script.yaml)\n"
         "With gamepad or spacemouse, the keyboard keys below work too when run in a terminal.\n"
         "Keyboard:\n" +
         rt::KeyMapHelp("  ") + "Gamepad (default mapping):\n" + rt::GamepadHelp("  ") +
         "SpaceMouse:\n" + rt::SpaceMouseHelp("  ") +
         "Recording starts with the first input. Saved demos are appended to --out (demo_0,\n"
         "demo_1, ...; the file is rewritten atomically on each save). Ctrl-C stops: saved\n"
         "demos stay, the attempt in progress is dropped, the terminal is restored.\n";
}

int RunTeleop(const TeleopOptions& o) {
  if (!std::isfinite(o.time_scale) || o.time_scale < 0) {
    throw UsageError("record: --time-scale: must be >= 0 (0: as fast as possible)");
  }
  try {
    o.config.Validate();
  } catch (const rt::DeviceError& e) {
    throw UsageError(std::string("record: ") + e.what());
  }
  const fs::path out(o.out);
  const fs::path dir = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw UsageError("record: --out " + o.out + ": directory " + dir.string() + " does not exist");
  }
  const fs::path urdf = o.urdf.empty() ? sim::SceneModel::DefaultUrdf() : fs::path(o.urdf);
  auto model = std::make_shared<const sim::SceneModel>(o.task, urdf);
  DemoFile file(out, model->EnvArgs());

  const bool terminal = isatty(STDIN_FILENO) != 0;
  rt::SignalFlag signals;  // before raw mode: no window where a signal kills us raw
  std::unique_ptr<rt::Device> device;
  std::optional<rt::RawTerminal> raw;
  try {
    device = OpenDevice(o.device, o.config, terminal);
    if (terminal) raw.emplace(STDIN_FILENO);
  } catch (const rt::DeviceError& e) {
    std::fprintf(stderr, "dreamforge: record: %s\n", e.what());
    return 1;
  }
  StatusDisplay display(stdout, isatty(STDOUT_FILENO) != 0);
  SceneView::Options vo;
  vo.mode = o.view;
  vo.title = "dreamforge record: " + o.task;
  vo.keys_hint =
      "keys: w/s a/d r/f move  u/o i/k j/l rotate  space gripper  +/- speed  Enter save  x discard  "
      "p pause  v layout  z zoom  q quit";
  std::optional<SceneView> view;
  view.emplace(model, vo);  // a UsageError unwinds through `raw`, which restores the terminal
  if (view->mode() == ViewMode::kTerminal) display.Redirect(&*view);
  char head[512];
  std::snprintf(head, sizeof head, "dreamforge record: %s with %s at %.0f Hz (%s) -> %s (%d demos)",
                o.task.c_str(), device->name().c_str(), model->physics().control_hz(),
                o.time_scale == 1.0 ? "real time"
                                    : (o.time_scale == 0 ? "as fast as possible" : "scaled time"),
                o.out.c_str(), file.num_demos());
  display.Message(head);
  display.Message(view->choice());
  if (terminal && view->mode() != ViewMode::kTerminal) {  // the terminal view has its keys line
    std::string keys = rt::KeyMapHelp("  ");
    keys.pop_back();  // the trailing newline
    display.Message("keys:\n" + keys);
  }
  display.Message("Recording starts with the first input; Enter saves, q quits.");
  if (view->key_fd() >= 0) {  // keys typed into the window drive the session too
    std::vector<std::unique_ptr<rt::Device>> both;
    both.push_back(std::move(device));
    both.push_back(std::make_unique<rt::KeyboardDevice>(view->key_fd(), o.config, "window keys"));
    device = std::make_unique<rt::MergedDevice>(std::move(both));
  }
  Session session(o, model, &file, device.get(), &display, &*view);
  const int code = session.Run(signals);
  if (raw) raw->Restore();
  return code;
}

}  // namespace dreamforge::tools
