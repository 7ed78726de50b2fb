// Runs a controller in a world until success, failure or timeout, recording the episode.
#pragma once

#include <functional>
#include <string>

#include "datasets/episode.h"
#include "sim/world.h"

namespace dreamforge::sim {

// Anything that maps observations to actions: policies, replays, scripted and teleop
// devices. `world` is there for privileged controllers (scripted experts, replays that
// need object frames); a learned policy must use `obs` only.
class Controller {
 public:
  virtual ~Controller() = default;
  virtual void Reset(const World& /*world*/) {}
  virtual Action Act(const World& world, const Observation& obs) = 0;
  // True when the controller has nothing more to do (a replay ran out of actions).
  virtual bool Finished() const { return false; }
};

struct RolloutOptions {
  int max_steps = -1;            // control steps; -1: the task's max_steps()
  bool stop_on_success = true;   // end as soon as the task's success held long enough
  // ... but only once the controller is Finished(): demos and dreams record their whole
  // script, the retract after the release included, so that policies learn to clear the
  // object (without it they hover at the released object, a finger touching it).
  bool success_after_finish = false;
  bool stop_when_finished = false;  // end when the controller reports Finished()
  bool record = true;            // fill RolloutResult::episode
  // End early, as a timeout, once failure is certain: the controller is Finished(), no
  // finger touches the object and the gripper is open, object 0 is not placed, and every
  // object has stayed still (kStillLinear, kStillAngular) for kStillSteps control steps.
  // Nothing moves them any more, so the rest of the budget could not change the outcome.
  bool stop_failure_at_rest = false;
};

inline constexpr double kStillLinear = 1e-3;   // m/s
inline constexpr double kStillAngular = 1e-2;  // rad/s
inline constexpr int kStillSteps = 10;         // control steps (0.5 s at 20 Hz)

// Episode rules shared by every loop that drives a world (Rollout, the controller in
// software-in-the-loop, teleoperation): the manipulated object (object 0) is dropped when
// its centre falls kDropDepth below the table top, and lifted once its centre has risen
// kLiftHeight above where it started.
inline constexpr double kDropDepth = 0.05;   // m
inline constexpr double kLiftHeight = 0.03;  // m
bool ObjectDropped(const World& world);

struct RolloutResult {
  Outcome outcome = Outcome::kRunning;
  int steps = 0;
  int ik_misses = 0;      // control steps whose IK target was not reached
  bool lifted = false;    // object 0 was lifted (kLiftHeight) before some step
  TaskStatus final_status;
  datasets::Episode episode;  // empty unless options.record
};

RolloutResult Rollout(World& world, Controller& controller, const RolloutOptions& options = {});

// Records one episode step by step, for loops that drive a world themselves (teleop):
//   EpisodeRecorder rec(world, capacity);
//   obs = world.Observe();
//   loop { a = ...; rec.Before(world, obs, a); world.Step(a); obs = world.Observe();
//          rec.After(world, obs); }
//   Episode ep = rec.Finish(success);
// Memory for `capacity` steps is reserved up front; more steps grow it.
class EpisodeRecorder {
 public:
  EpisodeRecorder(const World& world, int capacity);
  // Observation, state, poses and the (clamped) action before a step.
  void Before(const World& world, const Observation& obs, const Action& action);
  // Next observation and reward after the step.
  void After(const World& world, const Observation& next_obs);
  int steps() const { return steps_; }
  // Trims to the recorded steps, sets dones, subtask signals (from the gripper command) and
  // the success flag. The recorder is empty afterwards.
  datasets::Episode Finish(bool success);

 private:
  void Grow(int rows);
  const Task& task_;
  datasets::Episode ep_;
  int steps_ = 0;
  int capacity_ = 0;
  Eigen::VectorXf value_;
};

// Subtask end signals from the gripper command (action column 6): signal k is 0 until the
// k-th switch of the gripper (closed after open, then open after closed, ...), then 1.
std::map<std::string, std::vector<int32_t>> GripperSubtaskSignals(
    const datasets::MatrixRXf& actions, const std::vector<std::string>& names);

// Pose tracking used by the scripted and dream controllers: the planned motion of this step
// (desired - previous_desired) fed forward, plus `gain` x the remaining error to the
// measured tool pose. A gain below ~0.6 keeps the loop stable with up to 2 steps of latency.
Action TrackingAction(const World& world, const Eigen::Isometry3d& desired,
                      const Eigen::Isometry3d& previous_desired, double gripper, double gain = 0.5);

// Replays recorded actions open-loop.
class ReplayController : public Controller {
 public:
  explicit ReplayController(datasets::MatrixRXf actions) : actions_(std::move(actions)) {}
  Action Act(const World&, const Observation&) override;
  bool Finished() const override { return next_ >= actions_.rows(); }

 private:
  datasets::MatrixRXf actions_;
  Eigen::Index next_ = 0;
};

}  // namespace dreamforge::sim
