#include "sim/bullet_world.h"

#include <BulletDynamics/Featherstone/btMultiBodyConstraintSolver.h>
#include <BulletDynamics/Featherstone/btMultiBodyJointLimitConstraint.h>

namespace dreamforge::sim {

Eigen::Isometry3d ToEigen(const btTransform& t) {
  Eigen::Isometry3d out = Eigen::Isometry3d::Identity();
  const btMatrix3x3& b = t.getBasis();
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) out.linear()(r, c) = b[r][c];
  out.translation() = ToEigen(t.getOrigin());
  return out;
}

btTransform ToBullet(const Eigen::Isometry3d& t) {
  const Eigen::Matrix3d& m = t.linear();
  btMatrix3x3 basis(m(0, 0), m(0, 1), m(0, 2), m(1, 0), m(1, 1), m(1, 2), m(2, 0), m(2, 1),
                    m(2, 2));
  return btTransform(basis, ToBullet(Eigen::Vector3d(t.translation())));
}

namespace {

btQuaternion RotationQuat(const Eigen::Matrix3d& m) {
  const Eigen::Quaterniond q(m);
  return btQuaternion(q.x(), q.y(), q.z(), q.w());
}

std::unique_ptr<btCollisionShape> MakeShape(const CollisionShape& s) {
  switch (s.kind) {
    case CollisionShape::Kind::kBox:
      return std::make_unique<btBoxShape>(ToBullet(Eigen::Vector3d(s.size * 0.5)));
    case CollisionShape::Kind::kCylinder:
      return std::make_unique<btCylinderShapeZ>(btVector3(s.size[0], s.size[0], s.size[1] * 0.5));
    case CollisionShape::Kind::kSphere:
      return std::make_unique<btSphereShape>(s.size[0]);
    case CollisionShape::Kind::kCapsule:
      return std::make_unique<btCapsuleShapeZ>(s.size[0], s.size[1]);
  }
  return nullptr;
}

}  // namespace

BulletWorld::BulletWorld(const PhysicsOptions& options) : options_(options) {
  config_ = std::make_unique<btDefaultCollisionConfiguration>();
  dispatcher_ = std::make_unique<btCollisionDispatcher>(config_.get());
  broadphase_ = std::make_unique<btDbvtBroadphase>();
  solver_ = std::make_unique<btMultiBodyConstraintSolver>();
  world_ = std::make_unique<btMultiBodyDynamicsWorld>(dispatcher_.get(), broadphase_.get(),
                                                      solver_.get(), config_.get());
  world_->setGravity(btVector3(0, 0, options_.gravity));
  world_->getSolverInfo().m_numIterations = options_.solver_iterations;
}

BulletWorld::~BulletWorld() {
  // Remove everything from the world before the objects die, in reverse order of use.
  for (auto& c : constraints_) world_->removeMultiBodyConstraint(c.get());
  for (auto& mb : multibodies_) world_->removeMultiBody(mb.get());
  for (auto& col : colliders_) world_->removeCollisionObject(col.get());
  for (auto& rb : rigid_bodies_) world_->removeRigidBody(rb.get());
  constraints_.clear();
  colliders_.clear();
  multibodies_.clear();
  rigid_bodies_.clear();
  motion_states_.clear();
  world_.reset();
  solver_.reset();
  broadphase_.reset();
  dispatcher_.reset();
  config_.reset();
  shapes_.clear();
}

btRigidBody* BulletWorld::AddStaticBox(const Eigen::Isometry3d& pose,
                                       const Eigen::Vector3d& half_extents, double friction) {
  shapes_.push_back(std::make_unique<btBoxShape>(ToBullet(half_extents)));
  btRigidBody::btRigidBodyConstructionInfo info(0.0, nullptr, shapes_.back().get());
  info.m_startWorldTransform = ToBullet(pose);
  info.m_friction = friction;
  rigid_bodies_.push_back(std::make_unique<btRigidBody>(info));
  world_->addRigidBody(rigid_bodies_.back().get(), kGroupStatic, kGroupRobot | kGroupObject);
  return rigid_bodies_.back().get();
}

btRigidBody* BulletWorld::AddRigidBody(std::unique_ptr<btCollisionShape> shape, double mass,
                                       const Eigen::Isometry3d& pose, double friction,
                                       double restitution) {
  btVector3 inertia(0, 0, 0);
  shape->calculateLocalInertia(mass, inertia);
  shapes_.push_back(std::move(shape));
  motion_states_.push_back(std::make_unique<btDefaultMotionState>(ToBullet(pose)));
  btRigidBody::btRigidBodyConstructionInfo info(mass, motion_states_.back().get(),
                                                shapes_.back().get(), inertia);
  info.m_friction = friction;
  info.m_restitution = restitution;
  rigid_bodies_.push_back(std::make_unique<btRigidBody>(info));
  btRigidBody* body = rigid_bodies_.back().get();
  body->setActivationState(DISABLE_DEACTIVATION);
  world_->addRigidBody(body, kGroupObject, kGroupStatic | kGroupRobot | kGroupObject);
  return body;
}

