#include "datasets/episode_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <H5Cpp.h>

#include <fstream>
#include <functional>
#include <limits>

#include "tests/datasets/test_util.h"

namespace dreamforge::datasets {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testing_util::BitwiseEqual;
using testing_util::MakeEpisode;

const nlohmann::json kEnvArgs = {{"env_name", "Lift"}, {"type", 1}, {"control_hz", 20}};

class EpisodeStoreTest : public testing_util::ScratchDirTest {
 protected:
  // Writes episodes of the given lengths (seeds 100, 101, ...), split by SplitTrainValid.
  fs::path WriteFile(const std::vector<int>& lengths, const std::string& name = "demo.hdf5") {
    const fs::path path = dir_ / name;
    EpisodeWriter writer(path, kEnvArgs);
    for (std::size_t i = 0; i < lengths.size(); ++i) {
      writer.Append(MakeEpisode(lengths[i], 100 + i));
    }
    const auto [train, valid] = EpisodeWriter::SplitTrainValid(static_cast<int>(lengths.size()));
    writer.Close(train, valid);
    return path;
  }

  // Opens a valid file read-write with the HDF5 C++ API and lets `edit` break it.
  static void Mutate(const fs::path& path, const std::function<void(H5::H5File&)>& edit) {
    H5::H5File file(path.string(), H5F_ACC_RDWR);
    edit(file);
    file.close();
  }

  static void ExpectOpenFails(const fs::path& path, const std::string& message) {
    EXPECT_THAT([&] { EpisodeReader reader(path); },
                ThrowsMessage<DatasetError>(HasSubstr(message)));
    EXPECT_THAT([&] { EpisodeReader reader(path); },
                ThrowsMessage<DatasetError>(HasSubstr(path.string())));
  }
};

void ExpectEpisodesBitwiseEqual(const Episode& a, const Episode& b) {
  EXPECT_TRUE(BitwiseEqual(a.actions, b.actions));
  EXPECT_TRUE(BitwiseEqual(a.rewards, b.rewards));
  EXPECT_EQ(a.dones, b.dones);
  EXPECT_TRUE(BitwiseEqual(a.states, b.states));
  ASSERT_EQ(a.obs.size(), b.obs.size());
  for (const auto& [key, m] : a.obs) {
    ASSERT_EQ(b.obs.count(key), 1u) << key;
    EXPECT_TRUE(BitwiseEqual(m, b.obs.at(key))) << key;
    EXPECT_EQ(m.cols(), b.obs.at(key).cols()) << key;
  }
  ASSERT_EQ(a.next_obs.size(), b.next_obs.size());
  for (const auto& [key, m] : a.next_obs) {
    ASSERT_EQ(b.next_obs.count(key), 1u) << key;
    EXPECT_TRUE(BitwiseEqual(m, b.next_obs.at(key))) << key;
  }
  EXPECT_TRUE(BitwiseEqual(a.eef_pose, b.eef_pose));
  ASSERT_EQ(a.object_poses.size(), b.object_poses.size());
  for (const auto& [name, m] : a.object_poses) {
    ASSERT_EQ(b.object_poses.count(name), 1u) << name;
    EXPECT_TRUE(BitwiseEqual(m, b.object_poses.at(name))) << name;
  }
  EXPECT_EQ(a.subtask_term_signals, b.subtask_term_signals);
  EXPECT_EQ(a.scene_key, b.scene_key);
  EXPECT_EQ(a.source_demo, b.source_demo);
  EXPECT_EQ(a.perturbation, b.perturbation);
  EXPECT_EQ(a.success, b.success);
}

TEST_F(EpisodeStoreTest, RoundTripOfThreeEpisodesIsBitwiseExact) {
  const std::vector<int> lengths = {5, 8, 3};
  const fs::path path = dir_ / "demo.hdf5";
  {
    EpisodeWriter writer(path, kEnvArgs);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(writer.Append(MakeEpisode(lengths[i], 100 + i)), "demo_" + std::to_string(i));
    }
    EXPECT_EQ(writer.num_episodes(), 3);
    writer.Close({"demo_0", "demo_2"}, {"demo_1"});
  }
  EpisodeReader reader(path);
  EXPECT_EQ(reader.num_episodes(), 3);
  EXPECT_EQ(reader.num_samples(), 16);
  EXPECT_THAT(reader.demo_names(), ElementsAre("demo_0", "demo_1", "demo_2"));
  EXPECT_EQ(reader.env_args(), kEnvArgs);
  EXPECT_EQ(reader.state_dim(), 12);
  EXPECT_EQ(reader.obs_dims(), (std::map<std::string, int>{{"object", 10}, {"robot0_eef_pos", 3}}));
  EXPECT_THAT(reader.object_names(), ElementsAre("cube", "target"));
  EXPECT_THAT(reader.subtask_signals(), ElementsAre("grasp", "lift"));
  EXPECT_THAT(reader.Mask("train"), ElementsAre("demo_0", "demo_2"));
  EXPECT_THAT(reader.Mask("valid"), ElementsAre("demo_1"));
  EXPECT_TRUE(reader.Mask("20_percent").empty());
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(reader.episode_num_samples(i), lengths[i]);
    EXPECT_EQ(reader.episode_success(i), MakeEpisode(lengths[i], 100 + i).success);
    ExpectEpisodesBitwiseEqual(reader.ReadEpisode(i), MakeEpisode(lengths[i], 100 + i));
    EXPECT_EQ(reader.ReadPerturbation(i), MakeEpisode(lengths[i], 100 + i).perturbation);
  }
  EXPECT_NE(reader.ReadPerturbation(0), reader.ReadPerturbation(1));
  EXPECT_THROW(reader.ReadPerturbation(3), std::out_of_range);
  ExpectEpisodesBitwiseEqual(reader.ReadEpisode("demo_1"), MakeEpisode(8, 101));
  EXPECT_THAT([&] { reader.ReadEpisode("demo_7"); },
              ThrowsMessage<DatasetError>(HasSubstr("/data/demo_7: no such demo")));
  EXPECT_THROW(reader.ReadEpisode(3), std::out_of_range);
}

