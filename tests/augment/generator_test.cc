#include "augment/generator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "datasets/episode_store.h"
#include "tests/common/test_util.h"
#include "tests/datasets/test_util.h"

namespace dreamforge::augment {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const auto& Bytes = test::ReadBytes;

class GeneratorTest : public test::TempDirTest {
 protected:
  static DreamSource Source(const std::string& task, uint64_t seed = 3) {
    auto model = std::make_shared<const sim::SceneModel>(task, sim::SceneModel::DefaultUrdf());
    return PrepareSource(model, std::string(DF_SOURCE_DIR) + "/datasets/demos/" + task + ".hdf5",
                         LoadSpec(DefaultSpecPath(task)), seed);
  }
};

TEST_F(GeneratorTest, SameBytesForOneAndTwoWorkers) {
  const DreamSource source = Source("bottle_place");
  GeneratorOptions opt;
  opt.count = 6;
  opt.chunk = 2;
  opt.workers = 1;
  const GeneratorSummary one = GenerateDreams(source, (dir_ / "w1.hdf5").string(), opt);
  opt.workers = 2;
  opt.chunk = 4;  // a different part layout must not matter either
  const GeneratorSummary two = GenerateDreams(source, (dir_ / "w2.hdf5").string(), opt);
  EXPECT_EQ(one.kept, 6);
  EXPECT_EQ(one.attempts, two.attempts);
  const std::string a = Bytes(dir_ / "w1.hdf5");
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == Bytes(dir_ / "w2.hdf5"));
  EXPECT_FALSE(fs::exists(dir_ / "w1.hdf5.parts"));
}

TEST_F(GeneratorTest, ShardsMergedEqualASingleRun) {
  const DreamSource source = Source("bottle_place");
  GeneratorOptions opt;
  opt.count = 5;
  opt.chunk = 2;
  GenerateDreams(source, (dir_ / "all.hdf5").string(), opt);
  opt.shards = 2;
  opt.shard = 0;
  GenerateDreams(source, (dir_ / "s0.hdf5").string(), opt);
  opt.shard = 1;
  GenerateDreams(source, (dir_ / "s1.hdf5").string(), opt);
  std::vector<int64_t> all = {0, 1, 2, 3, 4};
  // Shard order on the command line does not matter.
  MergeDreamFiles({(dir_ / "s1.hdf5").string(), (dir_ / "s0.hdf5").string()},
                  (dir_ / "merged.hdf5").string(), all);
  EXPECT_TRUE(Bytes(dir_ / "all.hdf5") == Bytes(dir_ / "merged.hdf5"));

  // A missing shard and a doubled shard are refused.
  try {
    MergeDreamFiles({(dir_ / "s0.hdf5").string()}, (dir_ / "m2.hdf5").string(), all);
    FAIL();
  } catch (const AugmentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("missing"));
  }
  try {
    MergeDreamFiles({(dir_ / "s0.hdf5").string(), (dir_ / "s0.hdf5").string(), (dir_ / "s1.hdf5").string()},
                    (dir_ / "m3.hdf5").string(), all);
    FAIL();
  } catch (const AugmentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("appears in both"));
  }
  EXPECT_FALSE(fs::exists(dir_ / "m2.hdf5"));
  EXPECT_FALSE(fs::exists(dir_ / "m3.hdf5"));
}

TEST_F(GeneratorTest, ShardsOfDifferentRunsAreRefused) {
  GeneratorOptions opt;
  opt.count = 2;
  opt.shards = 2;
  opt.shard = 0;
  GenerateDreams(Source("bottle_place", 1), (dir_ / "a.hdf5").string(), opt);
  opt.shard = 1;
  GenerateDreams(Source("bottle_place", 2), (dir_ / "b.hdf5").string(), opt);
  try {
    MergeDreamFiles({(dir_ / "a.hdf5").string(), (dir_ / "b.hdf5").string()},
                    (dir_ / "m.hdf5").string(), {0, 1});
    FAIL();
  } catch (const AugmentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("dreamforge.seed differs"));
  }
}

// Dream `k` of a 4-dream run as `dream --cameras` would write it: an 84-wide RGB camera of
// the given height with its depth.
datasets::Episode CameraDream(int64_t k, int height) {
  datasets::Episode ep = datasets::testing_util::MakeEpisode(5 + static_cast<int>(k), 100 + k);
  ep.perturbation = {{"dream_index", k}};
  datasets::testing_util::AddCamera(&ep, "agentview_image", "agentview_depth", height, 84, 3, k);
  return ep;
}

