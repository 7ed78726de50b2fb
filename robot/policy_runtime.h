// Native float32 inference of a policy bundle (robot/bundle.h) with Eigen: the same
// arithmetic as policy/model.h under LibTorch (checked to 1e-5 against torch by
// tests/robot/policy_runtime_test.cc on tests/robot/data/ and by tests/tools/export_test.cc).
//
//   network         h = relu(W h + b) for the hidden layers, no relu on the last one.
//   mlp             chunk = net(o_n): one normalized action (7).
//   flow            x = noise (7 H); dt = 1/K; for k = 0..K-1:
//                   t = k dt, a_hat = net([o_n, x, tf(t)]),
//                   x = x + dt / (1 - k dt) * (a_hat - x); chunk = x (H rows of 7).
//                   tf(t) = [t, sin(pi t), cos(pi t), ..., sin(4 pi t), cos(4 pi t)].
//   images          an image policy's o_n above is the conditioning [o_n, f_0, ..., f_{C-1}]:
//                   each camera's frame (SetImages) through its robot::ImageEncoder
//                   (centre crop, trunk, spatial softmax, projection), encoded once per
//                   Predict (a flow chunk's K steps share them).
//
// Executing a policy (normalization, noise, clamping, the gripper rule, re-planning) is
// robot/policy_runner.h's; this is its ChunkPredictor for bundles.
//
// Model vs state: the Bundle is immutable and may be shared; a PolicyRuntime owns its
// buffers (allocated at construction) and is not thread-safe; give each thread its own.
// Everything except the constructor is real-time safe: no heap allocation, no exceptions.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <Eigen/Core>

#include "robot/bundle.h"
#include "robot/image_encoder.h"
#include "robot/policy_runner.h"
#include "robot/types.h"

namespace dreamforge::robot {

class PolicyRuntime : public ChunkPredictor {
 public:
  // Allocates every buffer. Throws std::invalid_argument if the bundle has no weights
  // (e.g. it came from ParsePolicyJson alone). Not real-time safe.
  explicit PolicyRuntime(std::shared_ptr<const Bundle> bundle);

  const Bundle& bundle() const { return *bundle_; }
  int obs_dim() const { return bundle_->model.obs_dim; }         // D
  int chunk_size() const { return bundle_->model.OutputDim(); }  // 7 H
  int horizon() const { return bundle_->model.horizon; }         // H
  int image_count() const { return static_cast<int>(encoders_.size()); }  // C cameras

  // Image policies: the frames the next Predict reads, one per bundle image input in its
  // order, each image_size x image_size x 3 bytes (row-major H x W x RGB, as rendered).
  // Copied into this object's buffers (real-time safe). Until the first call every frame
  // is black (zeros); frames_set() says whether one was given.
  void SetImages(const std::uint8_t* const* frames) override;
  bool frames_set() const { return frames_set_; }
  // The last Predict's features of camera k (its encoder's feature_dim). For tests.
  const float* image_features(int k) const { return input_.data() + feature_offset_[k]; }

  // The bundle's normalization (PolicyNormalization). Real-time safe.
  void NormalizeObs(const float* raw, float* normalized) const {
    normalization_.NormalizeObs(raw, normalized);
  }
  void DenormalizeAction(const float* normalized, float* action) const {
    normalization_.DenormalizeAction(normalized, action);
  }

  // The policy as a pure function: normalized obs (D) and noise (7 H; ignored for an mlp,
  // may then be null) -> normalized chunk (7 H). Real-time safe; uses this object's buffers.
  void Predict(const float* normalized_obs, const float* noise, float* chunk) override;
  // Same with size checks; false (and nothing written) on a wrong size. Real-time safe.
  bool Predict(const Eigen::Ref<const Eigen::VectorXf>& normalized_obs,
               const Eigen::Ref<const Eigen::VectorXf>& noise, Eigen::Ref<Eigen::VectorXf> chunk);

 private:
  // Runs the layers on input_; returns the output buffer (7 H).
  const Eigen::VectorXf& Forward();

  std::shared_ptr<const Bundle> bundle_;
  PolicyNormalization normalization_;
  Eigen::VectorXf input_;              // (InputDim): [o_n, x, tf] for flow
  Eigen::VectorXf x_;                  // (7 H) flow state
  std::vector<Eigen::VectorXf> acts_;  // one per layer
  // Image policies: one encoder and frame buffer per camera; camera k's features go to
  // input_[feature_offset_[k]...]; cond_dim_ = D + sum of feature_dim.
  std::vector<std::unique_ptr<ImageEncoder>> encoders_;
  std::vector<std::vector<std::uint8_t>> frames_;
  std::vector<int> feature_offset_;
  int cond_dim_ = 0;
  bool frames_set_ = false;
};

}  // namespace dreamforge::robot
