// Export equivalence: a trained mlp and flow policy, exported by the real binary, give the
// same action chunks for 1,000 random observations from five implementations: the
// trained LibTorch model, the native Eigen runtime of robot/ (what the board runs), the
// TorchScript file in LibTorch and in Python torch.jit.load, and the ONNX file in ONNX
// Runtime (tools/onnx_check, installed by tools/setup.sh). Tolerance 1e-5 (float32),
// relative to the magnitude of the values.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include <cmath>
#include <fstream>
#include <random>

#include "datasets/episode_store.h"
#include "policy/export.h"
#include "policy/trainer.h"
#include "robot/bundle.h"
#include "robot/controller.h"
#include "robot/policy_runner.h"
#include "robot/policy_runtime.h"
#include "sim/world.h"
#include "tests/common/test_util.h"
#include "tools/policy_controller.h"
#include "tools/sim_hardware.h"

namespace dreamforge {
namespace {

namespace fs = std::filesystem;
using test::CmdResult;
using test::Shell;

const std::string kBin = DF_DREAMFORGE_BIN;
const std::string kSource = DF_SOURCE_DIR;
constexpr int kRows = 1000;
constexpr double kTolerance = 1e-5;

// Episodes with the default obs keys at their real widths (robot0_eef_pos 3,
// robot0_gripper_qpos 2, robot0_joint_pos 7, object 13) and smooth learnable actions.
datasets::Episode Synthetic(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  datasets::Episode ep;
  auto fill = [&](int cols, float scale, float offset) {
    datasets::MatrixRXf m(n, cols);
    for (int i = 0; i < m.size(); ++i) m.data()[i] = offset + scale * g(rng);
    return m;
  };
  ep.obs["robot0_eef_pos"] = fill(3, 0.1f, 0.4f);
  ep.obs["robot0_gripper_qpos"] = fill(2, 0.01f, 0.03f);
  ep.obs["robot0_joint_pos"] = fill(7, 0.5f, 0.0f);
  ep.obs["object"] = fill(13, 0.2f, 0.1f);
  for (const auto& [k, m] : ep.obs) ep.next_obs[k] = m;
  ep.actions = datasets::MatrixRXf(n, 7);
  for (int t = 0; t < n; ++t) {
    for (int k = 0; k < 6; ++k) ep.actions(t, k) = std::tanh(ep.obs["object"](t, k) * 3.0f - ep.obs["robot0_eef_pos"](t, k % 3));
    ep.actions(t, 6) = ep.obs["object"](t, 12) > 0.1f ? 1.0f : -1.0f;
  }
  ep.rewards = Eigen::VectorXf::Zero(n);
  ep.dones.assign(n, 0);
  ep.dones.back() = 1;
  ep.states = datasets::MatrixRXd::Zero(n, 4);
  ep.eef_pose = datasets::MatrixRXd::Zero(n, 16);
  ep.object_poses["bottle"] = datasets::MatrixRXd::Zero(n, 16);
  ep.subtask_term_signals["grasp"] = std::vector<int32_t>(n, 0);
  ep.success = true;
  return ep;
}

nlohmann::json Rows(const torch::Tensor& t) {
  nlohmann::json rows = nlohmann::json::array();
  const torch::Tensor c = t.contiguous();
  for (int64_t r = 0; r < c.size(0); ++r) {
    const float* p = c[r].data_ptr<float>();
    rows.push_back(std::vector<float>(p, p + c.size(1)));
  }
  return rows;
}

// Largest |a - b| / max(1, |b|) over all entries.
double WorstDifference(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs() / b.abs().clamp_min(1.0)).max().item<double>();
}

torch::Tensor FromJsonRows(const nlohmann::json& rows, int64_t width) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(rows.size()), width});
  for (size_t r = 0; r < rows.size(); ++r) {
    for (int64_t k = 0; k < width; ++k) t[r][k] = rows[r][k].get<float>();
  }
  return t;
}

// The external checkers: TorchScript in Python (Debian python3-torch) and ONNX Runtime
// (tools/onnx_check, installed by tools/setup.sh).
const std::string kPythonCheck = "/usr/bin/python3 " + kSource + "/tools/ts_check.py";
const std::string kOnnxCheck = "node " + kSource + "/tools/onnx_check/run.js";

