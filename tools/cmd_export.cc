#include <cstdio>
#include <filesystem>
#include <fstream>

#include "policy/export.h"
#include "robot/bundle.h"
#include "robot/sha256.h"
#include "sim/world.h"
#include "tools/cli_util.h"
#include "tools/commands.h"
#include "tools/sim_hardware.h"

namespace dreamforge::tools {
namespace {

namespace fs = std::filesystem;

struct ExportArgs {
  std::string policy;
  std::string checkpoint = "best";
  std::string out;
  std::string safety;
};

// Limits the safety filter enforces on the board. The defaults sit outside everything the
// policies command in nominal runs on the simulated Panda (they catch faults, not normal
// motion): joint speeds at the URDF's limits, a TCP box around the table and a TCP
// speed of 1.5 m/s (the action scale allows 1 m/s).
nlohmann::json DefaultSafety(const sim::SceneModel& model) {
  std::vector<double> velocity;
  for (int j : model.arm_joint_indices()) velocity.push_back(model.robot().joints[j].velocity);
  return {{"workspace_min", {-0.3, -0.9, -0.02}},
          {"workspace_max", {1.0, 0.9, 1.2}},
          {"max_eef_speed", 1.5},
          {"max_joint_velocity", velocity},
          {"max_joint_acceleration", std::vector<double>(7, 200.0)},
          {"joint_margin", 0.0}};
}

void RunExport(const ExportArgs& a) {
  if (a.out.empty()) throw UsageError("export: --out BUNDLE_DIR is required");
  std::shared_ptr<const policy::Policy> p;
  try {
    p = policy::Policy::Load(a.policy, a.checkpoint);
  } catch (const policy::PolicyError& e) {
    throw UsageError(std::string("export: --policy: ") + e.what());
  }
  const sim::SceneModel model(p->task, sim::SceneModel::DefaultUrdf());
  nlohmann::json safety = DefaultSafety(model);
  if (!a.safety.empty()) {
    std::ifstream in(a.safety);
    if (!in) throw UsageError("export: --safety " + a.safety + ": cannot open");
    const nlohmann::json user = nlohmann::json::parse(in, nullptr, false);
    if (!user.is_object()) throw UsageError("export: --safety " + a.safety + ": not a JSON object");
    for (const auto& [k, v] : user.items()) {
      if (!safety.contains(k)) throw UsageError("export: " + a.safety + ": " + k + ": unknown safety field");
      safety[k] = v;
    }
  }

  const fs::path out(a.out);
  const fs::path tmp = out.string() + ".tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  policy::WriteSafetensors(*p, tmp / "weights.safetensors");
  policy::WriteTorchScript(*p, tmp / "policy.ts");
  policy::WriteOnnx(*p, tmp / "policy.onnx");
  nlohmann::json files = nlohmann::json::object();
  for (const char* f : {"weights.safetensors", "policy.ts", "policy.onnx"}) {
    std::string hex, error;
    uint64_t bytes = 0;
    if (!robot::Sha256File((tmp / f).string(), &hex, &bytes, &error)) throw std::runtime_error(error);
    files[f] = {{"sha256", hex}, {"bytes", bytes}};
  }
  const nlohmann::json json = {
      {"format", "dreamforge-bundle/1"},
      {"task", p->task},
      {"control_hz", model.physics().control_hz()},
      {"model", p->model.ToJson()},
      {"obs_keys", p->normalizer.obs_keys},
      {"normalization", p->normalizer.ToJson()},
      {"action_scale", {{"position", model.action_scale().position}, {"rotation", model.action_scale().rotation}}},
      {"robot", DescribeRobot(model).ToJson()},
      {"safety", safety},
      {"files", files},
      {"source", {{"run", fs::weakly_canonical(a.policy).string()}, {"checkpoint", a.checkpoint}}}};
  {
    std::ofstream f(tmp / "policy.json");
    f << json.dump(2) << "\n";
    if (!f.flush()) throw std::runtime_error((tmp / "policy.json").string() + ": cannot write");
  }
  // The board's loader must accept what we wrote (and the simulated robot must match it).
  try {
    robot::LoadBundle(tmp.string(), DescribeRobot(model));
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("export: the written bundle does not load: ") + e.what());
  }
  const fs::path old = out.string() + ".old";
  fs::remove_all(old);
  if (fs::exists(out)) fs::rename(out, old);
  fs::rename(tmp, out);
  fs::remove_all(old);
  std::printf("export %s (%s, %s) -> %s: policy.json, weights.safetensors (%llu bytes), policy.ts, policy.onnx\n",
              a.policy.c_str(), policy::ToString(p->model.type).c_str(), a.checkpoint.c_str(), a.out.c_str(),
              static_cast<unsigned long long>(files["weights.safetensors"]["bytes"].get<uint64_t>()));
}

}  // namespace

void AddExportCommand(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  auto* cmd = app.add_subcommand("export", "Write a policy bundle: policy.json, weights.safetensors, policy.ts (TorchScript), policy.onnx.");
  cmd->add_option("--policy", a->policy, "Training run directory")->required();
  cmd->add_option("--checkpoint", a->checkpoint, "best, last or a .pt file of the run")->capture_default_str();
  cmd->add_option("--out", a->out, "Bundle directory (replaced atomically)")->required();
  cmd->add_option("--safety", a->safety, "JSON object overriding safety limits (workspace_min/max, max_eef_speed, ...)");
  cmd->callback([a] { RunExport(*a); });
}

}  // namespace dreamforge::tools
