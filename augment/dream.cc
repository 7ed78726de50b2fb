#include "augment/dream.h"

#include <chrono>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "datasets/episode_store.h"
#include "robot/geometry.h"

namespace dreamforge::augment {
namespace {

constexpr double kBridgeSpeed = 0.25;          // m/s
constexpr double kBridgeRotationSpeed = 1.0;   // rad/s
// The grasp segment ends once the demo has lifted the object this far (see SegmentSpec).
constexpr double kGraspLift = 0.05;            // m
// The largest in-hand offset correction (see SegmentController); a bigger difference means
// the object is not held as in the demo, and the dream fails on its own.
constexpr double kMaxHeldCorrection = 0.05;    // m

double YawOf(const Eigen::Isometry3d& p) { return std::atan2(p.linear()(1, 0), p.linear()(0, 0)); }

// The new frame's yaw, moved by a multiple of the symmetry angle to lie as close as possible
// to the demo frame's yaw (symmetry 0: any yaw looks the same, keep the demo's).
double FoldYaw(double yaw_now, double yaw_demo, double symmetry) {
  if (symmetry <= 0.0) return yaw_demo;
  return yaw_now - symmetry * std::round((yaw_now - yaw_demo) / symmetry);
}

}  // namespace

std::string HashFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw AugmentError(path + ": cannot open");
  uint64_t h = 1469598103934665603ULL;
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    for (std::streamsize k = 0; k < in.gcount(); ++k) {
      h ^= static_cast<unsigned char>(buf[k]);
      h *= 1099511628211ULL;
    }
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

DreamSource PrepareSource(std::shared_ptr<const sim::SceneModel> model, const std::string& demo_path,
                          PerturbationSpec spec, uint64_t seed) {
  datasets::EpisodeReader reader(demo_path);
  const sim::Task& task = model->task();
  const std::string env = reader.env_args().value("env_name", "");
  if (env != task.name()) {
    throw AugmentError(demo_path + ": /data env_args.env_name: the demo is of task '" + env +
                       "', not '" + task.name() + "'");
  }
  if (reader.num_episodes() < 1) throw AugmentError(demo_path + ": /data: no demo in the file");
  const datasets::Episode demo = reader.ReadEpisode(0);
  if (!demo.success) throw AugmentError(demo_path + ": /data/demo_0: the demo did not succeed");
  std::vector<SegmentSpec> specs;
  const auto signals = task.subtask_signals();
  const auto frames = task.subtask_frames();
  auto frame_key = [&](const std::string& f) { return f == "object" ? task.objects()[0].name : f; };
  for (size_t k = 0; k < signals.size(); ++k) specs.push_back({signals[k], frame_key(frames[k])});
  specs.front().end_lift = kGraspLift;  // the first subtask picks the object up
  specs.push_back({"", frame_key(frames.back())});  // the rest of the demo (release, retract)
  DreamSource source;
  try {
    source.segments = SegmentDemo(demo, specs, /*planar_frames=*/true);
  } catch (const AugmentError& e) {
    throw AugmentError(demo_path + ": /data/demo_0/" + e.what());
  }
  // Where the demo held the grasped object (the first segment's frame) when each later
  // segment that starts with the gripper closed began.
  const datasets::MatrixRXd& held = demo.object_poses.at(source.segments.front().frame);
  for (size_t k = 1; k < source.segments.size(); ++k) {
    Segment& seg = source.segments[k];
    if (seg.gripper.empty() || seg.gripper.front() <= 0.0f) continue;
    const Eigen::Vector3d offset =
        PoseRow(held, seg.begin).translation() - PoseRow(demo.eef_pose, seg.begin).translation();
    seg.holds_object = true;
    seg.held_offset = seg.frame_pose.linear().transpose() * offset;
  }
  source.model = std::move(model);
  source.spec = std::move(spec);
  source.demo_hash = HashFile(demo_path);
  source.seed = seed;
  return source;
}

int SegmentController::ObjectIndex(const sim::World& world, const std::string& name) {
  const sim::Task& task = world.model().task();
  for (int i = 0; i < world.num_objects(); ++i) {
    if (task.objects()[i].name == name) return i;
  }
  return 0;
}

Eigen::Isometry3d SegmentController::FrameNow(const sim::World& world, const Segment& seg) const {
  const sim::Task& task = world.model().task();
  Eigen::Isometry3d now;
  double symmetry = 0.0;
  if (seg.frame == "target") {
    now = task.TargetFrame(world);
    symmetry = task.target_yaw_symmetry();
  } else {
    const int object = ObjectIndex(world, seg.frame);
    now = world.ObjectPose(object);
    symmetry = task.objects()[object].YawSymmetry();
  }
  now = Planarize(now);
  const double yaw = FoldYaw(YawOf(now), YawOf(seg.frame_pose), symmetry);
  now.linear() = Eigen::AngleAxisd(yaw, Eigen::Vector3d::UnitZ()).toRotationMatrix();
  return now;
}

void SegmentController::Reset(const sim::World& world) {
  segment_ = 0;
  held_correction_.setZero();
  corrected_ = false;
  gripper_ = -1.0;
  desired_ = world.ToolPose();
  StartSegment(world);
}

void SegmentController::StartSegment(const sim::World& world) {
  step_ = 0;
  if (segment_ >= source_.segments.size()) return;
  const Segment& seg = source_.segments[segment_];
  const Eigen::Isometry3d frame = FrameNow(world, seg);
  path_ = TransformSegment(seg, frame);
  if (seg.holds_object && !corrected_) {
    // The object sits in the hand where this grasp put it, not where the demo's did: move
    // the end effector by the difference, so that the object (not the hand) follows the
    // demo's path around the frame. Measured once, when the first such segment starts (the
    // object just lifted), and kept to the end, release and retract included.
    const int object = ObjectIndex(world, source_.segments.front().frame);
    const Eigen::Vector3d now = world.ObjectPose(object).translation() - world.ToolPose().translation();
    held_correction_ = frame.linear() * seg.held_offset - now;
    if (held_correction_.norm() > kMaxHeldCorrection) {
      held_correction_ *= kMaxHeldCorrection / held_correction_.norm();
    }
    corrected_ = true;
  }
  for (Eigen::Isometry3d& p : path_) p.translation() += held_correction_;
  bridge_start_ = desired_;
  const double dist = (path_.front().translation() - desired_.translation()).norm();
  const double angle =
      robot::MatrixToAxisAngle(path_.front().linear() * desired_.linear().transpose()).norm();
  const double hz = world.model().physics().control_hz();
  bridge_steps_ = static_cast<int>(std::ceil(std::max(dist / kBridgeSpeed, angle / kBridgeRotationSpeed) * hz));
}

sim::Action SegmentController::Act(const sim::World& world, const sim::Observation& obs) {
  const Eigen::Isometry3d previous = desired_;
  if (segment_ < source_.segments.size()) {
    const Segment& seg = source_.segments[segment_];
    if (step_ < bridge_steps_) {
      const double s = static_cast<double>(step_ + 1) / bridge_steps_;
      const double u = s * s * (3.0 - 2.0 * s);
      desired_.translation() = bridge_start_.translation() +
                               u * (path_.front().translation() - bridge_start_.translation());
      desired_.linear() = Eigen::Quaterniond(bridge_start_.linear())
                              .slerp(u, Eigen::Quaterniond(path_.front().linear()))
                              .toRotationMatrix();
    } else {
      const size_t t = static_cast<size_t>(step_ - bridge_steps_);
      if (t >= path_.size()) {  // segment done: the next one starts from here
        ++segment_;
        StartSegment(world);
        return Act(world, obs);
      }
      desired_ = path_[t];
      gripper_ = seg.gripper[t];
    }
    ++step_;
  }
  return sim::TrackingAction(world, desired_, previous, gripper_);
}

const char* SegmentController::Phase() const {
  if (Finished()) return "hold";
  if (segment_ == 0) return gripper_ > 0.0 ? "grasp" : "reach";
  if (segment_ + 1 == source_.segments.size()) return "retract";
  return step_ <= bridge_steps_ ? "carry" : "place";  // step_ counts the step just commanded
}

namespace {

// Charges the physics time of each control step to the phase its command belonged to.
class PhaseTimer : public sim::Controller {
 public:
  PhaseTimer(SegmentController* inner, const sim::World& world, DreamResult* result)
      : inner_(inner), world_(world), result_(result) {}
  void Reset(const sim::World& world) override {
    inner_->Reset(world);
    phase_ = nullptr;
    lost_.clear();
    start_z_ = -1e9;
    last_ = world_.bullet().physics_seconds();
  }
  // Where a failed attempt failed: "grasp" when the object was never lifted; the phase in
  // which it left the closed hand; "release" when the hand let it go where the script
  // does but it did not end placed; otherwise (unstable, IK, placed but never settled) the
  // phase the attempt ended in.
  std::string FailurePhase(const std::string& reason) const {
    if (reason == "grasp_failed") return "grasp";
    if (!lost_.empty()) return lost_;
    if (reason == "slip_or_drop" && inner_->Finished()) return "release";
    return phase_ ? phase_ : "reach";
  }
  sim::Action Act(const sim::World& world, const sim::Observation& obs) override {
    Charge();
    // The object left the closed hand after it had been lifted: lost in this phase.
    const double z = world.ObjectPose(0).translation().z();
    if (start_z_ < -1e8) start_z_ = z;
    if (phase_ && lost_.empty() && world.gripper_command() > 0.0 && z > start_z_ + sim::kLiftHeight &&
        !world.FingersTouch(0)) {
      lost_ = phase_;
    }
    const sim::Action a = inner_->Act(world, obs);
    phase_ = inner_->Phase();
    return a;
  }
  bool Finished() const override { return inner_->Finished(); }
  // Charges the time since the last call to the current phase (call once more at the end).
  void Charge() {
    const double now = world_.bullet().physics_seconds();
    if (phase_) {
      result_->phase_seconds[phase_] += now - last_;
      ++result_->phase_steps[phase_];
    }
    last_ = now;
  }

