// The image encoder of one camera (issue 16, "Policies that see"): its description, its
// weights and its native float32 forward pass with Eigen. policy/image_encoder.h is the
// same network in LibTorch; both read the architecture constants and the tensor names
// from this header, and tests/policy/image_encoder_test.cc checks that they agree to
// 1e-4 on 1,000 random inputs.
//
//   image     uint8, image_size x image_size x 3, row-major H x W x C (as rendered)
//   crop      crop_size x crop_size: random per image while training, the centre
//             (offset (image_size - crop_size) / 2, rounded down) at evaluation and here
//   scale     x = pixel / 255 (float32)
//   trunk     4 x [conv 3x3, stride kTrunkStrides[i], no padding -> optional GroupNorm
//             (kGroupNormGroups groups, eps 1e-5, affine) -> ReLU], channels kTrunkChannels
//   keypoints 1x1 conv to K maps; per map a softmax over its S x S positions of
//             logits / temperature, then the expected position (x by column, y by row,
//             each linspace(-1, 1, S)): 2 K values [x0, y0, x1, y1, ...] in [-1, 1]
//             (robomimic's SpatialSoftmax)
//   project   features = proj.weight * keypoints + proj.bias (feature_dim, no activation)
//
// No padding ("valid" convolutions): padding would add border positions whose content is
// zero, not image, and the spatial softmax would read them; it also costs a third more
// arithmetic (84 -> 76 crop: maps 37, 18, 16, 14 instead of 38, 19, 19, 19). GroupNorm
// rather than BatchNorm: it computes the same thing at training and at evaluation, so
// the board runs exactly what was trained.
//
// Tensors (float32, row-major; ImageEncoderTensorShapes lists them for a config), each
// named "<prefix>.<name>" (just "<name>" for an empty prefix), the names of the LibTorch
// module's parameters and buffers:
//   conv<i>.weight [C_i, C_{i-1}, 3, 3], conv<i>.bias [C_i]          i = 0..3, C_{-1} = 3
//   norm<i>.weight [C_i], norm<i>.bias [C_i]                         with group_norm only
//   keypoints.weight [K, C_3, 1, 1], keypoints.bias [K]
//   temperature [1]                                                  > 0
//   proj.weight [feature_dim, 2 K], proj.bias [feature_dim]
//
// Model vs state: ImageEncoderWeights is immutable and may be shared between threads; an
// ImageEncoder owns its buffers (allocated at construction) and is not thread-safe.
// Encode is real-time safe: no heap allocation, no exceptions (tests/robot/
// image_encoder_test.cc counts allocations). It does use up to about 110 KiB of stack for
// Eigen's GEMM packing buffers (see kGemmColumnBlock in the .cc).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "robot/bundle_error.h"
#include "robot/safetensors.h"

namespace dreamforge::robot {

inline constexpr int kTrunkLayers = 4;
inline constexpr std::array<int, kTrunkLayers> kTrunkChannels = {16, 32, 32, 32};
inline constexpr std::array<int, kTrunkLayers> kTrunkStrides = {2, 2, 1, 1};
inline constexpr int kTrunkKernel = 3;
inline constexpr int kTrunkPadding = 0;
inline constexpr int kGroupNormGroups = 8;  // divides every entry of kTrunkChannels
inline constexpr double kGroupNormEps = 1e-5;
inline constexpr int kImageChannels = 3;  // RGB

// Row-major float matrix: a conv weight [out, in, 3, 3] as (out x 9 in), a feature map as
// one row per channel plane.
using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The encoder's description; the same struct configures the LibTorch module.
struct ImageEncoderConfig {
  int image_size = 84;                 // camera image side, pixels (square images)
  int crop_size = 76;                  // crop side, pixels, <= image_size (robomimic: 76 of 84)
  int keypoints = 32;                  // K: spatial-softmax keypoints (output 2 K before proj)
  int feature_dim = 64;                // width of the projected feature
  bool group_norm = true;              // GroupNorm after every trunk conv
  double temperature = 1.0;            // initial (or fixed) softmax temperature, > 0
  bool learnable_temperature = false;  // a parameter rather than a buffer (robomimic: false)

