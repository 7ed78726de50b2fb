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
#include "robot/controller.h"
#include "tools/cli_util.h"
#include "tools/sim_hardware.h"

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


// The exported bundle on the edge path: robot::Controller with the native encoders, fed by
// SimCameras, acts as eval's PolicyController (LibTorch, the same rendering) does, step
// for step, in a held-out scene.
TEST_F(PolicyControllerTest, TheEdgeControllerSeesTheFramesEvalSeesAndActsTheSame) {
  const test::CmdResult r =
      test::Shell(kBin + " export --policy " + (dir_ / "run").string() + " --out " + (dir_ / "bundle").string());
  ASSERT_EQ(r.status, 0) << r.output;
  auto bundle = std::make_shared<const robot::Bundle>(robot::LoadBundle((dir_ / "bundle").string()));
  auto cameras = std::make_shared<PolicyCameras>(*bundle, model_);
  const augment::PerturbationSpec spec = augment::LoadSpec(augment::DefaultSpecPath(policy_->task));
  const sim::SceneParams params = augment::SampleScene(*model_, spec, 0, augment::kEvalIndexBit | 1);
  sim::World world(model_, params);
  std::unique_ptr<sim::Controller> eval_path = PolicyFactory(policy_, model_)();
  eval_path->Reset(world);
  SimHardware hardware(&world);
  SimCameras sim_cameras(cameras, &world);
  robot::Controller controller(bundle, PolicySeed(params));
  controller.SetCameras(&sim_cameras, 0.05);
  robot::RobotState state;
  ASSERT_EQ(hardware.Read(&state), robot::HardwareStatus::kOk);
  ASSERT_TRUE(controller.Start(state));
  double worst = 0;
  for (int t = 0; t < 30; ++t) {
    // One observation (its noise is drawn once) for both paths, as SimHardware::Read reads it.
    const sim::Observation obs = world.Observe();
    const sim::Action eval_action = eval_path->Act(world, obs);
    state.time = world.time();
    state.q = obs.joint_pos;
    state.qd = obs.joint_vel;
    state.fingers = obs.gripper_qpos;
    state.object_position = obs.object.segment<3>(0);
    state.object_quaternion = obs.object.segment<4>(3);
    state.target_position = obs.object.segment<3>(10);
    robot::Command command;
    controller.Compute(state, &command);
    ASSERT_EQ(controller.safety().report().count(robot::SafetyEvent::kCameraFrame), 0u);
    ASSERT_EQ(controller.safety().report().count(robot::SafetyEvent::kStaleFrame), 0u);
    // The same frames: what eval's network read is what the controller's encoders read.
    const auto* pc = dynamic_cast<PolicyController*>(eval_path.get());
    for (int k = 0; k < 2; ++k) {
      robot::CameraFrame frame;
      ASSERT_EQ(sim_cameras.Latest(k, &frame), robot::CameraStatus::kOk);
      ASSERT_TRUE(std::equal(pc->frames()[k].rgb.begin(), pc->frames()[k].rgb.end(), frame.pixels))
          << "camera " << k << ", step " << t;
    }
    // The same low-dimensional observation (forward kinematics vs the simulator's link poses).
    std::map<std::string, Eigen::VectorXf> by_key;
    for (const std::string& key : policy_->normalizer.obs_keys) sim::ObservationValue(obs, key, &by_key[key]);
    const std::vector<float> expected = policy::FlatObservation(*policy_, by_key);
    double obs_worst = 0;
    for (size_t i = 0; i < expected.size(); ++i)
      obs_worst = std::max(obs_worst, static_cast<double>(std::abs(controller.observation()[i] - expected[i])));
    double step_worst = 0;
    for (int k = 0; k < 6; ++k) step_worst = std::max(step_worst, std::abs(controller.action()[k] - eval_action[k]));
    ASSERT_LT(obs_worst, 1e-5) << "observation, step " << t;
    worst = std::max(worst, step_worst);
    ASSERT_EQ(controller.action()[6], eval_action[6]) << "gripper, step " << t;
    controller.Commit(command);
    world.Step(eval_action);
  }
  EXPECT_LT(worst, 1e-4) << "eval and controller actions differ";
  EXPECT_EQ(sim_cameras.renders(), 30u);
  std::printf("image mlp in a held-out scene: eval vs edge controller over 30 steps: worst action difference %.2e\n",
              worst);
}

