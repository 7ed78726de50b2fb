#include "augment/perturbation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

namespace dreamforge::augment {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const sim::SceneModel> Model(const std::string& task) {
  return std::make_shared<const sim::SceneModel>(task, sim::SceneModel::DefaultUrdf());
}

std::string ErrorOf(const std::string& yaml) {
  try {
    ParseSpec(yaml, "spec.yaml");
  } catch (const AugmentError& e) {
    return e.what();
  }
  return "";
}

TEST(PerturbationTest, BadSpecsNameTheField) {
  EXPECT_THAT(ErrorOf("friction: {dist: uniform, min: 1.2, max: 0.4}\n"),
              HasSubstr("spec.yaml: friction: min (1.2) is greater than max (0.4)"));
  EXPECT_THAT(ErrorOf("masss_scale: {dist: uniform, min: 0.5, max: 2}\n"),
              HasSubstr("spec.yaml: masss_scale: unknown field"));
  EXPECT_THAT(ErrorOf("mass_scale: {dist: uniform, min: -0.5, max: 2}\n"),
              HasSubstr("spec.yaml: mass_scale: values must be > 0"));
  EXPECT_THAT(ErrorOf("mass_scale: {dist: normal, mean: 1, std: 0.1}\n"),
              HasSubstr("spec.yaml: mass_scale: values must be > 0"));  // unbounded normal
  EXPECT_THAT(ErrorOf("friction: {dist: gamma}\n"), HasSubstr("spec.yaml: friction.dist: unknown distribution"));
  EXPECT_THAT(ErrorOf("friction: {dist: uniform, min: 0.4}\n"), HasSubstr("spec.yaml: friction.max: missing"));
  EXPECT_THAT(ErrorOf("friction: {dist: uniform, min: 0.4, max: 1, mean: 2}\n"),
              HasSubstr("spec.yaml: friction.mean: unknown key"));
  EXPECT_THAT(ErrorOf("latency_steps: {dist: uniform, min: 0, max: 2}\n"),
              HasSubstr("spec.yaml: latency_steps: an integer field needs"));
  EXPECT_THAT(ErrorOf("restitution: {dist: constant, value: 1.5}\n"),
              HasSubstr("spec.yaml: restitution: values must be <= 1"));
  EXPECT_THAT(ErrorOf("friction: [\n"), HasSubstr("spec.yaml: YAML error"));
  EXPECT_EQ(ErrorOf("{}"), "");
}

TEST(PerturbationTest, EmptyFilesAndDuplicatedKeysAreRefused) {
  EXPECT_EQ(ErrorOf(""), "spec.yaml: empty spec (write {} for one that perturbs nothing)");
  EXPECT_THAT(ErrorOf("# only a comment\n"), HasSubstr("spec.yaml: empty spec"));
  EXPECT_EQ(ErrorOf("friction: {dist: uniform, min: 0.4, max: 1.2}\n"
                    "friction: {dist: constant, value: 0.1}\n"),
            "spec.yaml: friction: duplicated key (each key may appear once)");
  EXPECT_EQ(ErrorOf("friction: {dist: uniform, min: 0.4, max: 1.2, max: 5}\n"),
            "spec.yaml: friction.max: duplicated key (each key may appear once)");
  EXPECT_THAT(ErrorOf("? [a, b]\n: 1\n"), HasSubstr("spec.yaml: (root): expected plain keys"));
}

TEST(PerturbationTest, SameSeedAndIndexSameScene) {
  auto model = Model("bottle_place");
  const PerturbationSpec spec = LoadSpec(DefaultSpecPath("bottle_place"));
  const nlohmann::json a = sim::ToJson(SampleScene(*model, spec, 42, 7));
  const nlohmann::json b = sim::ToJson(SampleScene(*model, spec, 42, 7));
  EXPECT_EQ(a.dump(), b.dump());
  EXPECT_NE(a.dump(), sim::ToJson(SampleScene(*model, spec, 42, 8)).dump());
  EXPECT_NE(a.dump(), sim::ToJson(SampleScene(*model, spec, 43, 7)).dump());
}

TEST(PerturbationTest, AddingAFieldLeavesTheOtherDrawsAlone) {
  auto model = Model("bottle_place");
  const PerturbationSpec one = ParseSpec("friction: {dist: uniform, min: 0.4, max: 1.2}\n", "a");
  const PerturbationSpec two = ParseSpec(
      "friction: {dist: uniform, min: 0.4, max: 1.2}\n"
      "start_joints: {dist: normal, std: 0.05, min: -0.001, max: 0.001}\n", "b");
  for (uint64_t i = 0; i < 20; ++i) {
    EXPECT_EQ(SampleScene(*model, one, 1, i).friction, SampleScene(*model, two, 1, i).friction);
  }
}

TEST(PerturbationTest, EmptySpecGivesTheNominalScene) {
  auto model = Model("cube_stack");
  const sim::SceneParams nominal = model->Nominal();
  sim::SceneParams p = SampleScene(*model, ParseSpec("{}", "empty"), 5, 3);
  p.noise_seed = nominal.noise_seed;
  EXPECT_EQ(sim::ToJson(p).dump(), sim::ToJson(nominal).dump());
}

// Every sampled value lies within the spec and the draws spread over its whole range.
TEST(PerturbationTest, SamplesLieWithinTheSpecAndSpreadOverIt) {
  for (const std::string task : {"bottle_place", "cube_stack"}) {
    auto model = Model(task);
    const sim::SceneParams nominal = model->Nominal();
    const PerturbationSpec spec = LoadSpec(DefaultSpecPath(task));
    const int n = 2000;
    constexpr int kBins = 10;
    std::vector<int> friction_bins(kBins, 0), x_bins(kBins, 0), latency(3, 0);
    for (int i = 0; i < n; ++i) {
      const sim::SceneParams p = SampleScene(*model, spec, 99, i);
      model->Validate(p);
      for (size_t o = 0; o < p.friction.size(); ++o) {
        ASSERT_GE(p.friction[o], 0.4);
        ASSERT_LE(p.friction[o], 1.2);
        ASSERT_GE(p.mass_scale[o], 0.5);
        ASSERT_LE(p.mass_scale[o], 2.0);
        ASSERT_GE(p.size_scale[o], 0.85);
        ASSERT_LE(p.size_scale[o], 1.15);
        const double dx = p.object_start[o].x() - nominal.object_start[o].x();
        ASSERT_LE(std::abs(dx), 0.06 + 1e-12);
        ASSERT_LE(std::abs(p.object_start[o].y() - nominal.object_start[o].y()), 0.06 + 1e-12);
        friction_bins[std::min(kBins - 1, static_cast<int>((p.friction[o] - 0.4) / 0.8 * kBins))]++;
        x_bins[std::min(kBins - 1, static_cast<int>((dx + 0.06) / 0.12 * kBins))]++;
      }
      ASSERT_LE(std::abs(p.table_height), 0.02);
      for (int k = 0; k < 7; ++k) ASSERT_LE(std::abs(p.start_joints[k] - nominal.start_joints[k]), 0.15 + 1e-12);
      ASSERT_GE(p.latency_steps, 0);
      ASSERT_LE(p.latency_steps, 2);
      latency[p.latency_steps]++;
    }
    const int per_object = n * static_cast<int>(nominal.friction.size());
    for (int b = 0; b < kBins; ++b) {
      // Uniform: each bin holds ~10%; allow a generous band.
      EXPECT_GT(friction_bins[b], per_object / kBins / 2) << task << " friction bin " << b;
      EXPECT_GT(x_bins[b], per_object / kBins / 2) << task << " x bin " << b;
    }
    for (int l = 0; l < 3; ++l) EXPECT_GT(latency[l], n / 6) << task << " latency " << l;
  }
}

TEST(PerturbationTest, SampledScenesBuildWorlds) {
  auto model = Model("bottle_place");
  const PerturbationSpec spec = LoadSpec(DefaultSpecPath("bottle_place"));
  for (uint64_t i = 0; i < 5; ++i) {
    sim::World world(model, SampleScene(*model, spec, 1, i));
    sim::Action a = sim::Action::Zero();
    a[6] = -1;
    for (int t = 0; t < 10; ++t) EXPECT_TRUE(world.Step(a).stable);
    // Objects rest on the (moved) table.
    const double h = world.ObjectSize(0).y();
    EXPECT_NEAR(world.ObjectPose(0).translation().z(), world.TableTop() + h / 2, 3e-3);
  }
}

TEST(PerturbationTest, VisualFieldsAreValidatedAndDrawnApart) {
  auto expect_error = [](const std::string& yaml, const std::string& needle) {
    try {
      ParseSpec(yaml, "v.yaml");
      ADD_FAILURE() << "accepted: " << yaml;
    } catch (const AugmentError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error("table_texture: {dist: choice, values: [flat, marble]}\n", "unknown texture 'marble'");
  // A name spanning lines (a plain scalar over blank lines; found by the fuzzer with its
  // planted-bug build) is quoted on one line.
  expect_error("table_texture: {dist: choice, values: [flat, noisuni\n\n\nker]}\n",
               "v.yaml: table_texture.values: unknown texture 'noisuni\\n\\nker' (known: ");
  expect_error("table_texture: {dist: uniform, min: 0, max: 2}\n", "table_texture: a texture field needs");
  expect_error("object_hue: {dist: choice, values: [flat]}\n", "only for texture fields");
  expect_error("ambient: {dist: uniform, min: 0.2, max: 1.5}\n", "ambient");
  expect_error("table_colour: {dist: uniform, min: 0, max: 1}\n", "table_colour: unknown field");
  expect_error("jpeg_quality: {dist: uniform, min: 50, max: 90}\n", "jpeg_quality");

  auto model = Model("cube_stack");
  const PerturbationSpec spec = LoadSpec(DefaultSpecPath("cube_stack"));
  ASSERT_TRUE(HasVisualFields(spec));
  // The shipped spec round-trips through its JSON (as stored in env_args).
  EXPECT_EQ(ParseSpec(spec.ToJson().dump(), "json").ToJson(), spec.ToJson());
  std::set<std::string> textures;
  double min_bright = 10, max_bright = 0;
  for (uint64_t i = 0; i < 200; ++i) {
    const sim::SceneParams p = SampleScene(*model, spec, 4, i);
    ASSERT_TRUE(p.appearance.has_value());
    sim::Validate(*p.appearance);
    textures.insert(sim::TextureName(p.appearance->look(sim::Surface::kTable).texture));
    const float b = p.appearance->look(sim::Surface::kTable).color.maxCoeff();
    min_bright = std::min<double>(min_bright, b);
    max_bright = std::max<double>(max_bright, b);
    // Same draws on a second call, and a JSON round trip keeps every value.
    EXPECT_EQ(sim::ToJson(SampleScene(*model, spec, 4, i)).dump(), sim::ToJson(p).dump());
    EXPECT_EQ(sim::ToJson(sim::SceneParamsFromJson(sim::ToJson(p))).dump(), sim::ToJson(p).dump());
  }
  EXPECT_EQ(textures.size(), 5u);
  EXPECT_LT(min_bright, 0.5);
  EXPECT_GT(max_bright, 0.65);
  // A file without an appearance reads back as nominal (empty), as files written before.
  nlohmann::json j = sim::ToJson(model->Nominal());
  EXPECT_FALSE(j.contains("appearance"));
  EXPECT_FALSE(sim::SceneParamsFromJson(j).appearance.has_value());
}

}  // namespace
}  // namespace dreamforge::augment
