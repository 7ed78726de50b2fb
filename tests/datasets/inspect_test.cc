#include "datasets/inspect.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "datasets/episode_store.h"
#include "tests/datasets/test_util.h"

namespace dreamforge::datasets {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
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

TEST_F(InspectTest, ListsImageKeysAndCameras) {
  const auto path = dir_ / "images.hdf5";
  const nlohmann::json cameras = nlohmann::json::parse(R"([
    {"name": "agentview", "width": 84, "height": 84, "fovy": 45.0, "mount": "world",
     "near": 0.01, "far": 5.0, "position": [1.0, 0.0, 1.2], "quat_xyzw": [0, 0, 0, 1]},
    {"name": "robot0_eye_in_hand", "width": 32, "height": 24, "fovy": 75.5, "mount": "panda_hand"}
  ])");
  {
    EpisodeWriter writer(path, {{"env_name", "Lift"}, {"cameras", cameras}});
    datasets::Episode ep = testing_util::MakeEpisode(5, 100);
    testing_util::AddCamera(&ep, "agentview_image", "agentview_depth", 84, 84, 3, 1);
    testing_util::AddCamera(&ep, "robot0_eye_in_hand_image", "", 24, 32, 3, 2);
    writer.Append(ep);
    writer.Close({"demo_0"}, {});
  }
  const nlohmann::json j = Inspect(path);
  EXPECT_EQ(j["keys"]["obs/agentview_image"], nlohmann::json({84, 84, 3}));
  EXPECT_EQ(j["dtypes"]["obs/agentview_image"], "uint8");
  EXPECT_EQ(j["keys"]["obs/robot0_eye_in_hand_image"], nlohmann::json({24, 32, 3}));
  EXPECT_EQ(j["keys"]["obs/agentview_depth"], nlohmann::json({84, 84, 1}));
  EXPECT_EQ(j["dtypes"]["obs/agentview_depth"], "float32");
  EXPECT_FALSE(j["keys"].contains("next_obs/agentview_image"));
  ASSERT_EQ(j["cameras"].size(), 2u);
  EXPECT_EQ(j["cameras"][0], nlohmann::json({{"name", "agentview"},
                                             {"width", 84},
                                             {"height", 84},
                                             {"fovy", 45.0},
                                             {"mount", "world"}}));

  const std::string text = FormatInspect(j);
  EXPECT_THAT(text, HasSubstr("obs/agentview_image"));
  EXPECT_THAT(text, HasSubstr("(84,84,3) uint8"));
  EXPECT_THAT(text, HasSubstr("(84,84,1) float32"));
  EXPECT_THAT(text, HasSubstr("(24,32,3) uint8"));
  EXPECT_THAT(text, HasSubstr("cameras (size, vertical field of view, mount):\n"
                              "  agentview  84x84  fovy 45.0 deg  mount world\n"
                              "  robot0_eye_in_hand  32x24  fovy 75.5 deg  mount panda_hand\n"));
}

TEST_F(InspectTest, CamerasAreOptionalAndShownAsFarAsDescribed) {
  const auto path = dir_ / "demo.hdf5";
  for (const nlohmann::json& cameras :
       {nlohmann::json("not a list"), nlohmann::json::parse(R"([{"name": "top"}, 7])")}) {
    {
      EpisodeWriter writer(path, {{"env_name", "Lift"}, {"cameras", cameras}});
      writer.Append(testing_util::MakeEpisode(3, 1));
      writer.Close({"demo_0"}, {});
    }
    const nlohmann::json j = Inspect(path);
    if (!cameras.is_array()) {
      EXPECT_FALSE(j.contains("cameras"));
      EXPECT_THAT(FormatInspect(j), Not(HasSubstr("cameras (")));
    } else {
      EXPECT_THAT(FormatInspect(j), HasSubstr("  top  ?x?  fovy ? deg  mount ?\n  ?  ?x?"));
    }
  }
}

TEST_F(InspectTest, MissingFileThrows) {
  EXPECT_THAT([&] { Inspect(dir_ / "nope.hdf5"); },
              ThrowsMessage<DatasetError>(HasSubstr("nope.hdf5: no such file")));
}

}  // namespace
}  // namespace dreamforge::datasets
