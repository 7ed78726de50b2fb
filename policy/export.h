// Exporters of a trained policy (DESIGN.md "Formats" -> Policy bundle):
//   weights.safetensors  the network's parameters, "fc<i>.weight" [out, in] and
//                        "fc<i>.bias" [out], float32, row-major (what robot/ reads)
//   policy.ts            TorchScript: loads in Python torch.jit.load and in LibTorch
//   policy.onnx          ONNX, opset 13, for TensorRT on the board
// The TorchScript and ONNX graphs are self-contained: they take the raw observation
// (the obs keys concatenated in order) and, for flow, the starting noise, and return the
// raw (denormalized, unclamped) action chunk:
//   mlp:  forward(obs [B, D]) -> actions [B, 1, 7]
//   flow: forward(obs [B, D], noise [B, H * 7]) -> actions [B, H, 7]
// ExportedForward computes the same thing with the LibTorch model, for equivalence checks.
// Clamping to [-1, 1] and the gripper rule (model.gripper) are the controller's.
#pragma once

#include <filesystem>
#include <string>

#include <torch/torch.h>

#include "policy/policy.h"

namespace dreamforge::policy {

// Image policies (Policy::images) are not exported yet: every function here throws
// PolicyError with this message (one line, naming the image keys).
std::string ImagePolicyExportError(const Policy& policy);

// The graph both exports implement, computed with the policy's LibTorch network.
torch::Tensor ExportedForward(const Policy& policy, const torch::Tensor& obs, const torch::Tensor& noise);

void WriteSafetensors(const Policy& policy, const std::filesystem::path& path);
void WriteTorchScript(const Policy& policy, const std::filesystem::path& path);
void WriteOnnx(const Policy& policy, const std::filesystem::path& path);

}  // namespace dreamforge::policy
