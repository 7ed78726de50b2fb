// Image policies (issue 16) on small synthetic episode files with camera images: training
// reads the images, run.json describes the encoders, the loss falls, a seed fixes the
// weights (a resume included), the predictor reads frames with the centre crop, and the
// errors for a file without the image key, a memory limit and only image keys.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "datasets/episode_store.h"
#include "policy/export.h"
#include "policy/trainer.h"
#include "tests/datasets/test_util.h"

namespace dreamforge::policy {
namespace {

namespace fs = std::filesystem;
using datasets::Episode;
using datasets::EpisodeWriter;
using datasets::testing_util::MakeEpisode;
using ::testing::HasSubstr;
using ::testing::Not;

// Small images: a crop of 40 leaves the trunk a 5 x 5 map (40 -> 19 -> 9 -> 7 -> 5); the
// smallest crop it takes, 23, leaves 1 x 1, whose keypoint cannot move.
constexpr int kSide = 48;
constexpr int kCrop = 40;
const std::vector<std::string> kKeys = {"robot0_eef_pos", "agentview_image"};

// An episode whose actions depend on where a bright square sits in its image (and a little
// on time): only the image tells the policy what to do; robot0_eef_pos is noise.
Episode BlobEpisode(int n, uint64_t seed, bool with_image = true) {
  Episode ep = MakeEpisode(n, seed);
  std::mt19937_64 rng(seed * 7 + 1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const float px = u(rng), py = u(rng);
  for (int t = 0; t < n; ++t) {
    const float phase = static_cast<float>(t) / static_cast<float>(n);
    for (int k = 0; k < 6; ++k)
      ep.actions(t, k) = std::tanh(0.9f * (k % 2 ? px : py) - 0.4f * phase * px);
    ep.actions(t, 6) = px > 0 ? 1.0f : -1.0f;
  }
  if (!with_image) return ep;
  datasets::ImageSeq& im = ep.images["agentview_image"];
  im.height = im.width = kSide;
  im.channels = 3;
  im.data.assign(static_cast<size_t>(n) * kSide * kSide * 3, 20);
  const int cx = static_cast<int>((px + 1) / 2 * (kSide - 8)) + 4;
  const int cy = static_cast<int>((py + 1) / 2 * (kSide - 8)) + 4;
  for (int t = 0; t < n; ++t) {
    for (int y = cy - 3; y < cy + 3; ++y) {
      for (int x = cx - 3; x < cx + 3; ++x) {
        for (int c = 0; c < 3; ++c)
          im.data[((static_cast<size_t>(t) * kSide + y) * kSide + x) * 3 + c] = 230;
      }
    }
  }
  return ep;
}

class ImagePolicyTest : public datasets::testing_util::ScratchDirTest {
 protected:
  void SetUp() override {
    ScratchDirTest::SetUp();
    torch::set_num_threads(1);  // the same float sums every run
  }

  fs::path WriteData(int episodes, int steps, bool with_images = true) {
    const fs::path path = dir_ / (with_images ? "images.hdf5" : "plain.hdf5");
    EpisodeWriter writer(path, {{"env_name", "bottle_place"}});
    for (int i = 0; i < episodes; ++i) writer.Append(BlobEpisode(steps, 10 + i, with_images));
    const auto [train, valid] = EpisodeWriter::SplitTrainValid(episodes, 0.2);
    writer.Close(train, valid);
    return path;
  }

  static std::vector<nlohmann::json> Metrics(const fs::path& run) {
    std::vector<nlohmann::json> out;
    std::ifstream in(run / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }

  static TrainOptions Small(PolicyType type, int epochs) {
    TrainOptions o;
    o.type = type;
    o.hidden = {64, 64};
    o.epochs = epochs;
    o.batch = 32;
    o.lr = 3e-3;
    o.seed = 5;
    o.image_crop = kCrop;
    o.image_features = 16;
    o.image_keypoints = 8;
    return o;
  }

  static void ExpectSameWeights(const fs::path& a, const fs::path& b, bool same) {
    const auto pa = Policy::Load(a, "last")->net->named_parameters();
    const auto pb = Policy::Load(b, "last")->net->named_parameters();
    ASSERT_EQ(pa.size(), pb.size());
    bool all_equal = true;
    for (const auto& item : pa) {
      const bool eq = torch::equal(item.value(), pb[item.key()]);
      if (same) {
        EXPECT_TRUE(eq) << item.key();
      }
      all_equal = all_equal && eq;
    }
    if (!same) {
      EXPECT_FALSE(all_equal);
    }
  }
};

TEST_F(ImagePolicyTest, LoadsTheImagesAsBytesBesideTheNormalizedObservation) {
  const TrainingData data = LoadTrainingData(WriteData(5, 12), kKeys);
  EXPECT_EQ(data.obs_keys, std::vector<std::string>{"robot0_eef_pos"});
  EXPECT_EQ(data.normalizer.obs_keys, std::vector<std::string>{"robot0_eef_pos"});
  EXPECT_EQ(data.image_keys, std::vector<std::string>{"agentview_image"});
  ASSERT_EQ(data.images.size(), 1u);
  EXPECT_EQ(data.images[0].sizes(), (std::vector<int64_t>{60, kSide, kSide, 3}));
  EXPECT_EQ(data.images[0].scalar_type(), torch::kUInt8);
  EXPECT_EQ(data.obs.size(1), 3);
  // Row r of the images is row r of obs: the train demos first, then the valid ones.
  datasets::EpisodeReader reader(dir_ / "images.hdf5");
  const std::vector<std::string> train = reader.Mask("train");
  const Episode first = reader.ReadEpisode(train.front());
  const auto& bytes = first.images.at("agentview_image").data;
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), data.images[0].data_ptr<uint8_t>()));
}

TEST_F(ImagePolicyTest, TrainsWritesTheEncodersToRunJsonAndTheLossFalls) {
  const TrainingData data = LoadTrainingData(WriteData(20, 16), kKeys);
  const TrainResult r = Train(data, {}, Small(PolicyType::kMlp, 10), dir_ / "run");
  EXPECT_TRUE(r.finished);
  const nlohmann::json run = ReadRunJson(dir_ / "run");
  EXPECT_EQ(run["obs_keys"], nlohmann::json(kKeys));
  EXPECT_EQ(run["model"]["obs_dim"], 3);  // the runner normalizes the low-dimensional part
  ASSERT_EQ(run["images"].size(), 1u);
  const nlohmann::json& im = run["images"][0];
  EXPECT_EQ(im["key"], "agentview_image");
  EXPECT_EQ(im["shape"], nlohmann::json({kSide, kSide, 3}));
  EXPECT_EQ(im["encoder"]["image_size"], kSide);
  EXPECT_EQ(im["encoder"]["crop_size"], kCrop);
  EXPECT_EQ(im["encoder"]["feature_dim"], 16);
  EXPECT_EQ(im["encoder"]["keypoints"], 8);
  EXPECT_EQ(im["encoder"]["group_norm"], true);
  const auto m = Metrics(dir_ / "run");
  ASSERT_EQ(m.size(), 10u);
  const double first = m.front()["train_loss"], last = m.back()["train_loss"];
  EXPECT_LT(last, 0.5 * first) << "train loss " << first << " -> " << last;
  EXPECT_LT(m.back()["valid_loss"].get<double>(), m.front()["valid_loss"].get<double>());
  // Where the epoch's time went: the batches' data (rows, crops), the steps, validation.
  for (const char* part : {"data", "step", "validation"}) {
    EXPECT_GT(m.back()["time"][part].get<double>(), 0.0) << part;
  }
  EXPECT_LE(m.back()["time"]["data"].get<double>() + m.back()["time"]["step"].get<double>(),
            m.back()["seconds"].get<double>());

  // The run loads back with its encoders (weights by name, shapes checked).
  const auto policy = Policy::Load(dir_ / "run");
  ASSERT_EQ(policy->images.size(), 1u);
  EXPECT_EQ(policy->images[0].encoder.crop_size, kCrop);
  const auto params = policy->net->named_parameters();
  EXPECT_TRUE(params.contains("agentview_image.conv0.weight"));
  EXPECT_TRUE(params.contains("agentview_image.proj.weight"));
  EXPECT_EQ(params["fc0.weight"].size(1), 3 + 16);
}

TEST_F(ImagePolicyTest, TheDefaultCropIsTheImageSideLessEight) {
  const TrainingData data = LoadTrainingData(WriteData(3, 4), kKeys);
  TrainOptions o = Small(PolicyType::kMlp, 1);
  o.image_crop = 0;
  EXPECT_EQ(ImageInputsFor(data, o).at(0).encoder.crop_size, kSide - 8);
  o.image_crop = kSide + 1;
  try {
    ImageInputsFor(data, o);
    FAIL() << "a crop larger than the image was accepted";
  } catch (const PolicyError& e) {
    EXPECT_THAT(e.what(), HasSubstr("crop_size"));
    EXPECT_THAT(e.what(), HasSubstr("--image-crop"));
  }
}

TEST_F(ImagePolicyTest, TheSameSeedGivesTheSameWeights) {
  const TrainingData data = LoadTrainingData(WriteData(6, 10), kKeys);
  for (PolicyType type : {PolicyType::kMlp, PolicyType::kFlow}) {
    const std::string name = ToString(type);
    Train(data, {}, Small(type, 2), dir_ / (name + "_a"));
    Train(data, {}, Small(type, 2), dir_ / (name + "_b"));
    TrainOptions other = Small(type, 2);
    other.seed = 6;
    Train(data, {}, other, dir_ / (name + "_c"));
    SCOPED_TRACE(name);
    ExpectSameWeights(dir_ / (name + "_a"), dir_ / (name + "_b"), true);
    ExpectSameWeights(dir_ / (name + "_a"), dir_ / (name + "_c"), false);
  }
}

TEST_F(ImagePolicyTest, ColourJitterAndNoiseAreSeededChangeTrainingAndAreRecordedAndKeptOnResume) {
  const TrainingData data = LoadTrainingData(WriteData(6, 10), kKeys);
  TrainOptions aug = Small(PolicyType::kMlp, 2);
  aug.image_jitter = 0.3;
  aug.image_noise = 0.05;
  Train(data, {}, aug, dir_ / "aug_a");
  Train(data, {}, aug, dir_ / "aug_b");
  Train(data, {}, Small(PolicyType::kMlp, 2), dir_ / "plain");
  ExpectSameWeights(dir_ / "aug_a", dir_ / "aug_b", true);    // every draw from the step's seed
  ExpectSameWeights(dir_ / "aug_a", dir_ / "plain", false);  // the encoder saw other pixels
  const nlohmann::json run = ReadRunJson(dir_ / "aug_a");
  EXPECT_DOUBLE_EQ(run["train"]["image_jitter"].get<double>(), 0.3);
  EXPECT_DOUBLE_EQ(run["train"]["image_noise"].get<double>(), 0.05);
  // A resumed run keeps its augmentation: another one is refused, naming the field.
  TrainOptions first = Small(PolicyType::kMlp, 3);
  first.stop_after = 1;
  Train(data, {}, first, dir_ / "resume");
  TrainOptions changed = first;
  changed.resume = true;
  changed.image_jitter = 0.2;
  try {
    Train(data, {}, changed, dir_ / "resume");
    FAIL() << "a resume with another --image-jitter was accepted";
  } catch (const PolicyError& e) {
    EXPECT_THAT(e.what(), HasSubstr("train.image_jitter: differs"));
  }
  TrainOptions bad = Small(PolicyType::kMlp, 1);
  bad.image_jitter = 1.5;
  try {
    bad.Validate();
    FAIL() << "a jitter of 1.5 was accepted";
  } catch (const PolicyError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--image-jitter"));
  }
}

TEST_F(ImagePolicyTest, ResumeGivesTheSameWeightsAsAnUninterruptedRun) {
  const TrainingData data = LoadTrainingData(WriteData(6, 10), kKeys);
  TrainOptions o = Small(PolicyType::kMlp, 3);
  Train(data, {}, o, dir_ / "straight");
  o.stop_after = 1;
  EXPECT_FALSE(Train(data, {}, o, dir_ / "resumed").finished);
  o.stop_after = 0;
  o.resume = true;
  EXPECT_TRUE(Train(data, {}, o, dir_ / "resumed").finished);
  ExpectSameWeights(dir_ / "straight", dir_ / "resumed", true);
  // Other encoder settings are another run.
  o.image_features = 8;
  try {
    Train(data, {}, o, dir_ / "resumed");
    FAIL() << "a resume with other encoder settings was accepted";
  } catch (const PolicyError& e) {
    EXPECT_THAT(e.what(), HasSubstr("images: differs"));
  }
}

TEST_F(ImagePolicyTest, ThePredictorReadsTheFramesWithTheCentreCrop) {
  const TrainingData data = LoadTrainingData(WriteData(6, 10), kKeys);
  Train(data, {}, Small(PolicyType::kMlp, 2), dir_ / "run");
  const auto policy = Policy::Load(dir_ / "run");
  TorchPredictor predictor(*policy);
  EXPECT_FALSE(predictor.training());

  const float obs[3] = {0.1f, -0.2f, 0.3f};
  float chunk[7];
  try {
    predictor.Predict(obs, nullptr, chunk);
    FAIL() << "an image policy acted without frames";
  } catch (const PolicyError& e) {
    EXPECT_THAT(e.what(), HasSubstr("SetImages"));
  }
  const torch::Tensor image = data.images[0][3].contiguous();  // (H, W, 3) uint8
  predictor.SetImages({image.data_ptr<uint8_t>()});
  predictor.Predict(obs, nullptr, chunk);
  ASSERT_EQ(predictor.last_images().size(), 1u);
  EXPECT_EQ(predictor.last_images()[0].sizes(), (std::vector<int64_t>{1, kSide, kSide, 3}));
  EXPECT_EQ(predictor.last_images()[0].scalar_type(), torch::kUInt8);
  EXPECT_TRUE(torch::equal(predictor.last_images()[0][0], image));

  // The same as the network on the centre crop, every time.
  float again[7];
  predictor.Predict(obs, nullptr, again);
  EXPECT_TRUE(std::equal(chunk, chunk + 7, again));
  torch::NoGradGuard no_grad;
  const torch::Tensor o = torch::from_blob(const_cast<float*>(obs), {1, 3});
  const torch::Tensor batch = image.unsqueeze(0);
  Net net = policy->net;  // the loaded network, in eval mode
  const torch::Tensor expected =
      PolicyPredict(net, net->Condition(o, {CenterCrop(batch, kCrop)}), torch::Tensor());
  for (int k = 0; k < 7; ++k) EXPECT_FLOAT_EQ(chunk[k], expected[0][k].item<float>()) << k;
  // ... while in training mode the crop moves: the centre is one of 81 offsets.
  Net train_net = std::dynamic_pointer_cast<NetImpl>(policy->net->clone());
  train_net->train();
  bool differs = false;
  for (int i = 0; i < 5 && !differs; ++i) {
    const torch::Tensor y =
        PolicyPredict(train_net, train_net->Condition(o, train_net->CropImages({batch})), {});
    differs = !torch::allclose(y, expected);
  }
  EXPECT_TRUE(differs);
}

TEST_F(ImagePolicyTest, AFileWithoutTheImageKeyIsOneLineNamingFileKeyAndRender) {
  const fs::path plain = WriteData(3, 4, /*with_images=*/false);
  try {
    LoadTrainingData(plain, {"robot0_eef_pos", "agentview_image", "robot0_eye_in_hand_image"});
    FAIL() << "a file without images was accepted";
  } catch (const datasets::DatasetError& e) {
    const std::string what = e.what();
    EXPECT_THAT(what, HasSubstr(plain.string()));
    EXPECT_THAT(what, HasSubstr("'agentview_image'"));
    EXPECT_THAT(what, HasSubstr("dreamforge render " + plain.string()));
    EXPECT_THAT(what, HasSubstr("--cameras agentview,robot0_eye_in_hand"));
    EXPECT_THAT(what, Not(HasSubstr("\n")));
  }
  // A file with other cameras lists them.
  try {
    LoadTrainingData(WriteData(3, 4), {"robot0_eef_pos", "robot0_eye_in_hand_image"});
    FAIL() << "a missing camera was accepted";
  } catch (const datasets::DatasetError& e) {
    EXPECT_THAT(e.what(), HasSubstr("its image keys: agentview_image"));
  }
}

TEST_F(ImagePolicyTest, RefusesImagesOverTheMemoryLimitAndOnlyImageKeys) {
  const fs::path file = WriteData(3, 4);
  try {
    LoadTrainingData(file, kKeys, {}, /*max_image_bytes=*/1000);
    FAIL() << "images over the limit were loaded";
  } catch (const PolicyError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--image-memory"));
    EXPECT_THAT(e.what(), HasSubstr(file.string()));
  }
  // 12 samples x 48 x 48 x 3 bytes fit exactly.
  EXPECT_NO_THROW(LoadTrainingData(file, kKeys, {}, 12 * kSide * kSide * 3));
  try {
    LoadTrainingData(file, {"agentview_image"});
    FAIL() << "only image keys were accepted";
  } catch (const PolicyError& e) {
    EXPECT_THAT(e.what(), HasSubstr("low-dimensional"));
  }
}

TEST_F(ImagePolicyTest, RunJsonImagesAreValidatedOnLoad) {
  const TrainingData data = LoadTrainingData(WriteData(3, 4), kKeys);
  Train(data, {}, Small(PolicyType::kMlp, 1), dir_ / "run");
  nlohmann::json run = ReadRunJson(dir_ / "run");
  run["images"][0]["encoder"]["crop_size"] = kSide + 4;
  std::ofstream(dir_ / "run" / "run.json") << run.dump(2);
  try {
    Policy::Load(dir_ / "run");
    FAIL() << "a crop larger than the image was loaded";
  } catch (const PolicyError& e) {
    EXPECT_THAT(e.what(), HasSubstr("run.json"));
    EXPECT_THAT(e.what(), HasSubstr("images[0].encoder.crop_size"));
  }
}

}  // namespace
}  // namespace dreamforge::policy
