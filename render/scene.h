// The geometry a camera sees, built from what physics uses: the robot's links from the URDF
// (its collision shapes: the shipped URDF has no separate visual geometry), the task's
// objects at their sampled sizes, the table, the target zone and a floor. Meshes are built
// once per VisualModel and shared read-only between threads; each renderer uploads its own
// copy. Part poses come from a physics state vector (World::GetState layout), so a live
// world and a stored episode render through the same code.
#pragma once

#include <Eigen/Geometry>
#include <memory>
#include <string>
#include <vector>

#include "sim/appearance.h"
#include "sim/world.h"

namespace dreamforge::render {

struct Mesh {
  std::vector<float> vertices;  // x, y, z, nx, ny, nz per vertex, in the part frame
  std::vector<uint32_t> indices;  // triangles
};

// Unit primitives (scaled per part): a box of edge 1, a cylinder of radius 1 and length 1
// along z, a sphere of radius 1; capsules are built at their size.
Mesh UnitBox();
Mesh UnitCylinder(int segments = 24);
Mesh UnitSphere(int rings = 8, int segments = 16);
Mesh Capsule(double radius, double length, int rings = 4, int segments = 16);

// What a part rides on.
enum class Attach { kWorld, kLink, kObject, kTable, kTarget };

struct Part {
  int mesh = 0;
  Attach attach = Attach::kWorld;
  int index = 0;  // link index (kLink) or object index (kObject)
  Eigen::Isometry3d local = Eigen::Isometry3d::Identity();  // attach frame -> part frame
  Eigen::Vector3d scale = Eigen::Vector3d::Ones();  // for objects: a multiple of the sampled size
  sim::Surface surface = sim::Surface::kRobot;
};

class VisualModel {
 public:
  explicit VisualModel(std::shared_ptr<const sim::SceneModel> scene);
  const sim::SceneModel& scene() const { return *scene_; }
  const std::vector<Mesh>& meshes() const { return meshes_; }
  const std::vector<Part>& parts() const { return parts_; }
  int num_triangles() const;

 private:
  std::shared_ptr<const sim::SceneModel> scene_;
  std::vector<Mesh> meshes_;
  std::vector<Part> parts_;
};

// World poses of everything, at one physics state.
struct ScenePose {
  std::vector<Eigen::Isometry3d> links;   // per robot link, the URDF link frame
  std::vector<Eigen::Isometry3d> parts;   // per part, the part frame (with its scale applied)
  std::vector<Eigen::Vector3d> part_scale;
};

// Poses from a state vector (arm q, finger q, velocities, then per object position and
// quaternion xyzw, as World::GetState) and the scene's sampled parameters (sizes, table
// height, target). Throws RenderError on a state of the wrong width.
void ComputePose(const VisualModel& model, const sim::SceneParams& params,
                 const Eigen::Ref<const Eigen::VectorXd>& state, ScenePose* pose);

// The robot's link frames from its joint values (one per RobotDesc joint, 0 for fixed).
std::vector<Eigen::Isometry3d> LinkFrames(const sim::RobotDesc& robot, const Eigen::VectorXd& joint_values);

}  // namespace dreamforge::render
