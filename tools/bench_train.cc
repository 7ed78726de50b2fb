// Training throughput benchmark, LibTorch side (reports, never fails). The same step as
// policy/trainer.cc (index_select of a minibatch from in-memory tensors, forward, MSE,
// backward, global-norm clipping, Adam) on synthetic data; tools/bench_train.py runs the
// identical model, batch and optimizer in Python PyTorch, and tools/bench_train.sh prints
// the ratio.
// Usage: dreamforge_bench_train [--policy mlp|flow] [--batch B] [--steps N] [--threads T]
// Prints one JSON line: {"impl": "libtorch", "policy", "batch", "threads", "samples_per_s"}.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/model.h"

using namespace dreamforge;

int main(int argc, char** argv) {
  std::string type = "mlp";
  int batch = 256, steps = 300, threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int obs_dim = 18;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--policy") type = argv[i + 1];
    else if (flag == "--batch") batch = std::atoi(argv[i + 1]);
    else if (flag == "--steps") steps = std::atoi(argv[i + 1]);
    else if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    else if (flag == "--obs-dim") obs_dim = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "dreamforge_bench_train: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  const policy::ModelConfig config = policy::ModelConfig::Default(policy::ParsePolicyType(type), obs_dim);
  policy::Net net(config);
  torch::optim::Adam optimizer(net->parameters(), torch::optim::AdamOptions(1e-3));
  const int64_t n = 65536;
  const torch::Tensor obs = torch::randn({n, obs_dim});
  const torch::Tensor target = torch::randn({n, config.OutputDim()});
  auto step = [&] {
    const torch::Tensor idx = torch::randint(n, {batch}, torch::kInt64);
    const torch::Tensor o = obs.index_select(0, idx), y = target.index_select(0, idx);
    torch::Tensor noise, t;
    if (config.type == policy::PolicyType::kFlow) {
      noise = torch::randn({batch, config.OutputDim()});
      t = torch::rand({batch});
    }
    optimizer.zero_grad();
    const torch::Tensor loss = policy::PolicyLoss(net, o, y, noise, t);
    loss.backward();
    torch::nn::utils::clip_grad_norm_(net->parameters(), 1.0);
    optimizer.step();
    return loss.item<double>();  // item() waits for the step, as the trainer's loss sum does
  };
  for (int i = 0; i < 20; ++i) step();  // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const nlohmann::json j = {{"impl", "libtorch"}, {"policy", type}, {"batch", batch}, {"threads", threads},
                            {"steps", steps}, {"samples_per_s", batch * steps / s}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}
