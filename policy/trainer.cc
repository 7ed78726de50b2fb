#include "policy/trainer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace dreamforge::policy {

namespace fs = std::filesystem;

namespace {

constexpr char kRunFormat[] = "dreamforge-run/1";
constexpr uint64_t kValidSalt = 0x76616c6964ULL;  // "valid"
constexpr uint64_t kStepSalt = 0x73746570ULL;     // "step"
constexpr uint64_t kCropSalt = 0x63726f70ULL;     // "crop"
constexpr int64_t kValidBatch = 4096;
constexpr int64_t kValidImageBatch = 256;  // image policies: activations grow with the batch

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t Mix(uint64_t a, uint64_t b) { return SplitMix(SplitMix(a) ^ b); }

torch::Generator MakeGenerator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

// A failed write of `path`: removes its .tmp and throws (a runtime failure, not bad input)
// naming the path and the reason.
[[noreturn]] void WriteFailed(const fs::path& path, const fs::path& tmp, const std::string& reason) {
  std::error_code ec;
  fs::remove(tmp, ec);
  throw std::runtime_error(path.string() + ": cannot write (" + reason + ")");
}

// Syncs the closed file `tmp` and renames it to `path`.
void Commit(const fs::path& tmp, const fs::path& path) {
  const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  bool ok = fd >= 0 && ::fsync(fd) == 0;
  const int err = errno;
  if (fd >= 0) ::close(fd);
  if (!ok) WriteFailed(path, tmp, std::strerror(err));
  if (::rename(tmp.c_str(), path.c_str()) != 0) WriteFailed(path, tmp, std::strerror(errno));
}

// Writes `content` to `path` through a .tmp file, fsync and a rename: never half-written.
void WriteFileAtomic(const fs::path& path, const std::string& content) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) WriteFailed(path, tmp, std::strerror(errno));
  }
  Commit(tmp, path);
}

// The archive is serialized in memory and written by WriteFileAtomic: LibTorch's own file
// writer aborts the process (an exception from a destructor) when a write fails.
void SaveArchiveAtomic(torch::serialize::OutputArchive& archive, const fs::path& path) {
  std::ostringstream bytes;
  archive.save_to(bytes);
  WriteFileAtomic(path, bytes.str());
}

// Model weights (CPU copies) into an archive.
void SaveWeights(const Net& net, const fs::path& path) {
  torch::serialize::OutputArchive archive;
  const Net cpu = std::dynamic_pointer_cast<NetImpl>(net->clone(torch::kCPU));
  cpu->save(archive);
  SaveArchiveAtomic(archive, path);
}

// TrainOptions::image_jitter / image_noise on uint8 crops (B, c, c, 3) -> float in [0, 1],
// every draw from `gen` (the whole global batch, camera by camera, as the crops).
torch::Tensor AugmentCrops(const torch::Tensor& crops, double jitter, double noise, torch::Generator& gen) {
  const int64_t b = crops.size(0);
  const torch::TensorOptions f = torch::TensorOptions(torch::kFloat);
  torch::Tensor x = crops.to(torch::kFloat).div(255.0);
  if (jitter > 0) {
    const torch::Tensor gain = 1 + jitter * (2 * torch::rand({b, 1, 1, 3}, gen, f) - 1);
    const torch::Tensor contrast = 1 + jitter * (2 * torch::rand({b, 1, 1, 1}, gen, f) - 1);
    const torch::Tensor offset = 0.5 * jitter * (2 * torch::rand({b, 1, 1, 1}, gen, f) - 1);
    const torch::Tensor mean = x.mean({1, 2, 3}, /*keepdim=*/true);
    x = ((x - mean) * contrast + mean) * gain + offset;
  }
  if (noise > 0) x = x + noise * torch::randn(x.sizes(), gen, f);
  return x.clamp(0.0, 1.0);
}

