#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
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

// fsync of a file or folder (a folder: its entries), best effort: the bundle is complete
// under its name after a kill either way; this makes it survive a power cut too.
void SyncPath(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

struct ExportArgs {
  std::string policy;
  std::string checkpoint = "best";
  std::string out;
  std::string safety;
};

// The default safety limits (robot::DefaultSafetyLimits) with the fields of a --safety
// file replacing theirs; validated as the board's loader will.
robot::SafetyLimits Safety(const robot::RobotDescription& robot, const std::string& file) {
  nlohmann::json safety = robot::DefaultSafetyLimits(robot).ToJson();
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) throw UsageError("export: --safety " + file + ": cannot open");
    const nlohmann::json user = nlohmann::json::parse(in, nullptr, false);
    if (!user.is_object()) throw UsageError("export: --safety " + file + ": not a JSON object");
    for (const auto& [k, v] : user.items()) {
      if (!safety.contains(k)) throw UsageError("export: " + file + ": " + k + ": unknown safety field");
      safety[k] = v;
    }
  }
  try {
    return robot::SafetyLimits::FromJson(safety, robot, file.empty() ? "default safety limits" : file);
  } catch (const robot::BundleError& e) {
    throw UsageError(std::string("export: --safety: ") + e.what());
  }
}

// Puts the bundle folder `tmp` under the name `out`. With an old bundle there, one
// renameat2(RENAME_EXCHANGE) swaps the two folders at once, so that whenever the process
// dies `out` is the old complete bundle or the new one (two renames would leave neither
// between them); the old one, now under `tmp`, is then removed. File systems without the
// exchange (EINVAL) get the two renames, the old bundle put back if the second fails.
void SwapIn(const fs::path& tmp, const fs::path& out) {
  const auto fail = [&](const std::string& what, int err) {
    throw std::runtime_error("export: cannot " + what + " " + tmp.string() + " to " + out.string() + ": " +
                             std::strerror(err));
  };
  std::error_code ec;
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  if (!fs::exists(out, ec)) {
    if (::rename(tmp.c_str(), out.c_str()) != 0) fail("rename", errno);
  } else if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, out.c_str(), RENAME_EXCHANGE) == 0) {
    SyncPath(parent);
    fs::remove_all(tmp, ec);  // the old bundle
  } else if (errno == EINVAL || errno == ENOSYS) {
    const fs::path old = out.string() + ".old";
    fs::remove_all(old);
    if (::rename(out.c_str(), old.c_str()) != 0) fail("move the old bundle aside for", errno);
    if (::rename(tmp.c_str(), out.c_str()) != 0) {
      const int err = errno;
      ::rename(old.c_str(), out.c_str());  // the old bundle back in its place
      fail("rename", err);
    }
    fs::remove_all(old, ec);
  } else {
    fail("swap", errno);
  }
  SyncPath(parent);
}

