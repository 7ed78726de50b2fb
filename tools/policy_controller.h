// A trained policy as a sim::Controller (for eval, training-time rollouts and the
// software-in-the-loop checks). Lives in tools/: sim/ never includes policy/.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <Eigen/Core>

#include "augment/evaluate.h"
#include "policy/policy.h"
#include "sim/rollout.h"

namespace dreamforge::tools {

class PolicyController : public sim::Controller {
 public:
  explicit PolicyController(std::shared_ptr<const policy::Policy> policy);
  // Seeds the flow noise from the scene's noise seed, so an episode's actions depend on
  // its scene only (never on which worker ran it).
  void Reset(const sim::World& world) override;
  sim::Action Act(const sim::World& world, const sim::Observation& obs) override;

 private:
  policy::PolicyRunner runner_;
  std::map<std::string, Eigen::VectorXf> obs_;
};

augment::ControllerFactory PolicyFactory(std::shared_ptr<const policy::Policy> policy);

// Throws UsageError when the policy was trained for another task than `task`.
void CheckPolicyTask(const policy::Policy& policy, const std::string& task, const std::string& run);

}  // namespace dreamforge::tools
