// Training data: the demos of an episode file's mask/train and mask/valid, normalized and
// held in memory as tensors (1.6 M samples x 25 floats is ~200 MB).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "policy/normalizer.h"

namespace dreamforge::policy {

// Observation keys the policies read by default: robot::DefaultPolicyObsKeys()
// (robot/obs_layout.h says why robot0_eef_quat is not among them).
const std::vector<std::string>& DefaultObsKeys();

struct TrainingData {
  std::vector<std::string> obs_keys;
  Normalizer normalizer;      // computed on mask/train only
  nlohmann::json env_args;    // of the file (task, robot, rates)
  torch::Tensor obs;          // [N, D] float32, normalized; train demos first, then valid
  torch::Tensor actions;      // [N, 7] float32, normalized
  torch::Tensor episode_last; // [N] int64: index of the last sample of the sample's demo
  torch::Tensor train_index;  // int64 sample indices of mask/train demos
  torch::Tensor valid_index;  // int64 sample indices of mask/valid demos (may be empty)
  int train_episodes = 0;
  int valid_episodes = 0;

  int obs_dim() const { return static_cast<int>(obs.size(1)); }
  // Action chunks [B, horizon * 7] starting at samples `index` [B]: actions t..t+H-1 of
  // the same demo, the demo's last action repeated past its end.
  torch::Tensor Chunks(const torch::Tensor& index, int horizon) const;
};

// Loads `file` (an episode file). Throws datasets::DatasetError naming the file and field
// when it is missing or malformed, mask/train is missing or empty, or an obs key is
// missing or of another width than the file's other demos. `on_progress(done, total)` is
// called per demo read.
TrainingData LoadTrainingData(const std::filesystem::path& file,
                              const std::vector<std::string>& obs_keys,
                              const std::function<void(int, int)>& on_progress = {});

}  // namespace dreamforge::policy
