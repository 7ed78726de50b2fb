// Training loop (robomimic-style): shuffled minibatches from mask/train, validation loss on
// mask/valid, Adam with a cosine learning-rate schedule, gradient clipping, checkpoints,
// --resume, metrics.jsonl and periodic rollout evaluation with a best-by-success
// checkpoint. Writes the run directory described in policy/policy.h.
//
// Reproducibility: every random draw is a function of (seed, epoch, step): initial weights
// from the seed, the epoch's permutation from (seed, epoch), the flow noise and times of a
// step from (seed, step), the random crops of image policies from (seed, step) as well
// (drawn for the global batch). A resumed run therefore continues with exactly the draws the
// uninterrupted run makes, and on CPU produces the same weights.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/distributed.h"
#include "policy/model.h"
#include "policy/policy.h"
#include "policy/training_data.h"

namespace dreamforge::policy {

struct TrainOptions {
  PolicyType type = PolicyType::kMlp;
  std::vector<int> hidden;  // empty: ModelConfig::Default's
  std::string gripper;      // "raw" | "sign" | "sample" | "latch"; empty: ModelConfig::Default's
  int epochs = 0;           // 0: 40 for mlp, 40 for flow
  int batch = 256;
  double lr = 1e-3;         // peak; cosine decay to 0 over all steps
  double weight_decay = 0.0;
  double grad_clip = 1.0;   // max global gradient norm
  uint64_t seed = 0;
  std::string device = "cpu";  // "cpu" or "cuda[:N]"
  int checkpoint_every = 5;    // epochs
  int eval_every = 0;          // epochs between rollout evaluations (0: never)
  int stop_after = 0;          // stop after this many epochs in this invocation (0: no limit)
  bool resume = false;
  // Image policies (image keys among the data's obs keys): every camera's encoder
  // (robot/image_encoder.h) is built from these.
  int image_crop = 0;        // crop side; 0: the image side - 8 (76 of 84, 56 of 64)
  int image_features = 64;   // features per camera
  int image_keypoints = 32;  // spatial-softmax keypoints per camera
  bool image_group_norm = true;
  // Photometric augmentation of the training crops (never at validation or evaluation),
  // drawn per image from the step's generator after the crop: a per-channel colour gain and
  // a contrast factor in 1 +- image_jitter, a brightness offset in +- image_jitter / 2, then
  // Gaussian pixel noise of standard deviation image_noise, on x / 255, clamped to [0, 1].
  // 0 and 0: off (crops only, as robomimic).
  double image_jitter = 0;
  double image_noise = 0;

  int Epochs() const { return epochs > 0 ? epochs : 40; }
  // Throws PolicyError naming the option (the device included: parsed, and CUDA present).
  void Validate() const;
  nlohmann::json ToJson() const;
};

struct EpochReport {
  int epoch = 0;  // 1-based
  int epochs = 0;
  int64_t step = 0;  // optimizer steps so far
  double train_loss = 0, valid_loss = 0;  // valid_loss NaN without mask/valid
  double lr = 0;
  double samples_per_s = 0;  // training steps only
  double seconds = 0;        // wall time of the epoch, evaluation included
  std::optional<double> success_rate;
  bool best = false;  // this epoch became best.pt
  int processes = 1;             // data-parallel ranks (policy/distributed.h)
  double allreduce_seconds = 0;  // of this epoch, in the gradient all-reduce (rank 0's)
  double train_seconds = 0;      // of this epoch, in training steps (all-reduce included)
  // Of train_seconds, the batch's data: gathering rows and, for image policies, the crops
  // and augmentation of every camera (the rest is forward, backward and the optimizer).
  double data_seconds = 0;
  // metrics.jsonl also gets "time": {"data": s, "step": s, "validation": s} (validation:
  // the validation loss and any rollouts) and, with several processes, the fields above.
  double validation_seconds = 0;
  nlohmann::json ToJson() const;
};

struct TrainHooks {
  // Every few batches: epoch, batches done, batches per epoch, running loss, samples/s.
  std::function<void(int, int64_t, int64_t, double, double)> on_batch;
  std::function<void(const EpochReport&)> on_epoch;
  // Success rate in [0, 1] of rollouts of `policy` (called every eval_every epochs and
  // after the last one). Leave empty for none.
  std::function<double(const std::shared_ptr<const Policy>&, int epoch)> rollout_eval;
};

struct TrainResult {
  int epochs_done = 0;    // total, resumed epochs included
  bool finished = false;  // all epochs done (false after --stop-after)
  int best_epoch = 0;
  std::string best_criterion;  // "success_rate" | "valid_loss" | "train_loss"
  double best_value = 0;
};

// The image inputs of a policy trained on `data` with `options`: one per image key, in
// order, each with an encoder for the key's image size. Throws PolicyError naming the
// --image-* option when the encoder cannot be built (e.g. a crop larger than the image).
std::vector<ImageInput> ImageInputsFor(const TrainingData& data, const TrainOptions& options);

// Trains into `run_dir` (created). `data_info` is stored in run.json under "data" (file,
// size, ...). Throws PolicyError for bad options, a run directory that already holds a
// run (without resume) or does not match (with resume).
// What Train checks of `run_dir` before it trains, for callers to check before loading
// any data: without resume it must not hold a run; with resume it must hold run.json and
// checkpoints/last.pt. Throws PolicyError naming the directory or file.
void CheckRunDir(const TrainOptions& options, const std::filesystem::path& run_dir);

//
// With `parallel` (several processes, policy/distributed.h) every rank calls Train with the
// same data and options: each computes the gradient of its slice of every global batch,
// the gradients are summed over the ranks before each step, and only rank 0 writes the
// run directory, evaluates, and calls the hooks. The weights match a single process with
// the same options to float rounding (the sums are added in another order).
TrainResult Train(const TrainingData& data, const nlohmann::json& data_info,
                  const TrainOptions& options, const std::filesystem::path& run_dir,
                  const TrainHooks& hooks = {}, DataParallel* parallel = nullptr);

}  // namespace dreamforge::policy