TEST_F(EpisodeStoreTest, LocateAndReadSampleCrossEpisodeBoundaries) {
  const std::vector<int> lengths = {5, 8, 3};
  EpisodeReader reader(WriteFile(lengths));
  using P = std::pair<int, int>;
  EXPECT_EQ(reader.Locate(0), P(0, 0));
  EXPECT_EQ(reader.Locate(4), P(0, 4));
  EXPECT_EQ(reader.Locate(5), P(1, 0));
  EXPECT_EQ(reader.Locate(12), P(1, 7));
  EXPECT_EQ(reader.Locate(13), P(2, 0));
  EXPECT_EQ(reader.Locate(15), P(2, 2));
  EXPECT_THROW(reader.Locate(16), std::out_of_range);
  EXPECT_THROW(reader.Locate(-1), std::out_of_range);

  std::map<std::string, Eigen::VectorXf> obs = {{"stale_key", Eigen::VectorXf::Zero(2)}};
  Eigen::VectorXf action;
  int64_t g = 0;
  for (int e = 0; e < 3; ++e) {
    const Episode ep = MakeEpisode(lengths[e], 100 + e);
    for (int t = 0; t < lengths[e]; ++t, ++g) {
      SCOPED_TRACE(g);
      reader.ReadSample(g, &obs, &action);
      EXPECT_TRUE(action == ep.actions.row(t).transpose());
      ASSERT_EQ(obs.size(), 2u);
      EXPECT_TRUE(obs.at("robot0_eef_pos") == ep.obs.at("robot0_eef_pos").row(t).transpose());
      EXPECT_TRUE(obs.at("object") == ep.obs.at("object").row(t).transpose());
    }
  }
  EXPECT_THROW(reader.ReadSample(g, &obs, &action), std::out_of_range);
}

TEST_F(EpisodeStoreTest, FinalFileAppearsOnlyAtClose) {
  const fs::path path = dir_ / "demo.hdf5";
  const fs::path tmp = dir_ / "demo.hdf5.tmp";
  EpisodeWriter writer(path, kEnvArgs);
  writer.Append(MakeEpisode(4, 1));
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(fs::exists(tmp));
  writer.Close({"demo_0"}, {});
  EXPECT_TRUE(fs::exists(path));
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_THROW(writer.Append(MakeEpisode(4, 1)), std::logic_error);
  EXPECT_THROW(writer.Close({}, {}), std::logic_error);
  EXPECT_EQ(EpisodeReader(path).num_episodes(), 1);
}

TEST_F(EpisodeStoreTest, WriterDestroyedWithoutCloseLeavesNoFile) {
  const fs::path path = dir_ / "demo.hdf5";
  {
    EpisodeWriter writer(path, kEnvArgs);
    writer.Append(MakeEpisode(4, 1));
    ASSERT_TRUE(fs::exists(dir_ / "demo.hdf5.tmp"));
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(dir_ / "demo.hdf5.tmp"));
}

TEST_F(EpisodeStoreTest, DemoNamesSortNumerically) {
  EpisodeReader reader(WriteFile(std::vector<int>(12, 1)));
  const std::vector<std::string> names = reader.demo_names();
  ASSERT_EQ(names.size(), 12u);
  EXPECT_EQ(names[9], "demo_9");
  EXPECT_EQ(names[10], "demo_10");
  EXPECT_EQ(reader.ReadEpisode(10).scene_key, 110u);
  EXPECT_THAT(reader.Mask("valid"), ElementsAre("demo_9"));
}