TEST_F(GeneratorTest, MergeCarriesCameraKeysAndRefusesDifferentOnes) {
  const nlohmann::json env = {{"env_name", "bottle_place"},
                              {"dreamforge",
                               {{"source_demo", "sha256:0"},
                                {"spec", nlohmann::json::object()},
                                {"seed", 3},
                                {"count", 4},
                                {"max_attempts", 5}}}};
  auto write = [&](const std::string& name, const std::vector<int64_t>& dreams, int height) {
    datasets::EpisodeWriter writer(dir_ / name, env);
    for (int64_t k : dreams) writer.Append(CameraDream(k, height));
    writer.Close(
        datasets::EpisodeWriter::SplitTrainValid(static_cast<int>(dreams.size()), 0.0).first, {});
    return (dir_ / name).string();
  };
  const std::string s0 = write("s0.hdf5", {0, 2}, 84);
  const std::string s1 = write("s1.hdf5", {1, 3}, 84);
  EXPECT_EQ(MergeDreamFiles({s1, s0}, (dir_ / "merged.hdf5").string(), {0, 1, 2, 3}), 4);
  datasets::EpisodeReader merged(dir_ / "merged.hdf5");
  ASSERT_EQ(merged.num_episodes(), 4);
  EXPECT_EQ(merged.image_shapes().at("agentview_image"), (std::array<int, 3>{84, 84, 3}));
  for (int d = 0; d < 4; ++d) {
    const datasets::Episode ep = merged.ReadEpisode(d);
    const datasets::Episode expected = CameraDream(d, 84);
    EXPECT_TRUE(ep.images.at("agentview_image").data == expected.images.at("agentview_image").data)
        << d;
    EXPECT_TRUE(ep.depths.at("agentview_depth").data == expected.depths.at("agentview_depth").data)
        << d;
  }

  const std::string other = write("s1_64.hdf5", {1, 3}, 64);
  try {
    MergeDreamFiles({s0, other}, (dir_ / "m.hdf5").string(), {0, 1, 2, 3});
    FAIL();
  } catch (const datasets::DatasetError& e) {
    const std::string expected =
        other + ": /data/demo_0/obs/agentview_image: image shape (64,84,3) differs from " + s0;
    EXPECT_THAT(e.what(), HasSubstr(expected));
  }
  EXPECT_FALSE(fs::exists(dir_ / "m.hdf5"));
}

TEST_F(GeneratorTest, EveryKeptEpisodeReplaysToSuccessFromItsStoredStateAndPerturbation) {
  for (const std::string task : {"bottle_place", "cube_stack"}) {
    const DreamSource source = Source(task);
    GeneratorOptions opt;
    opt.count = 4;
    opt.workers = 2;
    const fs::path out = dir_ / (task + ".hdf5");
    const GeneratorSummary s = GenerateDreams(source, out.string(), opt);
    EXPECT_EQ(s.kept, 4) << task;
    datasets::EpisodeReader reader(out);
    ASSERT_EQ(reader.num_episodes(), 4);
    EXPECT_EQ(reader.env_args()["dreamforge"]["source_demo"], source.demo_hash);
    for (int d = 0; d < reader.num_episodes(); ++d) {
      const datasets::Episode ep = reader.ReadEpisode(d);
      EXPECT_TRUE(ep.success);
      EXPECT_EQ(ep.source_demo, source.demo_hash);
      EXPECT_EQ(ep.perturbation["dream_index"], d);
      const sim::SceneParams params = sim::SceneParamsFromJson(ep.perturbation);
      sim::World world(source.model, params);
      const Eigen::VectorXd s0 = world.GetState();
      ASSERT_EQ(s0.size(), ep.states.cols());
      EXPECT_EQ(0, std::memcmp(s0.data(), ep.states.row(0).data(), sizeof(double) * s0.size()))
          << task << " demo_" << d << ": the stored first state is not the scene's";
      sim::ReplayController replay(ep.actions);
      sim::RolloutOptions options;
      options.success_after_finish = true;  // as dreams are judged: after the retract
      const sim::RolloutResult r = sim::Rollout(world, replay, options);
      EXPECT_EQ(r.outcome, sim::Outcome::kSuccess) << task << " demo_" << d;
      EXPECT_EQ(r.steps, ep.num_samples());
    }
  }
}

