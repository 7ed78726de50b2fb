#include "sim/rollout.h"

#include <optional>

#include "robot/geometry.h"

namespace dreamforge::sim {
namespace {

void AppendRow(datasets::MatrixRXd* m, int row, const Eigen::Isometry3d& pose) {
  Eigen::Map<Eigen::Matrix<double, 4, 4, Eigen::RowMajor>> out(m->row(row).data());
  out = pose.matrix();
}

}  // namespace

Action ReplayController::Act(const World&, const Observation&) {
  Action a = Action::Zero();
  if (next_ < actions_.rows()) {
    a = actions_.row(next_).transpose().cast<double>();
    ++next_;
  } else {
    a[6] = actions_.rows() > 0 ? actions_(actions_.rows() - 1, 6) : -1.0;
  }
  return a;
}

Action TrackingAction(const World& world, const Eigen::Isometry3d& desired,
                      const Eigen::Isometry3d& previous_desired, double gripper, double gain) {
  const ActionScale& scale = world.model().action_scale();
  const Eigen::Isometry3d tool = world.ToolPose();
  Action a;
  a.head<3>() = ((desired.translation() - previous_desired.translation()) +
                 gain * (desired.translation() - tool.translation())) /
                scale.position;
  a.segment<3>(3) = (robot::MatrixToAxisAngle(desired.linear() * previous_desired.linear().transpose()) +
                     gain * robot::MatrixToAxisAngle(desired.linear() * tool.linear().transpose())) /
                    scale.rotation;
  a.head<6>() = a.head<6>().cwiseMax(-1.0).cwiseMin(1.0);
  a[6] = gripper;
  return a;
}

std::map<std::string, std::vector<int32_t>> GripperSubtaskSignals(
    const datasets::MatrixRXf& actions, const std::vector<std::string>& names) {
  std::map<std::string, std::vector<int32_t>> signals;
  const int n = static_cast<int>(actions.rows());
  for (const std::string& name : names) signals[name].assign(n, 0);
  bool closed = false;
  size_t switches = 0;
  for (int t = 0; t < n && switches < names.size(); ++t) {
    const bool close_cmd = actions(t, 6) > 0.0f;
    if (close_cmd != closed) {
      closed = close_cmd;
      auto& s = signals[names[switches++]];
      std::fill(s.begin() + t, s.end(), 1);
    }
  }
  return signals;
}

EpisodeRecorder::EpisodeRecorder(const World& world, int capacity) : task_(world.model().task()) {
  ep_.actions.resize(0, 7);
  ep_.states.resize(0, world.StateDim());
  ep_.eef_pose.resize(0, 16);
  for (const robot::ObsKeySpec& k : robot::LowDimObsKeys()) {
    ep_.obs[k.name].resize(0, k.Size());
    ep_.next_obs[k.name].resize(0, k.Size());
  }
  for (int i = 0; i < world.num_objects(); ++i) ep_.object_poses[task_.objects()[i].name].resize(0, 16);
  ep_.object_poses["target"].resize(0, 16);
  Grow(std::max(1, capacity));
}

void EpisodeRecorder::Grow(int rows) {
  capacity_ = rows;
  ep_.actions.conservativeResize(rows, Eigen::NoChange);
  ep_.rewards.conservativeResize(rows);
  ep_.states.conservativeResize(rows, Eigen::NoChange);
  ep_.eef_pose.conservativeResize(rows, Eigen::NoChange);
  for (auto& [k, m] : ep_.obs) m.conservativeResize(rows, Eigen::NoChange);
  for (auto& [k, m] : ep_.next_obs) m.conservativeResize(rows, Eigen::NoChange);
  for (auto& [k, m] : ep_.object_poses) m.conservativeResize(rows, Eigen::NoChange);
}

void EpisodeRecorder::Before(const World& world, const Observation& obs, const Action& action) {
  if (steps_ == capacity_) Grow(capacity_ * 2);
  const int t = steps_;
  for (int k = 0; k < robot::kNumObsKeys; ++k) {
    const robot::ObsKey key = static_cast<robot::ObsKey>(k);
    ObservationValue(obs, key, &value_);
    ep_.obs[robot::ObsKeyName(key)].row(t) = value_.transpose();
  }
  ep_.states.row(t) = world.GetState().transpose();
  AppendRow(&ep_.eef_pose, t, world.ToolPose());
  for (int i = 0; i < world.num_objects(); ++i) {
    AppendRow(&ep_.object_poses[task_.objects()[i].name], t, world.ObjectPose(i));
  }
  AppendRow(&ep_.object_poses["target"], t, task_.TargetFrame(world));
  ep_.actions.row(t) = action.transpose().cast<float>().cwiseMax(-1.0f).cwiseMin(1.0f);
}

void EpisodeRecorder::After(const World& world, const Observation& next_obs) {
  const int t = steps_;
  for (int k = 0; k < robot::kNumObsKeys; ++k) {
    const robot::ObsKey key = static_cast<robot::ObsKey>(k);
    ObservationValue(next_obs, key, &value_);
    ep_.next_obs[robot::ObsKeyName(key)].row(t) = value_.transpose();
  }
  ep_.rewards[t] = world.succeeded() ? 1.0f : 0.0f;
  ++steps_;
}

datasets::Episode EpisodeRecorder::Finish(bool success) {
  // Keep only the steps that ran (unstable steps are kept so the failure can be studied).
  const int t = steps_;
  Grow(t);
  ep_.dones.assign(t, 0);
  if (t > 0) ep_.dones[t - 1] = 1;
  ep_.subtask_term_signals = GripperSubtaskSignals(ep_.actions, task_.subtask_signals());
  ep_.success = success;
  datasets::Episode out = std::move(ep_);
  ep_ = datasets::Episode();
  steps_ = 0;
  capacity_ = 0;
  return out;
}

bool ObjectDropped(const World& world) {
  return world.ObjectPose(0).translation().z() < world.TableTop() - kDropDepth;
}

namespace {

bool ObjectsStill(const World& world) {
  for (int i = 0; i < world.num_objects(); ++i) {
    if (!(world.ObjectLinearVelocity(i).norm() < kStillLinear) ||
        !(world.ObjectAngularVelocity(i).norm() < kStillAngular)) {
      return false;
    }
  }
  return true;
}

}  // namespace

RolloutResult Rollout(World& world, Controller& controller, const RolloutOptions& options) {
  const Task& task = world.model().task();
  const int max_steps = options.max_steps > 0 ? options.max_steps : task.max_steps();
  RolloutResult result;
  controller.Reset(world);
  std::optional<EpisodeRecorder> recorder;
  if (options.record) recorder.emplace(world, max_steps);

  Observation obs = world.Observe();
  const double start_z = world.ObjectPose(0).translation().z();
  int t = 0;
  int still = 0;  // consecutive steps of a finished, released, unplaced, still scene
  for (; t < max_steps; ++t) {
    if (options.stop_when_finished && controller.Finished()) break;
    if (world.ObjectPose(0).translation().z() > start_z + kLiftHeight) result.lifted = true;
    const Action action = controller.Act(world, obs);
    if (recorder) recorder->Before(world, obs, action);
    const StepInfo info = world.Step(action);
    if (!info.ik_converged) ++result.ik_misses;
    obs = world.Observe();
    if (recorder) recorder->After(world, obs);
    if (!info.stable) {
      result.outcome = Outcome::kUnstable;
      ++t;
      break;
    }
    if (ObjectDropped(world)) {
      result.outcome = Outcome::kDropped;
      ++t;
      break;
    }
    if (options.stop_on_success && world.succeeded() &&
        (!options.success_after_finish || controller.Finished())) {
      result.outcome = Outcome::kSuccess;
      ++t;
      break;
    }
    if (options.stop_failure_at_rest && controller.Finished()) {
      const TaskStatus& s = world.status();
      still = !s.placed && s.released && ObjectsStill(world) ? still + 1 : 0;
      if (still >= kStillSteps) {
        result.outcome = Outcome::kTimeout;
        ++t;
        break;
      }
    }
  }
  if (result.outcome == Outcome::kRunning) {
    result.outcome = world.succeeded() ? Outcome::kSuccess : Outcome::kTimeout;
  }
  result.steps = t;
  result.final_status = world.status();
  if (recorder) result.episode = recorder->Finish(result.outcome == Outcome::kSuccess);
  return result;
}

}  // namespace dreamforge::sim
