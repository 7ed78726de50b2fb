#include "augment/segment.h"

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "datasets/episode_store.h"

namespace dreamforge::augment {
namespace {

using ::testing::HasSubstr;

void SetRow(datasets::MatrixRXd* m, int t, const Eigen::Isometry3d& p) {
  Eigen::Map<Eigen::Matrix<double, 4, 4, Eigen::RowMajor>>(m->row(t).data()) = p.matrix();
}

Eigen::Isometry3d Planar(double x, double y, double yaw) {
  Eigen::Isometry3d p = Eigen::Isometry3d::Identity();
  p.linear() = Eigen::AngleAxisd(yaw, Eigen::Vector3d::UnitZ()).toRotationMatrix();
  p.translation() = Eigen::Vector3d(x, y, 0);
  return p;
}

// 10 steps: grasp closes at step 3, place opens at step 7.
datasets::Episode Demo() {
  datasets::Episode ep;
  const int n = 10;
  ep.actions = datasets::MatrixRXf::Zero(n, 7);
  ep.eef_pose.resize(n, 16);
  ep.object_poses["bottle"].resize(n, 16);
  ep.object_poses["target"].resize(n, 16);
  for (int t = 0; t < n; ++t) {
    Eigen::Isometry3d eef = Planar(0.3 + 0.02 * t, -0.1 + 0.03 * t, 0.1 * t);
    eef.translation().z() = 0.2 - 0.01 * t;
    SetRow(&ep.eef_pose, t, eef);
    SetRow(&ep.object_poses["bottle"], t, Planar(0.5, -0.15, 0.3));
    SetRow(&ep.object_poses["target"], t, Planar(0.5, 0.15, -0.2));
    ep.actions(t, 6) = (t >= 3 && t < 7) ? 1.0f : -1.0f;
  }
  ep.subtask_term_signals["grasp"] = {0, 0, 0, 1, 1, 1, 1, 1, 1, 1};
  ep.subtask_term_signals["place"] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1};
  return ep;
}

const std::vector<SegmentSpec> kSpecs = {{"grasp", "bottle"}, {"place", "target"}, {"", "target"}};

TEST(SegmentTest, SplitsAtTheSignalsAndCoversEveryStep) {
  const auto segs = SegmentDemo(Demo(), kSpecs);
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0].begin, 0);
  EXPECT_EQ(segs[0].end, 4);
  EXPECT_EQ(segs[1].begin, 4);
  EXPECT_EQ(segs[1].end, 8);
  EXPECT_EQ(segs[2].begin, 8);
  EXPECT_EQ(segs[2].end, 10);
  EXPECT_EQ(segs[0].frame, "bottle");
  EXPECT_EQ(segs[2].gripper.size(), 2u);
  EXPECT_FLOAT_EQ(segs[0].gripper[3], 1.0f);
}

TEST(SegmentTest, TransformIntoTheOriginalFrameGivesBackTheDemo) {
  const datasets::Episode demo = Demo();
  for (const Segment& s : SegmentDemo(demo, kSpecs)) {
    const auto poses = TransformSegment(s, s.frame_pose);
    for (int t = s.begin; t < s.end; ++t) {
      EXPECT_LT((poses[t - s.begin].matrix() - PoseRow(demo.eef_pose, t).matrix()).norm(), 1e-12);
    }
  }
}

TEST(SegmentTest, MovingTheObjectMovesTheSegmentRigidly) {
  const datasets::Episode demo = Demo();
  const Segment s = SegmentDemo(demo, kSpecs)[0];
  const Eigen::Isometry3d moved = Planar(0.45, -0.05, 0.9);
  const auto poses = TransformSegment(s, moved);
  const Eigen::Isometry3d delta = moved * s.frame_pose.inverse();
  for (int t = s.begin; t < s.end; ++t) {
    const Eigen::Isometry3d expected = delta * PoseRow(demo.eef_pose, t);
    EXPECT_LT((poses[t].matrix() - expected.matrix()).norm(), 1e-12);
    // The pose relative to the object is unchanged.
    EXPECT_LT(((moved.inverse() * poses[t]).matrix() - s.eef_in_frame[t].matrix()).norm(), 1e-12);
  }
  // And it really moved.
  EXPECT_GT((poses[0].translation() - PoseRow(demo.eef_pose, 0).translation()).norm(), 0.03);
}

TEST(SegmentTest, MissingOrDisorderedSignalsAreNamed) {
  datasets::Episode demo = Demo();
  demo.subtask_term_signals.erase("place");
  try {
    SegmentDemo(demo, kSpecs);
    FAIL();
  } catch (const AugmentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("subtask_term_signals/place: missing"));
  }
  demo = Demo();
  demo.subtask_term_signals["place"] = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  EXPECT_THROW(SegmentDemo(demo, kSpecs), AugmentError);
  demo = Demo();
  demo.object_poses.erase("target");
  try {
    SegmentDemo(demo, kSpecs);
    FAIL();
  } catch (const AugmentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("object_poses/target: missing"));
  }
}

TEST(SegmentTest, EndLiftRunsTheSegmentOnUntilTheObjectIsUp) {
  datasets::Episode demo = Demo();
  // The bottle leaves the table at step 5 and rises 2 cm a step.
  for (int t = 0; t < demo.num_samples(); ++t) {
    Eigen::Isometry3d b = Planar(0.5, -0.15, 0.3);
    b.translation().z() = 0.08 + 0.02 * std::max(0, t - 4);
    SetRow(&demo.object_poses["bottle"], t, b);
  }
  std::vector<SegmentSpec> specs = kSpecs;
  specs[0].end_lift = 0.03;
  const auto segs = SegmentDemo(demo, specs);
  ASSERT_EQ(segs.size(), 3u);
  // Signal at step 3; 3 cm above the step-3 height first at step 6 (4 cm).
  EXPECT_EQ(segs[0].end, 7);
  EXPECT_EQ(segs[1].begin, 7);
  EXPECT_EQ(segs[1].end, 8);
  EXPECT_EQ(segs[0].eef_in_frame.size(), 7u);

  specs[0].end_lift = 1.0;  // never that high
  try {
    SegmentDemo(demo, specs);
    FAIL();
  } catch (const AugmentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("object_poses/bottle: never rises"));
  }
}

TEST(SegmentTest, ShippedDemoSegmentsAroundItsObjects) {
  datasets::EpisodeReader reader(std::string(DF_SOURCE_DIR) + "/datasets/demos/bottle_place.hdf5");
  const datasets::Episode demo = reader.ReadEpisode(0);
  const auto segs =
      SegmentDemo(demo, {{"grasp", "bottle"}, {"place", "target"}, {"", "target"}});
  ASSERT_EQ(segs.size(), 3u);
  // At the end of the grasp segment the tool is around the bottle: within 6 cm of its centre.
  EXPECT_LT(segs[0].eef_in_frame.back().translation().head<2>().norm(), 0.01);
  EXPECT_LT(std::abs(segs[0].eef_in_frame.back().translation().z()), 0.06);
  // At the end of placing, the tool is above the target zone.
  EXPECT_LT(segs[1].eef_in_frame.back().translation().head<2>().norm(), 0.02);
}

}  // namespace
}  // namespace dreamforge::augment
