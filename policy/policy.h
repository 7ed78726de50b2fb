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
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "policy/model.h"
#include "policy/normalizer.h"

namespace dreamforge::policy {

struct Policy {
  ModelConfig model;
  Normalizer normalizer;  // obs_keys in the order the network reads them
  nlohmann::json env_args;
  std::string task;
  Net net{nullptr};  // CPU, eval mode; use through a PolicyRunner (one per thread)

  // Loads run.json and `checkpoint` ("best", "last" or a .pt path). Throws PolicyError
  // naming the file and field.
  static std::shared_ptr<const Policy> Load(const std::filesystem::path& run_dir,
                                            const std::string& checkpoint = "best");
  // From a description and a network (the trainer's periodic evaluation).
  static std::shared_ptr<const Policy> FromNet(const nlohmann::json& run, const Net& net);
};

// Reads run.json of a run directory (throws PolicyError if missing or not JSON).
nlohmann::json ReadRunJson(const std::filesystem::path& run_dir);

// One episode's inference state: its own copy of the network (so runners on different
// threads never share one), the chunk being executed and the flow noise generator.
// Not real-time safe (LibTorch allocates); robot/ has the allocation-free runtime.
class PolicyRunner {
 public:
  // `noise_seed` seeds the flow head's starting noise (unused by mlp).
  PolicyRunner(std::shared_ptr<const Policy> policy, uint64_t noise_seed);
  void Reset(uint64_t noise_seed);
  // obs: key -> raw observation (as in episode files) -> raw action (7), clamped to
  // [-1, 1], the gripper column as model.gripper says (sign and sample per chunk row
  // when planned, the latch per executed action). Re-plans every model.execute calls. Throws std::invalid_argument on a
  // missing key or wrong width.
  Eigen::VectorXf Act(const std::map<std::string, Eigen::VectorXf>& obs);
  const Policy& policy() const { return *policy_; }

 private:
  std::shared_ptr<const Policy> policy_;
  Net net_{nullptr};
  std::mt19937_64 rng_;
  Eigen::MatrixXf chunk_;  // (H x 7) raw actions of the current plan
  int next_ = 0;           // next row of chunk_ to execute
  GripperLatch latch_;     // gripper state of the latch mode
};

}  // namespace dreamforge::policy
