#include "render/scene.h"

#include <cmath>

#include "render/render_error.h"

namespace dreamforge::render {
namespace {

void AddVertex(Mesh* m, const Eigen::Vector3d& p, const Eigen::Vector3d& n) {
  for (int k = 0; k < 3; ++k) m->vertices.push_back(static_cast<float>(p[k]));
  for (int k = 0; k < 3; ++k) m->vertices.push_back(static_cast<float>(n[k]));
}

uint32_t NumVertices(const Mesh& m) { return static_cast<uint32_t>(m.vertices.size() / 6); }

void AddTriangle(Mesh* m, uint32_t a, uint32_t b, uint32_t c) {
  m->indices.push_back(a);
  m->indices.push_back(b);
  m->indices.push_back(c);
}

// A disc cap at height z facing `sign` (+1 up, -1 down), radius r.
void AddCap(Mesh* m, double r, double z, double sign, int segments) {
  const uint32_t centre = NumVertices(*m);
  const Eigen::Vector3d n(0, 0, sign);
  AddVertex(m, Eigen::Vector3d(0, 0, z), n);
  for (int i = 0; i < segments; ++i) {
    const double a = 2 * M_PI * i / segments;
    AddVertex(m, Eigen::Vector3d(r * std::cos(a), r * std::sin(a), z), n);
  }
  for (int i = 0; i < segments; ++i) {
    const uint32_t p = centre + 1 + i, q = centre + 1 + (i + 1) % segments;
    if (sign > 0) AddTriangle(m, centre, p, q);
    else AddTriangle(m, centre, q, p);
  }
}

// A band of a surface of revolution about z between two rings (radius, height, normal).
void AddBand(Mesh* m, double r0, double z0, const Eigen::Vector2d& n0, double r1, double z1,
             const Eigen::Vector2d& n1, int segments) {
  const uint32_t base = NumVertices(*m);
  for (int i = 0; i <= segments; ++i) {
    const double a = 2 * M_PI * i / segments, c = std::cos(a), s = std::sin(a);
    AddVertex(m, Eigen::Vector3d(r0 * c, r0 * s, z0), Eigen::Vector3d(n0.x() * c, n0.x() * s, n0.y()));
    AddVertex(m, Eigen::Vector3d(r1 * c, r1 * s, z1), Eigen::Vector3d(n1.x() * c, n1.x() * s, n1.y()));
  }
  for (int i = 0; i < segments; ++i) {
    const uint32_t a = base + 2 * i, b = a + 1, c = a + 2, d = a + 3;
    AddTriangle(m, a, c, b);
    AddTriangle(m, b, c, d);
  }
}

}  // namespace

Mesh UnitBox() {
  Mesh m;
  for (int axis = 0; axis < 3; ++axis) {
    for (double sign : {-1.0, 1.0}) {
      Eigen::Vector3d n = Eigen::Vector3d::Zero();
      n[axis] = sign;
      const int u = (axis + 1) % 3, v = (axis + 2) % 3;
      const uint32_t base = NumVertices(m);
      for (int k = 0; k < 4; ++k) {
        Eigen::Vector3d p = 0.5 * n;
        p[u] = (k == 1 || k == 2) ? 0.5 : -0.5;
        p[v] = (k >= 2) ? 0.5 : -0.5;
        AddVertex(&m, p, n);
      }
      // counter-clockwise seen from outside
      if (sign > 0) {
        AddTriangle(&m, base, base + 1, base + 2);
        AddTriangle(&m, base, base + 2, base + 3);
      } else {
        AddTriangle(&m, base, base + 2, base + 1);
        AddTriangle(&m, base, base + 3, base + 2);
      }
    }
  }
  return m;
}

Mesh UnitCylinder(int segments) {
  Mesh m;
  AddBand(&m, 1.0, -0.5, Eigen::Vector2d(1, 0), 1.0, 0.5, Eigen::Vector2d(1, 0), segments);
  AddCap(&m, 1.0, 0.5, 1.0, segments);
  AddCap(&m, 1.0, -0.5, -1.0, segments);
  return m;
}

Mesh UnitSphere(int rings, int segments) { return Capsule(1.0, 0.0, rings, segments); }

Mesh Capsule(double radius, double length, int rings, int segments) {
  Mesh m;
  const double h = 0.5 * length;
  if (length > 0) {
    AddBand(&m, radius, -h, Eigen::Vector2d(1, 0), radius, h, Eigen::Vector2d(1, 0), segments);
  }
  for (double sign : {1.0, -1.0}) {
    for (int i = 0; i < rings; ++i) {
      const double a0 = M_PI / 2 * i / rings, a1 = M_PI / 2 * (i + 1) / rings;
      const Eigen::Vector2d n0(std::cos(a0), sign * std::sin(a0)), n1(std::cos(a1), sign * std::sin(a1));
      if (sign > 0) {
        AddBand(&m, radius * n0.x(), h + radius * n0.y(), n0, radius * n1.x(), h + radius * n1.y(), n1, segments);
      } else {
        AddBand(&m, radius * n1.x(), -h + radius * n1.y(), n1, radius * n0.x(), -h + radius * n0.y(), n0, segments);
      }
    }
  }
  return m;
}

VisualModel::VisualModel(std::shared_ptr<const sim::SceneModel> scene) : scene_(std::move(scene)) {
  meshes_ = {UnitBox(), UnitCylinder(), UnitSphere()};
  constexpr int kBox = 0, kCylinder = 1, kSphere = 2;
  const sim::RobotDesc& robot = scene_->robot();
  for (size_t l = 0; l < robot.links.size(); ++l) {
    for (const sim::CollisionShape& c : robot.links[l].collisions) {
      Part p;
      p.attach = Attach::kLink;
      p.index = static_cast<int>(l);
      p.local = c.origin;
      p.surface = sim::Surface::kRobot;
      switch (c.kind) {
        case sim::CollisionShape::Kind::kBox:
          p.mesh = kBox;
          p.scale = c.size;
          break;
        case sim::CollisionShape::Kind::kCylinder:
          p.mesh = kCylinder;
          p.scale = Eigen::Vector3d(c.size[0], c.size[0], c.size[1]);
          break;
        case sim::CollisionShape::Kind::kSphere:
          p.mesh = kSphere;
          p.scale = Eigen::Vector3d::Constant(c.size[0]);
          break;
        case sim::CollisionShape::Kind::kCapsule:
          p.mesh = static_cast<int>(meshes_.size());
          meshes_.push_back(Capsule(c.size[0], c.size[1]));
          break;
      }
      parts_.push_back(p);
    }
  }
  const sim::Task& task = scene_->task();
  for (size_t i = 0; i < task.objects().size(); ++i) {
    Part p;
    p.attach = Attach::kObject;
    p.index = static_cast<int>(i);
    const bool box = task.objects()[i].shape == sim::ObjectSpec::Shape::kBox;
    p.mesh = box ? kBox : kCylinder;
    // scale is applied to the sampled size: box (x, y, z) extents; cylinder (r, r, h)
    p.scale = Eigen::Vector3d::Ones();
    // The manipulated object is `object`; what it is placed on (cube_stack's lower cube)
    // is `target`; any further object shares the object's look.
    p.surface = (i == 0 || task.target_zone_radius() > 0) ? sim::Surface::kObject : sim::Surface::kTarget;
    parts_.push_back(p);
  }
  {
    Part table;
    table.attach = Attach::kTable;
    table.mesh = kBox;
    table.scale = sim::TableSize();
    table.surface = sim::Surface::kTable;
    parts_.push_back(table);
  }
  if (task.target_zone_radius() > 0) {
    Part zone;
    zone.attach = Attach::kTarget;
    zone.mesh = kCylinder;
    zone.scale = Eigen::Vector3d(task.target_zone_radius(), task.target_zone_radius(), 0.002);
    zone.local.translation() = Eigen::Vector3d(0, 0, 0.001);
    zone.surface = sim::Surface::kTarget;
    parts_.push_back(zone);
  }
  {
    Part floor;
    floor.attach = Attach::kWorld;
    floor.mesh = kBox;
    floor.scale = Eigen::Vector3d(8.0, 8.0, 0.02);
    floor.local.translation() = Eigen::Vector3d(0.45, 0.0, -0.76);
    floor.surface = sim::Surface::kBackground;
    parts_.push_back(floor);
  }
}

int VisualModel::num_triangles() const {
  int n = 0;
  for (const Part& p : parts_) n += static_cast<int>(meshes_[p.mesh].indices.size() / 3);
  return n;
}

std::vector<Eigen::Isometry3d> LinkFrames(const sim::RobotDesc& robot, const Eigen::VectorXd& q) {
  std::vector<Eigen::Isometry3d> frames(robot.links.size(), Eigen::Isometry3d::Identity());
  for (size_t j = 0; j < robot.joints.size(); ++j) {
    const sim::JointDesc& joint = robot.joints[j];
    Eigen::Isometry3d motion = Eigen::Isometry3d::Identity();
    switch (joint.type) {
      case robot::JointType::kRevolute:
        motion.linear() = Eigen::AngleAxisd(q[j], joint.axis).toRotationMatrix();
        break;
      case robot::JointType::kPrismatic:
        motion.translation() = joint.axis * q[j];
        break;
      case robot::JointType::kFixed:
        break;
    }
    frames[joint.child] = frames[joint.parent] * joint.origin * motion;
  }
  return frames;
}

void ComputePose(const VisualModel& model, const sim::SceneParams& params,
                 const Eigen::Ref<const Eigen::VectorXd>& state, ScenePose* pose) {
  const sim::SceneModel& scene = model.scene();
  const sim::Task& task = scene.task();
  const int n_obj = static_cast<int>(task.objects().size());
  if (state.size() != 18 + 13 * n_obj) {
    throw RenderError("state has " + std::to_string(state.size()) + " values, the scene needs " +
                      std::to_string(18 + 13 * n_obj));
  }
  Eigen::VectorXd q = Eigen::VectorXd::Zero(static_cast<int>(scene.robot().joints.size()));
  for (int k = 0; k < 7; ++k) q[scene.arm_joint_indices()[k]] = state[k];
  for (int k = 0; k < 2; ++k) q[scene.finger_joint_indices()[k]] = state[7 + k];
  pose->links = LinkFrames(scene.robot(), q);

  std::vector<Eigen::Isometry3d> objects(n_obj);
  std::vector<Eigen::Vector3d> sizes(n_obj);
  for (int i = 0; i < n_obj; ++i) {
    const int o = 18 + 13 * i;
    const Eigen::Quaterniond quat(state[o + 6], state[o + 3], state[o + 4], state[o + 5]);
    objects[i] = Eigen::Isometry3d::Identity();
    objects[i].linear() = quat.normalized().toRotationMatrix();
    objects[i].translation() = state.segment<3>(o);
    const sim::ObjectSpec& spec = task.objects()[i];
    const Eigen::Vector3d s = spec.size * params.size_scale.at(i);
    sizes[i] = spec.shape == sim::ObjectSpec::Shape::kBox ? s : Eigen::Vector3d(s[0], s[0], s[1]);
  }
  Eigen::Isometry3d table = Eigen::Isometry3d::Identity();
  table.translation() = Eigen::Vector3d(sim::TableCenterXy().x(), sim::TableCenterXy().y(),
                                        params.table_height - sim::TableSize().z() / 2);
  const Eigen::Isometry3d target =
      sim::PlanarFrame(Eigen::Vector3d(params.target.x(), params.target.y(), params.table_height), params.target.z());

  const std::vector<Part>& parts = model.parts();
  pose->parts.resize(parts.size());
  pose->part_scale.resize(parts.size());
  for (size_t k = 0; k < parts.size(); ++k) {
    const Part& p = parts[k];
    Eigen::Isometry3d frame = Eigen::Isometry3d::Identity();
    Eigen::Vector3d scale = p.scale;
    switch (p.attach) {
      case Attach::kWorld: break;
      case Attach::kLink: frame = pose->links[p.index]; break;
      case Attach::kObject:
        frame = objects[p.index];
        scale = scale.cwiseProduct(sizes[p.index]);
        break;
      case Attach::kTable: frame = table; break;
      case Attach::kTarget: frame = target; break;
    }
    pose->parts[k] = frame * p.local;
    pose->part_scale[k] = scale;
  }
}

}  // namespace dreamforge::render
