// Native float32 inference of a policy bundle (robot/bundle.h) with Eigen: the same
// arithmetic as policy/model.h under LibTorch (checked to 1e-5 against torch by
// tests/robot/policy_runtime_test.cc on tests/robot/data/).
//
//   normalized obs  o_n = (x - mean) / std per obs key, concatenated in obs_keys order
//                   (computed in double, stored as float, as policy::Normalizer).
//   network         h = relu(W h + b) for the hidden layers, no relu on the last one.
//   mlp             chunk = net(o_n): one normalized action (7).
//   flow            x = noise (7 H, standard normal); dt = 1/K; for k = 0..K-1:
//                   t = k dt, a_hat = net([o_n, x, tf(t)]),
//                   x = x + dt / (1 - k dt) * (a_hat - x); chunk = x (H rows of 7).
//                   tf(t) = [t, sin(pi t), cos(pi t), ..., sin(4 pi t), cos(4 pi t)].
//   denormalize     per dim i, r = max_i - min_i: a = y + min_i if r < 1e-4, else
//                   (y + 1) / 2 r + min_i; then clamped to [-1, 1].
//   gripper (col 6) raw: unchanged; sign: +1 if > 0 else -1; sample: +1 if u < (a + 1) / 2
//                   else -1, u ~ U(0, 1) from the runner's generator (both per chunk row
//                   when planned). latch, per executed action: state s (-1 open after
//                   Reset), n steps since its last switch; p = (a + 1) / 2 the probability
//                   of closed, q = p if s < 0 else 1 - p; if n >= gripper_hold and
//                   q > gripper_switch then s = -s, n = 0; n += 1; the command is s.
//
// Model vs state: the Bundle is immutable and may be shared; a PolicyRuntime or
// PolicyRunner owns its buffers (allocated at construction) and is not thread-safe; give
// each thread its own. Everything except the constructors is real-time safe: no heap
// allocation, no exceptions.

#ifndef DREAMFORGE_ROBOT_POLICY_RUNTIME_H_
#define DREAMFORGE_ROBOT_POLICY_RUNTIME_H_

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include <Eigen/Core>

#include "robot/bundle.h"
#include "robot/gripper_latch.h"
#include "robot/types.h"

namespace dreamforge::robot {

// The pure network side: normalization and the forward pass, no randomness.
class PolicyRuntime {
 public:
  // Allocates every buffer. Throws std::invalid_argument if the bundle has no weights
  // (e.g. it came from ParsePolicyJson alone). Not real-time safe.
  explicit PolicyRuntime(std::shared_ptr<const Bundle> bundle);

  const Bundle& bundle() const { return *bundle_; }
  int obs_dim() const { return bundle_->model.obs_dim; }         // D
  int chunk_size() const { return bundle_->model.OutputDim(); }  // 7 H
  int horizon() const { return bundle_->model.horizon; }         // H

  // Raw observation (D, obs_keys order, the units of robot/controller.h) -> normalized
  // (D). Real-time safe.
  void NormalizeObs(const float* raw, float* normalized) const;
  // One normalized action (7) -> raw action (7); no clamping, no gripper rule.
  // Real-time safe.
  void DenormalizeAction(const float* normalized, float* action) const;

  // The policy as a pure function: normalized obs (D) and noise (7 H; ignored for an mlp,
  // may then be null) -> normalized chunk (7 H, action h in [7 h, 7 h + 7)); no clamping,
  // no gripper rule. Real-time safe; uses this object's buffers.
  void Predict(const float* normalized_obs, const float* noise, float* chunk);
  // Same with size checks; false (and nothing written) on a wrong size. Real-time safe.
  bool Predict(const Eigen::Ref<const Eigen::VectorXf>& normalized_obs,
               const Eigen::Ref<const Eigen::VectorXf>& noise, Eigen::Ref<Eigen::VectorXf> chunk);

 private:
  // Runs the layers on input_; returns the output buffer (7 H).
  const Eigen::VectorXf& Forward();

  std::shared_ptr<const Bundle> bundle_;
  Eigen::VectorXd obs_mean_, obs_std_;  // (D)
  Eigen::VectorXf input_;               // (InputDim): [o_n, x, tf] for flow
  Eigen::VectorXf x_;                   // (7 H) flow state
  std::vector<Eigen::VectorXf> acts_;   // one per layer
};

enum class RunnerStatus {
  kOk,
  kBadInput,   // a non-finite raw observation: nothing was planned
  kNonFinite,  // the network produced a non-finite value: the plan was discarded
};
const char* RunnerStatusName(RunnerStatus status);

// Executes a policy step by step: a chunk's first `execute` rows one per step, then a new
// plan. Randomness comes from one std::mt19937_64 seeded by the caller: per flow plan,
// 7 H draws of std::normal_distribution<float>(0, 1) in order (the noise), then for the
// sample gripper one std::uniform_real_distribution<float>(0, 1) draw per chunk row in
// order (an mlp plan draws only the uniforms, if any).
class PolicyRunner {
 public:
  // Allocates every buffer; not real-time safe.
  PolicyRunner(std::shared_ptr<const Bundle> bundle, std::uint64_t seed);

  // Re-seeds the generator and forgets the current chunk. Real-time safe.
  void Reset(std::uint64_t seed);

  // Raw observation (D floats, obs_keys order) -> raw action (7) in [-1, 1], gripper rule
  // applied. On kBadInput or kNonFinite *action is all quiet NaN (never a plausible
  // command) and the next call plans afresh. Real-time safe.
  RunnerStatus Act(const float* raw_obs, Vector7f* action);

  const PolicyRuntime& runtime() const { return runtime_; }
  // Whether the last successful Act computed a new plan, and how many plans so far.
  bool planned_last_step() const { return planned_last_step_; }
  std::uint64_t plans() const { return plans_; }
  // The current chunk after denormalization, clamping and the gripper rule (H x 7; the
  // latch applies to executed actions only, so its chunk keeps the predicted value).
  const Eigen::Matrix<float, Eigen::Dynamic, kActionDim, Eigen::RowMajor>& chunk() const {
    return chunk_;
  }

 private:
  PolicyRuntime runtime_;
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

#endif  // DREAMFORGE_ROBOT_POLICY_RUNTIME_H_
