#include "policy/policy.h"

#include <fstream>

namespace dreamforge::policy {

nlohmann::json ReadRunJson(const std::filesystem::path& run_dir) {
  const std::filesystem::path path = run_dir / "run.json";
  std::ifstream in(path);
  if (!in) throw PolicyError(path.string() + ": cannot open (is " + run_dir.string() + " a training run?)");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw PolicyError(path.string() + ": not valid JSON: " + e.what());
  }
}

namespace {

std::shared_ptr<Policy> Describe(const nlohmann::json& run, const std::string& where) {
  auto p = std::make_shared<Policy>();
  if (!run.is_object()) throw PolicyError(where + ": expected a JSON object");
  for (const char* field : {"model", "normalization", "env_args", "task"}) {
    if (!run.contains(field)) throw PolicyError(where + ": " + field + ": missing");
  }
  p->model = ModelConfig::FromJson(run.at("model"), where);
  try {
    p->normalizer = Normalizer::FromJson(run.at("normalization"));
  } catch (const std::invalid_argument& e) {
    throw PolicyError(where + ": " + e.what());
  }
  if (p->normalizer.ObsDim() != p->model.obs_dim) {
    throw PolicyError(where + ": model.obs_dim: " + std::to_string(p->model.obs_dim) +
                      " but the normalization's keys add up to " + std::to_string(p->normalizer.ObsDim()));
  }
  if (!run.at("task").is_string()) throw PolicyError(where + ": task: expected a string");
  p->task = run.at("task").get<std::string>();
  p->env_args = run.at("env_args");
  return p;
}

}  // namespace

std::shared_ptr<const Policy> Policy::Load(const std::filesystem::path& run_dir,
                                           const std::string& checkpoint) {
  const nlohmann::json run = ReadRunJson(run_dir);
  auto p = Describe(run, (run_dir / "run.json").string());
  std::filesystem::path file;
  if (checkpoint == "best") {
    file = run_dir / "best.pt";
  } else if (checkpoint == "last") {
    file = run_dir / "checkpoints" / "last.pt";
  } else {
    file = checkpoint;
  }
  if (!std::filesystem::exists(file)) {
    throw PolicyError(file.string() + ": no such checkpoint (has training finished an epoch?)");
  }
  p->net = Net(p->model);
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(file.string());
    torch::serialize::InputArchive model;
    if (archive.try_read("model", model)) {
      p->net->load(model);
    } else {
      p->net->load(archive);
    }
  } catch (const c10::Error& e) {
    throw PolicyError(file.string() + ": not a checkpoint of this model (" +
                      std::string(e.what_without_backtrace()).substr(0, 200) + ")");
  }
  p->net->eval();
  return p;
}

std::shared_ptr<const Policy> Policy::FromNet(const nlohmann::json& run, const Net& net) {
  auto p = Describe(run, "run.json");
  p->net = std::dynamic_pointer_cast<NetImpl>(net->clone(torch::kCPU));
  p->net->eval();
  return p;
}

PolicyRunner::PolicyRunner(std::shared_ptr<const Policy> policy, uint64_t noise_seed)
    : policy_(std::move(policy)),
      net_(std::dynamic_pointer_cast<NetImpl>(policy_->net->clone())),
      rng_(noise_seed) {
  net_->eval();
}

void PolicyRunner::Reset(uint64_t noise_seed) {
  rng_.seed(noise_seed);
  next_ = 0;
  chunk_.resize(0, 0);
  latch_.Reset();
}

Eigen::VectorXf PolicyRunner::Act(const std::map<std::string, Eigen::VectorXf>& obs) {
  const ModelConfig& m = policy_->model;
  if (chunk_.rows() == 0 || next_ >= m.execute) {
    torch::NoGradGuard no_grad;
    Eigen::VectorXf o = policy_->normalizer.NormalizeObs(obs);
    const torch::Tensor obs_t = torch::from_blob(o.data(), {1, o.size()}, torch::kFloat32);
    torch::Tensor noise = torch::zeros({1, m.OutputDim()}, torch::kFloat32);
    if (m.type == PolicyType::kFlow) {
      std::normal_distribution<float> normal(0.0f, 1.0f);
      float* n = noise.data_ptr<float>();
      for (int i = 0; i < m.OutputDim(); ++i) n[i] = normal(rng_);
    }
    const torch::Tensor out = PolicyPredict(net_, obs_t, noise).contiguous();
    const float* y = out.data_ptr<float>();
    chunk_.resize(m.horizon, 7);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    for (int h = 0; h < m.horizon; ++h) {
      const Eigen::VectorXf a = policy_->normalizer.DenormalizeAction(Eigen::Map<const Eigen::VectorXf>(y + 7 * h, 7));
      chunk_.row(h) = a.cwiseMax(-1.0f).cwiseMin(1.0f).transpose();
      if (m.gripper == GripperMode::kSign) {
        chunk_(h, 6) = chunk_(h, 6) > 0.0f ? 1.0f : -1.0f;
      } else if (m.gripper == GripperMode::kSample) {
        chunk_(h, 6) = uniform(rng_) < 0.5f * (chunk_(h, 6) + 1.0f) ? 1.0f : -1.0f;
      }
    }
    next_ = 0;
  }
  Eigen::VectorXf action = chunk_.row(next_++).transpose();
  if (m.gripper == GripperMode::kLatch) action[6] = latch_.Step(action[6], m.gripper_switch, m.gripper_hold);
  return action;
}

}  // namespace dreamforge::policy
