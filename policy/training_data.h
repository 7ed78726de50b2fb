// Training data: the demos of an episode file's mask/train and mask/valid, normalized and
// held in memory as tensors (1.6 M samples x 25 floats is ~200 MB).
//
// Image keys (robot::IsImageKeyName, e.g. agentview_image) among the obs keys are read
// from the file's obs/<camera>_image (a file made by `dreamforge render` or `dream
// --cameras`) and held in memory as uint8, not normalized: N x H x W x 3 bytes per camera
// (84 x 84: 21 KiB per frame; 1,000 dreams of ~170 steps with two cameras: ~7 GiB). The
// total may not exceed max_image_bytes (the file is refused before any image is read);
// rendering frames on demand in loader threads is what lifts that limit (issue 16).
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

// Default cap on the images held in memory: 4 GiB (train --image-memory).
inline constexpr int64_t kDefaultMaxImageBytes = int64_t{4} << 30;

struct TrainingData {
  std::vector<std::string> obs_keys;  // the low-dimensional keys, in the order given
  Normalizer normalizer;              // computed on mask/train only (low-dimensional keys)
  nlohmann::json env_args;    // of the file (task, robot, rates)
  torch::Tensor obs;          // [N, D] float32, normalized; train demos first, then valid
  torch::Tensor actions;      // [N, 7] float32, normalized
  torch::Tensor episode_last; // [N] int64: index of the last sample of the sample's demo
  torch::Tensor train_index;  // int64 sample indices of mask/train demos
  torch::Tensor valid_index;  // int64 sample indices of mask/valid demos (may be empty)
  std::vector<std::string> image_keys;  // the image keys, in the order given
  std::vector<torch::Tensor> images;    // per image key: [N, H, W, 3] uint8, rows as obs
  int train_episodes = 0;
  int valid_episodes = 0;

  int obs_dim() const { return static_cast<int>(obs.size(1)); }
  // Action chunks [B, horizon * 7] starting at samples `index` [B]: actions t..t+H-1 of
  // the same demo, the demo's last action repeated past its end.
  torch::Tensor Chunks(const torch::Tensor& index, int horizon) const;
};

// Loads `file` (an episode file). Throws datasets::DatasetError naming the file and field
// when it is missing or malformed, mask/train is missing or empty, or an obs key is
// missing or of another width than the file's other demos; an image key the file lacks
// is one line naming the file and the key and how to render it. Throws PolicyError when
// only image keys are given (the normalized low-dimensional part may not be empty), for
// non-square or non-RGB images, and when the images exceed max_image_bytes.
// `on_progress(done, total)` is called per demo read.
TrainingData LoadTrainingData(const std::filesystem::path& file,
                              const std::vector<std::string>& obs_keys,
                              const std::function<void(int, int)>& on_progress = {},
                              int64_t max_image_bytes = kDefaultMaxImageBytes);

}  // namespace dreamforge::policy