TEST(SplitTrainValidTest, EveryTenthDemoIsValid) {
  const auto [train, valid] = EpisodeWriter::SplitTrainValid(20);
  EXPECT_THAT(valid, ElementsAre("demo_9", "demo_19"));
  EXPECT_EQ(train.size(), 18u);
  EXPECT_EQ(train.front(), "demo_0");
  const auto [one_train, one_valid] = EpisodeWriter::SplitTrainValid(1);
  EXPECT_THAT(one_train, ElementsAre("demo_0"));
  EXPECT_TRUE(one_valid.empty());
  EXPECT_THAT(EpisodeWriter::SplitTrainValid(4, 0.5).second, ElementsAre("demo_1", "demo_3"));
  EXPECT_TRUE(EpisodeWriter::SplitTrainValid(30, 0.0).second.empty());
  EXPECT_THROW(EpisodeWriter::SplitTrainValid(3, 1.0), std::invalid_argument);
}

// ---- Reader errors.

TEST_F(EpisodeStoreTest, MissingFileIsReported) {
  ExpectOpenFails(dir_ / "nope.hdf5", "no such file");
}

TEST_F(EpisodeStoreTest, NonHdf5FileIsReported) {
  const fs::path path = dir_ / "garbage.hdf5";
  std::ofstream(path, std::ios::binary) << std::string(4096, '\x5a') << "not hdf5 at all";
  ExpectOpenFails(path, "not an HDF5 file");
}

TEST_F(EpisodeStoreTest, TruncatedFileIsReported) {
  const fs::path path = WriteFile({20, 20});
  fs::resize_file(path, fs::file_size(path) / 2);
  ExpectOpenFails(path, "truncated");
}

TEST_F(EpisodeStoreTest, MissingDataGroupIsReported) {
  const fs::path path = dir_ / "empty.hdf5";
  H5::H5File(path.string(), H5F_ACC_TRUNC).createGroup("not_data");
  ExpectOpenFails(path, "empty.hdf5: /data: missing group");
}

TEST_F(EpisodeStoreTest, WrongActionsWidthIsReported) {
  const fs::path path = WriteFile({5, 6});
  Mutate(path, [](H5::H5File& f) {
    f.unlink("/data/demo_1/actions");
    const hsize_t dims[2] = {6, 6};
    const std::vector<float> zeros(36, 0.0f);
    f.createDataSet("/data/demo_1/actions", H5::PredType::IEEE_F32LE, H5::DataSpace(2, dims))
        .write(zeros.data(), H5::PredType::NATIVE_FLOAT);
  });
  ExpectOpenFails(path, "demo.hdf5: /data/demo_1/actions: expected shape (N,7), got (6,6)");
}

TEST_F(EpisodeStoreTest, WrongDtypeIsReported) {
  const fs::path path = WriteFile({5});
  Mutate(path, [](H5::H5File& f) {
    f.unlink("/data/demo_0/states");
    const hsize_t dims[2] = {5, 12};
    const std::vector<float> zeros(60, 0.0f);
    f.createDataSet("/data/demo_0/states", H5::PredType::IEEE_F32LE, H5::DataSpace(2, dims))
        .write(zeros.data(), H5::PredType::NATIVE_FLOAT);
  });
  ExpectOpenFails(path, "/data/demo_0/states: expected dtype float64, got float32");
}

TEST_F(EpisodeStoreTest, NanInObsIsReportedWithIndex) {
  const fs::path path = WriteFile({5, 6});
  Mutate(path, [](H5::H5File& f) {
    H5::DataSet ds = f.openDataSet("/data/demo_1/obs/robot0_eef_pos");
    std::vector<float> values(6 * 3, 0.5f);
    values[2 * 3 + 1] = std::numeric_limits<float>::quiet_NaN();
    ds.write(values.data(), H5::PredType::NATIVE_FLOAT);
  });
  ExpectOpenFails(path, "/data/demo_1/obs/robot0_eef_pos: non-finite value nan at index (2,1)");
}

TEST_F(EpisodeStoreTest, NumSamplesMismatchIsReported) {
  const fs::path path = WriteFile({5});
  Mutate(path, [](H5::H5File& f) {
    H5::Group demo = f.openGroup("/data/demo_0");
    demo.removeAttr("num_samples");
    const int64_t wrong = 7;
    demo.createAttribute("num_samples", H5::PredType::STD_I64LE, H5::DataSpace(H5S_SCALAR))
        .write(H5::PredType::NATIVE_INT64, &wrong);
  });
  ExpectOpenFails(path,
                  "/data/demo_0/actions: num_samples mismatch: dataset has 5 rows, "
                  "attribute num_samples is 7");
}

