#include "robot/geometry.h"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

namespace dreamforge::robot {
namespace {

constexpr double kPi = 3.14159265358979323846;

Eigen::Vector3d RandomUnit(std::mt19937_64& rng) {
  std::normal_distribution<double> n(0.0, 1.0);
  return Eigen::Vector3d(n(rng), n(rng), n(rng)).normalized();
}

TEST(GeometryTest, FromXyzRpyIsZYX) {
  const Eigen::Isometry3d t = FromXyzRpy({1, 2, 3}, {0.1, -0.2, 0.3});
  Eigen::Matrix3d rx, ry, rz;
  rx << 1, 0, 0, 0, std::cos(0.1), -std::sin(0.1), 0, std::sin(0.1), std::cos(0.1);
  ry << std::cos(-0.2), 0, std::sin(-0.2), 0, 1, 0, -std::sin(-0.2), 0, std::cos(-0.2);
  rz << std::cos(0.3), -std::sin(0.3), 0, std::sin(0.3), std::cos(0.3), 0, 0, 0, 1;
  EXPECT_TRUE(t.linear().isApprox(rz * ry * rx, 1e-14));
  EXPECT_TRUE(t.translation().isApprox(Eigen::Vector3d(1, 2, 3)));
  // URDF rpy (pi/2, 0, 0) maps y to z.
  const Eigen::Vector3d y =
      FromXyzRpy({0, 0, 0}, {kPi / 2, 0, 0}).linear() * Eigen::Vector3d::UnitY();
  EXPECT_NEAR((y - Eigen::Vector3d::UnitZ()).norm(), 0.0, 1e-15);
}

TEST(GeometryTest, RpyRoundTrip) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> angle(-kPi, kPi), pitch(-1.5, 1.5);
  for (int i = 0; i < 200; ++i) {
    const Eigen::Vector3d rpy(angle(rng), pitch(rng), angle(rng));
    const Eigen::Matrix3d r = FromXyzRpy(Eigen::Vector3d::Zero(), rpy).linear();
    EXPECT_NEAR((MatrixToRpy(r) - rpy).norm(), 0.0, 1e-12) << rpy.transpose();
  }
  const Eigen::Matrix3d lock = FromXyzRpy(Eigen::Vector3d::Zero(), {0.3, kPi / 2, 0.5}).linear();
  const Eigen::Matrix3d back = FromXyzRpy(Eigen::Vector3d::Zero(), MatrixToRpy(lock)).linear();
  EXPECT_TRUE(back.isApprox(lock, 1e-12));
}

TEST(GeometryTest, AxisAngleRoundTripAcrossRange) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> angle(0.0, kPi);
  for (int i = 0; i < 500; ++i) {
    const Eigen::Vector3d v = angle(rng) * RandomUnit(rng);
    const Eigen::Matrix3d r = AxisAngleToMatrix(v);
    EXPECT_TRUE(r.isApprox(Eigen::AngleAxisd(v.norm(), v.normalized()).toRotationMatrix(), 1e-13));
    EXPECT_NEAR((MatrixToAxisAngle(r) - v).norm(), 0.0, 1e-12) << v.transpose();
  }
}

TEST(GeometryTest, AxisAngleNearZero) {
  std::mt19937_64 rng(13);
  EXPECT_EQ(MatrixToAxisAngle(Eigen::Matrix3d::Identity()), Eigen::Vector3d::Zero());
  EXPECT_TRUE(AxisAngleToMatrix(Eigen::Vector3d::Zero()).isIdentity(0.0));
  for (double theta : {1e-12, 1e-9, 1e-7, 1e-5, 1e-3}) {
    const Eigen::Vector3d v = theta * RandomUnit(rng);
    const Eigen::Vector3d back = MatrixToAxisAngle(AxisAngleToMatrix(v));
    EXPECT_LT((back - v).norm(), 1e-15 + 1e-10 * theta) << theta;
  }
}

TEST(GeometryTest, AxisAngleNearPi) {
  std::mt19937_64 rng(17);
  for (double gap : {0.0, 1e-12, 1e-9, 1e-6, 1e-3}) {
    for (int i = 0; i < 20; ++i) {
      const Eigen::Vector3d axis = RandomUnit(rng);
      const Eigen::Vector3d v = (kPi - gap) * axis;
      const Eigen::Matrix3d r = AxisAngleToMatrix(v);
      const Eigen::Vector3d back = MatrixToAxisAngle(r);
      EXPECT_NEAR(back.norm(), kPi - gap, 1e-9) << gap;
      // At exactly pi, -v is as good as v; otherwise the sign must match.
      const double err =
          gap == 0.0 ? std::min((back - v).norm(), (back + v).norm()) : (back - v).norm();
      EXPECT_LT(err, 1e-7) << gap;
      EXPECT_TRUE(AxisAngleToMatrix(back).isApprox(r, 1e-12));
    }
  }
}

TEST(GeometryTest, RotationErrorRotatesCurrentOntoTarget) {
  std::mt19937_64 rng(19);
  std::uniform_real_distribution<double> angle(0.0, 3.0);
  for (int i = 0; i < 100; ++i) {
    const Eigen::Matrix3d current = AxisAngleToMatrix(angle(rng) * RandomUnit(rng));
    const Eigen::Matrix3d target = AxisAngleToMatrix(angle(rng) * RandomUnit(rng));
    const Eigen::Vector3d err = RotationError(target, current);
    EXPECT_TRUE((AxisAngleToMatrix(err) * current).isApprox(target, 1e-12));
  }
  EXPECT_NEAR(RotationError(AxisAngleToMatrix({0, 0, 0.25}), Eigen::Matrix3d::Identity()).z(), 0.25,
              1e-15);
}

}  // namespace
}  // namespace dreamforge::robot
