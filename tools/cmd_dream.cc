#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "augment/generator.h"
#include "datasets/episode_store.h"
#include "render/camera.h"
#include "render/dataset_render.h"
#include "render/render_error.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace dreamforge::tools {
namespace {

struct DreamArgs {
  std::string demo;
  int count = 10000;
  std::string out;
  std::string perturb;
  int workers = 0;
  uint64_t seed = 0;
  std::string shard;
  int shards = 0;
  int chunk = 64;
  int max_attempts = 20;
  std::string cameras;  // empty: no images
  int size = 84;
  bool depth = false;
};

int EnvInt(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return -1;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0) throw UsageError(std::string("dream: environment ") + name + "='" + v + "' is not a non-negative integer");
  return static_cast<int>(x);
}

// --shard K/N, else mpirun, Slurm array or Kubernetes indexed-job variables; *launcher
// names the variable the shard came from ("" for --shard or a single run).
void ResolveShard(const DreamArgs& a, int* shard, int* shards, std::string* launcher) {
  *shard = 0;
  *shards = 1;
  launcher->clear();
  if (!a.shard.empty()) {
    int k = -1, n = -1;
    char extra;
    if (std::sscanf(a.shard.c_str(), "%d/%d%c", &k, &n, &extra) != 2 || n < 1 || k < 0 || k >= n) {
      throw UsageError("dream: --shard '" + a.shard + "': expected K/N with 0 <= K < N");
    }
    *shard = k;
    *shards = n;
    return;
  }
  if (EnvInt("OMPI_COMM_WORLD_SIZE") > 0) {
    *shard = EnvInt("OMPI_COMM_WORLD_RANK");
    *shards = EnvInt("OMPI_COMM_WORLD_SIZE");
    *launcher = "OMPI_COMM_WORLD_SIZE=" + std::to_string(*shards);
  } else if (EnvInt("SLURM_ARRAY_TASK_COUNT") > 0) {
    const int min = std::max(0, EnvInt("SLURM_ARRAY_TASK_MIN"));
    *shard = EnvInt("SLURM_ARRAY_TASK_ID") - min;
    *shards = EnvInt("SLURM_ARRAY_TASK_COUNT");
    *launcher = "SLURM_ARRAY_TASK_COUNT=" + std::to_string(*shards);
  } else if (EnvInt("JOB_COMPLETION_INDEX") >= 0) {
    if (a.shards < 1) throw UsageError("dream: JOB_COMPLETION_INDEX is set: give the number of shards with --shards N");
    *shard = EnvInt("JOB_COMPLETION_INDEX");
    *shards = a.shards;
    *launcher = "JOB_COMPLETION_INDEX with --shards " + std::to_string(*shards);
  }
  if (*shard < 0 || *shard >= *shards) {
    throw UsageError("dream: shard " + std::to_string(*shard) + " is outside 0.." + std::to_string(*shards - 1));
  }
}

// --out with "{shard}" replaced by the shard index (zero-padded to the width of the
// largest). A launcher starts every process with the same arguments, so without the
// placeholder all of its shards would write one file: that is refused.
std::string ShardOut(const std::string& out, int shard, int shards, const std::string& launcher) {
  const std::string key = "{shard}";
  if (out.find(key) == std::string::npos) {
    if (shards > 1 && !launcher.empty()) {
      throw UsageError("dream: --out " + out + ": every process of this launch (" + launcher +
                       ") would write this one file; put {shard} in it, e.g. --out dreams.{shard}.hdf5, and merge "
                       "the shards afterwards");
    }
    return out;
  }
  const size_t width = std::to_string(shards - 1).size();
  std::string index = std::to_string(shard);
  if (index.size() < width) index.insert(0, width - index.size(), '0');
  std::string s = out;
  for (size_t p = s.find(key); p != std::string::npos; p = s.find(key, p + index.size())) s.replace(p, key.size(), index);
  return s;
}

std::string SummaryPath(const std::string& out) {
  std::filesystem::path p(out);
  if (p.extension() == ".hdf5" || p.extension() == ".h5") p.replace_extension("");
  return p.string() + ".summary.json";
}

