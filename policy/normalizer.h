// Normalization of policy inputs and outputs (DESIGN.md "Formats" -> Policy bundle:
// policy.json carries these statistics as "normalization").
//
// Statistics are per dimension, computed over the demos of an episode file's mask/train
// only (never mask/valid), in double precision.
//   Observations: z-score, (x - mean) / std. std is the population standard deviation
//     (ddof = 0, as numpy/robomimic), floored at kStdFloor = 1e-6 so that a constant
//     dimension maps to 0 instead of dividing by zero.
//   Actions: min/max -> [-1, 1] (robomimic "min_max"): 2 (x - min) / (max - min) - 1. A
//     dimension whose range max - min is below kConstantRange = 1e-4 is constant: it maps
//     to x - min (so the training value maps to 0), and denormalizing adds min back, so the
//     round trip stays exact.
// Not real-time safe (the Normalize* calls allocate their result); robot/ reimplements the
// arithmetic from the JSON for the control loop.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "datasets/episode_store.h"

namespace dreamforge::policy {

// Per-dimension statistics of one feature; all four vectors have the feature's width.
struct FeatureStats {
  Eigen::VectorXd mean;
  Eigen::VectorXd std;  // population std, >= kStdFloor
  Eigen::VectorXd min;
  Eigen::VectorXd max;

  int dim() const { return static_cast<int>(mean.size()); }
};

struct Normalizer {
  static constexpr double kStdFloor = 1e-6;
  static constexpr double kConstantRange = 1e-4;

  std::vector<std::string> obs_keys;        // order of the flattened observation
  std::map<std::string, FeatureStats> obs;  // per key in obs_keys (exactly those keys)
  FeatureStats action;                      // (7)

  // Sum of the widths of obs_keys: the size of NormalizeObs's result.
  int ObsDim() const;

  // z-scores every key of obs_keys and concatenates them in obs_keys order
  // -> (ObsDim()). Keys of `obs` not in obs_keys are ignored. Throws std::invalid_argument
  // naming the key if one is missing or has the wrong width.
  Eigen::VectorXf NormalizeObs(const std::map<std::string, Eigen::VectorXf>& obs) const;

  // (7) raw action -> (7) in [-1, 1] for values within the training range (values outside
  // it map outside [-1, 1]; nothing is clipped). Throws std::invalid_argument on a wrong
  // size.
  Eigen::VectorXf NormalizeAction(const Eigen::VectorXf& action) const;
  // Inverse of NormalizeAction.
  Eigen::VectorXf DenormalizeAction(const Eigen::VectorXf& normalized) const;

  // {"obs_mode": "z_score", "action_mode": "min_max", "obs_keys": [...],
  //  "obs": {key: {"mean": [...], "std": [...], "min": [...], "max": [...]}, ...},
  //  "action": {"mean": [...], ...}}. Doubles round-trip exactly through dump()/parse().
  nlohmann::json ToJson() const;
  // Validates everything (modes, keys, array lengths, finite numbers, std >= kStdFloor,
  // min <= max, action width 7) and throws std::invalid_argument naming the field, e.g.
  // "normalizer: obs.robot0_eef_pos.std: expected 3 numbers, got 2".
  static Normalizer FromJson(const nlohmann::json& json);
};

// Statistics of `obs_keys` (in that order, which becomes the flattened order) and of the
// actions over the demos of reader's mask/train, read one episode at a time (memory does
// not grow with the file); per-episode two-pass moments merged with Chan et al.'s
// parallel update, in double.
// Throws datasets::DatasetError naming the file if mask/train is missing or empty, names a
// demo that is not in the file or names one twice, or if an obs key is not in the file
// (the key and the file's keys named); std::invalid_argument if obs_keys is empty or has a
// duplicate. Errors from reading an episode propagate (DatasetError naming file and demo).
Normalizer ComputeNormalizer(const datasets::EpisodeReader& reader,
                             const std::vector<std::string>& obs_keys);

}  // namespace dreamforge::policy
