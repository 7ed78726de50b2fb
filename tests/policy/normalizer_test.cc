#include "policy/normalizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "tests/datasets/test_util.h"

namespace dreamforge::policy {
namespace {

namespace fs = std::filesystem;
using datasets::DatasetError;
using datasets::Episode;
using datasets::EpisodeReader;
using datasets::EpisodeWriter;
using datasets::testing_util::MakeEpisode;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// MakeEpisode's obs keys, deliberately not in alphabetical order.
const std::vector<std::string> kKeys = {"robot0_eef_pos", "object"};

class NormalizerTest : public datasets::testing_util::ScratchDirTest {
 protected:
  fs::path Write(const std::vector<Episode>& episodes, const std::vector<std::string>& train,
                 const std::vector<std::string>& valid) {
    const fs::path path = dir_ / "episodes.hdf5";
    EpisodeWriter writer(path, {{"env_name", "Lift"}});
    for (const Episode& ep : episodes) writer.Append(ep);
    writer.Close(train, valid);
    return path;
  }

  // demo_0, demo_1, demo_3 train; demo_2 valid and wildly different from the others.
  fs::path WriteWithWildValidDemo() {
    std::vector<Episode> eps = {MakeEpisode(7, 1), MakeEpisode(5, 2), MakeEpisode(6, 3),
                                MakeEpisode(4, 4)};
    Episode& wild = eps[2];
    wild.actions = (wild.actions.array() * 1000.0f + 500.0f).matrix();
    for (auto& [key, m] : wild.obs) m = (m.array() * 1000.0f - 300.0f).matrix();
    return Write(eps, {"demo_0", "demo_1", "demo_3"}, {"demo_2"});
  }
};

// Straightforward statistics of the rows of all `blocks` stacked.
FeatureStats Direct(const std::vector<datasets::MatrixRXf>& blocks) {
  Eigen::Index rows = 0;
  for (const auto& b : blocks) rows += b.rows();
  Eigen::MatrixXd all(rows, blocks.front().cols());
  Eigen::Index r = 0;
  for (const auto& b : blocks) {
    all.middleRows(r, b.rows()) = b.cast<double>();
    r += b.rows();
  }
  FeatureStats s;
  s.mean = all.colwise().mean().transpose();
  s.std = ((all.rowwise() - s.mean.transpose()).array().square().colwise().sum() /
           static_cast<double>(rows))
              .sqrt()
              .transpose();
  s.min = all.colwise().minCoeff().transpose();
  s.max = all.colwise().maxCoeff().transpose();
  return s;
}

void ExpectStatsNear(const FeatureStats& actual, const FeatureStats& expected, double tol) {
  ASSERT_EQ(actual.dim(), expected.dim());
  for (int i = 0; i < expected.dim(); ++i) {
    EXPECT_NEAR(actual.mean[i], expected.mean[i], tol) << "mean[" << i << "]";
    EXPECT_NEAR(actual.std[i], expected.std[i], tol) << "std[" << i << "]";
    EXPECT_EQ(actual.min[i], expected.min[i]) << "min[" << i << "]";
    EXPECT_EQ(actual.max[i], expected.max[i]) << "max[" << i << "]";
  }
}

TEST_F(NormalizerTest, StatsEqualDirectComputationOverTrainDemosOnly) {
  const fs::path path = WriteWithWildValidDemo();
  EpisodeReader reader(path);
  const Normalizer n = ComputeNormalizer(reader, kKeys);

  std::vector<datasets::MatrixRXf> actions;
  std::map<std::string, std::vector<datasets::MatrixRXf>> obs;
  for (const char* name : {"demo_0", "demo_1", "demo_3"}) {
    const Episode ep = reader.ReadEpisode(name);
    actions.push_back(ep.actions);
    for (const std::string& key : kKeys) obs[key].push_back(ep.obs.at(key));
  }
  EXPECT_EQ(n.obs_keys, kKeys);
  ASSERT_EQ(n.obs.size(), 2u);
  for (const std::string& key : kKeys) {
    SCOPED_TRACE(key);
    ExpectStatsNear(n.obs.at(key), Direct(obs[key]), 1e-12);
  }
  ExpectStatsNear(n.action, Direct(actions), 1e-12);
  EXPECT_EQ(n.ObsDim(), 3 + 10);
  // Train values are in [-1, 1]; the valid demo's are hundreds away.
  EXPECT_LE(n.action.max.maxCoeff(), 1.0);
  EXPECT_GE(n.obs.at("object").min.minCoeff(), -1.0);
}

TEST_F(NormalizerTest, ConstantDimensionsAreFlooredAndMapToZero) {
  std::vector<Episode> eps = {MakeEpisode(6, 1), MakeEpisode(4, 2)};
  for (Episode& ep : eps) {
    ep.obs["object"].col(0).setConstant(0.5f);
    ep.actions.col(6).setConstant(1.0f);  // gripper always closed
  }
  EpisodeReader reader(Write(eps, {"demo_0", "demo_1"}, {}));
  const Normalizer n = ComputeNormalizer(reader, kKeys);
  EXPECT_EQ(n.obs.at("object").std[0], Normalizer::kStdFloor);
  EXPECT_GT(n.obs.at("object").std[1], 0.1);

  std::map<std::string, Eigen::VectorXf> x = {
      {"robot0_eef_pos", n.obs.at("robot0_eef_pos").mean.cast<float>()},
      {"object", n.obs.at("object").mean.cast<float>()}};
  x["object"][0] = 0.5f;
  EXPECT_NEAR(n.NormalizeObs(x)[3], 0.0f, 1e-6f);

  Eigen::VectorXf a = eps[0].actions.row(0).transpose();
  const Eigen::VectorXf y = n.NormalizeAction(a);
  EXPECT_EQ(y[6], 0.0f);
  EXPECT_TRUE(y.allFinite());
  EXPECT_NEAR((n.DenormalizeAction(y) - a).cwiseAbs().maxCoeff(), 0.0f, 1e-6f);
}

TEST_F(NormalizerTest, ActionRoundTrip) {
  EpisodeReader reader(WriteWithWildValidDemo());
  const Normalizer n = ComputeNormalizer(reader, kKeys);
  const Eigen::VectorXf lo = n.action.min.cast<float>();
  const Eigen::VectorXf hi = n.action.max.cast<float>();
  EXPECT_NEAR((n.NormalizeAction(lo).array() + 1.0f).abs().maxCoeff(), 0.0f, 1e-6f);
  EXPECT_NEAR((n.NormalizeAction(hi).array() - 1.0f).abs().maxCoeff(), 0.0f, 1e-6f);

  std::mt19937_64 rng(7);
  std::uniform_real_distribution<float> u(-1.5f, 1.5f);  // also outside the training range
  for (int trial = 0; trial < 200; ++trial) {
    Eigen::VectorXf a(7);
    for (int i = 0; i < 7; ++i) a[i] = u(rng);
    const Eigen::VectorXf y = n.NormalizeAction(a);
    const Eigen::VectorXf back = n.DenormalizeAction(y);
    ASSERT_LE((back - a).cwiseAbs().maxCoeff(), 1e-6f) << "trial " << trial;
    // And the other way round.
    ASSERT_LE((n.NormalizeAction(n.DenormalizeAction(a)) - a).cwiseAbs().maxCoeff(), 1e-6f);
  }
  EXPECT_THROW(n.NormalizeAction(Eigen::VectorXf::Zero(6)), std::invalid_argument);
  EXPECT_THROW(n.DenormalizeAction(Eigen::VectorXf::Zero(8)), std::invalid_argument);
}

TEST_F(NormalizerTest, NormalizeObsOfMeanIsZeroInKeyOrder) {
  EpisodeReader reader(WriteWithWildValidDemo());
  const Normalizer n = ComputeNormalizer(reader, kKeys);
  const FeatureStats& eef = n.obs.at("robot0_eef_pos");
  const FeatureStats& object = n.obs.at("object");
  std::map<std::string, Eigen::VectorXf> x = {{"robot0_eef_pos", eef.mean.cast<float>()},
                                              {"object", object.mean.cast<float>()},
                                              {"ignored_extra_key", Eigen::VectorXf::Ones(2)}};
  const Eigen::VectorXf z = n.NormalizeObs(x);
  ASSERT_EQ(z.size(), 13);
  EXPECT_LT(z.cwiseAbs().maxCoeff(), 1e-5f);

  // Flattened in obs_keys order: robot0_eef_pos (3) first, then object (10).
  x["robot0_eef_pos"] = (eef.mean + eef.std).cast<float>();
  x["object"] = (object.mean - 2.0 * object.std).cast<float>();
  const Eigen::VectorXf z2 = n.NormalizeObs(x);
  EXPECT_LT((z2.head(3).array() - 1.0f).abs().maxCoeff(), 1e-5f);
  EXPECT_LT((z2.tail(10).array() + 2.0f).abs().maxCoeff(), 1e-5f);

  x.erase("object");
  EXPECT_THAT([&] { n.NormalizeObs(x); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("'object'")));
  x["object"] = Eigen::VectorXf::Zero(9);
  EXPECT_THAT([&] { n.NormalizeObs(x); },
              ThrowsMessage<std::invalid_argument>(HasSubstr("expected width 10, got 9")));
}

TEST_F(NormalizerTest, JsonRoundTripIsExact) {
  EpisodeReader reader(WriteWithWildValidDemo());
  const Normalizer n = ComputeNormalizer(reader, kKeys);
  const nlohmann::json j = n.ToJson();
  const Normalizer m = Normalizer::FromJson(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(m.obs_keys, n.obs_keys);
  ASSERT_EQ(m.obs.size(), n.obs.size());
  auto same = [](const FeatureStats& a, const FeatureStats& b) {
    return a.mean == b.mean && a.std == b.std && a.min == b.min && a.max == b.max;
  };
  for (const std::string& key : kKeys) EXPECT_TRUE(same(m.obs.at(key), n.obs.at(key))) << key;
  EXPECT_TRUE(same(m.action, n.action));
  EXPECT_EQ(m.ToJson(), j);
  EXPECT_EQ(j.at("obs_keys"), nlohmann::json(kKeys));
}

TEST_F(NormalizerTest, FromJsonNamesTheBadField) {
  EpisodeReader reader(WriteWithWildValidDemo());
  const nlohmann::json good = ComputeNormalizer(reader, kKeys).ToJson();
  auto expect_error = [&](const std::function<void(nlohmann::json&)>& edit,
                          const std::string& message) {
    nlohmann::json j = good;
    edit(j);
    EXPECT_THAT([&] { Normalizer::FromJson(j); },
                ThrowsMessage<std::invalid_argument>(HasSubstr(message)));
  };
  expect_error([](nlohmann::json& j) { j.erase("action"); }, "normalizer: action: missing");
  expect_error([](nlohmann::json& j) { j["obs"]["object"]["std"].erase(0); },
               "obs.object.std: expected 10 numbers, got 9");
  expect_error([](nlohmann::json& j) { j["obs"]["robot0_eef_pos"]["std"][1] = -1.0; },
               "obs.robot0_eef_pos.std[1]");
  expect_error([](nlohmann::json& j) { j["obs"]["object"]["max"][2] = "x"; },
               "obs.object.max[2]: expected a number");
  expect_error([](nlohmann::json& j) { j["action"]["mean"].erase(0); }, "action.mean");
  expect_error([](nlohmann::json& j) { j["obs_keys"].push_back("gripper"); },
               "obs.gripper: missing");
  expect_error([](nlohmann::json& j) { j["obs"]["extra"] = j["obs"]["object"]; },
               "obs.extra: not listed in obs_keys");
  expect_error([](nlohmann::json& j) { j["obs_mode"] = "min_max"; }, "obs_mode");
  expect_error([](nlohmann::json& j) { j = nlohmann::json::array(); }, "expected an object");
}

TEST_F(NormalizerTest, EmptyTrainMaskNamesTheFile) {
  const fs::path path = Write({MakeEpisode(3, 1), MakeEpisode(4, 2)}, {}, {"demo_0", "demo_1"});
  EpisodeReader reader(path);
  EXPECT_THAT([&] { ComputeNormalizer(reader, kKeys); },
              ThrowsMessage<DatasetError>(HasSubstr(path.string() + ": /mask/train")));
}

TEST_F(NormalizerTest, UnknownKeyNamesTheKey) {
  const fs::path path = WriteWithWildValidDemo();
  EpisodeReader reader(path);
  EXPECT_THAT(
      [&] {
        ComputeNormalizer(reader, {"robot0_eef_pos", "robot0_bogus"});
      },
      ThrowsMessage<DatasetError>(HasSubstr("'robot0_bogus' is not in the file")));
  EXPECT_THAT([&] { ComputeNormalizer(reader, {"robot0_bogus"}); },
              ThrowsMessage<DatasetError>(HasSubstr(path.string())));
  EXPECT_THROW(ComputeNormalizer(reader, {}), std::invalid_argument);
  EXPECT_THROW(ComputeNormalizer(reader, {"object", "object"}), std::invalid_argument);
}

}  // namespace
}  // namespace dreamforge::policy
