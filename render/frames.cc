#include "render/frames.h"

#include <cstring>

#include <opencv2/core.hpp>

#include "render/render_error.h"
#include "render/sensor.h"

namespace dreamforge::render {

FrameRenderer::FrameRenderer(std::shared_ptr<const VisualModel> model, std::vector<CameraSpec> cameras)
    : model_(std::move(model)), cameras_(std::move(cameras)), renderer_(model_) {
  // The sensor effects run on the calling thread: OpenCV's own worker threads would only
  // compete with the render workers (and spin in sched_yield between 84x84 images).
  cv::setNumThreads(1);
  for (const CameraSpec& c : cameras_) CheckCamera(c);
}

void FrameRenderer::RenderState(const sim::SceneParams& params, const Eigen::Ref<const Eigen::VectorXd>& state,
                                int step, int k, Image* rgb, DepthImage* depth) {
  Draw(params, state, step, cameras_.at(k), rgb, depth);
}

void FrameRenderer::RenderState(const sim::SceneParams& params, const Eigen::Ref<const Eigen::VectorXd>& state,
                                int step, const CameraSpec& camera, Image* rgb, DepthImage* depth) {
  CheckCamera(camera);
  Draw(params, state, step, camera, rgb, depth);
}

void FrameRenderer::CheckCamera(const CameraSpec& c) const {
  c.Validate();
  if (c.mount != "world" && model_->scene().robot().LinkIndex(c.mount) < 0) {
    throw RenderError("camera '" + c.name + "': mount: no robot link named '" + c.mount + "'");
  }
}

void FrameRenderer::Draw(const sim::SceneParams& params, const Eigen::Ref<const Eigen::VectorXd>& state, int step,
                         const CameraSpec& camera, Image* rgb, DepthImage* depth) {
  const sim::Appearance look = sim::AppearanceOf(params, model_->scene().task());
  ComputePose(*model_, params, state, &pose_);
  renderer_.Render(pose_, camera, look, rgb, depth);
  ApplySensorEffects(look, camera.name, step, rgb);
}

std::vector<CameraFrames> FrameRenderer::RenderStates(const sim::SceneParams& params,
                                                      const Eigen::Ref<const Eigen::MatrixXd>& states, bool depth) {
  const sim::Appearance look = sim::AppearanceOf(params, model_->scene().task());
  const int n = static_cast<int>(states.rows());
  std::vector<CameraFrames> out(cameras_.size());
  for (size_t k = 0; k < cameras_.size(); ++k) {
    CameraFrames& f = out[k];
    f.camera = cameras_[k].name;
    f.width = cameras_[k].width;
    f.height = cameras_[k].height;
    f.frames = n;
    f.rgb.resize(static_cast<size_t>(n) * f.width * f.height * 3);
    if (depth) f.depth.resize(static_cast<size_t>(n) * f.width * f.height);
  }
  Image rgb;
  DepthImage z;
  Eigen::VectorXd state;
  for (int t = 0; t < n; ++t) {
    state = states.row(t).transpose();
    ComputePose(*model_, params, state, &pose_);
    for (size_t k = 0; k < cameras_.size(); ++k) {
      renderer_.Render(pose_, cameras_[k], look, &rgb, depth ? &z : nullptr);
      ApplySensorEffects(look, cameras_[k].name, t, &rgb);
      CameraFrames& f = out[k];
      std::memcpy(&f.rgb[static_cast<size_t>(t) * rgb.rgb.size()], rgb.rgb.data(), rgb.rgb.size());
      if (depth) std::memcpy(&f.depth[static_cast<size_t>(t) * z.z.size()], z.z.data(), z.z.size() * sizeof(float));
    }
  }
  return out;
}

}  // namespace dreamforge::render
