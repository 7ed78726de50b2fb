#include <cmath>
#include <cstdio>
#include <filesystem>

#include "datasets/episode_store.h"
#include "sim/rollout.h"
#include "sim/script.h"
#include "sim/world.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace dreamforge::tools {
namespace {

struct RecordArgs {
  std::string task = "bottle_place";
  std::string device;
  std::string out;
  std::string urdf;
  bool keep_failed = false;
};

void RunRecord(const RecordArgs& args) {
  const std::string kScript = "script:";
  if (args.device.rfind(kScript, 0) != 0) {
    throw UsageError("record: --device '" + args.device +
                     "': only script:FILE is available in this version");
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
  const sim::RolloutResult result = sim::Rollout(world, controller);

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
  auto* cmd = app.add_subcommand("record", "Record a demonstration of a task into an episode file.");
  cmd->add_option("--task", args->task, "Task name (bottle_place, cube_stack)")
      ->capture_default_str();
  cmd->add_option("--device", args->device,
                  "Input device. script:FILE drives the robot through the object-relative\n"
                  "waypoints of a YAML script (see datasets/demos/*.script.yaml)")
      ->required();
  cmd->add_option("--out", args->out, "Output episode file (.hdf5)")->required();
  cmd->add_option("--urdf", args->urdf, "Robot URDF (default: sim/assets/panda.urdf)");
  cmd->add_flag("--keep-failed", args->keep_failed, "Save the episode even if it did not succeed");
  cmd->callback([args] { RunRecord(*args); });
}

}  // namespace dreamforge::tools
