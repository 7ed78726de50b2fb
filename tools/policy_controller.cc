#include "tools/policy_controller.h"

#include "tools/cli_util.h"

namespace dreamforge::tools {

namespace {
constexpr uint64_t kNoiseSalt = 0x666c6f77ULL;  // "flow"
}

PolicyController::PolicyController(std::shared_ptr<const policy::Policy> policy)
    : runner_(std::move(policy), 0) {
  for (const std::string& key : runner_.policy().normalizer.obs_keys) obs_[key];
}

void PolicyController::Reset(const sim::World& world) { runner_.Reset(world.params().noise_seed ^ kNoiseSalt); }

sim::Action PolicyController::Act(const sim::World&, const sim::Observation& obs) {
  for (auto& [key, value] : obs_) sim::ObservationValue(obs, key, &value);
  const Eigen::VectorXf a = runner_.Act(obs_);
  return a.cast<double>();
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