void RunDream(const DreamArgs& args) {
  DreamArgs a = args;
  augment::GeneratorOptions opt;
  std::string launcher;
  ResolveShard(a, &opt.shard, &opt.shards, &launcher);
  a.out = ShardOut(a.out, opt.shard, opt.shards, launcher);
  if (a.count < 1 || a.count > augment::kMaxDreamCount) {
    throw UsageError("dream: --count " + std::to_string(a.count) + ": expected 1.." +
                     std::to_string(augment::kMaxDreamCount) + " dreams");
  }
  if (a.chunk < 1) throw UsageError("dream: --chunk: must be >= 1");
  if (a.max_attempts < 1) throw UsageError("dream: --max-attempts: must be >= 1");
  if (a.workers < 0) throw UsageError("dream: --workers: must be >= 0 (0: all cores)");
  RefuseOutputOverInput("dream", "--demo", a.demo, "--out", a.out);
  RefuseOutputOverInput("dream", "--perturb", a.perturb, "--out", a.out);
  RefuseOutputOverInput("dream", "--demo", a.demo, "summary", SummaryPath(a.out));
  CheckOutputWritable("dream", "--out", a.out);
  std::vector<render::CameraSpec> cameras;
  if (!a.cameras.empty()) {
    if (a.size < 8 || a.size > 2048) throw UsageError("dream: --size: must be in [8, 2048], got " + std::to_string(a.size));
    try {
      cameras = render::SelectCameras(a.cameras, render::DefaultCameras(), a.size);
    } catch (const render::RenderError& e) {
      throw UsageError(std::string("dream: --cameras: ") + e.what());
    }
  } else if (a.depth) {
    throw UsageError("dream: --depth needs --cameras");
  }
  opt.count = a.count;
  opt.chunk = a.chunk;
  opt.max_attempts = a.max_attempts;
  opt.workers = a.workers > 0 ? a.workers : std::max(1u, std::thread::hardware_concurrency());

  std::string task;
  {
    datasets::EpisodeReader demo(a.demo);
    task = demo.env_args().value("env_name", "");
  }
  auto model = std::make_shared<const sim::SceneModel>(task, sim::SceneModel::DefaultUrdf());
  const std::string spec_path = a.perturb.empty() ? augment::DefaultSpecPath(task).string() : a.perturb;
  augment::PerturbationSpec spec = augment::LoadSpec(spec_path);
  const augment::DreamSource source = augment::PrepareSource(model, a.demo, spec, a.seed);

  const auto t0 = std::chrono::steady_clock::now();
  Progress progress("dream", static_cast<long>(augment::ShardSize(a.count, opt.shard, opt.shards)));
  opt.on_progress = [&](int64_t done, int64_t, int64_t attempts) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char suffix[96];
    std::snprintf(suffix, sizeof suffix, "kept, %lld attempts, %.1f kept/s",
                  static_cast<long long>(attempts), s > 0 ? done / s : 0.0);
    progress.Update(static_cast<long>(done), suffix);
  };
  // With --cameras the dreams are generated into <out>.states.hdf5 and then rendered into
  // <out> by exactly what `render` does, so both give the same bytes.
  const std::string states_out = a.cameras.empty() ? a.out : a.out + ".states.hdf5";
  const augment::GeneratorSummary summary = augment::GenerateDreams(source, states_out, opt);
  progress.Finish();
  double render_seconds = 0;
  if (!cameras.empty()) {
    const auto r0 = std::chrono::steady_clock::now();
    render::RenderOptions ro;
    ro.cameras = cameras;
    ro.depth = a.depth;
    ro.workers = opt.workers;
    Progress rp("render", summary.kept);
    ro.on_progress = [&](int64_t done, int64_t) { rp.Update(static_cast<long>(done), "episodes"); };
    render::RenderDataset(states_out, a.out, ro);
    rp.Finish();
    std::filesystem::remove(states_out);
    render_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count();
  }
  nlohmann::json j = summary.ToJson(spec, *model);
  j["out"] = a.out;
  j["demo"] = a.demo;
  j["spec"] = spec_path;
  j["seed"] = a.seed;
  j["shard"] = {opt.shard, opt.shards};
  if (!cameras.empty()) {
    j["cameras"] = a.cameras;
    j["render_seconds"] = render_seconds;
  }
  const std::string summary_path = SummaryPath(a.out);
  WriteFileAtomic(summary_path, j.dump(2) + "\n");
  std::string failures, phases;
  for (const auto& [k, v] : summary.failures) failures += " " + k + "=" + std::to_string(v);
  for (const auto& [k, v] : summary.failures_by_phase) phases += " " + k + "=" + std::to_string(v);
  std::printf("dreamed %lld %s episodes (%lld attempts, success %.1f%%, failures:%s) in %.1f s "
              "with %d workers -> %s\n",
              static_cast<long long>(summary.kept), task.c_str(),
              static_cast<long long>(summary.attempts), 100.0 * j["success_rate"].get<double>(),
              failures.empty() ? " none" : failures.c_str(), summary.wall_seconds, opt.workers,
              a.out.c_str());
  if (!phases.empty()) std::printf("failed attempts by phase:%s\n", phases.c_str());
  if (j["infeasible"].get<int64_t>() > 0) {
    std::printf("%lld attempts were infeasible (the fingers' friction could not hold the object's "
                "weight twice over); of the feasible ones %.1f%% succeeded\n",
                static_cast<long long>(j["infeasible"].get<int64_t>()),
                100.0 * j["feasible_success_rate"].get<double>());
  }
  if (!cameras.empty()) {
    std::printf("rendered %s at %dx%d for %lld episodes in %.1f s\n", a.cameras.c_str(), a.size, a.size,
                static_cast<long long>(summary.kept), render_seconds);
  }
}

