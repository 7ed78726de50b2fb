#include "sim/world.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "datasets/episode_store.h"
#include "robot/geometry.h"
#include "robot/kinematics.h"
#include "sim/rollout.h"
#include "sim/script.h"

namespace dreamforge::sim {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const SceneModel> Model(const std::string& task) {
  return std::make_shared<const SceneModel>(task, SceneModel::DefaultUrdf());
}

std::filesystem::path Demo(const std::string& name) {
  return std::filesystem::path(DF_SOURCE_DIR) / "datasets" / "demos" / name;
}

// A controller that does nothing (gripper open).
class Idle : public Controller {
 public:
  Action Act(const World&, const Observation&) override {
    Action a = Action::Zero();
    a[6] = -1;
    return a;
  }
};

TEST(WorldTest, UnknownTaskListsTheKnownOnes) {
  try {
    Model("juggle");
    FAIL();
  } catch (const SimError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown task 'juggle'"));
    EXPECT_THAT(e.what(), HasSubstr("bottle_place"));
    EXPECT_THAT(e.what(), HasSubstr("cube_stack"));
  }
}

TEST(WorldTest, HoldsStillWithZeroActions) {
  auto model = Model("bottle_place");
  World world(model, model->Nominal());
  const Eigen::Isometry3d start = world.ToolPose();
  Idle idle;
  RolloutOptions opt;
  opt.max_steps = 40;
  const RolloutResult r = Rollout(world, idle, opt);
  EXPECT_EQ(r.outcome, Outcome::kTimeout);
  EXPECT_FALSE(r.episode.success);
  EXPECT_LT((world.ToolPose().translation() - start.translation()).norm(), 2e-3);
  // The bottle stands where the task puts it.
  EXPECT_NEAR(world.ObjectPose(0).translation().z(), 0.08, 2e-3);
  EXPECT_LT(world.status().tilt, 1e-3);
}

// Idle, and finished from the start: the bottle stands on the table, never placed.
class IdleFinished : public Idle {
 public:
  bool Finished() const override { return true; }
};

TEST(RolloutTest, AFailureCertainAtRestEndsEarlyAsTheWholeBudgetWouldEnd) {
  auto model = Model("bottle_place");
  IdleFinished idle;
  RolloutOptions opt;
  opt.max_steps = 200;
  World whole_world(model, model->Nominal());
  const RolloutResult whole = Rollout(whole_world, idle, opt);
  opt.stop_failure_at_rest = true;
  World early_world(model, model->Nominal());
  const RolloutResult early = Rollout(early_world, idle, opt);
  EXPECT_EQ(whole.outcome, Outcome::kTimeout);
  EXPECT_EQ(whole.steps, 200);
  EXPECT_EQ(early.outcome, Outcome::kTimeout);
  EXPECT_GE(early.steps, kStillSteps);
  EXPECT_LT(early.steps, 40);
  EXPECT_EQ(early.lifted, whole.lifted);
  EXPECT_FALSE(early.final_status.placed);
  EXPECT_FALSE(whole.final_status.placed);
  // What it recorded is the whole run's beginning, bit for bit.
  ASSERT_EQ(early.episode.states.rows(), early.steps);
  EXPECT_EQ(0, std::memcmp(early.episode.states.data(), whole.episode.states.data(),
                           sizeof(double) * early.episode.states.size()));
  // A controller that is not finished is never cut short.
  Idle busy;
  World busy_world(model, model->Nominal());
  EXPECT_EQ(Rollout(busy_world, busy, opt).steps, 200);
}

TEST(WorldTest, SameActionsFromTheSameStateGiveBitwiseIdenticalTrajectories) {
  auto model = Model("bottle_place");
  ScriptController script(LoadScript(Demo("bottle_place.script.yaml")));
  World first(model, model->Nominal());
  const RolloutResult r = Rollout(first, script);
  ASSERT_EQ(r.outcome, Outcome::kSuccess);

  World second(model, model->Nominal());
  ReplayController replay(r.episode.actions);
  RolloutOptions opt;
  opt.stop_on_success = false;
  opt.stop_when_finished = true;
  const RolloutResult again = Rollout(second, replay, opt);
  ASSERT_EQ(again.episode.states.rows(), r.episode.states.rows());
  EXPECT_EQ(0, std::memcmp(again.episode.states.data(), r.episode.states.data(),
                           sizeof(double) * r.episode.states.size()));
  EXPECT_EQ(first.GetState(), second.GetState());
}

TEST(WorldTest, GraspIsHeldByFingerContactOnly) {
  auto model = Model("bottle_place");
  World world(model, model->Nominal());
  ScriptController script(LoadScript(Demo("bottle_place.script.yaml")));
  script.Reset(world);
  Observation obs = world.Observe();
  int lifted_steps = 0;
  for (int t = 0; t < model->task().max_steps() && !world.succeeded(); ++t) {
    world.Step(script.Act(world, obs));
    obs = world.Observe();
    const double bottom = world.ObjectPose(0).translation().z() - world.ObjectSize(0).y() / 2;
    if (bottom > world.TableTop() + 0.05) {
      ++lifted_steps;
      // Lifted 5 cm off the table: only the fingers can be holding it.
      EXPECT_TRUE(world.FingersTouch(0)) << "step " << t;
      EXPECT_EQ(world.bullet().dynamics().getNumConstraints(), 0) << "rigid-body constraint";
      const btRigidBody* object = world.object_body(0);
      EXPECT_EQ(object->getNumConstraintRefs(), 0);
      auto& dyn = world.bullet().dynamics();
      for (int c = 0; c < dyn.getNumMultiBodyConstraints(); ++c) {
        btMultiBodyConstraint* mc = dyn.getMultiBodyConstraint(c);
        EXPECT_EQ(mc->getMultiBodyA(), world.robot_body().body);
        EXPECT_TRUE(mc->getMultiBodyB() == nullptr || mc->getMultiBodyB() == world.robot_body().body);
      }
    }
  }
  EXPECT_GT(lifted_steps, 20);
  EXPECT_TRUE(world.succeeded());
}

TEST(WorldTest, NonFiniteActionIsHeldNotApplied) {
  auto model = Model("bottle_place");
  World world(model, model->Nominal());
  const Eigen::Isometry3d start = world.ToolPose();
  Action a = Action::Constant(std::nan(""));
  const StepInfo info = world.Step(a);
  EXPECT_FALSE(info.action_valid);
  EXPECT_TRUE(info.stable);
  EXPECT_LT((world.ToolPose().translation() - start.translation()).norm(), 1e-3);
}

// The tool is observed through the measured joints, as the edge controller sees it.
TEST(WorldTest, ObservedToolPoseIsTheKinematicsOfTheMeasuredJoints) {
  auto model = Model("bottle_place");
  SceneParams p = model->Nominal();
  p.obs_noise = 0.01;
  World world(model, p);
  robot::Kinematics kinematics(model->arm_chain());
  const Observation o = world.Observe();
  EXPECT_GT((o.joint_pos - world.ArmJoints()).cwiseAbs().maxCoeff(), 1e-4);  // noisy
  Eigen::VectorXd q = o.joint_pos;
  const Eigen::Isometry3d tool = kinematics.ToolPose(q);
  EXPECT_LT((o.eef_pos - tool.translation()).norm(), 1e-12);
  EXPECT_LT((o.object.segment<3>(7) - (o.object.segment<3>(0) - o.eef_pos)).norm(), 1e-12);
  EXPECT_GT((o.eef_pos - world.ToolPose().translation()).norm(), 1e-5);
}

// The shipped script's actions, recorded from a nominal rollout.
Eigen::MatrixXf ScriptActions(const std::shared_ptr<const SceneModel>& model) {
  ScriptController script(LoadScript(Demo("bottle_place.script.yaml")));
  World world(model, model->Nominal());
  return Rollout(world, script).episode.actions;
}

TEST(WorldTest, LatencyDelaysEachCommandByItsStepCount) {
  auto model = Model("bottle_place");
  Action a = Action::Zero();
  a[0] = 1.0;  // 5 cm along +x per step
  a[6] = -1.0;
  for (int latency : {0, 1, 2}) {
    SceneParams p = model->Nominal();
    p.latency_steps = latency;
    World world(model, p);
    const double x0 = world.ToolPose().translation().x();
    // The arm holds its start while the first command is on its way, then moves.
    for (int k = 0; k < latency; ++k) world.Step(a);
    EXPECT_NEAR(world.ToolPose().translation().x(), x0, 1e-3) << "latency " << latency;
    world.Step(a);
    EXPECT_GT(world.ToolPose().translation().x(), x0 + 5e-3) << "latency " << latency;
  }
}

// Step(a) is StepJointTargets of the action's IK solution computed at issue time, with and
// without latency: the edge controller (which solves IK itself) and the policy evaluation
// drive the same physics.
TEST(WorldTest, StepIsStepJointTargetsOfTheActionsIkSolution) {
  auto model = Model("bottle_place");
  const Eigen::MatrixXf actions = ScriptActions(model);
  ASSERT_GT(actions.rows(), 50);
  robot::Kinematics kinematics(model->arm_chain());
  const ActionScale& scale = model->action_scale();
  for (int latency : {0, 1, 2}) {
    SceneParams p = model->Nominal();
    p.latency_steps = latency;
    World by_action(model, p), by_joints(model, p);
    Eigen::VectorXd q_seed(7), q_ik(7);
    for (int t = 0; t < actions.rows(); ++t) {
      const Action a = actions.row(t).transpose().cast<double>();
      if (a.head<6>().squaredNorm() == 0) continue;  // a zero motion holds; not compared here
      by_action.Step(a);
      q_seed = by_joints.ArmJoints();
      const Eigen::Isometry3d current = kinematics.ToolPose(q_seed);
      Eigen::Isometry3d target = current;
      target.translation() += a.head<3>() * scale.position;
      target.linear() = robot::AxisAngleToMatrix(a.segment<3>(3) * scale.rotation) * current.linear();
      kinematics.SolveIk(target, q_seed, robot::ActionIkOptions(), &q_ik);
      by_joints.StepJointTargets(q_ik.head<7>(), a[6]);
    }
    EXPECT_LT((by_action.GetState() - by_joints.GetState()).cwiseAbs().maxCoeff(), 1e-9)
        << "latency " << latency;
    EXPECT_EQ(by_action.succeeded(), by_joints.succeeded());
  }
}

TEST(WorldTest, BadSceneParametersAreRejected) {
  auto model = Model("bottle_place");
  SceneParams p = model->Nominal();
  p.mass_scale[0] = -1;
  try {
    World w(model, p);
    FAIL();
  } catch (const SimError& e) {
    EXPECT_THAT(e.what(), HasSubstr("mass_scale"));
  }
}

class ShippedDemoTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedDemoTest, ReplayingItsActionsSucceeds) {
  const std::string task = GetParam();
  datasets::EpisodeReader reader(Demo(task + ".hdf5"));
  ASSERT_EQ(reader.num_episodes(), 1);
  EXPECT_EQ(reader.env_args()["env_name"], task);
  const datasets::Episode ep = reader.ReadEpisode(0);
  EXPECT_TRUE(ep.success);
  auto model = Model(task);
  World world(model, model->Nominal());
  ReplayController replay(ep.actions);
  RolloutOptions opt;
  opt.max_steps = static_cast<int>(ep.actions.rows()) + 40;
  const RolloutResult r = Rollout(world, replay, opt);
  EXPECT_EQ(r.outcome, Outcome::kSuccess) << OutcomeName(r.outcome);
  // Subtask signals: grasp before place, both present.
  const auto& grasp = ep.subtask_term_signals.at("grasp");
  const auto& place = ep.subtask_term_signals.at("place");
  const auto first = [](const std::vector<int32_t>& s) {
    return std::find(s.begin(), s.end(), 1) - s.begin();
  };
  EXPECT_LT(first(grasp), first(place));
  EXPECT_LT(first(place), static_cast<long>(place.size()));
  // The demo runs to the end of its script: after the release the tool retracts (the
  // scripts lift 10 cm), and replayed the same way it ends on the same step, successful.
  const auto& eef = ep.obs.at("robot0_eef_pos");
  const long release = first(place);
  EXPECT_GT(eef(eef.rows() - 1, 2) - eef(release, 2), 0.08f);
  World again(model, model->Nominal());
  ReplayController replay_all(ep.actions);
  opt.success_after_finish = true;
  const RolloutResult whole = Rollout(again, replay_all, opt);
  EXPECT_EQ(whole.outcome, Outcome::kSuccess);
  EXPECT_EQ(whole.steps, ep.num_samples());
  EXPECT_LT(r.steps, whole.steps);  // success alone ends the rollout during the retract
}

