// tools/policy_controller.h with an image policy: the cameras are rendered in the loop
// through render::FrameRenderer, at every control step, with the training file's cameras
// and the scene's appearance, so that a world started in a dream's scene shows the policy
// the bytes `dream --cameras` stored for that dream; the network reads them in eval mode.
#include "tools/policy_controller.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "augment/perturbation.h"
#include "datasets/episode_store.h"
#include "policy/trainer.h"
#include "render/camera.h"
#include "render/dataset_render.h"
#include "tests/common/test_util.h"
#include "tools/cli_util.h"

namespace dreamforge::tools {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kBin = DF_DREAMFORGE_BIN;
const std::string kDemo = std::string(DF_SOURCE_DIR) + "/datasets/demos/bottle_place.hdf5";
constexpr int kSide = 64;
const std::vector<std::string> kKeys = {"robot0_eef_pos", "robot0_gripper_qpos", "robot0_joint_pos",
                                        "agentview_image", "robot0_eye_in_hand_image"};

class PolicyControllerTest : public test::TempDirTest {
 protected:
  // Two dreams with both cameras at 64 x 64, and an image mlp trained one epoch on them.
  void SetUp() override {
    TempDirTest::SetUp();
    torch::set_num_threads(1);
    data_ = dir_ / "dreams.hdf5";
    const test::CmdResult r =
        test::Shell(kBin + " dream --demo " + kDemo + " --count 2 --seed 3 --workers 1" +
                    " --cameras agentview,robot0_eye_in_hand --size 64 --out " + data_.string());
    ASSERT_EQ(r.status, 0) << r.output;
    const policy::TrainingData data = policy::LoadTrainingData(data_, kKeys);
    policy::TrainOptions o;
    o.hidden = {32, 32};
    o.epochs = 1;
    o.batch = 64;
    o.image_crop = 56;
    o.image_features = 16;
    o.image_keypoints = 8;
    policy::Train(data, {}, o, dir_ / "run");
    policy_ = policy::Policy::Load(dir_ / "run");
    model_ = std::make_shared<const sim::SceneModel>(policy_->task, sim::SceneModel::DefaultUrdf());
  }

  fs::path data_;
  std::shared_ptr<const policy::Policy> policy_;
  std::shared_ptr<const sim::SceneModel> model_;
};

TEST_F(PolicyControllerTest, ImagePolicySeesTheBytesRenderStoredForTheScene) {
  ASSERT_EQ(policy_->images.size(), 2u);
  const augment::ControllerFactory factory = PolicyFactory(policy_, model_);
  datasets::EpisodeReader reader(data_);
  for (int e = 0; e < reader.num_episodes(); ++e) {
    // A world in dream e's scene (physics and appearance) starts in the dream's first
    // state: its step-0 frames are the file's row 0, byte for byte.
    const datasets::Episode ep = reader.ReadEpisode(e, false);
    const sim::SceneParams params =
        render::EpisodeScene(*model_, ep, data_.string(), reader.demo_names()[e]);
    sim::World world(model_, params);
    std::unique_ptr<sim::Controller> c = factory();
    auto* pc = dynamic_cast<PolicyController*>(c.get());
    ASSERT_NE(pc, nullptr);
    sim::RolloutOptions opt;
    opt.max_steps = 1;
    opt.record = false;
    sim::Rollout(world, *c, opt);
    ASSERT_EQ(pc->frames().size(), 2u);
    for (int k = 0; k < 2; ++k) {
      const std::string& key = policy_->images[k].key;
      const render::Image& frame = pc->frames()[k];
      EXPECT_EQ(frame.width, kSide);
      EXPECT_EQ(frame.height, kSide);
      std::vector<uint8_t> stored(kSide * kSide * 3);
      reader.ReadImage(e, 0, key, stored.data());
      EXPECT_TRUE(frame.rgb == stored) << "episode " << e << " " << key;
    }
  }
}

TEST_F(PolicyControllerTest, ImagePolicyRendersEveryStepAndReadsTheFramesInEvalMode) {
  const augment::PerturbationSpec spec = augment::LoadSpec(augment::DefaultSpecPath(policy_->task));
  const sim::SceneParams params =
      augment::SampleScene(*model_, spec, 0, augment::kEvalIndexBit | 0);
  sim::World world(model_, params);
  std::unique_ptr<sim::Controller> c = PolicyFactory(policy_, model_)();
  auto* pc = dynamic_cast<PolicyController*>(c.get());
  ASSERT_NE(pc, nullptr);
  sim::RolloutOptions opt;
  opt.max_steps = 6;
  opt.stop_on_success = false;
  const sim::RolloutResult r = sim::Rollout(world, *c, opt);
  ASSERT_EQ(r.steps, 6);

  // What the network read at the last step (an mlp plans every step): both cameras,
  // (1, 64, 64, 3) uint8, the frames rendered for that step, in eval mode.
  const policy::TorchPredictor& predictor = pc->predictor();
  EXPECT_FALSE(predictor.training());
  ASSERT_EQ(predictor.last_images().size(), 2u);
  std::vector<render::CameraSpec> cameras = render::CamerasFromEnvArgs(policy_->env_args);
  render::FrameRenderer frames(std::make_shared<const render::VisualModel>(model_),
                               render::SelectCameras("agentview,robot0_eye_in_hand", cameras));
  for (int k = 0; k < 2; ++k) {
    const torch::Tensor& im = predictor.last_images()[k];
    EXPECT_EQ(im.sizes(), (std::vector<int64_t>{1, kSide, kSide, 3}));
    EXPECT_EQ(im.scalar_type(), torch::kUInt8);
    const std::vector<uint8_t>& rgb = pc->frames()[k].rgb;
    ASSERT_EQ(rgb.size(), static_cast<size_t>(im.numel()));
    EXPECT_TRUE(std::equal(rgb.begin(), rgb.end(), im.data_ptr<uint8_t>())) << k;
    // Step 5's frame is the recorded state of row 5 drawn as `render` draws it.
    render::Image expected;
    frames.RenderState(params, r.episode.states.row(5).transpose(), 5, k, &expected);
    EXPECT_TRUE(expected.rgb == rgb) << k;
  }
}

TEST_F(PolicyControllerTest, ARunWithoutTheCameraIsRefusedNamingIt) {
  auto changed = std::make_shared<policy::Policy>(*policy_);
  changed->env_args["cameras"] =
      nlohmann::json::array({changed->env_args["cameras"][0]});  // agentview only
  try {
    PolicyFactory(changed, model_);
    FAIL() << "a policy without its camera was accepted";
  } catch (const UsageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("no camera 'robot0_eye_in_hand'"));
  }
}

}  // namespace
}  // namespace dreamforge::tools
