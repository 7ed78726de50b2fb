#include "robot/bundle.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "robot/panda_chain.h"
#include "robot/safetensors.h"
#include "tests/common/test_util.h"
#include "tests/robot/edge_test_util.h"

namespace dreamforge::robot {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(BundleTest, LoadsTheTinyBundles) {
  const Bundle mlp = LoadBundle(test::TinyBundleDir("tiny_mlp"), test::PandaHardware());
  EXPECT_EQ(mlp.task, "bottle_place");
  EXPECT_EQ(mlp.control_hz, 20);
  EXPECT_EQ(mlp.model.type, ModelType::kMlp);
  EXPECT_EQ(mlp.model.obs_dim, 25);
  EXPECT_EQ(mlp.model.InputDim(), 25);
  EXPECT_EQ(mlp.model.OutputDim(), 7);
  EXPECT_EQ(mlp.model.gripper, GripperMode::kSample);
  ASSERT_EQ(mlp.obs_keys.size(), 4u);
  EXPECT_EQ(mlp.obs_keys[0], ObsKey::kEefPos);
  EXPECT_EQ(mlp.obs_keys[3], ObsKey::kObject);
  ASSERT_EQ(mlp.layers.size(), 3u);
  EXPECT_EQ(mlp.layers[0].weight.rows(), 16);
  EXPECT_EQ(mlp.layers[0].weight.cols(), 25);
  EXPECT_EQ(mlp.layers[2].bias.size(), 7);
  EXPECT_DOUBLE_EQ(mlp.action_scale.position, 0.05);
  EXPECT_DOUBLE_EQ(mlp.robot.finger_open, 0.04);
  EXPECT_DOUBLE_EQ(mlp.safety.max_joint_acceleration[3], 15.0);
  EXPECT_EQ(mlp.files.at("weights.safetensors").sha256.size(), 64u);

