// Exporters of a trained policy (DESIGN.md "Formats" -> Policy bundle):
//   weights.safetensors  the network's parameters, "fc<i>.weight" [out, in] and
//                        "fc<i>.bias" [out], and for an image policy each camera's
//                        encoder "<key>.conv0.weight", ... (robot/image_encoder.h),
//                        float32, row-major (what robot/ reads)
//   policy.ts            TorchScript: loads in Python torch.jit.load and in LibTorch
//   policy.onnx          ONNX, opset 13, for TensorRT on the board
// The TorchScript and ONNX graphs are self-contained: they take the raw observation
// (the obs keys concatenated in order) and, for flow, the starting noise, and return the
// raw (denormalized, unclamped) action chunk:
//   mlp:  forward(obs [B, D]) -> actions [B, 1, 7]
//   flow: forward(obs [B, D], noise [B, H * 7]) -> actions [B, H, 7]
// An image policy takes its cameras' raw frames between the two, one argument (TorchScript)
// or input (ONNX) per image input, named by its key, in the policy's order:
//   forward(obs [B, D], agentview_image [B, H, W, 3] uint8, ..., [noise]) -> actions
// and applies the encoders' evaluation path inside the graph: centre crop, x / 255, trunk,
// spatial softmax, projection (robot/image_encoder.h).
// ExportedForward computes the same thing with the LibTorch model, for equivalence checks.
// Clamping to [-1, 1] and the gripper rule (model.gripper) are the controller's.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "policy/policy.h"

namespace dreamforge::policy {

// The graph both exports implement, computed with the policy's LibTorch network (eval
// mode: centre crops). `images`: one (B, H, W, 3) uint8 batch per image input (none for a
// low-dimensional policy).
torch::Tensor ExportedForward(const Policy& policy, const torch::Tensor& obs,
                              const std::vector<torch::Tensor>& images, const torch::Tensor& noise);
inline torch::Tensor ExportedForward(const Policy& policy, const torch::Tensor& obs, const torch::Tensor& noise) {
  return ExportedForward(policy, obs, {}, noise);
}

void WriteSafetensors(const Policy& policy, const std::filesystem::path& path);
void WriteTorchScript(const Policy& policy, const std::filesystem::path& path);
void WriteOnnx(const Policy& policy, const std::filesystem::path& path);

}  // namespace dreamforge::policy
