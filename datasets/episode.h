// In-memory episode: one demonstration, laid out as it is stored in an episode file
// (DESIGN.md "Formats" -> Episodes; see datasets/episode_store.h for the on-disk layout).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

namespace dreamforge::datasets {

// A camera's RGB (or grey, RGBA) images over an episode: obs/<key> (N, H, W, C) uint8 on
// disk. Row-major and step-major, row 0 at the top: pixel (x, y) channel c of step t is
// data[((t * height + y) * width + x) * channels + c]; data.size() == N * H * W * C.
struct ImageSeq {
  int height = 0, width = 0, channels = 0;  // channels: 3 for RGB; 1..4 accepted
  std::vector<uint8_t> data;
  // The stored (deflated) chunks of `data`, when DeflateCameraChunks made them ahead of
  // EpisodeWriter::Append (which otherwise deflates them itself); readers leave it empty.
  std::vector<std::vector<uint8_t>> deflated;
};

// A camera's depth maps over an episode: obs/<key> (N, H, W, 1) float32 on disk, metres
// along the camera's optical axis, finite. data[(t * height + y) * width + x].
struct DepthSeq {
  int height = 0, width = 0;
  std::vector<float> data;
  std::vector<std::vector<uint8_t>> deflated;  // as ImageSeq::deflated
};

using MatrixRXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixRXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// N = number of control steps (samples). Every per-step field has N rows; row t is step t.
struct Episode {
  MatrixRXf actions;                          // (N x 7) normalized actions, nominally in [-1, 1]
  Eigen::VectorXf rewards;                    // (N)
  std::vector<uint8_t> dones;                 // (N) 0 or 1
  MatrixRXd states;                           // (N x S) full physics state, float64 on disk
  std::map<std::string, MatrixRXf> obs;       // key -> (N x d), e.g. robot0_eef_pos (N x 3)
  std::map<std::string, MatrixRXf> next_obs;  // same keys and widths as obs
  // Camera observations, under obs/ only (never next_obs/). Keys are full obs keys, named
  // as robomimic names them: "<camera>_image" (robot::IsImageKeyName), "<camera>_depth".
  std::map<std::string, ImageSeq> images;  // e.g. "agentview_image"
  std::map<std::string, DepthSeq> depths;  // e.g. "agentview_depth"

  // MimicGen-style datagen_info, float64 on disk.
  MatrixRXd eef_pose;  // (N x 16): row t is the row-major 4x4 end-effector pose; disk (N,4,4)
  std::map<std::string, MatrixRXd> object_poses;  // object name -> (N x 16); disk (N,4,4)
  std::map<std::string, std::vector<int32_t>> subtask_term_signals;  // signal name -> (N)

  // Per-demo attributes.
  // The scene key: the episode's scene is augment::SampleScene(run seed, scene_key) of the
  // file's spec and run seed (env_args). Dreams: DreamKey(i, j) = (i << 20) | j for dream
  // i's attempt j; recorded and imported demos: 0 (the nominal scene). Not a seed: the
  // HDF5 attr keeps robomimic's name "seed".
  uint64_t scene_key = 0;
  std::string source_demo;  // content hash of the demo this was made from ("" if recorded)
  nlohmann::json perturbation = nlohmann::json::object();  // sampled perturbation values
  bool success = false;

  // N, taken from actions.
  int num_samples() const { return static_cast<int>(actions.rows()); }
};

}  // namespace dreamforge::datasets
