#include "policy/policy.h"

#include <torch/version.h>

#include <algorithm>
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
  p->model = ModelFromRunJson(run.at("model"), where);
  try {
    p->normalizer = Normalizer::FromJson(run.at("normalization"));
  } catch (const std::invalid_argument& e) {
    throw PolicyError(where + ": " + e.what());
  }
  if (p->normalizer.ObsDim() != p->model.obs_dim) {
    throw PolicyError(where + ": model.obs_dim: " + std::to_string(p->model.obs_dim) +
                      " but the normalization's keys add up to " + std::to_string(p->normalizer.ObsDim()));
  }
  if (run.contains("images")) p->images = ImageInputsFromJson(run.at("images"), where);
  if (!run.at("task").is_string()) throw PolicyError(where + ": task: expected a string");
  p->task = run.at("task").get<std::string>();
  p->env_args = run.at("env_args");
  return p;
}

std::string Shape(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

std::string LibTorchVersion() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

void CheckCheckpointVersion(const nlohmann::json& run, const std::filesystem::path& file) {
  const nlohmann::json v = run.value("libtorch", nlohmann::json());
  if (!v.is_string()) return;
  const std::string written = v.get<std::string>();
  if (written.substr(0, written.find('.')) != std::to_string(TORCH_VERSION_MAJOR)) {
    throw PolicyError(file.string() + ": written by LibTorch " + written + " (run.json libtorch), but this dreamforge links LibTorch " +
                      LibTorchVersion() +
                      ": checkpoint archives do not load across major versions; export the run with the "
                      "LibTorch that trained it (a bundle is version- and device-independent) or train again");
  }
}

void LoadCheckpointWeights(Net& net, torch::serialize::InputArchive& archive, const std::filesystem::path& file,
                           const std::string& where) {
  // LibTorch's load replaces a parameter with the stored tensor, shape and all, so without
  // this check a run.json edited to another width would run with the checkpoint's widths.
  std::map<std::string, std::vector<int64_t>> expected;
  for (const auto& p : net->named_parameters()) expected[p.key()] = p.value().sizes().vec();
  torch::serialize::InputArchive model;
  if (archive.try_read("model", model)) {
    net->load(model);
  } else {
    net->load(archive);
  }
  for (const auto& p : net->named_parameters()) {
    const std::vector<int64_t> got = p.value().sizes().vec();
    const auto it = expected.find(p.key());
    if (it != expected.end() && got != it->second) {
      std::string hidden;
      for (int w : net->config().hidden) hidden += (hidden.empty() ? "" : ", ") + std::to_string(w);
      throw PolicyError(file.string() + ": " + p.key() + ": shape " + Shape(got) + ", but " + where +
                        " model (hidden [" + hidden + "]) needs " + Shape(it->second) +
                        " (run.json edited, or a checkpoint of another run)");
    }
  }
}

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
  p->net = Net(p->model, p->images);
  CheckCheckpointVersion(run, file);
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(file.string());
    LoadCheckpointWeights(p->net, archive, file, (run_dir / "run.json").string());
  } catch (const c10::Error& e) {
    const std::string written = run.value("libtorch", std::string("?"));
    throw PolicyError(file.string() + ": not a checkpoint of this model (" +
                      std::string(e.what_without_backtrace()).substr(0, 200) + ")" +
                      (written != LibTorchVersion() ? "; written by LibTorch " + written + ", read by " + LibTorchVersion()
                                                    : std::string()));
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

TorchPredictor::TorchPredictor(const Policy& policy)
    : net_(std::dynamic_pointer_cast<NetImpl>(policy.net->clone(torch::kCPU))),
      obs_dim_(policy.model.obs_dim),
      chunk_(policy.model.OutputDim()) {
  net_->eval();
  for (const ImageInput& in : policy.images) {
    const int n = in.encoder.image_size;
    images_.push_back(torch::zeros({1, n, n, robot::kImageChannels}, torch::kUInt8));
  }
}

bool TorchPredictor::training() const {
  if (net_->is_training()) return true;
  for (const auto& m : net_->modules(/*include_self=*/false)) {
    if (m->is_training()) return true;
  }
  return false;
}

void TorchPredictor::SetImages(const std::vector<const uint8_t*>& frames) {
  if (frames.size() != images_.size()) {
    throw PolicyError("policy: " + std::to_string(frames.size()) +
                      " camera frames given, the policy reads " + std::to_string(images_.size()));
  }
  for (size_t k = 0; k < frames.size(); ++k) {
    std::copy(frames[k], frames[k] + images_[k].numel(), images_[k].data_ptr<uint8_t>());
  }
  have_images_ = true;
}

void TorchPredictor::Predict(const float* normalized_obs, const float* noise, float* chunk) {
  torch::NoGradGuard no_grad;
  if (!images_.empty() && !have_images_) {
    throw PolicyError(
        "policy: an image policy was asked to act before any camera frame was given (SetImages)");
  }
  const torch::Tensor obs =
      torch::from_blob(const_cast<float*>(normalized_obs), {1, obs_dim_}, torch::kFloat32);
  const torch::Tensor x0 =
      noise ? torch::from_blob(const_cast<float*>(noise), {1, chunk_}, torch::kFloat32)
            : torch::zeros({1, chunk_}, torch::kFloat32);
  const torch::Tensor cond = net_->Condition(obs, net_->CropImages(images_));  // eval: centre crops
  last_images_.clear();
  for (const torch::Tensor& im : images_) last_images_.push_back(im.clone());
  const torch::Tensor out = PolicyPredict(net_, cond, x0).contiguous();
  std::copy(out.data_ptr<float>(), out.data_ptr<float>() + chunk_, chunk);
}

std::vector<float> FlatObservation(const Policy& policy, const std::map<std::string, Eigen::VectorXf>& obs) {
  std::vector<float> flat;
  flat.reserve(policy.model.obs_dim);
  for (const std::string& key : policy.normalizer.obs_keys) {
    const int width = policy.normalizer.obs.at(key).dim();
    const auto it = obs.find(key);
    if (it == obs.end()) throw std::invalid_argument("observation: missing obs key '" + key + "'");
    if (it->second.size() != width) {
      throw std::invalid_argument("observation: obs key '" + key + "': expected width " + std::to_string(width) +
                                  ", got " + std::to_string(it->second.size()));
    }
    flat.insert(flat.end(), it->second.data(), it->second.data() + width);
  }
  return flat;
}

robot::Normalization RuntimeNormalization(const Normalizer& n) {
  const auto vec = [](const Eigen::VectorXd& v) { return std::vector<double>(v.data(), v.data() + v.size()); };
  const auto stats = [&](const FeatureStats& s) {
    return robot::FeatureStats{vec(s.mean), vec(s.std), vec(s.min), vec(s.max)};
  };
  robot::Normalization out;
  for (const std::string& key : n.obs_keys) out.obs.push_back(stats(n.obs.at(key)));
  out.action = stats(n.action);
  return out;
}

std::unique_ptr<robot::PolicyRunner> MakeRunner(const Policy& policy, uint64_t seed,
                                                TorchPredictor** predictor) {
  auto torch_predictor = std::make_unique<TorchPredictor>(policy);
  if (predictor) *predictor = torch_predictor.get();
  return std::make_unique<robot::PolicyRunner>(
      policy.model, RuntimeNormalization(policy.normalizer), std::move(torch_predictor), seed);
}

ModelConfig ModelFromRunJson(const nlohmann::json& json, const std::string& where) {
  nlohmann::json j = json;
  if (j.is_object()) {
    const ModelConfig defaults;
    if (!j.contains("gripper_switch")) j["gripper_switch"] = defaults.gripper_switch;
    if (!j.contains("gripper_hold")) j["gripper_hold"] = defaults.gripper_hold;
    if (!j.contains("time_features") && j.value("type", "") == "flow") j["time_features"] = kTimeFeatures;
    if (!j.contains("time_features")) j["time_features"] = 0;
  }
  try {
    return ModelConfig::FromJson(j, where);
  } catch (const robot::BundleError& e) {
    throw PolicyError(e.what());
  }
}

}  // namespace dreamforge::policy
