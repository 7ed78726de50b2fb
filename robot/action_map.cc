#include "robot/action_map.h"

#include "robot/geometry.h"

namespace dreamforge::robot {

IkOptions ActionIkOptions() {
  IkOptions opt;
  opt.max_iterations = 30;
  opt.rest = IkOptions::Rest::kSeed;
  opt.nullspace_gain = 0.0;
  return opt;
}

Eigen::Isometry3d ActionToolTarget(const Eigen::Isometry3d& current,
                                   const Eigen::Matrix<double, 7, 1>& a, const ActionScale& scale) {
  Eigen::Isometry3d target = current;
  target.translation() += a.head<3>() * scale.position;
  target.linear() = AxisAngleToMatrix(a.segment<3>(3) * scale.rotation) * current.linear();
  return target;
}

}  // namespace dreamforge::robot