TEST_F(GeneratorTest, PhysicsTimeIsChargedToEveryPhaseOfEveryStep) {
  const DreamSource source = Source("bottle_place");
  GeneratorOptions opt;
  opt.count = 3;
  opt.workers = 2;
  const GeneratorSummary s = GenerateDreams(source, (dir_ / "p.hdf5").string(), opt);
  int64_t steps = 0;
  double seconds = 0;
  for (const auto& [phase, n] : s.phase_steps) steps += n;
  for (const auto& [phase, t] : s.phase_seconds) seconds += t;
  // Every control step of every attempt belongs to exactly one phase, and so does its time.
  EXPECT_EQ(static_cast<double>(steps) * source.model->physics().substeps, s.physics_steps);
  EXPECT_NEAR(seconds, s.physics_seconds, 1e-9 * std::max(1.0, s.physics_seconds));
  for (const char* phase : {"reach", "grasp", "carry", "place", "retract"}) {
    EXPECT_GT(s.phase_steps.count(phase) ? s.phase_steps.at(phase) : 0, 0) << phase;
  }
  const nlohmann::json j = s.ToJson(source.spec, *source.model);
  EXPECT_EQ(j["physics_by_phase"]["grasp"]["control_steps"], s.phase_steps.at("grasp"));
  EXPECT_EQ(j["infeasible"], 0);
  EXPECT_EQ(j["feasible_success_rate"], j["success_rate"]);
  EXPECT_TRUE(j["failures_by_phase"].is_object());
}

TEST_F(GeneratorTest, EveryFailedAttemptHasAPhaseAndAResumedRunCountsTheSame) {
  const DreamSource source = Source("bottle_place");  // seed 3: one of 21 attempts fails
  GeneratorOptions opt;
  opt.count = 20;
  opt.chunk = 8;
  opt.workers = 2;
  const fs::path out = dir_ / "f.hdf5";
  const GeneratorSummary first = GenerateDreams(source, out.string(), opt);
  int64_t failed = 0, phased = 0;
  for (const auto& [k, n] : first.failures) failed += n;
  for (const auto& [k, n] : first.failures_by_phase) phased += n;
  ASSERT_GT(failed, 0) << "the seed no longer gives a failure: pick another";
  EXPECT_EQ(failed, first.attempts - first.kept);
  EXPECT_EQ(phased, failed);
  // The counts live in the parts' statistics: a run stopped after its first part and resumed
  // reads them back.
  const fs::path out2 = dir_ / "g.hdf5";
  GeneratorOptions stopped = opt;
  stopped.on_progress = [](int64_t kept, int64_t, int64_t) {
    if (kept == 9) throw std::runtime_error("stopped");
  };
  EXPECT_THROW(GenerateDreams(source, out2.string(), stopped), std::runtime_error);
  const GeneratorSummary again = GenerateDreams(source, out2.string(), opt);
  EXPECT_GE(again.resumed_chunks, 1);
  EXPECT_EQ(again.failures_by_phase, first.failures_by_phase);
  EXPECT_EQ(again.failures, first.failures);
}

TEST_F(GeneratorTest, ScenesNoGripCouldHoldFailAsInfeasibleInTheGraspPhase) {
  DreamSource source = Source("bottle_place");
  const sim::SceneModel& model = *source.model;
  sim::SceneParams params = model.Nominal();
  // 35 N per finger, pad 1.5 x bottle 0.8, 0.3 kg: 84 N of friction against 2.9 N.
  GraspBudget b = GraspBudgetOf(model, params);
  EXPECT_DOUBLE_EQ(b.finger_force, 35.0);
  EXPECT_NEAR(b.HoldingForce(), 2 * 35.0 * 1.5 * 0.8, 1e-9);
  EXPECT_NEAR(b.weight, 0.3 * 9.81, 1e-9);
  EXPECT_TRUE(b.Feasible());
  params.friction[0] = 0.01;  // 1.05 N of friction: less than twice the weight
  EXPECT_FALSE(GraspBudgetOf(model, params).Feasible());
  // The default spec has no infeasible scene: its worst corner (heaviest, slipperiest).
  params.friction[0] = 0.4;
  params.mass_scale[0] = 2.0;
  EXPECT_TRUE(GraspBudgetOf(model, params).Feasible());

  source.spec = ParseSpec("friction: {dist: constant, value: 0.0}\n", "zero_friction.yaml");
  const DreamResult r = MakeDream(source, 0, 2);
  EXPECT_FALSE(r.kept);
  EXPECT_EQ(r.failures, (std::map<std::string, int>{{"infeasible", 2}}));
  EXPECT_EQ(r.failure_phases, (std::map<std::string, int>{{"grasp", 2}}));
}

