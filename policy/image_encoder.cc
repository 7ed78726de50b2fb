#include "policy/image_encoder.h"

#include <map>

namespace dreamforge::policy {

namespace {

std::string ShapeString(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "] " + std::string(c10::toString(t.scalar_type()));
}

void CheckCrop(const torch::Tensor& images, int crop, const char* what) {
  if (images.dim() != 4 || images.size(1) < crop || images.size(2) < crop) {
    throw PolicyError(std::string(what) + ": expected images (B, H, W, C) with H, W >= " +
                      std::to_string(crop) + ", got " + ShapeString(images));
  }
}

}  // namespace

torch::Tensor CenterCrop(const torch::Tensor& images, int crop) {
  CheckCrop(images, crop, "CenterCrop");
  const int64_t top = (images.size(1) - crop) / 2;
  const int64_t left = (images.size(2) - crop) / 2;
  return images.narrow(1, top, crop).narrow(2, left, crop);
}

torch::Tensor RandomCrop(const torch::Tensor& images, int crop,
                         c10::optional<torch::Generator> gen) {
  CheckCrop(images, crop, "RandomCrop");
  const int64_t b = images.size(0);
  const torch::TensorOptions index = torch::TensorOptions(torch::kLong);
  // Offsets on the CPU (where the generator lives), then gathered where the images are.
  const torch::Tensor top = torch::randint(0, images.size(1) - crop + 1, {b}, gen, index);
  const torch::Tensor left = torch::randint(0, images.size(2) - crop + 1, {b}, gen, index);
  const torch::Tensor r = torch::arange(crop, index);
  const torch::Device device = images.device();
  const torch::Tensor rows = (top.unsqueeze(1) + r).view({b, crop, 1}).to(device);
  const torch::Tensor cols = (left.unsqueeze(1) + r).view({b, 1, crop}).to(device);
  const torch::Tensor batch = torch::arange(b, index).view({b, 1, 1}).to(device);
  return images.index({batch, rows, cols});  // (B, crop, crop, C)
}

ImageEncoderImpl::ImageEncoderImpl(const ImageEncoderConfig& config) : config_(config) {
  try {
    config_.Validate();
  } catch (const robot::BundleError& e) {
    throw PolicyError(e.what());
  }
  reset();
}

void ImageEncoderImpl::reset() {
  convs_.clear();
  norms_.clear();
  int in = robot::kImageChannels;
  for (int i = 0; i < robot::kTrunkLayers; ++i) {
    const std::string l = std::to_string(i);
    const int out = robot::kTrunkChannels[i];
    convs_.push_back(register_module(
        "conv" + l, torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, robot::kTrunkKernel)
                                          .stride(robot::kTrunkStrides[i])
                                          .padding(robot::kTrunkPadding))));
    if (config_.group_norm) {
      norms_.push_back(register_module(
          "norm" + l, torch::nn::GroupNorm(torch::nn::GroupNormOptions(robot::kGroupNormGroups, out)
                                               .eps(robot::kGroupNormEps))));
    }
    in = out;
  }
  keypoints_ = register_module(
      "keypoints", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, config_.keypoints, 1)));
  const torch::Tensor t = torch::full({1}, config_.temperature, torch::kFloat);
  temperature_ = config_.learnable_temperature ? register_parameter("temperature", t)
                                               : register_buffer("temperature", t);
  proj_ = register_module("proj", torch::nn::Linear(2 * config_.keypoints, config_.feature_dim));
}

torch::Tensor ImageEncoderImpl::Keypoints(const torch::Tensor& images) {
  torch::Tensor x = images;
  for (size_t i = 0; i < convs_.size(); ++i) {
    x = convs_[i]->forward(x);
    if (config_.group_norm) x = norms_[i]->forward(x);
    x = torch::relu(x);
  }
  x = keypoints_->forward(x);  // (B, K, S, S)
  const int64_t side = x.size(-1);
  const torch::Tensor attention = torch::softmax(x.flatten(2) / temperature_, -1);  // (B, K, S^2)
  // Position of map entry y * S + x: x = lin[x], y = lin[y] (robomimic's meshgrid).
  const torch::Tensor lin = torch::linspace(-1.0, 1.0, side, attention.options());
  const torch::Tensor pos_x = lin.repeat({side});
  const torch::Tensor pos_y = lin.repeat_interleave(side);
  const torch::Tensor ex = (attention * pos_x).sum(-1);
  const torch::Tensor ey = (attention * pos_y).sum(-1);
  return torch::stack({ex, ey}, -1).flatten(1);  // (B, 2 K): x0, y0, x1, y1, ...
}

torch::Tensor ImageEncoderImpl::Crop(const torch::Tensor& images,
                                     c10::optional<torch::Generator> gen) const {
  const int n = config_.image_size;
  if (images.dim() != 4 || images.size(1) != n || images.size(2) != n ||
      images.size(3) != robot::kImageChannels ||
      !(images.scalar_type() == torch::kByte || images.scalar_type() == torch::kFloat)) {
    throw PolicyError("image encoder: images: expected (B, " + std::to_string(n) + ", " +
                      std::to_string(n) + ", 3) uint8 or float32, got " + ShapeString(images));
  }
  return is_training() ? RandomCrop(images, config_.crop_size, gen)
                       : CenterCrop(images, config_.crop_size);
}

torch::Tensor ImageEncoderImpl::Encode(const torch::Tensor& cropped) {
  const int c = config_.crop_size;
  const bool bytes = cropped.scalar_type() == torch::kByte;
  if (cropped.dim() != 4 || cropped.size(1) != c || cropped.size(2) != c ||
      cropped.size(3) != robot::kImageChannels ||
      !(bytes || cropped.scalar_type() == torch::kFloat)) {
    throw PolicyError("image encoder: cropped images: expected (B, " + std::to_string(c) + ", " +
                      std::to_string(c) + ", 3) uint8 or float32, got " + ShapeString(cropped));
  }
  // Channels first and x / 255 after the crop (fewer bytes to convert).
  torch::Tensor x = cropped.permute({0, 3, 1, 2});
  x = bytes ? x.to(torch::kFloat).div(255.0) : x;
  return proj_->forward(Keypoints(x.contiguous()));
}

torch::Tensor ImageEncoderImpl::forward(const torch::Tensor& images,
                                        c10::optional<torch::Generator> gen) {
  return Encode(Crop(images, gen));
}

std::vector<std::pair<std::string, torch::Tensor>> ImageEncoderImpl::NamedTensors(
    const std::string& prefix) const {
  std::map<std::string, torch::Tensor> all;
  for (const auto& p : named_parameters()) all[p.key()] = p.value();
  for (const auto& b : named_buffers()) all[b.key()] = b.value();
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, shape] : robot::ImageEncoderTensorShapes(config_)) {
    const auto it = all.find(name);
    // The module and robot/image_encoder.h disagree: a bug here, not bad input.
    TORCH_CHECK(it != all.end(), "ImageEncoder::NamedTensors: no tensor ", name);
    out.emplace_back(prefix.empty() ? name : prefix + "." + name, it->second);
  }
  return out;
}

}  // namespace dreamforge::policy