TEST_F(EpisodeStoreTest, TotalMismatchAndBadMaskAreReported) {
  const fs::path path = WriteFile({5, 5});
  Mutate(path, [](H5::H5File& f) { f.unlink("/mask/valid"); });
  EXPECT_TRUE(EpisodeReader(path).Mask("valid").empty());
  Mutate(path, [](H5::H5File& f) {
    const hsize_t dims[1] = {1};
    H5::StrType type(H5::PredType::C_S1, 6);
    f.createDataSet("/mask/valid", type, H5::DataSpace(1, dims)).write("demo_9", type);
  });
  ExpectOpenFails(path, "/mask/valid: names 'demo_9', which is not in /data");
  Mutate(path, [](H5::H5File& f) {
    f.unlink("/mask/valid");
    H5::Group data = f.openGroup("/data");
    data.removeAttr("total");
    const int64_t wrong = 11;
    data.createAttribute("total", H5::PredType::STD_I64LE, H5::DataSpace(H5S_SCALAR))
        .write(H5::PredType::NATIVE_INT64, &wrong);
  });
  ExpectOpenFails(path, "/data: attribute 'total' is 11 but the demos hold 10 samples");
}

// ---- Writer errors.

TEST_F(EpisodeStoreTest, AppendWithInconsistentLengthsIsRejected) {
  EpisodeWriter writer(dir_ / "demo.hdf5", kEnvArgs);
  Episode ep = MakeEpisode(5, 1);
  ep.rewards.conservativeResize(4);
  EXPECT_THAT([&] { writer.Append(ep); },
              ThrowsMessage<DatasetError>(HasSubstr(
                  "demo.hdf5: /data/demo_0/rewards: expected 5 rows (N from actions), got 4")));
  ep = MakeEpisode(5, 1);
  ep.obs["robot0_eef_pos"].conservativeResize(6, 3);
  ep.obs["robot0_eef_pos"].row(5).setZero();
  EXPECT_THAT(
      [&] { writer.Append(ep); },
      ThrowsMessage<DatasetError>(HasSubstr("/data/demo_0/obs/robot0_eef_pos: expected 5 rows")));
  EXPECT_EQ(writer.num_episodes(), 0);  // nothing was written; the writer is still usable
  EXPECT_EQ(writer.Append(MakeEpisode(5, 1)), "demo_0");
}

TEST_F(EpisodeStoreTest, AppendRejectsBadShapesValuesAndSchemaChanges) {
  EpisodeWriter writer(dir_ / "demo.hdf5", kEnvArgs);
  auto expect_rejected = [&](const Episode& ep, const std::string& message) {
    EXPECT_THAT([&] { writer.Append(ep); }, ThrowsMessage<DatasetError>(HasSubstr(message)));
  };
  Episode ep = MakeEpisode(5, 1);
  ep.actions.conservativeResize(5, 6);
  expect_rejected(ep, "/data/demo_0/actions: expected shape (N,7), got (5,6)");
  expect_rejected(Episode(), "/data/demo_0/actions: episode has no samples");
  ep = MakeEpisode(5, 1);
  ep.states(3, 2) = std::numeric_limits<double>::infinity();
  expect_rejected(ep, "/data/demo_0/states: non-finite value inf at index (3,2)");
  ep = MakeEpisode(5, 1);
  ep.next_obs.erase("object");
  expect_rejected(ep, "/data/demo_0/next_obs: keys {robot0_eef_pos} differ from obs keys");
  ep = MakeEpisode(5, 1);
  ep.obs["bad/key"] = ep.obs["object"];
  expect_rejected(ep, "invalid name 'bad/key'");

  writer.Append(MakeEpisode(5, 1));
  ep = MakeEpisode(5, 2);
  ep.object_poses.erase("target");
  expect_rejected(ep, "/data/demo_1/datagen_info/object_poses: objects {cube} differ");
  ep = MakeEpisode(5, 2);
  ep.states.conservativeResize(5, 13);
  ep.states.col(12).setZero();
  expect_rejected(ep, "/data/demo_1/states: width 13 differs from demo_0's 12");
  EXPECT_THAT(
      [&] {
        writer.Close({"demo_0", "demo_1"}, {});
      },
      ThrowsMessage<DatasetError>(
          HasSubstr("/mask/train: names 'demo_1', which was not appended")));
  writer.Close({"demo_0"}, {});
  EXPECT_EQ(EpisodeReader(dir_ / "demo.hdf5").num_episodes(), 1);
}

}  // namespace
}  // namespace dreamforge::datasets
