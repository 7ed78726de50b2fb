#include "sim/urdf.h"

#include <console_bridge/console.h>
#include <tinyxml.h>
#include <urdf_parser/urdf_parser.h>

#include <Eigen/Eigenvalues>
#include <cmath>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "robot/fuzz_plant.h"

namespace dreamforge::sim {
namespace {

// Captures urdfdom's console_bridge errors so they can become one exception message.
class CapturingHandler : public console_bridge::OutputHandler {
 public:
  void log(const std::string& text, console_bridge::LogLevel level, const char*, int) override {
    if (level >= console_bridge::CONSOLE_BRIDGE_LOG_ERROR && first_error.empty()) first_error = text;
  }
  std::string first_error;
};

Eigen::Isometry3d ToIsometry(const urdf::Pose& p) {
  Eigen::Isometry3d t = Eigen::Isometry3d::Identity();
  Eigen::Quaterniond q(p.rotation.w, p.rotation.x, p.rotation.y, p.rotation.z);
  t.linear() = q.normalized().toRotationMatrix();
  t.translation() = Eigen::Vector3d(p.position.x, p.position.y, p.position.z);
  return t;
}

[[noreturn]] void Fail(const std::string& source, const std::string& what) {
  // urdfdom's messages quote the file (names, attribute values): keep them one line.
  throw SimError(source + ": " + OneLine(what));
}


struct CapsuleKey {
  std::string link;
  int index;
  bool operator<(const CapsuleKey& o) const {
    return link != o.link ? link < o.link : index < o.index;
  }
};

// urdfdom links a joint's parent and child links by shared_ptrs both ways, so joints that
// form a cycle (a link that is its own parent, or its own ancestor) make a model it never
// frees, whether it then accepts it or not: refuse them before urdfdom sees them.
void CheckNoJointCycle(const TiXmlElement& robot, const std::string& source) {
  using Children = std::multimap<std::string, std::pair<std::string, std::string>>;
  Children children;  // parent link -> (child link, joint)
  for (const TiXmlElement* joint = robot.FirstChildElement("joint"); joint;
       joint = joint->NextSiblingElement("joint")) {
    const TiXmlElement* parent = joint->FirstChildElement("parent");
    const TiXmlElement* child = joint->FirstChildElement("child");
    const char* p = parent ? parent->Attribute("link") : nullptr;
    const char* c = child ? child->Attribute("link") : nullptr;
    const char* name = joint->Attribute("name");
    if (p && c) children.emplace(p, std::make_pair(std::string(c), std::string(name ? name : "?")));
  }
  // Depth-first from every link; a link met again on the current path closes a cycle.
  std::map<std::string, int> state;  // 1: on the path, 2: done
  for (const auto& [start, unused] : children) {
    if (state[start]) continue;
    std::vector<std::pair<std::string, Children::const_iterator>> path;  // link, next edge
    state[start] = 1;
    path.push_back({start, children.lower_bound(start)});
    while (!path.empty()) {
      auto& [link, it] = path.back();
      if (it == children.end() || it->first != link) {
        state[link] = 2;
        path.pop_back();
        continue;
      }
      const auto& [child, joint] = (it++)->second;
      if (state[child] == 1) {
        Fail(source, "joint '" + joint + "' makes a cycle: link '" + child + "' is its own ancestor");
      }
      if (state[child] == 0) {
        state[child] = 1;
        path.push_back({child, children.lower_bound(child)});
      }
    }
  }
}

// urdfdom knows no <capsule>; rewrite each one as a <cylinder> of the same size for the
// parser and remember which collision elements were capsules.
std::string RewriteCapsules(const std::string& xml, const std::string& source,
                            std::map<CapsuleKey, bool>* capsules) {
  TiXmlDocument doc;
  doc.Parse(xml.c_str());
  if (doc.Error()) {
    std::ostringstream msg;
    msg << "XML error at line " << doc.ErrorRow() << ": " << doc.ErrorDesc();
    Fail(source, msg.str());
  }
  TiXmlElement* robot = doc.FirstChildElement("robot");
  if (!robot) Fail(source, "no <robot> element");
  for (TiXmlElement* link = robot->FirstChildElement("link"); link;
       link = link->NextSiblingElement("link")) {
    const char* name = link->Attribute("name");
    int index = 0;
    for (TiXmlElement* col = link->FirstChildElement("collision"); col;
         col = col->NextSiblingElement("collision"), ++index) {
      TiXmlElement* geom = col->FirstChildElement("geometry");
      TiXmlElement* cap = geom ? geom->FirstChildElement("capsule") : nullptr;
      if (!cap) continue;
      double r = 0, l = 0;
      if (cap->QueryDoubleAttribute("radius", &r) != TIXML_SUCCESS ||
          cap->QueryDoubleAttribute("length", &l) != TIXML_SUCCESS) {
        Fail(source, std::string("link '") + (name ? name : "?") +
                         "': <capsule> needs numeric radius and length");
      }
      cap->SetValue("cylinder");
      (*capsules)[{name ? name : "", index}] = true;
    }
  }
  CheckNoJointCycle(*robot, source);
  TiXmlPrinter printer;
  doc.Accept(&printer);
  return printer.CStr();
}

CollisionShape ConvertShape(const urdf::Collision& col, bool capsule, const std::string& where) {
  CollisionShape s;
  s.origin = ToIsometry(col.origin);
  if (!col.geometry) Fail(where, "collision without geometry");
  switch (col.geometry->type) {
    case urdf::Geometry::BOX: {
      auto* b = static_cast<const urdf::Box*>(col.geometry.get());
      s.kind = CollisionShape::Kind::kBox;
      s.size = Eigen::Vector3d(b->dim.x, b->dim.y, b->dim.z);
      break;
    }
    case urdf::Geometry::CYLINDER: {
      auto* c = static_cast<const urdf::Cylinder*>(col.geometry.get());
      s.kind = capsule ? CollisionShape::Kind::kCapsule : CollisionShape::Kind::kCylinder;
      s.size = Eigen::Vector3d(c->radius, c->length, 0.0);
      break;
    }
    case urdf::Geometry::SPHERE: {
      auto* c = static_cast<const urdf::Sphere*>(col.geometry.get());
      s.kind = CollisionShape::Kind::kSphere;
      s.size = Eigen::Vector3d(c->radius, 0.0, 0.0);
      break;
    }
    default:
      Fail(where, "mesh collision geometry is not supported (use box, cylinder, sphere or capsule)");
  }
  if (!(s.size.array() >= 0.0).all() || s.size.maxCoeff() <= 0.0 || !s.size.allFinite()) {
    Fail(where, "collision geometry must have positive dimensions");
  }
  return s;
}

void ConvertLink(const urdf::Link& in, const std::map<CapsuleKey, bool>& capsules,
                 const std::string& source, LinkDesc* out) {
  const std::string where = source + ": link '" + in.name + "'";
  out->name = in.name;
  if (!in.inertial) Fail(where, "missing <inertial> (every link needs a positive mass)");
  out->mass = in.inertial->mass;
  if (!(out->mass > 0.0) || !std::isfinite(out->mass)) {
    std::ostringstream m;
    m << "mass must be positive, got " << out->mass;
    Fail(where, m.str());
  }
  Eigen::Matrix3d inertia;
  inertia << in.inertial->ixx, in.inertial->ixy, in.inertial->ixz,  //
      in.inertial->ixy, in.inertial->iyy, in.inertial->iyz,          //
      in.inertial->ixz, in.inertial->iyz, in.inertial->izz;
  Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> eig(inertia);
  if (!inertia.allFinite() || eig.eigenvalues().minCoeff() <= 0.0) {
    Fail(where, "inertia must be positive definite");
  }
  Eigen::Matrix3d axes = eig.eigenvectors();
  if (axes.determinant() < 0) axes.col(2) = -axes.col(2);
  // Keep the URDF's own frame when it is already principal (the common case), so that
  // Bullet's link frames stay easy to read.
  const bool diagonal = inertia.isDiagonal(1e-15);
  out->inertial = ToIsometry(in.inertial->origin);
  if (diagonal) {
    out->inertia_diagonal = inertia.diagonal();
  } else {
    out->inertia_diagonal = eig.eigenvalues();
    out->inertial.linear() = out->inertial.linear() * axes;
  }
  for (size_t i = 0; i < in.collision_array.size(); ++i) {
    const bool capsule = capsules.count({in.name, static_cast<int>(i)}) > 0;
    out->collisions.push_back(ConvertShape(*in.collision_array[i], capsule, where));
  }
}

void ConvertJoint(const urdf::Joint& in, const std::string& source, JointDesc* out) {
  const std::string where = source + ": joint '" + in.name + "'";
  out->name = in.name;
  out->origin = ToIsometry(in.parent_to_joint_origin_transform);
  out->axis = Eigen::Vector3d(in.axis.x, in.axis.y, in.axis.z);
  switch (in.type) {
    case urdf::Joint::REVOLUTE: out->type = robot::JointType::kRevolute; break;
    case urdf::Joint::CONTINUOUS: out->type = robot::JointType::kRevolute; break;
    case urdf::Joint::PRISMATIC: out->type = robot::JointType::kPrismatic; break;
    case urdf::Joint::FIXED: out->type = robot::JointType::kFixed; break;
    case urdf::Joint::FLOATING: Fail(where, "type 'floating' is not supported");
    case urdf::Joint::PLANAR: Fail(where, "type 'planar' is not supported");
    default: Fail(where, "unknown joint type");
  }
  if (out->type != robot::JointType::kFixed) {
    if (out->axis.norm() < 1e-9) Fail(where, "<axis> must be non-zero");
    out->axis.normalize();
  }
  if (in.type == urdf::Joint::CONTINUOUS) {
    out->lower = -1e9;
    out->upper = 1e9;
  } else if (in.limits) {
    out->lower = in.limits->lower;
    out->upper = in.limits->upper;
    if (out->lower > out->upper) Fail(where, "<limit> lower is greater than upper");
  }
  if (in.limits) {
    out->velocity = in.limits->velocity;
    out->effort = in.limits->effort;
  }
  if (in.dynamics) {
    out->damping = in.dynamics->damping;
    out->friction = in.dynamics->friction;
  }
}

std::mutex& ConsoleMutex() {
  static std::mutex m;
  return m;
}

}  // namespace

int RobotDesc::LinkIndex(const std::string& n) const {
  for (size_t i = 0; i < links.size(); ++i)
    if (links[i].name == n) return static_cast<int>(i);
  return -1;
}

int RobotDesc::JointIndex(const std::string& n) const {
  for (size_t i = 0; i < joints.size(); ++i)
    if (joints[i].name == n) return static_cast<int>(i);
  return -1;
}

robot::KinematicChain RobotDesc::ChainTo(const std::string& tip_link,
                                         const Eigen::Isometry3d& tool) const {
  int link = LinkIndex(tip_link);
  if (link < 0) throw SimError(source + ": no link named '" + tip_link + "'");
  std::vector<int> path;  // joint indices, tip first
  while (link > 0) {
    path.push_back(link - 1);
    link = joints[link - 1].parent;
  }
  robot::KinematicChain chain;
  chain.base_link = links[0].name;
  for (auto it = path.rbegin(); it != path.rend(); ++it) {
    const JointDesc& j = joints[*it];
    robot::JointSpec spec;
    spec.name = j.name;
    spec.type = j.type;
    spec.origin = j.origin;
    spec.axis = j.axis;
    spec.lower = j.lower;
    spec.upper = j.upper;
    spec.velocity = j.velocity;
    spec.effort = j.effort;
    spec.child_link = links[j.child].name;
    chain.joints.push_back(spec);
  }
  chain.tool = tool;
  return chain;
}

RobotDesc ParseUrdf(const std::string& xml, const std::string& source) {
  std::map<CapsuleKey, bool> capsules;
  const std::string rewritten = RewriteCapsules(xml, source, &capsules);

  urdf::ModelInterfaceSharedPtr model;
  std::string parse_error;
  {
    // console_bridge's handler is process-wide: hold it only for the parse.
    std::lock_guard<std::mutex> lock(ConsoleMutex());
    CapturingHandler handler;
    console_bridge::useOutputHandler(&handler);
    try {
      model = urdf::parseURDF(rewritten);
    } catch (const std::exception& e) {
      handler.first_error = e.what();
      model.reset();
    }
    console_bridge::restorePreviousOutputHandler();
    parse_error = handler.first_error;
  }
  // urdfdom logs some errors (e.g. a bad <collision>) and carries on: treat them as fatal.
  if (!model || !parse_error.empty()) {
    Fail(source, parse_error.empty() ? "not a valid URDF" : parse_error);
  }
  if (!model->getRoot()) Fail(source, "no root link");

  RobotDesc desc;
  desc.name = model->getName();
  desc.source = source;
  // Depth-first over the tree; each joint gets the index of its child link minus one.
  struct Item {
    urdf::LinkConstSharedPtr link;
    int parent;
    urdf::JointConstSharedPtr joint;
  };
  std::vector<Item> stack{{model->getRoot(), -1, nullptr}};
  while (!stack.empty()) {
    Item item = stack.back();
    stack.pop_back();
    const int index = static_cast<int>(desc.links.size());
    desc.links.emplace_back();
    ConvertLink(*item.link, capsules, source, &desc.links.back());
    if (item.joint) {
      // Planted: a limited joint with no travel (lower == upper), as if divided by upper - lower.
      DF_FUZZ_PLANT_IF((item.joint->type == urdf::Joint::PRISMATIC ||
                        item.joint->type == urdf::Joint::REVOLUTE) &&
                       item.joint->limits &&
                       item.joint->limits->lower == item.joint->limits->upper);
      desc.joints.emplace_back();
      ConvertJoint(*item.joint, source, &desc.joints.back());
      desc.joints.back().parent = item.parent;
      desc.joints.back().child = index;
    }
    // Children in urdfdom's order (its joint map is sorted by name); reversed on the stack
    // so the first is visited first.
    const auto& children = item.link->child_joints;
    for (auto it = children.rbegin(); it != children.rend(); ++it) {
      stack.push_back({model->getLink((*it)->child_link_name), index, *it});
    }
  }
  return desc;
}

RobotDesc LoadUrdf(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SimError(path.string() + ": cannot open URDF file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseUrdf(ss.str(), path.string());
}

}  // namespace dreamforge::sim