TEST_F(GeneratorTest, AHopelessSpecStopsWithAClearMessage) {
  DreamSource source = Source("bottle_place");
  // Frictionless objects cannot be held by finger contact: every attempt fails.
  source.spec = ParseSpec("friction: {dist: constant, value: 0.0}\n", "zero_friction.yaml");
  GeneratorOptions opt;
  opt.count = 2;
  opt.max_attempts = 2;
  try {
    GenerateDreams(source, (dir_ / "x.hdf5").string(), opt);
    FAIL();
  } catch (const AugmentError& e) {
    EXPECT_THAT(e.what(), HasSubstr("failed all 2 attempts (infeasible 2)"));
    EXPECT_THAT(e.what(), HasSubstr("spec looks too hard"));
  }
  EXPECT_FALSE(fs::exists(dir_ / "x.hdf5"));
}

// Object position (x, y, z) of each step of dream 0, and its gripper commands.
struct Track {
  std::vector<Eigen::Vector3d> object;
  std::vector<float> gripper;
};
// Runs the first scene of dream 0 to the end of its segments, kept or not.
Track DreamTrack(const DreamSource& source) {
  const sim::SceneParams params = SampleScene(*source.model, source.spec, source.seed, DreamKey(0, 0));
  sim::World world(source.model, params);
  SegmentController controller(source);
  sim::RolloutOptions options;
  options.max_steps = RolloutBudget(source);
  options.success_after_finish = true;
  const sim::RolloutResult r = sim::Rollout(world, controller, options);
  EXPECT_TRUE(controller.Finished());
  Track t;
  const auto& obj = r.episode.obs.at("object");
  for (int k = 0; k < r.episode.num_samples(); ++k) {
    t.object.emplace_back(obj(k, 0), obj(k, 1), obj(k, 2));
    t.gripper.push_back(r.episode.actions(k, 6));
  }
  return t;
}

TEST_F(GeneratorTest, DreamsLiftTheGraspedObjectBeforeMovingItSideways) {
  const DreamSource source = Source("bottle_place");
  // The grasp segment runs on past the close command (the hold, then the first 5 cm of
  // the lift): more than 10 of its steps command the gripper closed.
  const auto& g = source.segments[0].gripper;
  EXPECT_GT(std::count(g.begin(), g.end(), 1.0f), 10);
  ASSERT_TRUE(source.segments[1].holds_object);
  EXPECT_FALSE(source.segments[0].holds_object);
  for (uint64_t i = 0; i < 3; ++i) {
    DreamSource s = source;
    s.seed = 10 + i;
    const Track t = DreamTrack(s);
    // From the close command until the bottle is 1 cm up, it stays where it stood: the
    // bridge to the carry starts in the air (a bridge on the table dragged it 2-12 cm).
    const size_t close = std::find_if(t.gripper.begin(), t.gripper.end(), [](float g) { return g > 0; }) -
                         t.gripper.begin();
    ASSERT_LT(close, t.object.size());
    for (size_t k = close; k < t.object.size() && t.object[k].z() < t.object[0].z() + 0.01; ++k) {
      EXPECT_LT((t.object[k] - t.object[close]).head<2>().norm(), 0.01) << "seed " << s.seed << " step " << k;
    }
  }
}

