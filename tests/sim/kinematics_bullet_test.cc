// Our Eigen kinematics (robot/) against Bullet's own multibody forward kinematics.
#include <gtest/gtest.h>

#include <random>

#include "robot/kinematics.h"
#include "robot/panda_chain.h"
#include "sim/bullet_world.h"
#include "sim/world.h"

namespace dreamforge::sim {
namespace {

double PoseDistance(const Eigen::Isometry3d& a, const Eigen::Isometry3d& b) {
  return std::max((a.translation() - b.translation()).cwiseAbs().maxCoeff(),
                  (a.linear() - b.linear()).cwiseAbs().maxCoeff());
}

TEST(KinematicsBulletTest, ForwardKinematicsEqualsBulletLinkTransforms) {
  const RobotDesc desc = LoadUrdf(SceneModel::DefaultUrdf());
  BulletWorld world{PhysicsOptions{}};
  const MultiBodyHandle robot = world.AddRobot(desc, Eigen::Isometry3d::Identity());
  const robot::KinematicChain chain = desc.ChainTo("panda_rightfinger", Eigen::Isometry3d::Identity());
  const robot::Kinematics kin(chain);
  ASSERT_EQ(kin.dof(), 8);  // 7 arm joints and one finger on this path

  std::mt19937_64 rng(20261126);
  std::vector<Eigen::Isometry3d> poses(chain.joints.size());
  double worst = 0.0;
  for (int trial = 0; trial < 100; ++trial) {
    Eigen::VectorXd q(kin.dof());
    for (int k = 0; k < kin.dof(); ++k) {
      q[k] = std::uniform_real_distribution<double>(kin.lower()[k], kin.upper()[k])(rng);
    }
    // Set the same joint values in Bullet (multibody link i is joint i).
    int k = 0;
    for (const robot::JointSpec& js : chain.joints) {
      const int j = desc.JointIndex(js.name);
      if (js.type != robot::JointType::kFixed) robot.body->setJointPos(j, q[k++]);
    }
    SyncMultiBodyTransforms(robot.body);
    kin.LinkPoses(q, &poses);
    for (size_t i = 0; i < chain.joints.size(); ++i) {
      const int j = desc.JointIndex(chain.joints[i].name);
      // Bullet keeps each link in its principal inertial frame.
      const Eigen::Isometry3d bullet_com = ToEigen(robot.body->getLink(j).m_cachedWorldTransform);
      const Eigen::Isometry3d ours_com = poses[i] * desc.links[j + 1].inertial;
      worst = std::max(worst, PoseDistance(bullet_com, ours_com));
      if (robot.colliders[j]) {
        worst = std::max(worst, PoseDistance(ToEigen(robot.colliders[j]->getWorldTransform()),
                                             ours_com));
      }
    }
  }
  EXPECT_LT(worst, 1e-9) << "largest deviation " << worst;
}

TEST(KinematicsBulletTest, UrdfChainEqualsThePublishedPandaFigures) {
  const RobotDesc desc = LoadUrdf(SceneModel::DefaultUrdf());
  const RobotConfig rc = RobotConfig::Panda();
  const robot::Kinematics ours(desc.ChainTo(rc.tip_link, rc.tool));
  robot::KinematicChain reference = robot::PandaChain();
  const robot::Kinematics published(reference);
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 100; ++trial) {
    Eigen::VectorXd q(7);
    for (int k = 0; k < 7; ++k) {
      q[k] = std::uniform_real_distribution<double>(ours.lower()[k], ours.upper()[k])(rng);
    }
    EXPECT_LT(PoseDistance(ours.ToolPose(q), published.ToolPose(q)), 1e-12);
  }
}

}  // namespace
}  // namespace dreamforge::sim
