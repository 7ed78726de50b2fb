// Per-step inference latency at batch 1 (reports, never fails): the native Eigen runtime of
// robot/ (what the board runs) against LibTorch eager and the TorchScript file, on the same
// trained policy and the same inputs. Median and p99 over --calls calls after a warm-up,
// one thread.
// Usage: dreamforge_bench_infer --run RUN_DIR --bundle BUNDLE_DIR [--calls N]
// (the bundle exported from the run: dreamforge export --policy RUN_DIR --out BUNDLE_DIR).
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/export.h"
#include "robot/bundle.h"
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

}  // namespace

int main(int argc, char** argv) {
  std::string run, bundle_dir;
  int calls = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--run")) run = argv[i + 1];
    else if (!std::strcmp(argv[i], "--bundle")) bundle_dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--calls")) calls = std::max(100, std::atoi(argv[i + 1]));
  }
  if (run.empty() || bundle_dir.empty()) {
    std::fprintf(stderr, "usage: dreamforge_bench_infer --run RUN_DIR --bundle BUNDLE_DIR [--calls N]\n");
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