 private:
  SegmentController* inner_;
  const sim::World& world_;
  DreamResult* result_;
  const char* phase_ = nullptr;
  double last_ = 0.0;
  std::string lost_;     // the phase in which the object left the closed hand
  double start_z_ = -1e9;  // object 0's height at the first step
};

}  // namespace

std::string FailureReason(const sim::RolloutResult& r) {
  switch (r.outcome) {
    case sim::Outcome::kUnstable: return "unstable";
    case sim::Outcome::kDropped: return "dropped";
    case sim::Outcome::kIkFailure: return "ik_failure";
    default: break;
  }
  if (r.steps > 0 && r.ik_misses > r.steps / 10) return "ik_failure";
  if (!r.lifted) return "grasp_failed";
  if (!r.final_status.placed) return "slip_or_drop";
  return "timeout";
}

GraspBudget GraspBudgetOf(const sim::SceneModel& model, const sim::SceneParams& params) {
  GraspBudget b;
  b.finger_force = model.robot().joints[model.finger_joint_indices()[0]].effort;
  b.friction = model.robot_config().finger_friction * params.friction[0];
  b.weight = model.task().objects()[0].mass * params.mass_scale[0] * std::abs(model.physics().gravity);
  return b;
}

int RolloutBudget(const DreamSource& source) {
  int demo_steps = 0;
  for (const Segment& s : source.segments) demo_steps += s.end - s.begin;
  // Room for the bridges and a slower, perturbed execution of a long (teleoperated) demo.
  return std::max(source.model->task().max_steps(), demo_steps * 3 / 2 + 100);
}

DreamResult MakeDream(const DreamSource& source, uint64_t i, int max_attempts) {
  const auto t0 = std::chrono::steady_clock::now();
  DreamResult result;
  auto finish = [&]() {
    result.total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const sim::SceneModel& model = *source.model;
  for (int j = 0; j < max_attempts; ++j) {
    const uint64_t key = DreamKey(i, static_cast<uint64_t>(j));
    const sim::SceneParams params = SampleScene(model, source.spec, source.seed, key);
    sim::World world(source.model, params);
    SegmentController segments(source);
    PhaseTimer controller(&segments, world, &result);
    sim::RolloutOptions options;
    options.max_steps = RolloutBudget(source);
    options.success_after_finish = true;  // the demo's retract is part of the dream
    options.stop_failure_at_rest = true;  // a failed attempt costs no more than it must
    sim::RolloutResult r = sim::Rollout(world, controller, options);
    controller.Charge();
    ++result.attempts;
    result.physics_steps += static_cast<double>(r.steps) * model.physics().substeps;
    result.physics_seconds += world.bullet().physics_seconds();
    if (r.outcome == sim::Outcome::kSuccess) {
      result.kept = true;
      result.episode = std::move(r.episode);
      result.episode.scene_key = key;
      result.episode.source_demo = source.demo_hash;
      nlohmann::json p = sim::ToJson(params);
      p["dream_index"] = i;
      p["attempt"] = j;
      p["run_seed"] = source.seed;
      result.episode.perturbation = p;
      finish();
      return result;
    }
    const std::string reason = GraspBudgetOf(model, params).Feasible() ? FailureReason(r) : "infeasible";
    ++result.failures[reason];
    ++result.failure_phases[controller.FailurePhase(FailureReason(r))];
  }
  finish();
  return result;
}

}  // namespace dreamforge::augment