TEST_F(GeneratorTest, InHandSegmentsMoveTheObjectNotTheHandToTheDemosPlace) {
  const DreamSource source = Source("bottle_place");
  const Track base = DreamTrack(source);
  // Pretend the demo held the bottle 2 cm further along the target frame's x axis: the
  // dream must then set the bottle down 2 cm further along that axis.
  DreamSource shifted = source;
  for (size_t k = 1; k < shifted.segments.size(); ++k) {
    if (shifted.segments[k].holds_object) shifted.segments[k].held_offset += Eigen::Vector3d(0.02, 0, 0);
  }
  const Track moved = DreamTrack(shifted);
  const Eigen::Vector2d expected = (source.segments[1].frame_pose.linear() * Eigen::Vector3d(0.02, 0, 0)).head<2>();
  const Eigen::Vector2d got = (moved.object.back() - base.object.back()).head<2>();
  EXPECT_LT((got - expected).norm(), 0.006) << "moved by " << got.transpose();
}

TEST(ShardTest, SizesWithoutListingAndCountsAreBounded) {
  for (int count : {1, 2, 10, 11}) {
    for (int shards : {1, 3, 8}) {
      for (int k = 0; k < shards; ++k) {
        EXPECT_EQ(ShardSize(count, k, shards), static_cast<int64_t>(ShardIndices(count, k, shards).size()))
            << count << " " << k << "/" << shards;
      }
    }
  }
  EXPECT_EQ(ShardSize(kMaxDreamCount, 0, 1), kMaxDreamCount);
  DreamSource source;  // never used: the count is refused first
  GeneratorOptions opt;
  opt.count = kMaxDreamCount + 1;
  try {
    GenerateDreams(source, "never.hdf5", opt);
    ADD_FAILURE() << "no error";
  } catch (const AugmentError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("count must be 1..10000000"));
  }
  EXPECT_FALSE(fs::exists("never.hdf5.parts"));
}

TEST(GridOccupancyTest, CountsCells) {
  EXPECT_DOUBLE_EQ(GridOccupancy({}, 0, 1, 0, 1), 0.0);
  EXPECT_DOUBLE_EQ(GridOccupancy({{0.05, 0.05}, {0.06, 0.04}}, 0, 1, 0, 1), 0.01);
  std::vector<std::pair<double, double>> all;
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 10; ++j) all.emplace_back(0.1 * i + 0.05, 0.1 * j + 0.05);
  EXPECT_DOUBLE_EQ(GridOccupancy(all, 0, 1, 0, 1), 1.0);
}

// Found by fuzz/merge_fuzzer.cc's contract: env_args and perturbation JSON of the wrong
// type (a file edited by hand or corrupted) threw nlohmann's type_error, a runtime failure
// naming no file; merge refuses them as bad input naming the shard.
TEST_F(GeneratorTest, MergeRefusesWronglyTypedDreamFields) {
  auto write = [&](const std::string& name, const nlohmann::json& env, const nlohmann::json& dream_index) {
    datasets::EpisodeWriter writer(dir_ / name, env);
    datasets::Episode ep = datasets::testing_util::MakeEpisode(5, 1);
    ep.perturbation = {{"dream_index", dream_index}};
    writer.Append(ep);
    writer.Close({"demo_0"}, {});
    return (dir_ / name).string();
  };
  const nlohmann::json good = {{"env_name", "bottle_place"},
                               {"dreamforge", {{"seed", 3}, {"count", 1}, {"max_attempts", 5}}}};
  const auto error_of = [&](const std::string& file) {
    try {
      MergeDreamShards({file}, (dir_ / "m.hdf5").string());
    } catch (const AugmentError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string not_object = write("a.hdf5", {{"dreamforge", 5}}, 0);
  EXPECT_THAT(error_of(not_object), HasSubstr(not_object + ": not a dream file"));
  nlohmann::json count_text = good;
  count_text["dreamforge"]["count"] = "1";
  const std::string text = write("b.hdf5", count_text, 0);
  EXPECT_THAT(error_of(text), HasSubstr(text + ": env_args.dreamforge.count: expected an integer"));
  nlohmann::json name_number = good;
  name_number["env_name"] = 7;
  const std::string index_text = write("c.hdf5", name_number, "0");
  EXPECT_THAT(error_of(index_text), HasSubstr(index_text + ": /data/demo_0 perturbation: no integer dream_index"));
  EXPECT_EQ(MergeDreamShards({write("d.hdf5", good, 0)}, (dir_ / "m.hdf5").string()), 1);
  EXPECT_FALSE(fs::exists(dir_ / "m.hdf5.tmp"));
}

}  // namespace
}  // namespace dreamforge::augment