void RunMerge(const std::vector<std::string>& inputs, const std::string& out) {
  for (const std::string& in : inputs) RefuseOutputOverInput("merge", "input", in, "--out", out);
  CheckOutputWritable("merge", "--out", out);
  const int64_t n = augment::MergeDreamShards(inputs, out);
  std::printf("merged %zu files: %lld episodes -> %s\n", inputs.size(), static_cast<long long>(n), out.c_str());
}

}  // namespace

void AddDreamCommand(CLI::App& app) {
  auto a = std::make_shared<DreamArgs>();
  auto* cmd = app.add_subcommand(
      "dream", "Turn one demo into many physically perturbed, physics-verified episodes.");
  cmd->add_option("--demo", a->demo, "Source demo (episode file; its first demo is used)")->required();
  cmd->add_option("--count", a->count, "Episodes to keep (over all shards)")->capture_default_str();
  cmd->add_option("--out", a->out,
                  "Output episode file (.hdf5); a summary .summary.json is written beside it.\n"
                  "{shard} in it is replaced by the shard index (required when a launcher sets the\n"
                  "shard: every process gets the same arguments)")
      ->required();
  cmd->add_option("--perturb", a->perturb, "Perturbation spec YAML (default: augment/specs/<task>.yaml)");
  cmd->add_option("--workers", a->workers, "Worker threads, one physics world each (0: all cores)")->capture_default_str();
  AddSeedOption(cmd, "--seed", &a->seed, "Run seed; dream i depends only on (demo, spec, seed, i)");
  cmd->add_option("--shard", a->shard,
                  "K/N: make only shard K of N (else read from OMPI_COMM_WORLD_RANK/SIZE,\n"
                  "SLURM_ARRAY_TASK_ID/COUNT, or JOB_COMPLETION_INDEX with --shards N)");
  cmd->add_option("--shards", a->shards, "Number of shards, for Kubernetes indexed jobs");
  cmd->add_option("--chunk", a->chunk, "Episodes per resumable part file")->capture_default_str();
  cmd->add_option("--max-attempts", a->max_attempts,
                  "Scenes tried per dream before the spec is called hopeless")->capture_default_str();
  cmd->add_option("--cameras", a->cameras,
                  "Also write camera images: comma-separated names (agentview,robot0_eye_in_hand);\n"
                  "the same bytes as `render` on the dreams");
  cmd->add_option("--size", a->size, "Image size with --cameras, px")->capture_default_str();
  cmd->add_flag("--depth", a->depth, "With --cameras: also depth images");
  cmd->callback([a] { RunDream(*a); });
}

void AddMergeCommand(CLI::App& app) {
  auto inputs = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "merge", "Join dream shards into one file, identical to a single-machine run.");
  cmd->add_option("inputs", *inputs, "Shard files (same demo, spec, seed and count)")->required();
  cmd->add_option("--out", *out, "Merged episode file")->required();
  cmd->callback([inputs, out] { RunMerge(*inputs, *out); });
}

}  // namespace dreamforge::tools