// The cropped images of samples `idx` for net->Condition, on `device`: the crops of the
// whole batch `idx` (random from `gen` in training mode), augmented when `options` asks
// (training only), then its rows [lo, hi).
std::vector<torch::Tensor> BatchImages(const Net& net, const TrainingData& data,
                                       const torch::Tensor& idx,
                                       c10::optional<torch::Generator> gen,
                                       const torch::Device& device, int64_t lo, int64_t hi,
                                       const TrainOptions* augment = nullptr) {
  if (data.images.empty()) return {};
  std::vector<torch::Tensor> batch;
  for (const torch::Tensor& images : data.images) batch.push_back(images.index_select(0, idx));
  std::vector<torch::Tensor> cropped = net->CropImages(batch, gen);
  if (augment && gen && (augment->image_jitter > 0 || augment->image_noise > 0)) {
    for (torch::Tensor& c : cropped) c = AugmentCrops(c, augment->image_jitter, augment->image_noise, *gen);
  }
  for (torch::Tensor& c : cropped) c = c.slice(0, lo, hi).to(device);
  return cropped;
}

// Runs `net` over `index` in large batches; mean loss (noise from a fixed generator so
// that the flow's validation loss is comparable across epochs).
double MeanLoss(Net& net, const TrainingData& data, const torch::Tensor& index, uint64_t seed,
                const torch::Device& device) {
  torch::NoGradGuard no_grad;
  net->eval();
  const ModelConfig& m = net->config();
  torch::Generator gen = MakeGenerator(Mix(seed, kValidSalt));
  double sum = 0;
  const int64_t n = index.size(0);
  const int64_t batch = data.images.empty() ? kValidBatch : kValidImageBatch;
  for (int64_t b = 0; b < n; b += batch) {
    const torch::Tensor idx = index.slice(0, b, std::min(n, b + batch));
    const int64_t rows = idx.size(0);
    // Eval mode: the encoders see the centre crop.
    const torch::Tensor obs = net->Condition(data.obs.index_select(0, idx).to(device),
                                             BatchImages(net, data, idx, {}, device, 0, rows));
    const torch::Tensor target = data.Chunks(idx, m.horizon).to(device);
    const torch::Tensor noise = torch::randn({rows, m.OutputDim()}, gen).to(device);
    const torch::Tensor t = torch::rand({rows}, gen).to(device);
    sum += PolicyLoss(net, obs, target, noise, t).item<double>() * static_cast<double>(rows);
  }
  net->train();
  return sum / static_cast<double>(n);
}

// Sums the gradients and `loss_sum` over the ranks in one flat all-reduce (one bucket:
// these networks hold well under a million parameters) and puts the sums back.
double AllReduceGradients(Net& net, DataParallel& parallel, double loss_sum) {
  std::vector<torch::Tensor> parts;
  std::vector<torch::Tensor> params = net->parameters();
  for (const torch::Tensor& p : params) {
    parts.push_back(p.grad().defined() ? p.grad().reshape(-1).to(torch::kCPU, torch::kFloat)
                                       : torch::zeros({p.numel()}, torch::kFloat));
  }
  parts.push_back(torch::tensor({static_cast<float>(loss_sum)}, torch::kFloat));
  torch::Tensor flat = torch::cat(parts);
  parallel.AllReduceSum(flat);
  int64_t offset = 0;
  for (torch::Tensor& p : params) {
    const torch::Tensor sum = flat.slice(0, offset, offset + p.numel()).view(p.sizes()).to(p.device(), p.scalar_type());
    torch::Tensor& grad = p.mutable_grad();
    if (grad.defined()) {
      grad.copy_(sum);
    } else {
      grad = sum.clone();
    }
    offset += p.numel();
  }
  return flat[offset].item<double>();
}

struct Best {
  int epoch = 0;
  std::string criterion;
  double value = 0;
  double loss = std::numeric_limits<double>::infinity();

