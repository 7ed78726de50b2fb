#include "robot/policy_runtime.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/robot/alloc_counter.h"
#include "tests/robot/edge_test_util.h"

namespace dreamforge::robot {
namespace {

using nlohmann::json;

std::vector<float> Floats(const json& j) { return j.get<std::vector<float>>(); }

// The raw observation of a reference case, in the bundle's obs_keys order.
std::vector<float> RawObs(const Bundle& b, const json& c) {
  std::vector<float> raw;
  for (ObsKey k : b.obs_keys) {
    const std::vector<float> v = Floats(c.at("obs").at(ObsKeyName(k)));
    raw.insert(raw.end(), v.begin(), v.end());
  }
  return raw;
}

// |a - b| <= tol * max(1, |b|) for every entry.
void ExpectClose(const float* a, const std::vector<float>& b, double tol, const std::string& what) {
  for (size_t i = 0; i < b.size(); ++i) {
    EXPECT_NEAR(a[i], b[i], tol * std::max(1.0f, std::abs(b[i]))) << what << " [" << i << "]";
  }
}

class ReferenceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceTest, MatchesTorchFloat32) {
  const std::string name = GetParam();
  auto bundle = test::LoadTiny(name);
  PolicyRuntime rt(bundle);
  const json cases = test::ReadJson(test::RobotDataDir() / "reference.json").at(name);
  ASSERT_EQ(cases.size(), 20u);
  const int n = rt.chunk_size();
  std::vector<float> obs_n(rt.obs_dim()), chunk(n), action(kActionDim);
  double worst = 0;
  for (size_t c = 0; c < cases.size(); ++c) {
    const json& k = cases[c];
    const std::string where = name + " case " + std::to_string(c);
    rt.NormalizeObs(RawObs(*bundle, k).data(), obs_n.data());
    ExpectClose(obs_n.data(), Floats(k.at("obs_normalized")), 1e-6, where + " obs_normalized");
    // Predict from the reference's normalized obs, so that each stage is checked alone.
    const std::vector<float> ref_obs_n = Floats(k.at("obs_normalized"));
    const std::vector<float> noise = Floats(k.at("noise"));
    ASSERT_EQ(static_cast<int>(noise.size()), bundle->model.type == ModelType::kFlow ? n : 0);
    rt.Predict(ref_obs_n.data(), noise.empty() ? nullptr : noise.data(), chunk.data());
    const std::vector<float> expected = Floats(k.at("predict"));
    ASSERT_EQ(static_cast<int>(expected.size()), n);
    ExpectClose(chunk.data(), expected, 1e-5, where + " predict");
    for (int i = 0; i < n; ++i) {
      worst = std::max(
          worst, std::abs(double(chunk[i]) - expected[i]) / std::max(1.0f, std::abs(expected[i])));
    }
    const std::vector<float> denorm = Floats(k.at("denormalized"));
    for (int h = 0; h < rt.horizon(); ++h) {
      rt.DenormalizeAction(expected.data() + 7 * h, action.data());
      ExpectClose(action.data(), {denorm.begin() + 7 * h, denorm.begin() + 7 * h + 7}, 1e-6,
                  where + " denormalized row " + std::to_string(h));
    }
  }
  std::printf("%s: worst relative deviation from torch %.3g\n", name.c_str(), worst);
}

INSTANTIATE_TEST_SUITE_P(TinyBundles, ReferenceTest, ::testing::Values("tiny_mlp", "tiny_flow"));

TEST(PolicyRuntimeTest, EigenPredictChecksSizes) {
  PolicyRuntime rt(test::LoadTiny("tiny_flow"));
  Eigen::VectorXf obs = Eigen::VectorXf::Zero(25), noise = Eigen::VectorXf::Zero(28),
                  chunk = Eigen::VectorXf::Zero(28);
  EXPECT_TRUE(rt.Predict(obs, noise, chunk));
  EXPECT_TRUE(chunk.allFinite());
  EXPECT_FALSE(rt.Predict(obs.head(24), noise, chunk));
  EXPECT_FALSE(rt.Predict(obs, noise.head(27), chunk));
  Eigen::VectorXf short_chunk(7);
  EXPECT_FALSE(rt.Predict(obs, noise, short_chunk));
}

TEST(PolicyRuntimeTest, RefusesABundleWithoutWeights) {
  const json j = test::ReadJson(test::RobotDataDir() / "tiny_mlp" / "policy.json");
  auto parsed = std::make_shared<const Bundle>(ParsePolicyJson(j, "policy.json"));
  EXPECT_THROW(PolicyRuntime rt(parsed), std::invalid_argument);
}

// The runner's contract, recomputed independently from PolicyRuntime + the documented draws.
TEST(PolicyRunnerTest, MlpSamplesTheGripperFromTheSeededGenerator) {
  auto bundle = test::LoadTiny("tiny_mlp");
  PolicyRunner runner(bundle, 42);
  PolicyRuntime rt(bundle);
  std::mt19937_64 rng(42);
  const json cases = test::ReadJson(test::RobotDataDir() / "reference.json").at("tiny_mlp");
  int closed = 0;
  for (size_t c = 0; c < cases.size(); ++c) {
    const std::vector<float> raw = RawObs(*bundle, cases[c]);
    Vector7f action;
    ASSERT_EQ(runner.Act(raw.data(), &action), RunnerStatus::kOk);
    EXPECT_TRUE(runner.planned_last_step());  // mlp: a plan every step
    std::vector<float> obs_n(25), y(7), a(7);
    rt.NormalizeObs(raw.data(), obs_n.data());
    rt.Predict(obs_n.data(), nullptr, y.data());
    rt.DenormalizeAction(y.data(), a.data());
    for (int i = 0; i < 6; ++i) EXPECT_EQ(action[i], std::clamp(a[i], -1.0f, 1.0f)) << c;
    const float u = std::uniform_real_distribution<float>(0.0f, 1.0f)(rng);
    const float g = std::clamp(a[6], -1.0f, 1.0f);
    EXPECT_EQ(action[6], u < 0.5f * (g + 1.0f) ? 1.0f : -1.0f) << c;
    closed += action[6] > 0;
  }
  EXPECT_EQ(runner.plans(), cases.size());
  EXPECT_GT(closed, 0);
  EXPECT_LT(closed, 20);
}

// The latch, recomputed from the documented rule on the network's own predictions.
TEST(PolicyRunnerTest, MlpLatchSwitchesPastTheThresholdAndHolds) {
  Bundle b = *test::LoadTiny("tiny_mlp");
  b.model.gripper = GripperMode::kLatch;
  b.model.gripper_switch = 0.2;
  b.model.gripper_hold = 3;
  auto bundle = std::make_shared<const Bundle>(b);
  const json cases = test::ReadJson(test::RobotDataDir() / "reference.json").at("tiny_mlp");
  PolicyRuntime rt(bundle);
  // Gripper values of the cases as the runner sees them (clamped, before the rule).
  std::vector<float> g;
  for (size_t c = 0; c < cases.size(); ++c) {
    const std::vector<float> raw = RawObs(*bundle, cases[c]);
    std::vector<float> obs_n(25), y(7), a(7);
    rt.NormalizeObs(raw.data(), obs_n.data());
    rt.Predict(obs_n.data(), nullptr, y.data());
    rt.DenormalizeAction(y.data(), a.data());
    g.push_back(std::clamp(a[6], -1.0f, 1.0f));
  }
  // Feed the cases back and forth so the value crosses the thresholds many times.
  std::vector<size_t> order;
  for (int rep = 0; rep < 6; ++rep) {
    for (size_t c = 0; c < cases.size(); ++c) order.push_back(rep % 2 ? cases.size() - 1 - c : c);
  }
  PolicyRunner runner(bundle, 1);
  float state = -1.0f;
  int since = 1 << 30, switches = 0, held = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    const std::vector<float> raw = RawObs(*bundle, cases[order[k]]);
    Vector7f action;
    ASSERT_EQ(runner.Act(raw.data(), &action), RunnerStatus::kOk);
    const float p = 0.5f * (g[order[k]] + 1.0f);
    const float other = state > 0 ? 1.0f - p : p;
    if (since >= 3 && other > 0.2f) {
      state = -state;
      since = 0;
      ++switches;
    } else if (other > 0.2f) {
      ++held;  // the rule alone would have switched: the hold kept the state
    }
    if (since < (1 << 30)) ++since;
    ASSERT_EQ(action[6], state) << "step " << k;
  }
  EXPECT_GT(switches, 1);
  EXPECT_GT(held, 0);  // the hold was exercised
  // Reset opens the latch again.
  runner.Reset(1);
  const std::vector<float> raw = RawObs(*bundle, cases[order[0]]);
  Vector7f action;
  ASSERT_EQ(runner.Act(raw.data(), &action), RunnerStatus::kOk);
  const float p0 = 0.5f * (g[order[0]] + 1.0f);
  EXPECT_EQ(action[6], p0 > 0.2f ? 1.0f : -1.0f);
  std::printf("latch: %d switches, %d held back over %zu steps\n", switches, held, order.size());
}

