// One dream: a perturbed scene, the source demo's segments mapped into its object frames,
// executed closed-loop in physics and judged by the task's success predicate.
//
// Dream i is a pure function of (source demo, spec, run seed, i): attempt j of dream i
// samples its scene from SampleScene(seed, DreamKey(i, j)); the first successful attempt
// is kept. So episode i is the same whatever the worker count, order, shard or machine.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "augment/perturbation.h"
#include "augment/segment.h"
#include "sim/rollout.h"

namespace dreamforge::augment {

// The demo dreams are made from, prepared once and shared read-only by every worker.
struct DreamSource {
  std::shared_ptr<const sim::SceneModel> model;
  PerturbationSpec spec;
  std::vector<Segment> segments;
  std::string demo_hash;  // content hash of the source demo (hex)
  uint64_t seed = 0;      // run seed
};

// Reads demo `index` of an episode file, checks it belongs to the model's task and
// segments it by the task's subtask signals. Throws AugmentError / DatasetError.
DreamSource PrepareSource(std::shared_ptr<const sim::SceneModel> model, const std::string& demo_path,
                          PerturbationSpec spec, uint64_t seed);

// FNV-1a 64 of a file's bytes, as 16 hex digits.
std::string HashFile(const std::string& path);

// Scene index of attempt j of dream i.
inline uint64_t DreamKey(uint64_t i, uint64_t j) { return (i << 20) | j; }

// Follows the source segments around the live object frames (MimicGen-style): at the start
// of each segment the reference frame is read from the world, the segment is mapped into
// it, and a bridge interpolates from the current pose to its first pose. Unlike MimicGen,
// segments carried out with the object in hand are shifted by the difference between the
// demo's in-hand offset and the one this grasp produced, so the object, not the hand,
// lands where the demo put it.
class SegmentController : public sim::Controller {
 public:
  explicit SegmentController(const DreamSource& source) : source_(source) {}
  void Reset(const sim::World& world) override;
  sim::Action Act(const sim::World& world, const sim::Observation& obs) override;
  // Every segment ran (afterwards Act holds the last pose).
  bool Finished() const override { return segment_ >= source_.segments.size(); }
  // The phase of the step the last Act() commanded, for profiles: "reach" (to the object,
  // gripper open), "grasp" (closing and the lift), "carry" (the bridge to the next
  // segment's frame), "place" (that segment's demo motion), "retract" (the last segment:
  // release and retract), "hold" (all done, waiting for success to hold).
  const char* Phase() const;

 private:
  void StartSegment(const sim::World& world);
  Eigen::Isometry3d FrameNow(const sim::World& world, const Segment& seg) const;
  // Index of the task object `name` (0 if none has that name).
  static int ObjectIndex(const sim::World& world, const std::string& name);

  const DreamSource& source_;
  size_t segment_ = 0;
  int step_ = 0;
  int bridge_steps_ = 0;
  double gripper_ = -1.0;
  std::vector<Eigen::Isometry3d> path_;  // the current segment's poses, world frame
  Eigen::Isometry3d desired_ = Eigen::Isometry3d::Identity();
  Eigen::Isometry3d bridge_start_ = Eigen::Isometry3d::Identity();
  Eigen::Vector3d held_correction_ = Eigen::Vector3d::Zero();  // added to in-hand segments
  bool corrected_ = false;  // held_correction_ measured
};

struct DreamResult {
  bool kept = false;
  int attempts = 0;                      // attempts made for this dream
  std::map<std::string, int> failures;   // reason -> count among those attempts
  datasets::Episode episode;             // the kept episode (if kept)
  double physics_steps = 0;              // physics steps simulated, all attempts
  double physics_seconds = 0;            // time inside Bullet's step, all attempts
  double total_seconds = 0;              // time in MakeDream, all attempts
  // Failed attempts by the phase in which they failed (see FailurePhase).
  std::map<std::string, int> failure_phases;
  // Time inside Bullet's step and control steps, per SegmentController::Phase(), all attempts.
  std::map<std::string, double> phase_seconds;
  std::map<std::string, int64_t> phase_steps;
};

// Why a failed rollout failed: unstable, ik_failure, dropped, grasp_failed (never lifted,
// RolloutResult::lifted), slip_or_drop (lifted but not placed), timeout.
std::string FailureReason(const sim::RolloutResult& r);

// Whether the gripper can hold object 0 of a scene by friction at all, from the numbers:
// both fingers squeeze with their joint effort, each contact holds up to the combined
// friction (Bullet multiplies the pad's and the object's coefficients) times that force,
// against the object's weight. Below twice the weight (the carry accelerates it too), no
// grasp could survive the scene, and a failed attempt on it fails as "infeasible".
struct GraspBudget {
  double finger_force = 0;  // N, each finger
  double friction = 0;      // combined coefficient
  double weight = 0;        // N
  double HoldingForce() const { return 2.0 * friction * finger_force; }
  bool Feasible() const { return HoldingForce() >= 2.0 * weight; }
};
GraspBudget GraspBudgetOf(const sim::SceneModel& model, const sim::SceneParams& params);

// Control steps a dream may take: the task's budget, or 1.5x the demo plus 100 steps for
// the bridges when the demo is long.
int RolloutBudget(const DreamSource& source);

// Makes dream i, trying at most max_attempts scenes.
DreamResult MakeDream(const DreamSource& source, uint64_t i, int max_attempts);

}  // namespace dreamforge::augment
