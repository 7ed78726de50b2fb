#include "augment/segment.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dreamforge::augment {

Eigen::Isometry3d PoseRow(const datasets::MatrixRXd& poses, int t) {
  Eigen::Isometry3d p;
  p.matrix() = Eigen::Map<const Eigen::Matrix<double, 4, 4, Eigen::RowMajor>>(poses.row(t).data());
  return p;
}

Eigen::Isometry3d Planarize(const Eigen::Isometry3d& pose) {
  const double yaw = std::atan2(pose.linear()(1, 0), pose.linear()(0, 0));
  Eigen::Isometry3d p = Eigen::Isometry3d::Identity();
  p.linear() = Eigen::AngleAxisd(yaw, Eigen::Vector3d::UnitZ()).toRotationMatrix();
  p.translation() = pose.translation();
  return p;
}

namespace {

// datagen_info/object_poses/<frame>, one pose per step; throws AugmentError naming it.
const datasets::MatrixRXd& FramePoses(const datasets::Episode& demo, const std::string& frame) {
  const auto it = demo.object_poses.find(frame);
  if (it == demo.object_poses.end() || it->second.rows() != demo.num_samples()) {
    throw AugmentError("datagen_info/object_poses/" + frame + ": missing");
  }
  return it->second;
}

}  // namespace

std::vector<Segment> SegmentDemo(const datasets::Episode& demo,
                                 const std::vector<SegmentSpec>& specs, bool planar_frames) {
  const int n = demo.num_samples();
  if (specs.empty()) throw AugmentError("segmenting a demo needs at least one subtask");
  if (n == 0) throw AugmentError("the demo has no samples");
  if (demo.eef_pose.rows() != n) throw AugmentError("datagen_info/eef_pose: expected one pose per step");
  // End step (exclusive) of every segment but the last, from the signals.
  std::vector<int> ends;
  for (size_t k = 0; k + 1 < specs.size(); ++k) {
    auto it = demo.subtask_term_signals.find(specs[k].signal);
    if (it == demo.subtask_term_signals.end()) {
      throw AugmentError("datagen_info/subtask_term_signals/" + specs[k].signal + ": missing");
    }
    const auto first = std::find(it->second.begin(), it->second.end(), 1);
    if (first == it->second.end()) {
      throw AugmentError("datagen_info/subtask_term_signals/" + specs[k].signal + ": never becomes 1");
    }
    int end = static_cast<int>(first - it->second.begin()) + 1;
    if (specs[k].end_lift > 0.0) {
      const datasets::MatrixRXd& poses = FramePoses(demo, specs[k].frame);
      const double z0 = PoseRow(poses, end - 1).translation().z();
      while (end < n && PoseRow(poses, end - 1).translation().z() < z0 + specs[k].end_lift) ++end;
      if (end >= n) {
        char lift[32];
        std::snprintf(lift, sizeof lift, "%g", specs[k].end_lift);
        throw AugmentError("datagen_info/object_poses/" + specs[k].frame + ": never rises " + lift +
                           " m after " + specs[k].signal + " (before the last step)");
      }
    }
    if (!ends.empty() && end <= ends.back()) {
      throw AugmentError("datagen_info/subtask_term_signals/" + specs[k].signal +
                         ": ends before the previous subtask");
    }
    ends.push_back(end);
  }
  ends.push_back(n);
  if (ends.size() > 1 && ends[ends.size() - 2] >= n) {
    throw AugmentError("the last subtask is empty (its signal ends at the last step)");
  }

  std::vector<Segment> segments;
  int begin = 0;
  for (size_t k = 0; k < specs.size(); ++k) {
    const datasets::MatrixRXd& frame = FramePoses(demo, specs[k].frame);
    Segment s;
    s.begin = begin;
    s.end = ends[k];
    s.frame = specs[k].frame;
    s.frame_pose = PoseRow(frame, begin);
    if (planar_frames) s.frame_pose = Planarize(s.frame_pose);
    const Eigen::Isometry3d inv = s.frame_pose.inverse();
    for (int t = s.begin; t < s.end; ++t) {
      s.eef_in_frame.push_back(inv * PoseRow(demo.eef_pose, t));
      s.gripper.push_back(demo.actions(t, 6));
    }
    segments.push_back(std::move(s));
    begin = ends[k];
  }
  return segments;
}

std::vector<Eigen::Isometry3d> TransformSegment(const Segment& segment,
                                                const Eigen::Isometry3d& new_frame) {
  std::vector<Eigen::Isometry3d> out;
  out.reserve(segment.eef_in_frame.size());
  for (const Eigen::Isometry3d& p : segment.eef_in_frame) out.push_back(new_frame * p);
  return out;
}

}  // namespace dreamforge::augment