// A camera that gives nothing, the wrong size or an old frame holds the robot; the reason
// is counted. Then a good frame gives a command again.
class FakeCameras : public robot::CameraSource {
 public:
  robot::CameraStatus status = robot::CameraStatus::kOk;
  int side = kSide;
  double time = 0;
  robot::CameraStatus Latest(int, robot::CameraFrame* f) override {
    pixels_.assign(static_cast<size_t>(side) * side * 3, 128);
    f->pixels = pixels_.data();
    f->width = f->height = side;
    f->time = time;
    return status;
  }

 private:
  std::vector<uint8_t> pixels_;
};

TEST_F(PolicyControllerTest, MissingWrongSizedOrStaleFramesHoldTheRobot) {
  const test::CmdResult r =
      test::Shell(kBin + " export --policy " + (dir_ / "run").string() + " --out " + (dir_ / "bundle").string());
  ASSERT_EQ(r.status, 0) << r.output;
  auto bundle = std::make_shared<const robot::Bundle>(robot::LoadBundle((dir_ / "bundle").string()));
  sim::World world(model_, model_->Nominal());
  SimHardware hardware(&world);
  robot::Controller controller(bundle, 1);
  robot::RobotState state;
  ASSERT_EQ(hardware.Read(&state), robot::HardwareStatus::kOk);
  ASSERT_TRUE(controller.Start(state));
  const auto step = [&] {
    robot::Command command;
    const robot::StepOutcome o = controller.Step(state, &command);
    EXPECT_EQ(command.hold, o == robot::StepOutcome::kHold);
    return o;
  };
  const auto count = [&](robot::SafetyEvent e) { return controller.safety().report().count(e); };
  EXPECT_EQ(step(), robot::StepOutcome::kHold);  // no camera source at all
  EXPECT_EQ(count(robot::SafetyEvent::kCameraFrame), 1u);
  FakeCameras fake;
  fake.time = state.time;
  controller.SetCameras(&fake, 0.1);
  fake.status = robot::CameraStatus::kNoFrame;
  EXPECT_EQ(step(), robot::StepOutcome::kHold);
  fake.status = robot::CameraStatus::kOk;
  fake.side = kSide / 2;
  EXPECT_EQ(step(), robot::StepOutcome::kHold);
  EXPECT_EQ(count(robot::SafetyEvent::kCameraFrame), 3u);
  fake.side = kSide;
  fake.time = state.time - 0.25;
  EXPECT_EQ(step(), robot::StepOutcome::kHold);
  fake.time = state.time + 0.25;  // from the future: a clock mix-up, held too
  EXPECT_EQ(step(), robot::StepOutcome::kHold);
  EXPECT_EQ(count(robot::SafetyEvent::kStaleFrame), 2u);
  fake.time = state.time - 0.05;
  EXPECT_EQ(step(), robot::StepOutcome::kCommand);
  EXPECT_NEAR(controller.frame_ages()[0], 0.05, 1e-12);
  EXPECT_EQ(controller.safety().report().holds, 5u);
}

TEST_F(PolicyControllerTest, ControlRunsAnImageBundleInSimAndRefusesItWithoutCameras) {
  test::CmdResult r =
      test::Shell(kBin + " export --policy " + (dir_ / "run").string() + " --out " + (dir_ / "bundle").string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = test::Shell(kBin + " control --bundle " + (dir_ / "bundle").string() + " --hardware sim --episodes 2 --seed 4" +
                  " --stats " + (dir_ / "stats.json").string());
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream in(dir_ / "stats.json");
  const nlohmann::json stats = nlohmann::json::parse(in);
  EXPECT_EQ(stats["episodes"], 2);
  EXPECT_EQ(stats["timing"]["safety_events"]["camera_frame"], 0) << stats.dump();
  EXPECT_EQ(stats["timing"]["safety_events"]["stale_frame"], 0) << stats.dump();
  // eval runs the same scenes with the LibTorch network: the same outcomes.
  r = test::Shell(kBin + " eval --policy " + (dir_ / "run").string() + " --episodes 2 --seed 4 --workers 1 --json");
  ASSERT_EQ(r.status, 0) << r.output;
  const nlohmann::json eval = nlohmann::json::parse(r.output.substr(r.output.find("\n{") + 1));
  // (Failure reasons differ by design: eval ends an episode on an IK failure, the controller
  // holds and goes on.)
  EXPECT_EQ(eval["successes"], stats["successes"]);

  r = test::Shell(kBin + " control --bundle " + (dir_ / "bundle").string() + " --hardware mock --duration 1");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("reads cameras (agentview_image, robot0_eye_in_hand_image)"));
  EXPECT_THAT(r.output, HasSubstr("--hardware sim"));
}

}  // namespace
}  // namespace dreamforge::tools
