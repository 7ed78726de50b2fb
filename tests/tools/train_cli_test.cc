// dreamforge train / eval --policy end to end on a small scale: real dreams of the shipped
// demo, the real binary, rollouts in physics.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "tests/common/test_util.h"

namespace dreamforge {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using test::CmdResult;
using test::Shell;

const std::string kBin = DF_DREAMFORGE_BIN;
const std::string kDemo = std::string(DF_SOURCE_DIR) + "/datasets/demos/bottle_place.hdf5";

class TrainCliTest : public test::TempDirTest {
 protected:
  fs::path Dreams() {
    const fs::path out = dir_ / "dreams.hdf5";
    const CmdResult r = Shell(kBin + " dream --demo " + kDemo + " --count 10 --seed 3 --out " + out.string());
    EXPECT_EQ(r.status, 0) << r.output;
    return out;
  }
  static std::vector<nlohmann::json> Metrics(const fs::path& run) {
    std::vector<nlohmann::json> out;
    std::ifstream in(run / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }
};

TEST_F(TrainCliTest, TrainsEvaluatesInPhysicsAndResumes) {
  const fs::path data = Dreams();
  for (const std::string policy : {"mlp", "flow"}) {
    const fs::path run = dir_ / policy;
    const std::string train = kBin + " train --data " + data.string() + " --policy " + policy +
                              " --epochs 2 --batch 64 --eval-every 1 --eval-episodes 2 --out " + run.string();
    CmdResult r = Shell(train + " --stop-after 1");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("1/2 epochs (stopped; --resume continues)"));
    r = Shell(train + " --resume");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("2/2 epochs"));
    const auto m = Metrics(run);
    ASSERT_EQ(m.size(), 2u) << policy;
    for (const auto& epoch : m) {
      EXPECT_TRUE(epoch["success_rate"].is_number()) << epoch.dump();  // rollouts ran
      EXPECT_GT(epoch["samples_per_s"].get<double>(), 0);
    }
    for (const char* f : {"run.json", "best.pt", "best.json", "checkpoints/last.pt"}) {
      EXPECT_TRUE(fs::exists(run / f)) << policy << " " << f;
    }

    r = Shell(kBin + " eval --policy " + run.string() + " --episodes 2 --json");
    ASSERT_EQ(r.status, 0) << r.output;
    const size_t brace = r.output.find("\n{");  // stdout's JSON line after the progress lines
    ASSERT_NE(brace, std::string::npos) << r.output;
    const nlohmann::json j = nlohmann::json::parse(r.output.substr(brace + 1));
    EXPECT_EQ(j["episodes"], 2);
    EXPECT_EQ(j["policy"], run.string());
    for (const char* key : {"successes", "success_rate", "ci_low", "ci_high", "failures"}) {
      EXPECT_TRUE(j.contains(key)) << key;
    }
  }
}

TEST_F(TrainCliTest, ImagePolicyTrainsOnARenderedFileAndEvaluatesWithCamerasInTheLoop) {
  const fs::path images = dir_ / "images.hdf5", plain = dir_ / "plain.hdf5";
  CmdResult r = Shell(kBin + " dream --demo " + kDemo + " --count 2 --seed 3 --workers 1" +
                      " --cameras agentview,robot0_eye_in_hand --size 64 --out " + images.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string keys =
      " --obs-keys robot0_eef_pos robot0_gripper_qpos robot0_joint_pos agentview_image "
      "robot0_eye_in_hand_image";
  const fs::path run = dir_ / "image_mlp";
  r = Shell(kBin + " train --data " + images.string() + keys +
            " --image-crop 56 --image-features 16 --image-keypoints 8 --hidden 32 32 --epochs 2 "
            "--batch 64 --threads 1 --out " +
            run.string());
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream in(run / "run.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  ASSERT_EQ(j["images"].size(), 2u) << j.dump();
  EXPECT_EQ(j["images"][1]["key"], "robot0_eye_in_hand_image");
  EXPECT_EQ(j["images"][1]["shape"], nlohmann::json({64, 64, 3}));
  EXPECT_EQ(j["images"][1]["encoder"]["crop_size"], 56);
  EXPECT_EQ(j["model"]["obs_dim"], 12);  // eef_pos 3 + gripper 2 + joints 7: the z-scored part
  EXPECT_EQ(Metrics(run).size(), 2u);

  r = Shell(kBin + " eval --policy " + run.string() + " --episodes 1 --workers 1 --json");
  ASSERT_EQ(r.status, 0) << r.output;
  const size_t brace = r.output.find("\n{");
  ASSERT_NE(brace, std::string::npos) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output.substr(brace + 1))["episodes"], 1);

  // The bundle carries the encoders (tools_export_test checks its numbers).
  r = Shell(kBin + " export --policy " + run.string() + " --out " + (dir_ / "bundle").string());
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream bundle_json(dir_ / "bundle" / "policy.json");
  const nlohmann::json pj = nlohmann::json::parse(bundle_json);
  ASSERT_EQ(pj["images"].size(), 2u);
  for (int k = 0; k < 2; ++k) {
    EXPECT_EQ(pj["images"][k]["key"], j["images"][k]["key"]);
    EXPECT_EQ(pj["images"][k]["encoder"], j["images"][k]["encoder"]);
    EXPECT_EQ(pj["images"][k]["camera"]["width"], 64) << pj["images"][k].dump();  // as rendered
  }

  // A file without the images: one line naming the file and the key, and how to render it.
  r = Shell(kBin + " dream --demo " + kDemo + " --count 2 --seed 3 --workers 1 --out " +
            plain.string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = Shell(kBin + " train --data " + plain.string() + keys + " --out " + (dir_ / "r").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output,
              HasSubstr(plain.string() + ": obs key 'agentview_image' is not in the file"));
  EXPECT_THAT(r.output, HasSubstr("dreamforge render " + plain.string()));
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "r" / "run.json"));
}

