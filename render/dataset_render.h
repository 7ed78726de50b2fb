// Images for an episode file: every step of every episode rendered from its stored state
// and appearance (attr `perturbation`), the approach of robomimic's dataset_states_to_obs.
// RenderDataset writes a copy of the file with obs/<camera>_image (and _depth) added;
// EpisodeImages renders on demand for a training data loader, so images need not be stored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "datasets/episode_store.h"
#include "render/camera.h"
#include "render/frames.h"

namespace dreamforge::render {

struct RenderOptions {
  std::vector<CameraSpec> cameras;
  bool depth = false;
  int workers = 1;   // threads, one GL context each
  int chunk = 32;    // episodes per resumable part file
  // Called after each part with (episodes done, total).
  std::function<void(int64_t, int64_t)> on_progress;
};

// The scene parameters an episode was made with (its `perturbation` attr), or the nominal
// scene for a file that has none. Throws DatasetError naming the file and demo.
sim::SceneParams EpisodeScene(const sim::SceneModel& model, const datasets::Episode& episode,
                              const std::string& file, const std::string& demo);

// Reads `in`, renders every episode and writes `out` (same episodes, masks and env_args,
// plus env_args["cameras"] and the image keys). Parts go to `<out>.render/` and are kept
// until the final file is published, so a killed run resumes where it stopped; the bytes
// of `out` are the same for any worker count. Throws DatasetError/RenderError naming the
// file (a file without states, an unknown task) or the camera.
void RenderDataset(const std::filesystem::path& in, const std::filesystem::path& out, const RenderOptions& options);

// On-demand frames of one file for data loaders: state + appearance -> image.
// Not thread-safe; give each loader thread its own (HDF5 reads are serialized inside).
class EpisodeImages {
 public:
  EpisodeImages(const std::filesystem::path& path, std::vector<CameraSpec> cameras);
  int num_episodes() const;
  int num_steps(int episode) const;
  // Camera k's image at (episode, step), sensor effects included: the bytes `render` writes.
  void Render(int episode, int step, int k, Image* rgb);
  const std::vector<CameraSpec>& cameras() const { return frames_->cameras(); }

 private:
  void Load(int episode);
  std::unique_ptr<datasets::EpisodeReader> reader_;
  std::shared_ptr<const sim::SceneModel> model_;
  std::unique_ptr<FrameRenderer> frames_;
  int loaded_ = -1;
  sim::SceneParams params_;
  Eigen::MatrixXd states_;
};

}  // namespace dreamforge::render
