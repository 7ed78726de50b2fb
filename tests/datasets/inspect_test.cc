#include "datasets/inspect.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "datasets/episode_store.h"
#include "tests/datasets/test_util.h"

namespace dreamforge::datasets {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

class InspectTest : public testing_util::ScratchDirTest {};

TEST_F(InspectTest, SummarizesFile) {
  const auto path = dir_ / "demo.hdf5";
  {
    EpisodeWriter writer(path, {{"env_name", "Lift"}});
    writer.Append(testing_util::MakeEpisode(5, 100));  // failure (even seed)
    writer.Append(testing_util::MakeEpisode(3, 101));  // success
    writer.Append(testing_util::MakeEpisode(4, 103));  // success
    writer.Close({"demo_0", "demo_1"}, {"demo_2"});
  }
  const nlohmann::json j = Inspect(path);
  EXPECT_EQ(j["file"], path.string());
  EXPECT_GT(j["bytes"].get<int64_t>(), 0);
  EXPECT_EQ(j["episodes"], 3);
  EXPECT_EQ(j["samples"], 12);
  EXPECT_EQ(j["successes"], 2);
  EXPECT_EQ(j["samples_per_episode"]["min"], 3);
  EXPECT_EQ(j["samples_per_episode"]["max"], 5);
  EXPECT_EQ(j["keys"]["obs/robot0_eef_pos"], nlohmann::json({3}));
  EXPECT_EQ(j["keys"]["next_obs/object"], nlohmann::json({10}));
  EXPECT_EQ(j["keys"]["actions"], nlohmann::json({7}));
  EXPECT_EQ(j["keys"]["states"], nlohmann::json({12}));
  EXPECT_EQ(j["keys"]["datagen_info/object_poses/cube"], nlohmann::json({4, 4}));
  EXPECT_EQ(j["keys"]["rewards"], nlohmann::json::array());
  EXPECT_EQ(j["dtypes"]["states"], "float64");
  EXPECT_EQ(j["env_args"]["env_name"], "Lift");
  EXPECT_EQ(j["masks"]["train"], 2);
  EXPECT_EQ(j["masks"]["valid"], 1);

  const std::string text = FormatInspect(j);
  EXPECT_THAT(text, HasSubstr("episodes:  3 (2 successful)"));
  EXPECT_THAT(text, HasSubstr("samples:   12 (per episode: min 3, mean 4.0, max 5)"));
  EXPECT_THAT(text, HasSubstr("masks:     train 2, valid 1"));
  EXPECT_THAT(text, HasSubstr("obs/robot0_eef_pos"));
  EXPECT_THAT(text, HasSubstr("(3,)"));
  EXPECT_THAT(text, HasSubstr("\"env_name\": \"Lift\""));
}

TEST_F(InspectTest, MissingFileThrows) {
  EXPECT_THAT([&] { Inspect(dir_ / "nope.hdf5"); },
              ThrowsMessage<DatasetError>(HasSubstr("nope.hdf5: no such file")));
}

}  // namespace
}  // namespace dreamforge::datasets