TEST_F(TrainCliTest, BadInputGetsOneLineNamingTheFileOrFlag) {
  CmdResult r = Shell(kBin + " train --data " + (dir_ / "none.hdf5").string() + " --out " + (dir_ / "r").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("none.hdf5"));
  r = Shell(kBin + " train --data " + kDemo + " --policy transformer --out " + (dir_ / "r").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("--policy"));
  r = Shell(kBin + " train --data " + kDemo + " --obs-keys robot0_eef_pos no_such_key --out " + (dir_ / "r").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("no_such_key"));
  EXPECT_FALSE(fs::exists(dir_ / "r" / "run.json"));
  r = Shell(kBin + " eval --policy " + (dir_ / "nowhere").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("run.json"));
  r = Shell(kBin + " eval --policy " + (dir_ / "nowhere").string() + " --baseline replay --demo " + kDemo);
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("exactly one"));
  // Widths: bounded, named, before any data is loaded.
  for (const char* w : {"2000000000", "1e12", "0", "16385", "-3"}) {
    r = Shell(kBin + " train --data " + kDemo + " --hidden " + w + " 256 --out " + (dir_ / "r").string());
    EXPECT_EQ(r.status, 2) << w << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("--hidden")) << w;
    EXPECT_THAT(r.output, HasSubstr(std::string("expected an integer in 1..16384, got '") + w + "'")) << w;
    EXPECT_THAT(r.output, ::testing::Not(HasSubstr("load "))) << w;  // no progress line first
  }
  // One line, no LibTorch backtrace, and no progress line before it.
  r = Shell(kBin + " train --data " + kDemo + " --device cuda --out " + (dir_ / "r").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("--device"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("load "))) << r.output;
  fs::create_directories(dir_ / "old");
  std::ofstream(dir_ / "old" / "run.json") << "{}";
  r = Shell(kBin + " train --data " + kDemo + " --out " + (dir_ / "old").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("already holds a training run; pass --resume"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("load "))) << r.output;
  r = Shell(kBin + " train --data " + kDemo + " --resume --out " + (dir_ / "new").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr((dir_ / "new" / "run.json").string() + ": missing; nothing to resume"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("load "))) << r.output;
  // A relative --out with no folder yet is made in the working directory: the writability
  // check looks at "." (it used to refuse "directory relrun does not exist").
  r = Shell("cd " + dir_.string() + " && " + kBin + " train --data " + kDemo + " --resume --out relrun");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("relrun/run.json: missing; nothing to resume")) << r.output;
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("does not exist"))) << r.output;
  const fs::path empty_spec = dir_ / "empty.yaml";
  std::ofstream(empty_spec).close();
  r = Shell(kBin + " train --data " + kDemo + " --eval-every 1 --perturb " + empty_spec.string() + " --out " +
            (dir_ / "r").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("empty.yaml: empty spec"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("load "))) << r.output;
}

}  // namespace
}  // namespace dreamforge
