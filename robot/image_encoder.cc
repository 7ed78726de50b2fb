#include "robot/image_encoder.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "robot/json_reader.h"
#include "robot/obs_layout.h"

namespace dreamforge::robot {

namespace {

// Largest image side a config may ask for (a 2048 x 2048 camera is already 12 MiB a frame).
constexpr int kMaxImageSize = 2048;
constexpr int kMaxKeypoints = 4096;
constexpr int kMaxFeatureDim = 16384;

// Eigen's GEMM packs its operands into blocks on the stack while they fit in
// EIGEN_STACK_ALLOCATION_LIMIT (128 KiB) and on the heap otherwise; a 288-deep product
// over 196-256 columns needs more, so Encode multiplies in column blocks of this width
// (288 x 64 floats = 72 KiB, plus at most 32 x 288 floats = 36 KiB for the weights) to
// keep the real-time path off the heap. tests/robot/image_encoder_test.cc counts
// allocations (with 4096-column blocks it saw 3 mallocs per Encode on x86-64).
constexpr Eigen::Index kGemmColumnBlock = 64;

std::string Name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

std::string ShapeString(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// torch.linspace(-1, 1, n) in float32, computed as LibTorch's CPU kernel does (from the
// start for the first half, from the end for the second), so both sides read the same
// positions.
std::vector<float> Linspace(int n) {
  std::vector<float> v(n);
  if (n == 1) {
    v[0] = -1.0f;
    return v;
  }
  const float step = 2.0f / static_cast<float>(n - 1);
  const int half = n / 2;
  for (int i = 0; i < n; ++i) {
    v[i] = i < half ? -1.0f + step * static_cast<float>(i)
                    : 1.0f - step * static_cast<float>(n - i - 1);
  }
  return v;
}

// out = w * cols, in column blocks (kGemmColumnBlock).
void Gemm(const RowMatrixXf& w, const RowMatrixXf& cols, RowMatrixXf& out) {
  const Eigen::Index n = cols.cols();
  for (Eigen::Index c = 0; c < n; c += kGemmColumnBlock) {
    const Eigen::Index width = std::min(kGemmColumnBlock, n - c);
    out.middleCols(c, width).noalias() = w * cols.middleCols(c, width);
  }
}

// The 3x3 patches of `in` (channels x side^2, each row one channel plane) as the columns
// of `cols` (9 channels x out_side^2): row c * 9 + ky * 3 + kx, the order of a torch
// weight [out, in, 3, 3] flattened.
void Im2Col(const RowMatrixXf& in, int side, int stride, int out_side, RowMatrixXf& cols) {
  const int channels = static_cast<int>(in.rows());
  for (int c = 0; c < channels; ++c) {
    const float* plane = in.row(c).data();
    for (int ky = 0; ky < kTrunkKernel; ++ky) {
      for (int kx = 0; kx < kTrunkKernel; ++kx) {
        float* dst = cols.row((c * kTrunkKernel + ky) * kTrunkKernel + kx).data();
        for (int oy = 0; oy < out_side; ++oy) {
          const float* src = plane + (oy * stride + ky) * side + kx;
          if (stride == 1) {
            std::copy(src, src + out_side, dst);
          } else {
            for (int ox = 0; ox < out_side; ++ox) dst[ox] = src[ox * stride];
          }
          dst += out_side;
        }
      }
    }
  }
}

// GroupNorm over (channels of a group) x positions, in place; sums in double.
void GroupNorm(const Eigen::VectorXf& gamma, const Eigen::VectorXf& beta, RowMatrixXf& map) {
  const Eigen::Index per_group = map.rows() / kGroupNormGroups;
  const Eigen::Index positions = map.cols();
  for (int g = 0; g < kGroupNormGroups; ++g) {
    double sum = 0, sum_sq = 0;
    for (Eigen::Index c = g * per_group; c < (g + 1) * per_group; ++c) {
      const float* row = map.row(c).data();
      for (Eigen::Index p = 0; p < positions; ++p) {
        sum += row[p];
        sum_sq += static_cast<double>(row[p]) * row[p];
      }
    }
    const double n = static_cast<double>(per_group * positions);
    const double mean = sum / n;
    const double var = std::max(sum_sq / n - mean * mean, 0.0);
    const double inv_std = 1.0 / std::sqrt(var + kGroupNormEps);
    for (Eigen::Index c = g * per_group; c < (g + 1) * per_group; ++c) {
      const float scale = static_cast<float>(gamma[c] * inv_std);
      const float shift = static_cast<float>(beta[c] - mean * gamma[c] * inv_std);
      map.row(c).array() = map.row(c).array() * scale + shift;
    }
  }
}

// ReLU that keeps NaN (as torch.relu does), so a blow-up stays visible.
void Relu(RowMatrixXf& map) {
  float* v = map.data();
  for (Eigen::Index i = 0; i < map.size(); ++i) {
    if (v[i] < 0.0f) v[i] = 0.0f;
  }
}

}  // namespace

int TrunkOutputSize(int input_size, int stride) {
  return (input_size + 2 * kTrunkPadding - kTrunkKernel) / stride + 1;
}

int ImageEncoderConfig::TrunkSize() const {
  int side = crop_size;
  for (int i = 0; i < kTrunkLayers; ++i) {
    if (side < kTrunkKernel) return 0;
    side = TrunkOutputSize(side, kTrunkStrides[i]);
  }
  return side;
}

void ImageEncoderConfig::Validate(const std::string& where, const std::string& path) const {
  const JsonReader r(where);
  const std::string p = path.empty() ? "" : path + ".";
  if (image_size < 1 || image_size > kMaxImageSize) {
    r.Fail(p + "image_size",
           "expected 1.." + std::to_string(kMaxImageSize) + ", got " + std::to_string(image_size));
  }
  if (crop_size > image_size) {
    r.Fail(p + "crop_size", std::to_string(crop_size) + " exceeds " + p + "image_size " +
                                std::to_string(image_size));
  }
  ImageEncoderConfig smallest;
  smallest.crop_size = 1;
  while (smallest.TrunkSize() < 1) ++smallest.crop_size;
  const int min_crop = smallest.crop_size;
  if (crop_size < min_crop) {
    r.Fail(p + "crop_size", "must be at least " + std::to_string(min_crop) +
                                " (the trunk's four 3x3 convolutions need it), got " +
                                std::to_string(crop_size));
  }
  if (keypoints < 1 || keypoints > kMaxKeypoints) {
    r.Fail(p + "keypoints",
           "expected 1.." + std::to_string(kMaxKeypoints) + ", got " + std::to_string(keypoints));
  }
  if (feature_dim < 1 || feature_dim > kMaxFeatureDim) {
    r.Fail(p + "feature_dim", "expected 1.." + std::to_string(kMaxFeatureDim) + ", got " +
                                  std::to_string(feature_dim));
  }
  if (!(std::isfinite(temperature) && temperature > 0)) {
    r.Fail(p + "temperature", "expected a finite number > 0, got " + std::to_string(temperature));
  }
}

std::vector<std::pair<std::string, std::vector<std::int64_t>>> ImageEncoderTensorShapes(
    const ImageEncoderConfig& config) {
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> shapes;
  int in = kImageChannels;
  for (int i = 0; i < kTrunkLayers; ++i) {
    const std::string l = std::to_string(i);
    const int out = kTrunkChannels[i];
    shapes.push_back({"conv" + l + ".weight", {out, in, kTrunkKernel, kTrunkKernel}});
    shapes.push_back({"conv" + l + ".bias", {out}});
    if (config.group_norm) {
      shapes.push_back({"norm" + l + ".weight", {out}});
      shapes.push_back({"norm" + l + ".bias", {out}});
    }
    in = out;
  }
  shapes.push_back({"keypoints.weight", {config.keypoints, in, 1, 1}});
  shapes.push_back({"keypoints.bias", {config.keypoints}});
  shapes.push_back({"temperature", {1}});
  shapes.push_back({"proj.weight", {config.feature_dim, 2 * config.keypoints}});
  shapes.push_back({"proj.bias", {config.feature_dim}});
  return shapes;
}

ImageEncoderWeights ImageEncoderWeights::FromTensors(
    const ImageEncoderConfig& config, const std::map<std::string, FloatTensor>& tensors,
    const std::string& prefix, const std::string& where) {
  config.Validate(where);
  // Every tensor, checked, as a row-major (rows x rest) matrix.
  std::map<std::string, RowMatrixXf> m;
  for (const auto& [name, shape] : ImageEncoderTensorShapes(config)) {
    const std::string full = Name(prefix, name);
    const auto it = tensors.find(full);
    if (it == tensors.end()) {
      throw BundleError(where + ": " + full + ": missing tensor (image encoder)");
    }
    const FloatTensor& t = it->second;
    if (t.shape != shape) {
      throw BundleError(where + ": " + full + ".shape: " + ShapeString(t.shape) + ", expected " +
                        ShapeString(shape));
    }
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    if (static_cast<std::int64_t>(t.values.size()) != n) {
      throw BundleError(where + ": " + full + ": " + std::to_string(t.values.size()) +
                        " values for shape " + ShapeString(shape));
    }
    for (size_t k = 0; k < t.values.size(); ++k) {
      if (!std::isfinite(t.values[k])) {
        throw BundleError(where + ": " + full + ": element " + std::to_string(k) +
                          " is not finite");
      }
    }
    const Eigen::Index rows = shape[0];
    m[name] = Eigen::Map<const RowMatrixXf>(t.values.data(), rows, n / rows);
  }

  ImageEncoderWeights w;
  w.config_ = config;
  for (int i = 0; i < kTrunkLayers; ++i) {
    const std::string l = std::to_string(i);
    Layer& layer = w.trunk_[i];
    layer.weight = m.at("conv" + l + ".weight");
    layer.bias = m.at("conv" + l + ".bias").col(0);
    if (config.group_norm) {
      layer.norm_weight = m.at("norm" + l + ".weight").col(0);
      layer.norm_bias = m.at("norm" + l + ".bias").col(0);
    }
  }
  w.keypoint_weight_ = m.at("keypoints.weight");
  w.keypoint_bias_ = m.at("keypoints.bias").col(0);
  w.temperature_ = m.at("temperature")(0, 0);
  if (!(w.temperature_ > 0.0f)) {
    throw BundleError(where + ": " + Name(prefix, "temperature") + ": must be > 0, got " +
                      std::to_string(w.temperature_));
  }
  w.proj_weight_ = m.at("proj.weight");
  w.proj_bias_ = m.at("proj.bias").col(0);
  return w;
}

ImageEncoderWeights ImageEncoderWeights::FromSafeTensors(const ImageEncoderConfig& config,
                                                         const SafeTensors& st,
                                                         const std::string& prefix,
                                                         const std::string& where) {
  std::map<std::string, FloatTensor> tensors;
  for (const auto& [name, shape] : ImageEncoderTensorShapes(config)) {
    const std::string full = Name(prefix, name);
    const auto it = st.tensors().find(full);
    if (it == st.tensors().end()) continue;  // FromTensors names the first missing one
    tensors[full] = FloatTensor{it->second.shape, st.ReadF32(full)};
  }
  return FromTensors(config, tensors, prefix, where);
}

nlohmann::json ImageInputsToJson(const std::vector<ImageInput>& images) {
  nlohmann::json out = nlohmann::json::array();
  for (const ImageInput& in : images) {
    const ImageEncoderConfig& e = in.encoder;
    out.push_back({{"key", in.key},
                   {"shape", {e.image_size, e.image_size, kImageChannels}},
                   {"encoder",
                    {{"image_size", e.image_size},
                     {"crop_size", e.crop_size},
                     {"keypoints", e.keypoints},
                     {"feature_dim", e.feature_dim},
                     {"group_norm", e.group_norm},
                     {"temperature", e.temperature},
                     {"learnable_temperature", e.learnable_temperature}}}});
    if (!in.camera.is_null()) out.back()["camera"] = in.camera;
  }
  return out;
}

std::vector<ImageInput> ImageInputsFromJson(const nlohmann::json& json, const std::string& where) {
  const JsonReader r(where);
  if (!json.is_array()) r.Fail("images", "expected an array");
  std::vector<ImageInput> out;
  for (size_t i = 0; i < json.size(); ++i) {
    const std::string path = "images[" + std::to_string(i) + "]";
    const nlohmann::json& j = json[i];
    if (!j.is_object()) r.Fail(path, "expected an object with key, shape and encoder");
    ImageInput in;
    in.key = r.String(j, path, "key");
    if (!IsImageKeyName(in.key)) r.Fail(path + ".key", "'" + in.key + "' is not an image key (<camera>_image)");
    for (const ImageInput& other : out) {
      if (other.key == in.key) r.Fail(path + ".key", "'" + in.key + "' listed twice");
    }
    const std::string ep = path + ".encoder";
    const nlohmann::json& e = r.Object(j, path, "encoder");
    in.encoder.image_size = r.Int(e, ep, "image_size", 1);
    in.encoder.crop_size = r.Int(e, ep, "crop_size", 1);
    in.encoder.keypoints = r.Int(e, ep, "keypoints", 1);
    in.encoder.feature_dim = r.Int(e, ep, "feature_dim", 1);
    in.encoder.temperature = r.Positive(e, ep, "temperature");
    for (const char* flag : {"group_norm", "learnable_temperature"}) {
      const nlohmann::json& b = r.Get(e, ep, flag);
      if (!b.is_boolean()) r.Fail(JsonPath(ep, flag), "expected true or false");
    }
    in.encoder.group_norm = e.at("group_norm").get<bool>();
    in.encoder.learnable_temperature = e.at("learnable_temperature").get<bool>();
    in.encoder.Validate(where, ep);
    const nlohmann::json& shape = r.Get(j, path, "shape");
    const nlohmann::json expected = {in.encoder.image_size, in.encoder.image_size, kImageChannels};
    if (shape != expected) r.Fail(path + ".shape", shape.dump() + " but the encoder reads " + expected.dump());
    if (j.contains("camera")) in.camera = r.Object(j, path, "camera");
    out.push_back(in);
  }
  return out;
}

int ImageFeatureDim(const std::vector<ImageInput>& images) {
  int f = 0;
  for (const ImageInput& in : images) f += in.encoder.feature_dim;
  return f;
}

ImageEncoder::ImageEncoder(std::shared_ptr<const ImageEncoderWeights> weights)
    : weights_(std::move(weights)) {
  if (!weights_) throw std::invalid_argument("ImageEncoder: null weights");
  const ImageEncoderConfig& c = weights_->config();
  sizes_[0] = c.crop_size;
  int in = kImageChannels;
  input_ = RowMatrixXf::Zero(in, c.crop_size * c.crop_size);
  for (int i = 0; i < kTrunkLayers; ++i) {
    sizes_[i + 1] = TrunkOutputSize(sizes_[i], kTrunkStrides[i]);
    const int positions = sizes_[i + 1] * sizes_[i + 1];
    cols_[i] = RowMatrixXf::Zero(in * kTrunkKernel * kTrunkKernel, positions);
    maps_[i] = RowMatrixXf::Zero(kTrunkChannels[i], positions);
    in = kTrunkChannels[i];
  }
  const int side = sizes_[kTrunkLayers];
  logits_ = RowMatrixXf::Zero(c.keypoints, side * side);
  const std::vector<float> lin = Linspace(side);
  pos_x_.resize(side * side);
  pos_y_.resize(side * side);
  for (int y = 0; y < side; ++y) {
    for (int x = 0; x < side; ++x) {
      pos_x_[y * side + x] = lin[x];
      pos_y_[y * side + x] = lin[y];
    }
  }
  keypoints_ = Eigen::VectorXf::Zero(2 * c.keypoints);
}

void ImageEncoder::Encode(const std::uint8_t* image, float* features) {
  const ImageEncoderWeights& w = *weights_;
  const ImageEncoderConfig& c = w.config();
  const int crop = c.crop_size;
  const int offset = (c.image_size - crop) / 2;
  // Centre crop, H x W x C bytes -> channel planes of x / 255 (a division, as torch's).
  for (int y = 0; y < crop; ++y) {
    const std::uint8_t* row =
        image + (static_cast<std::ptrdiff_t>(y + offset) * c.image_size + offset) * kImageChannels;
    for (int x = 0; x < crop; ++x) {
      for (int ch = 0; ch < kImageChannels; ++ch) {
        input_(ch, y * crop + x) = static_cast<float>(row[x * kImageChannels + ch]) / 255.0f;
      }
    }
  }

  const RowMatrixXf* in = &input_;
  for (int i = 0; i < kTrunkLayers; ++i) {
    const ImageEncoderWeights::Layer& layer = w.trunk()[i];
    Im2Col(*in, sizes_[i], kTrunkStrides[i], sizes_[i + 1], cols_[i]);
    RowMatrixXf& out = maps_[i];
    Gemm(layer.weight, cols_[i], out);
    for (Eigen::Index ch = 0; ch < out.rows(); ++ch) out.row(ch).array() += layer.bias[ch];
    if (c.group_norm) GroupNorm(layer.norm_weight, layer.norm_bias, out);
    Relu(out);
    in = &out;
  }

  // Spatial softmax: logits / temperature, softmax per map, expected position.
  Gemm(w.keypoint_weight(), *in, logits_);
  const float temperature = w.temperature();
  for (Eigen::Index k = 0; k < logits_.rows(); ++k) {
    auto row = logits_.row(k).array();
    row = (row + w.keypoint_bias()[k]) / temperature;
    row = (row - row.maxCoeff()).exp();
    const float sum = row.sum();
    keypoints_[2 * k] = (row * pos_x_.transpose().array()).sum() / sum;
    keypoints_[2 * k + 1] = (row * pos_y_.transpose().array()).sum() / sum;
  }

  Eigen::Map<Eigen::VectorXf> out(features, c.feature_dim);
  out.noalias() = w.proj_weight() * keypoints_;
  out += w.proj_bias();
}

}  // namespace dreamforge::robot