  const Bundle flow = LoadBundle(test::TinyBundleDir("tiny_flow"), test::PandaHardware());
  EXPECT_EQ(flow.model.type, ModelType::kFlow);
  EXPECT_EQ(flow.model.horizon, 4);
  EXPECT_EQ(flow.model.execute, 2);
  EXPECT_EQ(flow.model.flow_steps, 3);
  EXPECT_EQ(flow.model.InputDim(), 25 + 28 + 9);
  EXPECT_EQ(flow.layers[0].weight.cols(), 62);
  EXPECT_EQ(flow.layers[2].weight.rows(), 28);
}

// The writer beside the reader: what PolicyJson writes, ParsePolicyJson reads back to the
// same bundle, for both tiny bundles and for a bundle made in code.
TEST(BundleTest, PolicyJsonRoundTrips) {
  for (const char* name : {"tiny_mlp", "tiny_flow"}) {
    std::ifstream in(test::TinyBundleDir(name) + "/policy.json");
    const Bundle parsed = ParsePolicyJson(json::parse(in), name);
    const json written = PolicyJson(parsed);
    const Bundle again = ParsePolicyJson(written, "written");
    EXPECT_EQ(PolicyJson(again), written) << name;
    EXPECT_EQ(again.model.ToJson(), parsed.model.ToJson()) << name;
    EXPECT_EQ(again.obs_keys, parsed.obs_keys) << name;
    ASSERT_EQ(again.normalization.obs.size(), parsed.normalization.obs.size());
    for (size_t i = 0; i < parsed.normalization.obs.size(); ++i) {
      EXPECT_EQ(again.normalization.obs[i].mean, parsed.normalization.obs[i].mean);
      EXPECT_EQ(again.normalization.obs[i].std, parsed.normalization.obs[i].std);
    }
    EXPECT_EQ(again.normalization.action.max, parsed.normalization.action.max);
    EXPECT_EQ(again.safety.max_joint_velocity, parsed.safety.max_joint_velocity);
    EXPECT_EQ(again.files.at(kWeightsFile).sha256, parsed.files.at(kWeightsFile).sha256);
  }

  Bundle b;
  b.task = "bottle_place";
  b.control_hz = 20;
  b.model = ModelSpec::Default(ModelType::kFlow, 5);
  b.obs_keys = {ObsKey::kEefPos, ObsKey::kGripperQpos};
  b.normalization.obs = {{{0, 0, 0}, {1, 1, 1}, {-1, -1, -1}, {1, 1, 1}}, {{0, 0}, {2, 2}, {0, 0}, {1, 1}}};
  b.normalization.action = {std::vector<double>(7, 0.0), std::vector<double>(7, 1.0), std::vector<double>(7, -1.0),
                            std::vector<double>(7, 1.0)};
  b.robot = test::PandaHardware();
  b.safety = DefaultSafetyLimits(b.robot);
  b.files[kWeightsFile] = {std::string(64, 'a'), 123};
  b.source = {{"run", "/runs/x"}, {"checkpoint", "best"}};
  const json j = PolicyJson(b);
  EXPECT_EQ(j["format"], kBundleFormat);
  EXPECT_EQ(j["obs_keys"], json({"robot0_eef_pos", "robot0_gripper_qpos"}));
  EXPECT_EQ(j["normalization"]["obs_keys"], j["obs_keys"]);
  EXPECT_EQ(j["source"]["checkpoint"], "best");
  const Bundle back = ParsePolicyJson(j, "code");
  EXPECT_EQ(PolicyJson(back), j);
  EXPECT_EQ(back.action_scale.position, 0.05);
  EXPECT_EQ(back.safety.max_eef_speed, 1.5);
}

TEST(BundleTest, DefaultSafetyLimitsFollowTheChain) {
  const RobotDescription panda = test::PandaHardware();
  const SafetyLimits s = DefaultSafetyLimits(panda);
  int i = 0;
  for (const JointSpec& joint : panda.chain.joints) {
    if (joint.type == JointType::kFixed) continue;
    EXPECT_EQ(s.max_joint_velocity[i], joint.velocity) << joint.name;
    EXPECT_EQ(s.max_joint_acceleration[i], 200.0);
    ++i;
  }
  EXPECT_EQ(i, kArmDof);
  EXPECT_EQ(s.workspace_min, Eigen::Vector3d(-0.3, -0.9, -0.02));
  EXPECT_EQ(s.workspace_max, Eigen::Vector3d(1.0, 0.9, 1.2));
  // Its JSON is what the reader accepts, and a bad field is named.
  json j = s.ToJson();
  EXPECT_EQ(SafetyLimits::FromJson(j, panda, "S").ToJson(), j);
  j["max_eef_speed"] = -1;
  EXPECT_THROW(
      {
        try {
          SafetyLimits::FromJson(j, panda, "S");
        } catch (const BundleError& e) {
          EXPECT_THAT(e.what(), StartsWith("S: safety.max_eef_speed: expected a positive number"));
          throw;
        }
      },
      BundleError);
}

TEST(BundleTest, RobotDescriptionRoundTripsAndMatchesThePanda) {
  const RobotDescription hw = test::PandaHardware();
  const RobotDescription back = RobotDescription::FromJson(hw.ToJson(), "hw.json");
  EXPECT_NO_THROW(CheckRobotMatches(back, hw, "hw.json"));
  EXPECT_EQ(back.arm_joints, hw.arm_joints);
}

// The error message of ParsePolicyJson on the tiny mlp's policy.json after `edit`.
std::string ParseErrorAfter(const std::function<void(json&)>& edit) {
  json j = test::ReadJson(test::RobotDataDir() / "tiny_mlp" / "policy.json");
  edit(j);
  try {
    ParsePolicyJson(j, "B/policy.json");
  } catch (const BundleError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(BundleTest, ParseErrorsNameFileAndField) {
  EXPECT_EQ(ParseErrorAfter([](json&) {}), "(no error)");
  EXPECT_EQ(ParseErrorAfter([](json& j) {
              j["model"]["hidden"] = {16, -1};
            }),
            "B/policy.json: model.hidden[1]: expected an integer width in 1..16384, got -1");
  EXPECT_EQ(ParseErrorAfter([](json& j) { j["model"]["hidden"] = {16.5}; }),
            "B/policy.json: model.hidden[0]: expected an integer width in 1..16384, got 16.5");
  EXPECT_EQ(ParseErrorAfter([](json& j) { j.erase("safety"); }), "B/policy.json: safety: missing");
  EXPECT_EQ(ParseErrorAfter([](json& j) { j["model"].erase("execute"); }),
            "B/policy.json: model.execute: missing");
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["format"] = "dreamforge-bundle/2"; }),
              StartsWith("B/policy.json: format: expected \"dreamforge-bundle/1\""));
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["model"]["type"] = "transformer"; }),
              StartsWith("B/policy.json: model.type: expected \"mlp\" or \"flow\""));
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["model"]["action_dim"] = 6; }),
              StartsWith("B/policy.json: model.action_dim: expected 7"));
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["model"]["horizon"] = 2; }),
              StartsWith("B/policy.json: model.horizon: must be 1 for an mlp"));
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["model"]["gripper"] = "maybe"; }),
              StartsWith("B/policy.json: model.gripper:"));
  EXPECT_EQ(ParseErrorAfter([](json& j) {
              j["model"]["gripper"] = "latch";
              j["model"]["gripper_switch"] = 0.2;
              j["model"]["gripper_hold"] = 4;
            }),
            "(no error)");
  EXPECT_EQ(ParseErrorAfter([](json& j) { j["model"]["gripper"] = "latch"; }),
            "B/policy.json: model.gripper_switch: missing");
  EXPECT_THAT(ParseErrorAfter([](json& j) {
                j["model"]["gripper"] = "latch";
                j["model"]["gripper_switch"] = 1.0;
                j["model"]["gripper_hold"] = 4;
              }),
              StartsWith("B/policy.json: model.gripper_switch: expected a probability in (0, 1)"));
  EXPECT_EQ(ParseErrorAfter([](json& j) {
              j["model"]["gripper"] = "latch";
              j["model"]["gripper_switch"] = 0.2;
              j["model"]["gripper_hold"] = -1;
            }),
            "B/policy.json: model.gripper_hold: expected a non-negative integer");
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["model"]["obs_dim"] = 24; }),
              StartsWith("B/policy.json: model.obs_dim: 24 but obs_keys add up to 25"));
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["obs_keys"][1] = "robot0_gripper_vel"; }),
              StartsWith("B/policy.json: obs_keys[1]: expected one of"));
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["normalization"]["obs_keys"][0] = "object"; }),
              StartsWith("B/policy.json: normalization.obs_keys: differs from obs_keys"));
  EXPECT_THAT(ParseErrorAfter([](json& j) {
                j["normalization"]["obs"]["robot0_eef_pos"]["std"] = {1.0, 0.0, 1.0};
              }),
              StartsWith("B/policy.json: normalization.obs.robot0_eef_pos.std[1]: expected > 0"));
  EXPECT_THAT(ParseErrorAfter([](json& j) {
                j["normalization"]["obs"]["object"]["mean"] = {1.0, 2.0};
              }),
              StartsWith("B/policy.json: normalization.obs.object.mean: expected an array of 13"));
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["normalization"]["action"]["max"][2] = -5.0; }),
              StartsWith("B/policy.json: normalization.action.min[2]: min"));
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["action_scale"]["rotation"] = 0; }),
              StartsWith("B/policy.json: action_scale.rotation: expected a positive number"));
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["robot"]["arm_joints"][2] = "elbow"; }),
              StartsWith("B/policy.json: robot.arm_joints[2]: 'elbow' but moving joint 2"));
  EXPECT_THAT(ParseErrorAfter([](json& j) {
                j["robot"]["chain"]["joints"][3]["axis"] = {0, 0, 2};
              }),
              StartsWith("B/policy.json: robot.chain.joints[3].axis: not a unit vector"));
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["robot"]["tool"][11] = 0.2; }),
              StartsWith("B/policy.json: robot.tool: differs from robot.chain.tool"));
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["safety"]["workspace_max"][2] = -1.0; }),
              StartsWith("B/policy.json: safety.workspace_min[2]:"));
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["safety"]["max_joint_velocity"][6] = 0.0; }),
              StartsWith("B/policy.json: safety.max_joint_velocity[6]: expected > 0"));
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["safety"]["joint_margin"] = 1.6; }),
              StartsWith("B/policy.json: safety.joint_margin: 1.6 rad leaves no range for joint"));
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["files"].erase("weights.safetensors"); }),
              StartsWith("B/policy.json: files.weights.safetensors: missing"));
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["files"]["weights.safetensors"]["sha256"] = "abc"; }),
              StartsWith("B/policy.json: files.weights.safetensors.sha256: expected 64"));
  EXPECT_THAT(
      ParseErrorAfter([](json& j) { j["files"]["../x"] = j["files"]["weights.safetensors"]; }),
      StartsWith("B/policy.json: files.../x: expected a plain file name"));
  EXPECT_THAT(ParseErrorAfter([](json& j) { j["control_hz"] = "fast"; }),
              StartsWith("B/policy.json: control_hz: expected a number"));
  EXPECT_EQ(ParseErrorAfter([](json& j) { j["control_hz"] = 1e9; }),
            "B/policy.json: control_hz: expected 1..1000 Hz, got 1000000000");
  EXPECT_EQ(ParseErrorAfter([](json& j) { j["control_hz"] = 0.5; }),
            "B/policy.json: control_hz: expected 1..1000 Hz, got 0.5");
}

