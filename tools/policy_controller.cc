#include "tools/policy_controller.h"

#include "render/camera.h"
#include "render/render_error.h"
#include "tools/cli_util.h"

namespace dreamforge::tools {

namespace {
constexpr uint64_t kNoiseSalt = 0x666c6f77ULL;  // "flow"
}  // namespace

uint64_t PolicySeed(const sim::SceneParams& scene) { return scene.noise_seed ^ kNoiseSalt; }

PolicyCameras::PolicyCameras(const policy::Policy& policy,
                             std::shared_ptr<const sim::SceneModel> model) {
  std::vector<render::CameraSpec> known;
  try {
    known = render::CamerasFromEnvArgs(policy.env_args);
  } catch (const render::RenderError& e) {
    throw UsageError(std::string("run.json: env_args.cameras: ") + e.what());
  }
  Init(policy.images, known, "run.json: env_args.cameras", std::move(model));
}

PolicyCameras::PolicyCameras(const robot::Bundle& bundle, std::shared_ptr<const sim::SceneModel> model) {
  const std::string where = bundle.dir + "/" + robot::kPolicyJson;
  std::vector<render::CameraSpec> known;
  for (size_t k = 0; k < bundle.images.size(); ++k) {
    const std::string field = where + ": images[" + std::to_string(k) + "].camera";
    if (bundle.images[k].camera.is_null()) {
      throw UsageError(field + ": missing (the bundle does not say which camera made " + bundle.images[k].key +
                       "; export it again from a run trained on rendered images)");
    }
    try {
      known.push_back(render::CameraSpec::FromJson(bundle.images[k].camera));
    } catch (const render::RenderError& e) {
      throw UsageError(field + ": " + e.what());
    }
  }
  Init(bundle.images, known, where + ": images[].camera", std::move(model));
}

void PolicyCameras::Init(const std::vector<robot::ImageInput>& images, const std::vector<render::CameraSpec>& known,
                         const std::string& where, std::shared_ptr<const sim::SceneModel> model) {
  for (const robot::ImageInput& in : images) {
    std::string name;
    robot::IsImageKeyName(in.key, &name);
    const render::CameraSpec* found = nullptr;
    for (const render::CameraSpec& c : known) {
      if (c.name == name) found = &c;
    }
    if (!found) {
      throw UsageError(where + ": no camera '" + name + "' for image key '" + in.key +
                       "' (the training file's images were not rendered by dreamforge render or "
                       "dream --cameras)");
    }
    const int n = in.encoder.image_size;
    if (found->width != n || found->height != n) {
      throw UsageError(where + ": camera '" + name + "' is " + std::to_string(found->width) + " x " +
                       std::to_string(found->height) + ", but the policy's " + in.key + " images are " +
                       std::to_string(n) + " x " + std::to_string(n));
    }
    cameras_.push_back(*found);
  }
  visual_ = std::make_shared<const render::VisualModel>(std::move(model));
}

std::unique_ptr<render::FrameRenderer> PolicyCameras::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      std::unique_ptr<render::FrameRenderer> r = std::move(free_.back());
      free_.pop_back();
      return r;
    }
  }
  return std::make_unique<render::FrameRenderer>(visual_, cameras_);
}

void PolicyCameras::Return(std::unique_ptr<render::FrameRenderer> renderer) {
  renderer->renderer().Release();  // another worker thread may take it next
  std::lock_guard<std::mutex> lock(mu_);
  free_.push_back(std::move(renderer));
}

PolicyController::PolicyController(std::shared_ptr<const policy::Policy> policy,
                                   std::shared_ptr<PolicyCameras> cameras)
    : policy_(std::move(policy)) {
  runner_ = policy::MakeRunner(*policy_, 0,
                               &predictor_);  // in the body: predictor_ is declared after runner_
  for (const std::string& name : policy_->normalizer.obs_keys) {
    robot::ObsKey key;
    if (!robot::ParseObsKey(name, &key)) {
      throw UsageError("run.json: obs_keys: '" + name + "' is not an observation of the simulator (expected one of " +
                       robot::LowDimObsKeyList() + ")");
    }
    if (policy_->normalizer.obs.at(name).dim() != robot::ObsKeyWidth(key)) {
      throw UsageError("run.json: normalization.obs." + name + ": width " +
                       std::to_string(policy_->normalizer.obs.at(name).dim()) + ", but the simulator's is " +
                       std::to_string(robot::ObsKeyWidth(key)));
    }
    keys_.push_back(key);
  }
  flat_.resize(policy_->model.obs_dim);
  if (!policy_->images.empty()) {
    if (!cameras)
      throw std::invalid_argument("PolicyController: an image policy needs its PolicyCameras");
    cameras_ = std::move(cameras);
    frames_.resize(policy_->images.size());
    frame_ptrs_.resize(policy_->images.size());
  }
}

