// The image encoder of one camera in LibTorch (issue 16, "Policies that see"): a small
// conv trunk, robomimic's spatial-softmax keypoints and a linear projection, trained from
// scratch with random crops. robot/image_encoder.h has the architecture (constants, the
// forward pass in words, the tensor names) and the same network in Eigen for the board;
// tests/policy/image_encoder_test.cc checks that the two agree to 1e-4.
//
// Input: images (B, H, W, 3), H = W = config.image_size, channels last as rendered and
// stored, either uint8 (divided by 255 here) or float32 already in [0, 1] (used as is).
// Crop: in training mode (module.train()) a crop_size square at a random offset per
// image, drawn from the generator passed to forward (torch's default generator, seeded
// by torch::manual_seed, when none is given); in eval mode the centre crop, as
// robot::ImageEncoder applies it.
// Output: (B, feature_dim) float32.
//
// Parameters are named as robot/image_encoder.h's tensors: conv<i>, norm<i> (GroupNorm,
// with group_norm), keypoints (the 1x1 conv), proj (Linear), and "temperature", a
// parameter when learnable_temperature and a buffer otherwise. As a submodule registered
// under "<name>", NamedTensors() (or the parent's named_parameters() + named_buffers())
// gives "<name>.conv0.weight", ...: what an exporter writes to weights.safetensors and
// robot::ImageEncoderWeights::FromSafeTensors reads with prefix "<name>".
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "policy/policy_error.h"
#include "robot/image_encoder.h"

namespace dreamforge::policy {

using ImageEncoderConfig = robot::ImageEncoderConfig;

// images (B, H, W, C) -> (B, crop, crop, C), same dtype: the centre crop (offsets
// (H - crop) / 2 and (W - crop) / 2, rounded down).
torch::Tensor CenterCrop(const torch::Tensor& images, int crop);
// images (B, H, W, C) -> (B, crop, crop, C): each image cropped at its own offset, uniform
// in 0..H - crop and 0..W - crop, drawn from `gen` (torch's default generator if none).
torch::Tensor RandomCrop(const torch::Tensor& images, int crop,
                         c10::optional<torch::Generator> gen = c10::nullopt);

class ImageEncoderImpl : public torch::nn::Cloneable<ImageEncoderImpl> {
 public:
  // Validates the config: throws PolicyError("image encoder: encoder.<field>: ...").
  explicit ImageEncoderImpl(const ImageEncoderConfig& config);
  void reset() override;  // (re)creates the layers (torch::nn::Cloneable)

  // images (B, H, W, 3) uint8 or float in [0, 1] -> (B, feature_dim); crops as the file
  // comment says. Throws PolicyError on a wrong shape or dtype.
  torch::Tensor forward(const torch::Tensor& images,
                        c10::optional<torch::Generator> gen = c10::nullopt);
  // The crop forward applies (random from `gen` in training mode, else the centre):
  // images (B, H, W, 3) -> (B, crop, crop, 3), same dtype. Checks the input as forward.
  torch::Tensor Crop(const torch::Tensor& images,
                     c10::optional<torch::Generator> gen = c10::nullopt) const;
  // Already cropped images (B, crop, crop, 3) uint8 or float in [0, 1] -> (B, feature_dim):
  // forward without its crop, for callers that crop a larger batch than they encode (the
  // trainer crops a global batch and encodes its rank's slice).
  torch::Tensor Encode(const torch::Tensor& cropped);
  // Cropped float images (B, 3, crop, crop) in [0, 1] -> keypoints (B, 2 K) in [-1, 1],
  // [x0, y0, x1, y1, ...]: the trunk and the spatial softmax.
  torch::Tensor Keypoints(const torch::Tensor& x);

  // Parameters and buffers under robot/image_encoder.h's names, "<prefix>.<name>" (no
  // prefix: "<name>"), in ImageEncoderTensorShapes order.
  std::vector<std::pair<std::string, torch::Tensor>> NamedTensors(
      const std::string& prefix = "") const;

  const ImageEncoderConfig& config() const { return config_; }

 private:
  ImageEncoderConfig config_;
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<torch::nn::GroupNorm> norms_;  // empty without group_norm
  torch::nn::Conv2d keypoints_{nullptr};
  torch::Tensor temperature_;  // (1)
  torch::nn::Linear proj_{nullptr};
};
TORCH_MODULE(ImageEncoder);

}  // namespace dreamforge::policy