TEST(PolicyRunnerTest, FlowExecutesChunksAndReplans) {
  auto bundle = test::LoadTiny("tiny_flow");
  PolicyRunner runner(bundle, 7);
  PolicyRuntime rt(bundle);
  std::mt19937_64 rng(7);
  const json cases = test::ReadJson(test::RobotDataDir() / "reference.json").at("tiny_flow");
  std::vector<float> obs_n(25), noise(28), y(28), a(7);
  for (int plan = 0; plan < 5; ++plan) {
    const std::vector<float> raw = RawObs(*bundle, cases[plan]);
    // Expected plan: 28 normal draws in order, then the sign rule (no uniform draws).
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& v : noise) v = normal(rng);
    rt.NormalizeObs(raw.data(), obs_n.data());
    rt.Predict(obs_n.data(), noise.data(), y.data());
    for (int row = 0; row < bundle->model.execute; ++row) {
      Vector7f action;
      // Only the observation at a plan matters; later steps get a different one.
      const std::vector<float> seen = row == 0 ? raw : RawObs(*bundle, cases[10 + row]);
      ASSERT_EQ(runner.Act(seen.data(), &action), RunnerStatus::kOk);
      EXPECT_EQ(runner.planned_last_step(), row == 0);
      rt.DenormalizeAction(y.data() + 7 * row, a.data());
      for (int i = 0; i < 6; ++i) EXPECT_EQ(action[i], std::clamp(a[i], -1.0f, 1.0f));
      EXPECT_EQ(action[6], a[6] > 0 ? 1.0f : -1.0f);
    }
  }
  EXPECT_EQ(runner.plans(), 5u);
  EXPECT_EQ(runner.chunk().rows(), 4);
}