void RunExport(const ExportArgs& a) {
  if (a.out.empty()) throw UsageError("export: --out BUNDLE_DIR is required");
  RefuseOutputOverInput("export", "--policy", a.policy, "--out", a.out, /*out_replaced_whole=*/true);
  if (a.checkpoint != "best" && a.checkpoint != "last") {
    RefuseOutputOverInput("export", "--checkpoint", a.checkpoint, "--out", a.out, true);
  }
  RefuseOutputOverInput("export", "--safety", a.safety, "--out", a.out, true);
  CheckOutputWritable("export", "--out", a.out, /*create_parents=*/true);  // BUNDLE.tmp/ is made beside it
  std::shared_ptr<const policy::Policy> p;
  try {
    p = policy::Policy::Load(a.policy, a.checkpoint);
  } catch (const policy::PolicyError& e) {
    throw UsageError(std::string("export: --policy: ") + e.what());
  }
  const sim::SceneModel model(p->task, sim::SceneModel::DefaultUrdf());
  robot::Bundle bundle;
  bundle.task = p->task;
  bundle.control_hz = model.physics().control_hz();
  bundle.model = p->model;
  for (const std::string& name : p->normalizer.obs_keys) {
    robot::ObsKey key;
    if (!robot::ParseObsKey(name, &key)) {
      throw UsageError("export: " + a.policy + "/run.json: obs_keys: '" + name + "' cannot be exported (expected one of " +
                       robot::LowDimObsKeyList() + ")");
    }
    bundle.obs_keys.push_back(key);
  }
  bundle.normalization = policy::RuntimeNormalization(p->normalizer);
  bundle.images = p->images;
  // Each image's camera as the training frames were rendered (run.json env_args.cameras).
  if (p->env_args.is_object() && p->env_args.contains("cameras") && p->env_args["cameras"].is_array()) {
    for (robot::ImageInput& in : bundle.images) {
      std::string name;
      robot::IsImageKeyName(in.key, &name);
      for (const nlohmann::json& cam : p->env_args["cameras"]) {
        if (cam.is_object() && cam.value("name", std::string()) == name) in.camera = cam;
      }
    }
  }
  bundle.action_scale = model.action_scale();
  bundle.robot = DescribeRobot(model);
  bundle.safety = Safety(bundle.robot, a.safety);
  bundle.source = {{"run", fs::weakly_canonical(a.policy).string()}, {"checkpoint", a.checkpoint}};

  fs::path out(a.out);
  if (out.filename().empty()) out = out.parent_path();  // "bundle/": the tmp folder is bundle.tmp
  const fs::path tmp = out.string() + ".tmp";
  fs::remove_all(tmp);  // left by an export that was killed
  // An export of an earlier version killed between its two renames left the old bundle as
  // BUNDLE.old/ and no BUNDLE/: it is put back. Beside a BUNDLE/, a BUNDLE.old/ is stale.
  if (const fs::path stale = out.string() + ".old"; fs::exists(stale)) {
    if (fs::exists(out)) {
      fs::remove_all(stale);
    } else {
      fs::rename(stale, out);
    }
  }
  // A failed export leaves the old bundle (if any) as it was and no BUNDLE.tmp/ behind.
  struct RemoveOnFailure {
    fs::path dir;
    ~RemoveOnFailure() {
      std::error_code ec;
      if (!dir.empty()) fs::remove_all(dir, ec);
    }
  } cleanup{tmp};
  fs::create_directories(tmp);
  policy::WriteSafetensors(*p, tmp / robot::kWeightsFile);
  policy::WriteTorchScript(*p, tmp / "policy.ts");
  policy::WriteOnnx(*p, tmp / "policy.onnx");
  for (const char* f : {robot::kWeightsFile, "policy.ts", "policy.onnx"}) {
    robot::FileHash hash;
    std::string error;
    if (!robot::Sha256File((tmp / f).string(), &hash.sha256, &hash.bytes, &error)) throw std::runtime_error(error);
    bundle.files[f] = hash;
  }
  {
    std::ofstream f(tmp / robot::kPolicyJson);
    f << robot::PolicyJson(bundle).dump(2) << "\n";
    f.close();
    if (!f) {
      throw std::runtime_error("export: " + (tmp / robot::kPolicyJson).string() + ": cannot write (" +
                               std::strerror(errno) + ")");
    }
  }
  SyncPath(tmp / robot::kPolicyJson);
  SyncPath(tmp);
  // The board's loader must accept what we wrote (and the simulated robot must match it).
  try {
    robot::LoadBundle(tmp.string(), DescribeRobot(model));
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("export: the written bundle does not load: ") + e.what());
  }
  SwapIn(tmp, out);
  cleanup.dir.clear();
  std::printf("export %s (%s, %s) -> %s: policy.json, weights.safetensors (%llu bytes), policy.ts, policy.onnx\n",
              a.policy.c_str(), policy::ToString(p->model.type).c_str(), a.checkpoint.c_str(), a.out.c_str(),
              static_cast<unsigned long long>(bundle.files[robot::kWeightsFile].bytes));
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
