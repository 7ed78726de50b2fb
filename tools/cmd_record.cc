#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "datasets/episode_store.h"
#include "sim/rollout.h"
#include "sim/script.h"
#include "sim/world.h"
#include "tools/cli_util.h"
#include "tools/commands.h"
#include "tools/teleop_import.h"
#include "tools/teleop_record.h"

namespace dreamforge::tools {
namespace {

struct RecordArgs {
  std::string task = "bottle_place";
  std::string device;
  std::string out;
  std::string urdf;
  std::string import;
  bool keep_failed = false;
  double time_scale = 1.0;
  std::string view = "auto";
  robot::teleop::TeleopConfig teleop;
};

void RunRecord(const RecordArgs& args) {
  if (args.device.empty() == args.import.empty()) {
    throw UsageError("record: give either --device or --import");
  }
  CheckOutputWritable("record", "--out", args.out);
  if (!args.import.empty()) {
    RefuseOutputOverInput("record", "--import", args.import, "--out", args.out);
    RunImport({args.task, args.import, args.out, args.urdf});
    return;
  }
  if (IsTeleopDevice(args.device)) {
    TeleopOptions o;
    o.task = args.task;
    o.device = args.device;
    o.out = args.out;
    o.urdf = args.urdf;
    o.time_scale = args.time_scale;
    o.view = ParseViewMode("record: --view", args.view);
    o.config = args.teleop;
    const int code = RunTeleop(o);
    std::fflush(stdout);
    std::fflush(stderr);
    if (code != 0) std::exit(code);  // the session has cleaned up; main() has nothing to add
    return;
  }
  const std::string kScript = "script:";
  if (args.device.rfind(kScript, 0) != 0) {
    throw UsageError("record: --device '" + args.device +
                     "': expected keyboard, gamepad, gamepad:/dev/input/jsN, spacemouse or "
                     "script:FILE");
  }
  const std::filesystem::path script_path = args.device.substr(kScript.size());
  sim::WaypointScript script = sim::LoadScript(script_path);
  if (script.task != args.task) {
    throw UsageError("record: " + script_path.string() + ": task: the script is for '" +
                     script.task + "' but --task is '" + args.task + "'");
  }
  const std::filesystem::path urdf =
      args.urdf.empty() ? sim::SceneModel::DefaultUrdf() : std::filesystem::path(args.urdf);
  auto model = std::make_shared<const sim::SceneModel>(args.task, urdf);
  const sim::SceneParams params = model->Nominal();
  sim::World world(model, params);
  sim::ScriptController controller(std::move(script));
  sim::RolloutOptions options;
  options.success_after_finish = true;  // record the script to its end (release, retract)
  const sim::RolloutResult result = sim::Rollout(world, controller, options);

  const double seconds = result.steps / model->physics().control_hz();
  if (result.outcome != sim::Outcome::kSuccess && !args.keep_failed) {
    char msg[256];
    std::snprintf(msg, sizeof msg,
                  "record: the demonstration did not succeed (%s after %d steps; object %.1f cm "
                  "from the target, tilt %.1f deg); nothing written (--keep-failed saves it)",
                  sim::OutcomeName(result.outcome), result.steps,
                  result.final_status.position_error * 100.0,
                  result.final_status.tilt * 180.0 / M_PI);
    throw std::runtime_error(msg);
  }
  datasets::Episode episode = result.episode;
  episode.perturbation = sim::ToJson(params);
  datasets::EpisodeWriter writer(args.out, model->EnvArgs());
  writer.Append(episode);
  writer.Close({"demo_0"}, {});
  std::printf("recorded %s: 1 episode, %d steps (%.1f s), %s, object %.1f cm from target -> %s\n",
              args.task.c_str(), result.steps, seconds, sim::OutcomeName(result.outcome),
              result.final_status.position_error * 100.0, args.out.c_str());
}

}  // namespace

void AddRecordCommand(CLI::App& app) {
  auto args = std::make_shared<RecordArgs>();
  auto* cmd = app.add_subcommand(
      "record",
      "Record a demonstration of a task into an episode file: by teleoperation (keyboard,\n"
      "gamepad, spacemouse), from a waypoint script, or imported from another robomimic file.");
  cmd->add_option("--task", args->task, "Task name (bottle_place, cube_stack)")
      ->capture_default_str();
  cmd->add_option("--device", args->device,
                  "Input device: keyboard | gamepad[:/dev/input/jsN] | spacemouse | script:FILE\n"
                  "(script:FILE drives the robot through the object-relative waypoints of a\n"
                  "YAML script, see datasets/demos/*.script.yaml). Keys and buttons: below.");
  cmd->add_option("--import", args->import,
                  "A robomimic-layout file of the same task recorded elsewhere: every demo is\n"
                  "validated, replayed in our simulator (it must succeed) and written in our\n"
                  "layout");
  cmd->add_option("--out", args->out,
                  "Output episode file (.hdf5). Teleop and import append to an existing file")
      ->required();
  cmd->add_option("--urdf", args->urdf, "Robot URDF (default: sim/assets/panda.urdf)");
  cmd->add_flag("--keep-failed", args->keep_failed,
                "script: save the episode even if it did not succeed");
  cmd->add_option("--time-scale", args->time_scale,
                  "Teleop: simulated seconds per wall-clock second (1: real time; 0: as fast\n"
                  "as possible)")
      ->capture_default_str();
  cmd->add_option("--view", args->view,
                  "Teleop: the scene view, agentview and wrist camera side by side with the target\n"
                  "marked: window | terminal | none | auto (a window when a display answers, else the\n"
                  "terminal when it is at least 80x24, else none; it says which)")
      ->capture_default_str();
  cmd->add_option("--linear-speed", args->teleop.linear_speed,
                  "Teleop: tool speed at full deflection or a held key, m/s")
      ->capture_default_str();
  cmd->add_option("--angular-speed", args->teleop.angular_speed,
                  "Teleop: tool rotation speed at full deflection, rad/s")
      ->capture_default_str();
  cmd->add_option("--deadzone", args->teleop.deadzone,
                  "Teleop: fraction of stick / cap deflection ignored around neutral")
      ->capture_default_str();
  cmd->add_option("--key-hold", args->teleop.key_hold_s,
                  "Teleop: seconds of motion per key press (auto-repeat extends it)")
      ->capture_default_str();
  cmd->footer(TeleopHelp());
  cmd->callback([args] { RunRecord(*args); });
}

}  // namespace dreamforge::tools