// Runs a checker on `model` with dir/in.json; its JSON output, or null (and a test failure)
// when it fails.
nlohmann::json RunChecker(const std::string& checker, const fs::path& model, const fs::path& dir,
                          const std::string& name) {
  if (checker == kOnnxCheck && !fs::exists(kSource + "/tools/onnx_check/node_modules/onnxruntime-node")) {
    ADD_FAILURE() << "ONNX Runtime is not installed: run tools/setup.sh";
    return nullptr;
  }
  const fs::path out = dir / (name + ".json");
  const CmdResult r = Shell(checker + " " + model.string() + " " + (dir / "in.json").string() + " " + out.string());
  if (r.status != 0) {
    ADD_FAILURE() << name << ": " << r.output;
    return nullptr;
  }
  std::ifstream in(out);
  return nlohmann::json::parse(in);
}

class ExportTest : public test::TempDirTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(ExportTest, AllImplementationsAgreeOnAThousandObservations) {
  const std::string type = GetParam();
  // A trained policy (a few epochs on synthetic data of the real layout).
  const fs::path data = dir_ / "data.hdf5";
  {
    datasets::EpisodeWriter w(data, {{"env_name", "bottle_place"}});
    for (int i = 0; i < 12; ++i) w.Append(Synthetic(30, 100 + i));
    const auto [train, valid] = datasets::EpisodeWriter::SplitTrainValid(12, 0.2);
    w.Close(train, valid);
  }
  policy::TrainOptions o;
  o.type = policy::ParsePolicyType(type);
  o.epochs = 3;
  o.batch = 64;
  const fs::path run = dir_ / "run";
  policy::Train(policy::LoadTrainingData(data, policy::DefaultObsKeys()), {}, o, run);
  const fs::path bundle = dir_ / "bundle";
  const CmdResult r = Shell(kBin + " export --policy " + run.string() + " --out " + bundle.string());
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* f : {"policy.json", "weights.safetensors", "policy.ts", "policy.onnx"}) {
    ASSERT_TRUE(fs::exists(bundle / f)) << f;
  }

  // Random raw observations around the training data (z-scores in [-3, 3]) and noise.
  const auto policy = policy::Policy::Load(run);
  const int d = policy->model.obs_dim, width = policy->model.OutputDim();
  torch::manual_seed(7);
  std::vector<float> mean, stdv;
  for (const auto& key : policy->normalizer.obs_keys) {
    const auto& s = policy->normalizer.obs.at(key);
    for (int i = 0; i < s.dim(); ++i) {
      mean.push_back(static_cast<float>(s.mean[i]));
      stdv.push_back(static_cast<float>(s.std[i]));
    }
  }
  const torch::Tensor obs = torch::tensor(mean) + torch::tensor(stdv) * (torch::rand({kRows, d}) * 6 - 3);
  const torch::Tensor noise = torch::randn({kRows, width});

  // 1. The trained model in LibTorch: the reference.
  const torch::Tensor ref = policy::ExportedForward(*policy, obs, noise).reshape({kRows, width});

  // 2. The native runtime of robot/, from policy.json + weights.safetensors alone.
  auto b = std::make_shared<const robot::Bundle>(robot::LoadBundle(bundle.string()));
  robot::PolicyRuntime runtime(b);
  torch::Tensor native = torch::empty({kRows, width});
  std::vector<float> z(d), chunk(width);
  for (int row = 0; row < kRows; ++row) {
    runtime.NormalizeObs(obs[row].contiguous().data_ptr<float>(), z.data());
    runtime.Predict(z.data(), noise[row].contiguous().data_ptr<float>(), chunk.data());
    for (int h = 0; h < width / 7; ++h) {
      runtime.DenormalizeAction(chunk.data() + 7 * h, native[row].data_ptr<float>() + 7 * h);
    }
  }
  EXPECT_LT(WorstDifference(native, ref), kTolerance) << "native runtime";
  std::printf("%s: |ref| max %.3f; worst differences: native %.2e", type.c_str(), ref.abs().max().item<double>(),
              WorstDifference(native, ref));

  // 3. TorchScript in LibTorch.
  torch::jit::Module ts = torch::jit::load((bundle / "policy.ts").string());
  std::vector<torch::jit::IValue> in = {obs};
  if (type == "flow") in.push_back(noise);
  const torch::Tensor ts_out = ts.forward(in).toTensor().reshape({kRows, width});
  EXPECT_LT(WorstDifference(ts_out, ref), kTolerance) << "TorchScript in LibTorch";
  std::printf(", TorchScript %.2e", WorstDifference(ts_out, ref));

  // 4 and 5. TorchScript in Python, ONNX in ONNX Runtime.
  nlohmann::json input = {{"obs", Rows(obs)}};
  if (type == "flow") input["noise"] = Rows(noise);
  std::ofstream(dir_ / "in.json") << input.dump();
  const nlohmann::json py = RunChecker(kPythonCheck, bundle / "policy.ts", dir_, "py");
  ASSERT_FALSE(py.is_null());
  EXPECT_LT(WorstDifference(FromJsonRows(py["actions"], width), ref), kTolerance) << "TorchScript in Python";
  const nlohmann::json ort_json = RunChecker(kOnnxCheck, bundle / "policy.onnx", dir_, "ort");
  ASSERT_FALSE(ort_json.is_null());
  EXPECT_LT(WorstDifference(FromJsonRows(ort_json["actions"], width), ref), kTolerance) << "ONNX Runtime";
  std::printf(", ONNX Runtime %.2e\n", WorstDifference(FromJsonRows(ort_json["actions"], width), ref));

  // 6. One runner for eval and the robot: in a simulated episode, eval's path (the sim
  // observation, the LibTorch network, tools::PolicyController) and the edge controller's
  // path (the robot state, robot::Controller's observation, the bundle's native network)
  // give the same action at every step, chunking, re-planning and the gripper latch
  // included. A divergence in the observation layout, the normalization, the noise draws
  // or the execution rules fails here.
  {
    auto model = std::make_shared<const sim::SceneModel>("bottle_place", sim::SceneModel::DefaultUrdf());
    sim::World world(model, model->Nominal());
    tools::PolicyController eval_path(policy);
    tools::SimHardware hardware(&world);
    robot::Controller controller(b, 0);
    robot::PolicyRunner native(b, 0);
    eval_path.Reset(world);
    native.Reset(tools::PolicySeed(world.params()));
    double worst = 0;
    for (int t = 0; t < 80; ++t) {
      const sim::Observation obs = world.Observe();
      const sim::Action eval_action = eval_path.Act(world, obs);
      robot::RobotState state;
      ASSERT_EQ(hardware.Read(&state), robot::HardwareStatus::kOk);
      Eigen::VectorXf flat;
      controller.BuildObservation(state, &flat);
      std::map<std::string, Eigen::VectorXf> by_key;
      for (const std::string& key : policy->normalizer.obs_keys) sim::ObservationValue(obs, key, &by_key[key]);
      const std::vector<float> expected = policy::FlatObservation(*policy, by_key);
      ASSERT_EQ(flat.size(), static_cast<Eigen::Index>(expected.size()));
      for (Eigen::Index i = 0; i < flat.size(); ++i) ASSERT_NEAR(flat[i], expected[i], 1e-6) << "obs " << i << " step " << t;
      robot::Vector7f native_action;
      ASSERT_EQ(native.Act(flat.data(), &native_action), robot::RunnerStatus::kOk);
      for (int k = 0; k < 6; ++k) worst = std::max(worst, std::abs(native_action[k] - eval_action[k]));
      ASSERT_EQ(native_action[6], eval_action[6]) << "gripper, step " << t;
      world.Step(eval_action);
    }
    EXPECT_LT(worst, 1e-4) << "eval and controller actions differ";
    EXPECT_EQ(native.plans(), type == "flow" ? 40u : 80u);  // flow re-plans every 2 actions
    std::printf("%s: eval vs controller over 80 steps: worst action difference %.2e\n", type.c_str(), worst);
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, ExportTest, ::testing::Values("mlp", "flow"));

