// The scene model (immutable, shared by threads) and the world (one per thread).
//
// Frames: the world frame is the robot base frame (panda_link0 at the origin, z up). The
// nominal table surface is at z = 0; SceneParams::table_height moves it.
// Control: Step() applies one action at the control rate (20 Hz) and runs `substeps`
// fixed physics steps (240 Hz). The action layout and its map to a joint target are
// robot/action_map.h's (delta tool position and rotation in the base frame, gripper -1
// open .. +1 closed; the finger target is interpolated between).
//
// Latency: with params().latency_steps = L a joint command takes effect L control steps
// after it was issued, as the joint motion it asked for (q_target - measured q at issue)
// applied from where the arm is by then; with L = 0 the target is q_target itself.
#pragma once

#include <Eigen/Core>
#include <Eigen/Geometry>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "robot/action_map.h"
#include "robot/kinematics.h"
#include "robot/obs_layout.h"
#include "sim/appearance.h"
#include "sim/bullet_world.h"
#include "sim/task.h"
#include "sim/urdf.h"

namespace dreamforge::sim {

using Action = Eigen::Matrix<double, 7, 1>;

// The action layout and its map to joint targets are robot/action_map.h's.
using robot::ActionScale;

// Observations, in the layout of robot/obs_layout.h (robomimic key names; quaternions
// QuatXyzw).
struct Observation {
  Eigen::Vector3d eef_pos;                    // robot0_eef_pos, m, base frame
  Eigen::Vector4d eef_quat;                   // robot0_eef_quat
  Eigen::Vector2d gripper_qpos;               // robot0_gripper_qpos, m per finger
  Eigen::Matrix<double, 7, 1> joint_pos;      // robot0_joint_pos, rad
  Eigen::Matrix<double, 7, 1> joint_vel;      // robot0_joint_vel, rad/s
  // object: robot::ObjectFeature of the manipulated object and the task's target.
  Eigen::Matrix<double, robot::kObjectFeatureDim, 1> object;
};
// One low-dimensional key of an observation, as float (its width, robot/obs_layout.h).
void ObservationValue(const Observation& obs, robot::ObsKey key, Eigen::VectorXf* out);
// Same by name; throws SimError naming an unknown key.
void ObservationValue(const Observation& obs, const std::string& key, Eigen::VectorXf* out);

// One sampled scene. Nominal() gives the task's unperturbed scene.
struct SceneParams {
  std::vector<Eigen::Vector3d> object_start;  // (x, y, yaw) per task object
  std::vector<double> mass_scale;             // per object, x nominal mass
  std::vector<double> friction;               // per object, lateral friction
  std::vector<double> restitution;            // per object
  std::vector<double> size_scale;             // per object, x nominal size
  Eigen::Vector3d target = Eigen::Vector3d::Zero();  // (x, y, yaw) of the target zone
  double table_height = 0.0;  // m, table surface offset from nominal
  Eigen::Matrix<double, 7, 1> start_joints = Eigen::Matrix<double, 7, 1>::Zero();  // rad
  double damping_scale = 1.0;  // x URDF joint damping
  double gain_scale = 1.0;     // x joint motor position gain
  int latency_steps = 0;       // control steps between an action and its effect
  double action_noise = 0.0;   // std of noise added to normalized actions
  double obs_noise = 0.0;      // std of noise added to observed positions (m) and joints (rad)
  uint64_t noise_seed = 0;     // seeds the world's noise generator
  // What the scene looks like (sim/appearance.h); physics never reads it. Absent: the
  // task's nominal look (Appearance::Nominal), as in files written before appearances.
  std::optional<Appearance> appearance;
};
// params.appearance, or the task's nominal look when it has none.
Appearance AppearanceOf(const SceneParams& params, const Task& task);

// Every sampled value, as stored with an episode (attr `perturbation`).
nlohmann::json ToJson(const SceneParams& params);
// The inverse of ToJson. Throws SimError naming the missing or malformed field.
SceneParams SceneParamsFromJson(const nlohmann::json& j);

struct RobotConfig {
  std::vector<std::string> arm_joints;     // 7 names, base to tip
  std::vector<std::string> finger_joints;  // 2 names
  std::string tip_link = "panda_hand";
  Eigen::Isometry3d tool = Eigen::Isometry3d::Identity();  // tip link -> TCP
  Eigen::Matrix<double, 7, 1> home;        // rad
  double finger_open = 0.04;   // m per finger
  double finger_friction = 1.5;
  double position_gain = 0.1;  // Bullet motor kp (fraction of the error corrected per step)
  double velocity_gain = 1.0;  // Bullet motor kd
  static RobotConfig Panda();
};

class SceneModel {
 public:
  // Loads the robot and looks up the task. Throws SimError (bad URDF, unknown task or joint).
  SceneModel(const std::string& task_name, const std::filesystem::path& urdf,
             const PhysicsOptions& physics = {}, const RobotConfig& robot = RobotConfig::Panda());
  static std::filesystem::path DefaultUrdf();  // sim/assets/panda.urdf of this source tree

