#include "robot/kinematics.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include <Eigen/Cholesky>

namespace dreamforge::robot {

namespace {

using Vector6d = Eigen::Matrix<double, 6, 1>;
using Matrix6d = Eigen::Matrix<double, 6, 6>;

// LM damping bounds: above kMaxDamping no step can reduce the error any more (a local
// minimum or a limit-bound target); stop early.
constexpr double kDampingGrow = 4.0;
constexpr double kDampingShrink = 0.25;
constexpr double kMaxDamping = 1e4;
// A descent that improves the squared error by less than this factor over a window of
// iterations is abandoned for a restart (when restarts are enabled).
constexpr int kStallWindow = 4;
constexpr double kStallRatio = 0.5;
// A step including the null-space motion is taken only if it shrinks the squared
// error by at least this factor; otherwise the plain step is tried.
constexpr double kNullspaceRatio = 0.5;

// splitmix64 -> uniform double in [0, 1): deterministic restarts without allocation.
double UniformDouble(std::uint64_t* state) {
  std::uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

}  // namespace

Kinematics::Kinematics(KinematicChain chain) : chain_(std::move(chain)) {
  chain_.Validate();
  dof_ = chain_.dof();
  lower_.resize(dof_);
  upper_.resize(dof_);
  int index = 0;
  joints_.reserve(chain_.joints.size());
  for (const JointSpec& spec : chain_.joints) {
    Joint j{spec.type, spec.origin, spec.axis.normalized(), -1};
    if (spec.type != JointType::kFixed) {
      j.index = index;
      lower_(index) = spec.lower;
      upper_(index) = spec.upper;
      ++index;
    }
    joints_.push_back(j);
  }
  mid_ = 0.5 * (lower_ + upper_);
  q_.resize(dof_);
  q_try_.resize(dof_);
  q_rest_.resize(dof_);
  dq_.resize(dof_);
  v_.resize(dof_);
  q_best_.resize(dof_);
  J_.resize(6, dof_);
}

Eigen::Isometry3d Kinematics::Step(const Eigen::Isometry3d& parent, const Joint& joint,
                                   const Eigen::VectorXd& q) const {
  Eigen::Isometry3d t = parent * joint.origin;
  switch (joint.type) {
    case JointType::kRevolute:
      t.linear() = t.linear() * Eigen::AngleAxisd(q(joint.index), joint.axis).toRotationMatrix();
      break;
    case JointType::kPrismatic:
      t.translation() += t.linear() * (q(joint.index) * joint.axis);
      break;
    case JointType::kFixed:
      break;
  }
  return t;
}

Eigen::Isometry3d Kinematics::ToolPose(const Eigen::VectorXd& q) const {
  assert(q.size() == dof_);
  Eigen::Isometry3d t = Eigen::Isometry3d::Identity();
  for (const Joint& j : joints_) t = Step(t, j, q);
  return t * chain_.tool;
}

void Kinematics::LinkPoses(const Eigen::VectorXd& q, std::vector<Eigen::Isometry3d>* out) const {
  assert(q.size() == dof_);
  out->resize(joints_.size());
  Eigen::Isometry3d t = Eigen::Isometry3d::Identity();
  for (size_t i = 0; i < joints_.size(); ++i) {
    t = Step(t, joints_[i], q);
    (*out)[i] = t;
  }
}

void Kinematics::Jacobian(const Eigen::VectorXd& q, Jacobian6d* J) const {
  assert(q.size() == dof_);
  if (J->cols() != dof_) J->resize(6, dof_);
  // Pass 1: store each joint's origin (rows 0-2) and axis (rows 3-5) in the base frame.
  Eigen::Isometry3d t = Eigen::Isometry3d::Identity();
  for (const Joint& j : joints_) {
    t = Step(t, j, q);
    if (j.index < 0) continue;
    J->col(j.index).head<3>() = t.translation();
    J->col(j.index).tail<3>() = t.linear() * j.axis;
  }
  const Eigen::Vector3d tool = (t * chain_.tool).translation();
  // Pass 2: revolute: (z x (p_tool - p), z); prismatic: (z, 0).
  for (const Joint& j : joints_) {
    if (j.index < 0) continue;
    auto col = J->col(j.index);
    const Eigen::Vector3d z = col.tail<3>();
    if (j.type == JointType::kRevolute) {
      const Eigen::Vector3d p = col.head<3>();
      col.head<3>() = z.cross(tool - p);
    } else {
      col.head<3>() = z;
      col.tail<3>().setZero();
    }
  }
}

void Kinematics::Clamp(Eigen::VectorXd* q) const { *q = q->cwiseMax(lower_).cwiseMin(upper_); }

double Kinematics::TaskError(const Eigen::Isometry3d& target, const Eigen::VectorXd& q, double w,
                             Vector6d* e, double* pos_err, double* rot_err) const {
  const Eigen::Isometry3d pose = ToolPose(q);
  e->head<3>() = target.translation() - pose.translation();
  e->tail<3>() = RotationError(target.linear(), pose.linear());
  *pos_err = e->head<3>().norm();
  *rot_err = e->tail<3>().norm();
  e->tail<3>() *= w;
  return e->squaredNorm();
}

IkResult Kinematics::SolveIk(const Eigen::Isometry3d& target, const Eigen::VectorXd& q_seed,
                             const IkOptions& opt, Eigen::VectorXd* q_out) {
  IkResult result;
  if (q_out->size() != dof_) q_out->resize(dof_);
  const bool bad_seed = q_seed.size() != dof_;
  for (int i = 0; i < dof_; ++i) {
    const double s = bad_seed ? mid_(i) : q_seed(i);
    q_(i) = std::isfinite(s) ? std::clamp(s, lower_(i), upper_(i)) : mid_(i);
  }
  *q_out = q_;
  result.position_error = result.rotation_error = std::numeric_limits<double>::infinity();
  if (bad_seed || !target.matrix().allFinite()) return result;
  const int num_active = opt.num_active < 0 ? dof_ : std::min(opt.num_active, dof_);
  q_rest_ = opt.rest == IkOptions::Rest::kSeed ? q_ : mid_;
  std::uint64_t rng = opt.restart_seed;
  int budget = opt.max_iterations;
  for (int attempt = 0; attempt == 0 || (attempt <= opt.max_restarts && budget > 0); ++attempt) {
    if (attempt > 0) {  // a fresh start anywhere in the limits; locked joints keep the seed
      q_ = *q_out;
      for (int i = 0; i < num_active; ++i) {
        q_(i) = lower_(i) + (upper_(i) - lower_(i)) * UniformDouble(&rng);
      }
    }
    double pos, rot;
    const int used = Descend(target, opt, num_active, budget, &pos, &rot);
    budget -= used;
    result.iterations += used;
    const bool converged = pos <= opt.position_tolerance && rot <= opt.rotation_tolerance;
    // A restart replaces the first attempt's answer only if it converges, so a failed
    // solve stays near the seed.
    if (attempt == 0 || converged) {
      *q_out = q_best_;
      result.position_error = pos;
      result.rotation_error = rot;
      result.converged = converged;
    }
    if (converged) break;
  }
  return result;
}

int Kinematics::Descend(const Eigen::Isometry3d& target, const IkOptions& opt, int num_active,
                        int budget, double* pos_best, double* rot_best) {
  const double w = opt.rotation_weight;
  Vector6d e, e_try;
  double pos, rot, pos_try, rot_try;
  double err = TaskError(target, q_, w, &e, &pos, &rot);
  double best = err;
  q_best_ = q_;
  *pos_best = pos;
  *rot_best = rot;
  double lambda = opt.damping;
  double checkpoint = err;
  bool need_jacobian = true;
  int it = 0;
  int accepted_steps = 0;
  while (it < budget && num_active > 0) {
    if (pos <= opt.position_tolerance && rot <= opt.rotation_tolerance) break;
    if (need_jacobian) {
      Jacobian(q_, &J_);
      J_.bottomRows<3>() *= w;
      J_.rightCols(dof_ - num_active).setZero();
      need_jacobian = false;
    }
    // Up to two passes: a joint at a limit that the step pushes outward is frozen (its
    // column zeroed) and the step recomputed, so the other joints take over its share.
    Eigen::LDLT<Matrix6d> ldlt;
    for (int pass = 0; pass < 2; ++pass) {
      Matrix6d a;
      a.noalias() = J_ * J_.transpose();
      a.diagonal().array() += lambda * lambda;
      ldlt.compute(a);
      const Vector6d y = ldlt.solve(e);
      dq_.noalias() = J_.transpose() * y;
      bool frozen = false;
      for (int i = 0; i < num_active; ++i) {
        const bool out_low = q_(i) <= lower_(i) && dq_(i) < 0;
        const bool out_high = q_(i) >= upper_(i) && dq_(i) > 0;
        if ((out_low || out_high) && J_.col(i).squaredNorm() > 0) {
          J_.col(i).setZero();
          frozen = true;
        }
      }
      if (!frozen) break;
      need_jacobian = true;  // restore the frozen columns next iteration
    }
    // Secondary objective in the (damped) null space: v - J^T A^-1 J v.
    const bool use_nullspace = opt.nullspace_gain > 0;
    if (use_nullspace) {
      v_ = opt.nullspace_gain * (q_rest_ - q_);
      v_.tail(dof_ - num_active).setZero();
      const Vector6d jv = J_ * v_;
      const Vector6d y = ldlt.solve(jv);
      v_.noalias() -= J_.transpose() * y;
    }
    // Try the step with the secondary objective, then without it.
    double err_try = std::numeric_limits<double>::infinity();
    for (int variant = use_nullspace ? 0 : 1; variant < 2; ++variant) {
      if (variant == 0) {
        q_try_ = dq_ + v_;
      } else {
        q_try_ = dq_;
      }
      const double largest = q_try_.cwiseAbs().maxCoeff();
      if (largest > opt.max_step) q_try_ *= opt.max_step / largest;
      q_try_ = (q_ + q_try_).cwiseMax(lower_).cwiseMin(upper_);
      err_try = TaskError(target, q_try_, w, &e_try, &pos_try, &rot_try);
      // The secondary motion must leave the descent fast: near the solution its
      // second-order error would otherwise stall convergence.
      if (err_try < (variant == 0 ? kNullspaceRatio : 1.0) * err) break;
    }
    ++it;
    const bool accepted = std::isfinite(err_try) && (err_try < err || !opt.adaptive_damping);
    if (accepted) {
      std::swap(q_, q_try_);
      e = e_try;
      err = err_try;
      pos = pos_try;
      rot = rot_try;
      need_jacobian = true;
      if (opt.adaptive_damping) lambda = std::max(lambda * kDampingShrink, opt.min_damping);
      if (err < best) {
        best = err;
        q_best_ = q_;
        *pos_best = pos;
        *rot_best = rot;
      }
    } else {
      lambda = std::max(lambda, 1e-9) * kDampingGrow;
      if (lambda > kMaxDamping) break;  // no step reduces the error: a local minimum
    }
    // Stalled: less than kStallRatio improvement over the last kStallWindow accepted
    // steps (rejected ones only raise lambda, which ends the descent by itself).
    if (accepted && ++accepted_steps % kStallWindow == 0) {
      if (opt.max_restarts > 0 && best > kStallRatio * checkpoint) break;
      checkpoint = best;
    }
  }
  return it;
}

}  // namespace dreamforge::robot
