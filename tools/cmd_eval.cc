#include <cstdio>
#include <iostream>
#include <thread>

#include "augment/evaluate.h"
#include "datasets/episode_store.h"
#include "sim/script.h"
#include "policy/policy.h"
#include "tools/cli_util.h"
#include "tools/commands.h"
#include "tools/policy_controller.h"

namespace dreamforge::tools {
namespace {

struct EvalArgs {
  std::string policy;
  std::string checkpoint = "best";
  std::string gripper;
  int execute = 0;
  std::string baseline;
  std::string demo;
  std::string task;
  int episodes = 200;
  uint64_t seed = 0;
  std::string perturb;
  int workers = 0;
  bool json = false;
};

void RunEval(const EvalArgs& a) {
  if (a.episodes < 1) throw UsageError("eval: --episodes: must be >= 1");
  if (a.workers < 0) throw UsageError("eval: --workers: must be >= 0 (0: all cores)");
  std::string task = a.task;
  augment::ControllerFactory factory;
  std::shared_ptr<const policy::Policy> run_policy;
  const std::string kScript = "script:";
  std::string what = a.baseline;
  if (a.policy.empty() == a.baseline.empty()) {
    throw UsageError("eval: give exactly one of --policy RUN_DIR and --baseline replay|script:FILE");
  }
  if (!a.policy.empty()) {
    std::shared_ptr<const policy::Policy> p;
    try {
      p = policy::Policy::Load(a.policy, a.checkpoint);
      if (!a.gripper.empty() || a.execute != 0) {
        auto changed = std::make_shared<policy::Policy>(*p);
        if (!a.gripper.empty()) changed->model.gripper = policy::ParseGripperMode(a.gripper);
        if (a.execute != 0) {
          if (a.execute < 1 || a.execute > changed->model.horizon) {
            throw UsageError("eval: --execute " + std::to_string(a.execute) + ": expected 1.." +
                             std::to_string(changed->model.horizon) + " (the policy's chunk length)");
          }
          changed->model.execute = a.execute;
        }
        p = changed;
      }
    } catch (const policy::PolicyError& e) {
      throw UsageError(std::string("eval: --policy: ") + e.what());
    }
    if (task.empty()) task = p->task;
    CheckPolicyTask(*p, task, a.policy);
    run_policy =
        p;  // its factory is made below, with the scene model (an image policy renders its cameras)
    what = "policy " + a.policy + " (" + policy::ToString(p->model.type) + ", " + a.checkpoint + ")";
  } else if (a.baseline == "replay") {
    if (a.demo.empty()) throw UsageError("eval: --baseline replay needs --demo DEMO.hdf5");
    datasets::EpisodeReader demo(a.demo);
    const std::string demo_task = demo.env_args().value("env_name", "");
    if (task.empty()) task = demo_task;
    if (task != demo_task) {
      throw UsageError("eval: " + a.demo + ": the demo is of task '" + demo_task + "', not '" + task + "'");
    }
    const datasets::MatrixRXf actions = demo.ReadEpisode(0).actions;
    factory = [actions] { return std::make_unique<sim::ReplayController>(actions); };
  } else if (a.baseline.rfind(kScript, 0) == 0) {
    const sim::WaypointScript script = sim::LoadScript(a.baseline.substr(kScript.size()));
    if (task.empty()) task = script.task;
    if (task != script.task) {
      throw UsageError("eval: " + a.baseline.substr(kScript.size()) + ": task: the script is for '" +
                       script.task + "', not '" + task + "'");
    }
    factory = [script] { return std::make_unique<sim::ScriptController>(script); };
  } else {
    throw UsageError("eval: --baseline '" + a.baseline + "': expected replay or script:FILE");
  }
  auto model = std::make_shared<const sim::SceneModel>(task, sim::SceneModel::DefaultUrdf());
  if (run_policy) {
    // Episodes run in parallel (--workers); each network call uses one LibTorch thread, so
    // the workers do not oversubscribe the cores and an episode's actions (the float sums
    // of the image encoders' convolutions included) never depend on the worker count.
    torch::set_num_threads(1);
    factory = PolicyFactory(run_policy, model);
  }
  const augment::PerturbationSpec spec = augment::LoadSpec(
      a.perturb.empty() ? augment::DefaultSpecPath(task) : std::filesystem::path(a.perturb));
  const int workers = a.workers > 0 ? a.workers : std::max(1u, std::thread::hardware_concurrency());
  Progress progress("eval", a.episodes);
  const augment::EvalResult r = augment::Evaluate(
      model, spec, a.seed, a.episodes, workers, factory,
      [&](int64_t done) { progress.Update(static_cast<long>(done)); });
  progress.Finish();
  nlohmann::json j = r.ToJson();
  if (a.json) {
    j["task"] = task;
    if (a.policy.empty()) {
      j["baseline"] = a.baseline;
    } else {
      j["policy"] = a.policy;
      j["checkpoint"] = a.checkpoint;
    }
    j["seed"] = a.seed;
    std::cout << j.dump() << "\n";
    return;
  }
  std::string failures;
  for (const auto& [k, v] : r.failures) failures += " " + k + "=" + std::to_string(v);
  std::printf("eval %s on %s: %lld/%lld succeeded (%.1f%%, 95%% CI %.1f-%.1f%%); failures:%s; %.1f s\n",
              what.c_str(), task.c_str(), static_cast<long long>(r.successes),
              static_cast<long long>(r.episodes), 100.0 * j["success_rate"].get<double>(),
              100.0 * j["ci_low"].get<double>(), 100.0 * j["ci_high"].get<double>(),
              failures.empty() ? " none" : failures.c_str(), r.wall_seconds);
}

}  // namespace

void AddEvalCommand(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand(
      "eval", "Success rate of a policy or a baseline on held-out perturbed scenes (95% Wilson interval).");
  cmd->add_option("--policy", a->policy, "Training run directory (dreamforge train --out)");
  cmd->add_option("--checkpoint", a->checkpoint, "best, last or a .pt file of the run")->capture_default_str();
  cmd->add_option("--gripper", a->gripper, "Override the policy's gripper execution: latch, sample, sign or raw");
  cmd->add_option("--execute", a->execute,
                  "Override how many actions of a chunk run before re-planning (flow; 1..horizon)");
  cmd->add_option("--baseline", a->baseline,
                  "replay: the demo's actions open-loop; script:FILE: the scripted expert");
  cmd->add_option("--demo", a->demo, "Demo whose actions `replay` plays back");
  cmd->add_option("--task", a->task, "Task (default: the demo's or the script's)");
  cmd->add_option("--episodes", a->episodes, "Held-out scenes to run")->capture_default_str();
  AddSeedOption(cmd, "--seed", &a->seed, "Evaluation seed (scenes never coincide with dream scenes)");
  cmd->add_option("--perturb", a->perturb, "Perturbation spec (default: augment/specs/<task>.yaml)");
  cmd->add_option("--workers", a->workers, "Worker threads (0: all cores)")->capture_default_str();
  cmd->add_flag("--json", a->json,
                "Print one JSON object: episodes, successes, success_rate, ci_low, ci_high, failures");
  cmd->callback([a] { RunEval(*a); });
}

}  // namespace dreamforge::tools
