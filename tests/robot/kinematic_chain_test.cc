#include "robot/kinematic_chain.h"

#include <stdexcept>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "robot/kinematics.h"
#include "robot/panda_chain.h"

namespace dreamforge::robot {
namespace {

using ::testing::HasSubstr;

// Panda arm plus a prismatic finger and a rotated tool: every field type exercised.
KinematicChain TestChain() {
  KinematicChain chain = PandaChain();
  JointSpec finger;
  finger.name = "panda_finger_joint1";
  finger.type = JointType::kPrismatic;
  finger.origin = FromXyzRpy({0, 0, 0.0584}, {0, 0, 0});
  finger.axis = Eigen::Vector3d(0, 1, 0);
  finger.lower = 0.0;
  finger.upper = 0.04;
  finger.velocity = 0.2;
  finger.effort = 20;
  finger.child_link = "panda_leftfinger";
  chain.joints.push_back(finger);
  chain.tool = FromXyzRpy({0.01, -0.02, 0.045}, {0.1, 0.2, 0.3});
  return chain;
}

void ExpectSameChain(const KinematicChain& a, const KinematicChain& b) {
  EXPECT_EQ(a.base_link, b.base_link);
  EXPECT_TRUE(a.tool.matrix() == b.tool.matrix());
  ASSERT_EQ(a.joints.size(), b.joints.size());
  for (size_t i = 0; i < a.joints.size(); ++i) {
    const JointSpec& x = a.joints[i];
    const JointSpec& y = b.joints[i];
    SCOPED_TRACE(x.name);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.type, y.type);
    EXPECT_TRUE(x.origin.matrix() == y.origin.matrix());
    EXPECT_TRUE(x.axis == y.axis);
    EXPECT_EQ(x.lower, y.lower);
    EXPECT_EQ(x.upper, y.upper);
    EXPECT_EQ(x.velocity, y.velocity);
    EXPECT_EQ(x.effort, y.effort);
    EXPECT_EQ(x.child_link, y.child_link);
  }
}

// The message FromJson throws for `json`, or "" if it does not throw.
std::string FromJsonError(const nlohmann::json& json) {
  try {
    KinematicChain::FromJson(json);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(KinematicChainTest, PandaHasSevenDof) {
  const KinematicChain chain = PandaChain();
  EXPECT_EQ(chain.dof(), 7);
  EXPECT_EQ(chain.joints.size(), 9u);
  EXPECT_EQ(chain.base_link, "panda_link0");
  EXPECT_EQ(chain.joints.back().child_link, "panda_hand");
  EXPECT_NO_THROW(chain.Validate());
  EXPECT_EQ(TestChain().dof(), 8);
}

TEST(KinematicChainTest, JsonRoundTripIsExact) {
  const KinematicChain chain = TestChain();
  ExpectSameChain(chain, KinematicChain::FromJson(chain.ToJson()));
  // Through text as well (the bundle is a file).
  const std::string text = chain.ToJson().dump(2);
  ExpectSameChain(chain, KinematicChain::FromJson(nlohmann::json::parse(text)));
  EXPECT_EQ(KinematicChain::FromJson(chain.ToJson()).ToJson(), chain.ToJson());
}

TEST(KinematicChainTest, FromJsonAcceptsRpyAndOptionalFixedFields) {
  const nlohmann::json json = nlohmann::json::parse(R"({
    "base_link": "base",
    "tool": {"xyz": [0, 0, 0.1], "rpy": [0, 0, 0]},
    "joints": [
      {"name": "j1", "type": "revolute", "child_link": "l1",
       "origin": {"xyz": [0, 0, 0.3], "rpy": [1.5707963267948966, 0, 0.5]},
       "axis": [0, 0, 1], "lower": -1, "upper": 1, "velocity": 2, "effort": 10},
      {"name": "mount", "type": "fixed", "child_link": "l2",
       "origin": {"xyz": [0.1, 0, 0], "rpy": [0, 0, 0]}}
    ]})");
  const KinematicChain chain = KinematicChain::FromJson(json);
  EXPECT_EQ(chain.dof(), 1);
  EXPECT_TRUE(chain.joints[0].origin.isApprox(FromXyzRpy({0, 0, 0.3}, {1.5707963267948966, 0, 0.5}),
                                              1e-15));
  EXPECT_EQ(chain.joints[1].type, JointType::kFixed);
}

TEST(KinematicChainTest, FromJsonNamesTheBadField) {
  const nlohmann::json good = TestChain().ToJson();
  struct Case {
    const char* what;
    nlohmann::json json;
    const char* expected;
  };
  std::vector<Case> cases;
  auto with = [&](const char* what, auto edit, const char* expected) {
    nlohmann::json j = good;
    edit(j);
    cases.push_back({what, j, expected});
  };
  with(
      "missing base", [](auto& j) { j.erase("base_link"); }, "base_link: missing");
  with(
      "missing joints", [](auto& j) { j.erase("joints"); }, "joints: missing");
  with(
      "missing lower", [](auto& j) { j["joints"][1].erase("lower"); }, "joints[1].lower: missing");
  with(
      "lower > upper", [](auto& j) { j["joints"][3]["lower"] = 0.5; }, "joints[3].lower");
  with(
      "non-unit axis",
      [](auto& j) {
        j["joints"][2]["axis"] = {0, 0, 1.1};
      },
      "joints[2].axis: not a unit vector");
  with(
      "zero axis",
      [](auto& j) {
        j["joints"][9]["axis"] = {0, 0, 0};
      },
      "joints[9].axis");
  with(
      "unknown type", [](auto& j) { j["joints"][0]["type"] = "continuous"; },
      "joints[0].type: unknown joint type 'continuous'");
  with(
      "number as string", [](auto& j) { j["joints"][4]["upper"] = "2.9"; },
      "joints[4].upper: expected a number");
  with(
      "short axis",
      [](auto& j) {
        j["joints"][5]["axis"] = {0, 1};
      },
      "joints[5].axis");
  with(
      "negative velocity", [](auto& j) { j["joints"][6]["velocity"] = -1; },
      "joints[6].velocity: negative");
  with(
      "bad rotation", [](auto& j) { j["joints"][0]["origin"]["rotation"][0][0] = 2.0; },
      "joints[0].origin.rotation");
  with(
      "rotation and rpy",
      [](auto& j) {
        j["tool"]["rpy"] = {0, 0, 0};
      },
      "tool: expected exactly one");
  with(
      "missing xyz", [](auto& j) { j["tool"].erase("xyz"); }, "tool.xyz: missing");
  with(
      "duplicate link", [](auto& j) { j["joints"][1]["child_link"] = "panda_link1"; },
      "joints[1].child_link: duplicate link");
  with(
      "joints not array", [](auto& j) { j["joints"] = 3; }, "joints: expected an array");
  with(
      "empty name", [](auto& j) { j["joints"][2]["name"] = ""; }, "joints[2].name: empty");
  for (const Case& c : cases) {
    const std::string error = FromJsonError(c.json);
    EXPECT_THAT(error, HasSubstr(c.expected)) << c.what;
  }
  EXPECT_THAT(FromJsonError(nlohmann::json::array()), HasSubstr("expected an object"));
  EXPECT_EQ(FromJsonError(good), "");
}

TEST(KinematicChainTest, KinematicsRejectsInvalidChain) {
  KinematicChain chain = PandaChain();
  chain.joints[3].lower = 1.0;
  try {
    Kinematics k(chain);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("joints[3].lower"));
  }
}

}  // namespace
}  // namespace dreamforge::robot
