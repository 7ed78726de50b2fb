#include "robot/model_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace dreamforge::robot {
namespace {

using ::testing::StartsWith;

std::string ErrorOf(const nlohmann::json& j) {
  try {
    ModelSpec::FromJson(j, "F");
  } catch (const BundleError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ModelSpecTest, DefaultsRoundTripThroughJson) {
  for (ModelType type : {ModelType::kMlp, ModelType::kFlow}) {
    ModelSpec spec = ModelSpec::Default(type, 25);
    spec.gripper_switch = 0.3;
    spec.gripper_hold = 6;
    const nlohmann::json j = spec.ToJson();
    const ModelSpec back = ModelSpec::FromJson(j, "F");
    EXPECT_EQ(back.ToJson(), j);
    EXPECT_EQ(back.type, type);
    EXPECT_EQ(back.gripper, GripperMode::kLatch);
    EXPECT_EQ(back.InputDim(), type == ModelType::kMlp ? 25 : 25 + 16 * 7 + kFlowTimeFeatures);
    EXPECT_EQ(back.OutputDim(), type == ModelType::kMlp ? 7 : 16 * 7);
    EXPECT_EQ(j["time_features"], type == ModelType::kMlp ? 0 : kFlowTimeFeatures);
  }
}

TEST(ModelSpecTest, NamesRoundTrip) {
  for (GripperMode m : {GripperMode::kRaw, GripperMode::kSign, GripperMode::kSample, GripperMode::kLatch}) {
    GripperMode parsed;
    ASSERT_TRUE(ParseGripperMode(GripperModeName(m), &parsed));
    EXPECT_EQ(parsed, m);
  }
  ModelType type;
  EXPECT_TRUE(ParseModelType("flow", &type));
  EXPECT_EQ(type, ModelType::kFlow);
  EXPECT_FALSE(ParseModelType("transformer", &type));
}

TEST(ModelSpecTest, BadFieldsAreNamed) {
  const nlohmann::json mlp = ModelSpec::Default(ModelType::kMlp, 25).ToJson();
  const nlohmann::json flow = ModelSpec::Default(ModelType::kFlow, 25).ToJson();
  auto with = [](nlohmann::json j, const char* k, nlohmann::json v) {
    j[k] = v;
    return j;
  };
  EXPECT_EQ(ErrorOf(with(mlp, "hidden", {16, 0})), "F: model.hidden[1]: expected an integer width in 1..16384, got 0");
  EXPECT_EQ(ErrorOf(with(mlp, "hidden", {1e12, 256})),
            "F: model.hidden[0]: expected an integer width in 1..16384, got 1000000000000.0");
  EXPECT_EQ(ErrorOf(with(mlp, "hidden", {16384, 16385})),
            "F: model.hidden[1]: expected an integer width in 1..16384, got 16385");
  EXPECT_EQ(ErrorOf(with(mlp, "hidden", nlohmann::json::array())), "F: model.hidden: needs at least one layer");
  EXPECT_EQ(ErrorOf(with(mlp, "horizon", 2)), "F: model.horizon: must be 1 for an mlp");
  EXPECT_EQ(ErrorOf(with(flow, "execute", 17)), "F: model.execute: 17 exceeds model.horizon 16");
  EXPECT_EQ(ErrorOf(with(flow, "flow_steps", 0)), "F: model.flow_steps: must be >= 1 for a flow policy");
  EXPECT_EQ(ErrorOf(with(flow, "time_features", 8)), "F: model.time_features: must be 9 for a flow policy, got 8");
  EXPECT_THAT(ErrorOf(with(mlp, "gripper_switch", 1.0)), StartsWith("F: model.gripper_switch: expected a probability"));
  EXPECT_THAT(ErrorOf(with(mlp, "gripper", "maybe")), StartsWith("F: model.gripper: expected"));
  nlohmann::json missing = mlp;
  missing.erase("obs_dim");
  EXPECT_EQ(ErrorOf(missing), "F: model.obs_dim: missing");
  ModelSpec wide = ModelSpec::Default(ModelType::kMlp, 25);
  wide.hidden = {2000000000};
  EXPECT_THROW(wide.Validate(), BundleError);
}

}  // namespace
}  // namespace dreamforge::robot
