// A headless OpenGL 3.3 core renderer through EGL: Mesa's surfaceless platform (software
// rasterizer llvmpipe) on a machine without a GPU, or the first EGL device when
// DREAMFORGE_EGL=device (a GPU's driver). No X server, no window: each Renderer owns its
// own context and framebuffers and draws into memory.
//
// Threading: a Renderer is used by one thread at a time (its context is made current on
// that thread at each call); give each worker its own. Mesa's rasterizer threads are
// turned off (LP_NUM_THREADS=0 unless set), so rendering runs on the calling thread and a
// frame's bytes are the same every time on one machine.
#pragma once

#include <memory>
#include <vector>

#include "render/camera.h"
#include "render/scene.h"
#include "sim/appearance.h"

namespace dreamforge::render {

struct Image {  // row-major, top row first, RGB
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
};
struct DepthImage {  // row-major, top row first; metres along the optical axis, 0 = nothing
  int width = 0, height = 0;
  std::vector<float> z;
};

// The camera's frame in the world for a scene pose: the mount's frame (world or link) times
// the camera pose times the appearance's jitter; fovy with the jitter's offset.
Eigen::Isometry3d CameraWorldPose(const VisualModel& model, const ScenePose& pose, const CameraSpec& camera,
                                  const sim::Appearance& look, double* fovy_deg);

class Renderer {
 public:
  // Creates the EGL display and a GL 3.3 core context and uploads the model's meshes.
  // Throws RenderError naming the missing piece (and the Debian package that provides it)
  // when there is no EGL, no surfaceless platform or no GL 3.3.
  explicit Renderer(std::shared_ptr<const VisualModel> model);
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  const VisualModel& model() const { return *model_; }
  // Draws the scene at `pose` seen by `camera` with `look` (no sensor effects: those are
  // render/sensor.h's). Fills rgb (camera size) and, when non-null, depth.
  void Render(const ScenePose& pose, const CameraSpec& camera, const sim::Appearance& look, Image* rgb,
              DepthImage* depth = nullptr);
  // Makes the context current on no thread (call before another thread uses this renderer,
  // or before the calling thread ends).
  void Release();
  // The GL renderer string (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)").
  const std::string& gl_renderer() const { return gl_renderer_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::shared_ptr<const VisualModel> model_;
  std::string gl_renderer_;
};

}  // namespace dreamforge::render
