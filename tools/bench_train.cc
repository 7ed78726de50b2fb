// Training throughput benchmark, LibTorch side (reports, never fails). The same step as
// policy/trainer.cc (index_select of a minibatch from in-memory tensors, forward, MSE,
// backward, global-norm clipping, Adam) on synthetic data; tools/bench_train.py runs the
// identical model, batch and optimizer in Python PyTorch, and tools/bench_train.sh prints
// the ratio.
// Usage: dreamforge_bench_train [--policy mlp|flow] [--batch B] [--steps N] [--threads T]
// Prints one JSON line: {"impl": "libtorch", "policy", "batch", "threads", "samples_per_s"}.
// With --encoder groupnorm|plain it times instead one training step of the image encoder
// (policy/image_encoder.h, 84x84 uint8 images, with or without GroupNorm): index_select of
// a minibatch from 1,024 random images, forward in training mode (random crops), loss
// mean(features^2), backward, Adam. It prints a line and a JSON line with the median and
// p99 step time divided by the batch ("ms_per_image") and samples_per_s.
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/image_encoder.h"
#include "policy/model.h"

using namespace dreamforge;

namespace {

int BenchEncoder(bool group_norm, int batch, int steps, int threads) {
  policy::ImageEncoderConfig config;
  config.group_norm = group_norm;
  policy::ImageEncoder encoder(config);
  encoder->train();
  torch::optim::Adam optimizer(encoder->parameters(), torch::optim::AdamOptions(1e-4));
  torch::Generator gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const int64_t n = 1024, side = config.image_size;
  const torch::Tensor images = torch::randint(0, 256, {n, side, side, 3}, gen, torch::kLong).to(torch::kByte);
  auto step = [&] {
    const torch::Tensor idx = torch::randint(n, {batch}, gen, torch::kInt64);
    optimizer.zero_grad();
    const torch::Tensor loss = encoder->forward(images.index_select(0, idx), gen).pow(2).mean();
    loss.backward();
    optimizer.step();
    return loss.item<double>();
  };
  for (int i = 0; i < 5; ++i) step();  // warm-up
  std::vector<double> ms(steps);
  double total_s = 0;
  for (int i = 0; i < steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    total_s += s;
    ms[i] = 1e3 * s / batch;
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[steps / 2], p99 = ms[std::min(steps - 1, static_cast<int>(0.99 * steps))];
  const char* name = group_norm ? "groupnorm" : "plain";
  std::printf("image encoder %s, %dx%d, batch %d, %d thread(s), %d steps: forward + backward + Adam "
              "%.3f ms per image (p99 %.3f)\n",
              name, config.image_size, config.image_size, batch, threads, steps, median, p99);
  const nlohmann::json j = {{"impl", "libtorch"}, {"encoder", name}, {"image_size", config.image_size},
                            {"batch", batch}, {"threads", threads}, {"steps", steps},
                            {"ms_per_image", {{"median", median}, {"p99", p99}}},
                            {"samples_per_s", batch * steps / total_s}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string type = "mlp", encoder;
  int batch = 256, steps = 300, threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int obs_dim = 18;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--policy") type = argv[i + 1];
    else if (flag == "--batch") batch = std::atoi(argv[i + 1]);
    else if (flag == "--steps") steps = std::atoi(argv[i + 1]);
    else if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    else if (flag == "--obs-dim") obs_dim = std::atoi(argv[i + 1]);
    else if (flag == "--encoder") encoder = argv[i + 1];
    else {
      std::fprintf(stderr, "dreamforge_bench_train: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  if (!encoder.empty()) {
    if (encoder != "groupnorm" && encoder != "plain") {
      std::fprintf(stderr, "dreamforge_bench_train: --encoder takes groupnorm or plain, not %s\n", encoder.c_str());
      return 2;
    }
    return BenchEncoder(encoder == "groupnorm", batch, std::max(1, steps), threads);
  }
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
