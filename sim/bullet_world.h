// RAII owner of one double-precision Bullet multibody world and everything in it.
// One per thread: the collision configuration, dispatcher, broadphase and solver keep
// memory pools that are not thread-safe (DESIGN.md, Bullet notes).
#pragma once

#include <btBulletDynamicsCommon.h>
#include <BulletDynamics/Featherstone/btMultiBody.h>
#include <BulletDynamics/Featherstone/btMultiBodyConstraint.h>
#include <BulletDynamics/Featherstone/btMultiBodyDynamicsWorld.h>
#include <BulletDynamics/Featherstone/btMultiBodyJointMotor.h>
#include <BulletDynamics/Featherstone/btMultiBodyLinkCollider.h>

#include <Eigen/Geometry>
#include <chrono>
#include <memory>
#include <vector>

#include "sim/urdf.h"

namespace dreamforge::sim {

static_assert(sizeof(btScalar) == sizeof(double),
              "dreamforge uses double-precision Bullet: define BT_USE_DOUBLE_PRECISION");

struct PhysicsOptions {
  double physics_hz = 240.0;   // fixed physics step rate
  int substeps = 12;           // physics steps per control step (240 Hz / 20 Hz)
  int solver_iterations = 50;  // sequential-impulse iterations per step
  double gravity = -9.81;      // m/s^2 along world z
  double control_hz() const { return physics_hz / substeps; }
  double dt() const { return 1.0 / physics_hz; }
};

// Collision groups: the robot never collides with itself; the table and the robot's
// fixed base never collide with each other.
enum CollisionGroup : int {
  kGroupStatic = 1 << 0,
  kGroupRobot = 1 << 1,
  kGroupObject = 1 << 2,
};

Eigen::Isometry3d ToEigen(const btTransform& t);
btTransform ToBullet(const Eigen::Isometry3d& t);
inline btVector3 ToBullet(const Eigen::Vector3d& v) { return btVector3(v.x(), v.y(), v.z()); }
inline Eigen::Vector3d ToEigen(const btVector3& v) { return Eigen::Vector3d(v.x(), v.y(), v.z()); }

// A robot built from a RobotDesc: multibody link i is RobotDesc link i + 1 (joint i).
struct MultiBodyHandle {
  btMultiBody* body = nullptr;
  std::vector<btMultiBodyLinkCollider*> colliders;  // per multibody link; nullptr if no shapes
  btMultiBodyLinkCollider* base_collider = nullptr;
  std::vector<btMultiBodyJointMotor*> motors;  // per multibody link; nullptr for fixed joints
};

class BulletWorld {
 public:
  explicit BulletWorld(const PhysicsOptions& options);
  ~BulletWorld();
  BulletWorld(const BulletWorld&) = delete;
  BulletWorld& operator=(const BulletWorld&) = delete;

  btMultiBodyDynamicsWorld& dynamics() { return *world_; }
  const btMultiBodyDynamicsWorld& dynamics() const { return *world_; }
  const PhysicsOptions& options() const { return options_; }

  // A static box (half extents in m) with the given friction.
  btRigidBody* AddStaticBox(const Eigen::Isometry3d& pose, const Eigen::Vector3d& half_extents,
                            double friction);
  // A dynamic rigid body; the world owns the shape. Inertia from the shape.
  btRigidBody* AddRigidBody(std::unique_ptr<btCollisionShape> shape, double mass,
                            const Eigen::Isometry3d& pose, double friction, double restitution);
  // A fixed-base multibody with a position motor on every movable joint (max impulse =
  // effort * dt) and joint-limit constraints. Collision shapes come from the description.
  MultiBodyHandle AddRobot(const RobotDesc& desc, const Eigen::Isometry3d& base_pose);
  // Adds a multibody constraint owned by the world.
  void AddConstraint(std::unique_ptr<btMultiBodyConstraint> c);

  // One fixed physics step of options().dt(). Returns false when Bullet ran a number of
  // substeps other than one (it never should with an explicit fixed step).
  bool Step();
  // Wall time spent inside Bullet's stepSimulation so far, s (for benchmarks).
  double physics_seconds() const { return physics_seconds_; }

 private:
  PhysicsOptions options_;
  double physics_seconds_ = 0.0;
  std::unique_ptr<btDefaultCollisionConfiguration> config_;
  std::unique_ptr<btCollisionDispatcher> dispatcher_;
  std::unique_ptr<btBroadphaseInterface> broadphase_;
  std::unique_ptr<btMultiBodyConstraintSolver> solver_;
  std::unique_ptr<btMultiBodyDynamicsWorld> world_;
  std::vector<std::unique_ptr<btCollisionShape>> shapes_;
  std::vector<std::unique_ptr<btMotionState>> motion_states_;
  std::vector<std::unique_ptr<btRigidBody>> rigid_bodies_;
  std::vector<std::unique_ptr<btMultiBody>> multibodies_;
  std::vector<std::unique_ptr<btMultiBodyLinkCollider>> colliders_;
  std::vector<std::unique_ptr<btMultiBodyConstraint>> constraints_;
};

// Recomputes link and collider transforms after joint positions were set directly.
void SyncMultiBodyTransforms(btMultiBody* body);

}  // namespace dreamforge::sim
