#include "sim/urdf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sim/world.h"

namespace dreamforge::sim {
namespace {

using ::testing::HasSubstr;

std::string Robot(const std::string& body) {
  return "<?xml version=\"1.0\"?>\n<robot name=\"r\">\n" + body + "\n</robot>\n";
}

const char* kLink = R"(<link name="%s"><inertial><mass value="1"/>
  <inertia ixx="0.01" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.01"/></inertial></link>)";

std::string Link(const std::string& name) {
  char buf[512];
  std::snprintf(buf, sizeof buf, kLink, name.c_str());
  return buf;
}

std::string ErrorOf(const std::string& xml) {
  try {
    ParseUrdf(xml, "test.urdf");
  } catch (const SimError& e) {
    return e.what();
  }
  return "";
}

TEST(UrdfTest, LoadsThePanda) {
  const RobotDesc d = LoadUrdf(SceneModel::DefaultUrdf());
  EXPECT_EQ(d.name, "panda");
  ASSERT_EQ(d.links.size(), 12u);
  ASSERT_EQ(d.joints.size(), 11u);
  EXPECT_EQ(d.links[0].name, "panda_link0");
  int revolute = 0, prismatic = 0, fixed = 0;
  for (const JointDesc& j : d.joints) {
    EXPECT_EQ(j.child, &j - d.joints.data() + 1);
    revolute += j.type == robot::JointType::kRevolute;
    prismatic += j.type == robot::JointType::kPrismatic;
    fixed += j.type == robot::JointType::kFixed;
  }
  EXPECT_EQ(revolute, 7);
  EXPECT_EQ(prismatic, 2);
  EXPECT_EQ(fixed, 2);
  const JointDesc& j4 = d.joints[d.JointIndex("panda_joint4")];
  EXPECT_DOUBLE_EQ(j4.lower, -3.0718);
  EXPECT_DOUBLE_EQ(j4.upper, -0.0698);
  // Capsules survive the round trip through urdfdom.
  const LinkDesc& l1 = d.links[d.LinkIndex("panda_link1")];
  ASSERT_EQ(l1.collisions.size(), 1u);
  EXPECT_EQ(l1.collisions[0].kind, CollisionShape::Kind::kCapsule);
  EXPECT_EQ(d.links[d.LinkIndex("panda_leftfinger")].collisions.size(), 2u);
}

TEST(UrdfTest, ChainToTheHandMatchesTheJointOrder) {
  const RobotDesc d = LoadUrdf(SceneModel::DefaultUrdf());
  const robot::KinematicChain chain = d.ChainTo("panda_hand", Eigen::Isometry3d::Identity());
  EXPECT_EQ(chain.dof(), 7);
  EXPECT_EQ(chain.joints.back().child_link, "panda_hand");
  EXPECT_THAT(ErrorOf(Robot(Link("a"))), ::testing::IsEmpty());
  EXPECT_THROW(d.ChainTo("nope", Eigen::Isometry3d::Identity()), SimError);
}

TEST(UrdfTest, NonDiagonalInertiaIsDiagonalized) {
  const std::string xml = Robot(R"(<link name="a"><inertial><origin xyz="0.1 0 0" rpy="0 0 0"/>
    <mass value="2"/><inertia ixx="0.02" ixy="0.005" ixz="0" iyy="0.03" iyz="0" izz="0.04"/>
    </inertial></link>)");
  const RobotDesc d = ParseUrdf(xml, "t.urdf");
  const LinkDesc& l = d.links[0];
  Eigen::Matrix3d full = l.inertial.linear() * l.inertia_diagonal.asDiagonal() *
                         l.inertial.linear().transpose();
  Eigen::Matrix3d expected;
  expected << 0.02, 0.005, 0, 0.005, 0.03, 0, 0, 0, 0.04;
  EXPECT_LT((full - expected).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_NEAR(l.inertial.translation().x(), 0.1, 1e-15);
}

TEST(UrdfTest, MissingFile) {
  try {
    LoadUrdf("/nonexistent/robot.urdf");
    FAIL();
  } catch (const SimError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/robot.urdf"));
    EXPECT_THAT(e.what(), HasSubstr("cannot open"));
  }
}

TEST(UrdfTest, XmlError) {
  EXPECT_THAT(ErrorOf("<robot name='r'><link name='a'>"), HasSubstr("test.urdf: XML error"));
}

TEST(UrdfTest, UnknownJointType) {
  const std::string xml = Robot(Link("a") + Link("b") + R"(
    <joint name="j" type="screw"><parent link="a"/><child link="b"/></joint>)");
  const std::string err = ErrorOf(xml);
  EXPECT_THAT(err, HasSubstr("test.urdf"));
  EXPECT_THAT(err, HasSubstr("screw"));
}

TEST(UrdfTest, NonPositiveMass) {
  const std::string xml = Robot(R"(<link name="hand"><inertial><mass value="-1"/>
    <inertia ixx="0.01" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.01"/></inertial></link>)");
  const std::string err = ErrorOf(xml);
  EXPECT_THAT(err, HasSubstr("link 'hand'"));
  EXPECT_THAT(err, HasSubstr("mass must be positive"));
}

TEST(UrdfTest, MissingInertial) {
  EXPECT_THAT(ErrorOf(Robot("<link name=\"bare\"/>")), HasSubstr("link 'bare': missing <inertial>"));
}

TEST(UrdfTest, NoSingleRoot) {
  // Two links and no joint: urdfdom finds two roots.
  const std::string err = ErrorOf(Robot(Link("a") + Link("b")));
  EXPECT_THAT(err, HasSubstr("test.urdf"));
  EXPECT_THAT(err, HasSubstr("root"));
}

// Found by fuzz/urdf_fuzzer.cc (fuzz/regressions/urdf/joint_cycle_*.urdf): joints that form a
// cycle, which urdfdom turns into a model it never frees (and sometimes accepts).
TEST(UrdfTest, JointCycleIsRefused) {
  const std::string self = Robot(Link("a") + Link("b") + Link("c") + R"(
    <joint name="ab" type="fixed"><parent link="a"/><child link="b"/></joint>
    <joint name="cc" type="fixed"><parent link="c"/><child link="c"/></joint>)");
  EXPECT_THAT(ErrorOf(self), HasSubstr("test.urdf: joint 'cc' makes a cycle: link 'c' is its own ancestor"));
  const std::string loop = Robot(Link("a") + Link("b") + Link("c") + R"(
    <joint name="ab" type="fixed"><parent link="a"/><child link="b"/></joint>
    <joint name="bc" type="fixed"><parent link="b"/><child link="c"/></joint>
    <joint name="cb" type="fixed"><parent link="c"/><child link="b"/></joint>)");
  EXPECT_THAT(ErrorOf(loop), HasSubstr("makes a cycle"));
}

// Found by fuzz/script_fuzzer.cc: messages quote names from the file, which may hold any
// character; the message stays one line.
TEST(UrdfTest, ErrorIsOneLine) {
  const std::string err = ErrorOf(Robot(Link("a") + Link("b") + R"(
    <joint name="j&#10;k" type="screw"><parent link="a"/><child link="b"/></joint>)"));
  EXPECT_THAT(err, HasSubstr("test.urdf"));
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
}

TEST(UrdfTest, LowerAboveUpper) {
  const std::string xml = Robot(Link("a") + Link("b") + R"(
    <joint name="j" type="revolute"><parent link="a"/><child link="b"/><axis xyz="0 0 1"/>
    <limit lower="1" upper="-1" effort="1" velocity="1"/></joint>)");
  EXPECT_THAT(ErrorOf(xml), HasSubstr("joint 'j': <limit> lower is greater than upper"));
}

TEST(UrdfTest, MeshIsRejected) {
  const std::string xml = Robot(R"(<link name="m"><inertial><mass value="1"/>
    <inertia ixx="0.01" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.01"/></inertial>
    <collision><geometry><mesh filename="x.stl"/></geometry></collision></link>)");
  EXPECT_THAT(ErrorOf(xml), HasSubstr("link 'm': mesh collision geometry is not supported"));
}

TEST(UrdfTest, BadCollisionIsNotSilentlyDropped) {
  const std::string xml = Robot(R"(<link name="c"><inertial><mass value="1"/>
    <inertia ixx="0.01" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.01"/></inertial>
    <collision><box size="0.1 0.1 0.1"/></collision></link>)");
  EXPECT_THAT(ErrorOf(xml), HasSubstr("test.urdf"));
}

}  // namespace
}  // namespace dreamforge::sim
