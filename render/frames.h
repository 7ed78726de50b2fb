// Rendering on demand: a physics state plus the scene's parameters (appearance included)
// in, camera images out. `render`, `dream --cameras`, `video`, the report and training
// data loaders all go through FrameRenderer, so an image of a step is the same bytes
// whichever of them made it.
#pragma once

#include <Eigen/Core>
#include <memory>
#include <string>
#include <vector>

#include "render/camera.h"
#include "render/renderer.h"
#include "render/scene.h"

namespace dreamforge::render {

// One camera's frames of an episode: N x H x W x 3 uint8 (and N x H x W float depth).
struct CameraFrames {
  std::string camera;
  int width = 0, height = 0, frames = 0;
  std::vector<uint8_t> rgb;
  std::vector<float> depth;  // empty unless asked
};

class FrameRenderer {
 public:
  // Throws RenderError (no EGL/GL, or a camera mounted on a link the robot lacks).
  FrameRenderer(std::shared_ptr<const VisualModel> model, std::vector<CameraSpec> cameras);
  const std::vector<CameraSpec>& cameras() const { return cameras_; }
  Renderer& renderer() { return renderer_; }

  // Camera k's image of `state` at `step` (the step seeds the sensor noise), with the
  // sensor effects of the scene's appearance; depth when non-null (no effects on depth).
  void RenderState(const sim::SceneParams& params, const Eigen::Ref<const Eigen::VectorXd>& state, int step, int k,
                   Image* rgb, DepthImage* depth = nullptr);
  // The same for a camera given here rather than at construction (another size or field
  // of view: the scene view of record and play); validated like the constructor's.
  // Afterwards pose() holds the scene pose the image was drawn at.
  void RenderState(const sim::SceneParams& params, const Eigen::Ref<const Eigen::VectorXd>& state, int step,
                   const CameraSpec& camera, Image* rgb, DepthImage* depth = nullptr);
  const ScenePose& pose() const { return pose_; }
  // Every camera's frames of the states (rows, World::GetState layout).
  std::vector<CameraFrames> RenderStates(const sim::SceneParams& params,
                                         const Eigen::Ref<const Eigen::MatrixXd>& states, bool depth);

 private:
  void CheckCamera(const CameraSpec& camera) const;  // throws RenderError
  void Draw(const sim::SceneParams& params, const Eigen::Ref<const Eigen::VectorXd>& state, int step,
            const CameraSpec& camera, Image* rgb, DepthImage* depth);
  std::shared_ptr<const VisualModel> model_;
  std::vector<CameraSpec> cameras_;
  Renderer renderer_;
  ScenePose pose_;
};

}  // namespace dreamforge::render
