// Dream generation benchmark (reports, never fails):
//  1. generation cost against the raw physics cost of the same steps: the time inside
//     Bullet's step is measured for exactly the steps generation simulated, and a nominal
//     scene is stepped on its own for the same number of steps;
//  2. 2 workers against 1 on the same dreams.
// Usage: dreamforge_bench_dream [--task T] [--dreams N]. Prints a table and one JSON line.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "augment/generator.h"

using namespace dreamforge;

namespace {

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

augment::GeneratorSummary Generate(const augment::DreamSource& source, int dreams, int workers,
                                   const std::filesystem::path& dir) {
  augment::GeneratorOptions opt;
  opt.count = dreams;
  opt.workers = workers;
  opt.chunk = 16;
  const std::filesystem::path out = dir / ("bench_w" + std::to_string(workers) + ".hdf5");
  std::filesystem::remove(out);
  return augment::GenerateDreams(source, out.string(), opt);
}

}  // namespace

int main(int argc, char** argv) {
  std::string task = "bottle_place";
  int dreams = 40;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--task")) task = argv[i + 1];
    if (!std::strcmp(argv[i], "--dreams")) dreams = std::atoi(argv[i + 1]);
  }
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "dreamforge_bench";
  std::filesystem::create_directories(dir);
  auto model = std::make_shared<const sim::SceneModel>(task, sim::SceneModel::DefaultUrdf());
  const std::string demo = std::string(DF_SOURCE_DIR) + "/datasets/demos/" + task + ".hdf5";
  const augment::DreamSource source = augment::PrepareSource(
      model, demo, augment::LoadSpec(augment::DefaultSpecPath(task)), 0);

  const augment::GeneratorSummary one = Generate(source, dreams, 1, dir);
  const augment::GeneratorSummary two = Generate(source, dreams, 2, dir);

  // Raw physics of the nominal scene, the same number of steps, nothing else.
  sim::World world(model, model->Nominal());
  const long steps = static_cast<long>(one.physics_steps);
  const auto t0 = std::chrono::steady_clock::now();
  for (long s = 0; s < steps; ++s) world.bullet().Step();
  const double raw_nominal = Seconds(t0);

  const double in_loop_ratio = one.dream_seconds / one.physics_seconds;
  const double nominal_ratio = one.wall_seconds / raw_nominal;
  const double scaling = one.wall_seconds / two.wall_seconds;
  std::printf("dream generation benchmark, %s, %d dreams (%lld attempts, %.0f physics steps)\n",
              task.c_str(), dreams, static_cast<long long>(one.attempts), one.physics_steps);
  std::printf("  1 worker wall              %8.2f s  (%.1f us per physics step)\n", one.wall_seconds,
              1e6 * one.wall_seconds / one.physics_steps);
  std::printf("  physics inside generation  %8.2f s  -> generation / physics = %.2fx (target <= 1.4x)\n",
              one.physics_seconds, in_loop_ratio);
  std::printf("  raw nominal scene stepping %8.2f s  -> generation / raw     = %.2fx\n", raw_nominal,
              nominal_ratio);
  std::printf("  2 workers wall             %8.2f s  -> speed-up             = %.2fx (target >= 1.8x)\n",
              two.wall_seconds, scaling);
  nlohmann::json j = {{"task", task},
                      {"dreams", dreams},
                      {"physics_steps", one.physics_steps},
                      {"wall_1_worker_s", one.wall_seconds},
                      {"wall_2_workers_s", two.wall_seconds},
                      {"physics_in_generation_s", one.physics_seconds},
                      {"raw_nominal_physics_s", raw_nominal},
                      {"generation_over_physics", in_loop_ratio},
                      {"generation_over_raw_nominal", nominal_ratio},
                      {"two_worker_speedup", scaling}};
  std::printf("%s\n", j.dump().c_str());
  std::filesystem::remove_all(dir);
  return 0;
}