// Image policies (issue 16): a policy reading two cameras and the proprioception, exported
// by the real binary, gives the same action chunks from the trained LibTorch model, the
// native runtime (robot::ImageEncoder per camera), TorchScript in LibTorch and in Python,
// and ONNX Runtime, for random observations and random raw uint8 frames. The frames go in
// uncropped; each implementation applies the centre crop itself.
class ImageExportTest : public test::TempDirTest, public ::testing::WithParamInterface<std::string> {};

constexpr int kImageSide = 48;  // a crop of 40 leaves the trunk a 5 x 5 map
constexpr int kImageRows = 64;
const std::vector<std::string> kCameras = {"agentview_image", "robot0_eye_in_hand_image"};

TEST_P(ImageExportTest, AllImplementationsAgreeOnRawFrames) {
  const std::string type = GetParam();
  torch::set_num_threads(1);
  const fs::path data = dir_ / "data.hdf5";
  {
    datasets::EpisodeWriter w(data, {{"env_name", "bottle_place"}});
    for (int i = 0; i < 6; ++i) {
      datasets::Episode ep = Synthetic(16, 300 + i);
      ep.obs.erase("object");
      ep.next_obs.erase("object");
      std::mt19937_64 rng(900 + i);
      for (const std::string& cam : kCameras) {
        datasets::ImageSeq& im = ep.images[cam];
        im.height = im.width = kImageSide;
        im.channels = 3;
        im.data.resize(16 * kImageSide * kImageSide * 3);
        for (auto& v : im.data) v = static_cast<uint8_t>(rng() % 256);
      }
      w.Append(ep);
    }
    const auto [train, valid] = datasets::EpisodeWriter::SplitTrainValid(6, 0.2);
    w.Close(train, valid);
  }
  policy::TrainOptions o;
  o.type = policy::ParsePolicyType(type);
  o.hidden = {64, 64};
  o.epochs = 2;
  o.batch = 32;
  o.image_crop = 40;
  o.image_features = 16;
  o.image_keypoints = 8;
  const fs::path run = dir_ / "run";
  std::vector<std::string> keys = {"robot0_eef_pos", "robot0_gripper_qpos", "robot0_joint_pos"};
  keys.insert(keys.end(), kCameras.begin(), kCameras.end());
  policy::Train(policy::LoadTrainingData(data, keys), {}, o, run);
  const fs::path bundle = dir_ / "bundle";
  const CmdResult r = Shell(kBin + " export --policy " + run.string() + " --out " + bundle.string());
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream json_in(bundle / "policy.json");
  const nlohmann::json pj = nlohmann::json::parse(json_in);
  ASSERT_EQ(pj.at("images").size(), 2u);
  EXPECT_EQ(pj["images"][1]["key"], "robot0_eye_in_hand_image");
  EXPECT_EQ(pj["images"][0]["encoder"]["crop_size"], 40);

  const auto policy = policy::Policy::Load(run);
  const int d = policy->model.obs_dim, width = policy->model.OutputDim();
  torch::manual_seed(11);
  const torch::Tensor obs = torch::randn({kImageRows, d}) * 0.3;
  const torch::Tensor noise = torch::randn({kImageRows, width});
  std::vector<torch::Tensor> frames;
  for (size_t k = 0; k < kCameras.size(); ++k) {
    frames.push_back(torch::randint(0, 256, {kImageRows, kImageSide, kImageSide, 3}, torch::kByte));
  }
  const torch::Tensor ref = policy::ExportedForward(*policy, obs, frames, noise).reshape({kImageRows, width});
  EXPECT_GT(ref.std().item<double>(), 1e-4) << "the reference does not depend on its input";

  // The native runtime: the frames through SetImages, one row at a time.
  auto b = std::make_shared<const robot::Bundle>(robot::LoadBundle(bundle.string()));
  ASSERT_EQ(b->encoders.size(), 2u);
  robot::PolicyRuntime runtime(b);
  ASSERT_EQ(runtime.image_count(), 2);
  torch::Tensor native = torch::empty({kImageRows, width});
  std::vector<float> z(d), chunk(width);
  for (int row = 0; row < kImageRows; ++row) {
    const std::vector<torch::Tensor> row_frames = {frames[0][row].contiguous(), frames[1][row].contiguous()};
    const uint8_t* ptrs[2] = {row_frames[0].data_ptr<uint8_t>(), row_frames[1].data_ptr<uint8_t>()};
    runtime.SetImages(ptrs);
    runtime.NormalizeObs(obs[row].contiguous().data_ptr<float>(), z.data());
    runtime.Predict(z.data(), noise[row].contiguous().data_ptr<float>(), chunk.data());
    for (int h = 0; h < width / 7; ++h) {
      runtime.DenormalizeAction(chunk.data() + 7 * h, native[row].data_ptr<float>() + 7 * h);
    }
  }
  EXPECT_LT(WorstDifference(native, ref), kTolerance) << "native runtime";

  torch::jit::Module ts = torch::jit::load((bundle / "policy.ts").string());
  std::vector<torch::jit::IValue> in = {obs, frames[0], frames[1]};
  if (type == "flow") in.push_back(noise);
  const torch::Tensor ts_out = ts.forward(in).toTensor().reshape({kImageRows, width});
  EXPECT_LT(WorstDifference(ts_out, ref), kTolerance) << "TorchScript in LibTorch";

  nlohmann::json input = {{"obs", Rows(obs)}, {"images", nlohmann::json::array()}};
  if (type == "flow") input["noise"] = Rows(noise);
  for (size_t k = 0; k < kCameras.size(); ++k) {
    const fs::path file = dir_ / (kCameras[k] + ".u8");
    const torch::Tensor c = frames[k].contiguous();
    std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), c.numel());
    input["images"].push_back({{"key", kCameras[k]}, {"shape", c.sizes().vec()}, {"file", file.string()}});
  }
  std::ofstream(dir_ / "in.json") << input.dump();
  const nlohmann::json py = RunChecker(kPythonCheck, bundle / "policy.ts", dir_, "py");
  ASSERT_FALSE(py.is_null());
  const torch::Tensor py_out = FromJsonRows(py["actions"], width);
  EXPECT_LT(WorstDifference(py_out, ref), kTolerance) << "TorchScript in Python";
  const nlohmann::json ort_json = RunChecker(kOnnxCheck, bundle / "policy.onnx", dir_, "ort");
  ASSERT_FALSE(ort_json.is_null());
  nlohmann::json expected_inputs = {"obs", kCameras[0], kCameras[1]};
  if (type == "flow") expected_inputs.push_back("noise");
  EXPECT_EQ(ort_json["inputs"], expected_inputs);
  const torch::Tensor ort_out = FromJsonRows(ort_json["actions"], width);
  EXPECT_LT(WorstDifference(ort_out, ref), kTolerance) << "ONNX Runtime";
  std::printf("image %s: |ref| max %.3f; worst differences: native %.2e, TorchScript %.2e, Python %.2e, ONNX Runtime %.2e\n",
              type.c_str(), ref.abs().max().item<double>(), WorstDifference(native, ref), WorstDifference(ts_out, ref),
              WorstDifference(py_out, ref), WorstDifference(ort_out, ref));
}

