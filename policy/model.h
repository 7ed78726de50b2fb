// Policy networks (DESIGN.md "policy/"): the model description, the network and the two
// policy heads.
//
//   mlp:  behaviour cloning (robomimic BC): normalized observation (D) -> normalized action
//         (7), an MLP with ReLU hidden layers, trained with the mean squared error.
//   flow: action chunking with a flow-matching head (GR00T N1 / pi0 style) over a chunk of H
//         normalized actions (H x 7, flat). Probability path x_t = (1 - t) x_0 + t a with
//         x_0 ~ N(0, I), t ~ U(0, 1); velocity v = a - x_0. The network predicts the end
//         point a_hat(obs, x_t, t) and the velocity is v = (a_hat - x_t) / (1 - t): the same
//         ODE as predicting v directly (the optimal a_hat is E[a | x_t, obs], which gives
//         the optimal v), but the network need not carry x_t through its hidden layers
//         (measured: v-prediction with hidden widths below H x 7 could not fit a tiny
//         dataset). Training loss |a_hat - a|^2. Inference: K Euler steps from x_0,
//         t_k = k / K, x += (1 / K) (a_hat - x) / (1 - t_k); the last step lands on a_hat.
//         The controller executes the first `execute` actions of a chunk, then re-plans.
//
// Both are one plain stack of Linear layers (parameter names "fc<i>.weight", "fc<i>.bias"),
// so the exporters (TorchScript, ONNX, safetensors) and the Eigen runtime in robot/ can
// reproduce them from the weights alone. The flow input is [obs, x_t, TimeFeatures(t)].
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "policy/policy_error.h"
#include "robot/gripper_latch.h"

namespace dreamforge::policy {

enum class PolicyType { kMlp, kFlow };
std::string ToString(PolicyType type);
// "mlp" | "flow"; throws PolicyError otherwise.
PolicyType ParsePolicyType(const std::string& name);

// Number of time features of the flow head: t, then sin(k pi t) and cos(k pi t) for
// k = 1..4.
constexpr int kTimeFeatures = 9;

// The gripper column of the demos is binary (-1 open, +1 closed). A regression of it
// predicts E[a_6 | obs] = 2 p - 1, p the probability that the demos close the gripper in
// that state. Executing that mean blurs the switch: a half-closed command changes
// gripper_qpos, which the policy reads, and the fingers close early (measured: 0/40 on
// bottle_place). The sign waits forever where the demos close after a pause of varying
// length (p stays below 1/2 at the grasp pose). Sampling closed with probability p
// closes there, but it also opens wherever p is not quite 1: a 5% chance per step in
// transport drops the bottle, and within the command latency a sample that disagrees with
// the one still in flight makes the fingers chatter (measured on 10,000 dreams: mlp 81.0%,
// 38 failures of which most were such drops and chatter).
//
// The latch executes what a gripper controller does: it keeps its state (open at the
// start) and switches only when the predicted probability of the other state exceeds
// `gripper_switch` (0.2: it closes at a grasp pose where p = 0.3, yet holds through a
// p = 0.9 transport), and then keeps the new state for `gripper_hold` control steps
// (4 = 200 ms at 20 Hz: more than the 2-step latency plus the finger travel, so the
// policy sees the fingers move before it may switch back). Deterministic. Same weights
// (10,000 dreams without the retract), 200 held-out scenes: mlp 81.0% (sample) -> 96.0%
// (latch). For the flow head the value is
// one sample of the chunk distribution; the latch holds it just the same.
enum class GripperMode {
  kRaw,     // execute the predicted value
  kSign,    // +1 if the value > 0, else -1
  kSample,  // +1 with probability (value + 1) / 2, from the runner's seeded generator
  kLatch,   // switch state when the other state's probability > gripper_switch; hold
};
std::string ToString(GripperMode mode);
// "raw" | "sign" | "sample" | "latch"
GripperMode ParseGripperMode(const std::string& name);

// The latch's step function (robot/gripper_latch.h, shared with the edge runtime).
using robot::GripperLatch;

struct ModelConfig {
  PolicyType type = PolicyType::kMlp;
  int obs_dim = 0;     // D, width of the normalized observation
  int action_dim = 7;
  std::vector<int> hidden;  // widths of the hidden layers
  int horizon = 1;     // H: actions per prediction (mlp: 1)
  int execute = 1;     // actions executed before re-planning, 1..H
  int flow_steps = 0;  // K: Euler steps at inference (flow only; mlp: 0)
  // How the runner executes the gripper column (see GripperMode); default: latch.
  GripperMode gripper = GripperMode::kLatch;
  double gripper_switch = 0.2;  // latch: probability of the other state that switches
  int gripper_hold = 4;         // latch: control steps a new state is kept at least

  // Defaults for a type: mlp {256, 256}; flow {256, 256, 256}, H = 16, execute 2, K = 10;
  // both gripper latch (0.2, 4 steps).
  static ModelConfig Default(PolicyType type, int obs_dim);
  int InputDim() const;   // mlp: D; flow: D + H * 7 + kTimeFeatures
  int OutputDim() const;  // H * 7
  // Throws PolicyError naming the field ("model.hidden: ...") when inconsistent.
  void Validate() const;
  nlohmann::json ToJson() const;
  // Validates; `where` prefixes messages (e.g. the file name).
  static ModelConfig FromJson(const nlohmann::json& json, const std::string& where);
};

// [B] or [B, 1] times in [0, 1] -> [B, kTimeFeatures].
torch::Tensor TimeFeatures(const torch::Tensor& t);

class NetImpl : public torch::nn::Cloneable<NetImpl> {
 public:
  explicit NetImpl(const ModelConfig& config);
  void reset() override;  // (re)creates the layers (torch::nn::Cloneable)
  // [B, InputDim] -> [B, OutputDim].
  torch::Tensor forward(torch::Tensor x);
  const ModelConfig& config() const { return config_; }

 private:
  ModelConfig config_;
  std::vector<torch::nn::Linear> layers_;
};
TORCH_MODULE(Net);

// Training loss of one minibatch: obs [B, D] and target chunks [B, H * 7] (normalized).
// For flow, `noise` [B, H * 7] is x_0 and `t` [B] the flow times (ignored for mlp).
torch::Tensor PolicyLoss(Net& net, const torch::Tensor& obs, const torch::Tensor& target,
                         const torch::Tensor& noise, const torch::Tensor& t);

// Inference: obs [B, D] -> normalized action chunks [B, H * 7]. For flow, `noise`
// [B, H * 7] is the starting point x_0 of the integration (ignored for mlp).
torch::Tensor PolicyPredict(Net& net, const torch::Tensor& obs, const torch::Tensor& noise);

}  // namespace dreamforge::policy