TEST(BundleTest, FlowConsistencyIsChecked) {
  json j = test::ReadJson(test::RobotDataDir() / "tiny_flow" / "policy.json");
  j["model"]["execute"] = 5;
  EXPECT_THROW(
      {
        try {
          ParsePolicyJson(j, "F/policy.json");
        } catch (const BundleError& e) {
          EXPECT_THAT(e.what(),
                      StartsWith("F/policy.json: model.execute: 5 exceeds model.horizon 4"));
          throw;
        }
      },
      BundleError);
  j["model"]["execute"] = 2;
  j["model"]["time_features"] = 8;
  EXPECT_THROW(ParsePolicyJson(j, "F/policy.json"), BundleError);
}

class BundleFileTest : public test::TempDirTest {
 protected:
  // The error of LoadBundle(dir_/b) against the Panda.
  std::string LoadError() {
    try {
      LoadBundle((dir_ / "b").string(), test::PandaHardware());
    } catch (const BundleError& e) {
      return e.what();
    }
    return "(no error)";
  }
  std::string B() const { return (dir_ / "b").string(); }
};

TEST_F(BundleFileTest, MissingOrInvalidPolicyJson) {
  std::filesystem::create_directories(dir_ / "b");
  EXPECT_THAT(LoadError(), StartsWith(B() + "/policy.json: cannot open"));
  std::ofstream(dir_ / "b" / "policy.json") << "{\"format\": ";
  EXPECT_THAT(LoadError(), StartsWith(B() + "/policy.json: not valid JSON"));
}