  nlohmann::json ToJson() const {
    return {{"epoch", epoch}, {"criterion", criterion}, {"value", value}, {"loss", loss}};
  }
  // Whether an epoch with this success rate (if evaluated) and loss beats the best so far.
  bool Improves(const std::optional<double>& success, double l) const {
    if (epoch == 0) return true;
    if (success) {
      if (criterion != "success_rate") return true;
      return *success > value || (*success == value && l < loss);
    }
    return criterion != "success_rate" && l < loss;
  }
};

// --device: "cpu" or "cuda[:N]", CUDA only when this LibTorch sees a GPU.
torch::Device ParseDevice(const std::string& name) {
  std::optional<torch::Device> parsed;
  try {
    parsed.emplace(name);
  } catch (const c10::Error&) {
    throw PolicyError("--device '" + name + "': expected cpu or cuda[:N]");
  }
  if (parsed->is_cuda() && !torch::cuda::is_available()) {
    throw PolicyError("--device " + name + ": this LibTorch has no CUDA support or no GPU is visible; use --device cpu");
  }
  return *parsed;
}

[[noreturn]] void Mismatch(const fs::path& file, const std::string& field, const std::string& what) {
  throw PolicyError(file.string() + ": " + field + ": " + what +
                    " (this run was started with other settings; use another --out to start afresh)");
}

}  // namespace

void TrainOptions::Validate() const {
  if (epochs < 0) throw PolicyError("--epochs: must be >= 1");
  if (batch < 1) throw PolicyError("--batch: must be >= 1");
  if (!(lr > 0) || !std::isfinite(lr)) throw PolicyError("--lr: must be a positive number");
  if (!(weight_decay >= 0)) throw PolicyError("--weight-decay: must be >= 0");
  if (!(grad_clip > 0)) throw PolicyError("--grad-clip: must be > 0");
  if (checkpoint_every < 1) throw PolicyError("--checkpoint-every: must be >= 1");
  if (eval_every < 0) throw PolicyError("--eval-every: must be >= 0");
  if (stop_after < 0) throw PolicyError("--stop-after: must be >= 0");
  if (image_crop < 0) throw PolicyError("--image-crop: must be >= 0 (0: the image side - 8)");
  if (image_features < 1) throw PolicyError("--image-features: must be >= 1");
  if (image_keypoints < 1) throw PolicyError("--image-keypoints: must be >= 1");
  if (!(image_jitter >= 0 && image_jitter <= 1)) throw PolicyError("--image-jitter: must be in [0, 1]");
  if (!(image_noise >= 0 && image_noise <= 1)) throw PolicyError("--image-noise: must be in [0, 1]");
  for (int h : hidden) {
    if (h < 1 || h > robot::kMaxHiddenWidth) {
      throw PolicyError("--hidden " + std::to_string(h) + ": expected an integer width in 1.." +
                        std::to_string(robot::kMaxHiddenWidth));
    }
  }
  if (!gripper.empty()) {
    try {
      ParseGripperMode(gripper);
    } catch (const PolicyError& e) {
      throw PolicyError(std::string("--gripper: ") + e.what());
    }
  }
  ParseDevice(device);
}

void CheckRunDir(const TrainOptions& options, const fs::path& run_dir) {
  const fs::path run_json = run_dir / "run.json";
  if (!options.resume && fs::exists(run_json)) {
    throw PolicyError(run_dir.string() + ": already holds a training run; pass --resume to continue it or choose another --out");
  }
  // A run killed before its first checkpoint has run.json and no checkpoints/last.pt:
  // --resume starts it from the beginning.
  if (options.resume && !fs::exists(run_json)) {
    throw PolicyError(run_json.string() + ": missing; nothing to resume");
  }
}

