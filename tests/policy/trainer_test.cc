// Training on small synthetic episode files: the loss falls, a tiny dataset is overfit,
// --resume reproduces the uninterrupted run, bad inputs are refused with a clear message.
#include "policy/trainer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "datasets/episode_store.h"
#include "robot/gripper_latch.h"
#include "tests/datasets/test_util.h"

namespace dreamforge::policy {
namespace {

namespace fs = std::filesystem;
using datasets::Episode;
using datasets::EpisodeWriter;
using datasets::testing_util::MakeEpisode;
using ::testing::HasSubstr;

const std::vector<std::string> kKeys = {"robot0_eef_pos", "object"};  // MakeEpisode's

// Episodes whose actions are a fixed smooth function of the observation (learnable), the
// gripper column a sign. The object features are constant within an episode and the
// actions depend on them (and slowly on time) only, so that a chunk of future actions is
// predictable from the current observation, as in a real task.
Episode LearnableEpisode(int n, uint64_t seed) {
  Episode ep = MakeEpisode(n, seed);
  auto& o = ep.obs["object"];
  for (int t = 1; t < n; ++t) o.row(t) = o.row(0);
  for (int t = 0; t < n; ++t) {
    const float phase = static_cast<float>(t) / static_cast<float>(n);
    for (int k = 0; k < 6; ++k) {
      ep.actions(t, k) = std::tanh(0.8f * o(0, k) - 0.5f * o(0, k + 3) + 0.3f * phase * o(0, (k + 5) % 10));
    }
    ep.actions(t, 6) = o(0, 9) > 0 ? 1.0f : -1.0f;
  }
  return ep;
}

class TrainerTest : public datasets::testing_util::ScratchDirTest {
 protected:
  fs::path WriteData(int episodes, int steps, double valid_fraction = 0.2) {
    const fs::path path = dir_ / "data.hdf5";
    EpisodeWriter writer(path, {{"env_name", "bottle_place"}});
    for (int i = 0; i < episodes; ++i) writer.Append(LearnableEpisode(steps, 10 + i));
    const auto [train, valid] = EpisodeWriter::SplitTrainValid(episodes, valid_fraction);
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
    o.checkpoint_every = 2;
    return o;
  }
};

class TrainerTypeTest : public TrainerTest, public ::testing::WithParamInterface<PolicyType> {};

TEST_P(TrainerTypeTest, LossFallsOnASmallDataset) {
  const TrainingData data = LoadTrainingData(WriteData(30, 20), kKeys);
  // The flow head learns a velocity field over noise: it needs more steps than mlp.
  const int epochs = GetParam() == PolicyType::kMlp ? 12 : 40;
  const TrainResult r = Train(data, {}, Small(GetParam(), epochs), dir_ / "run");
  EXPECT_TRUE(r.finished);
  const auto m = Metrics(dir_ / "run");
  ASSERT_EQ(m.size(), static_cast<size_t>(epochs));
  const double first = m.front()["train_loss"], last = m.back()["train_loss"];
  EXPECT_LT(last, 0.5 * first) << "train loss " << first << " -> " << last;
  EXPECT_LT(m.back()["valid_loss"].get<double>(), m.front()["valid_loss"].get<double>());
  EXPECT_TRUE(fs::exists(dir_ / "run" / "best.pt"));
  EXPECT_TRUE(fs::exists(dir_ / "run" / "checkpoints" / "epoch_0002.pt"));
  EXPECT_TRUE(fs::exists(dir_ / "run" / "checkpoints" / "last.pt"));
}

TEST_P(TrainerTypeTest, OverfitsATinyDataset) {
  const fs::path file = WriteData(2, 6, 0.0);
  const TrainingData data = LoadTrainingData(file, kKeys);
  TrainOptions o = Small(GetParam(), GetParam() == PolicyType::kMlp ? 400 : 1500);
  o.hidden = {128, 128};
  o.batch = 12;
  Train(data, {}, o, dir_ / "run");
  const auto policy = Policy::Load(dir_ / "run", "last");
  datasets::EpisodeReader reader(file);
  double worst = 0;
  for (int e = 0; e < 2; ++e) {
    const Episode ep = reader.ReadEpisode(e);
    const auto runner = MakeRunner(*policy, 7);
    for (int t = 0; t < ep.num_samples(); ++t) {
      std::map<std::string, Eigen::VectorXf> obs;
      for (const auto& key : kKeys) obs[key] = ep.obs.at(key).row(t).transpose();
      runner->Reset(7);  // re-plan at every step: the chunk's first action is step t's
      robot::Vector7f a;
      ASSERT_EQ(runner->Act(FlatObservation(*policy, obs).data(), &a), robot::RunnerStatus::kOk);
      worst = std::max(worst, static_cast<double>((a - ep.actions.row(t).transpose()).cwiseAbs().maxCoeff()));
    }
  }
  EXPECT_LT(worst, GetParam() == PolicyType::kMlp ? 0.05 : 0.1);
}

TEST_P(TrainerTypeTest, ResumeGivesTheSameWeightsAsAnUninterruptedRun) {
  const TrainingData data = LoadTrainingData(WriteData(12, 10), kKeys);
  TrainOptions o = Small(GetParam(), 4);
  Train(data, {}, o, dir_ / "straight");
  o.stop_after = 2;
  const TrainResult first = Train(data, {}, o, dir_ / "resumed");
  EXPECT_FALSE(first.finished);
  EXPECT_EQ(first.epochs_done, 2);
  o.stop_after = 0;
  o.resume = true;
  const TrainResult second = Train(data, {}, o, dir_ / "resumed");
  EXPECT_TRUE(second.finished);

  const auto a = Policy::Load(dir_ / "straight", "last");
  const auto b = Policy::Load(dir_ / "resumed", "last");
  const auto pa = a->net->named_parameters(), pb = b->net->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa) {
    EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  }
  const auto ma = Metrics(dir_ / "straight"), mb = Metrics(dir_ / "resumed");
  ASSERT_EQ(ma.size(), 4u);
  ASSERT_EQ(mb.size(), 4u);
  for (size_t i = 0; i < ma.size(); ++i) {
    EXPECT_EQ(ma[i]["train_loss"], mb[i]["train_loss"]) << "epoch " << i + 1;
    EXPECT_EQ(ma[i]["valid_loss"], mb[i]["valid_loss"]) << "epoch " << i + 1;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, TrainerTypeTest, ::testing::Values(PolicyType::kMlp, PolicyType::kFlow),
                         [](const auto& info) { return ToString(info.param); });

TEST_F(TrainerTest, SameSeedSameWeightsOtherSeedOtherWeights) {
  const TrainingData data = LoadTrainingData(WriteData(8, 10), kKeys);
  TrainOptions o = Small(PolicyType::kMlp, 2);
  Train(data, {}, o, dir_ / "a");
  Train(data, {}, o, dir_ / "b");
  o.seed = 1;
  Train(data, {}, o, dir_ / "c");
  const auto a = Policy::Load(dir_ / "a", "last"), b = Policy::Load(dir_ / "b", "last"),
             c = Policy::Load(dir_ / "c", "last");
  EXPECT_TRUE(torch::equal(a->net->named_parameters()["fc0.weight"], b->net->named_parameters()["fc0.weight"]));
  EXPECT_FALSE(torch::equal(a->net->named_parameters()["fc0.weight"], c->net->named_parameters()["fc0.weight"]));
}

TEST_F(TrainerTest, ChunksRepeatTheLastActionOfTheirOwnDemo) {
  const TrainingData data = LoadTrainingData(WriteData(3, 5, 0.0), kKeys);
  const torch::Tensor chunks = data.Chunks(torch::tensor({3, 5}, torch::kInt64), 4);  // demo_0 step 3, demo_1 step 0
  ASSERT_EQ(chunks.size(1), 28);
  auto act = [&](int64_t row, int k) { return data.actions[row][k].item<float>(); };
  for (int k = 0; k < 7; ++k) {
    EXPECT_EQ(chunks[0][k].item<float>(), act(3, k));
    for (int h = 1; h < 4; ++h) EXPECT_EQ(chunks[0][7 * h + k].item<float>(), act(4, k)) << h;  // padded
    for (int h = 0; h < 4; ++h) EXPECT_EQ(chunks[1][7 * h + k].item<float>(), act(5 + h, k));
  }
}

TEST_F(TrainerTest, AnEmptyTrainMaskNamesTheFileAndMask) {
  const fs::path path = dir_ / "empty.hdf5";
  EpisodeWriter writer(path, {{"env_name", "bottle_place"}});
  writer.Append(LearnableEpisode(5, 1));
  writer.Close({}, {"demo_0"});
  try {
    LoadTrainingData(path, kKeys);
    FAIL() << "no error";
  } catch (const datasets::DatasetError& e) {
    EXPECT_THAT(e.what(), HasSubstr("empty.hdf5"));
    EXPECT_THAT(e.what(), HasSubstr("mask/train"));
  }
}

TEST_F(TrainerTest, AMissingFileIsNamed) {
  EXPECT_THROW(
      {
        try {
          LoadTrainingData(dir_ / "nope.hdf5", kKeys);
        } catch (const datasets::DatasetError& e) {
          EXPECT_THAT(e.what(), HasSubstr("nope.hdf5"));
          throw;
        }
      },
      datasets::DatasetError);
}

TEST_F(TrainerTest, DimensionMismatchesAreNamed) {
  const TrainingData data = LoadTrainingData(WriteData(4, 5), kKeys);
  Train(data, {}, Small(PolicyType::kMlp, 1), dir_ / "run");
  // An observation of the wrong width reaching the policy.
  const auto policy = Policy::Load(dir_ / "run");
  std::map<std::string, Eigen::VectorXf> obs = {{"robot0_eef_pos", Eigen::VectorXf::Zero(3)},
                                                {"object", Eigen::VectorXf::Zero(9)}};
  try {
    FlatObservation(*policy, obs);
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("object"));
  }
  // A run whose model disagrees with its normalization.
  std::ifstream in(dir_ / "run" / "run.json");
  nlohmann::json run = nlohmann::json::parse(in);
  run["model"]["obs_dim"] = 12;
  std::ofstream(dir_ / "run" / "run.json") << run.dump();
  try {
    Policy::Load(dir_ / "run");
    FAIL() << "no error";
  } catch (const PolicyError& e) {
    EXPECT_THAT(e.what(), HasSubstr("run.json"));
    EXPECT_THAT(e.what(), HasSubstr("model.obs_dim"));
  }
  // Resuming on data of another width.
  const fs::path other = dir_ / "other.hdf5";
  {
    EpisodeWriter writer(other, {{"env_name", "bottle_place"}});
    for (int i = 0; i < 4; ++i) writer.Append(LearnableEpisode(5, 50 + i));
    writer.Close({"demo_0", "demo_1", "demo_2"}, {"demo_3"});
  }
  TrainOptions o = Small(PolicyType::kMlp, 2);
  o.resume = true;
  const TrainingData narrow = LoadTrainingData(other, {"robot0_eef_pos"});
  try {
    Train(narrow, {}, o, dir_ / "run");
    FAIL() << "no error";
  } catch (const PolicyError& e) {
    EXPECT_THAT(e.what(), HasSubstr("run.json"));
  }
}

// run.json edited to another width than its checkpoint: LibTorch would load the stored
// shapes silently (eval ran, export refused); Policy::Load, used by both, refuses it.
TEST_F(TrainerTest, ARunJsonWidthThatDisagreesWithTheCheckpointIsRefused) {
  const TrainingData data = LoadTrainingData(WriteData(4, 5), kKeys);
  Train(data, {}, Small(PolicyType::kMlp, 1), dir_ / "run");
  for (const char* checkpoint : {"best", "last"}) EXPECT_NO_THROW(Policy::Load(dir_ / "run", checkpoint));
  std::ifstream in(dir_ / "run" / "run.json");
  nlohmann::json run = nlohmann::json::parse(in);
  run["model"]["hidden"] = {32, 64};
  std::ofstream(dir_ / "run" / "run.json") << run.dump();
  for (const char* checkpoint : {"best", "last"}) {
    try {
      Policy::Load(dir_ / "run", checkpoint);
      ADD_FAILURE() << checkpoint << ": no error";
    } catch (const PolicyError& e) {
      EXPECT_THAT(e.what(), HasSubstr(": fc0.weight: shape [64, 13], but " + (dir_ / "run" / "run.json").string() +
                                      " model (hidden [32, 64]) needs [32, 13]"));
    }
  }
}

// run.json records the LibTorch that wrote the checkpoints; one of another major version
// is refused before LibTorch opens the archive (2.x aborted the process on 1.13's).
TEST_F(TrainerTest, ACheckpointOfAnotherLibTorchMajorVersionIsRefusedNamingBoth) {
  const TrainingData data = LoadTrainingData(WriteData(4, 10), kKeys);
  TrainOptions o = Small(PolicyType::kMlp, 1);
  Train(data, {}, o, dir_ / "run");
  nlohmann::json run = ReadRunJson(dir_ / "run");
  EXPECT_EQ(run["libtorch"], LibTorchVersion());
  EXPECT_NO_THROW(Policy::Load(dir_ / "run", "last"));
  run["libtorch"] = "9.1.0";
  std::ofstream(dir_ / "run" / "run.json") << run.dump(2);
  for (const char* checkpoint : {"last", "best"}) {
    try {
      Policy::Load(dir_ / "run", checkpoint);
      FAIL() << checkpoint << " loaded";
    } catch (const PolicyError& e) {
      EXPECT_THAT(e.what(), HasSubstr("written by LibTorch 9.1.0 (run.json libtorch), but this dreamforge links LibTorch " +
                                      LibTorchVersion()));
    }
  }
  o.resume = true;
  o.epochs = 2;
  try {
    Train(data, {}, o, dir_ / "run");
    FAIL() << "resumed";
  } catch (const PolicyError& e) {
    EXPECT_THAT(e.what(), HasSubstr("last.pt: written by LibTorch 9.1.0"));
  }
}

TEST_F(TrainerTest, AnExistingRunIsNotOverwrittenWithoutResume) {
  const TrainingData data = LoadTrainingData(WriteData(4, 5), kKeys);
  Train(data, {}, Small(PolicyType::kMlp, 1), dir_ / "run");
  try {
    Train(data, {}, Small(PolicyType::kMlp, 1), dir_ / "run");
    FAIL() << "no error";
  } catch (const PolicyError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--resume"));
  }
}

TEST_F(TrainerTest, BestFollowsRolloutSuccessWhenThereIsOne) {
  const TrainingData data = LoadTrainingData(WriteData(6, 5), kKeys);
  TrainOptions o = Small(PolicyType::kMlp, 4);
  o.eval_every = 1;
  TrainHooks hooks;
  const std::vector<double> rates = {0.2, 0.7, 0.5, 0.6};
  int calls = 0;
  hooks.rollout_eval = [&](const std::shared_ptr<const Policy>& p, int epoch) {
    EXPECT_EQ(p->model.type, PolicyType::kMlp);
    ++calls;
    return rates[epoch - 1];
  };
  const TrainResult r = Train(data, {}, o, dir_ / "run", hooks);
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(r.best_epoch, 2);
  EXPECT_EQ(r.best_criterion, "success_rate");
  EXPECT_DOUBLE_EQ(r.best_value, 0.7);
  const auto m = Metrics(dir_ / "run");
  EXPECT_EQ(m[1]["success_rate"].get<double>(), 0.7);
  EXPECT_TRUE(m[1]["best"].get<bool>());
  EXPECT_FALSE(m[3]["best"].get<bool>());
}

TEST_F(TrainerTest, BadOptionsNameTheOption) {
  const TrainingData data = LoadTrainingData(WriteData(4, 5), kKeys);
  TrainOptions o = Small(PolicyType::kMlp, 1);
  o.batch = 0;
  EXPECT_THROW(Train(data, {}, o, dir_ / "run"), PolicyError);
  o = Small(PolicyType::kMlp, 1);
  o.device = "tpu";
  try {
    Train(data, {}, o, dir_ / "run");
    FAIL() << "no error";
  } catch (const PolicyError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--device"));
  }
}

// The latch: switches when the other state's probability passes the threshold, then holds.
TEST(GripperLatchTest, SwitchesPastTheThresholdThenHolds) {
  robot::GripperLatch latch;
  const auto step = [&](double p_closed) { return latch.Step(static_cast<float>(2 * p_closed - 1), 0.2, 4); };
  EXPECT_EQ(step(0.0), -1.0f);   // starts open
  EXPECT_EQ(step(0.15), -1.0f);  // closed at 15%: not enough
  EXPECT_EQ(step(0.3), 1.0f);    // 30% at a grasp pose: closes (the sign would wait)
  EXPECT_EQ(step(0.0), 1.0f);    // held for 4 steps, whatever the policy says
  EXPECT_EQ(step(0.0), 1.0f);
  EXPECT_EQ(step(0.0), 1.0f);
  EXPECT_EQ(step(0.9), 1.0f);    // open at 10% in transport: stays closed (sampling would not)
  EXPECT_EQ(step(0.7), -1.0f);   // open at 30%: opens
  latch.Reset();
  EXPECT_EQ(latch.state, -1.0f);
  EXPECT_EQ(step(0.25), 1.0f);  // no hold after a reset
}

TEST(GripperLatchTest, ModelJsonCarriesTheLatchAndNamesBadFields) {
  ModelConfig c = ModelConfig::Default(PolicyType::kFlow, 25);
  EXPECT_EQ(c.gripper, GripperMode::kLatch);
  EXPECT_EQ(c.execute, 2);
  c.gripper_switch = 0.3;
  c.gripper_hold = 6;
  const ModelConfig back = ModelConfig::FromJson(c.ToJson(), "run.json");
  EXPECT_EQ(back.gripper, GripperMode::kLatch);
  EXPECT_DOUBLE_EQ(back.gripper_switch, 0.3);
  EXPECT_EQ(back.gripper_hold, 6);
  nlohmann::json j = c.ToJson();
  j["gripper_switch"] = 1.5;
  try {
    ModelConfig::FromJson(j, "run.json");
    FAIL() << "no error";
  } catch (const robot::BundleError& e) {
    EXPECT_THAT(e.what(), HasSubstr("run.json"));
    EXPECT_THAT(e.what(), HasSubstr("gripper_switch"));
  }
  j = c.ToJson();
  j["gripper"] = "maybe";
  EXPECT_THROW(ModelConfig::FromJson(j, "run.json"), robot::BundleError);
  EXPECT_THROW(ModelFromRunJson(j, "run.json"), PolicyError);
  // A run written before the latch existed (no latch fields) reads with the defaults.
  j = c.ToJson();
  j["gripper"] = "sample";
  j.erase("gripper_switch");
  j.erase("gripper_hold");
  j.erase("time_features");
  const ModelConfig old = ModelFromRunJson(j, "run.json");
  EXPECT_EQ(old.gripper, GripperMode::kSample);
  EXPECT_EQ(old.gripper_hold, 4);
}

}  // namespace
}  // namespace dreamforge::policy