INSTANTIATE_TEST_SUITE_P(Tasks, ShippedDemoTest, ::testing::Values("bottle_place", "cube_stack"));

TEST(ScriptTest, BadFieldsAreNamed) {
  const auto err = [](const std::string& yaml) -> std::string {
    try {
      ParseScript(yaml, "s.yaml");
    } catch (const SimError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_THAT(err("task: x\nwaypoints:\n  - {frame: moon}\n"),
              HasSubstr("s.yaml: waypoints[0].frame: expected object, target, world or relative"));
  EXPECT_THAT(err("task: x\nwaypoints:\n  - {frame: world, pos: [1, 2]}\n"),
              HasSubstr("s.yaml: waypoints[0].pos: expected a list of 3 numbers"));
  EXPECT_THAT(err("task: x\nwaypoints: []\n"), HasSubstr("s.yaml: waypoints: expected a non-empty list"));
  EXPECT_THAT(err("task: x\nspeed: -1\nwaypoints:\n  - {}\n"), HasSubstr("s.yaml: speed: must be positive"));
  EXPECT_THAT(err("task: x\nwaypoints:\n  - {grip: open}\n"), HasSubstr("s.yaml: waypoints[0].grip: unknown field"));
  EXPECT_THAT(err("task: [\n"), HasSubstr("s.yaml: YAML error"));
}

TEST(ScriptTest, HoldIsBoundedAndFrameAndPosAreRequired) {
  const auto err = [](const std::string& waypoints) -> std::string {
    try {
      ParseScript("task: x\nwaypoints:\n  - {frame: object, pos: [0, 0, 0.1]}\n" + waypoints, "s.yaml");
    } catch (const SimError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(err("  - {frame: relative, pos: [0, 0, 0], hold: 60}\n"), "");
  EXPECT_EQ(err("  - {frame: relative, pos: [0, 0, 0], hold: 1e9}\n"),
            "s.yaml: waypoints[1].hold: must be in 0..60 s, got 1e+09");
  EXPECT_THAT(err("  - {frame: relative, pos: [0, 0, 0], hold: 1e300}\n"),
              HasSubstr("s.yaml: waypoints[1].hold: must be in 0..60 s"));
  EXPECT_THAT(err("  - {frame: relative, pos: [0, 0, 0], hold: -1}\n"),
              HasSubstr("s.yaml: waypoints[1].hold: must be in 0..60 s"));
  EXPECT_EQ(err("  - {frame: target, gripper: open}\n"),
            "s.yaml: waypoints[1].pos: missing (a position [x, y, z] in m in the frame)");
  EXPECT_EQ(err("  - {pos: [0, 0, 0.2]}\n"),
            "s.yaml: waypoints[1].frame: missing (object, target, world or relative)");
  EXPECT_EQ(err("  - {frame: target, pos: [0, 0, 0.2], pos: [0, 0, 0.3]}\n"),
            "s.yaml: waypoints[1].pos: duplicated key (each key may appear once)");
}

TEST(RolloutTest, GripperSignalsFollowCloseAndOpen) {
  datasets::MatrixRXf actions = datasets::MatrixRXf::Zero(6, 7);
  const float g[6] = {-1, -1, 1, 1, -1, -1};
  for (int t = 0; t < 6; ++t) actions(t, 6) = g[t];
  const auto s = GripperSubtaskSignals(actions, {"grasp", "place"});
  EXPECT_EQ(s.at("grasp"), (std::vector<int32_t>{0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(s.at("place"), (std::vector<int32_t>{0, 0, 0, 0, 1, 1}));
}

}  // namespace
}  // namespace dreamforge::sim
