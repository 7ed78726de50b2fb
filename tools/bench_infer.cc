// Per-step inference latency at batch 1 (reports, never fails): the native Eigen runtime of
// robot/ (what the board runs) against LibTorch eager and the TorchScript file, on the same
// trained policy and the same inputs. Median and p99 over --calls calls after a warm-up,
// one thread.
// Usage: dreamforge_bench_infer --run RUN_DIR --bundle BUNDLE_DIR [--calls N]
// (the bundle exported from the run: dreamforge export --policy RUN_DIR --out BUNDLE_DIR).
//        dreamforge_bench_infer --encoder [--calls N]
// times instead the native image encoder (robot/image_encoder.h, default config: 84x84,
// GroupNorm) on two cameras, random weights and images: one call encodes both.
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/export.h"
#include "robot/bundle.h"
#include "robot/image_encoder.h"
#include "robot/policy_runtime.h"

using namespace dreamforge;

namespace {

struct Timing {
  double median_us = 0, p99_us = 0;
};

template <typename F>
Timing Measure(int calls, F&& f) {
  for (int i = 0; i < calls / 10 + 10; ++i) f();
  std::vector<double> t(calls);
  for (int i = 0; i < calls; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t[i] = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  }
  std::sort(t.begin(), t.end());
  return {t[calls / 2], t[std::min(calls - 1, static_cast<int>(0.99 * calls))]};
}

// Native image encoder, two cameras at batch 1: weights uniform in [-0.1, 0.1]
// (temperature 1) and uint8 images, all drawn from `rng`.
int BenchEncoder(int calls, std::mt19937& rng) {
  const robot::ImageEncoderConfig config;
  constexpr int kCameras = 2;
  std::uniform_real_distribution<float> uniform(-0.1f, 0.1f);
  std::vector<std::unique_ptr<robot::ImageEncoder>> cameras;
  std::vector<std::vector<std::uint8_t>> images(kCameras);
  for (int cam = 0; cam < kCameras; ++cam) {
    std::map<std::string, robot::FloatTensor> tensors;
    for (const auto& [name, shape] : robot::ImageEncoderTensorShapes(config)) {
      robot::FloatTensor& t = tensors[name];
      t.shape = shape;
      int64_t n = 1;
      for (const int64_t d : shape) n *= d;
      for (int64_t i = 0; i < n; ++i) t.values.push_back(name == "temperature" ? 1.0f : uniform(rng));
    }
    cameras.push_back(std::make_unique<robot::ImageEncoder>(std::make_shared<const robot::ImageEncoderWeights>(
        robot::ImageEncoderWeights::FromTensors(config, tensors, "", "bench"))));
    images[cam].resize(config.image_size * config.image_size * robot::kImageChannels);
    for (auto& v : images[cam]) v = static_cast<std::uint8_t>(rng() & 255);
  }
  std::vector<float> features(kCameras * config.feature_dim);
  const Timing t = Measure(calls, [&] {
    for (int cam = 0; cam < kCameras; ++cam)
      cameras[cam]->Encode(images[cam].data(), features.data() + cam * config.feature_dim);
  });
  std::printf("image encoder, %d %dx%d cameras, batch 1, %d calls: native %.1f us (p99 %.1f)\n", kCameras,
              config.image_size, config.image_size, calls, t.median_us, t.p99_us);
  const nlohmann::json j = {{"bench", "infer_image_encoder"}, {"cameras", kCameras},
                            {"image_size", config.image_size}, {"group_norm", config.group_norm},
                            {"calls", calls}, {"native_us", {{"median", t.median_us}, {"p99", t.p99_us}}}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string run, bundle_dir;
  int calls = 2000;
  bool encoder = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--encoder")) encoder = true;
    else if (i + 1 == argc) break;
    else if (!std::strcmp(argv[i], "--run")) run = argv[++i];
    else if (!std::strcmp(argv[i], "--bundle")) bundle_dir = argv[++i];
    else if (!std::strcmp(argv[i], "--calls")) calls = std::max(100, std::atoi(argv[++i]));
  }
  if (encoder) {
    std::mt19937 rng(1);
    return BenchEncoder(calls, rng);
  }
  if (run.empty() || bundle_dir.empty()) {
    std::fprintf(stderr, "usage: dreamforge_bench_infer --run RUN_DIR --bundle BUNDLE_DIR [--calls N]\n"
                         "       dreamforge_bench_infer --encoder [--calls N]\n");
    return 2;
  }
  torch::set_num_threads(1);
  torch::NoGradGuard no_grad;
  const auto policy = policy::Policy::Load(run);
  auto bundle = std::make_shared<const robot::Bundle>(robot::LoadBundle(bundle_dir));
  robot::PolicyRuntime runtime(bundle);
  const int d = policy->model.obs_dim, width = policy->model.OutputDim();
  const bool flow = policy->model.type == policy::PolicyType::kFlow;
  torch::manual_seed(0);
  const torch::Tensor z = torch::randn({1, d}), noise = torch::randn({1, width});
  std::vector<float> out(width);

  const Timing native = Measure(calls, [&] { runtime.Predict(z.data_ptr<float>(), noise.data_ptr<float>(), out.data()); });
  policy::Net net = std::dynamic_pointer_cast<policy::NetImpl>(policy->net->clone());
  const Timing eager = Measure(calls, [&] { policy::PolicyPredict(net, z, noise); });
  torch::jit::Module ts = torch::jit::load(bundle_dir + "/policy.ts");
  ts.eval();
  std::vector<torch::jit::IValue> in = {z};
  if (flow) in.push_back(noise);
  const Timing script = Measure(calls, [&] { ts.forward(in); });

  const std::string type = policy::ToString(policy->model.type);
  std::printf("%-4s batch 1, %d calls: native %.1f us (p99 %.1f), LibTorch eager %.1f us (p99 %.1f), "
              "TorchScript %.1f us (p99 %.1f); native %.1fx faster than eager\n",
              type.c_str(), calls, native.median_us, native.p99_us, eager.median_us, eager.p99_us,
              script.median_us, script.p99_us, eager.median_us / native.median_us);
  const nlohmann::json j = {{"bench", "infer"}, {"policy", type}, {"calls", calls},
                            {"native_us", {{"median", native.median_us}, {"p99", native.p99_us}}},
                            {"libtorch_eager_us", {{"median", eager.median_us}, {"p99", eager.p99_us}}},
                            {"torchscript_us", {{"median", script.median_us}, {"p99", script.p99_us}}}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}