std::vector<ImageInput> ImageInputsFor(const TrainingData& data, const TrainOptions& options) {
  std::vector<ImageInput> out;
  for (size_t k = 0; k < data.image_keys.size(); ++k) {
    ImageInput in;
    in.key = data.image_keys[k];
    in.encoder.image_size = static_cast<int>(data.images.at(k).size(1));
    in.encoder.crop_size =
        options.image_crop > 0 ? options.image_crop : std::max(1, in.encoder.image_size - 8);
    in.encoder.feature_dim = options.image_features;
    in.encoder.keypoints = options.image_keypoints;
    in.encoder.group_norm = options.image_group_norm;
    try {
      in.encoder.Validate("image encoder of " + in.key, "encoder");
    } catch (const robot::BundleError& e) {
      throw PolicyError(std::string(e.what()) +
                        " (--image-crop, --image-features, --image-keypoints)");
    }
    out.push_back(in);
  }
  return out;
}

nlohmann::json TrainOptions::ToJson() const {
  return {{"policy", ToString(type)}, {"epochs", Epochs()}, {"batch", batch},
          {"lr", lr},                 {"schedule", "cosine"}, {"weight_decay", weight_decay},
          {"grad_clip", grad_clip},   {"seed", seed},        {"optimizer", "adam"},
          {"image_jitter", image_jitter}, {"image_noise", image_noise}};
}

nlohmann::json EpochReport::ToJson() const {
  nlohmann::json j = {{"epoch", epoch},           {"step", step},
                      {"train_loss", train_loss}, {"lr", lr},
                      {"samples_per_s", samples_per_s}, {"seconds", seconds},
                      {"best", best}};
  if (processes > 1) {
    j["processes"] = processes;
    j["allreduce_seconds"] = allreduce_seconds;
    j["train_seconds"] = train_seconds;
  }
  j["time"] = {{"data", data_seconds}, {"step", train_seconds - data_seconds}, {"validation", validation_seconds}};
  j["valid_loss"] = std::isnan(valid_loss) ? nlohmann::json(nullptr) : nlohmann::json(valid_loss);
  j["success_rate"] = success_rate ? nlohmann::json(*success_rate) : nlohmann::json(nullptr);
  return j;
}

