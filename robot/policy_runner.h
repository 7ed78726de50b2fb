// Executes a policy step by step: the one runner behind `eval`, the training-time
// rollouts and the edge controller (robot/controller.h). Only the network differs between
// them: a ChunkPredictor, the Eigen runtime of a bundle (robot/policy_runtime.h) or the
// LibTorch network of a training run (policy/policy.h).
//
//   normalize       o_n = (x - mean) / std per obs key, concatenated in the model's order
//                   (computed in double, stored as float, as policy::Normalizer).
//   plan            chunk = predictor(o_n, noise) (H normalized actions); for flow, noise
//                   is 7 H draws of std::normal_distribution<float>(0, 1) from the runner's
//                   std::mt19937_64, in order (an mlp draws none).
//   denormalize     per dim i, r = max_i - min_i: a = y + min_i if r < 1e-4, else
//                   (y + 1) / 2 r + min_i; then clamped to [-1, 1].
//   gripper (col 6) raw: unchanged; sign: +1 if > 0 else -1; sample: +1 if u < (a + 1) / 2
//                   else -1, u ~ std::uniform_real_distribution<float>(0, 1), one draw per
//                   chunk row in order, after the noise (both per chunk row when planned).
//                   latch, per executed action: state s (-1 open after Reset), n steps since
//                   its last switch; p = (a + 1) / 2 the probability of closed, q = p if
//                   s < 0 else 1 - p; if n >= gripper_hold and q > gripper_switch then
//                   s = -s, n = 0; n += 1; the command is s (robot/gripper_latch.h).
//   execute         the chunk's first `execute` rows, one per Act, then a new plan.
//
// Model vs state: the spec and statistics are copied at construction; a runner owns its
// buffers and is not thread-safe (one per thread). Everything except the constructors is
// real-time safe when the predictor's Predict is (the Eigen runtime's is).

#pragma once

#include <cstdint>
#include <memory>
#include <random>

#include <Eigen/Core>

#include "robot/bundle.h"
#include "robot/gripper_latch.h"
#include "robot/model_spec.h"
#include "robot/types.h"

namespace dreamforge::robot {

// The network of a policy as a pure function.
class ChunkPredictor {
 public:
  virtual ~ChunkPredictor() = default;
  // Normalized obs (D) and noise (7 H; null for an mlp) -> normalized chunk (7 H, action h
  // in [7 h, 7 h + 7)); no clamping, no gripper rule.
  virtual void Predict(const float* normalized_obs, const float* noise, float* chunk) = 0;
  // Image policies: the camera frames the next Predict reads, one per image input (robot/
  // camera.h layout). A predictor without cameras ignores them. Real-time safe.
  virtual void SetImages(const std::uint8_t* const* /*frames*/) {}
};

// The bundle's normalization as arithmetic (policy::Normalizer computes the statistics).
class PolicyNormalization {
 public:
  // Throws std::invalid_argument if the statistics are not D + 7 wide. Allocates.
  PolicyNormalization(const Normalization& stats, int obs_dim);
  // Raw observation (D) -> normalized (D). Real-time safe.
  void NormalizeObs(const float* raw, float* normalized) const;
  // One normalized action (7) -> raw action (7); no clamping. Real-time safe.
  void DenormalizeAction(const float* normalized, float* action) const;

 private:
  Eigen::VectorXd obs_mean_, obs_std_;  // (D)
  FeatureStats action_;                 // (7)
};

enum class RunnerStatus {
  kOk,
  kBadInput,   // a non-finite raw observation: nothing was planned
  kNonFinite,  // the network produced a non-finite value: the plan was discarded
};
const char* RunnerStatusName(RunnerStatus status);

class PolicyRunner {
 public:
  // A policy of `model` with `stats`, planning with `predictor`. Allocates every buffer;
  // throws std::invalid_argument on a null predictor or inconsistent sizes.
  PolicyRunner(const ModelSpec& model, const Normalization& stats,
               std::unique_ptr<ChunkPredictor> predictor, std::uint64_t seed);
  // The native runner of a loaded bundle (its Eigen PolicyRuntime).
  PolicyRunner(std::shared_ptr<const Bundle> bundle, std::uint64_t seed);

  // Image policies: hands the frames of this step to the predictor (ChunkPredictor::
  // SetImages); call before Act. Real-time safe.
  void SetImages(const std::uint8_t* const* frames) { predictor_->SetImages(frames); }

  // Re-seeds the generator and forgets the current chunk and latch. Real-time safe.
  void Reset(std::uint64_t seed);

  // Raw observation (D floats, the model's key order) -> raw action (7) in [-1, 1],
  // gripper rule applied. On kBadInput or kNonFinite *action is all quiet NaN (never a
  // plausible command) and the next call plans afresh. Real-time safe.
  RunnerStatus Act(const float* raw_obs, Vector7f* action);

  const ModelSpec& model() const { return model_; }
  const PolicyNormalization& normalization() const { return normalization_; }
  // Whether the last successful Act computed a new plan, and how many plans so far.
  bool planned_last_step() const { return planned_last_step_; }
  std::uint64_t plans() const { return plans_; }
  // The current chunk after denormalization, clamping and the gripper rule (H x 7; the
  // latch applies to executed actions only, so its chunk keeps the predicted value).
  const Eigen::Matrix<float, Eigen::Dynamic, kActionDim, Eigen::RowMajor>& chunk() const {
    return chunk_;
  }

 private:
  ModelSpec model_;
  PolicyNormalization normalization_;
  std::unique_ptr<ChunkPredictor> predictor_;
  std::mt19937_64 rng_;
  Eigen::VectorXf obs_n_, noise_, y_;                                        // (D), (7 H), (7 H)
  Eigen::Matrix<float, Eigen::Dynamic, kActionDim, Eigen::RowMajor> chunk_;  // (H x 7)
  int next_ = 0;  // next chunk row to execute
  bool have_chunk_ = false;
  GripperLatch latch_;  // the latch mode's state
  bool planned_last_step_ = false;
  std::uint64_t plans_ = 0;
};

}  // namespace dreamforge::robot