PolicyController::~PolicyController() {
  if (renderer_) cameras_->Return(std::move(renderer_));
}

void PolicyController::Reset(const sim::World& world) { runner_->Reset(PolicySeed(world.params())); }

sim::Action PolicyController::Act(const sim::World& world, const sim::Observation& obs) {
  size_t offset = 0;
  for (robot::ObsKey key : keys_) {
    sim::ObservationValue(obs, key, &value_);
    std::copy(value_.data(), value_.data() + value_.size(), flat_.begin() + static_cast<long>(offset));
    offset += static_cast<size_t>(value_.size());
  }
  if (cameras_) {
    // Step t's frames as `render` makes row t of an episode: the state before this step's
    // action, the scene's appearance, sensor noise seeded by t.
    if (!renderer_) renderer_ = cameras_->Acquire();
    const Eigen::VectorXd state = world.GetState();
    for (size_t k = 0; k < frames_.size(); ++k) {
      renderer_->RenderState(world.params(), state, world.steps(), static_cast<int>(k),
                             &frames_[k]);
      frame_ptrs_[k] = frames_[k].rgb.data();
    }
    predictor_->SetImages(frame_ptrs_);
  }
  robot::Vector7f action;
  runner_->Act(flat_.data(), &action);  // bad input or output: all NaN, which the world holds
  return action.cast<double>();
}

augment::ControllerFactory PolicyFactory(std::shared_ptr<const policy::Policy> policy,
                                         std::shared_ptr<const sim::SceneModel> model) {
  std::shared_ptr<PolicyCameras> cameras;
  if (!policy->images.empty()) {
    if (!model)
      model = std::make_shared<const sim::SceneModel>(policy->task, sim::SceneModel::DefaultUrdf());
    cameras = std::make_shared<PolicyCameras>(*policy, std::move(model));
  }
  return [policy, cameras] { return std::make_unique<PolicyController>(policy, cameras); };
}

void CheckPolicyTask(const policy::Policy& policy, const std::string& task, const std::string& run) {
  if (policy.task != task) {
    throw UsageError(run + "/run.json: task: the policy was trained on '" + policy.task + "', not '" + task + "'");
  }
}


SimCameras::SimCameras(std::shared_ptr<PolicyCameras> cameras, const sim::World* world)
    : cameras_(std::move(cameras)), world_(world) {
  if (!cameras_ || !world_) throw std::invalid_argument("SimCameras: null cameras or world");
  renderer_ = cameras_->Acquire();
  frames_.resize(cameras_->cameras().size());
}

SimCameras::~SimCameras() {
  if (renderer_) cameras_->Return(std::move(renderer_));
}

robot::CameraStatus SimCameras::Latest(int camera, robot::CameraFrame* frame) {
  if (camera < 0 || camera >= static_cast<int>(frames_.size())) return robot::CameraStatus::kError;
  const long long step = static_cast<long long>(world_->steps());
  if (step != rendered_step_) {
    // Step t's frames as eval's PolicyController renders them (render's row t).
    const Eigen::VectorXd state = world_->GetState();
    for (size_t k = 0; k < frames_.size(); ++k) {
      renderer_->RenderState(world_->params(), state, world_->steps(), static_cast<int>(k), &frames_[k]);
    }
    rendered_step_ = step;
    ++renders_;
  }
  const render::Image& im = frames_[static_cast<size_t>(camera)];
  frame->pixels = im.rgb.data();
  frame->width = im.width;
  frame->height = im.height;
  frame->time = world_->time();
  frame->seq = static_cast<std::uint64_t>(step);
  return robot::CameraStatus::kOk;
}

}  // namespace dreamforge::tools
