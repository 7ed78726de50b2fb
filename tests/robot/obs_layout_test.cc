#include "robot/obs_layout.h"

#include <cmath>

#include <gtest/gtest.h>

#include "robot/geometry.h"

namespace dreamforge::robot {
namespace {

TEST(ObsLayoutTest, OneTableNamesWidthsAndDtypesInKeyOrder) {
  const std::vector<ObsKeySpec>& keys = LowDimObsKeys();
  ASSERT_EQ(static_cast<int>(keys.size()), kNumObsKeys);
  const char* names[] = {"robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos",
                         "robot0_joint_pos", "robot0_joint_vel", "object"};
  const int widths[] = {3, 4, 2, 7, 7, 13};
  for (int i = 0; i < kNumObsKeys; ++i) {
    const ObsKey key = static_cast<ObsKey>(i);
    EXPECT_EQ(keys[i].name, names[i]);
    EXPECT_STREQ(ObsKeyName(key), names[i]);
    EXPECT_EQ(ObsKeyWidth(key), widths[i]);
    EXPECT_EQ(keys[i].dtype, ObsDtype::kFloat32);
    EXPECT_FALSE(keys[i].IsImage());
    ObsKey parsed;
    ASSERT_TRUE(ParseObsKey(names[i], &parsed));
    EXPECT_EQ(parsed, key);
  }
  ObsKey unused;
  EXPECT_FALSE(ParseObsKey("robot0_eef_vel", &unused));
  EXPECT_EQ(LowDimObsKeyList(),
            "robot0_eef_pos, robot0_eef_quat, robot0_gripper_qpos, robot0_joint_pos, robot0_joint_vel, object");
}

TEST(ObsLayoutTest, ImageKeysAreUint8HeightWidthChannels) {
  const ObsKeySpec spec = ImageKeySpec("agentview", 84, 96);
  EXPECT_EQ(spec.name, "agentview_image");
  EXPECT_EQ(spec.dtype, ObsDtype::kUint8);
  EXPECT_EQ(spec.shape, (std::vector<int>{84, 96, 3}));
  EXPECT_EQ(spec.Size(), 84 * 96 * 3);
  EXPECT_TRUE(spec.IsImage());
  std::string camera;
  EXPECT_TRUE(IsImageKeyName("robot0_eye_in_hand_image", &camera));
  EXPECT_EQ(camera, "robot0_eye_in_hand");
  EXPECT_FALSE(IsImageKeyName("_image"));
  EXPECT_FALSE(IsImageKeyName("object"));
  ObsKey unused;
  EXPECT_FALSE(ParseObsKey("agentview_image", &unused));  // not a low-dimensional key
}

TEST(ObsLayoutTest, DepthKeysEndInDepth) {
  EXPECT_EQ(DepthKeyName("agentview"), "agentview_depth");
  std::string camera;
  EXPECT_TRUE(IsDepthKeyName("robot0_eye_in_hand_depth", &camera));
  EXPECT_EQ(camera, "robot0_eye_in_hand");
  EXPECT_FALSE(IsDepthKeyName("_depth"));
  EXPECT_FALSE(IsDepthKeyName("agentview_image"));
  EXPECT_FALSE(IsImageKeyName("agentview_depth"));
}

TEST(ObsLayoutTest, DefaultPolicyKeysLeaveOutTheQuaternion) {
  EXPECT_EQ(DefaultPolicyObsKeys(),
            (std::vector<std::string>{"robot0_eef_pos", "robot0_gripper_qpos", "robot0_joint_pos", "object"}));
}

TEST(ObsLayoutTest, QuaternionHasNonNegativeWAndObjectFeatureIsLaidOutInOrder) {
  // A rotation of 3 rad about z: Eigen may return w < 0 for it; the layout never does.
  const Eigen::Matrix3d r = AxisAngleToMatrix(Eigen::Vector3d(0, 0, 3.0));
  const Eigen::Vector4d q = QuatXyzw(r);
  EXPECT_GE(q[3], 0.0);
  EXPECT_NEAR(q.norm(), 1.0, 1e-12);
  EXPECT_NEAR(std::abs(q[2]), std::sin(1.5), 1e-12);
  EXPECT_EQ(QuatXyzw(Eigen::Matrix3d::Identity()), Eigen::Vector4d(0, 0, 0, 1));

  Eigen::Matrix<double, kObjectFeatureDim, 1> f;
  ObjectFeature(Eigen::Vector3d(0.5, -0.1, 0.05), q, Eigen::Vector3d(0.4, 0.0, 0.3), Eigen::Vector3d(0.6, 0.2, 0.0), f);
  EXPECT_EQ(f.segment<3>(0), Eigen::Vector3d(0.5, -0.1, 0.05));
  EXPECT_EQ(f.segment<4>(3), q);
  EXPECT_NEAR((f.segment<3>(7) - Eigen::Vector3d(0.1, -0.1, -0.25)).norm(), 0.0, 1e-15);
  EXPECT_EQ(f.segment<3>(10), Eigen::Vector3d(0.6, 0.2, 0.0));
}

}  // namespace
}  // namespace dreamforge::robot