MultiBodyHandle BulletWorld::AddRobot(const RobotDesc& desc, const Eigen::Isometry3d& base_pose) {
  const int num_links = static_cast<int>(desc.joints.size());
  const LinkDesc& root = desc.links[0];
  auto mb = std::make_unique<btMultiBody>(num_links, root.mass, ToBullet(root.inertia_diagonal),
                                          /*fixedBase=*/true, /*canSleep=*/false);
  const double dt = options_.dt();
  for (int i = 0; i < num_links; ++i) {
    const JointDesc& j = desc.joints[i];
    const LinkDesc& link = desc.links[j.child];
    const LinkDesc& parent = desc.links[j.parent];
    // Bullet works in each link's principal inertial frame.
    const Eigen::Isometry3d offset_in_parent = parent.inertial.inverse() * j.origin;
    const Eigen::Isometry3d offset_in_child = link.inertial.inverse();
    // Rotates parent-frame vectors into this link's frame at q = 0.
    const btQuaternion q =
        RotationQuat(offset_in_child.linear() * offset_in_parent.linear().transpose());
    const btVector3 axis = ToBullet(Eigen::Vector3d(offset_in_child.linear() * j.axis));
    const btVector3 parent_com_to_pivot = ToBullet(Eigen::Vector3d(offset_in_parent.translation()));
    const btVector3 pivot_to_com = ToBullet(Eigen::Vector3d(-offset_in_child.translation()));
    const int parent_index = j.parent - 1;
    const btVector3 inertia = ToBullet(link.inertia_diagonal);
    switch (j.type) {
      case robot::JointType::kRevolute:
        mb->setupRevolute(i, link.mass, inertia, parent_index, q, axis, parent_com_to_pivot,
                          pivot_to_com, true);
        break;
      case robot::JointType::kPrismatic:
        mb->setupPrismatic(i, link.mass, inertia, parent_index, q, axis, parent_com_to_pivot,
                           pivot_to_com, true);
        break;
      case robot::JointType::kFixed:
        mb->setupFixed(i, link.mass, inertia, parent_index, q, parent_com_to_pivot, pivot_to_com,
                       true);
        break;
    }
    mb->getLink(i).m_jointDamping = j.damping;
    mb->getLink(i).m_jointFriction = j.friction;
    if (j.type != robot::JointType::kFixed) {
      mb->getLink(i).m_jointLowerLimit = j.lower;
      mb->getLink(i).m_jointUpperLimit = j.upper;
    }
  }
  mb->setHasSelfCollision(false);
  mb->finalizeMultiDof();
  mb->setBaseWorldTransform(ToBullet(base_pose * root.inertial));
  // Default damping would slow every joint; the URDF's joint damping is what we want.
  mb->setLinearDamping(0.0);
  mb->setAngularDamping(0.0);
  mb->setMaxCoordinateVelocity(100.0);

  MultiBodyHandle handle;
  handle.body = mb.get();
  handle.colliders.assign(num_links, nullptr);
  handle.motors.assign(num_links, nullptr);
  auto make_collider = [&](int link_index, const LinkDesc& link) -> btMultiBodyLinkCollider* {
    if (link.collisions.empty()) return nullptr;
    auto compound = std::make_unique<btCompoundShape>();
    for (const CollisionShape& s : link.collisions) {
      shapes_.push_back(MakeShape(s));
      compound->addChildShape(ToBullet(link.inertial.inverse() * s.origin), shapes_.back().get());
    }
    shapes_.push_back(std::move(compound));
    colliders_.push_back(std::make_unique<btMultiBodyLinkCollider>(mb.get(), link_index));
    btMultiBodyLinkCollider* col = colliders_.back().get();
    col->setCollisionShape(shapes_.back().get());
    col->setFriction(1.0);
    const bool base = link_index < 0;
    world_->addCollisionObject(col, base ? kGroupStatic : kGroupRobot,
                               base ? kGroupObject : (kGroupStatic | kGroupObject));
    return col;
  };
  handle.base_collider = make_collider(-1, root);
  if (handle.base_collider) mb->setBaseCollider(handle.base_collider);
  for (int i = 0; i < num_links; ++i) {
    handle.colliders[i] = make_collider(i, desc.links[i + 1]);
    if (handle.colliders[i]) mb->getLink(i).m_collider = handle.colliders[i];
  }
  SyncMultiBodyTransforms(mb.get());
  world_->addMultiBody(mb.get());

  for (int i = 0; i < num_links; ++i) {
    const JointDesc& j = desc.joints[i];
    if (j.type == robot::JointType::kFixed) continue;
    auto motor = std::make_unique<btMultiBodyJointMotor>(mb.get(), i, 0.0, j.effort * dt);
    handle.motors[i] = motor.get();
    AddConstraint(std::move(motor));
    if (j.upper - j.lower < 1e8) {
      AddConstraint(std::make_unique<btMultiBodyJointLimitConstraint>(mb.get(), i, j.lower, j.upper));
    }
  }
  multibodies_.push_back(std::move(mb));
  return handle;
}

void BulletWorld::AddConstraint(std::unique_ptr<btMultiBodyConstraint> c) {
  c->finalizeMultiDof();
  world_->addMultiBodyConstraint(c.get());
  constraints_.push_back(std::move(c));
}

bool BulletWorld::Step() {
  const double dt = options_.dt();
  const auto t0 = std::chrono::steady_clock::now();
  const int substeps = world_->stepSimulation(dt, 0, dt);
  physics_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return substeps == 1;
}

void SyncMultiBodyTransforms(btMultiBody* body) {
  btAlignedObjectArray<btQuaternion> world_to_local;
  btAlignedObjectArray<btVector3> local_origin;
  body->forwardKinematics(world_to_local, local_origin);
  body->updateCollisionObjectWorldTransforms(world_to_local, local_origin);
}

}  // namespace dreamforge::sim
