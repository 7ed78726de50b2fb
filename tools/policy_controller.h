// A trained policy as a sim::Controller (for eval, training-time rollouts and the
// software-in-the-loop checks), executed by the one runner (robot/policy_runner.h) over
// the policy's LibTorch network. Lives in tools/: sim/ never includes policy/.
//
// Image policies (Policy::images) see through cameras rendered in the loop: at every
// control step, before the policy acts, each camera the policy reads is rendered from the
// world's state and the scene's appearance by render::FrameRenderer::RenderState, the
// code path `render` and `dream --cameras` made the training images with (step t of an
// episode: the state and sensor-noise step of row t of a rendered file), with the camera
// of the run's env_args["cameras"] (the training file's). The runner's TorchPredictor
// reads the frames with its encoders in eval mode (centre crop).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "augment/evaluate.h"
#include "policy/policy.h"
#include "render/frames.h"
#include "robot/bundle.h"
#include "robot/camera.h"
#include "robot/obs_layout.h"
#include "robot/policy_runner.h"
#include "sim/rollout.h"

namespace dreamforge::tools {

// The seed of a policy's generator (the flow noise, the sampled gripper) in a scene: a
// function of the scene alone, so an episode's actions never depend on which worker ran
// it, and `control --hardware sim` runs the episodes `eval` runs.
uint64_t PolicySeed(const sim::SceneParams& scene);

// The cameras of an image policy, shared by the controllers of one factory: the camera
// specs (from the run's env_args["cameras"], in the policy's image order) and a pool of
// FrameRenderers, each with its own GL context; a controller borrows one for its episode
// (on its worker thread) and gives it back when destroyed, so a worker makes one context.
class PolicyCameras {
 public:
  // Throws UsageError naming run.json when env_args has no camera of an image key or one
  // of another size than the policy's images (a file whose images `render` did not make).
  PolicyCameras(const policy::Policy& policy, std::shared_ptr<const sim::SceneModel> model);
  // The cameras of an exported image policy: each bundle image's "camera" (policy.json
  // images[k].camera, the spec its training frames were rendered with). Throws UsageError
  // naming the bundle's policy.json and the image when one is missing or malformed.
  PolicyCameras(const robot::Bundle& bundle, std::shared_ptr<const sim::SceneModel> model);
  const std::vector<render::CameraSpec>& cameras() const { return cameras_; }
  std::unique_ptr<render::FrameRenderer> Acquire();              // creates one if none is free
  void Return(std::unique_ptr<render::FrameRenderer> renderer);  // releases its context first

 private:
  // Picks each image's camera from `known` by name (the key less "_image") and checks its
  // size; `where` prefixes the errors.
  void Init(const std::vector<robot::ImageInput>& images, const std::vector<render::CameraSpec>& known,
            const std::string& where, std::shared_ptr<const sim::SceneModel> model);
  std::shared_ptr<const render::VisualModel> visual_;
  std::vector<render::CameraSpec> cameras_;
  std::mutex mu_;
  std::vector<std::unique_ptr<render::FrameRenderer>> free_;
};

class PolicyController : public sim::Controller {
 public:
  // `cameras` is required for an image policy (PolicyFactory makes it) and ignored otherwise.
  explicit PolicyController(std::shared_ptr<const policy::Policy> policy,
                            std::shared_ptr<PolicyCameras> cameras = nullptr);
  ~PolicyController() override;
  // Re-seeds the runner with PolicySeed(world.params()).
  void Reset(const sim::World& world) override;
  sim::Action Act(const sim::World& world, const sim::Observation& obs) override;

  // Image policies: the frames of the last Act, one per camera (render::Image: RGB rows).
  const std::vector<render::Image>& frames() const { return frames_; }
  // The runner's LibTorch predictor (owned by the runner).
  const policy::TorchPredictor& predictor() const { return *predictor_; }

 private:
  std::shared_ptr<const policy::Policy> policy_;
  std::unique_ptr<robot::PolicyRunner> runner_;
  policy::TorchPredictor* predictor_ = nullptr;  // inside runner_
  std::vector<robot::ObsKey> keys_;  // the policy's obs keys, in its order
  std::vector<float> flat_;          // (D) raw observation
  Eigen::VectorXf value_;            // one key's values
  std::shared_ptr<PolicyCameras> cameras_;           // image policies only
  std::unique_ptr<render::FrameRenderer> renderer_;  // borrowed from cameras_ at the first Act
  std::vector<render::Image> frames_;                // one per camera
  std::vector<const uint8_t*> frame_ptrs_;
};

// Controllers of `policy`; for an image policy with the cameras of PolicyCameras over
// `model` (the scene the worlds are built from; default: the policy's task with the
// default URDF).
augment::ControllerFactory PolicyFactory(std::shared_ptr<const policy::Policy> policy,
                                         std::shared_ptr<const sim::SceneModel> model = nullptr);

// Throws UsageError when the policy was trained for another task than `task`.
void CheckPolicyTask(const policy::Policy& policy, const std::string& task, const std::string& run);


// The simulated cameras of `control --hardware sim`: a robot::CameraSource that renders the
// world's current state for each of the bundle's images, through the same
// FrameRenderer::RenderState as eval (state, step index and sensor noise of the step), so
// the edge controller sees the frames eval's policy sees. Renders once per world step (the
// first Latest of a step renders every camera); each frame is stamped with the world's time,
// the time SimHardware::Read reports. Rendering allocates: the simulator is not real-time.
class SimCameras : public robot::CameraSource {
 public:
  // `cameras` and `world` must outlive this source; borrows a renderer until destroyed.
  SimCameras(std::shared_ptr<PolicyCameras> cameras, const sim::World* world);
  ~SimCameras() override;
  SimCameras(const SimCameras&) = delete;
  SimCameras& operator=(const SimCameras&) = delete;
  robot::CameraStatus Latest(int camera, robot::CameraFrame* frame) override;
  std::uint64_t renders() const { return renders_; }  // world steps rendered

 private:
  std::shared_ptr<PolicyCameras> cameras_;
  const sim::World* world_;
  std::unique_ptr<render::FrameRenderer> renderer_;
  std::vector<render::Image> frames_;
  long long rendered_step_ = -1;
  std::uint64_t renders_ = 0;
};

}  // namespace dreamforge::tools
