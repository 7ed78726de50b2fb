#include "sim/world.h"

#include <BulletDynamics/Featherstone/btMultiBodyGearConstraint.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "robot/geometry.h"

#ifndef DF_SIM_ASSET_DIR
#error "DF_SIM_ASSET_DIR must name sim/assets"
#endif

namespace dreamforge::sim {
namespace {

constexpr double kTableThickness = 0.05;
// m; with the pads' 1.0 it gives a pad-object torsional friction of 5 mm x normal force.
constexpr double kObjectSpinningFriction = 0.005;
const Eigen::Vector3d kTableSize(1.2, 1.4, kTableThickness);  // m, full extents
const Eigen::Vector3d kTableCenter(0.45, 0.0, 0.0);           // x, y of the table centre

std::unique_ptr<btCollisionShape> ObjectShape(const ObjectSpec& spec, const Eigen::Vector3d& size) {
  std::unique_ptr<btConvexInternalShape> shape;
  if (spec.shape == ObjectSpec::Shape::kBox) {
    shape = std::make_unique<btBoxShape>(ToBullet(Eigen::Vector3d(size * 0.5)));
  } else {
    shape = std::make_unique<btCylinderShapeZ>(btVector3(size[0], size[0], size[1] * 0.5));
  }
  shape->setMargin(0.001);
  return shape;
}

}  // namespace

void ObservationValue(const Observation& obs, robot::ObsKey key, Eigen::VectorXf* out) {
  switch (key) {
    case robot::ObsKey::kEefPos:
      *out = obs.eef_pos.cast<float>();
      return;
    case robot::ObsKey::kEefQuat:
      *out = obs.eef_quat.cast<float>();
      return;
    case robot::ObsKey::kGripperQpos:
      *out = obs.gripper_qpos.cast<float>();
      return;
    case robot::ObsKey::kJointPos:
      *out = obs.joint_pos.cast<float>();
      return;
    case robot::ObsKey::kJointVel:
      *out = obs.joint_vel.cast<float>();
      return;
    case robot::ObsKey::kObject:
      *out = obs.object.cast<float>();
      return;
  }
}

void ObservationValue(const Observation& obs, const std::string& name, Eigen::VectorXf* out) {
  robot::ObsKey key;
  if (!robot::ParseObsKey(name, &key)) {
    throw SimError("unknown observation key '" + name + "' (expected one of " +
                   robot::LowDimObsKeyList() + ")");
  }
  ObservationValue(obs, key, out);
}

Eigen::Isometry3d PlanarFrame(const Eigen::Vector3d& position, double yaw) {
  Eigen::Isometry3d f = Eigen::Isometry3d::Identity();
  f.linear() = Eigen::AngleAxisd(yaw, Eigen::Vector3d::UnitZ()).toRotationMatrix();
  f.translation() = position;
  return f;
}

double Yaw(const Eigen::Matrix3d& r) { return std::atan2(r(1, 0), r(0, 0)); }

RobotConfig RobotConfig::Panda() {
  RobotConfig c;
  for (int i = 1; i <= 7; ++i) c.arm_joints.push_back("panda_joint" + std::to_string(i));
  c.finger_joints = {"panda_finger_joint1", "panda_finger_joint2"};
  c.tool.translation() = Eigen::Vector3d(0, 0, 0.1034);
  c.home << 0.0, -0.785398163397448, 0.0, -2.356194490192345, 0.0, 1.570796326794897,
      0.785398163397448;
  return c;
}

SceneModel::SceneModel(const std::string& task_name, const std::filesystem::path& urdf,
                       const PhysicsOptions& physics, const RobotConfig& robot)
    : task_(&GetTask(task_name)), robot_(LoadUrdf(urdf)), config_(robot), physics_(physics) {
  for (const std::string& name : config_.arm_joints) {
    const int j = robot_.JointIndex(name);
    if (j < 0) throw SimError(urdf.string() + ": no joint named '" + name + "' (arm joint)");
    arm_.push_back(j);
  }
  for (const std::string& name : config_.finger_joints) {
    const int j = robot_.JointIndex(name);
    if (j < 0) throw SimError(urdf.string() + ": no joint named '" + name + "' (finger joint)");
    if (robot_.joints[j].type != robot::JointType::kPrismatic) {
      throw SimError(urdf.string() + ": joint '" + name + "': a finger joint must be prismatic");
    }
    fingers_.push_back(j);
  }
  if (arm_.size() != 7 || fingers_.size() != 2) {
    throw SimError(urdf.string() + ": the scene needs 7 arm joints and 2 finger joints");
  }
  chain_ = robot_.ChainTo(config_.tip_link, config_.tool);
  if (chain_.dof() != 7) {
    throw SimError(urdf.string() + ": the chain to '" + config_.tip_link +
                   "' must have exactly the 7 arm joints");
  }
  if (!(physics_.physics_hz > 0) || physics_.substeps < 1 || physics_.solver_iterations < 1) {
    throw SimError("physics options: rates, substeps and solver iterations must be positive");
  }
}

std::filesystem::path SceneModel::DefaultUrdf() {
  return std::filesystem::path(DF_SIM_ASSET_DIR) / "panda.urdf";
}

SceneParams SceneModel::Nominal() const {
  SceneParams p;
  for (const ObjectSpec& o : task_->objects()) {
    p.object_start.push_back(o.start);
    p.mass_scale.push_back(1.0);
    p.friction.push_back(o.friction);
    p.restitution.push_back(o.restitution);
    p.size_scale.push_back(1.0);
  }
  p.target = task_->target_start();
  p.start_joints = config_.home;
  return p;
}

nlohmann::json SceneModel::EnvArgs() const {
  nlohmann::json kwargs = {
      {"robot", robot_.name},
      {"control_freq", physics_.control_hz()},
      {"physics_freq", physics_.physics_hz},
      {"solver_iterations", physics_.solver_iterations},
      {"action_scale", {{"position", action_scale_.position}, {"rotation", action_scale_.rotation}}},
      {"objects", nlohmann::json::array()},
  };
  for (const ObjectSpec& o : task_->objects()) kwargs["objects"].push_back(o.name);
  return {{"env_name", task_->name()}, {"type", "dreamforge"}, {"env_kwargs", kwargs}};
}

nlohmann::json ToJson(const SceneParams& p) {
  auto vec = [](const auto& v) { return std::vector<double>(v.data(), v.data() + v.size()); };
  nlohmann::json starts = nlohmann::json::array();
  for (const auto& s : p.object_start) starts.push_back(vec(s));
  nlohmann::json j = {{"object_start", starts},
          {"mass_scale", p.mass_scale},
          {"friction", p.friction},
          {"restitution", p.restitution},
          {"size_scale", p.size_scale},
          {"target", vec(p.target)},
          {"table_height", p.table_height},
          {"start_joints", vec(p.start_joints)},
          {"damping_scale", p.damping_scale},
          {"gain_scale", p.gain_scale},
          {"latency_steps", p.latency_steps},
          {"action_noise", p.action_noise},
          {"obs_noise", p.obs_noise},
          {"noise_seed", p.noise_seed}};
  if (p.appearance) j["appearance"] = ToJson(*p.appearance);
  return j;
}

Eigen::Vector3d TableSize() { return kTableSize; }
Eigen::Vector2d TableCenterXy() { return kTableCenter.head<2>(); }

Appearance AppearanceOf(const SceneParams& params, const Task& task) {
  return params.appearance ? *params.appearance : Appearance::Nominal(task);
}

SceneParams SceneParamsFromJson(const nlohmann::json& j) {
  auto get = [&](const char* key) -> const nlohmann::json& {
    if (!j.is_object() || !j.contains(key)) throw SimError(std::string("scene parameters: missing ") + key);
    return j.at(key);
  };
  auto vec = [&](const char* key, int n) {
    const nlohmann::json& v = get(key);
    if (!v.is_array() || static_cast<int>(v.size()) != n) {
      throw SimError(std::string("scene parameters: ") + key + ": expected " + std::to_string(n) + " numbers");
    }
    Eigen::VectorXd out(n);
    for (int i = 0; i < n; ++i) out[i] = v[i].get<double>();
    return out;
  };
  try {
    SceneParams p;
    for (const auto& s : get("object_start")) {
      if (!s.is_array() || s.size() != 3) throw SimError("scene parameters: object_start: expected [x, y, yaw] lists");
      p.object_start.emplace_back(s[0].get<double>(), s[1].get<double>(), s[2].get<double>());
    }
    p.mass_scale = get("mass_scale").get<std::vector<double>>();
    p.friction = get("friction").get<std::vector<double>>();
    p.restitution = get("restitution").get<std::vector<double>>();
    p.size_scale = get("size_scale").get<std::vector<double>>();
    p.target = vec("target", 3);
    p.table_height = get("table_height").get<double>();
    p.start_joints = vec("start_joints", 7);
    p.damping_scale = get("damping_scale").get<double>();
    p.gain_scale = get("gain_scale").get<double>();
    p.latency_steps = get("latency_steps").get<int>();
    p.action_noise = get("action_noise").get<double>();
    p.obs_noise = get("obs_noise").get<double>();
    p.noise_seed = get("noise_seed").get<uint64_t>();
    if (j.contains("appearance")) p.appearance = AppearanceFromJson(j.at("appearance"));
    return p;
  } catch (const nlohmann::json::exception& e) {
    throw SimError(std::string("scene parameters: ") + e.what());
  }
}

void SceneModel::Validate(const SceneParams& p) const {
  const size_t n = task_->objects().size();
  auto fail = [](const std::string& what) { throw SimError("scene parameters: " + what); };
  if (p.object_start.size() != n || p.mass_scale.size() != n || p.friction.size() != n ||
      p.restitution.size() != n || p.size_scale.size() != n) {
    fail("need one value per task object for start, mass_scale, friction, restitution, size_scale");
  }
  for (size_t i = 0; i < n; ++i) {
    if (!p.object_start[i].allFinite()) fail("object_start is not finite");
    if (!(p.mass_scale[i] > 0)) fail("mass_scale must be positive");
    if (!(p.friction[i] >= 0)) fail("friction must be non-negative");
    if (!(p.restitution[i] >= 0 && p.restitution[i] <= 1)) fail("restitution must be in [0, 1]");
    if (!(p.size_scale[i] > 0)) fail("size_scale must be positive");
  }
  if (!p.target.allFinite() || !std::isfinite(p.table_height) || !p.start_joints.allFinite()) {
    fail("target, table_height and start_joints must be finite");
  }
  if (!(p.damping_scale >= 0) || !(p.gain_scale > 0)) fail("damping_scale >= 0, gain_scale > 0");
  if (p.latency_steps < 0) fail("latency_steps must be >= 0");
  if (!(p.action_noise >= 0) || !(p.obs_noise >= 0)) fail("noise must be >= 0");
  if (p.appearance) sim::Validate(*p.appearance);
}

World::World(std::shared_ptr<const SceneModel> model, const SceneParams& params)
    : model_(std::move(model)),
      params_(params),
      bullet_(std::make_unique<BulletWorld>(model_->physics())),
      kinematics_(model_->arm_chain()),
      q_scratch_(7),
      q_target_(7),
      q_ik_(7),
      noise_rng_(params.noise_seed) {
  model_->Validate(params_);
  const Task& task = model_->task();
  const RobotConfig& rc = model_->robot_config();

  // Table: a static box whose top surface is at z = table_height.
  Eigen::Isometry3d table = Eigen::Isometry3d::Identity();
  table.translation() = Eigen::Vector3d(kTableCenter.x(), kTableCenter.y(),
                                        params_.table_height - kTableThickness / 2);
  bullet_->AddStaticBox(table, kTableSize / 2, 1.0);

  // Robot, with perturbed joint damping and the fingers coupled by a gear constraint.
  robot_ = bullet_->AddRobot(model_->robot(), Eigen::Isometry3d::Identity());
  btMultiBody* mb = robot_.body;
  for (int i = 0; i < mb->getNumLinks(); ++i) {
    mb->getLink(i).m_jointDamping *= params_.damping_scale;
  }
  for (int k = 0; k < 7; ++k) {
    mb->setJointPos(model_->arm_joint_indices()[k], params_.start_joints[k]);
  }
  const int f1 = model_->finger_joint_indices()[0], f2 = model_->finger_joint_indices()[1];
  mb->setJointPos(f1, rc.finger_open);
  mb->setJointPos(f2, rc.finger_open);
  for (int f : {f1, f2}) {
    if (!robot_.colliders[f]) continue;
    robot_.colliders[f]->setFriction(rc.finger_friction);
    // Torsional friction of the finger pads (Bullet multiplies the two bodies' values):
    // a pad touching an object over an area resists turning about the contact normal.
    robot_.colliders[f]->setSpinningFriction(1.0);
  }
  SyncMultiBodyTransforms(mb);
  auto gear = std::make_unique<btMultiBodyGearConstraint>(
      mb, f1, mb, f2, btVector3(0, 0, 0), btVector3(0, 0, 0), btMatrix3x3::getIdentity(),
      btMatrix3x3::getIdentity());
  gear->setGearRatio(-1.0);
  gear->setErp(0.2);
  gear->setMaxAppliedImpulse(50.0 * model_->physics().dt());
  bullet_->AddConstraint(std::move(gear));

  // Objects, resting on the table.
  for (size_t i = 0; i < task.objects().size(); ++i) {
    const ObjectSpec& spec = task.objects()[i];
    const Eigen::Vector3d size = spec.size * params_.size_scale[i];
    object_sizes_.push_back(size);
    const double height = spec.shape == ObjectSpec::Shape::kBox ? size.z() : size.y();
    const Eigen::Vector3d& s = params_.object_start[i];
    const Eigen::Isometry3d pose =
        PlanarFrame(Eigen::Vector3d(s.x(), s.y(), params_.table_height + height / 2), s.z());
    btRigidBody* body = bullet_->AddRigidBody(ObjectShape(spec, size),
                                              spec.mass * params_.mass_scale[i], pose,
                                              params_.friction[i], params_.restitution[i]);
    body->setRollingFriction(0.0);
    body->setSpinningFriction(kObjectSpinningFriction);
    objects_.push_back(body);
  }

  // Hold the start configuration until the first command takes effect.
  for (int k = 0; k < 7; ++k) q_target_[k] = params_.start_joints[k];
  SetMotorTargets(-1.0);
  PendingCommand hold;
  hold.hold = true;
  hold.gripper = -1.0;
  pending_.assign(params_.latency_steps, hold);
}

Eigen::Matrix<double, 7, 1> World::ArmJoints() const {
  Eigen::Matrix<double, 7, 1> q;
  for (int k = 0; k < 7; ++k) q[k] = robot_.body->getJointPos(model_->arm_joint_indices()[k]);
  return q;
}

Eigen::Matrix<double, 7, 1> World::ArmVelocities() const {
  Eigen::Matrix<double, 7, 1> v;
  for (int k = 0; k < 7; ++k) v[k] = robot_.body->getJointVel(model_->arm_joint_indices()[k]);
  return v;
}

Eigen::Vector2d World::FingerJoints() const {
  return Eigen::Vector2d(robot_.body->getJointPos(model_->finger_joint_indices()[0]),
                         robot_.body->getJointPos(model_->finger_joint_indices()[1]));
}

Eigen::Isometry3d World::ToolPose() const {
  Eigen::VectorXd q = ArmJoints();
  return kinematics_.ToolPose(q);
}

Eigen::Isometry3d World::ObjectPose(int i) const {
  return ToEigen(objects_[i]->getWorldTransform());
}
Eigen::Vector3d World::ObjectLinearVelocity(int i) const {
  return ToEigen(objects_[i]->getLinearVelocity());
}
Eigen::Vector3d World::ObjectAngularVelocity(int i) const {
  return ToEigen(objects_[i]->getAngularVelocity());
}
Eigen::Vector3d World::ObjectSize(int i) const { return object_sizes_[i]; }

bool World::FingersTouch(int i) const {
  const btCollisionObject* object = objects_[i];
  const btCollisionObject* f1 = robot_.colliders[model_->finger_joint_indices()[0]];
  const btCollisionObject* f2 = robot_.colliders[model_->finger_joint_indices()[1]];
  const btDispatcher* d = bullet_->dynamics().getDispatcher();
  for (int m = 0; m < d->getNumManifolds(); ++m) {
    const btPersistentManifold* man =
        const_cast<btDispatcher*>(d)->getManifoldByIndexInternal(m);
    const btCollisionObject* a = man->getBody0();
    const btCollisionObject* b = man->getBody1();
    const bool pair = (a == object && (b == f1 || b == f2)) || (b == object && (a == f1 || a == f2));
    if (!pair) continue;
    for (int c = 0; c < man->getNumContacts(); ++c) {
      if (man->getContactPoint(c).getDistance() < 1e-3) return true;
    }
  }
  return false;
}

bool World::succeeded() const {
  const double needed = model_->task().hold_seconds() * model_->physics().control_hz();
  return hold_steps_ >= static_cast<int>(std::lround(needed));
}

Observation World::Observe() {
  Observation o;
  o.joint_pos = ArmJoints();
  if (params_.obs_noise > 0) {
    std::normal_distribution<double> n(0.0, params_.obs_noise);
    for (int k = 0; k < 7; ++k) o.joint_pos[k] += n(noise_rng_);
  }
  // The tool is measured through the joint encoders, as on the robot: its pose is the
  // forward kinematics of the measured joints. The robot's controller computes from them.
  measured_q_ = o.joint_pos;
  measured_ = true;
  q_scratch_ = o.joint_pos;
  const Eigen::Isometry3d tool = kinematics_.ToolPose(q_scratch_);
  o.eef_pos = tool.translation();
  o.eef_quat = QuatXyzw(tool.linear());
  o.gripper_qpos = FingerJoints();
  o.joint_vel = ArmVelocities();
  const Eigen::Isometry3d obj = ObjectPose(0);
  Eigen::Vector3d object_position = obj.translation();
  if (params_.obs_noise > 0) {
    std::normal_distribution<double> n(0.0, params_.obs_noise);
    for (int k = 0; k < 3; ++k) object_position[k] += n(noise_rng_);
  }
  robot::ObjectFeature(object_position, QuatXyzw(obj.linear()), o.eef_pos,
                       model_->task().TargetFrame(*this).translation(), o.object);
  return o;
}

Eigen::Matrix<double, 7, 1> World::IssueJoints() const { return measured_ ? measured_q_ : ArmJoints(); }

void World::SetMotorTargets(double gripper) {
  const RobotConfig& rc = model_->robot_config();
  const double kp = rc.position_gain * params_.gain_scale;
  for (int k = 0; k < 7; ++k) {
    const int j = model_->arm_joint_indices()[k];
    btMultiBodyJointMotor* m = robot_.motors[j];
    m->setPositionTarget(q_target_[k], kp);
    m->setVelocityTarget(0.0, rc.velocity_gain);
    m->setRhsClamp(model_->robot().joints[j].velocity);
  }
  gripper_command_ = gripper;
  const double finger = rc.finger_open * (1.0 - gripper) / 2.0;
  for (int j : model_->finger_joint_indices()) {
    btMultiBodyJointMotor* m = robot_.motors[j];
    m->setPositionTarget(finger, kp);
    m->setVelocityTarget(0.0, rc.velocity_gain);
    m->setRhsClamp(model_->robot().joints[j].velocity);
  }
}

bool World::StateFinite() const {
  const Eigen::VectorXd s = GetState();
  return s.allFinite() && s.cwiseAbs().maxCoeff() < 1e3;
}

StepInfo World::Step(const Action& action) {
  StepInfo info;
  // Episodes store actions as float32: apply exactly what a replay of the file will apply.
  Action a = action;
  if (!a.allFinite()) {
    info.action_valid = false;
    a = Action::Zero();
    a[6] = gripper_command_;
  }
  a = a.cwiseMax(-1.0).cwiseMin(1.0).cast<float>().cast<double>();
  if (params_.action_noise > 0) {
    std::normal_distribution<double> n(0.0, params_.action_noise);
    for (int k = 0; k < 6; ++k) a[k] += n(noise_rng_);
    a.head<6>() = a.head<6>().cwiseMax(-1.0).cwiseMin(1.0);
  }
  // The robot's controller turns the action into a joint target now, from the joints it
  // measured (IssueJoints); the target then goes through the latency queue (Execute).
  PendingCommand c;
  c.q_issue = IssueJoints();
  c.gripper = a[6];
  c.hold = !robot::ActionMoves(a);  // a zero action holds the last joint target
  if (!c.hold) {
    q_scratch_ = c.q_issue;
    const Eigen::Isometry3d target =
        robot::ActionToolTarget(kinematics_.ToolPose(q_scratch_), a, model_->action_scale());
    const robot::IkResult r = kinematics_.SolveIk(target, q_scratch_, robot::ActionIkOptions(), &q_ik_);
    info.ik_converged = robot::IkConverged(r);
    c.q_cmd = q_ik_;
  }
  Execute(c, &info);
  return info;
}

StepInfo World::StepJointTargets(const Eigen::Matrix<double, 7, 1>& q_target, double gripper) {
  StepInfo info;
  PendingCommand c;
  c.q_issue = IssueJoints();
  if (q_target.allFinite() && std::isfinite(gripper)) {
    c.q_cmd = q_target;
    c.gripper = std::clamp(gripper, -1.0, 1.0);
    if (params_.action_noise > 0) {
      // Action noise is defined on actions, a tool motion: a joint command gets the joint
      // motion the same tool noise would cause, J^+ (dp, dtheta) at the issuing pose, drawn
      // from the generator as Step() draws it.
      const ActionScale& scale = model_->action_scale();
      std::normal_distribution<double> n(0.0, params_.action_noise);
      Eigen::Matrix<double, 6, 1> e;
      for (int k = 0; k < 6; ++k) e[k] = n(noise_rng_) * (k < 3 ? scale.position : scale.rotation);
      q_scratch_ = c.q_issue;
      robot::Jacobian6d J(6, 7);
      kinematics_.Jacobian(q_scratch_, &J);
      const Eigen::Matrix<double, 6, 6> JJt =
          J * J.transpose() + 1e-4 * Eigen::Matrix<double, 6, 6>::Identity();
      c.q_cmd += J.transpose() * JJt.ldlt().solve(e);
    }
  } else {  // a non-finite command holds: no motion, the previous gripper command
    info.action_valid = false;
    c.hold = true;
    c.gripper = pending_.empty() ? gripper_command_ : pending_.back().gripper;
  }
  Execute(c, &info);
  return info;
}

void World::Execute(const PendingCommand& command, StepInfo* info) {
  pending_.push_back(command);
  const PendingCommand c = pending_.front();
  pending_.pop_front();
  if (!c.hold) {
    if (params_.latency_steps == 0) {
      q_target_ = c.q_cmd;
    } else {
      // A late command asks for the joint motion it was computed for, from where the arm
      // is when it arrives.
      q_target_ = ArmJoints() + (c.q_cmd - c.q_issue);
    }
  }
  SetMotorTargets(c.gripper);
  Advance(info);
}

void World::Advance(StepInfo* info) {
  measured_ = false;
  for (int s = 0; s < model_->physics().substeps; ++s) {
    if (!bullet_->Step()) info->stable = false;
  }
  ++steps_;
  if (!StateFinite()) {
    info->stable = false;
    return;
  }
  status_ = model_->task().Evaluate(*this);
  hold_steps_ = status_.Satisfied() ? hold_steps_ + 1 : 0;
}

Eigen::VectorXd World::GetState() const {
  Eigen::VectorXd s(StateDim());
  s.segment<7>(0) = ArmJoints();
  s.segment<2>(7) = FingerJoints();
  s.segment<7>(9) = ArmVelocities();
  s[16] = robot_.body->getJointVel(model_->finger_joint_indices()[0]);
  s[17] = robot_.body->getJointVel(model_->finger_joint_indices()[1]);
  for (int i = 0; i < num_objects(); ++i) {
    const Eigen::Isometry3d p = ObjectPose(i);
    const int o = 18 + 13 * i;
    s.segment<3>(o) = p.translation();
    s.segment<4>(o + 3) = QuatXyzw(p.linear());
    s.segment<3>(o + 7) = ObjectLinearVelocity(i);
    s.segment<3>(o + 10) = ObjectAngularVelocity(i);
  }
  return s;
}

}  // namespace dreamforge::sim