  const Task& task() const { return *task_; }
  const RobotDesc& robot() const { return robot_; }
  const RobotConfig& robot_config() const { return config_; }
  const robot::KinematicChain& arm_chain() const { return chain_; }
  const PhysicsOptions& physics() const { return physics_; }
  const ActionScale& action_scale() const { return action_scale_; }
  const std::vector<int>& arm_joint_indices() const { return arm_; }        // into robot().joints
  const std::vector<int>& finger_joint_indices() const { return fingers_; }  // into robot().joints
  SceneParams Nominal() const;
  // robomimic-style env_args: env_name, type, env_kwargs (robot, rates, action scale).
  nlohmann::json EnvArgs() const;
  // Checks `params` against this scene (sizes, finiteness, positive scales). Throws SimError.
  void Validate(const SceneParams& params) const;

 private:
  const Task* task_;
  RobotDesc robot_;
  RobotConfig config_;
  robot::KinematicChain chain_;
  PhysicsOptions physics_;
  ActionScale action_scale_;
  std::vector<int> arm_, fingers_;
};

struct StepInfo {
  bool stable = true;        // false: NaN or exploding state
  bool ik_converged = true;  // IK met its tolerances for this step's target
  bool action_valid = true;  // false: a non-finite action was replaced by "hold"
};

class World {
 public:
  World(std::shared_ptr<const SceneModel> model, const SceneParams& params);
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  const SceneModel& model() const { return *model_; }
  const SceneParams& params() const { return params_; }

  // Current observation. With params().obs_noise > 0 the joints and the object position
  // are measured with noise of that std; the tool pose is always the forward kinematics of
  // the measured joints (as the edge controller computes it).
  Observation Observe();
  // One control step. The action is clamped to [-1, 1] and rounded to float32 (as stored
  // in episode files), then mapped to a joint target by robot/action_map.h from the joints
  // measured by this step's Observe() (else the true ones). Action noise
  // (params().action_noise) is added to the clamped motion part. A non-finite action holds
  // (info.action_valid false); info.ik_converged is robot::IkConverged of the solve.
  StepInfo Step(const Action& action);
  // One control step commanded in joint space, for controllers that solve IK themselves
  // (the edge controller in software-in-the-loop): arm joint position targets (rad) and the
  // gripper command (-1 open .. +1 closed), through the same motors, physics and latency
  // as Step(); Step(a) is StepJointTargets of the IK solution of a. Action noise, defined
  // on actions, moves the target by the joint motion of a tool motion drawn as Step()
  // draws it. A non-finite command holds (info.action_valid false).
  StepInfo StepJointTargets(const Eigen::Matrix<double, 7, 1>& q_target, double gripper);
  int steps() const { return steps_; }
  double time() const { return steps_ / model_->physics().control_hz(); }

