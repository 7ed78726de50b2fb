#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>

#include "augment/evaluate.h"
#include "policy/trainer.h"
#include "tools/cli_util.h"
#include "tools/commands.h"
#include "tools/policy_controller.h"

namespace dreamforge::tools {
namespace {

struct TrainArgs {
  std::string data;
  std::string policy = "mlp";
  std::string out;
  policy::TrainOptions options;
  int eval_episodes = 20;
  std::string perturb;
  int workers = 0;
  int threads = 0;
  double dist_timeout = 300;
  std::vector<std::string> obs_keys;
  int64_t image_memory_mib = policy::kDefaultMaxImageBytes >> 20;
};

// Rollouts during training use evaluation seed train-seed + this offset, so they never use
// the scenes of `dreamforge eval --seed S` for small S (nor, as every evaluation, dream
// scenes).
constexpr uint64_t kTrainingEvalSeedOffset = 1000000;

void RunTrain(TrainArgs a) {
  if (a.data.empty()) throw UsageError("train: --data DREAMS.hdf5 is required");
  if (a.out.empty()) throw UsageError("train: --out RUN_DIR is required");
  if (!std::filesystem::exists(a.data)) throw UsageError("train: --data " + a.data + ": no such file");
  RefuseOutputOverInput("train", "--data", a.data, "--out", a.out);
  CheckOutputWritable("train", "--out", (std::filesystem::path(a.out) / "run.json").string(), /*create_parents=*/true);
  if (a.eval_episodes < 1) throw UsageError("train: --eval-episodes: must be >= 1");
  if (a.workers < 0) throw UsageError("train: --workers: must be >= 0 (0: all cores)");
  if (a.threads < 0) throw UsageError("train: --threads: must be >= 0 (0: all cores)");
  if (a.image_memory_mib < 1) throw UsageError("train: --image-memory: must be >= 1 (MiB)");
  try {
    a.options.type = policy::ParsePolicyType(a.policy);
  } catch (const policy::PolicyError& e) {
    throw UsageError(std::string("train: --policy: ") + e.what());
  }
  // Everything that can be checked before the data is loaded is, so no error follows a
  // progress line.
  a.options.Validate();
  if (!(a.dist_timeout >= 1 && a.dist_timeout <= 86400)) throw UsageError("train: --dist-timeout: must be in [1, 86400] s");
  policy::DistConfig dist = policy::DistConfig::FromEnvironment();
  dist.timeout = std::chrono::milliseconds(static_cast<int64_t>(a.dist_timeout * 1000));
  policy::CheckRunDir(a.options, a.out);
  std::optional<augment::PerturbationSpec> user_spec;
  if (a.options.eval_every > 0 && !a.perturb.empty()) user_spec = augment::LoadSpec(a.perturb);
  // LibTorch here starts with one intra-op thread; training uses every core unless told,
  // shared out among the processes of this run on this machine.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(a.threads > 0 ? a.threads : std::max(1, cores / dist.local_world));
  const auto start = std::chrono::steady_clock::now();
  // Joins the other processes (nothing to do for one), before the data is loaded: a
  // rendezvous that cannot happen fails fast.
  if (dist.world > 1) {
    std::fprintf(stderr, "train: rank %d of %d (%s), rendezvous at %s:%d\n", dist.rank, dist.world,
                 dist.launcher.c_str(), dist.master_addr.c_str(), dist.master_port);
  }
  policy::DataParallel parallel(dist);
  const bool leader = parallel.leader();

  std::optional<Progress> loading;
  const policy::TrainingData data = policy::LoadTrainingData(
      a.data, a.obs_keys.empty() ? policy::DefaultObsKeys() : a.obs_keys,
      [&](int done, int total) {
        if (!leader) return;
        if (!loading) loading.emplace("load " + a.data, total);
        if (done % 100 == 0 || done == total) loading->Update(done, "demos");
      },
      a.image_memory_mib << 20);
  if (loading) loading->Finish(std::to_string(data.obs.size(0)) + " samples");
  const std::string task = data.env_args.value("env_name", "");
  const nlohmann::json data_info = {
      {"file", std::filesystem::weakly_canonical(a.data).string()},
      {"bytes", std::filesystem::file_size(a.data)},
      {"samples", data.obs.size(0)},
      {"train_demos", data.train_episodes},
      {"valid_demos", data.valid_episodes}};

  policy::TrainHooks hooks;
  const int epochs = a.options.Epochs();
  std::optional<Progress> bar;
  int bar_epoch = 0;
  hooks.on_batch = [&](int epoch, int64_t batch, int64_t batches, double loss, double sps) {
    if (epoch != bar_epoch) {
      bar_epoch = epoch;
      bar.emplace("epoch " + std::to_string(epoch) + "/" + std::to_string(epochs), static_cast<long>(batches));
    }
    char s[96];
    std::snprintf(s, sizeof(s), "loss %.5f  %.0f samples/s", loss, sps);
    bar->Update(static_cast<long>(batch), s);
  };
  hooks.on_epoch = [&](const policy::EpochReport& r) {
    std::string success;
    if (r.success_rate) success = "  success " + std::to_string(static_cast<int>(std::lround(100 * *r.success_rate))) + "%";
    if (bar) bar->Finish();
    std::fprintf(stderr, "epoch %d/%d: train %.5f  valid %.5f%s  lr %.2e  %.0f samples/s  %.1f s%s\n",
                 r.epoch, r.epochs, r.train_loss, r.valid_loss, success.c_str(), r.lr, r.samples_per_s,
                 r.seconds, r.best ? "  (best)" : "");
  };
  std::shared_ptr<const sim::SceneModel> model;
  augment::PerturbationSpec spec;
  if (a.options.eval_every > 0) {
    model = std::make_shared<const sim::SceneModel>(task, sim::SceneModel::DefaultUrdf());
    spec = user_spec ? *user_spec : augment::LoadSpec(augment::DefaultSpecPath(task));
    const int workers = a.workers > 0 ? a.workers : std::max(1u, std::thread::hardware_concurrency());
    hooks.rollout_eval = [&, workers](const std::shared_ptr<const policy::Policy>& p, int) {
      const augment::EvalResult r =
          augment::Evaluate(model, spec, a.options.seed + kTrainingEvalSeedOffset, a.eval_episodes,
                            workers, PolicyFactory(p, model));
      return static_cast<double>(r.successes) / static_cast<double>(r.episodes);
    };
  }
  policy::TrainResult r;
  try {
    r = policy::Train(data, data_info, a.options, a.out, hooks, &parallel);
  } catch (const c10::Error& e) {
    throw std::runtime_error(std::string("train: LibTorch: ") + e.what_without_backtrace());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!leader) return;  // rank 0 reports for the run
  const std::string processes = dist.world > 1 ? " on " + std::to_string(dist.world) + " processes" : "";
  std::printf("train %s on %s%s: %d/%d epochs%s; best epoch %d by %s = %.4g -> %s/best.pt; %.1f s\n",
              a.policy.c_str(), task.c_str(), processes.c_str(), r.epochs_done, epochs,
              r.finished ? "" : " (stopped; --resume continues)", r.best_epoch, r.best_criterion.c_str(), r.best_value,
              a.out.c_str(), seconds);
}

}  // namespace

void AddTrainCommand(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Train a policy (mlp: behaviour cloning; flow: flow-matching action chunks) on dreams.");
  cmd->footer(
      "Several processes (data parallel, LibTorch c10d with Gloo): start N copies with the same\n"
      "arguments and RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT set (torchrun style), or\n"
      "under mpirun -np N (OMPI_COMM_WORLD_*) or srun (SLURM_PROCID / SLURM_NTASKS); MASTER_ADDR\n"
      "defaults to 127.0.0.1 and MASTER_PORT to 29500. Rank 0 writes the run.");
  cmd->add_option("--data", a->data, "Episode file (dreams): mask/train trains, mask/valid validates")->required();
  cmd->add_option("--policy", a->policy, "mlp or flow")->capture_default_str();
  cmd->add_option("--out", a->out, "Run directory (run.json, metrics.jsonl, best.pt, checkpoints/)")->required();
  cmd->add_option("--epochs", a->options.epochs, "Epochs (0: the default, 40)")->capture_default_str();
  cmd->add_option("--batch", a->options.batch, "Minibatch size")->capture_default_str();
  cmd->add_option("--lr", a->options.lr, "Peak learning rate (Adam, cosine decay to 0)")->capture_default_str();
  cmd->add_option("--weight-decay", a->options.weight_decay, "Adam weight decay")->capture_default_str();
  cmd->add_option("--grad-clip", a->options.grad_clip, "Max gradient norm")->capture_default_str();
  cmd->add_option("--hidden", a->options.hidden, "Hidden layer widths (default: mlp 256 256, flow 256 256 256)")
      ->check(DecimalRange(1, robot::kMaxHiddenWidth));
  cmd->add_option("--obs-keys", a->obs_keys,
                  "Observation keys the policy reads, in order (default: robot0_eef_pos "
                  "robot0_gripper_qpos robot0_joint_pos object);\n"
                  "image keys (agentview_image, robot0_eye_in_hand_image) make an image policy: "
                  "one encoder per camera,\n"
                  "read from a rendered file (dreamforge render)");
  cmd->add_option("--image-crop", a->options.image_crop,
                  "Image keys: crop side of each camera's encoder, random while training, centred "
                  "at eval (0: image side - 8, "
                  "76 of 84)")
      ->capture_default_str();
  cmd->add_option("--image-features", a->options.image_features, "Image keys: features per camera")
      ->capture_default_str();
  cmd->add_option("--image-keypoints", a->options.image_keypoints,
                  "Image keys: spatial-softmax keypoints per camera")
      ->capture_default_str();
  cmd->add_option("--image-group-norm", a->options.image_group_norm,
                  "Image keys: GroupNorm after each conv (true|false)")
      ->capture_default_str();
  cmd->add_option("--image-jitter", a->options.image_jitter,
                  "Image keys: colour jitter of the training crops (per image: channel gains and contrast in 1 +- J, "
                  "brightness +- J/2; 0: off)")
      ->capture_default_str();
  cmd->add_option("--image-noise", a->options.image_noise,
                  "Image keys: Gaussian pixel noise on the training crops, standard deviation on x / 255 (0: off)")
      ->capture_default_str();
  cmd->add_option("--image-memory", a->image_memory_mib,
                  "Image keys: MiB of images the training data may hold in memory (all of the "
                  "file's frames are loaded)")
      ->capture_default_str();
  cmd->add_option("--gripper", a->options.gripper,
                  "How the gripper column is executed: latch, sample, sign or raw (default: latch; see policy/model.h)");
  cmd->add_option("--device", a->options.device, "cpu or cuda[:N] (needs a LibTorch with CUDA)")->capture_default_str();
  AddSeedOption(cmd, "--seed", &a->options.seed, "Seed of weights, shuffling and flow noise");
  cmd->add_flag("--resume", a->options.resume, "Continue the run in --out from checkpoints/last.pt");
  cmd->add_option("--checkpoint-every", a->options.checkpoint_every, "Epochs between checkpoints/epoch_N.pt")->capture_default_str();
  cmd->add_option("--eval-every", a->options.eval_every,
                  "Epochs between rollout evaluations in physics (0: never); best.pt is then the best by success")
      ->capture_default_str();
  cmd->add_option("--eval-episodes", a->eval_episodes, "Scenes per rollout evaluation")->capture_default_str();
  cmd->add_option("--perturb", a->perturb, "Perturbation spec of rollout evaluations (default: the task's)");
  cmd->add_option("--workers", a->workers, "Threads for rollout evaluations (0: all cores)")->capture_default_str();
  cmd->add_option("--threads", a->threads, "LibTorch intra-op threads (0: all cores)")->capture_default_str();
  cmd->add_option("--dist-timeout", a->dist_timeout,
                  "Several processes: seconds a rank waits for the others (rendezvous, all-reduce)\n"
                  "before the run ends naming the ranks that stopped")
      ->capture_default_str();
  cmd->add_option("--stop-after", a->options.stop_after,
                  "Stop after this many epochs in this invocation, for preemptible jobs (0: run to the end)")
      ->capture_default_str();
  cmd->callback([a] { RunTrain(*a); });
}

}  // namespace dreamforge::tools
