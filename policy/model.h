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
//         (the README's "Policies" says why). Training loss |a_hat - a|^2. Inference: K
//         Euler steps from x_0, t_k = k / K, x += (1 / K) (a_hat - x) / (1 - t_k); the
//         last step lands on a_hat.
//         The controller executes the first `execute` actions of a chunk, then re-plans.
//
// Both are one plain stack of Linear layers (parameter names "fc<i>.weight", "fc<i>.bias"),
// so the exporters (TorchScript, ONNX, safetensors) and the Eigen runtime in robot/ can
// reproduce them from the weights alone. The flow input is [obs, x_t, TimeFeatures(t)].
//
// Image policies (issue 16): the head's "obs" is the conditioning [o_n, f_0, ..., f_{C-1}]:
// the normalized low-dimensional observation (D, z-scored as always) followed by one
// ImageEncoder's features per camera (policy/image_encoder.h; images are not z-scored,
// the encoder scales them by 1 / 255), in the order of the policy's image inputs. The
// encoders are submodules named by their obs key ("agentview_image.conv0.weight", ...),
// so the head's input width is InputDim() + ImageFeatureDim(). The model description
// (robot::ModelSpec, run.json "model") keeps obs_dim = D: the runner normalizes those D
// values, and run.json "images" (ImageInputsToJson) describes the encoders.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "policy/image_encoder.h"
#include "policy/policy_error.h"
#include "robot/model_spec.h"

namespace dreamforge::policy {

// The model description is robot/model_spec.h's (one definition for training, export
// and the edge runtime); these are its names on the training side.
using ModelConfig = robot::ModelSpec;
using PolicyType = robot::ModelType;
using robot::GripperMode;
inline constexpr int kTimeFeatures = robot::kFlowTimeFeatures;

std::string ToString(PolicyType type);
std::string ToString(GripperMode mode);
// "mlp" | "flow"; throws PolicyError otherwise.
PolicyType ParsePolicyType(const std::string& name);
// "raw" | "sign" | "sample" | "latch"; throws PolicyError otherwise.
GripperMode ParseGripperMode(const std::string& name);

// [B] or [B, 1] times in [0, 1] -> [B, kTimeFeatures].
torch::Tensor TimeFeatures(const torch::Tensor& t);

// One camera input of an image policy (robot/image_encoder.h: its key and encoder).
using ImageInput = robot::ImageInput;

// run.json "images": robot::ImageInputsToJson's layout, in the order the network reads them.
using robot::ImageInputsToJson;
// The inverse; every field required, the encoder validated. Throws PolicyError
// "<where>: images[<i>].<field>: ...".
std::vector<ImageInput> ImageInputsFromJson(const nlohmann::json& json, const std::string& where);

class NetImpl : public torch::nn::Cloneable<NetImpl> {
 public:
  explicit NetImpl(const ModelConfig& config, std::vector<ImageInput> images = {});
  void reset() override;  // (re)creates the layers (torch::nn::Cloneable)
  // The head: [B, InputDim() + ImageFeatureDim()] -> [B, OutputDim].
  torch::Tensor forward(torch::Tensor x);
  const ModelConfig& config() const { return config_; }
  const std::vector<ImageInput>& images() const { return images_; }
  const std::vector<ImageEncoder>& encoders() const { return encoders_; }  // one per image input
  int ImageFeatureDim() const;  // sum of the encoders' feature_dim (0 without images)

  // The crops the encoders apply, one batch per image input: random offsets from `gen`
  // in training mode (camera by camera, then image by image), the centre in eval mode.
  std::vector<torch::Tensor> CropImages(const std::vector<torch::Tensor>& images,
                                        c10::optional<torch::Generator> gen = c10::nullopt) const;
  // The head's conditioning [B, D + ImageFeatureDim()]: normalized obs [B, D] and the
  // cropped image batches of CropImages (B, crop, crop, 3), one per image input.
  // Without image inputs: obs itself. Throws PolicyError on a wrong count or shape.
  torch::Tensor Condition(const torch::Tensor& obs, const std::vector<torch::Tensor>& cropped);

 private:
  ModelConfig config_;
  std::vector<ImageInput> images_;
  std::vector<ImageEncoder> encoders_;  // one per image input
  std::vector<torch::nn::Linear> layers_;
};
TORCH_MODULE(Net);

// Training loss of one minibatch: obs [B, D] (for an image policy the conditioning
// [B, D + F] of NetImpl::Condition) and target chunks [B, H * 7] (normalized).
// For flow, `noise` [B, H * 7] is x_0 and `t` [B] the flow times (ignored for mlp).
torch::Tensor PolicyLoss(Net& net, const torch::Tensor& obs, const torch::Tensor& target,
                         const torch::Tensor& noise, const torch::Tensor& t);

// Inference: obs [B, D] (image policies: the conditioning) -> normalized action chunks [B, H * 7].
// For flow, `noise` [B, H * 7] is the starting point x_0 of the integration (ignored for mlp).
torch::Tensor PolicyPredict(Net& net, const torch::Tensor& obs, const torch::Tensor& noise);

}  // namespace dreamforge::policy