  // Side of the trunk's last feature map for this crop (<= 0 if the crop is too small).
  int TrunkSize() const;
  // Throws BundleError("<where>: <path>.<field>: ...") on an inconsistent field, e.g.
  //   "image encoder: encoder.crop_size: 90 exceeds encoder.image_size 84".
  void Validate(const std::string& where = "image encoder",
                const std::string& path = "encoder") const;
};

// One camera input of an image policy: its obs key ("<camera>_image", uint8 (H, W, 3) per
// step, H = W = encoder.image_size) and the encoder that reads it.
struct ImageInput {
  std::string key;
  ImageEncoderConfig encoder;
  // The camera the frames were made with (a bundle's images[k].camera: render::CameraSpec's
  // JSON, pose, field of view and size, for whoever mounts or simulates it); null when
  // unknown. robot/ only checks that it is an object.
  nlohmann::json camera;
};

// The "images" array of run.json and of a bundle's policy.json, in the order the network
// reads the cameras:
//   [{"key": "agentview_image", "shape": [H, W, 3], "encoder": {"image_size",
//     "crop_size", "keypoints", "feature_dim", "group_norm", "temperature",
//     "learnable_temperature"}, "camera": {...} (optional)}, ...]
nlohmann::json ImageInputsToJson(const std::vector<ImageInput>& images);
// The inverse; every field required, keys distinct image keys, the encoder validated.
// Throws BundleError("<where>: images[<i>].<field>: ...").
std::vector<ImageInput> ImageInputsFromJson(const nlohmann::json& json, const std::string& where);
// Sum of the encoders' feature_dim: what the images add to the policy head's input.
int ImageFeatureDim(const std::vector<ImageInput>& images);

// Side of a map after one trunk layer (valid 3x3 convolution with `stride`).
int TrunkOutputSize(int input_size, int stride);

// The tensors of an encoder with this config, names relative to the prefix, in the order
// of the file comment.
std::vector<std::pair<std::string, std::vector<std::int64_t>>> ImageEncoderTensorShapes(
    const ImageEncoderConfig& config);

// A float32 tensor by value: row-major dimensions and values.
struct FloatTensor {
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

// The encoder's weights in the layout the forward pass uses. Immutable once loaded.
class ImageEncoderWeights {
 public:
  struct Layer {
    RowMatrixXf weight;                      // (C_i x 9 C_{i-1})
    Eigen::VectorXf bias;                    // (C_i)
    Eigen::VectorXf norm_weight, norm_bias;  // (C_i), empty without group_norm
  };

  // Reads "<prefix>.<name>" for every tensor of ImageEncoderTensorShapes(config) from
  // `tensors` (other entries are ignored: the caller owns the file's full inventory).
  // Validates the config, each tensor's shape and every value (finite; temperature > 0).
  // Throws BundleError("<where>: <tensor name>[.shape]: ..."). Not real-time safe.
  static ImageEncoderWeights FromTensors(const ImageEncoderConfig& config,
                                         const std::map<std::string, FloatTensor>& tensors,
                                         const std::string& prefix, const std::string& where);
  // The same from a safetensors file (every tensor F32); `where` names the file.
  static ImageEncoderWeights FromSafeTensors(const ImageEncoderConfig& config,
                                             const SafeTensors& st, const std::string& prefix,
                                             const std::string& where);

  const ImageEncoderConfig& config() const { return config_; }
  const std::array<Layer, kTrunkLayers>& trunk() const { return trunk_; }
  const RowMatrixXf& keypoint_weight() const { return keypoint_weight_; }  // (K x C_3)
  const Eigen::VectorXf& keypoint_bias() const { return keypoint_bias_; }  // (K)
  float temperature() const { return temperature_; }
  const RowMatrixXf& proj_weight() const { return proj_weight_; }  // (feature_dim x 2 K)
  const Eigen::VectorXf& proj_bias() const { return proj_bias_; }  // (feature_dim)

 private:
  ImageEncoderWeights() = default;

  ImageEncoderConfig config_;
  std::array<Layer, kTrunkLayers> trunk_;
  RowMatrixXf keypoint_weight_;
  Eigen::VectorXf keypoint_bias_;
  float temperature_ = 1.0f;
  RowMatrixXf proj_weight_;
  Eigen::VectorXf proj_bias_;
};

// The forward pass of one camera. Each camera (or thread) owns its ImageEncoder; several
// may share one ImageEncoderWeights.
class ImageEncoder {
 public:
  // Allocates every buffer. Throws std::invalid_argument on null weights. Not real-time safe.
  explicit ImageEncoder(std::shared_ptr<const ImageEncoderWeights> weights);
  ImageEncoder(const ImageEncoder&) = delete;
  ImageEncoder& operator=(const ImageEncoder&) = delete;

  const ImageEncoderConfig& config() const { return weights_->config(); }
  int image_size() const { return config().image_size; }    // input side, pixels
  int feature_dim() const { return config().feature_dim; }  // output width

  // image: image_size * image_size * 3 bytes, row-major H x W x RGB; features:
  // feature_dim floats. Applies the centre crop. Real-time safe.
  void Encode(const std::uint8_t* image, float* features);

  // The 2 K keypoints [x0, y0, x1, y1, ...] in [-1, 1] of the last Encode.
  const Eigen::VectorXf& keypoints() const { return keypoints_; }

 private:
  std::shared_ptr<const ImageEncoderWeights> weights_;
  // Map sides: sizes_[0] the crop, sizes_[i + 1] = S_{i+1} after trunk layer i.
  std::array<int, kTrunkLayers + 1> sizes_{};
  RowMatrixXf input_;                           // (3 x crop^2), channel planes
  std::array<RowMatrixXf, kTrunkLayers> cols_;  // layer i's im2col (9 C_{i-1} x S_{i+1}^2)
  std::array<RowMatrixXf, kTrunkLayers> maps_;  // layer i's output (C_i x S_{i+1}^2)
  RowMatrixXf logits_;                          // (K x S^2)
  Eigen::VectorXf pos_x_, pos_y_;               // (S^2) position of each map entry in [-1, 1]
  Eigen::VectorXf keypoints_;                   // (2 K)
};

}  // namespace dreamforge::robot
