// A trained policy as the controller uses it: model, normalization and weights loaded from
// a run directory, and a per-episode runner that turns observations into actions.
//
// Run directory (written by policy/trainer.h):
//   run.json              task, env_args, data, obs_keys, normalization, model, train options
//   metrics.jsonl         one JSON object per epoch
//   best.pt, best.json    weights chosen by rollout success (or validation loss), and why
//   checkpoints/last.pt   weights + optimizer + epoch, for --resume
//   checkpoints/epoch_NNNN.pt   weights every --checkpoint-every epochs
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "policy/model.h"
#include "policy/normalizer.h"
#include "robot/policy_runner.h"

namespace dreamforge::policy {

struct Policy {
  ModelConfig model;
  Normalizer normalizer;  // the low-dimensional obs_keys, in the order the network reads them
  std::vector<ImageInput> images;  // image policies: the cameras (run.json "images"), else empty
  nlohmann::json env_args;
  std::string task;
  Net net{nullptr};  // CPU, eval mode; run it through MakeRunner (one runner per thread)

  // Loads run.json and `checkpoint` ("best", "last" or a .pt path). Throws PolicyError
  // naming the file and field.
  static std::shared_ptr<const Policy> Load(const std::filesystem::path& run_dir,
                                            const std::string& checkpoint = "best");
  // From a description and a network (the trainer's periodic evaluation).
  static std::shared_ptr<const Policy> FromNet(const nlohmann::json& run, const Net& net);
};

// Loads a checkpoint's weights (the "model" entry of a trainer checkpoint, or the archive
// itself) into `net` and checks that every tensor has the shape net's model implies; a
// mismatch throws PolicyError naming `file`, the tensor and `where` (the run.json). Used by
// Policy::Load, so eval and export refuse the same runs.
void LoadCheckpointWeights(Net& net, torch::serialize::InputArchive& archive, const std::filesystem::path& file,
                           const std::string& where);

// Reads run.json of a run directory (throws PolicyError if missing or not JSON).
nlohmann::json ReadRunJson(const std::filesystem::path& run_dir);

// The LibTorch this binary links, e.g. "1.13.0" (run.json records it as "libtorch").
std::string LibTorchVersion();
// Refuses, before LibTorch opens it, a checkpoint of the run whose run.json says it was
// written by LibTorch of another major version: such archives do not load across major
// versions (2.x aborted the process on a 1.13 archive rather than throwing). Throws
// PolicyError naming the file and both versions. A run.json without "libtorch" (older
// runs) passes; so does another minor version, whose load errors name both versions too.
void CheckCheckpointVersion(const nlohmann::json& run, const std::filesystem::path& file);

// The policy's LibTorch network as the runner's predictor (robot/policy_runner.h): its own
// copy of the network (runners on different threads never share one), CPU, eval mode (the
// image encoders take the centre crop), no gradients. Not real-time safe (LibTorch
// allocates); a bundle's Eigen runtime is.
//
// Image policies: the runner passes only the low-dimensional observation, so the caller
// hands the camera frames over first with SetImages (tools/policy_controller.cc renders
// them every control step); Predict throws PolicyError if an image policy has none.
class TorchPredictor : public robot::ChunkPredictor {
 public:
  explicit TorchPredictor(const Policy& policy);
  void Predict(const float* normalized_obs, const float* noise, float* chunk) override;

  // The frames the next Predict reads: one per image input in the policy's order, each
  // H * W * 3 bytes (uint8, row-major H x W x RGB, as rendered and stored). The bytes are
  // copied here. Throws PolicyError on a wrong count.
  void SetImages(const std::vector<const uint8_t*>& frames);
  // The same through the runner's interface (robot::ChunkPredictor): one pointer per image
  // input. Allocates (not real-time safe).
  void SetImages(const std::uint8_t* const* frames) override {
    SetImages(std::vector<const uint8_t*>(frames, frames + images_.size()));
  }
  // The image batches the network read in the last Predict, before its crop: (1, H, W, 3)
  // uint8 per image input (empty for a low-dimensional policy). For tests.
  const std::vector<torch::Tensor>& last_images() const { return last_images_; }
  // Whether the network runs in training mode anywhere (it never should: tests check).
  bool training() const;

 private:
  Net net_{nullptr};
  int obs_dim_ = 0;
  int chunk_ = 0;
  std::vector<torch::Tensor> images_;  // (1, H, W, 3) uint8 per image input
  bool have_images_ = false;
  std::vector<torch::Tensor> last_images_;  // what the last Predict read
};

// The one runner (robot::PolicyRunner) over the policy's LibTorch network, with the
// policy's model, normalization and a generator seeded with `seed`: what `eval` and the
// training-time rollouts execute, step for step as the edge controller does. With
// `predictor` non-null, *predictor is the runner's TorchPredictor (owned by the runner),
// through which an image policy's caller feeds the frames.
std::unique_ptr<robot::PolicyRunner> MakeRunner(const Policy& policy, uint64_t seed,
                                                TorchPredictor** predictor = nullptr);

// The raw observation the runner reads: the policy's low-dimensional obs keys of `obs` (key -> raw
// values, as in episode files) concatenated in the policy's order. Throws std::invalid_argument
// naming a missing key or one of the wrong width.
std::vector<float> FlatObservation(const Policy& policy, const std::map<std::string, Eigen::VectorXf>& obs);

// The normalization of a run as the runtime's statistics (same numbers).
robot::Normalization RuntimeNormalization(const Normalizer& normalizer);

// run.json's "model" object. Runs written before the gripper latch existed carry neither
// gripper_switch nor gripper_hold (nor time_features): the defaults then apply. Throws
// PolicyError naming `where` and the field.
ModelConfig ModelFromRunJson(const nlohmann::json& json, const std::string& where);

}  // namespace dreamforge::policy
