// Evaluation of any controller (policy, replay baseline, scripted expert) on held-out
// perturbed scenes, judged by the task's success predicate.
//
// Held-out scenes: scene k of an evaluation is SampleScene(spec, seed, kEvalIndexBit | k).
// Dream scenes use indices DreamKey(i, j) = i << 20 | j, which never set that bit, so no
// evaluation scene is a training scene, whatever seeds the two runs use.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "augment/perturbation.h"
#include "datasets/episode.h"
#include "sim/rollout.h"

namespace dreamforge::augment {

constexpr uint64_t kEvalIndexBit = 1ULL << 63;

// Wilson score interval for k successes in n trials at ~95% (z = 1.96).
struct Interval {
  double low = 0.0, high = 0.0;
};
Interval WilsonInterval(int64_t successes, int64_t trials, double z = 1.959963984540054);

struct EvalResult {
  int64_t episodes = 0;
  int64_t successes = 0;
  std::map<std::string, int64_t> failures;  // reason -> count (see FailureReason)
  double wall_seconds = 0;
  nlohmann::json ToJson() const;  // episodes, successes, success_rate, ci_low, ci_high, failures
};

// Makes a fresh controller for one episode (called from worker threads).
using ControllerFactory = std::function<std::unique_ptr<sim::Controller>()>;

// Runs `episodes` held-out scenes with `workers` threads. The result does not depend on
// the worker count.
EvalResult Evaluate(std::shared_ptr<const sim::SceneModel> model, const PerturbationSpec& spec,
                    uint64_t seed, int episodes, int workers, const ControllerFactory& factory,
                    const std::function<void(int64_t done)>& on_progress = {});

// How a recorded episode handled its object, from the episode alone (m):
//  - slide: how far the object moved over the table (horizontally) between the first close
//    command and the first step at which it had risen `lift` above its height then;
//  - place_error: its horizontal distance from the target frame's origin at the last step.
// NaN where the episode never closed the gripper or never lifted the object that far.
struct GraspPlaceMeasure {
  double slide = std::numeric_limits<double>::quiet_NaN();
  double place_error = std::numeric_limits<double>::quiet_NaN();
};
GraspPlaceMeasure MeasureGraspAndPlace(const datasets::Episode& episode, const std::string& object,
                                       double lift = 0.01);

}  // namespace dreamforge::augment
