#include "tools/teleop_import.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "datasets/episode_store.h"
#include "datasets/import.h"
#include "sim/rollout.h"
#include "sim/world.h"
#include "tools/cli_util.h"
#include "tools/teleop_store.h"

namespace dreamforge::tools {

namespace fs = std::filesystem;

void RunImport(const ImportOptions& o) {
  const fs::path urdf = o.urdf.empty() ? sim::SceneModel::DefaultUrdf() : fs::path(o.urdf);
  auto model = std::make_shared<const sim::SceneModel>(o.task, urdf);
  const datasets::RobomimicFile in = datasets::ReadRobomimicDemos(o.input);
  const std::string& file = in.file;
  if (in.env_args.is_null()) {
    throw datasets::DatasetError(file +
                                 ": /data: missing attribute 'env_args' (robomimic files "
                                 "name their task there as env_name)");
  }
  const std::string env_name = in.env_args.is_object() && in.env_args.contains("env_name") &&
                                       in.env_args["env_name"].is_string()
                                   ? in.env_args["env_name"].get<std::string>()
                                   : "";
  if (env_name != o.task) {
    throw datasets::DatasetError(file + ": /data attribute env_args: env_name is '" + env_name +
                                 "', but --task is '" + o.task + "'");
  }
  // Check --out before the replays: a bad one fails at once.
  DemoFile out(o.out, model->EnvArgs());

  const sim::SceneParams params = model->Nominal();
  const double hz = model->physics().control_hz();
  std::vector<datasets::Episode> episodes;
  for (const datasets::RobomimicDemo& demo : in.demos) {
    sim::World world(model, params);
    sim::ReplayController replay(demo.actions.cast<float>());
    sim::RolloutOptions options;
    // Room for the success hold time after the last action (the replay holds still).
    options.max_steps =
        demo.num_samples() + static_cast<int>(std::ceil(model->task().hold_seconds() * hz)) + 20;
    const sim::RolloutResult r = sim::Rollout(world, replay, options);
    if (r.outcome != sim::Outcome::kSuccess) {
      const sim::TaskStatus& s = r.final_status;
      char msg[512];
      std::snprintf(msg, sizeof msg,
                    "%s: %s/actions: the %d actions do not replay to success in %s (%s after %d "
                    "steps; object %.1f cm from the target, tilt %.1f deg; placed %s, at rest "
                    "%s, released %s)",
                    file.c_str(), demo.path.c_str(), demo.num_samples(), o.task.c_str(),
                    sim::OutcomeName(r.outcome), r.steps, s.position_error * 100.0,
                    s.tilt * 180.0 / M_PI, s.placed ? "yes" : "no", s.at_rest ? "yes" : "no",
                    s.released ? "yes" : "no");
      throw datasets::DatasetError(msg);
    }
    datasets::Episode ep = r.episode;
    ep.perturbation = sim::ToJson(params);
    ep.perturbation["imported_from"] = {{"file", file}, {"demo", demo.path}};
    std::string track;
    if (demo.eef_pos.rows() > 0) {
      // How closely our replay follows the tool path the file recorded (information only:
      // another simulator may track differently and still succeed).
      const Eigen::Index n =
          std::min<Eigen::Index>(demo.eef_pos.rows(), ep.obs["robot0_eef_pos"].rows());
      const datasets::MatrixRXd ours = ep.obs["robot0_eef_pos"].topRows(n).cast<double>();
      const double dev = (ours - demo.eef_pos.topRows(n)).rowwise().norm().maxCoeff();
      char buf[96];
      std::snprintf(buf, sizeof buf, "; tool path within %.1f cm of the file's robot0_eef_pos",
                    dev * 100.0);
      track = buf;
    }
    std::printf("%s%s: %d actions replay to success in %d steps%s\n", file.c_str(),
                demo.path.c_str(), demo.num_samples(), r.steps, track.c_str());
    episodes.push_back(std::move(ep));
  }
  const std::vector<std::string> names = out.Append(episodes);
  std::printf("imported %zu demo(s) of %s from %s -> %s as %s..%s (%d demos)\n", names.size(),
              o.task.c_str(), file.c_str(), o.out.c_str(), names.front().c_str(),
              names.back().c_str(), out.num_demos());
}

}  // namespace dreamforge::tools