TEST_F(BundleFileTest, TamperedWeightsAreRefused) {
  test::CopyBundle("tiny_mlp", dir_ / "b");
  ASSERT_EQ(LoadError(), "(no error)");
  // Flip one byte of a weight: same size, different hash.
  {
    std::fstream f(dir_ / "b" / "weights.safetensors",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('\x7f');
  }
  EXPECT_THAT(LoadError(), AllOf(StartsWith(B() + "/weights.safetensors: sha256 "),
                                 HasSubstr("does not match " + B() +
                                           "/policy.json files.weights.safetensors.sha256"),
                                 HasSubstr("tampered")));
}

TEST_F(BundleFileTest, TruncatedWeightsAreRefusedByHashAndByParser) {
  test::CopyBundle("tiny_mlp", dir_ / "b");
  const auto path = dir_ / "b" / "weights.safetensors";
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 10);
  EXPECT_THAT(LoadError(),
              AllOf(StartsWith(B() + "/weights.safetensors: "),
                    HasSubstr("files.weights.safetensors.bytes says"), HasSubstr("truncated")));
  // Even with a matching hash, the truncated file does not parse.
  test::RehashFile(dir_ / "b", "weights.safetensors");
  EXPECT_THAT(LoadError(), AllOf(StartsWith(B() + "/weights.safetensors: fc2.bias.data_offsets"),
                                 HasSubstr("out of range")));
}

