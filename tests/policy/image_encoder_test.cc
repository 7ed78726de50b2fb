// policy/image_encoder.h: shapes, keypoint range, the crop (random while training, the
// centre at evaluation), determinism under a seed, config and input errors, and parity
// with the native encoder (robot/image_encoder.h) on 1,000 random images.
#include "policy/image_encoder.h"

#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace dreamforge::policy {
namespace {

using ::testing::HasSubstr;

torch::Generator Gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

torch::Tensor RandomImages(int64_t b, int side, torch::Generator& gen) {
  return torch::randint(0, 256, {b, side, side, 3}, gen, torch::kLong).to(torch::kByte);
}

std::string ConfigError(const ImageEncoderConfig& c) {
  try {
    ImageEncoder enc(c);
  } catch (const PolicyError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string ForwardError(ImageEncoder& enc, const torch::Tensor& images) {
  try {
    enc->forward(images);
  } catch (const PolicyError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ImageEncoderTest, OutputShapeAndKeypointRange) {
  torch::manual_seed(1);
  ImageEncoderConfig c;
  c.keypoints = 8;
  c.feature_dim = 20;
  ImageEncoder enc(c);
  torch::Generator gen = Gen(1);
  const torch::Tensor images = RandomImages(5, 84, gen);
  EXPECT_EQ(enc->forward(images).sizes(), (std::vector<int64_t>{5, 20}));
  enc->eval();
  EXPECT_EQ(enc->forward(images).sizes(), (std::vector<int64_t>{5, 20}));
  // Keypoints of a sharp softmax sit near the map's edges, still inside [-1, 1].
  torch::NoGradGuard no_grad;
  enc->named_buffers()["temperature"].fill_(0.01);
  const torch::Tensor kp =
      enc->Keypoints(CenterCrop(images, 76).permute({0, 3, 1, 2}).to(torch::kFloat) / 255);
  EXPECT_EQ(kp.sizes(), (std::vector<int64_t>{5, 16}));
  EXPECT_LE(kp.abs().max().item<float>(), 1.0f);
  EXPECT_GT(kp.abs().max().item<float>(), 0.3f);
}

TEST(ImageEncoderTest, ConfigErrorsNameTheField) {
  ImageEncoderConfig c;
  c.crop_size = 90;
  EXPECT_EQ(ConfigError(c), "image encoder: encoder.crop_size: 90 exceeds encoder.image_size 84");
  c = ImageEncoderConfig();
  c.keypoints = 0;
  EXPECT_THAT(ConfigError(c), HasSubstr("encoder.keypoints: expected 1.."));
  c = ImageEncoderConfig();
  c.feature_dim = 0;
  EXPECT_THAT(ConfigError(c), HasSubstr("encoder.feature_dim"));
  c = ImageEncoderConfig();
  c.temperature = -1;
  EXPECT_THAT(ConfigError(c), HasSubstr("encoder.temperature: expected a finite number > 0"));
  c = ImageEncoderConfig();
  c.crop_size = 10;
  EXPECT_THAT(ConfigError(c), HasSubstr("encoder.crop_size: must be at least 23"));
}

TEST(ImageEncoderTest, InputErrorsNameTheShape) {
  ImageEncoder enc(ImageEncoderConfig{});
  EXPECT_EQ(
      ForwardError(enc, torch::zeros({2, 64, 64, 3}, torch::kByte)),
      "image encoder: images: expected (B, 84, 84, 3) uint8 or float32, got [2, 64, 64, 3] Byte");
  EXPECT_THAT(ForwardError(enc, torch::zeros({2, 3, 84, 84}, torch::kByte)),
              HasSubstr("got [2, 3, 84, 84]"));
  EXPECT_THAT(ForwardError(enc, torch::zeros({2, 84, 84, 3}, torch::kDouble)), HasSubstr("Double"));
}

TEST(ImageEncoderTest, EvalUsesTheCentreCropOnly) {
  torch::manual_seed(2);
  ImageEncoder enc(ImageEncoderConfig{});
  enc->eval();
  torch::Generator gen = Gen(2);
  torch::Tensor images = RandomImages(4, 84, gen);
  const torch::Tensor a = enc->forward(images);
  EXPECT_TRUE(torch::equal(a, enc->forward(images)));
  // The same as the keypoints of the centre crop, projected.
  const torch::Tensor x = CenterCrop(images, 76).permute({0, 3, 1, 2}).to(torch::kFloat) / 255;
  torch::nn::LinearImpl* proj = enc->named_children()["proj"]->as<torch::nn::LinearImpl>();
  ASSERT_NE(proj, nullptr);
  EXPECT_LE((proj->forward(enc->Keypoints(x.contiguous())) - a).abs().max().item<float>(), 1e-6);
  // Pixels outside the 76 x 76 centre (offset 4) do not matter.
  torch::Tensor outside = torch::ones({84, 84}, torch::kBool);
  outside.narrow(0, 4, 76).narrow(1, 4, 76).fill_(false);
  images.index_put_({torch::indexing::Slice(), outside}, 0);
  EXPECT_TRUE(torch::equal(a, enc->forward(images)));
}

TEST(ImageEncoderTest, TrainingCropsAtRandomAndIsSeeded) {
  torch::manual_seed(3);
  ImageEncoder enc(ImageEncoderConfig{});
  torch::Generator gen = Gen(3);
  const torch::Tensor images = RandomImages(8, 84, gen);
  const torch::Tensor a = enc->forward(images);
  const torch::Tensor b = enc->forward(images);
  EXPECT_FALSE(torch::allclose(a, b));  // a new crop per call
  // The same seed gives the same crops: torch's generator, or one passed in.
  torch::manual_seed(11);
  const torch::Tensor c = enc->forward(images);
  torch::manual_seed(11);
  EXPECT_TRUE(torch::equal(c, enc->forward(images)));
  EXPECT_TRUE(torch::equal(enc->forward(images, Gen(5)), enc->forward(images, Gen(5))));
  EXPECT_FALSE(torch::allclose(enc->forward(images, Gen(5)), enc->forward(images, Gen(6))));
}

TEST(ImageEncoderTest, RandomCropCoversEveryOffset) {
  // Image value = 100 * row + column: the crop's first pixel tells its offset.
  const torch::Tensor grid =
      (torch::arange(84).view({84, 1}) * 100 + torch::arange(84).view({1, 84}))
          .view({1, 84, 84, 1});
  const torch::Tensor images = grid.expand({2000, 84, 84, 1}).contiguous();
  const torch::Tensor crops = RandomCrop(images, 76, Gen(7));
  ASSERT_EQ(crops.sizes(), (std::vector<int64_t>{2000, 76, 76, 1}));
  std::set<int64_t> tops, lefts;
  for (int64_t i = 0; i < 2000; ++i) {
    const int64_t corner = crops[i][0][0][0].item<int64_t>();
    const int64_t top = corner / 100, left = corner % 100;
    tops.insert(top);
    lefts.insert(left);
    if (i < 20) {
      EXPECT_TRUE(torch::equal(crops[i], grid[0].narrow(0, top, 76).narrow(1, left, 76))) << i;
    }
  }
  EXPECT_EQ(tops, (std::set<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(lefts, tops);
  EXPECT_TRUE(torch::equal(CenterCrop(images, 76)[0], grid[0].narrow(0, 4, 76).narrow(1, 4, 76)));
}

TEST(ImageEncoderTest, FloatInputIsAlreadyScaled) {
  torch::manual_seed(4);
  ImageEncoder enc(ImageEncoderConfig{});
  enc->eval();
  torch::Generator gen = Gen(4);
  const torch::Tensor images = RandomImages(3, 84, gen);
  const torch::Tensor a = enc->forward(images);
  const torch::Tensor b = enc->forward(images.to(torch::kFloat) / 255);
  EXPECT_LE((a - b).abs().max().item<float>(), 1e-6);
}

TEST(ImageEncoderTest, GradientsReachEveryParameter) {
  torch::manual_seed(5);
  for (bool learnable : {false, true}) {
    ImageEncoderConfig c;
    c.learnable_temperature = learnable;
    ImageEncoder enc(c);
    torch::Generator gen = Gen(5);
    enc->forward(RandomImages(4, 84, gen)).pow(2).sum().backward();
    std::set<std::string> names;
    for (const auto& p : enc->named_parameters()) {
      names.insert(p.key());
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<float>(), 0.0f) << p.key();
    }
    EXPECT_EQ(names.count("temperature"), learnable ? 1u : 0u);
    EXPECT_EQ(enc->named_buffers().contains("temperature"), !learnable);
  }
}

TEST(ImageEncoderTest, NamedTensorsAreTheNativeNames) {
  ImageEncoderConfig c;
  c.keypoints = 6;
  for (bool gn : {false, true}) {
    c.group_norm = gn;
    ImageEncoder enc(c);
    const auto named = enc->NamedTensors("cam");
    const auto shapes = robot::ImageEncoderTensorShapes(c);
    ASSERT_EQ(named.size(), shapes.size());
    for (size_t i = 0; i < shapes.size(); ++i) {
      EXPECT_EQ(named[i].first, "cam." + shapes[i].first);
      EXPECT_EQ(named[i].second.sizes().vec(), shapes[i].second) << shapes[i].first;
    }
    // Nothing else is in the module, so an exporter that writes everything writes these.
    EXPECT_EQ(enc->named_parameters().size() + enc->named_buffers().size(), shapes.size());
  }
  // Registered in a parent as "encoders.agentview_image", the parent's names carry it.
  struct Parent : torch::nn::Module {
    Parent() {
      auto encoders = register_module("encoders", std::make_shared<torch::nn::Module>());
      encoders->register_module("agentview_image", ImageEncoder(ImageEncoderConfig{}));
    }
  } parent;
  EXPECT_TRUE(parent.named_parameters().contains("encoders.agentview_image.conv0.weight"));
  EXPECT_TRUE(parent.named_buffers().contains("encoders.agentview_image.temperature"));
}

// LibTorch against robot::ImageEncoder on `n` random images, weights random (torch's
// init, then GroupNorm affine terms and the temperature moved off their defaults).
double WorstNativeDifference(const ImageEncoderConfig& c, int n, uint64_t seed) {
  torch::manual_seed(seed);
  ImageEncoder enc(c);
  enc->eval();
  torch::NoGradGuard no_grad;
  torch::Generator gen = Gen(seed);
  std::map<std::string, robot::FloatTensor> tensors;
  for (auto& [name, t] : enc->NamedTensors("cam")) {
    if (name.find(".norm") != std::string::npos) {
      t.copy_(name.find("weight") != std::string::npos ? torch::rand(t.sizes(), gen) + 0.5
                                                       : torch::rand(t.sizes(), gen) * 0.6 - 0.3);
    }
    if (name == "cam.temperature") t.fill_(0.7);
    const torch::Tensor v = t.contiguous();
    tensors[name] = robot::FloatTensor{
        v.sizes().vec(), std::vector<float>(v.data_ptr<float>(), v.data_ptr<float>() + v.numel())};
  }
  robot::ImageEncoder native(std::make_shared<const robot::ImageEncoderWeights>(
      robot::ImageEncoderWeights::FromTensors(c, tensors, "cam", "test")));
  std::vector<float> f(c.feature_dim);
  double worst = 0;
  const int batch = 100;
  for (int done = 0; done < n; done += batch) {
    const torch::Tensor images = RandomImages(batch, c.image_size, gen);
    const torch::Tensor ref = enc->forward(images).contiguous();
    for (int i = 0; i < batch; ++i) {
      native.Encode(images[i].contiguous().data_ptr<std::uint8_t>(), f.data());
      const float* r = ref[i].data_ptr<float>();
      for (int k = 0; k < c.feature_dim; ++k)
        worst = std::max(worst, static_cast<double>(std::abs(f[k] - r[k])));
    }
  }
  return worst;
}

TEST(ImageEncoderParityTest, NativeMatchesLibTorchOn1000Images) {
  ImageEncoderConfig c;  // 84 -> 76, GroupNorm, 32 keypoints, 64 features
  c.learnable_temperature = true;
  const double worst = WorstNativeDifference(c, 1000, 21);
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", worst);
  RecordProperty("max_abs_difference", text);
  EXPECT_LE(worst, 1e-4);
}

TEST(ImageEncoderParityTest, NativeMatchesLibTorchWithoutGroupNormAt64) {
  ImageEncoderConfig c;
  c.group_norm = false;
  c.image_size = 64;
  c.crop_size = 57;  // odd margin: the centre offset rounds down on both sides
  c.keypoints = 16;
  c.feature_dim = 32;
  EXPECT_LE(WorstNativeDifference(c, 200, 22), 1e-4);
}

}  // namespace
}  // namespace dreamforge::policy