TrainResult Train(const TrainingData& data, const nlohmann::json& data_info,
                  const TrainOptions& options, const fs::path& run_dir, const TrainHooks& hooks,
                  DataParallel* parallel) {
  options.Validate();
  CheckRunDir(options, run_dir);
  const int world = parallel ? parallel->world() : 1;
  const int rank = parallel ? parallel->rank() : 0;
  const bool leader = rank == 0;
  const torch::Device device = ParseDevice(options.device);
  if (data.train_index.size(0) == 0) throw PolicyError("training data: mask/train has no samples");

  ModelConfig model = ModelConfig::Default(options.type, data.obs_dim());
  if (!options.hidden.empty()) model.hidden = options.hidden;
  if (!options.gripper.empty()) model.gripper = ParseGripperMode(options.gripper);
  model.Validate();
  const std::vector<ImageInput> images = ImageInputsFor(data, options);
  const int epochs = options.Epochs();

  nlohmann::json run = {{"format", kRunFormat},
                        {"libtorch", LibTorchVersion()},
                        {"task", data.env_args.value("env_name", "")},
                        {"env_args", data.env_args},
                        {"data", data_info},
                        {"obs_keys", data.obs_keys},
                        {"normalization", data.normalizer.ToJson()},
                        {"model", model.ToJson()},
                        {"train", options.ToJson()}};
  if (!images.empty()) {
    // All the keys as given (low-dimensional and image); the normalization lists the former.
    nlohmann::json keys = data.obs_keys;
    for (const std::string& k : data.image_keys) keys.push_back(k);
    run["obs_keys"] = keys;
    run["images"] = ImageInputsToJson(images);
  }

  const fs::path run_json = run_dir / "run.json";
  const fs::path last_pt = run_dir / "checkpoints" / "last.pt";
  const fs::path metrics_path = run_dir / "metrics.jsonl";
  const fs::path best_json = run_dir / "best.json";

  torch::manual_seed(options.seed);
  Net net(model, images);
  net->to(device);
  torch::optim::Adam optimizer(net->parameters(),
                               torch::optim::AdamOptions(options.lr).weight_decay(options.weight_decay));
  int start_epoch = 0;
  int64_t step = 0;
  Best best;
  std::vector<std::string> kept_metrics;

  if (options.resume) {
    const nlohmann::json old = ReadRunJson(run_dir);
    for (const char* field :
         {"format", "task", "obs_keys", "model", "normalization", "data", "images"}) {
      if (old.value(field, nlohmann::json()) != run.value(field, nlohmann::json()))
        Mismatch(run_json, field, "differs");
    }
    nlohmann::json old_train = old.value("train", nlohmann::json::object());
    for (const char* field : {"policy", "batch", "lr", "weight_decay", "grad_clip", "seed"}) {
      if (old_train.value(field, nlohmann::json()) != run["train"][field]) {
        Mismatch(run_json, std::string("train.") + field, "differs");
      }
    }
    // The augmentation (a run from before it existed had none: 0).
    for (const char* field : {"image_jitter", "image_noise"}) {
      const nlohmann::json was = old_train.value(field, nlohmann::json(0.0));
      if (!was.is_number() || was.get<double>() != run["train"][field].get<double>()) {
        Mismatch(run_json, std::string("train.") + field, "differs");
      }
    }
    if (fs::exists(last_pt)) {
      CheckCheckpointVersion(old, last_pt);
      try {
        torch::serialize::InputArchive archive;
        archive.load_from(last_pt.string(), device);
        torch::serialize::InputArchive m, o;
        archive.read("model", m);
        archive.read("optimizer", o);
        net->load(m);
        optimizer.load(o);
        torch::Tensor e, s;
        archive.read("epoch", e);
        archive.read("step", s);
        start_epoch = static_cast<int>(e.item<int64_t>());
        step = s.item<int64_t>();
      } catch (const c10::Error& e) {
        throw PolicyError(last_pt.string() + ": unreadable checkpoint (" +
                          std::string(e.what_without_backtrace()).substr(0, 200) + ")");
      }
    }
    if (start_epoch > epochs) {
      throw PolicyError("--epochs " + std::to_string(epochs) + ": the run already has " +
                        std::to_string(start_epoch) + " epochs");
    }
    // The metrics of the epochs in last.pt are kept (a line of a later epoch, written
    // before a kill stopped its checkpoint, is dropped: that epoch runs again), and the
    // best so far is the last of them marked best. best.json is not read for it: a kill
    // between best.json and last.pt leaves it one epoch ahead of the checkpoint.
    std::ifstream in(metrics_path);
    bool any_best_field = false;
    for (std::string line; std::getline(in, line);) {
      const nlohmann::json m = nlohmann::json::parse(line, nullptr, false);
      if (!m.is_object() || m.value("epoch", 0) > start_epoch) continue;
      kept_metrics.push_back(line);
      any_best_field = any_best_field || m.contains("best");
      if (!m.value("best", false)) continue;
      const auto number = [&](const char* key) { return m.contains(key) && m[key].is_number(); };
      best.epoch = m.value("epoch", 0);
      best.loss = number("valid_loss") ? m["valid_loss"].get<double>() : m.value("train_loss", 0.0);
      best.criterion = number("success_rate") ? "success_rate" : number("valid_loss") ? "valid_loss" : "train_loss";
      best.value = number("success_rate") ? m["success_rate"].get<double>() : best.loss;
    }
    if (!any_best_field && fs::exists(best_json)) {  // metrics without the field: best.json
      std::ifstream bin(best_json);
      const nlohmann::json b = nlohmann::json::parse(bin, nullptr, false);
      if (b.is_object() && b.value("epoch", 0) <= start_epoch) {
        best.epoch = b.value("epoch", 0);
        best.criterion = b.value("criterion", "");
        best.value = b.value("value", 0.0);
        best.loss = b.value("loss", std::numeric_limits<double>::infinity());
      }
    }
  }
  run["train"]["epochs"] = epochs;
  run["train"]["processes"] = world;
  // Every rank has checked the run directory (and read the checkpoint) before rank 0
  // writes to it.
  if (parallel) parallel->Barrier();
  std::ofstream metrics;
  if (leader) {
    fs::create_directories(run_dir / "checkpoints");
    WriteFileAtomic(run_json, run.dump(2) + "\n");
    std::string kept;
    for (const std::string& l : kept_metrics) kept += l + "\n";
    WriteFileAtomic(metrics_path, kept);
    metrics.open(metrics_path, std::ios::app);
  }

  const int64_t n_train = data.train_index.size(0);
  const int64_t batches = (n_train + options.batch - 1) / options.batch;
  const int64_t total_steps = batches * epochs;
  const bool has_valid = data.valid_index.size(0) > 0;
  TrainResult result;
  int run_epochs = 0;

  for (int epoch = start_epoch + 1; epoch <= epochs; ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    const double allreduce_before = parallel ? parallel->allreduce_seconds() : 0.0;
    double train_seconds = 0, data_seconds = 0;
    net->train();
    const torch::Tensor order =
        data.train_index.index_select(0, torch::randperm(n_train, MakeGenerator(Mix(options.seed, epoch))));
    double loss_sum = 0;
    double lr = options.lr;
    for (int64_t b = 0; b < batches; ++b) {
      const auto t0 = std::chrono::steady_clock::now();
      const torch::Tensor batch_idx = order.slice(0, b * options.batch, std::min(n_train, (b + 1) * options.batch));
      const int64_t rows = batch_idx.size(0);
      // This rank's slice of the global batch (all of it in a single process).
      const int64_t lo = rows * rank / world, hi = rows * (rank + 1) / world;
      const torch::Tensor idx = batch_idx.slice(0, lo, hi);
      torch::Tensor obs = data.obs.index_select(0, idx);
      torch::Tensor target = model.type == PolicyType::kMlp ? data.actions.index_select(0, idx)
                                                            : data.Chunks(idx, model.horizon);
      torch::Tensor noise, t;
      if (model.type == PolicyType::kFlow) {  // drawn for the whole global batch, as one process does
        torch::Generator gen = MakeGenerator(Mix(options.seed ^ kStepSalt, static_cast<uint64_t>(step)));
        noise = torch::randn({rows, model.OutputDim()}, gen).slice(0, lo, hi).to(device);
        t = torch::rand({rows}, gen).slice(0, lo, hi).to(device);
      }
      // Random crops, also drawn for the whole global batch; this rank encodes its slice.
      const std::vector<torch::Tensor> crops =
          BatchImages(net, data, batch_idx,
                      MakeGenerator(Mix(options.seed ^ kCropSalt, static_cast<uint64_t>(step))),
                      device, lo, hi, &options);
      obs = obs.to(device);
      target = target.to(device);
      data_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      lr = options.lr * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(step) / static_cast<double>(total_steps)));
      for (auto& group : optimizer.param_groups()) {
        static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
      }
      optimizer.zero_grad();
      if (world == 1) {
        const torch::Tensor loss = PolicyLoss(net, net->Condition(obs, crops), target, noise, t);
        loss.backward();
        loss_sum += loss.item<double>() * static_cast<double>(rows);
      } else {
        // The global batch's mean loss is the sum over ranks of (slice mean x slice share).
        double slice_sum = 0;
        if (hi > lo) {
          const torch::Tensor loss = PolicyLoss(net, net->Condition(obs, crops), target, noise, t);
          (loss * (static_cast<double>(hi - lo) / static_cast<double>(rows))).backward();
          slice_sum = loss.item<double>() * static_cast<double>(hi - lo);
        }
        loss_sum += AllReduceGradients(net, *parallel, slice_sum);
      }
      torch::nn::utils::clip_grad_norm_(net->parameters(), options.grad_clip);
      optimizer.step();
      ++step;
      train_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (leader && hooks.on_batch && ((b + 1) % 50 == 0 || b + 1 == batches)) {
        const double done = static_cast<double>(std::min(n_train, (b + 1) * options.batch));
        hooks.on_batch(epoch, b + 1, batches, loss_sum / done, done / std::max(train_seconds, 1e-9));
      }
    }
    EpochReport report;
    report.epoch = epoch;
    report.epochs = epochs;
    report.step = step;
    report.lr = lr;
    report.train_loss = loss_sum / static_cast<double>(n_train);
    report.samples_per_s = static_cast<double>(n_train) / std::max(train_seconds, 1e-9);
    report.processes = world;
    report.train_seconds = train_seconds;
    report.data_seconds = data_seconds;
    report.allreduce_seconds = parallel ? parallel->allreduce_seconds() - allreduce_before : 0.0;
    if (!leader) {  // the rest is rank 0's: validation, rollouts, files, hooks
      result.epochs_done = epoch;
      ++run_epochs;
      if (options.stop_after > 0 && run_epochs >= options.stop_after) break;
      continue;
    }
    const auto validation_start = std::chrono::steady_clock::now();
    report.valid_loss = has_valid ? MeanLoss(net, data, data.valid_index, options.seed, device)
                                  : std::numeric_limits<double>::quiet_NaN();
    const bool evaluate = hooks.rollout_eval && options.eval_every > 0 &&
                          (epoch % options.eval_every == 0 || epoch == epochs);
    if (evaluate) {
      net->eval();
      report.success_rate = hooks.rollout_eval(Policy::FromNet(run, net), epoch);
      net->train();
    }
    report.validation_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - validation_start).count();
    const double loss_for_best = has_valid ? report.valid_loss : report.train_loss;
    if (best.Improves(report.success_rate, loss_for_best)) {
      best.epoch = epoch;
      best.criterion = report.success_rate ? "success_rate" : (has_valid ? "valid_loss" : "train_loss");
      best.value = report.success_rate ? *report.success_rate : loss_for_best;
      best.loss = loss_for_best;
      SaveWeights(net, run_dir / "best.pt");
      WriteFileAtomic(best_json, best.ToJson().dump(2) + "\n");
      report.best = true;
    }
    if (epoch % options.checkpoint_every == 0 || epoch == epochs) {
      char name[32];
      std::snprintf(name, sizeof(name), "epoch_%04d.pt", epoch);
      SaveWeights(net, run_dir / "checkpoints" / name);
    }
    // The epoch's metrics line goes before its checkpoint: a kill between the two leaves a
    // line that --resume drops (the epoch runs again), never a checkpoint without its line.
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    metrics << report.ToJson().dump() << "\n" << std::flush;
    if (!metrics) throw std::runtime_error(metrics_path.string() + ": cannot write (" + std::strerror(errno) + ")");
    {
      torch::serialize::OutputArchive archive, m, o;
      net->save(m);
      optimizer.save(o);
      archive.write("model", m);
      archive.write("optimizer", o);
      archive.write("epoch", torch::tensor(static_cast<int64_t>(epoch)));
      archive.write("step", torch::tensor(step));
      SaveArchiveAtomic(archive, last_pt);
    }
    if (hooks.on_epoch) hooks.on_epoch(report);
    result.epochs_done = epoch;
    ++run_epochs;
    if (options.stop_after > 0 && run_epochs >= options.stop_after) break;
  }
  // No rank leaves (rank 0 holds the rendezvous store) before rank 0 has written all.
  if (parallel) parallel->Barrier();
  if (result.epochs_done == 0) result.epochs_done = start_epoch;
  result.finished = result.epochs_done == epochs;
  result.best_epoch = best.epoch;
  result.best_criterion = best.criterion;
  result.best_value = best.value;
  return result;
}

}  // namespace dreamforge::policy