TEST_F(BundleFileTest, MissingWeightsFile) {
  test::CopyBundle("tiny_mlp", dir_ / "b");
  std::filesystem::remove(dir_ / "b" / "weights.safetensors");
  EXPECT_THAT(LoadError(), StartsWith(B() + "/weights.safetensors: cannot open"));
}

TEST_F(BundleFileTest, WeightShapesMustFollowTheModel) {
  test::CopyBundle("tiny_mlp", dir_ / "b");
  // policy.json now says three hidden layers; the file has two.
  test::EditPolicyJson(dir_ / "b", [](json& j) { j["model"]["hidden"] = {16, 16, 16}; });
  EXPECT_THAT(LoadError(), StartsWith(B() + "/weights.safetensors: fc2.weight.shape: [7, 16], "
                                            "expected [16, 16]"));
  test::EditPolicyJson(dir_ / "b", [](json& j) { j["model"]["hidden"] = {16}; });
  EXPECT_THAT(LoadError(), StartsWith(B() + "/weights.safetensors: fc1.weight.shape: [16, 16], "
                                            "expected [7, 16]"));
  // The right layer count but the flow's input width.
  test::EditPolicyJson(dir_ / "b", [](json& j) { j["model"]["hidden"] = {16, 16}; });
  ASSERT_EQ(LoadError(), "(no error)");
}

TEST_F(BundleFileTest, MissingAndUnexpectedTensors) {
  test::CopyBundle("tiny_flow", dir_ / "b");
  // Keep only fc0 and fc1 of the flow bundle, re-written as a new safetensors file.
  const SafeTensors st = SafeTensors::Load((dir_ / "b" / "weights.safetensors").string());
  auto write = [&](const std::vector<std::string>& names, const std::string& rename_last) {
    json header = json::object();
    std::string data;
    for (size_t i = 0; i < names.size(); ++i) {
      const std::vector<float> v = st.ReadF32(names[i]);
      const std::string name =
          i + 1 == names.size() && !rename_last.empty() ? rename_last : names[i];
      header[name] = {{"dtype", "F32"},
                      {"shape", st.tensors().at(names[i]).shape},
                      {"data_offsets", {data.size(), data.size() + 4 * v.size()}}};
      data.append(reinterpret_cast<const char*>(v.data()), 4 * v.size());  // little-endian host
    }
    const std::string h = header.dump();
    std::ofstream out(dir_ / "b" / "weights.safetensors", std::ios::binary);
    std::uint64_t n = h.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << h << data;
  };
  write({"fc0.weight", "fc0.bias", "fc1.weight", "fc1.bias", "fc2.weight"}, "");
  test::RehashFile(dir_ / "b", "weights.safetensors");
  EXPECT_THAT(LoadError(), StartsWith(B() + "/weights.safetensors: fc2.bias: missing tensor"));
  write({"fc0.weight", "fc0.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc2.bias"},
        "fc3.bias");
  test::RehashFile(dir_ / "b", "weights.safetensors");
  EXPECT_THAT(LoadError(), StartsWith(B() + "/weights.safetensors: fc3.bias: unexpected tensor"));
}

