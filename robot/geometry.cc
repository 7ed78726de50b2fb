#include "robot/geometry.h"

#include <cmath>

namespace dreamforge::robot {

namespace {

Eigen::Matrix3d Skew(const Eigen::Vector3d& v) {
  Eigen::Matrix3d s;
  s << 0, -v.z(), v.y(), v.z(), 0, -v.x(), -v.y(), v.x(), 0;
  return s;
}

}  // namespace

Eigen::Isometry3d FromXyzRpy(const Eigen::Vector3d& xyz, const Eigen::Vector3d& rpy) {
  Eigen::Isometry3d t = Eigen::Isometry3d::Identity();
  t.linear() = (Eigen::AngleAxisd(rpy.z(), Eigen::Vector3d::UnitZ()) *
                Eigen::AngleAxisd(rpy.y(), Eigen::Vector3d::UnitY()) *
                Eigen::AngleAxisd(rpy.x(), Eigen::Vector3d::UnitX()))
                   .toRotationMatrix();
  t.translation() = xyz;
  return t;
}

Eigen::Vector3d MatrixToRpy(const Eigen::Matrix3d& r) {
  // r(2,0) = -sin(pitch); r(2,1) = cos(pitch) sin(roll); r(2,2) = cos(pitch) cos(roll);
  // r(1,0) = cos(pitch) sin(yaw); r(0,0) = cos(pitch) cos(yaw).
  const double cos_pitch = std::hypot(r(0, 0), r(1, 0));
  const double pitch = std::atan2(-r(2, 0), cos_pitch);
  if (cos_pitch > 1e-10) {
    return {std::atan2(r(2, 1), r(2, 2)), pitch, std::atan2(r(1, 0), r(0, 0))};
  }
  // Gimbal lock: only yaw - roll (pitch = +pi/2) or yaw + roll (pitch = -pi/2) is
  // defined; put it all in yaw.
  return {0.0, pitch, std::atan2(-r(0, 1), r(1, 1))};
}

Eigen::Matrix3d AxisAngleToMatrix(const Eigen::Vector3d& axis_angle) {
  const double theta2 = axis_angle.squaredNorm();
  const double theta = std::sqrt(theta2);
  // Rodrigues: R = I + a [w]x + b [w]x^2 with a = sin(t)/t, b = (1 - cos(t))/t^2.
  double a, b;
  if (theta < 1e-4) {
    a = 1.0 - theta2 / 6.0 + theta2 * theta2 / 120.0;
    b = 0.5 - theta2 / 24.0 + theta2 * theta2 / 720.0;
  } else {
    a = std::sin(theta) / theta;
    b = (1.0 - std::cos(theta)) / theta2;
  }
  const Eigen::Matrix3d k = Skew(axis_angle);
  return Eigen::Matrix3d::Identity() + a * k + b * k * k;
}

Eigen::Vector3d MatrixToAxisAngle(const Eigen::Matrix3d& r) {
  // Shepperd's method (inside Eigen) gives a well-conditioned quaternion everywhere;
  // angle = 2 atan2(|v|, |w|) stays accurate both near 0 and near pi.
  Eigen::Quaterniond q(r);
  q.normalize();  // tolerate a slightly non-orthonormal input
  const double sign = q.w() < 0.0 ? -1.0 : 1.0;
  const Eigen::Vector3d v = sign * q.vec();
  const double w = sign * q.w();
  const double n = v.norm();
  // f = angle / |v|; for small |v|, atan2(n, w) / n -> 1 / w (1 - n^2 / (3 w^2)).
  const double f = n > 1e-8 ? 2.0 * std::atan2(n, w) / n : 2.0 / w * (1.0 - n * n / (3.0 * w * w));
  return f * v;
}

Eigen::Vector3d RotationError(const Eigen::Matrix3d& target, const Eigen::Matrix3d& current) {
  return MatrixToAxisAngle(target * current.transpose());
}

}  // namespace dreamforge::robot