INSTANTIATE_TEST_SUITE_P(Policies, ImageExportTest, ::testing::Values("mlp", "flow"));

// An export that fails while writing (here: files limited to 16 KiB, so the weights do not
// fit) exits 1, leaves no BUNDLE.tmp/ behind and the previous bundle as it was.
class ExportFailureTest : public test::TempDirTest {};

TEST_F(ExportFailureTest, AFailedExportLeavesNoTemporaryFolderAndTheOldBundle) {
  const fs::path data = dir_ / "data.hdf5";
  {
    datasets::EpisodeWriter w(data, {{"env_name", "bottle_place"}});
    for (int i = 0; i < 4; ++i) w.Append(Synthetic(20, 300 + i));
    w.Close({"demo_0", "demo_1", "demo_2"}, {"demo_3"});
  }
  policy::TrainOptions o;
  o.epochs = 1;
  const fs::path run = dir_ / "run";
  policy::Train(policy::LoadTrainingData(data, policy::DefaultObsKeys()), {}, o, run);
  const fs::path bundle = dir_ / "bundle";
  const std::string exp = kBin + " export --policy " + run.string() + " --out ";
  const std::string limited = "bash -c \"trap '' XFSZ; ulimit -f 16; " + exp;
  CmdResult r = Shell(limited + (dir_ / "fresh").string() + "\"");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "fresh.tmp"));
  EXPECT_FALSE(fs::exists(dir_ / "fresh"));

  r = Shell(exp + bundle.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string policy_json = test::ReadBytes(bundle / "policy.json");
  r = Shell(limited + bundle.string() + "/\"");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "bundle.tmp"));
  EXPECT_FALSE(fs::exists(dir_ / "bundle.old"));
  EXPECT_EQ(test::ReadBytes(bundle / "policy.json"), policy_json);
  EXPECT_NO_THROW(robot::LoadBundle(bundle.string()));
}

TEST(ExportCliTest, BadPolicyAndTamperedBundlesAreRefused) {
  const CmdResult r = Shell(kBin + " export --policy /nonexistent --out /tmp/df_never");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, ::testing::HasSubstr("run.json"));
  EXPECT_FALSE(fs::exists("/tmp/df_never"));
}

}  // namespace
}  // namespace dreamforge
