// Dream generation benchmark (reports, never fails). For each physics setting (physics
// rate / substeps per control step / solver iterations; the settings before the current
// default and the default itself unless --settings names others), on the same seed:
//  1. kept dreams per second with 2 workers, and 2 workers against 1;
//  2. generation cost against the raw physics of the same steps: the time inside Bullet's
//     step is measured for exactly the steps generation simulated, and a nominal scene is
//     stepped on its own for the same number of steps;
//  3. physics time per dream phase (reach, grasp, carry, place, retract, hold);
//  4. the checks a faster setting must pass: generation success rate, the object's slide
//     over the table while the gripper closes and its final distance from the target
//     (median / 90th / 99th percentile over the kept dreams), every kept dream replayed
//     from its stored first state and actions to success in the same number of steps, and
//     the 1- and 2-worker files equal byte for byte.
// Usage: dreamforge_bench_dream [--task T] [--dreams N] [--settings HZ/SUB/IT,...]
// Prints a table per setting and one JSON line.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "augment/evaluate.h"
#include "augment/generator.h"
#include "datasets/episode_store.h"

using namespace dreamforge;

namespace {

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string Name(const sim::PhysicsOptions& p) {
  char s[64];
  std::snprintf(s, sizeof s, "%g/%d/%d", p.physics_hz, p.substeps, p.solver_iterations);
  return s;
}

sim::PhysicsOptions ParseSetting(const std::string& text) {
  sim::PhysicsOptions p;
  char extra = 0;
  if (std::sscanf(text.c_str(), "%lf/%d/%d%c", &p.physics_hz, &p.substeps, &p.solver_iterations,
                  &extra) != 3 ||
      !(p.physics_hz > 0) || p.substeps < 1 || p.solver_iterations < 1) {
    std::fprintf(stderr, "--settings: '%s' is not HZ/SUBSTEPS/ITERATIONS, e.g. 240/12/50\n", text.c_str());
    std::exit(2);
  }
  return p;
}

augment::GeneratorSummary Generate(const augment::DreamSource& source, int dreams, int workers,
                                   const std::filesystem::path& out) {
  augment::GeneratorOptions opt;
  opt.count = dreams;
  opt.workers = workers;
  opt.chunk = 16;
  std::filesystem::remove(out);
  return augment::GenerateDreams(source, out.string(), opt);
}

bool SameBytes(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  return fa && fb &&
         std::equal(std::istreambuf_iterator<char>(fa), std::istreambuf_iterator<char>(),
                    std::istreambuf_iterator<char>(fb), std::istreambuf_iterator<char>());
}

// Median, 90th and 99th percentile (nearest rank) in mm; NaNs left out.
nlohmann::json Percentiles(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  if (v.empty()) return nullptr;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const size_t k = static_cast<size_t>(std::ceil(q * v.size()));
    return 1000.0 * v[std::min(v.size() - 1, k == 0 ? 0 : k - 1)];
  };
  return {at(0.5), at(0.9), at(0.99)};
}

std::string Mm(const nlohmann::json& p) {
  if (p.is_null()) return "n/a";
  char s[64];
  std::snprintf(s, sizeof s, "%.1f / %.1f / %.1f mm", p[0].get<double>(), p[1].get<double>(),
                p[2].get<double>());
  return s;
}

const char* const kPhases[] = {"reach", "grasp", "carry", "place", "retract", "hold"};

