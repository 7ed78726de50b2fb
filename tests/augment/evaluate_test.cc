#include "augment/evaluate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "datasets/episode_store.h"
#include "sim/script.h"

namespace dreamforge::augment {
namespace {

std::shared_ptr<const sim::SceneModel> Model(const std::string& task) {
  return std::make_shared<const sim::SceneModel>(task, sim::SceneModel::DefaultUrdf());
}

class Idle : public sim::Controller {
 public:
  sim::Action Act(const sim::World&, const sim::Observation&) override {
    sim::Action a = sim::Action::Zero();
    a[6] = -1;
    return a;
  }
};

TEST(WilsonIntervalTest, KnownValues) {
  Interval i = WilsonInterval(0, 10);
  EXPECT_DOUBLE_EQ(i.low, 0.0);
  EXPECT_NEAR(i.high, 0.2775, 1e-4);
  i = WilsonInterval(10, 10);
  EXPECT_NEAR(i.low, 0.7225, 1e-4);
  EXPECT_DOUBLE_EQ(i.high, 1.0);
  i = WilsonInterval(50, 100);
  EXPECT_NEAR(i.low, 0.4038, 1e-4);
  EXPECT_NEAR(i.high, 0.5962, 1e-4);
  i = WilsonInterval(180, 200);
  EXPECT_NEAR(i.low, 0.8506, 1e-4);
  EXPECT_NEAR(i.high, 0.9343, 1e-4);
}

TEST(EvaluateTest, ADoNothingControllerNeverSucceeds) {
  auto model = Model("bottle_place");
  const EvalResult r = Evaluate(model, LoadSpec(DefaultSpecPath("bottle_place")), 5, 4, 2,
                                [] { return std::make_unique<Idle>(); });
  EXPECT_EQ(r.episodes, 4);
  EXPECT_EQ(r.successes, 0);
  EXPECT_EQ(r.failures.at("grasp_failed"), 4);
  EXPECT_EQ(r.ToJson()["success_rate"], 0.0);
}

TEST(EvaluateTest, TheScriptedExpertAlmostAlwaysSucceeds) {
  auto model = Model("bottle_place");
  const sim::WaypointScript script =
      sim::LoadScript(std::string(DF_SOURCE_DIR) + "/datasets/demos/bottle_place.script.yaml");
  const EvalResult r = Evaluate(model, LoadSpec(DefaultSpecPath("bottle_place")), 5, 10, 2,
                                [&] { return std::make_unique<sim::ScriptController>(script); });
  EXPECT_GE(r.successes, 9) << r.ToJson().dump();
}

TEST(EvaluateTest, ResultsDoNotDependOnTheWorkerCount) {
  auto model = Model("bottle_place");
  datasets::EpisodeReader demo(std::string(DF_SOURCE_DIR) + "/datasets/demos/bottle_place.hdf5");
  const datasets::MatrixRXf actions = demo.ReadEpisode(0).actions;
  const auto factory = [&] { return std::make_unique<sim::ReplayController>(actions); };
  const PerturbationSpec spec = LoadSpec(DefaultSpecPath("bottle_place"));
  EvalResult one = Evaluate(model, spec, 9, 6, 1, factory);
  EvalResult two = Evaluate(model, spec, 9, 6, 2, factory);
  one.wall_seconds = two.wall_seconds = 0;
  EXPECT_EQ(one.ToJson(), two.ToJson());
  // Open-loop replay of one demo rarely survives perturbed physics.
  EXPECT_LT(one.successes, 6);
}

// An episode of n steps whose object and target poses are pure translations.
datasets::Episode Poses(const std::vector<Eigen::Vector3d>& object, const Eigen::Vector3d& target,
                        int close_at) {
  datasets::Episode ep;
  const int n = static_cast<int>(object.size());
  ep.actions = datasets::MatrixRXf::Constant(n, 7, 0.0f);
  for (int t = 0; t < n; ++t) ep.actions(t, 6) = t >= close_at ? 1.0f : -1.0f;
  auto rows = [&](auto&& at) {
    datasets::MatrixRXd m = datasets::MatrixRXd::Zero(n, 16);
    for (int t = 0; t < n; ++t) {
      Eigen::Matrix4d p = Eigen::Matrix4d::Identity();
      p.block<3, 1>(0, 3) = at(t);
      Eigen::Map<Eigen::Matrix<double, 4, 4, Eigen::RowMajor>>(m.row(t).data()) = p;
    }
    return m;
  };
  ep.object_poses["bottle"] = rows([&](int t) { return object[t]; });
  ep.object_poses["target"] = rows([&](int) { return target; });
  return ep;
}

TEST(MeasureGraspAndPlaceTest, SlideWhileClosingAndDistanceFromTheTarget) {
  // Closed at step 1; dragged 3 mm then 4 mm sideways; 1 cm up first at step 4.
  const std::vector<Eigen::Vector3d> path = {{0, 0, 0.10},          {0, 0, 0.10},
                                             {0.003, 0, 0.10},      {0.003, 0.004, 0.105},
                                             {0.003, 0.004, 0.111}, {0.5, 0.2, 0.10}};
  const GraspPlaceMeasure m = MeasureGraspAndPlace(Poses(path, {0.5, 0.23, 0.0}, 1), "bottle");
  EXPECT_NEAR(m.slide, 0.005, 1e-12);
  EXPECT_NEAR(m.place_error, 0.03, 1e-12);
  // Never lifted 1 cm: no slide; never closed: no slide either.
  const Eigen::Vector3d origin = Eigen::Vector3d::Zero();
  const std::vector<Eigen::Vector3d> low(path.begin(), path.begin() + 4);
  EXPECT_TRUE(std::isnan(MeasureGraspAndPlace(Poses(low, origin, 1), "bottle").slide));
  EXPECT_TRUE(std::isnan(MeasureGraspAndPlace(Poses(path, origin, 6), "bottle").slide));
  // An object the episode does not have: nothing measured.
  EXPECT_TRUE(std::isnan(MeasureGraspAndPlace(Poses(path, origin, 1), "cube_a").place_error));
}

}  // namespace
}  // namespace dreamforge::augment
