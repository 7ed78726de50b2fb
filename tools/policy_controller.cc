#include "tools/policy_controller.h"

#include "tools/cli_util.h"

namespace dreamforge::tools {

namespace {
constexpr uint64_t kNoiseSalt = 0x666c6f77ULL;  // "flow"
}  // namespace

uint64_t PolicySeed(const sim::SceneParams& scene) { return scene.noise_seed ^ kNoiseSalt; }

PolicyController::PolicyController(std::shared_ptr<const policy::Policy> policy)
    : policy_(std::move(policy)), runner_(policy::MakeRunner(*policy_, 0)) {
  for (const std::string& name : policy_->normalizer.obs_keys) {
    robot::ObsKey key;
    if (!robot::ParseObsKey(name, &key)) {
      throw UsageError("run.json: obs_keys: '" + name + "' is not an observation of the simulator (expected one of " +
                       robot::LowDimObsKeyList() + ")");
    }
    if (policy_->normalizer.obs.at(name).dim() != robot::ObsKeyWidth(key)) {
      throw UsageError("run.json: normalization.obs." + name + ": width " +
                       std::to_string(policy_->normalizer.obs.at(name).dim()) + ", but the simulator's is " +
                       std::to_string(robot::ObsKeyWidth(key)));
    }
    keys_.push_back(key);
  }
  flat_.resize(policy_->model.obs_dim);
}

void PolicyController::Reset(const sim::World& world) { runner_->Reset(PolicySeed(world.params())); }

sim::Action PolicyController::Act(const sim::World&, const sim::Observation& obs) {
  size_t offset = 0;
  for (robot::ObsKey key : keys_) {
    sim::ObservationValue(obs, key, &value_);
    std::copy(value_.data(), value_.data() + value_.size(), flat_.begin() + static_cast<long>(offset));
    offset += static_cast<size_t>(value_.size());
  }
  robot::Vector7f action;
  runner_->Act(flat_.data(), &action);  // bad input or output: all NaN, which the world holds
  return action.cast<double>();
}

augment::ControllerFactory PolicyFactory(std::shared_ptr<const policy::Policy> policy) {
  return [policy] { return std::make_unique<PolicyController>(policy); };
}

void CheckPolicyTask(const policy::Policy& policy, const std::string& task, const std::string& run) {
  if (policy.task != task) {
    throw UsageError(run + "/run.json: task: the policy was trained on '" + policy.task + "', not '" + task + "'");
  }
}

}  // namespace dreamforge::tools