nlohmann::json Measure(const std::string& task, const sim::PhysicsOptions& physics, int dreams,
                       const std::filesystem::path& dir) {
  auto model = std::make_shared<const sim::SceneModel>(task, sim::SceneModel::DefaultUrdf(), physics);
  const std::string demo = std::string(DF_SOURCE_DIR) + "/datasets/demos/" + task + ".hdf5";
  const augment::DreamSource source = augment::PrepareSource(
      model, demo, augment::LoadSpec(augment::DefaultSpecPath(task)), 0);
  const std::filesystem::path f1 = dir / "w1.hdf5", f2 = dir / "w2.hdf5";
  std::printf("\n%s, physics %s (Hz / substeps per control step / solver iterations)\n", task.c_str(),
              Name(physics).c_str());
  std::fflush(stdout);
  const augment::GeneratorSummary two = Generate(source, dreams, 2, f2);
  const augment::GeneratorSummary one = Generate(source, dreams, 1, f1);

  // Raw physics of the nominal scene, the same number of steps, nothing else.
  sim::World world(model, model->Nominal());
  const long steps = static_cast<long>(one.physics_steps);
  const auto t0 = std::chrono::steady_clock::now();
  for (long s = 0; s < steps; ++s) world.bullet().Step();
  const double raw_nominal = Seconds(t0);

  // The checks, over every kept dream.
  datasets::EpisodeReader reader(f2);
  const std::string object = model->task().objects()[0].name;
  std::vector<double> slide, place;
  int replayed = 0;
  for (int d = 0; d < reader.num_episodes(); ++d) {
    const datasets::Episode ep = reader.ReadEpisode(d);
    const augment::GraspPlaceMeasure m = augment::MeasureGraspAndPlace(ep, object);
    slide.push_back(m.slide);
    place.push_back(m.place_error);
    sim::World w(model, sim::SceneParamsFromJson(ep.perturbation));
    sim::ReplayController replay(ep.actions);
    sim::RolloutOptions options;
    options.success_after_finish = true;
    const sim::RolloutResult r = sim::Rollout(w, replay, options);
    if (r.outcome == sim::Outcome::kSuccess && r.steps == ep.num_samples()) ++replayed;
  }
  const bool same_bytes = SameBytes(f1, f2);

  const double kept_per_s = two.kept / two.wall_seconds;
  const double rate = static_cast<double>(two.kept) / two.attempts;
  nlohmann::json phases = nlohmann::json::object();
  double phase_total = 0;
  for (const auto& [k, v] : one.phase_seconds) phase_total += v;
  std::printf("  2 workers: %.2f kept/s (%lld kept of %lld attempts, %.1f%%), %.2f s; 1 worker %.2f s "
              "-> 2 workers %.2fx faster\n",
              kept_per_s, static_cast<long long>(two.kept), static_cast<long long>(two.attempts),
              100.0 * rate, two.wall_seconds, one.wall_seconds, one.wall_seconds / two.wall_seconds);
  std::printf("  1 worker: generation / Bullet time of its steps %.2fx; / raw nominal stepping %.2fx; "
              "%.1f us per physics step\n",
              one.dream_seconds / one.physics_seconds, one.wall_seconds / raw_nominal,
              1e6 * one.wall_seconds / one.physics_steps);
  std::printf("  physics per phase (1 worker): ");
  for (const char* p : kPhases) {
    const auto it = one.phase_seconds.find(p);
    if (it == one.phase_seconds.end()) continue;
    const int64_t n = one.phase_steps.at(p);
    phases[p] = {{"seconds", it->second},
                 {"control_steps", n},
                 {"share", it->second / phase_total},
                 {"ms_per_control_step", 1e3 * it->second / n}};
    std::printf("%s %.0f%% (%.2f ms/step)  ", p, 100.0 * it->second / phase_total, 1e3 * it->second / n);
  }
  std::printf("\n");
  const nlohmann::json slide_p = Percentiles(slide), place_p = Percentiles(place);
  std::printf("  checks: success %.1f%%; slide while closing %s; distance from target %s;\n"
              "          replayed to success from the stored state %d/%d; 1- and 2-worker files %s\n",
              100.0 * rate, Mm(slide_p).c_str(), Mm(place_p).c_str(), replayed, reader.num_episodes(),
              same_bytes ? "equal" : "DIFFER");
  std::fflush(stdout);
  nlohmann::json failures = nlohmann::json::object();
  for (const auto& [k, v] : two.failures) failures[k] = v;
  return {{"physics", Name(physics)},
          {"kept", two.kept},
          {"attempts", two.attempts},
          {"failures", failures},
          {"success_rate", rate},
          {"kept_per_second_2_workers", kept_per_s},
          {"wall_1_worker_s", one.wall_seconds},
          {"wall_2_workers_s", two.wall_seconds},
          {"two_worker_speedup", one.wall_seconds / two.wall_seconds},
          {"physics_steps", one.physics_steps},
          {"generation_over_physics", one.dream_seconds / one.physics_seconds},
          {"generation_over_raw_nominal", one.wall_seconds / raw_nominal},
          {"physics_by_phase", phases},
          {"slide_mm_p50_p90_p99", slide_p},
          {"place_error_mm_p50_p90_p99", place_p},
          {"replayed", replayed},
          {"same_bytes_1_vs_2_workers", same_bytes}};
}

}  // namespace

int main(int argc, char** argv) {
  std::string task = "bottle_place";
  int dreams = 100;
  // Before the change (the settings every earlier measurement used) and today's default.
  std::vector<sim::PhysicsOptions> settings = {ParseSetting("240/12/50"), sim::PhysicsOptions{}};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--task")) task = argv[i + 1];
    if (!std::strcmp(argv[i], "--dreams")) dreams = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--settings")) {
      settings.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string item; std::getline(list, item, ',');) settings.push_back(ParseSetting(item));
    }
  }
  if (settings.size() == 2 && Name(settings[0]) == Name(settings[1])) settings.pop_back();
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("dreamforge_bench_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::printf("dream generation benchmark, %s, %d dreams per setting, seed 0\n", task.c_str(), dreams);
  nlohmann::json rows = nlohmann::json::array();
  for (const sim::PhysicsOptions& p : settings) rows.push_back(Measure(task, p, dreams, dir));
  std::printf("%s\n", nlohmann::json({{"task", task}, {"dreams", dreams}, {"settings", rows}}).dump().c_str());
  std::filesystem::remove_all(dir);
  return 0;
}
