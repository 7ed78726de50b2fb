// Forward kinematics, geometric Jacobian and damped-least-squares inverse kinematics of
// a serial KinematicChain. Used by the simulator (checked against Bullet) and by the
// edge controller.
//
// Frames: "base" is the chain's base_link frame; "tool" is the tool centre point (the
// tip link frame composed with KinematicChain::tool). Units: m, rad, m/s, rad/s.
// q is the (dof x 1) vector of the non-fixed joints in chain order, rad or m.
//
// Real-time safety: after construction, ToolPose, Jacobian and SolveIk perform no heap
// allocation and never throw, provided the output arguments already have their final
// size (a wrongly sized output is resized, which allocates). LinkPoses is real-time
// safe when *out already holds chain().joints.size() poses. Construction allocates and
// may throw. Thread safety: the const methods may be called concurrently; SolveIk uses
// the object's preallocated workspace, so give each thread its own Kinematics (copies
// are cheap and independent).

#pragma once

#include <cstdint>
#include <vector>

#include <Eigen/Core>
#include <Eigen/Geometry>

#include "robot/geometry.h"
#include "robot/kinematic_chain.h"

namespace dreamforge::robot {

// 6 x dof Jacobian: rows 0-2 linear velocity (m/s), rows 3-5 angular velocity (rad/s).
using Jacobian6d = Eigen::Matrix<double, 6, Eigen::Dynamic>;

struct IkOptions {
  // Step budget, shared by all attempts (restarts included); bounds the solve time.
  int max_iterations = 100;
  // Initial damping lambda of the DLS step dq = J^T (J J^T + lambda^2 I)^-1 e, in units of
  // the weighted task error (m). With adaptive_damping (Levenberg-Marquardt) a step that
  // does not reduce the error is rejected and lambda grows x4; an accepted one shrinks it
  // /4 down to min_damping. Without it every step is taken with the fixed lambda.
  double damping = 0.05;
  bool adaptive_damping = true;
  double min_damping = 1e-5;
  double position_tolerance = 1e-4;  // m
  double rotation_tolerance = 1e-3;  // rad
  // Largest change of any joint per step, rad or m (the whole step is scaled down).
  double max_step = 0.5;
  // Weight of the rotation error against the position error, m/rad.
  double rotation_weight = 0.5;
  // Secondary objective in the damped null space of the task, pulling towards q_rest (the
  // middle of the joint ranges, or the seed): dq += N * gain * (q_rest - q), 1/step.
  // Such a step is taken only while it still halves the error, so it biases which
  // solution is found without stalling convergence. 0 disables (default: it slows
  // convergence near singular configurations and did not raise the success rate).
  enum class Rest { kMidRange, kSeed };
  Rest rest = Rest::kMidRange;
  double nullspace_gain = 0.0;
  // Only the first num_active non-fixed joints move; the trailing ones keep their
  // (clamped) seed values, e.g. gripper fingers at the end of a chain. -1: all joints.
  int num_active = -1;
  // Restarts from uniformly drawn in-limit configurations (generator seeded with
  // restart_seed: reproducible, allocation-free) when a descent stalls in a local
  // minimum, typically against a joint limit. A restart's answer is used only if it
  // converges, so a failed solve stays near the seed. Keep 0 for tracking (seed =
  // current q, nearby target), where the answer must be continuous; use ~20 (and ~200
  // iterations) to solve from a distant seed.
  int max_restarts = 0;
  std::uint64_t restart_seed = 0;
};

struct IkResult {
  bool converged = false;     // both tolerances met
  int iterations = 0;         // steps attempted (accepted or rejected), all attempts
  double position_error = 0;  // m, |p_target - p| of the returned q
  double rotation_error = 0;  // rad, |log(R_target R^T)| of the returned q
};

class Kinematics {
 public:
  // Validates the chain (throws std::invalid_argument naming the field) and preallocates
  // every workspace. Not real-time safe.
  explicit Kinematics(KinematicChain chain);

  const KinematicChain& chain() const { return chain_; }
  int dof() const { return dof_; }
  // Joint limits of the non-fixed joints (dof x 1), rad or m.
  const Eigen::VectorXd& lower() const { return lower_; }
  const Eigen::VectorXd& upper() const { return upper_; }

  // Pose of the tool in the base frame. q: (dof x 1). Real-time safe.
  Eigen::Isometry3d ToolPose(const Eigen::VectorXd& q) const;

  // Pose in the base frame of every joint's child link frame, one per joint (fixed ones
  // included), in chain order. q: (dof x 1). Real-time safe if out->size() ==
  // chain().joints.size() already.
  void LinkPoses(const Eigen::VectorXd& q, std::vector<Eigen::Isometry3d>* out) const;

  // Geometric Jacobian of the tool point: v = J qdot with v = (linear velocity of the
  // tool point, angular velocity), both in the base frame. J: (6 x dof). Real-time safe
  // if J is already 6 x dof.
  void Jacobian(const Eigen::VectorXd& q, Jacobian6d* J) const;

  // Damped-least-squares IK towards `target` (tool pose in the base frame), starting from
  // q_seed (dof x 1, clamped into the limits). Every iterate is clamped into
  // [lower, upper]; *q_out (dof x 1) receives the best iterate found (always finite and
  // within limits; a non-finite seed entry is replaced by the middle of its range).
  // Real-time safe if q_out is already dof x 1; never throws; uses this object's
  // workspace (not thread-safe, see above).
  IkResult SolveIk(const Eigen::Isometry3d& target, const Eigen::VectorXd& q_seed,
                   const IkOptions& opt, Eigen::VectorXd* q_out);

  // Clamps q (dof x 1) into the joint limits in place. Real-time safe.
  void Clamp(Eigen::VectorXd* q) const;

 private:
  struct Joint {
    JointType type;
    Eigen::Isometry3d origin;
    Eigen::Vector3d axis;
    int index;  // into q, -1 for fixed joints
  };

  // Pose of the joint frame of joint i given the pose of its parent frame.
  Eigen::Isometry3d Step(const Eigen::Isometry3d& parent, const Joint& joint,
                         const Eigen::VectorXd& q) const;
  // Weighted task error of q: e = (p_t - p, w * log(R_t R^T)) into e_; returns |e|^2 and
  // fills the unweighted norms.
  double TaskError(const Eigen::Isometry3d& target, const Eigen::VectorXd& q, double w,
                   Eigen::Matrix<double, 6, 1>* e, double* pos_err, double* rot_err) const;
  // One Levenberg-Marquardt descent from q_ using at most `budget` steps; leaves its best
  // iterate in q_best_ with its errors and returns the steps used.
  int Descend(const Eigen::Isometry3d& target, const IkOptions& opt, int num_active, int budget,
              double* pos_best, double* rot_best);

  KinematicChain chain_;
  std::vector<Joint> joints_;
  int dof_ = 0;
  Eigen::VectorXd lower_, upper_, mid_;
  // SolveIk workspace, all (dof x 1) or (6 x dof).
  Eigen::VectorXd q_, q_try_, q_best_, q_rest_, dq_, v_;
  Jacobian6d J_;
};

}  // namespace dreamforge::robot