  // Physics state, world frame.
  Eigen::Matrix<double, 7, 1> ArmJoints() const;
  Eigen::Matrix<double, 7, 1> ArmVelocities() const;
  Eigen::Vector2d FingerJoints() const;
  Eigen::Isometry3d ToolPose() const;  // TCP, from the measured joints
  int num_objects() const { return static_cast<int>(objects_.size()); }
  Eigen::Isometry3d ObjectPose(int i) const;
  Eigen::Vector3d ObjectLinearVelocity(int i) const;
  Eigen::Vector3d ObjectAngularVelocity(int i) const;
  Eigen::Vector3d ObjectSize(int i) const;  // after size perturbation, see ObjectSpec::size
  double TableTop() const { return params_.table_height; }
  double gripper_command() const { return gripper_command_; }
  // True when any contact point joins a finger link and object i.
  bool FingersTouch(int i) const;

  // Task success bookkeeping, updated by Step().
  const TaskStatus& status() const { return status_; }
  bool succeeded() const;  // conditions held for the task's hold time

  // Full physics state: arm q (7), finger q (2), arm qd (7), finger qd (2), then per
  // object position (3), quaternion xyzw (4), linear (3) and angular (3) velocity.
  Eigen::VectorXd GetState() const;
  int StateDim() const { return 18 + 13 * num_objects(); }

  // Bullet access for tests and adapters.
  BulletWorld& bullet() { return *bullet_; }
  const BulletWorld& bullet() const { return *bullet_; }
  const MultiBodyHandle& robot_body() const { return robot_; }
  btRigidBody* object_body(int i) const { return objects_[i]; }

 private:
  // A joint command on its way through the latency queue.
  struct PendingCommand {
    Eigen::Matrix<double, 7, 1> q_cmd = Eigen::Matrix<double, 7, 1>::Zero();    // target
    Eigen::Matrix<double, 7, 1> q_issue = Eigen::Matrix<double, 7, 1>::Zero();  // joints at issue
    double gripper = -1.0;
    bool hold = false;  // keep the last target
  };
  void Execute(const PendingCommand& command, StepInfo* info);  // queue, motors, Advance
  // The joints a command is computed from: those of the last Observe() of this step (what
  // the robot's controller measured), else the true ones.
  Eigen::Matrix<double, 7, 1> IssueJoints() const;
  void SetMotorTargets(double gripper);  // q_target_ and the fingers for `gripper`
  void Advance(StepInfo* info);          // substeps, step count, stability, task status
  bool StateFinite() const;

  std::shared_ptr<const SceneModel> model_;
  SceneParams params_;
  std::unique_ptr<BulletWorld> bullet_;
  MultiBodyHandle robot_;
  std::vector<btRigidBody*> objects_;
  std::vector<Eigen::Vector3d> object_sizes_;
  robot::Kinematics kinematics_;
  Eigen::VectorXd q_scratch_, q_target_, q_ik_;
  std::deque<PendingCommand> pending_;  // latency queue
  Eigen::Matrix<double, 7, 1> measured_q_ = Eigen::Matrix<double, 7, 1>::Zero();
  bool measured_ = false;  // measured_q_ is of this step
  std::mt19937_64 noise_rng_;
  double gripper_command_ = -1.0;
  int steps_ = 0;
  int hold_steps_ = 0;
  TaskStatus status_;
};

// The table: a static box (full extents, m) centred at TableCenterXy() whose top surface
// is at SceneParams::table_height.
Eigen::Vector3d TableSize();
Eigen::Vector2d TableCenterXy();

// Rotation helpers (quaternion (x, y, z, w): robot::QuatXyzw).
using robot::QuatXyzw;
// Yaw-only frame at `pose`'s position (z axis = world z).
Eigen::Isometry3d PlanarFrame(const Eigen::Vector3d& position, double yaw);
// Yaw of a rotation's x axis projected on the world plane.
double Yaw(const Eigen::Matrix3d& r);

}  // namespace dreamforge::sim
