// Replays a stored demo open-loop in a fresh world of its own scene (tests only).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "datasets/episode_store.h"
#include "sim/rollout.h"

namespace dreamforge::test {

// Outcome of replaying demo `i` of `path`: its scene from the stored perturbation, its
// actions, 20 steps of slack.
inline sim::Outcome ReplayDemo(const std::filesystem::path& path, int i) {
  const datasets::EpisodeReader reader(path);
  const datasets::Episode ep = reader.ReadEpisode(i);
  auto model = std::make_shared<const sim::SceneModel>(
      reader.env_args()["env_name"].get<std::string>(), sim::SceneModel::DefaultUrdf());
  sim::World world(model, sim::SceneParamsFromJson(ep.perturbation));
  sim::ReplayController replay(ep.actions);
  sim::RolloutOptions opt;
  opt.max_steps = ep.num_samples() + 20;
  return sim::Rollout(world, replay, opt).outcome;
}

}  // namespace dreamforge::test
