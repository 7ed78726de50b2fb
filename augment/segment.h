// Demo segmentation and the object-centric transform (MimicGen): each subtask's
// end-effector poses are expressed in the frame of the object it acts on, so they can be
// replayed around that object wherever a perturbed scene puts it.
#pragma once

#include <Eigen/Geometry>
#include <stdexcept>
#include <string>
#include <vector>

#include "augment/augment_error.h"
#include "datasets/episode.h"

namespace dreamforge::augment {

struct SegmentSpec {
  std::string signal;  // datagen_info/subtask_term_signals/<signal> ends the segment
  std::string frame;   // datagen_info/object_poses/<frame> is the frame it acts in
  // > 0: the segment runs on past the signal until its frame object has risen this far (m)
  // above its height at the signal. A grasp segment then ends with the object in the air,
  // so the bridge to the next segment carries it rather than dragging it over the table
  // (MimicGen shifts its grasp boundaries past the grasp for the same reason).
  double end_lift = 0.0;
};

struct Segment {
  int begin = 0;  // first step (inclusive)
  int end = 0;    // last step + 1
  std::string frame;
  Eigen::Isometry3d frame_pose = Eigen::Isometry3d::Identity();  // frame at `begin`, world
  std::vector<Eigen::Isometry3d> eef_in_frame;  // (end - begin) poses, in frame_pose
  std::vector<float> gripper;                   // (end - begin) gripper commands
  // Segments that start with the grasped object in hand: where the demo held it, the
  // object's position minus the end effector's at `begin`, in frame_pose's axes.
  bool holds_object = false;
  Eigen::Vector3d held_offset = Eigen::Vector3d::Zero();
};

// Splits a demo at the first step where each signal becomes 1 (that step closes the
// segment); the last segment runs to the end of the demo and uses the last spec's frame.
// Throws AugmentError naming the missing signal or frame, or signals out of order.
// With planar_frames, each frame is reduced to its position and yaw (z along gravity), so
// a slightly tilted object does not tilt the replayed motion.
std::vector<Segment> SegmentDemo(const datasets::Episode& demo, const std::vector<SegmentSpec>& specs,
                                 bool planar_frames = false);

// Position and yaw of a pose (z axis = world z).
Eigen::Isometry3d Planarize(const Eigen::Isometry3d& pose);

// The segment's end-effector poses (world frame) around a frame placed at `new_frame`.
std::vector<Eigen::Isometry3d> TransformSegment(const Segment& segment,
                                                const Eigen::Isometry3d& new_frame);

// Row t of a (N x 16) row-major pose matrix as an isometry.
Eigen::Isometry3d PoseRow(const datasets::MatrixRXd& poses, int t);

}  // namespace dreamforge::augment