TEST(PolicyRunnerTest, ResetReseedsAndDropsTheChunk) {
  auto bundle = test::LoadTiny("tiny_flow");
  PolicyRunner runner(bundle, 5);
  const json cases = test::ReadJson(test::RobotDataDir() / "reference.json").at("tiny_flow");
  const std::vector<float> raw = RawObs(*bundle, cases[0]);
  std::vector<Vector7f> first, second;
  for (int s = 0; s < 6; ++s) {
    Vector7f a;
    runner.Act(raw.data(), &a);
    first.push_back(a);
  }
  Vector7f extra;
  runner.Act(raw.data(), &extra);  // leaves the runner in the middle of a chunk
  runner.Reset(5);
  for (int s = 0; s < 6; ++s) {
    Vector7f a;
    runner.Act(raw.data(), &a);
    EXPECT_TRUE(s != 0 || runner.planned_last_step());
    second.push_back(a);
  }
  for (int s = 0; s < 6; ++s) EXPECT_EQ(first[s], second[s]) << s;
  // Different plans draw different noise: consecutive chunks differ.
  EXPECT_NE(second[0], second[2]);
}

TEST(PolicyRunnerTest, NonFiniteOutputAndInputAreReported) {
  auto loaded = test::LoadTiny("tiny_mlp");
  Bundle broken = *loaded;
  broken.layers[2].bias[3] = std::numeric_limits<float>::quiet_NaN();
  PolicyRunner runner(std::make_shared<const Bundle>(broken), 1);
  const json cases = test::ReadJson(test::RobotDataDir() / "reference.json").at("tiny_mlp");
  std::vector<float> raw = RawObs(broken, cases[0]);
  Vector7f action;
  EXPECT_EQ(runner.Act(raw.data(), &action), RunnerStatus::kNonFinite);
  EXPECT_TRUE(action.array().isNaN().all());  // the gripper rule did not hide the NaN
  // Overflow to infinity is caught the same way.
  Bundle huge = *loaded;
  huge.layers[0].weight *= 1e30f;
  huge.layers[1].weight *= 1e30f;
  PolicyRunner overflow(std::make_shared<const Bundle>(huge), 1);
  EXPECT_EQ(overflow.Act(raw.data(), &action), RunnerStatus::kNonFinite);
  // A non-finite observation plans nothing.
  PolicyRunner ok(loaded, 1);
  raw[4] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(ok.Act(raw.data(), &action), RunnerStatus::kBadInput);
  EXPECT_EQ(ok.plans(), 0u);
  raw[4] = 0.0f;
  EXPECT_EQ(ok.Act(raw.data(), &action), RunnerStatus::kOk);
  EXPECT_TRUE(action.allFinite());
  EXPECT_STREQ(RunnerStatusName(RunnerStatus::kNonFinite), "non_finite");
}