TEST_F(BundleFileTest, ListedFilesMustBePresentAndMatch) {
  test::CopyBundle("tiny_mlp", dir_ / "b");
  std::ofstream(dir_ / "b" / "policy.onnx") << "onnx bytes";
  test::RehashFile(dir_ / "b", "policy.onnx");
  std::ofstream(dir_ / "b" / "policy.ts") << "torchscript bytes";
  test::RehashFile(dir_ / "b", "policy.ts");
  EXPECT_EQ(LoadError(), "(no error)");
  // Listed but absent: as tampered as a changed file.
  std::filesystem::remove(dir_ / "b" / "policy.ts");
  EXPECT_EQ(LoadError(), B() + "/policy.ts: missing, but " + B() +
                             "/policy.json files.policy.ts lists it (incomplete or tampered bundle)");
  std::ofstream(dir_ / "b" / "policy.ts") << "torchscript bytes";
  EXPECT_EQ(LoadError(), "(no error)");
  // Present but changed: refused.
  std::ofstream(dir_ / "b" / "policy.onnx") << "onnx bytez";
  EXPECT_THAT(LoadError(), AllOf(StartsWith(B() + "/policy.onnx: sha256 "),
                                 HasSubstr("files.policy.onnx.sha256")));
}

TEST_F(BundleFileTest, NonFiniteWeightsAreRefused) {
  test::CopyBundle("tiny_mlp", dir_ / "b");
  {
    // The last 4 bytes are the last element of fc2.bias: make it a NaN.
    std::fstream f(dir_ / "b" / "weights.safetensors",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-4, std::ios::end);
    const unsigned char nan_bits[4] = {0x00, 0x00, 0xc0, 0x7f};
    f.write(reinterpret_cast<const char*>(nan_bits), 4);
  }
  test::RehashFile(dir_ / "b", "weights.safetensors");
  EXPECT_EQ(LoadError(), B() + "/weights.safetensors: fc2.bias: element 6 is not finite");
}

TEST_F(BundleFileTest, ABundleForAnotherRobotIsRefused) {
  test::CopyBundle("tiny_mlp", dir_ / "b");
  RobotDescription hw = test::PandaHardware();
  hw.chain.joints[3].upper = -0.07;  // differs by 1.2e-3
  try {
    LoadBundle(B(), hw);
    FAIL() << "no error";
  } catch (const BundleError& e) {
    EXPECT_THAT(e.what(), AllOf(StartsWith(B() + "/policy.json: robot.chain.joints[3].upper: "
                                                 "the bundle has -0.0698, the hardware -0.07"),
                                HasSubstr("different robot")));
  }
  hw = test::PandaHardware();
  hw.chain.joints[1].origin.translation().y() += 1e-6;
  try {
    LoadBundle(B(), hw);
    FAIL() << "no error";
  } catch (const BundleError& e) {
    EXPECT_THAT(e.what(), StartsWith(B() + "/policy.json: robot.chain.joints[1].origin: differs"));
  }
  hw = test::PandaHardware();
  hw.chain.joints[1].origin.translation().y() += 1e-11;  // within 1e-9
  EXPECT_NO_THROW(LoadBundle(B(), hw));
  hw = test::PandaHardware();
  hw.arm_joints[6] = "wrist";
  try {
    LoadBundle(B(), hw);
    FAIL() << "no error";
  } catch (const BundleError& e) {
    EXPECT_THAT(e.what(), StartsWith(B() + "/policy.json: robot.arm_joints[6]: the bundle has "
                                           "'panda_joint7', the hardware 'wrist'"));
  }
  hw = test::PandaHardware();
  hw.chain.tool.translation().z() = 0.11;
  EXPECT_THROW(LoadBundle(B(), hw), BundleError);
  hw = test::PandaHardware();
  hw.chain.joints.pop_back();
  EXPECT_THROW(LoadBundle(B(), hw), BundleError);
}

}  // namespace
}  // namespace dreamforge::robot
