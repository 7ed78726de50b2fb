// robot/image_encoder.h without LibTorch (it runs under qemu-aarch64 too): the config and
// weight checks, the forward pass against a direct double-precision transcription of the
// architecture, the centre crop, the keypoint range, and no allocation in Encode. The
// LibTorch parity test is tests/policy/image_encoder_test.cc.
#include "robot/image_encoder.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/robot/alloc_counter.h"

namespace dreamforge::robot {
namespace {

using ::testing::HasSubstr;
using Tensors = std::map<std::string, FloatTensor>;

std::string ValidateError(const ImageEncoderConfig& c) {
  try {
    c.Validate();
  } catch (const BundleError& e) {
    return e.what();
  }
  return "(no error)";
}

// Random weights under `prefix`, scaled like torch's default init (U(+-1/sqrt(fan_in))),
// GroupNorm affine terms near (1, 0) and a temperature in [0.5, 2].
Tensors RandomWeights(const ImageEncoderConfig& c, const std::string& prefix, std::mt19937& rng) {
  Tensors t;
  for (const auto& [name, shape] : ImageEncoderTensorShapes(c)) {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    const double fan_in = shape.size() > 1 ? static_cast<double>(n / shape[0]) : 16.0;
    double lo = -1 / std::sqrt(fan_in), hi = -lo;
    if (name.rfind("norm", 0) == 0) {
      const bool scale = name.find("weight") != std::string::npos;
      lo = scale ? 0.5 : -0.3;
      hi = scale ? 1.5 : 0.3;
    }
    if (name == "temperature") lo = 0.5, hi = 2.0;
    std::uniform_real_distribution<float> u(static_cast<float>(lo), static_cast<float>(hi));
    FloatTensor& f = t[prefix.empty() ? name : prefix + "." + name];
    f.shape = shape;
    for (std::int64_t i = 0; i < n; ++i) f.values.push_back(u(rng));
  }
  return t;
}

std::vector<std::uint8_t> RandomImage(int side, std::mt19937& rng) {
  std::uniform_int_distribution<int> u(0, 255);
  std::vector<std::uint8_t> img(static_cast<size_t>(side) * side * 3);
  for (auto& v : img) v = static_cast<std::uint8_t>(u(rng));
  return img;
}

// The architecture of robot/image_encoder.h's comment, written directly (loops over the
// H x W x C image, double precision), as an independent reference for the im2col path.
std::vector<double> Reference(const ImageEncoderConfig& c, const Tensors& t, const std::string& p,
                              const std::vector<std::uint8_t>& img, std::vector<double>* kp_out) {
  auto v = [&](const std::string& name) -> const std::vector<float>& {
    return t.at(p + "." + name).values;
  };
  const int off = (c.image_size - c.crop_size) / 2;
  int side = c.crop_size, channels = 3;
  std::vector<double> x(static_cast<size_t>(channels) * side * side);  // (C, S, S)
  for (int ch = 0; ch < 3; ++ch) {
    for (int y = 0; y < side; ++y) {
      for (int xx = 0; xx < side; ++xx) {
        x[(ch * side + y) * side + xx] =
            img[((y + off) * c.image_size + xx + off) * 3 + ch] / 255.0;
      }
    }
  }
  for (int l = 0; l < kTrunkLayers; ++l) {
    const std::string L = std::to_string(l);
    const std::vector<float>& w = v("conv" + L + ".weight");
    const std::vector<float>& b = v("conv" + L + ".bias");
    const int out_c = kTrunkChannels[l], s = kTrunkStrides[l];
    const int out_side = (side - 3) / s + 1;
    std::vector<double> y(static_cast<size_t>(out_c) * out_side * out_side);
    for (int o = 0; o < out_c; ++o) {
      for (int oy = 0; oy < out_side; ++oy) {
        for (int ox = 0; ox < out_side; ++ox) {
          double acc = b[o];
          for (int i = 0; i < channels; ++i) {
            for (int ky = 0; ky < 3; ++ky) {
              for (int kx = 0; kx < 3; ++kx) {
                acc += w[((o * channels + i) * 3 + ky) * 3 + kx] *
                       x[(i * side + oy * s + ky) * side + ox * s + kx];
              }
            }
          }
          y[(o * out_side + oy) * out_side + ox] = acc;
        }
      }
    }
    const int positions = out_side * out_side;
    if (c.group_norm) {
      const int per = out_c / kGroupNormGroups;
      for (int g = 0; g < kGroupNormGroups; ++g) {
        double mean = 0, var = 0;
        for (int i = g * per * positions; i < (g + 1) * per * positions; ++i) mean += y[i];
        mean /= per * positions;
        for (int i = g * per * positions; i < (g + 1) * per * positions; ++i)
          var += (y[i] - mean) * (y[i] - mean);
        var /= per * positions;
        for (int i = g * per * positions; i < (g + 1) * per * positions; ++i) {
          const int ch = i / positions;
          y[i] = (y[i] - mean) / std::sqrt(var + kGroupNormEps) * v("norm" + L + ".weight")[ch] +
                 v("norm" + L + ".bias")[ch];
        }
      }
    }
    for (double& e : y) e = std::max(e, 0.0);
    x = std::move(y);
    side = out_side;
    channels = out_c;
  }
  const int positions = side * side;
  std::vector<double> kp(2 * c.keypoints);
  for (int k = 0; k < c.keypoints; ++k) {
    std::vector<double> logit(positions);
    double mx = -1e300;
    for (int q = 0; q < positions; ++q) {
      double acc = v("keypoints.bias")[k];
      for (int i = 0; i < channels; ++i)
        acc += v("keypoints.weight")[k * channels + i] * x[i * positions + q];
      logit[q] = acc / v("temperature")[0];
      mx = std::max(mx, logit[q]);
    }
    double sum = 0, ex = 0, ey = 0;
    for (int q = 0; q < positions; ++q) {
      const double e = std::exp(logit[q] - mx);
      const double px = side == 1 ? -1.0 : -1.0 + 2.0 * (q % side) / (side - 1);
      const double py = side == 1 ? -1.0 : -1.0 + 2.0 * (q / side) / (side - 1);
      sum += e;
      ex += e * px;
      ey += e * py;
    }
    kp[2 * k] = ex / sum;
    kp[2 * k + 1] = ey / sum;
  }
  if (kp_out) *kp_out = kp;
  std::vector<double> f(c.feature_dim);
  for (int o = 0; o < c.feature_dim; ++o) {
    double acc = v("proj.bias")[o];
    for (int i = 0; i < 2 * c.keypoints; ++i)
      acc += v("proj.weight")[o * 2 * c.keypoints + i] * kp[i];
    f[o] = acc;
  }
  return f;
}

std::shared_ptr<const ImageEncoderWeights> Load(const ImageEncoderConfig& c, const Tensors& t,
                                                const std::string& prefix = "cam") {
  return std::make_shared<const ImageEncoderWeights>(
      ImageEncoderWeights::FromTensors(c, t, prefix, "test.safetensors"));
}

std::string LoadError(const ImageEncoderConfig& c, const Tensors& t) {
  try {
    Load(c, t);
  } catch (const BundleError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ImageEncoderConfigTest, DefaultsAreValidAndSized) {
  const ImageEncoderConfig c;
  EXPECT_NO_THROW(c.Validate());
  EXPECT_EQ(c.TrunkSize(), 14);  // 76 -> 37 -> 18 -> 16 -> 14
  ImageEncoderConfig small;
  small.image_size = 64;
  small.crop_size = 56;
  EXPECT_NO_THROW(small.Validate());
  EXPECT_EQ(small.TrunkSize(), 9);  // 56 -> 27 -> 13 -> 11 -> 9
}

TEST(ImageEncoderConfigTest, ErrorsNameTheField) {
  ImageEncoderConfig c;
  c.crop_size = 90;
  EXPECT_EQ(ValidateError(c), "image encoder: encoder.crop_size: 90 exceeds encoder.image_size 84");
  c = ImageEncoderConfig();
  c.crop_size = 22;
  EXPECT_THAT(ValidateError(c), HasSubstr("encoder.crop_size: must be at least 23"));
  c.crop_size = 23;
  EXPECT_NO_THROW(c.Validate());
  EXPECT_EQ(c.TrunkSize(), 1);
  c = ImageEncoderConfig();
  c.image_size = 0;
  EXPECT_THAT(ValidateError(c), HasSubstr("encoder.image_size: expected 1..2048, got 0"));
  c = ImageEncoderConfig();
  c.keypoints = 0;
  EXPECT_THAT(ValidateError(c), HasSubstr("encoder.keypoints: expected 1.."));
  c = ImageEncoderConfig();
  c.feature_dim = -3;
  EXPECT_THAT(ValidateError(c), HasSubstr("encoder.feature_dim: expected 1.."));
  c = ImageEncoderConfig();
  c.temperature = 0;
  EXPECT_THAT(ValidateError(c), HasSubstr("encoder.temperature: expected a finite number > 0"));
  c.temperature = std::nan("");
  EXPECT_THAT(ValidateError(c), HasSubstr("encoder.temperature"));
}

TEST(ImageEncoderWeightsTest, TensorNamesFollowTheConfig) {
  ImageEncoderConfig c;
  c.keypoints = 5;
  c.feature_dim = 7;
  const auto shapes = ImageEncoderTensorShapes(c);
  ASSERT_EQ(shapes.size(), 8u + 8u + 5u);
  EXPECT_EQ(shapes[0].first, "conv0.weight");
  EXPECT_EQ(shapes[0].second, (std::vector<std::int64_t>{16, 3, 3, 3}));
  EXPECT_EQ(shapes[2].first, "norm0.weight");
  EXPECT_EQ(shapes[16].second, (std::vector<std::int64_t>{5, 32, 1, 1}));
  EXPECT_EQ(shapes[18].first, "temperature");
  EXPECT_EQ(shapes[19].second, (std::vector<std::int64_t>{7, 10}));
  c.group_norm = false;
  EXPECT_EQ(ImageEncoderTensorShapes(c).size(), 8u + 5u);
}

TEST(ImageEncoderWeightsTest, BadTensorsAreNamed) {
  const ImageEncoderConfig c;
  std::mt19937 rng(1);
  const Tensors good = RandomWeights(c, "cam", rng);
  EXPECT_NO_THROW(Load(c, good));

  Tensors t = good;
  t.erase("cam.conv2.bias");
  EXPECT_EQ(LoadError(c, t), "test.safetensors: cam.conv2.bias: missing tensor (image encoder)");
  t = good;
  t["cam.proj.weight"].shape = {64, 32, 2};
  EXPECT_EQ(LoadError(c, t),
            "test.safetensors: cam.proj.weight.shape: [64, 32, 2], expected [64, 64]");
  t = good;
  t["cam.norm1.weight"].values[3] = std::nanf("");
  EXPECT_EQ(LoadError(c, t), "test.safetensors: cam.norm1.weight: element 3 is not finite");
  t = good;
  t["cam.temperature"].values[0] = -1;
  EXPECT_THAT(LoadError(c, t), HasSubstr("cam.temperature: must be > 0"));
  ImageEncoderConfig bad = c;
  bad.crop_size = 100;
  EXPECT_THAT(LoadError(bad, good), HasSubstr("test.safetensors: encoder.crop_size: 100 exceeds"));
  // A config without GroupNorm ignores the norm tensors; extra tensors are the caller's.
  ImageEncoderConfig plain = c;
  plain.group_norm = false;
  EXPECT_NO_THROW(Load(plain, good));
}

// A safetensors file of `tensors` (F32, little-endian, as the exporters write it).
std::vector<std::uint8_t> SafetensorsBytes(const Tensors& tensors) {
  nlohmann::json header = nlohmann::json::object();
  std::vector<std::uint8_t> data;
  for (const auto& [name, t] : tensors) {
    const size_t begin = data.size();
    for (float f : t.values) {
      std::uint32_t u;
      std::memcpy(&u, &f, 4);
      for (int b = 0; b < 4; ++b) data.push_back(static_cast<std::uint8_t>(u >> (8 * b)));
    }
    header[name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
  }
  const std::string h = header.dump();
  std::vector<std::uint8_t> out;
  for (int b = 0; b < 8; ++b) out.push_back(static_cast<std::uint8_t>(h.size() >> (8 * b)));
  out.insert(out.end(), h.begin(), h.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

TEST(ImageEncoderWeightsTest, LoadsFromSafetensorsUnderAPrefix) {
  const ImageEncoderConfig c;
  std::mt19937 rng(2);
  Tensors t = RandomWeights(c, "encoders.agentview_image", rng);
  const SafeTensors st = SafeTensors::Parse(SafetensorsBytes(t), "w.safetensors");
  const ImageEncoderWeights w =
      ImageEncoderWeights::FromSafeTensors(c, st, "encoders.agentview_image", "w.safetensors");
  EXPECT_EQ(w.trunk()[1].weight.rows(), 32);
  EXPECT_EQ(w.trunk()[1].weight.cols(), 16 * 9);
  EXPECT_EQ(w.trunk()[1].weight(2, 5),
            t.at("encoders.agentview_image.conv1.weight").values[2 * 144 + 5]);
  EXPECT_EQ(w.temperature(), t.at("encoders.agentview_image.temperature").values[0]);
  try {
    ImageEncoderWeights::FromSafeTensors(c, st, "encoders.eye", "w.safetensors");
    ADD_FAILURE() << "no error";
  } catch (const BundleError& e) {
    EXPECT_STREQ(e.what(),
                 "w.safetensors: encoders.eye.conv0.weight: missing tensor (image encoder)");
  }
}

class ImageEncoderForwardTest : public ::testing::TestWithParam<bool> {};

TEST_P(ImageEncoderForwardTest, MatchesTheDirectReference) {
  ImageEncoderConfig c;
  c.group_norm = GetParam();
  c.keypoints = 16;
  c.feature_dim = 24;
  std::mt19937 rng(3);
  const Tensors t = RandomWeights(c, "cam", rng);
  ImageEncoder enc(Load(c, t));
  std::vector<float> f(c.feature_dim);
  double worst = 0;
  for (int n = 0; n < 4; ++n) {
    const std::vector<std::uint8_t> img = RandomImage(c.image_size, rng);
    std::vector<double> kp;
    const std::vector<double> ref = Reference(c, t, "cam", img, &kp);
    enc.Encode(img.data(), f.data());
    for (int i = 0; i < c.feature_dim; ++i) worst = std::max(worst, std::abs(f[i] - ref[i]));
    for (int i = 0; i < 2 * c.keypoints; ++i)
      worst = std::max(worst, std::abs(enc.keypoints()[i] - kp[i]));
  }
  EXPECT_LE(worst, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(GroupNorm, ImageEncoderForwardTest, ::testing::Bool());

TEST(ImageEncoderTest, KeypointsStayInRangeAndUniformMapsCentre) {
  const ImageEncoderConfig c;
  std::mt19937 rng(4);
  Tensors t = RandomWeights(c, "cam", rng);
  // Sharp maps (temperature 0.01) push keypoints to the edges; still within [-1, 1].
  t["cam.temperature"].values[0] = 0.01f;
  ImageEncoder sharp(Load(c, t));
  std::vector<float> f(c.feature_dim);
  for (int n = 0; n < 5; ++n) {
    const std::vector<std::uint8_t> img = RandomImage(c.image_size, rng);
    sharp.Encode(img.data(), f.data());
    for (int i = 0; i < 2 * c.keypoints; ++i) {
      EXPECT_GE(sharp.keypoints()[i], -1.0f);
      EXPECT_LE(sharp.keypoints()[i], 1.0f);
    }
  }
  // Constant logits: every keypoint is the map's centre and the feature is proj.bias.
  for (float& v : t["cam.keypoints.weight"].values) v = 0;
  ImageEncoder flat(Load(c, t));
  flat.Encode(RandomImage(c.image_size, rng).data(), f.data());
  for (int i = 0; i < 2 * c.keypoints; ++i) EXPECT_NEAR(flat.keypoints()[i], 0.0f, 1e-6);
  for (int i = 0; i < c.feature_dim; ++i) EXPECT_NEAR(f[i], t["cam.proj.bias"].values[i], 1e-6);
}

TEST(ImageEncoderTest, ReadsOnlyTheCentreCrop) {
  const ImageEncoderConfig c;  // 76 of 84: offset 4
  std::mt19937 rng(5);
  auto weights = Load(c, RandomWeights(c, "cam", rng));
  ImageEncoder a(weights), b(weights);  // two cameras share one set of weights
  std::vector<std::uint8_t> img = RandomImage(c.image_size, rng);
  std::vector<float> fa(c.feature_dim), fb(c.feature_dim), fc(c.feature_dim);
  a.Encode(img.data(), fa.data());
  // The border outside the crop changes; the feature does not.
  for (int y = 0; y < c.image_size; ++y) {
    for (int x = 0; x < c.image_size; ++x) {
      if (y >= 4 && y < 80 && x >= 4 && x < 80) continue;
      for (int ch = 0; ch < 3; ++ch) img[(y * c.image_size + x) * 3 + ch] ^= 0xff;
    }
  }
  b.Encode(img.data(), fb.data());
  EXPECT_EQ(fa, fb);
  // One pixel inside does change it.
  img[(4 * c.image_size + 4) * 3] ^= 0xff;
  b.Encode(img.data(), fc.data());
  EXPECT_NE(fa, fc);
}

TEST(ImageEncoderTest, EncodeDoesNotAllocate) {
  const ImageEncoderConfig c;
  std::mt19937 rng(6);
  ImageEncoder enc(Load(c, RandomWeights(c, "cam", rng)));
  const std::vector<std::uint8_t> img = RandomImage(c.image_size, rng);
  std::vector<float> f(c.feature_dim), again(c.feature_dim);
  {
    test::AllocCounter counter;
    for (int k = 0; k < 3; ++k) enc.Encode(img.data(), k == 2 ? again.data() : f.data());
    EXPECT_EQ(counter.new_calls(), 0);
    EXPECT_EQ(counter.malloc_calls(), 0);
  }
  EXPECT_EQ(f, again);  // and it is deterministic
}

}  // namespace
}  // namespace dreamforge::robot
