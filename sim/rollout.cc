#include "sim/rollout.h"

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

RolloutResult Rollout(World& world, Controller& controller, const RolloutOptions& options) {
  const Task& task = world.model().task();
  const int max_steps = options.max_steps > 0 ? options.max_steps : task.max_steps();
  RolloutResult result;
  controller.Reset(world);

  datasets::Episode& ep = result.episode;
  const auto& keys = ObservationKeys();
  if (options.record) {
    ep.actions.resize(max_steps, 7);
    ep.rewards.resize(max_steps);
    ep.dones.assign(max_steps, 0);
    ep.states.resize(max_steps, world.StateDim());
    ep.eef_pose.resize(max_steps, 16);
    for (const ObsKey& k : keys) {
      ep.obs[k.name].resize(max_steps, k.dim);
      ep.next_obs[k.name].resize(max_steps, k.dim);
    }
    for (int i = 0; i < world.num_objects(); ++i) {
      ep.object_poses[task.objects()[i].name].resize(max_steps, 16);
    }
    ep.object_poses["target"].resize(max_steps, 16);
  }

  Observation obs = world.Observe();
  Eigen::VectorXf value;
  int t = 0;
  for (; t < max_steps; ++t) {
    if (options.stop_when_finished && controller.Finished()) break;
    const Action action = controller.Act(world, obs);
    if (options.record) {
      for (const ObsKey& k : keys) {
        ObservationValue(obs, k.name, &value);
        ep.obs[k.name].row(t) = value.transpose();
      }
      ep.states.row(t) = world.GetState().transpose();
      AppendRow(&ep.eef_pose, t, world.ToolPose());
      for (int i = 0; i < world.num_objects(); ++i) {
        AppendRow(&ep.object_poses[task.objects()[i].name], t, world.ObjectPose(i));
      }
      AppendRow(&ep.object_poses["target"], t, task.TargetFrame(world));
      ep.actions.row(t) = action.transpose().cast<float>().cwiseMax(-1.0f).cwiseMin(1.0f);
    }
    const StepInfo info = world.Step(action);
    if (!info.ik_converged) ++result.ik_misses;
    obs = world.Observe();
    if (options.record) {
      for (const ObsKey& k : keys) {
        ObservationValue(obs, k.name, &value);
        ep.next_obs[k.name].row(t) = value.transpose();
      }
      ep.rewards[t] = world.succeeded() ? 1.0f : 0.0f;
    }
    if (!info.stable) {
      result.outcome = Outcome::kUnstable;
      ++t;
      break;
    }
    const double object_z = world.ObjectPose(0).translation().z();
    if (object_z < world.TableTop() - 0.05) {
      result.outcome = Outcome::kDropped;
      ++t;
      break;
    }
    if (options.stop_on_success && world.succeeded()) {
      result.outcome = Outcome::kSuccess;
      ++t;
      break;
    }
  }
  if (result.outcome == Outcome::kRunning) {
    result.outcome = world.succeeded() ? Outcome::kSuccess : Outcome::kTimeout;
  }
  result.steps = t;
  result.final_status = world.status();
  if (options.record) {
    // Keep only the steps that ran (unstable steps are kept so the failure can be studied).
    ep.actions.conservativeResize(t, 7);
    ep.rewards.conservativeResize(t);
    ep.dones.resize(t);
    if (t > 0) ep.dones[t - 1] = 1;
    ep.states.conservativeResize(t, Eigen::NoChange);
    ep.eef_pose.conservativeResize(t, Eigen::NoChange);
    for (auto& [k, m] : ep.obs) m.conservativeResize(t, Eigen::NoChange);
    for (auto& [k, m] : ep.next_obs) m.conservativeResize(t, Eigen::NoChange);
    for (auto& [k, m] : ep.object_poses) m.conservativeResize(t, Eigen::NoChange);
    ep.subtask_term_signals = GripperSubtaskSignals(ep.actions, task.subtask_signals());
    ep.success = result.outcome == Outcome::kSuccess;
  }
  return result;
}

}  // namespace dreamforge::sim
