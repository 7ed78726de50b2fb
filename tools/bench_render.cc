// Rendering benchmark (reports, never fails): time per frame per camera at 84x84 and
// 128x128 on the calling thread (one core), against the physics time of one control step
// of the same scene. `--dump DIR` also writes PNGs of the nominal and a perturbed scene
// for each camera, to look at.
// Usage: dreamforge_bench_render [--task T] [--frames N] [--dump DIR]. Prints a table and
// one JSON line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "augment/perturbation.h"
#include "render/frames.h"
#include "sim/world.h"

using namespace dreamforge;

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void Dump(const render::Image& img, const std::filesystem::path& path) {
  cv::Mat rgb(img.height, img.width, CV_8UC3, const_cast<uint8_t*>(img.rgb.data())), bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  cv::imwrite(path.string(), bgr);
}

}  // namespace

int main(int argc, char** argv) {
  std::string task = "bottle_place", dump;
  int frames = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--task")) task = argv[i + 1];
    if (!std::strcmp(argv[i], "--frames")) frames = std::max(10, std::atoi(argv[i + 1]));
    if (!std::strcmp(argv[i], "--dump")) dump = argv[i + 1];
  }
  auto model = std::make_shared<const sim::SceneModel>(task, sim::SceneModel::DefaultUrdf());
  auto visual = std::make_shared<const render::VisualModel>(model);
  const augment::PerturbationSpec spec = augment::LoadSpec(augment::DefaultSpecPath(task));
  const sim::SceneParams params = augment::SampleScene(*model, spec, 0, 1);
  sim::World world(model, params);
  sim::Action a = sim::Action::Zero();
  a << 0.3, 0.1, -0.4, 0.0, 0.0, 0.2, -1.0;

  // Physics: one control step of this scene, median over `frames` steps (in batches of 5).
  std::vector<double> physics;
  for (int i = 0; i < frames / 5; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < 5; ++k) world.Step((i / 8) % 2 ? sim::Action(-a) : a);
    physics.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 5);
  }
  const Eigen::VectorXd state = world.GetState();
  std::printf("%-20s %6s %12s %12s\n", "camera", "size", "ms/frame", "x physics");
  nlohmann::json out = {{"task", task}, {"physics_step_ms", 1e3 * Median(physics)}, {"frames", frames}};
  for (int size : {84, 128}) {
    render::FrameRenderer fr(visual, render::DefaultCameras(size));
    if (size == 84) {
      std::printf("# GL renderer: %s; %d triangles\n", fr.renderer().gl_renderer().c_str(), visual->num_triangles());
      out["gl_renderer"] = fr.renderer().gl_renderer();
      out["triangles"] = visual->num_triangles();
    }
    for (int k = 0; k < static_cast<int>(fr.cameras().size()); ++k) {
      render::Image img;
      fr.RenderState(params, state, 0, k, &img);  // warm up (shader compile, framebuffer)
      std::vector<double> t;
      for (int i = 0; i < frames / 5; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int j = 0; j < 5; ++j) fr.RenderState(params, state, i * 5 + j, k, &img);
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 5);
      }
      const double ms = 1e3 * Median(t);
      std::printf("%-20s %6d %12.3f %12.2f\n", fr.cameras()[k].name.c_str(), size, ms, ms / (1e3 * Median(physics)));
      out[fr.cameras()[k].name + "_" + std::to_string(size) + "_ms"] = ms;
      if (!dump.empty()) {
        std::filesystem::create_directories(dump);
        Dump(img, std::filesystem::path(dump) / (task + "_" + fr.cameras()[k].name + "_" + std::to_string(size) + ".png"));
        sim::World nominal(model, model->Nominal());
        fr.RenderState(model->Nominal(), nominal.GetState(), 0, k, &img);
        Dump(img, std::filesystem::path(dump) / (task + "_nominal_" + fr.cameras()[k].name + "_" + std::to_string(size) + ".png"));
      }
    }
  }
  std::printf("physics: %.3f ms per control step\n", 1e3 * Median(physics));
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
