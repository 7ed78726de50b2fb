// A trained policy as a sim::Controller (for eval, training-time rollouts and the
// software-in-the-loop checks), executed by the one runner (robot/policy_runner.h) over
// the policy's LibTorch network. Lives in tools/: sim/ never includes policy/.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "augment/evaluate.h"
#include "policy/policy.h"
#include "robot/obs_layout.h"
#include "robot/policy_runner.h"
#include "sim/rollout.h"

namespace dreamforge::tools {

// The seed of a policy's generator (the flow noise, the sampled gripper) in a scene: a
// function of the scene alone, so an episode's actions never depend on which worker ran
// it, and `control --hardware sim` runs the episodes `eval` runs.
uint64_t PolicySeed(const sim::SceneParams& scene);

class PolicyController : public sim::Controller {
 public:
  explicit PolicyController(std::shared_ptr<const policy::Policy> policy);
  // Re-seeds the runner with PolicySeed(world.params()).
  void Reset(const sim::World& world) override;
  sim::Action Act(const sim::World& world, const sim::Observation& obs) override;

 private:
  std::shared_ptr<const policy::Policy> policy_;
  std::unique_ptr<robot::PolicyRunner> runner_;
  std::vector<robot::ObsKey> keys_;  // the policy's obs keys, in its order
  std::vector<float> flat_;          // (D) raw observation
  Eigen::VectorXf value_;            // one key's values
};

augment::ControllerFactory PolicyFactory(std::shared_ptr<const policy::Policy> policy);

// Throws UsageError when the policy was trained for another task than `task`.
void CheckPolicyTask(const policy::Policy& policy, const std::string& task, const std::string& run);

}  // namespace dreamforge::tools