// A bundle like the tiny one with other hidden widths and random weights.
std::shared_ptr<const Bundle> Resized(const std::string& name, const std::vector<int>& hidden) {
  Bundle b = *test::LoadTiny(name);
  b.model.hidden = hidden;
  b.layers.clear();
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.0f, 0.05f);
  int in = b.model.InputDim();
  std::vector<int> widths = hidden;
  widths.push_back(b.model.OutputDim());
  for (int out : widths) {
    DenseLayer l;
    l.weight.resize(out, in);
    l.bias.resize(out);
    for (int i = 0; i < l.weight.size(); ++i) l.weight.data()[i] = n(rng);
    for (int i = 0; i < out; ++i) l.bias[i] = n(rng);
    b.layers.push_back(l);
    in = out;
  }
  return std::make_shared<const Bundle>(b);
}

TEST(PolicyRunnerTest, StepsDoNotAllocate) {
  const json cases = test::ReadJson(test::RobotDataDir() / "reference.json").at("tiny_flow");
  for (const auto& [name, hidden] :
       std::vector<std::pair<std::string, std::vector<int>>>{{"tiny_mlp", {16, 16}},
                                                             {"tiny_flow", {16, 16}},
                                                             {"tiny_mlp", {256, 256}},
                                                             {"tiny_flow", {256, 256, 256}}}) {
    auto bundle = Resized(name, hidden);
    PolicyRunner runner(bundle, 9);
    PolicyRuntime rt(bundle);
    const std::vector<float> raw = RawObs(*bundle, cases[0]);
    std::vector<float> obs_n(25), noise(rt.chunk_size(), 0.5f), chunk(rt.chunk_size());
    Vector7f action;
    runner.Act(raw.data(), &action);  // warm-up outside the counter
    test::AllocCounter counter;
    for (int s = 0; s < 50; ++s) {
      runner.Act(raw.data(), &action);
      rt.NormalizeObs(raw.data(), obs_n.data());
      rt.Predict(obs_n.data(), noise.data(), chunk.data());
    }
    EXPECT_EQ(counter.new_calls(), 0) << name;
    EXPECT_EQ(counter.malloc_calls(), 0) << name;
    EXPECT_TRUE(action.allFinite());
  }
}

// Not a benchmark gate (DESIGN.md: speed is measured by benchmarks, never by timed tests):
// prints the native step latency of the default-size policies for the record.
TEST(PolicyRunnerTest, ReportsStepLatency) {
  const json cases = test::ReadJson(test::RobotDataDir() / "reference.json").at("tiny_flow");
  for (const auto& [name, hidden] : std::vector<std::pair<std::string, std::vector<int>>>{
           {"tiny_mlp", {256, 256}}, {"tiny_flow", {256, 256, 256}}}) {
    auto bundle = Resized(name, hidden);
    PolicyRunner runner(bundle, 9);
    PolicyRuntime rt(bundle);
    const std::vector<float> raw = RawObs(*bundle, cases[0]);
    std::vector<float> obs_n(25), noise(rt.chunk_size(), 0.1f), chunk(rt.chunk_size());
    rt.NormalizeObs(raw.data(), obs_n.data());
    const int reps = 200;
    const auto t0 = std::chrono::steady_clock::now();
    for (int s = 0; s < reps; ++s) rt.Predict(obs_n.data(), noise.data(), chunk.data());
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
        reps;
    std::printf("%s hidden %zu x %d: Predict %.1f us per plan\n", name.c_str(), hidden.size(),
                hidden[0], us);
    EXPECT_TRUE(Eigen::Map<Eigen::VectorXf>(chunk.data(), rt.chunk_size()).allFinite());
  }
}

}  // namespace
}  // namespace dreamforge::robot
